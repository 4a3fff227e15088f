"""Pure-Python HyperPod subnet planning (no CDK types, so the CLI and tests can use it).

HyperPod subnets cannot be resized in place; a new CIDR replaces the subnet, and because
``VpcConfig``/``OverrideVpcConfig`` are create-only on ``AWS::SageMaker::Cluster`` that would
replace the running cluster. So subnet CIDRs depend only on ``hyperpod_cidr`` and the AZ list,
never on instance counts: the block is split evenly (next power of two) across the AZ IDs, and
the plan is checked against each share. Scaling a group up therefore never moves a subnet;
it either fits or synth fails with the group and the CIDR field named.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.specs.instance_types import Orchestrator, ips_per_node

# AWS reserves the first four and the last address of every subnet.
# https://docs.aws.amazon.com/vpc/latest/userguide/subnet-sizing.html
AWS_RESERVED_PER_SUBNET = 5


@dataclass(frozen=True)
class GroupDemand:
    """What one instance group asks of its subnet."""

    name: str
    instance_type: str
    instance_count: int
    ips_per_node: int

    @property
    def ips(self) -> int:
        return self.instance_count * self.ips_per_node


@dataclass(frozen=True)
class SubnetPlan:
    az_id: str
    cidr: ipaddress.IPv4Network
    groups: tuple[GroupDemand, ...]
    headroom_percent: int

    @property
    def required_ips(self) -> int:
        """Node IPs plus headroom plus the addresses AWS reserves."""
        nodes = sum(group.ips for group in self.groups)
        return math.ceil(nodes * (100 + self.headroom_percent) / 100) + AWS_RESERVED_PER_SUBNET

    @property
    def capacity(self) -> int:
        return self.cidr.num_addresses

    @property
    def fits(self) -> bool:
        return self.required_ips <= self.capacity


def demand(
    name: str, instance_type: str, instance_count: int, orchestrator: Orchestrator, override: int | None = None
) -> GroupDemand:
    per_node = override if override is not None else ips_per_node(instance_type, orchestrator)
    return GroupDemand(name, instance_type, instance_count, per_node)


def split_cidr(block: ipaddress.IPv4Network, count: int) -> list[ipaddress.IPv4Network]:
    """Split ``block`` into ``count`` equal, aligned subnets (the next power of two of them)."""
    extra_bits = max(0, math.ceil(math.log2(count))) if count > 1 else 0
    new_prefix = block.prefixlen + extra_bits
    if new_prefix > 28:
        raise HyperPodConfigError(
            "network.hyperpod_cidr",
            f"{block} cannot be split into {count} subnets of at least /28; use a larger block",
        )
    return list(block.subnets(new_prefix=new_prefix))[:count]


def plan_subnets(
    block: ipaddress.IPv4Network,
    az_ids: Sequence[str],
    groups_by_az: dict[str, list[GroupDemand]],
    headroom_percent: int,
    orchestrator: Orchestrator,
) -> list[SubnetPlan]:
    """One subnet per AZ ID carved from ``block``, in the given order; raises if any plan does not fit."""
    cidrs = split_cidr(block, len(az_ids))
    plans = [
        SubnetPlan(az_id, cidr, tuple(groups_by_az.get(az_id, [])), headroom_percent)
        for az_id, cidr in zip(az_ids, cidrs, strict=True)
    ]
    for plan in plans:
        if plan.fits:
            continue
        prefix_needed = 32 - math.ceil(math.log2(plan.required_ips))
        block_prefix = prefix_needed - (cidrs[0].prefixlen - block.prefixlen)
        advice = (
            f"Use a /{block_prefix} or larger hyperpod_cidr, fewer nodes, or a lower network.ip_headroom_percent"
            if block_prefix >= 16
            else "A VPC CIDR block is at most a /16: spread the groups over more network.availability_zone_ids, "
            "use fewer nodes, or lower network.ip_headroom_percent"
        )
        raise misfit_error(plan, orchestrator, "network.hyperpod_cidr", advice)
    return plans


def plan_existing_subnets(
    subnet_cidrs: Mapping[str, ipaddress.IPv4Network],
    groups_by_az: dict[str, list[GroupDemand]],
    headroom_percent: int,
    orchestrator: Orchestrator,
    field: str,
) -> list[SubnetPlan]:
    """Check the groups against subnets that already exist (CIDRs by AZ ID); ``field`` names them in errors."""
    plans = [
        SubnetPlan(az_id, cidr, tuple(groups_by_az.get(az_id, [])), headroom_percent)
        for az_id, cidr in subnet_cidrs.items()
    ]
    for plan in plans:
        if not plan.fits:
            advice = "Use a larger subnet in that AZ, fewer nodes, or a lower headroom"
            raise misfit_error(plan, orchestrator, f"{field}.{plan.az_id}", advice)
    return plans


def misfit_error(plan: SubnetPlan, orchestrator: Orchestrator, field: str, advice: str) -> HyperPodConfigError:
    """The error for a plan that does not fit: names the group needing the most addresses."""
    biggest = max(plan.groups, key=lambda group: group.ips)
    detail = ", ".join(f"'{g.name}' {g.instance_count} x {g.instance_type} x {g.ips_per_node} IPs" for g in plan.groups)
    return HyperPodConfigError(
        field,
        f"instance group '{biggest.name}' does not fit: {plan.az_id} gets {plan.cidr} "
        f"({plan.capacity} addresses) but needs {plan.required_ips} on {orchestrator.value} "
        f"({detail}, +{plan.headroom_percent}% headroom, +{AWS_RESERVED_PER_SUBNET} reserved). {advice}",
    )
