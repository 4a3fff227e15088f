"""HyperPodPlatform, network phase: the VPC and subnets (created, imported or added) and closed-network endpoints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from aws_cdk import aws_ec2 as ec2
from constructs import IConstruct

from hyperpod_cdk.config import plan_for_config
from hyperpod_cdk.errors import checked_props
from hyperpod_cdk.network.endpoints import HyperPodEndpoints
from hyperpod_cdk.network.subnets import HyperPodEgress, HyperPodSubnets
from hyperpod_cdk.network.vpc import HyperPodNetwork

if TYPE_CHECKING:
    from hyperpod_cdk.platform import HyperPodPlatform


def resolve_network(
    platform: HyperPodPlatform,
    vpc: ec2.IVpc | None,
    hyperpod_subnets: Mapping[str, ec2.ISubnet] | None,
    control_plane_subnets: Sequence[ec2.ISubnet] | None,
    hyperpod_egress: HyperPodEgress | None,
) -> None:
    config = platform.config
    net = config.network
    existing = net.existing
    platform.network = None
    #: The HyperPod subnets this platform created (None when they already existed).
    platform.created_hyperpod_subnets = None
    if vpc is None and existing is None:
        platform.network = HyperPodNetwork.from_config(platform, "Network", config, log_key=platform.logs_key)
        platform.vpc = platform.network.vpc
        platform.hyperpod_subnets = dict(platform.network.hyperpod_subnets)
        platform.control_plane_subnets = list(platform.network.control_plane_subnets)
        platform.created_hyperpod_subnets = platform.network.hyperpod
        return
    if vpc is None:
        assert existing is not None
        # fromVpcAttributes wants AZs only to group the subnet IDs it is given; every subnet is
        # imported on its own below, so the configured AZ IDs stand in and no lookup is needed.
        vpc = ec2.Vpc.from_vpc_attributes(
            platform,
            "Vpc",
            vpc_id=existing.vpc_id,
            vpc_cidr_block=str(existing.vpc_cidr),
            availability_zones=list(net.availability_zone_ids),
        )
        control_plane_subnets = [
            ec2.Subnet.from_subnet_id(platform, f"ControlPlaneSubnet{i}", subnet_id)
            for i, subnet_id in enumerate(existing.control_plane_subnet_ids)
        ]
        if existing.hyperpod_subnets:
            hyperpod_subnets = {
                az_id: ec2.Subnet.from_subnet_attributes(
                    platform,
                    f"HyperPodSubnet{az_id.replace('-', '')}",
                    subnet_id=subnet.subnet_id,
                    ipv4_cidr_block=str(subnet.cidr),
                )
                for az_id, subnet in existing.hyperpod_subnets.items()
            }
        else:
            hyperpod_egress = HyperPodEgress(
                nat_gateway_id=existing.nat_gateway_id, route_table_id=existing.route_table_id
            )
    platform.vpc = vpc
    platform.control_plane_subnets = (
        list(control_plane_subnets) if control_plane_subnets is not None else list(vpc.private_subnets)
    )
    if hyperpod_subnets is not None:
        platform.hyperpod_subnets = {az: hyperpod_subnets[az] for az in net.availability_zone_ids}
        return
    assert hyperpod_egress is not None  # checked in _check_platform_props
    primary = str(existing.vpc_cidr) if existing is not None else None
    with checked_props(platform, "Network"):
        subnets = HyperPodSubnets(
            platform,
            "Network",
            vpc=vpc,
            subnet_plans=plan_for_config(config),
            hyperpod_cidr=str(net.hyperpod_cidr),
            egress=hyperpod_egress,
            vpc_cidr=primary,
        )
    platform.hyperpod_subnets = dict(subnets.subnets)
    platform.created_hyperpod_subnets = subnets


def add_endpoints(platform: HyperPodPlatform) -> None:
    """A closed network: interface endpoints, and node egress to them and to S3 only (no 0.0.0.0/0)."""
    net = platform.config.network
    platform.endpoints = HyperPodEndpoints.for_config(
        platform,
        "Endpoints",
        platform.config,
        vpc=platform.vpc,
        subnets=platform.control_plane_subnets,
        log_key=platform.logs_key,
    )
    sg = platform.node_security_group
    rules: list[IConstruct] = [platform.endpoints]
    rules.append(
        sg.allow_https_egress(
            "EndpointEgressPrimary", cidr=str(net.vpc_cidr), description="HTTPS to the VPC endpoints (primary CIDR)"
        )
    )
    if net.hyperpod_cidr_is_secondary:
        rules.append(
            sg.allow_https_egress(
                "EndpointEgressHyperPod",
                cidr=str(net.hyperpod_cidr),
                description="HTTPS inside the HyperPod CIDR (endpoints and services there)",
            )
        )
    rules.append(
        sg.allow_https_egress(
            "S3GatewayEgress",
            prefix_list_id=platform.endpoints.s3_prefix_list_id,
            description="HTTPS to S3 through the gateway endpoint (lifecycle scripts, image layers)",
        )
    )
    if platform.network is not None:
        # In a closed network S3 is reachable only through the gateway endpoint's routes: the in-VPC
        # handlers read their input from S3 and PUT their answer to CloudFormation's S3 URL, and
        # nodes fetch the lifecycle scripts from S3, so they wait for the routes too.
        rules.append(platform.network.s3_gateway_endpoint)
    # Everything that calls AWS from inside the VPC at deploy time waits for these.
    platform._network_ready = rules
