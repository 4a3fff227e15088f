"""Preflight checks of quotas and capacity (``preflight.py``): SageMaker instance quotas against the plan,
the VPC quota, and EC2 instance offerings in the planned Availability Zones."""

from __future__ import annotations

from collections import Counter
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hyperpod_cdk.cli import aws_errors
from hyperpod_cdk.cli.output import Check
from hyperpod_cdk.cli.preflight_context import (
    DEFAULT_VPC_QUOTA,
    EC2_PROXY_NOTE,
    VPC_QUOTA_CODE,
    Context,
    ec2_instance_type,
    sagemaker_quota_name,
)
from hyperpod_cdk.config import PlatformConfig

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
        failure, _ = aws_errors.call_failure("sagemaker", exc, ctx.region)
        return None, f"usage by other clusters unknown ({failure})"
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
        note = aws_errors.call_failure("service-quotas", exc, ctx.region)[0]
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
