"""Review round 21 (tools): IP1 checks the union of each pair of overlapping subnet sets (R21T-M1), and HELM1
counts as "maybe the HyperPod chart" only what could be it (R21T-L1)."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any

from hyperpod_cdk.rules import deploy_network
from hyperpod_cdk.rules.catalog import check
from hyperpod_cdk.rules.inputs import from_cloudformation
from hyperpod_cdk.rules.model import NOT_CHECKED, Finding

_spec = importlib.util.spec_from_file_location("work_limits", Path(__file__).with_name("work_limits.py"))
assert _spec and _spec.loader
work_limits = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(work_limits)

ROLE = "arn:aws:iam::111111111111:role/x"
IP1 = "HyperPod-IP1"


def lint(template: dict[str, Any]) -> list[Finding]:
    loaded = from_cloudformation(template, "t.yaml", region="us-west-2")
    return [f for f in check(loaded.templates, kinds=("deploy",), include_not_checked=True) if f.rule_id == IP1]


def group(name: str, count: int, subnets: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "InstanceGroupName": name,
        "InstanceType": "ml.g5.8xlarge",  # 30 IPs a node on EKS
        "InstanceCount": count,
        "ExecutionRole": ROLE,
        "LifeCycleConfig": {"SourceS3Uri": "s3://b/p", "OnCreate": "on_create.sh"},
    }
    if subnets is not None:
        body["OverrideVpcConfig"] = {"SecurityGroupIds": ["sg-1"], "Subnets": [{"Ref": s} for s in subnets]}
    return body


def cross(*groups: dict[str, Any], default: tuple[str, ...] = ("S1", "S2", "S3", "S4")) -> dict[str, Any]:
    """The reviewer's ip1/cross.yaml: S1-S3 /24 (251 usable each), S4 /23."""
    cidrs = {"S1": "10.0.0.0/24", "S2": "10.0.1.0/24", "S3": "10.0.2.0/24", "S4": "10.0.4.0/23"}
    subnets = {
        name: {"Type": "AWS::EC2::Subnet", "Properties": {"VpcId": "vpc-1", "CidrBlock": cidr}}
        for name, cidr in cidrs.items()
    }
    cluster = {
        "Type": "AWS::SageMaker::Cluster",
        "Properties": {
            "ClusterName": "hp",
            "NodeRecovery": "Automatic",
            "Orchestrator": {"Eks": {"ClusterArn": "arn:aws:eks:us-west-2:111111111111:cluster/x"}},
            "VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": [{"Ref": s} for s in default]},
            "InstanceGroups": list(groups),
        },
    }
    return {"Resources": {**subnets, "HP": cluster}}


def test_ip1_two_overlapping_sets_are_checked_together_beside_a_wider_group() -> None:
    """'a' 13 on S1+S2 and 'b' 13 on S2+S3 need 780 of the 753 addresses of S1-S3; a 1-node group on the
    cluster's S1-S4 made the pool 1,263 addresses (before: no IP1 finding at all, exit 0)."""
    (finding,) = lint(cross(group("a", 13, ["S1", "S2"]), group("b", 13, ["S2", "S3"]), group("c", 1)))
    assert finding.severity is None  # an error
    assert finding.detail.startswith(
        "subnets 10.0.0.0/24, 10.0.1.0/24, 10.0.2.0/24 have 753 usable addresses but the groups need 780 "
        "('a' 13 x ml.g5.8xlarge x 30 IPs, 'b' 13 x ml.g5.8xlarge x 30 IPs)"
    )


def test_ip1_the_same_error_when_the_pool_is_exactly_the_two_sets() -> None:
    (finding,) = lint(cross(group("a", 13, ["S1", "S2"]), group("b", 13, ["S2", "S3"]), default=("S1", "S2", "S3")))
    assert finding.severity is None and "have 753 usable addresses but the groups need 780" in finding.detail


def test_ip1_overlapping_sets_that_fit_are_no_error() -> None:
    """'a' 6 and 'b' 6 (360 of 753) with 'c' on S1-S4: fits with headroom."""
    assert not lint(cross(group("a", 6, ["S1", "S2"]), group("b", 6, ["S2", "S3"]), group("c", 1)))


def test_ip1_disjoint_sets_are_not_pooled_into_one_union() -> None:
    """'a' on S1 and 'b' on S3 share no subnet: S1+S3 is not a candidate, each fits on its own (240 of 251
    would warn: 8 nodes; use 6, 180 of 251 with headroom)."""
    found = lint(cross(group("a", 6, ["S1"]), group("b", 6, ["S3"]), group("c", 1)))
    assert not found


def _star_sets(sets: int) -> dict[str, Any]:
    """``sets`` distinct sets [S1, S2], [S1, S3], ...: one pool, every pair overlapping (on S1)."""
    subnets = {
        f"S{i + 1}": {
            "Type": "AWS::EC2::Subnet",
            "Properties": {"VpcId": "vpc-1", "CidrBlock": f"10.{i // 256}.{i % 256}.0/28"},
        }
        for i in range(sets + 1)
    }
    template = cross(*[group(f"g{i}", 1, ["S1", f"S{i + 2}"]) for i in range(sets)], default=("S1",))
    template["Resources"] = {**subnets, "HP": template["Resources"]["HP"]}
    return template


def test_ip1_pairwise_unions_at_the_set_cap_stay_bounded() -> None:
    """At the cap every pair of 200 sets overlaps (19,900 unions): checked in bounded time, no not-checked line."""
    cap = deploy_network.MAX_SUBNET_SETS_PER_POOL
    start = time.perf_counter()
    found = work_limits.rule_findings(_star_sets(cap), IP1)
    elapsed = time.perf_counter() - start
    assert not [f for f in found if f.rule_id == IP1 and f.severity == NOT_CHECKED]
    assert elapsed < 30, elapsed
