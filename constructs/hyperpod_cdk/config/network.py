"""The ``network:`` section (a VPC created here or an existing one) and the HyperPod subnet plan."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from hyperpod_cdk.config.base import (
    NAT_GATEWAY_ID_PATTERN,
    ROUTE_TABLE_ID_PATTERN,
    SUBNET_ID_PATTERN,
    VPC_ID_PATTERN,
    AzId,
    Cidr,
    LogRetentionDays,
    _Model,
)
from hyperpod_cdk.specs.instance_types import Orchestrator
from hyperpod_cdk.specs.network_plan import GroupDemand, SubnetPlan, demand, plan_existing_subnets, plan_subnets

if TYPE_CHECKING:
    from hyperpod_cdk.config.hyperpod import InstanceGroup
    from hyperpod_cdk.config.platform import PlatformConfig

# How each CIDR's size error names it, and its longest prefix (the shortest is /16 for both).
_CIDR_SIZES = {"vpc_cidr": ("VPC CIDR", 24), "hyperpod_cidr": ("a VPC CIDR block", 28)}


class ExistingSubnet(_Model):
    """A HyperPod subnet that already exists."""

    subnet_id: Annotated[str, Field(pattern=SUBNET_ID_PATTERN)]
    cidr: Cidr = Field(description="The subnet's IPv4 CIDR, written out so the IP plan is checked offline.")


class ExistingNetwork(_Model):
    """A VPC that already exists (bring your own). Everything is written out: synth does no lookups.

    HyperPod subnets either exist (``hyperpod_subnets``, keyed by AZ ID) or are added by the
    platform from ``network.hyperpod_cidr``; then the route to the internet is named explicitly
    with ``nat_gateway_id`` (the platform adds a route table with a default route to it) or
    ``route_table_id`` (the new subnets join that route table).
    """

    vpc_id: Annotated[str, Field(pattern=VPC_ID_PATTERN)]
    vpc_cidr: Cidr = Field(description="The VPC's primary IPv4 CIDR.")
    control_plane_subnet_ids: Annotated[
        list[Annotated[str, Field(pattern=SUBNET_ID_PATTERN)]], Field(max_length=16)
    ] = Field(
        default=[],
        description="orchestrator: eks only. Private subnets with a route to the internet (or the VPC "
        "endpoints of a closed network) for the EKS control-plane ENIs (two AZs at least) and the "
        "in-VPC installers.",
    )
    hyperpod_subnets: dict[AzId, ExistingSubnet] = Field(
        default={}, description="Existing HyperPod subnets by AZ ID; omit to let the platform add them."
    )
    nat_gateway_id: Annotated[str | None, Field(pattern=NAT_GATEWAY_ID_PATTERN)] = Field(
        default=None, description="Internet route for subnets the platform adds (or route_table_id)."
    )
    route_table_id: Annotated[str | None, Field(pattern=ROUTE_TABLE_ID_PATTERN)] = Field(
        default=None, description="Route table for subnets the platform adds (or nat_gateway_id)."
    )

    @model_validator(mode="after")
    def _one_way_to_subnets(self) -> ExistingNetwork:
        egress = [key for key in ("nat_gateway_id", "route_table_id") if getattr(self, key) is not None]
        if self.hyperpod_subnets and egress:
            raise ValueError(
                f"{egress[0]}: only used when the platform adds the HyperPod subnets; the existing "
                "hyperpod_subnets keep their own routes"
            )
        if not self.hyperpod_subnets and not egress:
            raise ValueError(
                "hyperpod_subnets: give the existing HyperPod subnets by AZ ID, or nat_gateway_id or "
                "route_table_id so the platform can add them from network.hyperpod_cidr"
            )
        if len(egress) == 2:
            raise ValueError("route_table_id: give nat_gateway_id or route_table_id, not both")
        ids = [s.subnet_id for s in self.hyperpod_subnets.values()] + list(self.control_plane_subnet_ids)
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"hyperpod_subnets: {repeated[0]} is listed twice; each subnet has one role")
        return self


class NetworkConfig(_Model):
    """The VPC: control-plane subnets in the primary CIDR, HyperPod subnets in ``hyperpod_cidr``.

    With ``existing``, no VPC is created (see :class:`ExistingNetwork`).
    """

    vpc_cidr: Cidr = ipaddress.IPv4Network("10.192.0.0/16")
    hyperpod_cidr: Cidr = Field(
        default=ipaddress.IPv4Network("10.1.0.0/16"),
        description="Split evenly across availability_zone_ids; added as a secondary VPC CIDR when "
        "outside vpc_cidr.",
    )
    availability_zone_ids: Annotated[list[AzId], Field(min_length=1, max_length=8)] = Field(
        description="AZ IDs (not names) that get a HyperPod subnet; the first is the default. With "
        "existing.hyperpod_subnets it defaults to their AZ IDs."
    )
    max_azs: Annotated[int, Field(ge=2, le=3)] = 2
    control_plane_availability_zone_ids: Annotated[list[AzId], Field(min_length=2, max_length=3)] | None = Field(
        default=None,
        description="AZ IDs of the control-plane and public subnets (max_azs of them). Default: "
        "availability_zone_ids first, then <region>-az1, -az2, ...; never one EKS refuses (use1-az3, "
        "usw1-az2, cac1-az3).",
    )
    nat_gateways: Annotated[int, Field(ge=1, le=3)] = 1
    closed: bool = Field(
        default=False,
        description="A closed network: no internet gateway and no NAT gateway; AWS services are reached "
        "through VPC endpoints (interface endpoints and the S3 gateway endpoint) and the HyperPod Helm "
        "chart comes from kubernetes.helm_dependencies.source_s3_uri. See docs/closed-network.md.",
    )
    endpoint_policies: Literal["account", "aws_default"] = Field(
        default="account",
        description="closed only: 'account' (default) puts an account data perimeter on the S3 gateway and "
        "the interface endpoints (this account's buckets and the AWS-owned ones nodes read; callers or "
        "resources of this account); 'aws_default' keeps AWS's full-access endpoint policies, the escape "
        "hatch if a node needs an AWS-owned bucket the perimeter does not list. See docs/closed-network.md.",
    )
    ip_headroom_percent: Annotated[int, Field(ge=0, le=400)] = 25
    flow_log_retention_days: LogRetentionDays = 365
    existing: ExistingNetwork | None = Field(default=None, description="Use an existing VPC instead of creating one.")

    @model_validator(mode="before")
    @classmethod
    def _azs_from_existing_subnets(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "availability_zone_ids" not in data:
            existing = data.get("existing")
            subnets = existing.get("hyperpod_subnets") if isinstance(existing, Mapping) else None
            if isinstance(subnets, Mapping) and subnets:
                return {**data, "availability_zone_ids": list(subnets)}
        return data

    @field_validator("vpc_cidr", "hyperpod_cidr")
    @classmethod
    def _cidr_size(cls, value: ipaddress.IPv4Network, info: ValidationInfo) -> ipaddress.IPv4Network:
        what, largest = _CIDR_SIZES[info.field_name or ""]
        if not 16 <= value.prefixlen <= largest:
            raise ValueError(f"{what} must be between /16 and /{largest} (got /{value.prefixlen})")
        return value

    @model_validator(mode="after")
    def _cidrs_consistent(self) -> NetworkConfig:
        if len(set(self.availability_zone_ids)) != len(self.availability_zone_ids):
            raise ValueError("availability_zone_ids: list each AZ ID once")
        if not self.closed and "endpoint_policies" in self.model_fields_set:
            raise ValueError("endpoint_policies: only for closed: true (an open network keeps AWS's default policies)")
        if self.existing is not None:
            if self.closed:
                raise ValueError(
                    "closed: only for a VPC created here (it creates the VPC endpoints); for an existing VPC "
                    "without internet, provide the endpoints yourself, route the platform's subnets with "
                    "existing.route_table_id and set kubernetes.helm_dependencies.source_s3_uri"
                )
            return self._existing_consistent(self.existing)
        if self.closed and "nat_gateways" in self.model_fields_set:
            raise ValueError("nat_gateways: a closed network has no NAT gateway; remove the key")
        hp, vpc = self.hyperpod_cidr, self.vpc_cidr
        if hp.overlaps(vpc) and not hp.subnet_of(vpc):
            raise ValueError(
                f"hyperpod_cidr: {hp} partly overlaps vpc_cidr {vpc}; use a block inside it or disjoint from it"
            )
        if hp == vpc:
            raise ValueError(
                "hyperpod_cidr: must not be the whole vpc_cidr (the control-plane and public subnets live there)"
            )
        return self

    def _existing_consistent(self, existing: ExistingNetwork) -> NetworkConfig:
        # Keys that describe a VPC this platform would create.
        for key in (
            "vpc_cidr",
            "max_azs",
            "nat_gateways",
            "flow_log_retention_days",
            "control_plane_availability_zone_ids",
        ):
            if key in self.model_fields_set:
                raise ValueError(f"{key}: only for a VPC created here; the existing VPC keeps its own settings")
        if existing.hyperpod_subnets:
            if "hyperpod_cidr" in self.model_fields_set:
                raise ValueError(
                    "hyperpod_cidr: the HyperPod subnets already exist (existing.hyperpod_subnets); remove it"
                )
            if set(self.availability_zone_ids) != set(existing.hyperpod_subnets):
                raise ValueError(
                    f"availability_zone_ids: {self.availability_zone_ids} must name the AZ IDs of "
                    f"existing.hyperpod_subnets {list(existing.hyperpod_subnets)}"
                )
            return self
        hp, vpc = self.hyperpod_cidr, existing.vpc_cidr
        if hp.overlaps(vpc) and not hp.subnet_of(vpc):
            raise ValueError(
                f"hyperpod_cidr: {hp} partly overlaps the VPC's {vpc}; use a block inside it or disjoint from it"
            )
        return self

    @property
    def hyperpod_cidr_is_secondary(self) -> bool:
        primary = self.existing.vpc_cidr if self.existing is not None else self.vpc_cidr
        return not self.hyperpod_cidr.subnet_of(primary)


def group_demands(
    groups: Sequence[InstanceGroup], orchestrator: str, default_az_id: str
) -> dict[str, list[GroupDemand]]:
    """IP demand of each group, by the AZ ID it runs in."""
    kind = Orchestrator(orchestrator)
    by_az: dict[str, list[GroupDemand]] = {}
    for group in groups:
        az_id = group.availability_zone_id or default_az_id
        # A flexible group is planned at its hungriest type; an autoscale group at max_instance_count.
        options = [demand(group.name, t, group.planned_count, kind, group.ips_per_node) for t in group.candidate_types]
        by_az.setdefault(az_id, []).append(max(options, key=lambda d: d.ips_per_node))
    return by_az


def plan_for_config(config: PlatformConfig) -> list[SubnetPlan]:
    """Plan the HyperPod subnets of a platform config (raises when the plan does not fit).

    Subnets the platform creates are carved from ``network.hyperpod_cidr``; existing ones
    (``network.existing.hyperpod_subnets``) are checked with the CIDRs written in the config.
    """
    net = config.network
    by_az = group_demands(config.hyperpod.instance_groups, config.orchestrator, net.availability_zone_ids[0])
    orchestrator = Orchestrator(config.orchestrator)
    if net.existing is not None and net.existing.hyperpod_subnets:
        cidrs = {az: net.existing.hyperpod_subnets[az].cidr for az in net.availability_zone_ids}
        return plan_existing_subnets(
            cidrs, by_az, net.ip_headroom_percent, orchestrator, "network.existing.hyperpod_subnets"
        )
    return plan_subnets(net.hyperpod_cidr, net.availability_zone_ids, by_az, net.ip_headroom_percent, orchestrator)
