"""``hyperpod-cdk preflight``: check an AWS account against the plan in ``hyperpod.yaml``.

Every check returns :class:`~hyperpod_cdk.cli.output.Check` rows. A check that AWS will not
answer (access denied, API or service absent in the region, throttling) becomes a ``warn`` row
saying so; only credential/region set-up errors escape, and the CLI turns those into one line.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError

from hyperpod_cdk.cli import aws_errors, preflight_existing
from hyperpod_cdk.cli.clients import Clients
from hyperpod_cdk.cli.output import Check
from hyperpod_cdk.config import InstanceGroup, PlatformConfig, plan_for_config
from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.specs import table_ages
from hyperpod_cdk.specs.network_plan import AWS_RESERVED_PER_SUBNET, GroupDemand, SubnetPlan

REQUIRED_EKS_ADDONS: tuple[str, ...] = ("vpc-cni", "kube-proxy", "coredns", "eks-pod-identity-agent")
VPC_QUOTA_CODE = "L-F678F1CE"  # "VPCs per Region"
DEFAULT_VPC_QUOTA = 5
REJECTED_CREDENTIALS = "AWS rejected the credentials"
UNREACHABLE = "cannot reach AWS STS"
EC2_PROXY_NOTE = "EC2 offerings are only a proxy for SageMaker HyperPod capacity, not proof either way"


def sagemaker_quota_name(instance_type: str) -> str:
    """The Service Quotas name of the HyperPod per-type limit, e.g. 'ml.p5.48xlarge for cluster usage'."""
    return f"{instance_type} for cluster usage"


def ec2_instance_type(instance_type: str) -> str:
    return instance_type.removeprefix("ml.")


@dataclass
class PreflightOptions:
    """What the config cannot say yet: resources the deployment would import instead of create."""

    existing_eks_cluster: str | None = None
    existing_subnet_ids: tuple[str, ...] = ()
    existing_vpc_id: str | None = None  # network.existing.vpc_id (see preflight_existing.options_from_config)

    @property
    def creates_vpc(self) -> bool:
        return not self.existing_subnet_ids and not self.existing_vpc_id


@dataclass
class Context:
    config: PlatformConfig
    clients: Clients
    region: str
    options: PreflightOptions = field(default_factory=PreflightOptions)
    _zones: list[dict[str, Any]] | None = None

    def zones(self) -> list[dict[str, Any]]:
        """The region's Availability Zones (ec2 DescribeAvailabilityZones), fetched once."""
        if self._zones is None:
            self._zones = self.clients("ec2").describe_availability_zones()["AvailabilityZones"]
        return self._zones

    def zone_id_for_name(self, name: str) -> str | None:
        return next((z["ZoneId"] for z in self.zones() if z.get("ZoneName") == name), None)

    def group_demands_by_az(self) -> dict[str, list[GroupDemand]]:
        """Per-AZ node IP demand, from the same subnet plan the CDK app builds."""
        return {plan.az_id: list(plan.groups) for plan in plan_for_config(self.config)}


def guarded(name: str, service: str, ctx: Context, fn: Callable[[], list[Check]]) -> list[Check]:
    """Run one check; turn an AWS error it cannot get past into a ``warn`` row naming the cause."""
    try:
        return fn()
    except aws_errors.SETUP_ERRORS:
        raise
    except (ClientError, BotoCoreError) as exc:
        reason, fix = aws_errors.unchecked_reason(service, exc, ctx.region)
        return [Check("warn", name, reason, fix)]


# --------------------------------------------------------------------------- identity and region


def check_identity(ctx: Context) -> list[Check]:
    name = "caller identity"
    try:
        ident = ctx.clients("sts").get_caller_identity()
    except (EndpointConnectionError, ConnectTimeoutError) as exc:
        return [
            Check(
                "fail",
                name,
                f"{UNREACHABLE}: {exc}",
                "check network access to AWS (proxy settings such as HTTPS_PROXY) and the region",
            )
        ]
    except ClientError as exc:
        if aws_errors.code(exc) in aws_errors.BAD_CREDENTIALS:
            return [
                Check(
                    "fail",
                    name,
                    f"{REJECTED_CREDENTIALS} ({aws_errors.code(exc)}: {aws_errors.message(exc)})",
                    "refresh them ('aws sso login', or new access keys) and rerun",
                )
            ]
        raise
    account, arn = ident["Account"], ident["Arn"]
    expected = ctx.config.account
    if expected and expected != account:
        return [
            Check(
                "fail",
                name,
                f"the credentials are for account {account} ({arn}) but the config's account is {expected}",
                f"use credentials for account {expected} (e.g. AWS_PROFILE), or change 'account' in the config",
            )
        ]
    return [Check("pass", name, f"account {account} as {arn}")]


def check_region(ctx: Context) -> list[Check]:
    rows: list[Check] = []
    if ctx.region != ctx.config.region:
        rows.append(
            Check(
                "warn",
                "region",
                f"checking {ctx.region}, but the config deploys to {ctx.config.region}",
                "drop --region, or change 'region' in the config",
            )
        )
    else:
        rows.append(Check("pass", "region", f"checking {ctx.region}, the region the config deploys to"))
    zones = {z["ZoneId"]: z for z in ctx.zones() if z.get("ZoneId")}
    planned = list(ctx.config.network.availability_zone_ids)
    missing = [az for az in planned if az not in zones]
    if missing:
        rows.append(
            Check(
                "fail",
                "availability zones",
                f"AZ ID(s) {', '.join(missing)} do not exist in {ctx.region} for this account "
                f"(it has {', '.join(sorted(zones)) or 'none'})",
                f"set network.availability_zone_ids from: aws ec2 describe-availability-zones --region {ctx.region} "
                "--query 'AvailabilityZones[].ZoneId'",
            )
        )
        return rows
    degraded = [
        f"{az} is {zones[az].get('State')}" for az in planned if zones[az].get("State") not in (None, "available")
    ]
    mapping = ", ".join(f"{az} = {zones[az].get('ZoneName')}" for az in planned)
    if degraded:
        rows.append(
            Check(
                "warn",
                "availability zones",
                f"{'; '.join(degraded)} ({mapping})",
                "check the AWS Health Dashboard, or plan in another AZ ID",
            )
        )
    else:
        rows.append(Check("pass", "availability zones", f"{ctx.region}: {mapping}"))
    return rows


# --------------------------------------------------------------------------- quotas


def planned_counts(config: PlatformConfig) -> Counter[str]:
    """Planned node count per instance type, summed across instance groups.

    An autoscale group counts at ``max_instance_count`` (what Karpenter may run); a flexible
    group counts against its first type, the one HyperPod tries first.
    """
    counts: Counter[str] = Counter()
    for group in config.hyperpod.instance_groups:
        counts[group.primary_type] += group.planned_count
    return counts


def _list_quotas(ctx: Context, service_code: str) -> dict[str, dict[str, Any]]:
    paginator = ctx.clients("service-quotas").get_paginator("list_service_quotas")
    quotas: dict[str, dict[str, Any]] = {}
    for page in paginator.paginate(ServiceCode=service_code):
        for quota in page.get("Quotas", []):
            quotas[quota.get("QuotaName", "")] = quota
    return quotas


def hyperpod_usage(ctx: Context) -> tuple[Counter[str] | None, str]:
    """Instances other HyperPod clusters in the region hold, per type (None when unreadable)."""
    sagemaker = ctx.clients("sagemaker")
    own = ctx.config.hyperpod.cluster_name
    used: Counter[str] = Counter()
    others = 0
    try:
        for page in sagemaker.get_paginator("list_clusters").paginate():
            for summary in page.get("ClusterSummaries", []):
                if summary.get("ClusterName") == own:
                    continue  # its nodes are part of the plan being checked
                others += 1
                described = sagemaker.describe_cluster(ClusterName=summary["ClusterName"])
                for group in described.get("InstanceGroups", []):
                    if group.get("InstanceType"):
                        used[group["InstanceType"]] += int(group.get("CurrentCount") or 0)
    except aws_errors.SETUP_ERRORS:
        raise
    except (ClientError, BotoCoreError) as exc:
        reason, _ = aws_errors.unchecked_reason("sagemaker", exc, ctx.region)
        return None, "usage by other clusters unknown (" + reason.removeprefix("cannot check: ") + ")"
    return used, f"{others} other HyperPod cluster(s) in the region"


# No EC2 On-Demand quota is checked: HyperPod capacity comes from SageMaker's on-demand pool and is
# limited by the SageMaker '<type> for cluster usage' quotas, which are independent of EC2 limits
# (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-ref.html#sagemaker-hyperpod-ref-pricing,
# https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-prerequisites.html#sagemaker-hyperpod-prerequisites-quotas).
def check_sagemaker_quotas(ctx: Context) -> list[Check]:
    needed = {t: n for t, n in sorted(planned_counts(ctx.config).items()) if n > 0}
    if not needed:
        return [Check("pass", "sagemaker quotas", "no instances planned")]
    quotas = _list_quotas(ctx, "sagemaker")
    usage, usage_note = hyperpod_usage(ctx)
    rows: list[Check] = []
    for instance_type, need in needed.items():
        name = f"quota {instance_type}"
        quota_name = sagemaker_quota_name(instance_type)
        quota = quotas.get(quota_name)
        if quota is None:
            rows.append(
                Check(
                    "warn",
                    name,
                    f"no '{quota_name}' quota listed in {ctx.region}: HyperPod may not offer this type here",
                    "check the SageMaker quotas in the Service Quotas console, or pick a type offered in the region",
                )
            )
            continue
        limit = int(quota.get("Value", 0))
        in_use = usage.get(instance_type, 0) if usage is not None else 0
        total = need + in_use
        detail = f"quota {limit}; the plan needs {need}"
        if usage is not None and in_use:
            detail += f" + {in_use} held by other clusters"
        detail += f" ({usage_note})"
        if limit < total:
            rows.append(
                Check(
                    "fail",
                    name,
                    detail,
                    "request an increase: aws service-quotas request-service-quota-increase --service-code "
                    f"sagemaker --quota-code {quota.get('QuotaCode')} --desired-value {total} --region {ctx.region}",
                )
            )
        elif usage is None:
            rows.append(Check("warn", name, detail, "allow sagemaker:ListClusters/DescribeCluster to count usage"))
        else:
            rows.append(Check("pass", name, detail))
    return rows


def count_vpcs(ctx: Context) -> int:
    paginator = ctx.clients("ec2").get_paginator("describe_vpcs")
    return sum(len(page.get("Vpcs", [])) for page in paginator.paginate())


def check_vpc_quota(ctx: Context) -> list[Check]:
    name = "vpc quota"
    in_use = count_vpcs(ctx)
    increase = (
        "delete unused VPCs, or request an increase: aws service-quotas request-service-quota-increase "
        f"--service-code vpc --quota-code {VPC_QUOTA_CODE} --desired-value {in_use + 1} --region {ctx.region}"
    )
    try:
        quota = ctx.clients("service-quotas").get_service_quota(ServiceCode="vpc", QuotaCode=VPC_QUOTA_CODE)
        limit: int | None = int(quota["Quota"]["Value"])
        note = ""
    except aws_errors.SETUP_ERRORS:
        raise
    except (ClientError, BotoCoreError) as exc:
        limit = None
        note = aws_errors.unchecked_reason("service-quotas", exc, ctx.region)[0].removeprefix("cannot check: ")
    if limit is None:
        if in_use + 1 > DEFAULT_VPC_QUOTA:
            return [
                Check(
                    "warn",
                    name,
                    f"cannot read the VPC quota ({note}); {in_use} VPCs exist and the default quota is "
                    f"{DEFAULT_VPC_QUOTA}, so the new VPC may not fit",
                    increase,
                )
            ]
        return [
            Check(
                "pass",
                name,
                f"{in_use} VPCs exist; the new one fits the default quota of {DEFAULT_VPC_QUOTA} "
                f"(quota not readable: {note})",
            )
        ]
    if in_use + 1 > limit:
        return [
            Check(
                "fail",
                name,
                f"{in_use} of {limit} VPCs per Region in use; the stack creates one more",
                increase,
            )
        ]
    return [Check("pass", name, f"{in_use} of {limit} VPCs per Region in use; the stack creates one more")]


# --------------------------------------------------------------------------- capacity proxies


def check_instance_offerings(ctx: Context) -> list[Check]:
    wanted: dict[str, set[str]] = {}
    for group in ctx.config.hyperpod.instance_groups:
        for instance_type in group.candidate_types:
            wanted.setdefault(instance_type, set()).add(ctx.config.group_az_id(group))
    ec2_types = sorted({ec2_instance_type(t) for t in wanted})
    az_ids = sorted({az for azs in wanted.values() for az in azs})
    paginator = ctx.clients("ec2").get_paginator("describe_instance_type_offerings")
    offered: set[tuple[str, str]] = set()
    for page in paginator.paginate(
        LocationType="availability-zone-id",
        Filters=[
            {"Name": "instance-type", "Values": ec2_types},
            {"Name": "location", "Values": az_ids},
        ],
    ):
        for offer in page.get("InstanceTypeOfferings", []):
            offered.add((offer.get("InstanceType", ""), offer.get("Location", "")))
    rows: list[Check] = []
    for instance_type, azs in sorted(wanted.items()):
        ec2_type = ec2_instance_type(instance_type)
        missing = sorted(az for az in azs if (ec2_type, az) not in offered)
        if missing:
            rows.append(
                Check(
                    "warn",
                    f"offering {instance_type}",
                    f"EC2 does not offer {ec2_type} in {', '.join(missing)}; {EC2_PROXY_NOTE}",
                    "consider an AZ ID that offers it (aws ec2 describe-instance-type-offerings --location-type "
                    f"availability-zone-id --filters Name=instance-type,Values={ec2_type}) or a training plan",
                )
            )
        else:
            rows.append(
                Check(
                    "pass",
                    f"offering {instance_type}",
                    f"EC2 offers {ec2_type} in {', '.join(sorted(azs))} (a proxy for SageMaker capacity only)",
                )
            )
    return rows


# --------------------------------------------------------------------------- subnets


def check_subnet_plan(ctx: Context) -> list[Check]:
    """The subnets the stack would create (a plan that does not fit already failed config loading)."""
    try:
        plans = plan_for_config(ctx.config)
    except HyperPodConfigError as exc:
        return [Check("fail", "subnet plan", f"{exc.field}: {exc.message}", "edit the config as the reason says")]
    detail = "; ".join(f"{p.az_id} {p.cidr}: needs {p.required_ips} of {p.capacity}" for p in plans)
    return [Check("pass", "subnet plan", detail)]


def check_existing_subnets(ctx: Context) -> list[Check]:
    ids = list(ctx.options.existing_subnet_ids)
    try:
        subnets = ctx.clients("ec2").describe_subnets(SubnetIds=ids)["Subnets"]
    except ClientError as exc:
        if aws_errors.is_not_found(exc):
            return [
                Check(
                    "fail",
                    "subnets",
                    f"not found in {ctx.region}: {aws_errors.message(exc)}",
                    "check network.existing.hyperpod_subnets (or --existing-subnet-ids) and --region",
                )
            ]
        raise
    by_az: dict[str, list[dict[str, Any]]] = {}
    for subnet in subnets:
        by_az.setdefault(subnet["AvailabilityZoneId"], []).append(subnet)
    demands = ctx.group_demands_by_az()
    headroom = ctx.config.network.ip_headroom_percent
    rows: list[Check] = []
    for az in sorted(set(by_az) | set(demands)):
        name = f"subnet IPs {az}"
        groups = [g for g in demands.get(az, []) if g.instance_count > 0]
        here = by_az.get(az, [])
        ids_here = ", ".join(s["SubnetId"] for s in here)
        if not groups:
            rows.append(Check("pass", name, f"{ids_here}: no planned nodes in this AZ"))
            continue
        names = ", ".join(g.name for g in groups)
        if not here:
            rows.append(
                Check(
                    "fail",
                    name,
                    f"instance group(s) {names} are planned in {az} but no --existing-subnet-ids subnet is there "
                    f"(given subnets are in {', '.join(sorted(by_az)) or 'no AZ'})",
                    f"add a subnet in {az}, or set the groups' availability_zone_id to an AZ of the given subnets",
                )
            )
            continue
        free = sum(int(s.get("AvailableIpAddressCount", 0)) for s in here)
        node_ips = sum(g.ips for g in groups)
        # SubnetPlan adds the AWS-reserved addresses; AvailableIpAddressCount already excludes them.
        plan = SubnetPlan(az, ipaddress.IPv4Network(here[0]["CidrBlock"]), tuple(groups), headroom)
        with_headroom = plan.required_ips - AWS_RESERVED_PER_SUBNET
        detail = ", ".join(f"{g.name} {g.instance_count} x {g.ips_per_node}" for g in groups)
        where = f"{free} free IPs in {ids_here}"
        if free < node_ips:
            rows.append(
                Check(
                    "fail",
                    name,
                    f"{where}; the nodes need {node_ips} ({detail})",
                    "use a bigger subnet (or add one in this AZ), free addresses, or plan fewer nodes",
                )
            )
        elif free < with_headroom:
            rows.append(
                Check(
                    "warn",
                    name,
                    f"{where} cover the {node_ips} node IPs but not the {headroom}% headroom ({with_headroom})",
                    "free addresses or add a subnet, or lower network.ip_headroom_percent",
                )
            )
        else:
            rows.append(
                Check(
                    "pass",
                    name,
                    f"{where}; the plan needs {with_headroom} with {headroom}% headroom ({detail})",
                )
            )
    return rows


# --------------------------------------------------------------------------- imported EKS cluster


def check_eks_cluster(ctx: Context) -> list[Check]:
    cluster_name = ctx.options.existing_eks_cluster or ""
    try:
        cluster = ctx.clients("eks").describe_cluster(name=cluster_name)["cluster"]
    except ClientError as exc:
        if aws_errors.is_not_found(exc):
            return [
                Check(
                    "fail",
                    "eks auth mode",
                    f"EKS cluster '{cluster_name}' not found in {ctx.region}",
                    "check eks.cluster_name (or --existing-eks-cluster) and --region",
                )
            ]
        raise
    rows: list[Check] = []
    status = cluster.get("status")
    if status and status != "ACTIVE":
        rows.append(
            Check(
                "warn",
                "eks cluster",
                f"'{cluster_name}' is {status}, not ACTIVE",
                f"wait: aws eks wait cluster-active --name {cluster_name}",
            )
        )
    rows.extend(preflight_existing.cluster_matches_config(ctx, cluster))
    mode = (cluster.get("accessConfig") or {}).get("authenticationMode")
    fix_mode = (
        f"aws eks update-cluster-config --name {cluster_name} --access-config "
        "authenticationMode=API_AND_CONFIG_MAP (then wait for the update to finish)"
    )
    if mode in ("API", "API_AND_CONFIG_MAP"):
        rows.append(Check("pass", "eks auth mode", f"'{cluster_name}' uses {mode} (access entries work)"))
    elif mode == "CONFIG_MAP":
        rows.append(
            Check(
                "fail",
                "eks auth mode",
                f"'{cluster_name}' uses CONFIG_MAP; HyperPod needs access entries (API or API_AND_CONFIG_MAP)",
                fix_mode,
            )
        )
    else:
        rows.append(
            Check(
                "warn",
                "eks auth mode",
                f"EKS did not report an authentication mode for '{cluster_name}'",
                f"check: aws eks describe-cluster --name {cluster_name} --query cluster.accessConfig",
            )
        )
    return rows


def check_eks_addons(ctx: Context) -> list[Check]:
    cluster_name = ctx.options.existing_eks_cluster or ""
    eks = ctx.clients("eks")
    present: set[str] = set()
    for page in eks.get_paginator("list_addons").paginate(clusterName=cluster_name):
        present.update(page.get("addons", []))
    missing = [a for a in REQUIRED_EKS_ADDONS if a not in present]
    if missing:
        return [
            Check(
                "fail",
                "eks add-ons",
                f"'{cluster_name}' lacks the EKS add-on(s) {', '.join(missing)} HyperPod requires "
                "(self-managed installs do not count)",
                " && ".join(f"aws eks create-addon --cluster-name {cluster_name} --addon-name {a}" for a in missing),
            )
        ]
    unhealthy = []
    for addon in REQUIRED_EKS_ADDONS:
        status = eks.describe_addon(clusterName=cluster_name, addonName=addon)["addon"].get("status")
        if status != "ACTIVE":
            unhealthy.append(f"{addon} is {status}")
    if unhealthy:
        return [
            Check(
                "warn",
                "eks add-ons",
                "; ".join(unhealthy),
                f"check: aws eks describe-addon --cluster-name {cluster_name} --addon-name <name>",
            )
        ]
    return [Check("pass", "eks add-ons", f"{', '.join(REQUIRED_EKS_ADDONS)} are ACTIVE")]


# --------------------------------------------------------------------------- training plans


def _training_plan_check(ctx: Context, index: int, group: InstanceGroup) -> list[Check]:
    name = f"training plan {group.name}"
    arn = group.training_plan_arn or ""
    try:
        plan = ctx.clients("sagemaker").describe_training_plan(TrainingPlanName=arn)
    except ClientError as exc:
        if aws_errors.is_not_found(exc):
            return [
                Check(
                    "fail",
                    name,
                    f"{arn} not found in {ctx.region}",
                    "check training_plan_arn; training plans are regional",
                )
            ]
        raise
    fails: list[str] = []
    warns: list[str] = []
    fixes: list[str] = []
    status = plan.get("Status")
    if status in ("Expired", "Failed"):
        fails.append(f"plan is {status}")
        fixes.append("buy a new training plan (aws sagemaker search-training-plan-offerings)")
    elif status in ("Pending", "Scheduled"):
        start = plan.get("StartTime")
        warns.append(f"plan is {status}" + (f", starts {start:%Y-%m-%d %H:%M %Z}" if start else ""))
    targets = plan.get("TargetResources") or []
    if targets and "hyperpod-cluster" not in targets:
        fails.append(f"plan targets {', '.join(targets)}, not hyperpod-cluster")
        fixes.append("use a plan bought for target resource hyperpod-cluster")
    summaries = plan.get("ReservedCapacitySummaries") or []
    matching = [s for s in summaries if s.get("InstanceType") == group.primary_type]
    group_az = ctx.config.group_az_id(group)
    field_path = f"hyperpod.instance_groups[{index}]"
    if not summaries:
        warns.append("plan lists no reserved capacity yet, so its AZ and type cannot be compared")
    elif not matching:
        types = ", ".join(sorted({s.get("InstanceType", "?") for s in summaries}))
        fails.append(f"plan reserves {types}; the group uses {group.primary_type}")
        fixes.append(f"set {field_path}.instance_type to {types}, or use a plan for {group.primary_type}")
    else:
        plan_azs: set[str] = set()
        unmapped: list[str] = []
        for summary in matching:
            if summary.get("AvailabilityZoneId"):
                plan_azs.add(summary["AvailabilityZoneId"])
            elif summary.get("AvailabilityZone"):
                try:
                    zone_id = ctx.zone_id_for_name(summary["AvailabilityZone"])
                except aws_errors.SETUP_ERRORS:
                    raise
                except (ClientError, BotoCoreError) as exc:
                    warns.append(
                        "cannot map the plan's AZ name to an AZ ID ("
                        + aws_errors.unchecked_reason("ec2", exc)[0].removeprefix("cannot check: ")
                        + ")"
                    )
                    zone_id = None
                if zone_id:
                    plan_azs.add(zone_id)
                else:
                    unmapped.append(summary["AvailabilityZone"])
        if plan_azs and group_az not in plan_azs:
            fails.append(f"plan capacity is in {', '.join(sorted(plan_azs))}; the group is placed in {group_az}")
            target = sorted(plan_azs)[0]
            fixes.append(
                f"set {field_path}.availability_zone_id: {target} (and list it in network.availability_zone_ids)"
            )
        elif not plan_azs:
            warns.append("plan does not say its AZ" + (f" (unmapped: {', '.join(unmapped)})" if unmapped else ""))
        reserved = sum(int(s.get("TotalInstanceCount") or 0) for s in matching)
        if group.instance_count > reserved:
            warns.append(f"group asks for {group.instance_count} nodes, the plan reserves {reserved}")
            fixes.append(f"lower {field_path}.instance_count to {reserved} or extend the plan")
    if fails:
        return [Check("fail", name, "; ".join(fails + warns), "; ".join(fixes))]
    if warns:
        return [Check("warn", name, "; ".join(warns), "; ".join(fixes))]
    return [
        Check(
            "pass",
            name,
            f"{plan.get('TrainingPlanName', arn)} is {status}: {group.primary_type} in {group_az}",
        )
    ]


def check_training_plans(ctx: Context) -> Iterable[tuple[str, Callable[[], list[Check]]]]:
    for index, group in enumerate(ctx.config.hyperpod.instance_groups):
        if group.training_plan_arn:
            yield f"training plan {group.name}", functools.partial(_training_plan_check, ctx, index, group)


# --------------------------------------------------------------------------- Helm chart bundle


def _bucket_region(ctx: Context, bucket: str) -> str | None:
    try:
        location = ctx.clients("s3").get_bucket_location(Bucket=bucket).get("LocationConstraint")
    except aws_errors.SETUP_ERRORS:
        raise
    except (ClientError, BotoCoreError):
        return None
    # GetBucketLocation answers null for us-east-1 and "EU" for old eu-west-1 buckets.
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location)


def check_chart_bundle(ctx: Context) -> list[Check]:
    """The chart bundle the Helm installer reads (``make chart-bundle``) exists, is the pinned one
    when ``source_sha256`` is set, and (closed network) sits in the stack's region: the S3 gateway
    endpoint reaches only buckets of its own region."""
    name = "chart bundle"
    helm = ctx.config.kubernetes.helm_dependencies
    uri = helm.source_s3_uri or ""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    build = f"build and upload it where there is internet: make chart-bundle BUNDLE_UPLOAD={uri}"
    try:
        head = ctx.clients("s3").head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except ClientError as exc:
        if aws_errors.code(exc) in ("404", "NoSuchKey", "NotFound", "NoSuchBucket"):
            return [Check("fail", name, f"{uri} does not exist", build)]
        if aws_errors.code(exc) == "403":  # HEAD responses carry no error code, only the status
            return [Check("warn", name, f"cannot check: access denied reading {uri}",
                          "allow s3:GetObject on it for the caller (HeadObject needs it), then rerun")]
        raise
    rows: list[Check] = []
    size = int(head.get("ContentLength") or 0)
    if ctx.config.network.closed:
        region = _bucket_region(ctx, bucket)
        if region is None:
            rows.append(Check("warn", name, f"cannot read the region of bucket {bucket}",
                              "allow s3:GetBucketLocation, or check that the bucket is in " + ctx.config.region))
        elif region != ctx.config.region:
            return [Check(
                "fail", name,
                f"{uri} is in {region}; a closed network in {ctx.config.region} reaches S3 only through its "
                "gateway endpoint, which serves buckets of its own region",
                f"copy the bundle to a bucket in {ctx.config.region} and point source_s3_uri at it",
            )]
    if not helm.source_sha256:
        rows.append(Check("pass", name, f"{uri} exists ({size} bytes); the installer checks the chart's files and "
                                        "sub-charts against the pins"))
        return rows
    stored = head.get("ChecksumSHA256") or ""
    if not stored or "-" in stored:
        rows.append(Check(
            "warn", name,
            f"{uri} exists but S3 holds no whole-object SHA-256 to compare with source_sha256 (the installer "
            "compares it at deploy)",
            f"re-upload with: make chart-bundle BUNDLE_UPLOAD={uri}",
        ))
        return rows
    actual = base64.b64decode(stored).hex()
    if actual != helm.source_sha256:
        return [Check(
            "fail", name,
            f"{uri} has sha256 {actual}, not the configured source_sha256 {helm.source_sha256}",
            "upload the bundle you pinned, or set source_sha256 to the sha256 make chart-bundle printed",
        )]
    rows.append(Check("pass", name, f"{uri} exists and its S3 SHA-256 matches source_sha256"))
    return rows


# --------------------------------------------------------------------------- scaling and AMI updates

# EC2 Spot placement scores run from 1 to 10; AWS suggests targeting AZs with higher scores
# (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-spot.html). Below this, warn.
SPOT_SCORE_WARN_BELOW = 5
AUTOSCALING_DOC = "https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-autoscaling.html"


def _spot_quota_rows(ctx: Context, spot_types: dict[str, int]) -> list[Check]:
    """A Spot-specific SageMaker quota, if Service Quotas lists one for the type.

    The HyperPod Spot page names no Spot quota; it points at the SageMaker quotas, whose
    '<type> for cluster usage' limit the quota check already compares with every planned node.
    """
    quotas = _list_quotas(ctx, "sagemaker")
    rows: list[Check] = []
    for instance_type, need in sorted(spot_types.items()):
        spot = [q for name, q in quotas.items() if instance_type in name and "spot" in name.lower()]
        if not spot:
            rows.append(Check(
                "pass", f"spot quota {instance_type}",
                f"no Spot-specific quota listed; Spot nodes count against '{sagemaker_quota_name(instance_type)}' "
                "(see the quota rows)",
            ))
            continue
        limit = int(spot[0].get("Value", 0))
        detail = f"'{spot[0].get('QuotaName')}' is {limit}; the plan may run {need} Spot nodes"
        if limit < need:
            rows.append(Check(
                "fail", f"spot quota {instance_type}", detail,
                "request an increase: aws service-quotas request-service-quota-increase --service-code sagemaker "
                f"--quota-code {spot[0].get('QuotaCode')} --desired-value {need} --region {ctx.region}",
            ))
        else:
            rows.append(Check("pass", f"spot quota {instance_type}", detail))
    return rows


def check_spot(ctx: Context) -> list[Check]:
    """Spot groups: the Spot quota (if any) and the EC2 Spot placement score of each group's AZ."""
    spot_groups = [g for g in ctx.config.hyperpod.instance_groups if g.capacity_type == "Spot"]
    needs: Counter[str] = Counter()
    for group in spot_groups:
        needs[group.primary_type] += group.planned_count
    rows = _spot_quota_rows(ctx, dict(needs))
    ec2 = ctx.clients("ec2")
    for group in spot_groups:
        name = f"spot placement {group.name}"
        az = ctx.config.group_az_id(group)
        types = [ec2_instance_type(t) for t in group.candidate_types]
        response = ec2.get_spot_placement_scores(
            InstanceTypes=types, TargetCapacity=max(group.planned_count, 1), TargetCapacityUnitType="units",
            SingleAvailabilityZone=True, RegionNames=[ctx.region],
        )
        scores = {s.get("AvailabilityZoneId"): int(s.get("Score", 0)) for s in response.get("SpotPlacementScores", [])}
        score = scores.get(az)
        best = max(scores.items(), key=lambda item: item[1]) if scores else None
        detail = f"{', '.join(types)} x {max(group.planned_count, 1)} in {az}: score {score if score else 'none'} of 10"
        if score is not None and score >= SPOT_SCORE_WARN_BELOW:
            rows.append(Check("pass", name, detail + f" ({EC2_PROXY_NOTE})"))
            continue
        fix = "expect long waits for Spot capacity; add an On-Demand fallback group to the Karpenter node class"
        if best and best[0] != az and best[1] > (score or 0):
            fix = f"place the group in {best[0]} (score {best[1]}): availability_zone_id: {best[0]}"
        rows.append(Check("warn", name, detail + f"; {EC2_PROXY_NOTE}", fix))
    return rows


def check_autoscaling(ctx: Context) -> list[Check]:
    """Karpenter autoscaling: what an existing cluster of the same name says, before the deploy changes it."""
    name = "autoscaling"
    cluster_name = ctx.config.hyperpod.cluster_name
    scaled = [g for g in ctx.config.hyperpod.instance_groups if g.autoscale]
    try:
        described = ctx.clients("sagemaker").describe_cluster(ClusterName=cluster_name)
    except ClientError as exc:
        if aws_errors.is_not_found(exc):
            return [Check(
                "pass", name,
                f"new cluster {cluster_name}: the stack creates the cluster role (trusted by "
                "hyperpod.sagemaker.amazonaws.com), enables Karpenter and applies the HyperpodNodeClass for "
                f"{', '.join(g.name for g in scaled)}",
            )]
        raise
    auto = described.get("AutoScaling") or {}
    if auto.get("Status") == "Failed":
        return [Check(
            "fail", name, f"{cluster_name}: autoscaling Failed ({auto.get('FailureMessage', 'no message')})",
            f"fix the cause, then redeploy; see {AUTOSCALING_DOC}",
        )]
    current = {g.get("InstanceGroupName"): int(g.get("CurrentCount") or 0) for g in described.get("InstanceGroups", [])}
    if auto.get("Mode") != "Enable":
        busy = [f"{g.name} ({current[g.name]} nodes)" for g in scaled if current.get(g.name)]
        if busy:
            return [Check(
                "warn", name,
                f"{cluster_name} has nodes in group(s) Karpenter will own: {', '.join(busy)}; Karpenter scales a "
                "group that starts above 0 down to 0",
                "drain those groups first, or move their work to a group that is not autoscaled",
            )]
        return [Check("pass", name, f"{cluster_name} exists; the deploy turns Karpenter autoscaling on")]
    return [Check(
        "pass", name,
        f"{cluster_name}: autoscaling {auto.get('Status', 'status unknown')} with role {described.get('ClusterRole')} "
        "(HyperPod refuses a ClusterRole change while autoscaling is on)",
    )]


def check_rollback_alarms(ctx: Context) -> list[Check]:
    """Every alarm a scheduled AMI update rolls back on exists (HyperPod only takes the names)."""
    wanted = {
        alarm: group.name for group in ctx.config.hyperpod.instance_groups if group.scheduled_update
        for alarm in group.scheduled_update.rollback_alarms
    }
    found: dict[str, str] = {}
    names = sorted(wanted)
    cloudwatch = ctx.clients("cloudwatch")
    for start in range(0, len(names), 100):  # DescribeAlarms takes up to 100 names
        response = cloudwatch.describe_alarms(
            AlarmNames=names[start:start + 100], AlarmTypes=["MetricAlarm", "CompositeAlarm"]
        )
        for alarm in response.get("MetricAlarms", []) + response.get("CompositeAlarms", []):
            found[alarm["AlarmName"]] = alarm.get("StateValue", "?")
    rows: list[Check] = []
    for alarm in names:
        row = f"rollback alarm {alarm}"
        if alarm not in found:
            rows.append(Check(
                "fail", row,
                f"group {wanted[alarm]} rolls back on '{alarm}', which does not exist in {ctx.region}: the update "
                "would never roll back",
                "create it (docs/scaling-and-updates.md suggests a metric), or fix the name in scheduled_update",
            ))
        elif found[alarm] == "ALARM":
            rows.append(Check(
                "warn", row, f"'{alarm}' is in ALARM now: the next scheduled update would roll back at once",
                "resolve the alarm before the update window",
            ))
        else:
            rows.append(Check("pass", row, f"'{alarm}' exists ({found[alarm]})"))
    return rows


# --------------------------------------------------------------------------- runner


def plan_checks(ctx: Context) -> list[tuple[str, str, Callable[[], list[Check]]]]:
    """(row name, service, check) in the order they run, after caller identity."""
    steps: list[tuple[str, str, Callable[[], list[Check]]]] = [
        ("availability zones", "ec2", lambda: check_region(ctx)),
    ]
    if ctx.options.creates_vpc:
        steps.append(("subnet plan", "ec2", lambda: check_subnet_plan(ctx)))
        steps.append(("vpc quota", "ec2", lambda: check_vpc_quota(ctx)))
    else:  # an imported VPC: no VPC is created, so no VPC quota (preflight_existing)
        if ctx.options.existing_vpc_id:
            steps.append(("existing vpc", "ec2", lambda: preflight_existing.check_existing_vpc(ctx)))
            steps.append(("existing subnets", "ec2", lambda: preflight_existing.check_existing_subnet_ids(ctx)))
        if ctx.options.existing_subnet_ids:
            steps.append(("subnets", "ec2", lambda: check_existing_subnets(ctx)))
        else:  # the platform adds the HyperPod subnets to the existing VPC
            steps.append(("subnet plan", "ec2", lambda: check_subnet_plan(ctx)))
    steps.append(("sagemaker quotas", "service-quotas", lambda: check_sagemaker_quotas(ctx)))
    steps.append(("instance offerings", "ec2", lambda: check_instance_offerings(ctx)))
    steps.extend((name, "sagemaker", fn) for name, fn in check_training_plans(ctx))
    helm = ctx.config.kubernetes.helm_dependencies
    if ctx.config.orchestrator == "eks" and helm.enabled and helm.source_s3_uri:
        steps.append(("chart bundle", "s3", lambda: check_chart_bundle(ctx)))
    hp = ctx.config.hyperpod
    if any(g.capacity_type == "Spot" for g in hp.instance_groups):
        steps.append(("spot capacity", "ec2", lambda: check_spot(ctx)))
    if hp.autoscaler is not None:
        steps.append(("autoscaling", "sagemaker", lambda: check_autoscaling(ctx)))
    if any(g.scheduled_update and g.scheduled_update.rollback_alarms for g in hp.instance_groups):
        steps.append(("rollback alarms", "cloudwatch", lambda: check_rollback_alarms(ctx)))
    if ctx.options.existing_eks_cluster:
        steps.append(("eks auth mode", "eks", lambda: check_eks_cluster(ctx)))
        steps.append(("eks add-ons", "eks", lambda: check_eks_addons(ctx)))
    steps.append(("table ages", "none", lambda: check_table_ages()))
    return steps


def check_table_ages() -> list[Check]:
    """A warn row per dated table older than table_ages.MAX_TABLE_AGE_DAYS, naming its refresh."""
    old = table_ages.stale()
    if not old:
        return [Check("pass", "table ages", f"every dated table was checked within {table_ages.MAX_TABLE_AGE_DAYS} "
                                            "days")]
    return [
        Check("warn", f"table age: {table.name.split(' (')[0]}",
              f"{table.name} was last checked {table.checked.isoformat()}, {age} days ago "
              f"(more than {table_ages.MAX_TABLE_AGE_DAYS})", f"refresh it: {table.refresh}")
        for table, age in old
    ]


def run_preflight(
    config: PlatformConfig,
    clients: Clients,
    options: PreflightOptions | None = None,
    *,
    progress: Any = None,
) -> list[Check]:
    """All preflight rows. Stops after caller identity when the credentials are rejected."""
    options = preflight_existing.options_from_config(config, options or PreflightOptions())
    ctx = Context(config=config, clients=clients, region=clients.region, options=options)
    if progress is not None:
        progress.update("Checking caller identity")
    rows = guarded("caller identity", "sts", ctx, lambda: check_identity(ctx))
    if any(row.status == "fail" and row.reason.startswith((REJECTED_CREDENTIALS, UNREACHABLE)) for row in rows):
        return rows
    for name, service, fn in plan_checks(ctx):
        if progress is not None:
            progress.update(f"Checking {name}")
        rows.extend(guarded(name, service, ctx, fn))
    return rows


def exit_code(rows: list[Check]) -> int:
    return 1 if any(row.status == "fail" for row in rows) else 0


__all__ = [
    "DEFAULT_VPC_QUOTA",
    "EC2_PROXY_NOTE",
    "REQUIRED_EKS_ADDONS",
    "VPC_QUOTA_CODE",
    "Context",
    "PreflightOptions",
    "exit_code",
    "planned_counts",
    "run_preflight",
    "sagemaker_quota_name",
]
