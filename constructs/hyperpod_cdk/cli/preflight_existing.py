"""Preflight for what the config imports: ``network.existing`` and ``eks.existing``.

A platform that imports its VPC creates none, so the VPC quota does not apply to it; what can go
wrong instead is that the IDs written in the config do not describe what the account holds (a
subnet in another VPC, a CIDR that changed, a cluster on another Kubernetes version or in another
VPC). Synth cannot see any of that (it does no lookups), so these checks read it here.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from hyperpod_cdk.cli import aws_errors
from hyperpod_cdk.cli.output import Check
from hyperpod_cdk.cli.preflight_context import describe_existing
from hyperpod_cdk.config import PlatformConfig

if TYPE_CHECKING:  # preflight imports this module
    from hyperpod_cdk.cli.preflight import Context, PreflightOptions

# An existing VPC must already have the CIDR the config names: the IP plan is checked against it offline.
EXISTING_VPC = "existing vpc"
EXISTING_SUBNETS = "existing subnets"
EXISTING_EKS = "existing eks"


def options_from_config(config: PlatformConfig, options: PreflightOptions) -> PreflightOptions:
    """Fill what the command line left out from ``network.existing`` / ``eks.existing``.

    Command-line flags win: they name resources the config does not (yet) describe.
    """
    changes: dict[str, Any] = {}
    existing = config.network.existing
    if existing is not None:
        changes["existing_vpc_id"] = options.existing_vpc_id or existing.vpc_id
        if not options.existing_subnet_ids and existing.hyperpod_subnets:
            changes["existing_subnet_ids"] = tuple(s.subnet_id for s in existing.hyperpod_subnets.values())
    eks = config.eks
    if eks is not None and eks.existing is not None and not options.existing_eks_cluster:
        changes["existing_eks_cluster"] = eks.cluster_name
    return dataclasses.replace(options, **changes) if changes else options


def check_existing_vpc(ctx: Context) -> list[Check]:
    """The VPC exists and has the CIDR the config writes out."""
    existing = ctx.config.network.existing
    vpc_id = ctx.options.existing_vpc_id or ""
    vpcs = describe_existing(
        ctx,
        EXISTING_VPC,
        vpc_id,
        "check network.existing.vpc_id and the region",
        lambda: ctx.clients("ec2").describe_vpcs(VpcIds=[vpc_id])["Vpcs"],
    )
    if isinstance(vpcs, Check):
        return [vpcs]
    vpc = vpcs[0]
    cidrs = [
        a.get("CidrBlock")
        for a in vpc.get("CidrBlockAssociationSet", [])
        if (a.get("CidrBlockState") or {}).get("State", "associated") == "associated"
    ]
    cidrs = cidrs or [vpc.get("CidrBlock")]
    if existing is not None and str(existing.vpc_cidr) not in cidrs:
        return [
            Check(
                "fail",
                EXISTING_VPC,
                f"{vpc_id} has CIDR(s) {', '.join(c for c in cidrs if c)}, not network.existing.vpc_cidr "
                f"{existing.vpc_cidr}",
                "set network.existing.vpc_cidr to the VPC's primary CIDR",
            )
        ]
    return [
        Check(
            "pass",
            EXISTING_VPC,
            f"{vpc_id} ({', '.join(c for c in cidrs if c)}) exists; the stack creates no VPC, so the VPC "
            "quota does not apply",
        )
    ]


def check_existing_subnet_ids(ctx: Context) -> list[Check]:
    """Every subnet the config names exists in the VPC, with the CIDR and AZ ID the config says."""
    existing = ctx.config.network.existing
    if existing is None:
        return []
    expected: dict[str, tuple[str, str | None, str | None]] = {}  # id -> (field, cidr, az id)
    for az_id, configured in existing.hyperpod_subnets.items():
        expected[configured.subnet_id] = (f"network.existing.hyperpod_subnets.{az_id}", str(configured.cidr), az_id)
    for index, subnet_id in enumerate(existing.control_plane_subnet_ids):
        expected[subnet_id] = (f"network.existing.control_plane_subnet_ids[{index}]", None, None)
    if not expected:
        return []
    ec2 = ctx.clients("ec2")
    found: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    for subnet_id in expected:  # one call per ID: a missing one fails the whole DescribeSubnets call
        try:
            found[subnet_id] = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]
        except ClientError as exc:
            if not aws_errors.is_not_found(exc):
                raise
            missing.append(subnet_id)
    problems: list[str] = []
    fixes: list[str] = []
    for subnet_id in missing:
        problems.append(f"{expected[subnet_id][0]} {subnet_id} not found in {ctx.region}")
        fixes.append(f"correct {expected[subnet_id][0]}")
    for subnet_id, subnet in found.items():
        field, cidr, zone = expected[subnet_id]
        if subnet.get("VpcId") != existing.vpc_id:
            problems.append(f"{field} {subnet_id} is in {subnet.get('VpcId')}, not {existing.vpc_id}")
            fixes.append(f"use a subnet of {existing.vpc_id} in {field}")
        if cidr is not None and subnet.get("CidrBlock") != cidr:
            problems.append(f"{field} {subnet_id} is {subnet.get('CidrBlock')}, the config says {cidr}")
            fixes.append(f"set {field}.cidr: {subnet.get('CidrBlock')}")
        if zone is not None and subnet.get("AvailabilityZoneId") != zone:
            problems.append(f"{field} {subnet_id} is in {subnet.get('AvailabilityZoneId')}, not {zone}")
            fixes.append(f"key the subnet by its AZ ID {subnet.get('AvailabilityZoneId')}")
    control = [found[s] for s in existing.control_plane_subnet_ids if s in found]
    control_azs = {str(s.get("AvailabilityZoneId")) for s in control}
    eks_is_new = ctx.config.eks is not None and ctx.config.eks.existing is None
    if eks_is_new and control and len(control_azs) < 2:
        # EKS places control-plane ENIs in subnets of at least two AZs
        # (https://docs.aws.amazon.com/eks/latest/userguide/network-reqs.html).
        problems.append(f"network.existing.control_plane_subnet_ids are all in {', '.join(sorted(control_azs))}")
        fixes.append("list private subnets in two AZs at least")
    if problems:
        return [Check("fail", EXISTING_SUBNETS, "; ".join(problems), "; ".join(dict.fromkeys(fixes)))]
    return [
        Check(
            "pass",
            EXISTING_SUBNETS,
            f"{len(found)} subnet(s) in {existing.vpc_id} match the config (IDs, CIDRs, AZ IDs)",
        )
    ]


def cluster_matches_config(ctx: Context, cluster: dict[str, Any]) -> list[Check]:
    """The existing cluster is the one the config describes: version, VPC, security group, endpoint.

    The HyperPod execution and the in-VPC installers (Helm, kubectl handler) reach the API server
    from the VPC; with private endpoint access off they need a path to the public endpoint.
    """
    eks = ctx.config.eks
    if eks is None or eks.existing is None:
        return []
    name = cluster.get("name", eks.cluster_name)
    rows: list[Check] = []
    version = cluster.get("version")
    if version and version != eks.kubernetes_version:
        rows.append(
            Check(
                "fail",
                "eks version",
                f"'{name}' runs Kubernetes {version}; the config says eks.kubernetes_version {eks.kubernetes_version} "
                "(it picks the kubectl layer and the add-on versions)",
                f'set eks.kubernetes_version: "{version}"',
            )
        )
    elif version:
        rows.append(Check("pass", "eks version", f"'{name}' runs Kubernetes {version}, as the config says"))
    vpc_config = cluster.get("resourcesVpcConfig") or {}
    problems: list[str] = []
    fixes: list[str] = []
    existing_net = ctx.config.network.existing
    if existing_net is not None and vpc_config.get("vpcId") and vpc_config["vpcId"] != existing_net.vpc_id:
        problems.append(f"'{name}' is in {vpc_config['vpcId']}, not network.existing.vpc_id {existing_net.vpc_id}")
        fixes.append(f"set network.existing.vpc_id: {vpc_config['vpcId']}")
    sg = vpc_config.get("clusterSecurityGroupId")
    if sg and sg != eks.existing.cluster_security_group_id:
        problems.append(
            f"its cluster security group is {sg}, not eks.existing.cluster_security_group_id "
            f"{eks.existing.cluster_security_group_id}"
        )
        fixes.append(f"set eks.existing.cluster_security_group_id: {sg}")
    if problems:
        rows.append(Check("fail", "eks network", "; ".join(problems), "; ".join(fixes)))
    elif vpc_config:
        rows.append(Check("pass", "eks network", f"'{name}' is in {vpc_config.get('vpcId')} with {sg}"))
    if vpc_config and vpc_config.get("endpointPrivateAccess") is False:
        public = vpc_config.get("publicAccessCidrs") or []
        rows.append(
            Check(
                "warn",
                "eks endpoint",
                f"'{name}' has private endpoint access off: nodes and the in-VPC installers reach the API through "
                f"the public endpoint (allowed from {', '.join(public) or 'nowhere'})",
                f"aws eks update-cluster-config --name {name} --resources-vpc-config endpointPrivateAccess=true",
            )
        )
    elif vpc_config:
        rows.append(Check("pass", "eks endpoint", f"'{name}' has private endpoint access on"))
    return rows


__all__ = [
    "check_existing_subnet_ids",
    "check_existing_vpc",
    "cluster_matches_config",
    "options_from_config",
]
