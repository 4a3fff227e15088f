"""``hyperpod-cdk nodes update-software [CLUSTER]``: patch a cluster's platform software (AMI).

Calls SageMaker ``UpdateClusterSoftware``
(https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateClusterSoftware.html), the
day-2 patching workflow of the HyperPod guide. What the request may carry, from the API reference and
"Update your AMI version in your SageMaker HyperPod cluster"
(https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-ami-update.html):

* ``InstanceGroups``: the groups to patch; without it every group is patched.
* ``ImageId``: a HyperPod public AMI, your own AMI, or ``default`` (the latest HyperPod AMI); a group
  running a custom AMI needs it. ``ImageReleaseVersion`` (per group) picks a HyperPod AMI release.
* ``DeploymentConfig``: a rolling update (``MaximumBatchSize`` and ``RollbackMaximumBatchSize`` as an
  instance count or a percentage), ``WaitIntervalInSeconds`` (0-3600) between batches, and
  ``AutoRollbackConfiguration`` (CloudWatch alarms watched during the wait; the execution role needs
  ``cloudwatch:DescribeAlarms``). Batches exist only for EKS-orchestrated clusters.

The update can restart every node it touches, so the command shows the plan and asks for confirmation
(``--yes`` skips the question). On EKS clusters it rolls one instance at a time unless told otherwise:
the safe choice when the command cannot know how much disruption the workloads tolerate.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any, TextIO

import botocore
from botocore.exceptions import ClientError

from hyperpod_cdk.cli import aws_errors, output
from hyperpod_cdk.cli.arguments import CommandError, add_cluster, add_yes, int_between, matching
from hyperpod_cdk.cli.clients import Clients
from hyperpod_cdk.config.messages import did_you_mean

GROUP_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
IMAGE_ID = re.compile(r"^(ami-[0-9a-fA-F]{8,17}|default)$")
RELEASE_VERSION = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+$")
MAX_ALARMS = 10
DEFAULT_BATCH_SIZE = 1
ROLLING_OPTIONS = (
    "batch_size",
    "batch_percent",
    "rollback_batch_size",
    "rollback_batch_percent",
    "wait_seconds",
    "rollback_alarm",
)


class UpdateError(CommandError):
    """A refusal before anything was requested; ``code`` is the exit status."""

    default_code = 2


# ----------------------------------------------------------------------------- arguments

_group = matching(GROUP_NAME, "an instance group name (letters, digits, hyphens)")
_image_id = matching(IMAGE_ID, "an AMI ID such as ami-0123456789abcdef0, or default")
_release = matching(RELEASE_VERSION, "a HyperPod AMI release such as 1.2.3")
_COUNT = int_between(1, 10_000, "an instance count ({low} to {high})")
_PERCENT = int_between(1, 100, "a percentage ({low} to {high})")


def _alarm(value: str) -> str:
    if not 1 <= len(value) <= 255 or not value.strip():
        raise argparse.ArgumentTypeError(f"'{value}' is not a CloudWatch alarm name (1 to 255 characters)")
    return value


COMMAND = "update-software"
HELP = "patch the cluster's platform software (UpdateClusterSoftware), in rolling batches"
DESCRIPTION = (
    "Update the HyperPod platform software (AMI) of a cluster's instance groups with "
    "UpdateClusterSoftware. Nodes restart as they are patched: on EKS clusters one instance at a time "
    "unless --batch-size/--batch-percent say otherwise. Asks for confirmation unless --yes."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_cluster(parser)
    parser.add_argument(
        "--group",
        action="append",
        type=_group,
        metavar="G",
        help="instance group to patch; repeat for several (default: every group)",
    )
    parser.add_argument(
        "--image-id",
        type=_image_id,
        metavar="AMI",
        help="AMI to move to: a HyperPod public AMI, your own AMI (needed for groups on a custom AMI), "
        "or 'default' for the latest HyperPod AMI",
    )
    parser.add_argument(
        "--image-release-version",
        type=_release,
        metavar="X.Y.Z",
        help="HyperPod AMI release to move the groups to",
    )
    # Each batch size is an instance count or a percentage of the group, never both.
    for flag, count_help, percent_help in (
        (
            "--batch",
            f"instances patched at a time, EKS clusters only (default {DEFAULT_BATCH_SIZE})",
            "percent of each group patched at a time, EKS clusters only",
        ),
        (
            "--rollback-batch",
            "instances rolled back at a time if an alarm fires",
            "percent of each group rolled back at a time if an alarm fires",
        ),
    ):
        size = parser.add_mutually_exclusive_group()
        size.add_argument(f"{flag}-size", type=_COUNT, metavar="N", help=count_help)
        size.add_argument(f"{flag}-percent", type=_PERCENT, metavar="P", help=percent_help)
    parser.add_argument(
        "--wait-seconds",
        type=int_between(0, 3600, "a wait in seconds ({low} to {high})"),
        metavar="S",
        help="wait between batches, while the rollback alarms are watched (0 to 3600)",
    )
    parser.add_argument(
        "--rollback-alarm",
        action="append",
        type=_alarm,
        metavar="ALARM",
        help=f"CloudWatch alarm that rolls the update back when it fires; repeat for up to {MAX_ALARMS} "
        "(the cluster's execution role needs cloudwatch:DescribeAlarms)",
    )
    add_yes(parser)


# ----------------------------------------------------------------------------- the request


def _capacity(count: int | None, percent: int | None) -> dict[str, Any] | None:
    if count is not None:
        return {"Type": "INSTANCE_COUNT", "Value": count}
    if percent is not None:
        return {"Type": "CAPACITY_PERCENTAGE", "Value": percent}
    return None


def deployment_config(args: argparse.Namespace) -> dict[str, Any]:
    """``DeploymentConfig`` for an EKS cluster: rolling batches (one instance by default), wait, alarms."""
    alarms = list(dict.fromkeys(args.rollback_alarm or []))
    if len(alarms) > MAX_ALARMS:
        raise UpdateError(f"--rollback-alarm: at most {MAX_ALARMS} alarms (got {len(alarms)})")
    policy: dict[str, Any] = {
        "MaximumBatchSize": _capacity(args.batch_size, args.batch_percent)
        or {"Type": "INSTANCE_COUNT", "Value": DEFAULT_BATCH_SIZE}
    }
    rollback = _capacity(args.rollback_batch_size, args.rollback_batch_percent)
    if rollback:
        policy["RollbackMaximumBatchSize"] = rollback
    config: dict[str, Any] = {"RollingUpdatePolicy": policy}
    if args.wait_seconds is not None:
        config["WaitIntervalInSeconds"] = args.wait_seconds
    if alarms:
        config["AutoRollbackConfiguration"] = [{"AlarmName": name} for name in alarms]
    return config


def build_request(args: argparse.Namespace, cluster: str, described: dict[str, Any]) -> dict[str, Any]:
    """The UpdateClusterSoftware parameters, checked against the cluster as DescribeCluster shows it."""
    existing = [g["InstanceGroupName"] for g in described.get("InstanceGroups", [])]
    for group in args.group or []:
        if group not in existing:
            close = did_you_mean(group, existing)
            hint = f"; did you mean '{close}'?" if close else f"; its groups: {', '.join(existing)}"
            raise UpdateError(f"--group: cluster {cluster} has no instance group '{group}'{hint}")
    groups = list(dict.fromkeys(args.group or []))
    eks = "Eks" in (described.get("Orchestrator") or {})
    request: dict[str, Any] = {"ClusterName": cluster}
    if args.image_release_version:
        # A per-group setting: without --group it goes to every group.
        request["InstanceGroups"] = [
            {"InstanceGroupName": name, "ImageReleaseVersion": args.image_release_version}
            for name in (groups or existing)
        ]
    elif groups:
        request["InstanceGroups"] = [{"InstanceGroupName": name} for name in groups]
    if args.image_id:
        request["ImageId"] = args.image_id
    if eks:
        request["DeploymentConfig"] = deployment_config(args)
    else:
        given = [f"--{name.replace('_', '-')}" for name in ROLLING_OPTIONS if getattr(args, name) is not None]
        if given:
            raise UpdateError(
                f"{', '.join(given)}: rolling batches, waits and rollback alarms exist only for EKS-orchestrated "
                "clusters; this Slurm cluster patches each group's instances together"
            )
    return request


def _supports(sagemaker: Any, request: dict[str, Any]) -> None:
    """Refuse when the installed botocore cannot send the request (pyproject allows boto3 >= 1.40)."""
    version = getattr(botocore, "__version__", "?")
    if not hasattr(sagemaker, "update_cluster_software"):
        raise UpdateError(f"botocore {version} has no UpdateClusterSoftware: upgrade it (pip install -U boto3)")
    model = sagemaker.meta.service_model.operation_model("UpdateClusterSoftware").input_shape
    spec = model.members["InstanceGroups"].member.members
    if any("ImageReleaseVersion" in g for g in request.get("InstanceGroups", [])) and "ImageReleaseVersion" not in spec:
        raise UpdateError(f"botocore {version} cannot send --image-release-version: upgrade it (pip install -U boto3)")


def summary(cluster: str, described: dict[str, Any], request: dict[str, Any]) -> str:
    """What will happen, for the confirmation question and the log."""
    names = [g["InstanceGroupName"] for g in request.get("InstanceGroups", [])] or [
        g["InstanceGroupName"] for g in described.get("InstanceGroups", [])
    ]
    by_name = {g["InstanceGroupName"]: g for g in described.get("InstanceGroups", [])}
    lines = [
        f"UpdateClusterSoftware on {cluster} ({described.get('ClusterStatus', '?')}); nodes restart as they are "
        "patched, and running jobs on them are interrupted.",
    ]
    for name in names:
        group = by_name.get(name, {})
        current = group.get("CurrentImageReleaseVersion") or group.get("CurrentImageId") or "current image unknown"
        lines.append(f"  {name}: {group.get('CurrentCount', '?')} x {group.get('InstanceType', '?')} ({current})")
    target = request.get("ImageId") or next(
        (g["ImageReleaseVersion"] for g in request.get("InstanceGroups", []) if "ImageReleaseVersion" in g), None
    )
    lines.append(f"  to: {target or 'the latest HyperPod AMI release for each group'}")
    deploy = request.get("DeploymentConfig")
    if deploy:
        size = deploy["RollingUpdatePolicy"]["MaximumBatchSize"]
        unit = "instance(s)" if size["Type"] == "INSTANCE_COUNT" else "% of each group"
        wait = deploy.get("WaitIntervalInSeconds")
        alarms = [a["AlarmName"] for a in deploy.get("AutoRollbackConfiguration", [])]
        lines.append(
            f"  rolling: {size['Value']} {unit} at a time"
            + (f", {wait} s between batches" if wait is not None else "")
            + (f", rolled back if {', '.join(alarms)} fire(s)" if alarms else "")
        )
    else:
        lines.append("  all instances of each group together (Slurm clusters have no rolling batches)")
    return "\n".join(lines)


def run(args: argparse.Namespace, cluster: str, clients: Clients, *, stdin: TextIO) -> int:
    sagemaker = clients("sagemaker")
    try:
        described = sagemaker.describe_cluster(ClusterName=cluster)
    except ClientError as exc:
        if not aws_errors.is_not_found(exc):
            raise
        output.error(f"HyperPod cluster '{cluster}' not found in {clients.region}: {aws_errors.message(exc)}", code=1)
        return 1
    try:
        request = build_request(args, cluster, described)
        _supports(sagemaker, request)
        plan = summary(cluster, described, request)
        output.confirm(plan, f"update the software of {cluster}", assume_yes=args.yes, stdin=stdin, stderr=sys.stderr)
    except UpdateError as exc:
        output.error(str(exc), code=exc.code)
        return exc.code
    response = sagemaker.update_cluster_software(**request)
    if args.json:
        output.print_json({"cluster_arn": response.get("ClusterArn"), "request": request})
    else:
        con = output.console()
        con.print(plan, markup=False, highlight=False)
        con.print(f"Requested: {response.get('ClusterArn')}", markup=False)
        con.print(
            f"Follow it with: hyperpod-cdk nodes list {cluster}  (or hyperpod-cdk diagnose {cluster})", markup=False
        )
    return 0
