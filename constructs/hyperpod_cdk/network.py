"""HyperPodNetwork: a VPC with EKS control-plane subnets and plan-sized HyperPod subnets."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from aws_cdk import RemovalPolicy, Stack, Tags
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from hyperpod_cdk._cdk_util import logs_key, retention
from hyperpod_cdk.config import PlatformConfig
from hyperpod_cdk.network_plan import SubnetPlan, plan_for_config


class HyperPodNetwork(Construct):
    """VPC for a HyperPod cluster.

    - Public subnets (one NAT gateway by default) and private "control-plane" subnets in
      ``max_azs`` AZs of the primary CIDR, for the EKS control-plane ENIs and the kubectl handler.
    - One private HyperPod subnet per AZ **ID** (HyperPod capacity is AZ-specific, and AZ names
      map to different AZ IDs in every account), carved from ``hyperpod_cidr``, which is added as
      a secondary VPC CIDR when it lies outside the primary block.
    - An S3 gateway endpoint on every private route table, and VPC flow logs to a retained,
      one-year log group.

    Args:
        subnet_plans: from :func:`hyperpod_cdk.network_plan.plan_subnets` (use :meth:`from_config`).
        vpc_cidr: primary block. Default ``10.192.0.0/16``.
        hyperpod_cidr: the block the plans were carved from; must contain every plan's CIDR.
        max_azs: control-plane AZs (EKS needs at least 2). Default 2.
        nat_gateways: Default 1 (one per AZ costs more but survives an AZ outage).
        flow_log_retention: Default one year.
        log_key: KMS key for the flow-log group. Default: a new key.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        subnet_plans: Sequence[SubnetPlan],
        hyperpod_cidr: str,
        vpc_cidr: str = "10.192.0.0/16",
        max_azs: int = 2,
        nat_gateways: int = 1,
        flow_log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
        log_key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if not subnet_plans:
            raise ValueError("subnet_plans: at least one HyperPod subnet is needed")
        if max_azs < 2:
            raise ValueError("max_azs: EKS needs control-plane subnets in at least 2 AZs")
        primary = ipaddress.IPv4Network(vpc_cidr)
        secondary = ipaddress.IPv4Network(hyperpod_cidr)
        for plan in subnet_plans:
            if not plan.cidr.subnet_of(secondary):
                raise ValueError(f"subnet_plans: {plan.cidr} ({plan.az_id}) is outside hyperpod_cidr {secondary}")

        nat_provider = ec2.NatProvider.gateway()
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(vpc_cidr),
            max_azs=max_azs,
            nat_gateways=nat_gateways,
            nat_gateway_provider=nat_provider,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="Public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(
                    name="ControlPlane", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=24
                ),
            ],
        )
        self.control_plane_subnets = list(self.vpc.private_subnets)

        self.log_key = logs_key(self, log_key, "VPC flow logs of the HyperPod network")
        flow_log_group = logs.LogGroup(
            self, "FlowLogs", retention=flow_log_retention, encryption_key=self.log_key,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.vpc.add_flow_log(
            "FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group)
        )

        cidr_block: ec2.CfnVPCCidrBlock | None = None
        if not secondary.subnet_of(primary):
            cidr_block = ec2.CfnVPCCidrBlock(self, "HyperPodCidr", vpc_id=self.vpc.vpc_id, cidr_block=str(secondary))

        nat_gateway_id = nat_provider.configured_gateways[0].gateway_id
        self.subnet_plans = tuple(subnet_plans)
        self.hyperpod_subnets: dict[str, ec2.ISubnet] = {}
        route_table_ids = [subnet.route_table.route_table_id for subnet in self.control_plane_subnets]
        for plan in subnet_plans:
            suffix = plan.az_id.replace("-", "")
            subnet = ec2.CfnSubnet(
                self,
                f"HyperPodSubnet{suffix}",
                vpc_id=self.vpc.vpc_id,
                cidr_block=str(plan.cidr),
                availability_zone_id=plan.az_id,
                map_public_ip_on_launch=False,
            )
            Tags.of(subnet).add("Name", f"{Stack.of(self).stack_name}-hyperpod-{plan.az_id}")
            if cidr_block is not None:
                subnet.add_resource_dependency(cidr_block)
            route_table = ec2.CfnRouteTable(self, f"HyperPodRoutes{suffix}", vpc_id=self.vpc.vpc_id)
            ec2.CfnRoute(
                self,
                f"HyperPodDefaultRoute{suffix}",
                route_table_id=route_table.ref,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nat_gateway_id,
            )
            ec2.CfnSubnetRouteTableAssociation(
                self, f"HyperPodRouteAssoc{suffix}", subnet_id=subnet.ref, route_table_id=route_table.ref
            )
            route_table_ids.append(route_table.ref)
            self.hyperpod_subnets[plan.az_id] = ec2.Subnet.from_subnet_attributes(
                self,
                f"HyperPodSubnetRef{suffix}",
                subnet_id=subnet.ref,
                route_table_id=route_table.ref,
                availability_zone=subnet.attr_availability_zone,
                ipv4_cidr_block=str(plan.cidr),
            )

        # One gateway endpoint for every private route table: lifecycle scripts, container
        # layers and checkpoints reach S3 without paying NAT data-processing charges.
        ec2.CfnVPCEndpoint(
            self,
            "S3Endpoint",
            vpc_id=self.vpc.vpc_id,
            service_name=f"com.amazonaws.{Stack.of(self).region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=route_table_ids,
        )

    @property
    def default_hyperpod_subnet(self) -> ec2.ISubnet:
        return self.hyperpod_subnets[self.subnet_plans[0].az_id]

    @classmethod
    def from_config(
        cls, scope: Construct, construct_id: str, config: PlatformConfig, *, log_key: kms.IKey | None = None
    ) -> HyperPodNetwork:
        net = config.network
        return cls(
            scope,
            construct_id,
            subnet_plans=plan_for_config(config),
            hyperpod_cidr=str(net.hyperpod_cidr),
            vpc_cidr=str(net.vpc_cidr),
            max_azs=net.max_azs,
            nat_gateways=net.nat_gateways,
            flow_log_retention=retention(net.flow_log_retention_days),
            log_key=log_key,
        )
