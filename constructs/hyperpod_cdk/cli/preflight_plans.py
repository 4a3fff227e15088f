"""Preflight checks of what the instance groups rely on (``preflight.py``): training plans, the Helm chart
bundle, Spot capacity, autoscaling and the rollback alarms of AMI updates."""

from __future__ import annotations

import base64
import functools
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hyperpod_cdk.cli import aws_errors
from hyperpod_cdk.cli.output import Check
from hyperpod_cdk.cli.preflight_capacity import _list_quotas
from hyperpod_cdk.cli.preflight_context import (
    EC2_PROXY_NOTE,
    Context,
    describe_existing,
    ec2_instance_type,
    sagemaker_quota_name,
)
from hyperpod_cdk.config import InstanceGroup

# --------------------------------------------------------------------------- training plans


def _plan_zone_ids(ctx: Context, summaries: list[dict[str, Any]], warns: list[str]) -> tuple[set[str], list[str]]:
    """The AZ IDs of a plan's reserved capacity (an AZ name is mapped to its ID in this account), and the
    names that could not be mapped; a failed mapping call adds a warning."""
    plan_azs: set[str] = set()
    unmapped: list[str] = []
    for summary in summaries:
        if summary.get("AvailabilityZoneId"):
            plan_azs.add(summary["AvailabilityZoneId"])
            continue
        if not summary.get("AvailabilityZone"):
            continue
        try:
            zone_id = ctx.zone_id_for_name(summary["AvailabilityZone"])
        except aws_errors.SETUP_ERRORS:
            raise
        except (ClientError, BotoCoreError) as exc:
            warns.append("cannot map the plan's AZ name to an AZ ID (" + aws_errors.call_failure("ec2", exc)[0] + ")")
            zone_id = None
        if zone_id:
            plan_azs.add(zone_id)
        else:
            unmapped.append(summary["AvailabilityZone"])
    return plan_azs, unmapped


def _training_plan_check(ctx: Context, index: int, group: InstanceGroup) -> list[Check]:
    name = f"training plan {group.name}"
    arn = group.training_plan_arn or ""
    plan = describe_existing(
        ctx,
        name,
        arn,
        "check training_plan_arn; training plans are regional",
        lambda: ctx.clients("sagemaker").describe_training_plan(TrainingPlanName=arn),
    )
    if isinstance(plan, Check):
        return [plan]
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
        plan_azs, unmapped = _plan_zone_ids(ctx, matching, warns)
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
        location: str | None = ctx.clients("s3").get_bucket_location(Bucket=bucket).get("LocationConstraint")
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
    build = f"build and upload it where there is internet: make chart-bundle CONFIG=<this config> BUNDLE_UPLOAD={uri}"
    try:
        head = ctx.clients("s3").head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except ClientError as exc:
        if aws_errors.code(exc) in ("404", "NoSuchKey", "NotFound", "NoSuchBucket"):
            return [Check("fail", name, f"{uri} does not exist", build)]
        if aws_errors.code(exc) == "403":  # HEAD responses carry no error code, only the status
            return [
                Check(
                    "warn",
                    name,
                    f"{aws_errors.CANNOT_CHECK}access denied reading {uri}",
                    "allow s3:GetObject on it for the caller (HeadObject needs it), then rerun",
                )
            ]
        raise
    rows: list[Check] = []
    size = int(head.get("ContentLength") or 0)
    if ctx.config.network.closed:
        region = _bucket_region(ctx, bucket)
        if region is None:
            rows.append(
                Check(
                    "warn",
                    name,
                    f"cannot read the region of bucket {bucket}",
                    "allow s3:GetBucketLocation, or check that the bucket is in " + ctx.config.region,
                )
            )
        elif region != ctx.config.region:
            return [
                Check(
                    "fail",
                    name,
                    f"{uri} is in {region}; a closed network in {ctx.config.region} reaches S3 only through its "
                    "gateway endpoint, which serves buckets of its own region",
                    f"copy the bundle to a bucket in {ctx.config.region} and point source_s3_uri at it",
                )
            ]
    if not helm.source_sha256:
        rows.append(
            Check(
                "pass",
                name,
                f"{uri} exists ({size} bytes); the installer checks the chart's files and "
                "sub-charts against the pins",
            )
        )
        return rows
    stored = head.get("ChecksumSHA256") or ""
    if not stored or "-" in stored:
        rows.append(
            Check(
                "warn",
                name,
                f"{uri} exists but S3 holds no whole-object SHA-256 to compare with source_sha256 (the installer "
                "compares it at deploy)",
                f"re-upload with: make chart-bundle CONFIG=<this config> BUNDLE_UPLOAD={uri}",
            )
        )
        return rows
    actual = base64.b64decode(stored).hex()
    if actual != helm.source_sha256:
        return [
            Check(
                "fail",
                name,
                f"{uri} has sha256 {actual}, not the configured source_sha256 {helm.source_sha256}",
                "upload the bundle you pinned, or set source_sha256 to the sha256 make chart-bundle printed",
            )
        ]
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
            rows.append(
                Check(
                    "pass",
                    f"spot quota {instance_type}",
                    f"no Spot-specific quota listed; Spot nodes count against '{sagemaker_quota_name(instance_type)}' "
                    "(see the quota rows)",
                )
            )
            continue
        limit = int(spot[0].get("Value", 0))
        detail = f"'{spot[0].get('QuotaName')}' is {limit}; the plan may run {need} Spot nodes"
        if limit < need:
            rows.append(
                Check(
                    "fail",
                    f"spot quota {instance_type}",
                    detail,
                    "request an increase: aws service-quotas request-service-quota-increase --service-code sagemaker "
                    f"--quota-code {spot[0].get('QuotaCode')} --desired-value {need} --region {ctx.region}",
                )
            )
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
            InstanceTypes=types,
            TargetCapacity=max(group.planned_count, 1),
            TargetCapacityUnitType="units",
            SingleAvailabilityZone=True,
            RegionNames=[ctx.region],
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
    described = aws_errors.unless_missing(lambda: ctx.clients("sagemaker").describe_cluster(ClusterName=cluster_name))
    if isinstance(described, aws_errors.Missing):
        return [
            Check(
                "pass",
                name,
                f"new cluster {cluster_name}: the stack creates the cluster role (trusted by "
                "hyperpod.sagemaker.amazonaws.com), enables Karpenter and applies the HyperpodNodeClass for "
                f"{', '.join(g.name for g in scaled)}",
            )
        ]
    auto = described.get("AutoScaling") or {}
    if auto.get("Status") == "Failed":
        return [
            Check(
                "fail",
                name,
                f"{cluster_name}: autoscaling Failed ({auto.get('FailureMessage', 'no message')})",
                f"fix the cause, then redeploy; see {AUTOSCALING_DOC}",
            )
        ]
    current = {g.get("InstanceGroupName"): int(g.get("CurrentCount") or 0) for g in described.get("InstanceGroups", [])}
    if auto.get("Mode") != "Enable":
        busy = [f"{g.name} ({current[g.name]} nodes)" for g in scaled if current.get(g.name)]
        if busy:
            return [
                Check(
                    "warn",
                    name,
                    f"{cluster_name} has nodes in group(s) Karpenter will own: {', '.join(busy)}; Karpenter scales a "
                    "group that starts above 0 down to 0",
                    "drain those groups first, or move their work to a group that is not autoscaled",
                )
            ]
        return [Check("pass", name, f"{cluster_name} exists; the deploy turns Karpenter autoscaling on")]
    return [
        Check(
            "pass",
            name,
            f"{cluster_name}: autoscaling {auto.get('Status', 'status unknown')} "
            f"with role {described.get('ClusterRole')} "
            "(HyperPod refuses a ClusterRole change while autoscaling is on)",
        )
    ]


def check_rollback_alarms(ctx: Context) -> list[Check]:
    """Every alarm a scheduled AMI update rolls back on exists (HyperPod only takes the names)."""
    wanted = {
        alarm: group.name
        for group in ctx.config.hyperpod.instance_groups
        if group.scheduled_update
        for alarm in group.scheduled_update.rollback_alarms
    }
    found: dict[str, str] = {}
    names = sorted(wanted)
    cloudwatch = ctx.clients("cloudwatch")
    for start in range(0, len(names), 100):  # DescribeAlarms takes up to 100 names
        response = cloudwatch.describe_alarms(
            AlarmNames=names[start : start + 100], AlarmTypes=["MetricAlarm", "CompositeAlarm"]
        )
        for alarm in response.get("MetricAlarms", []) + response.get("CompositeAlarms", []):
            found[alarm["AlarmName"]] = alarm.get("StateValue", "?")
    rows: list[Check] = []
    for alarm in names:
        row = f"rollback alarm {alarm}"
        if alarm not in found:
            rows.append(
                Check(
                    "fail",
                    row,
                    f"group {wanted[alarm]} rolls back on '{alarm}', which does not exist in {ctx.region}: the update "
                    "would never roll back",
                    "create it (docs/scaling-and-updates.md suggests a metric), or fix the name in scheduled_update",
                )
            )
        elif found[alarm] == "ALARM":
            rows.append(
                Check(
                    "warn",
                    row,
                    f"'{alarm}' is in ALARM now: the next scheduled update would roll back at once",
                    "resolve the alarm before the update window",
                )
            )
        else:
            rows.append(Check("pass", row, f"'{alarm}' exists ({found[alarm]})"))
    return rows
