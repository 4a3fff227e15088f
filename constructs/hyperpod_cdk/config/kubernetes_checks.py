"""Checks of the ``kubernetes:`` section that need the rest of the platform config.

Called by :class:`~hyperpod_cdk.config.platform.PlatformConfig` after each section validated on its
own. Each check raises one :class:`~hyperpod_cdk.errors.HyperPodConfigError` naming the field.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Sequence
from typing import Any, Protocol

from hyperpod_cdk.config.addons import missing_prerequisites, prerequisites_message
from hyperpod_cdk.config.example_plan import plan_training_example
from hyperpod_cdk.config.kubernetes import KubernetesConfig
from hyperpod_cdk.config.network import NetworkConfig
from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.specs.cfn_regions import COMPUTE_QUOTA_TYPE, NATIVE_TYPE_REGIONS
from hyperpod_cdk.specs.instance_types import spec_for
from hyperpod_cdk.specs.regions import GRAFANA_REGIONS as GRAFANA_REGIONS

# Where CloudFormation has AWS::SageMaker::ComputeQuota (the registry index cfn-lint 1.58 bundles; the
# type's schema description names more regions, but a template cannot use the type where it is missing).
COMPUTE_QUOTA_REGIONS = NATIVE_TYPE_REGIONS[COMPUTE_QUOTA_TYPE]


class _Group(Protocol):
    name: str
    instance_count: int


def check_kubernetes(
    kubernetes: KubernetesConfig,
    *,
    region: str,
    instance_groups: Sequence[_Group],
    fsx_configured: bool,
    fsx_csi_driver_version: str | None,
    existing_eks: bool,
) -> None:
    """Every cross-section rule of the ``kubernetes:`` section (EKS orchestrator only)."""
    addons = kubernetes.addons
    quota_teams = [(index, team) for index, team in enumerate(kubernetes.teams) if team.has_quota]
    if quota_teams and region not in COMPUTE_QUOTA_REGIONS:
        index, team = quota_teams[0]
        raise HyperPodConfigError(
            f"kubernetes.teams[{index}]({team.name}).compute_quota",
            f"CloudFormation has no AWS::SageMaker::ComputeQuota in {region} (it has in "
            f"{', '.join(sorted(COMPUTE_QUOTA_REGIONS))}); create the quotas with the SageMaker console or CLI",
        )
    check_quota_capacity(kubernetes, instance_groups)
    # The example job must fit a group: an error here is a synth error naming the job and the group.
    plan_training_example(instance_groups, kubernetes.examples)
    if addons.observability.enabled and addons.observability.grafana and region not in GRAFANA_REGIONS:
        raise HyperPodConfigError(
            "kubernetes.addons.observability.grafana",
            f"Amazon Managed Grafana is not offered in {region} (only {', '.join(sorted(GRAFANA_REGIONS))}); set "
            "grafana: false and read the AMP workspace from a Grafana elsewhere",
        )
    fsx_driver = addons.fsx_csi_driver
    lacking = missing_prerequisites(addons, fsx_csi_driver_installed=fsx_configured)
    if lacking is not None:
        name, *missing = lacking
        raise HyperPodConfigError(f"kubernetes.addons.{name}", prerequisites_message(name, missing))
    if addons.inference_operator.enabled and existing_eks:
        raise HyperPodConfigError(
            "kubernetes.addons.inference_operator",
            "its IAM roles trust the EKS cluster's IAM OIDC provider, which the platform only creates for an "
            "EKS cluster it creates; install the operator on an existing cluster with AWS's setup guide",
        )
    if fsx_driver.version and fsx_csi_driver_version and fsx_driver.version != fsx_csi_driver_version:
        raise HyperPodConfigError(
            "kubernetes.addons.fsx_csi_driver.version",
            f"{fsx_driver.version} but storage.fsx.csi_driver_version is {fsx_csi_driver_version}; there is one "
            "driver, set the version in one place",
        )


def _instance_equivalents(resource: Any, per_instance_accelerators: int | None) -> float:
    """How many instances a quota entry claims: ``count``, or accelerators over accelerators per node.

    vCPU and memory quotas are not converted: the instance table has no vCPU or memory per type,
    so those entries are left to SageMaker.
    """
    claims = [float(resource.count)] if resource.count is not None else []
    if resource.accelerators is not None and per_instance_accelerators:
        claims.append(resource.accelerators / per_instance_accelerators)
    return max(claims, default=0.0)


def check_quota_capacity(kubernetes: KubernetesConfig, instance_groups: Sequence[_Group]) -> None:
    """Compute quotas may not promise more than the instance groups have, per instance type.

    Only groups with one fixed ``instance_type`` count; with a group whose type is chosen at run
    time (flexible instance types), a quota for a type no fixed group has is not refused.
    """
    capacity: dict[str, int] = {}
    flexible = False
    for group in instance_groups:
        instance_type = getattr(group, "instance_type", None)
        if not isinstance(instance_type, str):
            flexible = True
            continue
        capacity[instance_type] = capacity.get(instance_type, 0) + group.instance_count
    claimed: dict[str, list[tuple[str, float]]] = {}
    for index, team in enumerate(kubernetes.teams):
        field = f"kubernetes.teams[{index}]({team.name}).compute_quota"
        for resource in team.compute_quota:
            instance_type = resource.instance_type
            if instance_type not in capacity:
                if flexible:
                    continue
                raise HyperPodConfigError(
                    field,
                    f"team '{team.name}' asks for {instance_type}, but no instance group has that type "
                    f"({', '.join(sorted(capacity))})",
                )
            spec = spec_for(instance_type)
            per_node = spec.accelerators if spec is not None else None
            if resource.accelerators is not None and per_node == 0:
                raise HyperPodConfigError(
                    field, f"team '{team.name}' asks for accelerators of {instance_type}, which has none"
                )
            claims = claimed.setdefault(instance_type, [])
            claims.append((team.name, _instance_equivalents(resource, per_node)))
            total = sum(amount for _, amount in claims)
            # A small tolerance: accelerator shares are fractions of a node.
            if total > capacity[instance_type] + 1e-9:
                shares = ", ".join(f"'{name}' {_amount(amount)}" for name, amount in claims)
                raise HyperPodConfigError(
                    field,
                    f"team '{team.name}' brings the {instance_type} quotas to {_amount(total)} instances ({shares}), "
                    f"but the instance groups have {capacity[instance_type]}; lower the quotas or add instances",
                )


def _amount(value: float) -> str:
    return str(int(value)) if math.isclose(value, round(value)) else f"{value:.2f}"


def pod_address_ranges(network: NetworkConfig) -> dict[str, ipaddress.IPv4Network]:
    """Where the cluster's pods get their addresses, by the config key that says so: the HyperPod
    subnets (the VPC CNI gives pods addresses of their node's subnet), which are the existing ones
    of ``network.existing.hyperpod_subnets`` or else carved from ``network.hyperpod_cidr``."""
    existing = network.existing
    if existing is not None and existing.hyperpod_subnets:
        return {
            f"network.existing.hyperpod_subnets.{az}": subnet.cidr for az, subnet in existing.hyperpod_subnets.items()
        }
    return {"network.hyperpod_cidr": network.hyperpod_cidr}


def check_team_ingress_cidrs(
    kubernetes: KubernetesConfig, network: NetworkConfig, *, existing_eks: bool = False
) -> None:
    """A team's ``network_ingress_cidrs`` may not hold pod addresses nor the whole VPC (R9P-L3): its
    NetworkPolicy admits them as ``ipBlock`` peers, and the VPC CNI's policy agent matches pod
    addresses against ``ipBlock``, so such a range lets every other team's pods in again.

    A load balancer's subnets (the documented use) are inside the VPC but outside the pods' subnets.
    With ``eks.existing`` the platform does not know where pods live (the cluster's own node groups
    may run team pods in any subnet, review round 10 M1), so the key is refused there.
    """
    if existing_eks:
        for index, team in enumerate(kubernetes.teams):
            if team.network_ingress_cidrs:
                raise HyperPodConfigError(
                    f"kubernetes.teams[{index}]({team.name}).network_ingress_cidrs",
                    "not with eks.existing: the existing cluster's own nodes may give pods addresses in any "
                    "subnet, so a range could let other teams' pods in; remove it and admit the traffic with "
                    "a NetworkPolicy of your own that names those sources",
                )
        return
    pods = pod_address_ranges(network)
    vpc_key = "network.existing.vpc_cidr" if network.existing is not None else "network.vpc_cidr"
    vpc = network.existing.vpc_cidr if network.existing is not None else network.vpc_cidr
    for index, team in enumerate(kubernetes.teams):
        field = f"kubernetes.teams[{index}]({team.name}).network_ingress_cidrs"
        for cidr in team.network_ingress_cidrs:
            held = next((key for key, pod_range in pods.items() if cidr.overlaps(pod_range)), None)
            if held is not None:
                raise HyperPodConfigError(
                    field,
                    f"{cidr} overlaps {held} {pods[held]}, where every team's pods get their addresses, so it would "
                    "let other teams' pods in; list only ranges outside it, such as a load balancer's subnets",
                )
            if vpc.subnet_of(cidr):
                raise HyperPodConfigError(
                    field,
                    f"{cidr} holds the whole VPC ({vpc_key} {vpc}); list only the subnets that send the team "
                    "traffic, such as a load balancer's subnets",
                )
