"""HyperPodSubnets: plan-sized HyperPod subnets by AZ ID, in a new or an existing VPC."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Stack, Tags, Token
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from hyperpod_cdk.errors import prop_error, typed_props
from hyperpod_cdk.specs.network_plan import SubnetPlan


@dataclass(frozen=True)
class HyperPodEgress:
    """How the new HyperPod subnets reach the internet (images, AWS APIs without endpoints).

    Exactly one of:

    - ``nat_gateway_id``: each subnet gets its own route table with ``0.0.0.0/0`` to this NAT gateway.
    - ``route_table_id``: each subnet joins this existing route table (its routes are yours).
    - neither, with ``closed=True``: no route out at all (a closed network that reaches AWS
      through VPC endpoints); each subnet gets an empty route table of its own.
    """

    nat_gateway_id: str | None = None
    route_table_id: str | None = None
    closed: bool = False

    @classmethod
    def nat_gateway(cls, nat_gateway_id: str) -> HyperPodEgress:
        return cls(nat_gateway_id=nat_gateway_id)

    @classmethod
    def route_table(cls, route_table_id: str) -> HyperPodEgress:
        return cls(route_table_id=route_table_id)

    @classmethod
    def none(cls) -> HyperPodEgress:
        return cls(closed=True)


@typed_props
class HyperPodSubnets(Construct):
    """One private subnet per AZ **ID**, carved from ``hyperpod_cidr`` by a :class:`SubnetPlan` each.

    HyperPod capacity is AZ-specific and AZ names map to different AZ IDs in every account, so
    subnets are placed with ``AvailabilityZoneId``. ``hyperpod_cidr`` is added to the VPC as a
    secondary CIDR block when it lies outside ``vpc_cidr`` (and the subnets wait for it).

    Args:
        vpc: the VPC (created in this app or imported).
        subnet_plans: from :func:`hyperpod_cdk.config.plan_for_config` or
            :func:`hyperpod_cdk.specs.network_plan.plan_subnets`; every CIDR inside ``hyperpod_cidr``.
        hyperpod_cidr: the block the plans were carved from.
        vpc_cidr: the VPC's primary block. Default: ``vpc.vpc_cidr_block`` (must then be known).
        egress: the route out; see :class:`HyperPodEgress`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnet_plans: Sequence[SubnetPlan],
        hyperpod_cidr: str,
        egress: HyperPodEgress,
        vpc_cidr: str | None = None,
    ) -> None:
        if not subnet_plans:
            raise prop_error(scope, construct_id, "subnet_plans", "at least one HyperPod subnet is needed")
        secondary = ipaddress.IPv4Network(hyperpod_cidr)
        for plan in subnet_plans:
            if not plan.cidr.subnet_of(secondary):
                raise prop_error(
                    scope,
                    construct_id,
                    "subnet_plans",
                    f"{plan.cidr} ({plan.az_id}) is outside hyperpod_cidr {secondary}",
                )
        chosen = [e for e in (egress.nat_gateway_id, egress.route_table_id) if e]
        if len(chosen) + int(egress.closed) != 1:
            raise prop_error(
                scope,
                construct_id,
                "egress",
                "give exactly one of HyperPodEgress.nat_gateway(id), .route_table(id) or .none()",
            )
        primary_text = vpc_cidr if vpc_cidr is not None else vpc.vpc_cidr_block
        if Token.is_unresolved(primary_text):
            raise prop_error(
                scope,
                construct_id,
                "vpc_cidr",
                "the VPC's primary CIDR is not known at synth; pass vpc_cidr (it decides whether "
                "hyperpod_cidr is added as a secondary block)",
            )
        super().__init__(scope, construct_id)
        primary = ipaddress.IPv4Network(primary_text)
        self.subnet_plans = tuple(subnet_plans)
        self.cidr_block: ec2.CfnVPCCidrBlock | None = None
        if not secondary.subnet_of(primary):
            self.cidr_block = ec2.CfnVPCCidrBlock(self, "HyperPodCidr", vpc_id=vpc.vpc_id, cidr_block=str(secondary))

        self.subnets: dict[str, ec2.ISubnet] = {}
        #: The ``AWS::EC2::Subnet`` resources by AZ ID (for removal policies).
        self.cfn_subnets: dict[str, ec2.CfnSubnet] = {}
        #: Route tables this construct created (for gateway endpoints); empty with an existing route table.
        self.route_table_ids: list[str] = []
        for plan in subnet_plans:
            suffix = plan.az_id.replace("-", "")
            subnet = ec2.CfnSubnet(
                self,
                f"HyperPodSubnet{suffix}",
                vpc_id=vpc.vpc_id,
                cidr_block=str(plan.cidr),
                availability_zone_id=plan.az_id,
                map_public_ip_on_launch=False,
            )
            Tags.of(subnet).add("Name", f"{Stack.of(self).stack_name}-hyperpod-{plan.az_id}")
            self.cfn_subnets[plan.az_id] = subnet
            if self.cidr_block is not None:
                subnet.add_resource_dependency(self.cidr_block)
            if egress.route_table_id:
                route_table_id = egress.route_table_id
            else:
                route_table = ec2.CfnRouteTable(self, f"HyperPodRoutes{suffix}", vpc_id=vpc.vpc_id)
                route_table_id = route_table.ref
                self.route_table_ids.append(route_table_id)
                if egress.nat_gateway_id:
                    ec2.CfnRoute(
                        self,
                        f"HyperPodDefaultRoute{suffix}",
                        route_table_id=route_table_id,
                        destination_cidr_block="0.0.0.0/0",
                        nat_gateway_id=egress.nat_gateway_id,
                    )
            ec2.CfnSubnetRouteTableAssociation(
                self, f"HyperPodRouteAssoc{suffix}", subnet_id=subnet.ref, route_table_id=route_table_id
            )
            self.subnets[plan.az_id] = ec2.Subnet.from_subnet_attributes(
                self,
                f"HyperPodSubnetRef{suffix}",
                subnet_id=subnet.ref,
                route_table_id=route_table_id,
                availability_zone=subnet.attr_availability_zone,
                ipv4_cidr_block=str(plan.cidr),
            )

    @property
    def default_subnet(self) -> ec2.ISubnet:
        """The subnet of the first plan's AZ (the cluster-level ``VpcConfig`` subnet)."""
        return self.subnets[self.subnet_plans[0].az_id]
