"""``hyperpod-cdk preflight``: check an AWS account against the plan in ``hyperpod.yaml``.

Every check returns :class:`~hyperpod_cdk.cli.output.Check` rows. A check that AWS will not
answer (access denied, API or service absent in the region, throttling) becomes a ``warn`` row
saying so; only credential/region set-up errors escape, and the CLI turns those into one line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError

from hyperpod_cdk.cli import (
    aws_errors,
    preflight_access_entries,
    preflight_existing,
    preflight_helm_release,
    preflight_leftovers,
    preflight_namespaces,
    preflight_stack_status,
)
from hyperpod_cdk.cli.clients import Clients
from hyperpod_cdk.cli.output import Check
from hyperpod_cdk.cli.preflight_capacity import (  # noqa: F401 - re-exported: the public import path
    check_instance_offerings,
    check_sagemaker_quotas,
    check_vpc_quota,
    count_vpcs,
    hyperpod_usage,
    planned_counts,
)
from hyperpod_cdk.cli.preflight_context import (  # noqa: F401 - re-exported: the public import path
    DEFAULT_VPC_QUOTA,
    EC2_PROXY_NOTE,
    REJECTED_CREDENTIALS,
    REQUIRED_EKS_ADDONS,
    UNREACHABLE,
    VPC_QUOTA_CODE,
    Context,
    PreflightOptions,
    ec2_instance_type,
    guarded,
    sagemaker_quota_name,
)
from hyperpod_cdk.cli.preflight_network import (  # noqa: F401 - re-exported: the public import path
    check_eks_addons,
    check_eks_cluster,
    check_existing_subnets,
    check_subnet_plan,
)
from hyperpod_cdk.cli.preflight_plans import (  # noqa: F401 - re-exported: the public import path
    AUTOSCALING_DOC,
    SPOT_SCORE_WARN_BELOW,
    check_autoscaling,
    check_chart_bundle,
    check_rollback_alarms,
    check_spot,
    check_training_plans,
)
from hyperpod_cdk.config import PlatformConfig
from hyperpod_cdk.specs import table_ages

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
    same = ctx.region == ctx.config.region
    rows = [
        Check.verdict(
            same,
            "region",
            f"checking {ctx.region}, "
            + ("the region the config deploys to" if same else f"but the config deploys to {ctx.config.region}"),
            "drop --region, or change 'region' in the config",
            bad="warn",
        )
    ]
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
    rows.append(
        Check.verdict(
            not degraded,
            "availability zones",
            f"{'; '.join(degraded)} ({mapping})" if degraded else f"{ctx.region}: {mapping}",
            "check the AWS Health Dashboard, or plan in another AZ ID",
            bad="warn",
        )
    )
    return rows


# --------------------------------------------------------------------------- runner


def plan_checks(ctx: Context) -> list[tuple[str, str, Callable[[], list[Check]]]]:
    """(row name, service, check) in the order they run, after caller identity."""
    steps: list[tuple[str, str, Callable[[], list[Check]]]] = [
        ("stack status", "cloudformation", lambda: preflight_stack_status.check_stack_status(ctx)),
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
            steps.append(("hyperpod cidr", "ec2", lambda: preflight_leftovers.check_hyperpod_cidr_free(ctx)))
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
        if ctx.config.orchestrator == "eks" and helm.enabled:
            steps.append(("helm release", "eks", lambda: preflight_helm_release.check_existing_helm_release(ctx)))
        if ctx.config.orchestrator == "eks":
            steps.append(("team namespaces", "eks", lambda: preflight_namespaces.check_team_namespaces(ctx)))
    if ctx.config.orchestrator == "eks":
        steps.append(("eks access entries", "eks", lambda: preflight_access_entries.check_access_entries(ctx)))
    steps.append(("table ages", "none", lambda: check_table_ages()))
    return steps


def check_table_ages() -> list[Check]:
    """A warn row per dated table older than table_ages.MAX_TABLE_AGE_DAYS, naming its refresh."""
    old = table_ages.stale()
    if not old:
        return [
            Check("pass", "table ages", f"every dated table was checked within {table_ages.MAX_TABLE_AGE_DAYS} " "days")
        ]
    return [
        Check(
            "warn",
            f"table age: {table.name.split(' (')[0]}",
            f"{table.name} was last checked {table.checked.isoformat()}, {age} days ago "
            f"(more than {table_ages.MAX_TABLE_AGE_DAYS})",
            f"refresh it: {table.refresh}",
        )
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
