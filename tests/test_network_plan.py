"""Subnet sizing from the node plan (pure Python)."""

from __future__ import annotations

import ipaddress

import pytest

from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.specs.instance_types import Orchestrator
from hyperpod_cdk.specs.network_plan import demand, plan_subnets, split_cidr

EKS, SLURM = Orchestrator.EKS, Orchestrator.SLURM
NET = ipaddress.IPv4Network


def test_p5_demand_uses_documented_ips_per_node():
    assert demand("g", "ml.p5.48xlarge", 4, EKS).ips == 4 * 81
    assert demand("g", "ml.p5.48xlarge", 4, SLURM).ips == 4 * 32


def test_required_ips_include_headroom_and_reserved_addresses():
    (plan,) = plan_subnets(
        NET("10.1.0.0/22"), ["usw2-az2"], {"usw2-az2": [demand("g", "ml.p5.48xlarge", 4, EKS)]}, 25, EKS
    )
    assert plan.required_ips == 405 + 5  # ceil(324 * 1.25) + 5 reserved
    assert plan.capacity == 1024


def test_sixteen_p5_nodes_overflow_a_slash_22_on_eks_but_not_on_slurm():
    groups = {"usw2-az2": [demand("train", "ml.p5.48xlarge", 16, EKS)]}
    with pytest.raises(HyperPodConfigError) as caught:
        plan_subnets(NET("10.1.0.0/22"), ["usw2-az2"], groups, 25, EKS)
    assert caught.value.field == "network.hyperpod_cidr"
    assert "instance group 'train' does not fit" in caught.value.message
    assert "Use a /21 or larger hyperpod_cidr" in caught.value.message
    slurm = {"usw2-az2": [demand("train", "ml.p5.48xlarge", 16, SLURM)]}
    assert plan_subnets(NET("10.1.0.0/22"), ["usw2-az2"], slurm, 25, SLURM)[0].required_ips == 645


def test_error_names_the_biggest_group_in_the_overflowing_az():
    groups = {"a1": [demand("small", "ml.m5.large", 1, EKS), demand("big", "ml.p4d.24xlarge", 8, EKS)]}
    with pytest.raises(HyperPodConfigError, match="instance group 'big' does not fit"):
        plan_subnets(NET("10.1.0.0/24"), ["a1"], groups, 0, EKS)


def test_more_than_a_slash_16_suggests_more_azs():
    groups = {"a1": [demand("huge", "ml.p5.48xlarge", 800, EKS)]}
    with pytest.raises(HyperPodConfigError, match="at most a /16: spread the groups"):
        plan_subnets(NET("10.1.0.0/16"), ["a1"], groups, 25, EKS)


def test_cidrs_depend_on_az_list_only_so_scaling_never_moves_a_subnet():
    azs = ["usw2-az1", "usw2-az2", "usw2-az3"]
    small = plan_subnets(NET("10.1.0.0/16"), azs, {"usw2-az2": [demand("g", "ml.g5.8xlarge", 1, EKS)]}, 25, EKS)
    large = plan_subnets(NET("10.1.0.0/16"), azs, {"usw2-az2": [demand("g", "ml.g5.8xlarge", 200, EKS)]}, 25, EKS)
    assert (
        [p.cidr for p in small]
        == [p.cidr for p in large]
        == [NET("10.1.0.0/18"), NET("10.1.64.0/18"), NET("10.1.128.0/18")]
    )


def test_split_refuses_blocks_smaller_than_slash_28():
    with pytest.raises(HyperPodConfigError, match="at least /28"):
        split_cidr(NET("10.1.0.0/28"), 2)
    assert split_cidr(NET("10.1.0.0/27"), 2) == [NET("10.1.0.0/28"), NET("10.1.0.16/28")]
