"""HyperPodNetwork: a VPC with EKS control-plane subnets and plan-sized HyperPod subnets (open or closed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn, cast

from aws_cdk import Annotations, Stack, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from hyperpod_cdk._cdk_util import retention
from hyperpod_cdk._handler_functions import retained_log_group
from hyperpod_cdk.config import PlatformConfig, az_id_prefix, plan_for_config
from hyperpod_cdk.errors import prop_error, typed_props
from hyperpod_cdk.network.endpoint_policies import full_access_policy, s3_gateway_policy
from hyperpod_cdk.network.subnets import HyperPodEgress, HyperPodSubnets
from hyperpod_cdk.specs.az_ids import EKS_UNSUPPORTED_AZ_IDS, default_control_plane_az_ids
from hyperpod_cdk.specs.network_plan import SubnetPlan


@typed_props
class HyperPodNetwork(Construct):
    """VPC for a HyperPod cluster.

    - Public subnets (one NAT gateway by default) and private "control-plane" subnets in
      ``max_azs`` AZs of the primary CIDR, for the EKS control-plane ENIs and the kubectl handler;
      with ``closed``, only the control-plane subnets, isolated (no route out). They are placed by
      AZ **ID** too (``control_plane_az_ids``): no ``Fn::GetAZs``, no AZ lookup in the template.
    - One private HyperPod subnet per AZ **ID** (HyperPod capacity is AZ-specific, and AZ names
      map to different AZ IDs in every account), carved from ``hyperpod_cidr``, which is added as
      a secondary VPC CIDR when it lies outside the primary block.
    - An S3 gateway endpoint on every private route table (with ``closed``, limited by an endpoint
      policy to this account's buckets and the AWS-owned ones nodes need), and VPC flow logs to a
      retained, one-year log group.

    Args:
        subnet_plans: from :func:`hyperpod_cdk.specs.network_plan.plan_subnets` (use :meth:`from_config`).
        vpc_cidr: primary block. Default ``10.192.0.0/16``.
        hyperpod_cidr: the block the plans were carved from; must contain every plan's CIDR.
        max_azs: control-plane AZs (EKS needs at least 2). Default 2.
        control_plane_az_ids: the AZ IDs of the control-plane and public subnets, ``max_azs`` of
            them. Default: the HyperPod subnets' AZ IDs, then ``<region>-az1``, ``-az2``, ... without
            the AZ IDs EKS refuses (:mod:`hyperpod_cdk.specs.az_ids`); needs the stack's region.
        nat_gateways: Default 1 (one per AZ costs more but survives an AZ outage).
        closed: no internet at all: no public subnets, no internet gateway, no NAT gateway; the
            control-plane subnets are isolated and the HyperPod subnets get route tables without a
            default route. AWS services are reached through VPC endpoints
            (:class:`~hyperpod_cdk.network.endpoints.HyperPodEndpoints`) and the S3 gateway
            endpoint. Default False.
        endpoint_perimeter: with ``closed``, the S3 gateway endpoint gets the account data perimeter
            (:func:`~hyperpod_cdk.network.endpoint_policies.s3_gateway_policy`); False writes AWS's
            full-access policy out. Default True.
        flow_log_retention: Default one year.
        log_key: KMS key for the flow-log group (named ``/hyperpod-cdk/<stack-path-hash>/<deployment>/vpc-flow-logs``;
            the key policy gets a statement for that group only). Default: a new key.
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
        closed: bool = False,
        endpoint_perimeter: bool = True,
        flow_log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
        log_key: kms.IKey | None = None,
        control_plane_az_ids: Sequence[str] | None = None,
    ) -> None:
        if max_azs < 2:
            raise prop_error(scope, construct_id, "max_azs", "EKS needs control-plane subnets in at least 2 AZs")
        az_ids = _control_plane_az_ids(scope, construct_id, control_plane_az_ids, subnet_plans, max_azs)
        super().__init__(scope, construct_id)
        self.closed = closed
        nat_provider = ec2.NatProvider.gateway()
        if closed:
            # No public subnet means no internet gateway: CDK creates one only for public subnets.
            subnet_configuration = [
                ec2.SubnetConfiguration(name="ControlPlane", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24),
            ]
        else:
            subnet_configuration = [
                ec2.SubnetConfiguration(name="Public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(
                    name="ControlPlane", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=24
                ),
            ]
        _warn_about_az_lookup(self)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(vpc_cidr),
            max_azs=max_azs,
            nat_gateways=0 if closed else nat_gateways,
            nat_gateway_provider=None if closed else nat_provider,
            subnet_configuration=subnet_configuration,
        )
        self.control_plane_subnets = list(self.vpc.isolated_subnets if closed else self.vpc.private_subnets)
        #: The AZ IDs of the control-plane (and public) subnets, in subnet order.
        self.control_plane_az_ids = az_ids
        # aws-cdk-lib's Vpc places subnets by AZ name (Fn::GetAZs, or a context lookup once the
        # stack has an account); names map to different zones in every account. Each subnet is
        # placed by AZ ID instead (AWS::EC2::Subnet AvailabilityZoneId).
        for group in (self.vpc.public_subnets, self.control_plane_subnets):
            for index, subnet in enumerate(group):
                resource = cast(ec2.CfnSubnet, subnet.node.default_child)
                resource.add_property_deletion_override("AvailabilityZone")
                resource.add_property_override("AvailabilityZoneId", az_ids[index])

        self.log_key, flow_log_group = retained_log_group(
            self,
            "FlowLogs",
            "vpc-flow-logs",
            description="VPC flow logs of the HyperPod network",
            key=log_key,
            retention=flow_log_retention,
        )
        self.vpc.add_flow_log("FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group))

        # "Default" keeps the subnets' logical IDs those of resources directly under this construct.
        self.hyperpod = HyperPodSubnets(
            self,
            "Default",
            vpc=self.vpc,
            subnet_plans=subnet_plans,
            hyperpod_cidr=hyperpod_cidr,
            vpc_cidr=vpc_cidr,
            egress=HyperPodEgress.none()
            if closed
            else HyperPodEgress.nat_gateway(nat_provider.configured_gateways[0].gateway_id),
        )
        self.subnet_plans = self.hyperpod.subnet_plans
        self.hyperpod_subnets: dict[str, ec2.ISubnet] = self.hyperpod.subnets
        route_table_ids = [subnet.route_table.route_table_id for subnet in self.control_plane_subnets]
        route_table_ids += self.hyperpod.route_table_ids

        # One gateway endpoint for every private route table: lifecycle scripts, container
        # layers and checkpoints reach S3 without paying NAT data-processing charges.
        #: The S3 gateway endpoint (its routes are how a closed network reaches S3 at all).
        self.s3_gateway_endpoint = ec2.CfnVPCEndpoint(
            self,
            "S3Endpoint",
            vpc_id=self.vpc.vpc_id,
            service_name=f"com.amazonaws.{Stack.of(self).region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=route_table_ids,
            # Closed: this account's buckets and the AWS-owned ones nodes need (network/endpoint_policies.py).
            # Open: AWS's default policy; that VPC reaches the internet through NAT anyway.
            policy_document=(s3_gateway_policy() if endpoint_perimeter else full_access_policy()) if closed else None,
        )

    @property
    def default_hyperpod_subnet(self) -> ec2.ISubnet:
        return self.hyperpod.default_subnet

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
            closed=net.closed,
            endpoint_perimeter=net.endpoint_policies == "account",
            flow_log_retention=retention(net.flow_log_retention_days),
            log_key=log_key,
            control_plane_az_ids=config.control_plane_az_ids,
        )


def _control_plane_az_ids(
    scope: Construct, construct_id: str, given: Sequence[str] | None, plans: Sequence[SubnetPlan], count: int
) -> list[str]:
    """The control-plane AZ IDs: the given ones (checked), or the default for the stack's region."""

    def fail(message: str) -> NoReturn:
        raise prop_error(scope, construct_id, "control_plane_az_ids", message)

    if given is not None:
        az_ids = list(given)
        if len(az_ids) != count or len(set(az_ids)) != count:
            fail(f"give max_azs ({count}) different AZ IDs, got {az_ids}")
        refused = [az for az in az_ids if az in EKS_UNSUPPORTED_AZ_IDS]
        if refused:
            # https://docs.aws.amazon.com/eks/latest/userguide/network-reqs.html#network-requirements-subnets
            fail(f"EKS does not create control planes in {refused[0]} (UnsupportedAvailabilityZoneException)")
        return az_ids
    region = Stack.of(scope).region
    prefix = None if Token.is_unresolved(region) else az_id_prefix(region)
    if prefix is None:
        fail("the stack's region is not known at synth: give the AZ IDs (such as ['usw2-az1', 'usw2-az2'])")
    az_ids = default_control_plane_az_ids(prefix, [plan.az_id for plan in plans], count)
    if len(az_ids) < count:
        fail(f"give {count} AZ IDs of {region} that EKS accepts")
    return az_ids


def _warn_about_az_lookup(scope: Construct) -> None:
    """aws-cdk-lib's Vpc reads ``Stack.availability_zones``; with an account set, the default
    implementation asks the CLI for an AZ-name lookup (credentials at synth). Nothing of it reaches
    the template (subnets are placed by ID), so say how to drop it, as HyperPodPlatformStack does."""
    stack = Stack.of(scope)
    if Token.is_unresolved(stack.account) or type(stack).availability_zones is not Stack.availability_zones:
        return
    Annotations.of(scope).add_warning_v2(
        "hyperpod-cdk:azLookup",
        "the stack's account is set, so aws-cdk-lib's Vpc asks for an AZ-name lookup at synth (credentials "
        "needed) although every subnet is placed by AZ ID; override availability_zones in your Stack class to "
        "return config.control_plane_az_ids (as infra/platform_stack.py does) to synthesize without one",
    )
