"""``hyperpod-cdk ssh NODE | --group G``: a Session Manager shell on a HyperPod node (EKS or Slurm).

HyperPod registers every node with Systems Manager under the target
``sagemaker-cluster:<cluster-id>_<instance-group>-<instance-id>``, where the cluster ID is the last
part of the cluster ARN. The format is the same for both orchestrators; AWS documents it for
Slurm at https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-run-jobs-slurm-access-nodes.html
and the awsome-distributed-training EKS troubleshooting uses it as is. Session Manager opens the
shell as root.

The command looks the node up (ListClusterNodes), builds the target with :func:`ssm_target` and
runs ``aws ssm start-session`` (it needs the AWS CLI and its Session Manager plugin), or prints
the command with ``--print`` / ``--json``.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
from collections.abc import Sequence
from typing import Any

from hyperpod_cdk.cli import output
from hyperpod_cdk.cli.arguments import CommandError, add_cluster
from hyperpod_cdk.cli.nodes import INSTANCE_ID, list_nodes

CLUSTER_ID = re.compile(r"^[a-z0-9]{12}$")
CLUSTER_ARN = re.compile(r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]+:[0-9]{12}:cluster/([a-z0-9]{12})$")
GROUP_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")  # ClusterInstanceGroupName
SSM_PREFIX = "sagemaker-cluster:"


class SshError(CommandError):
    """A node that cannot be reached this way; ``code`` is the exit status."""


def cluster_id(cluster_arn_or_id: str) -> str:
    """The 12-character cluster ID from a cluster ARN (or the ID itself)."""
    match = CLUSTER_ARN.match(cluster_arn_or_id)
    if match:
        return match.group(1)
    if CLUSTER_ID.match(cluster_arn_or_id):
        return cluster_arn_or_id
    raise ValueError(f"{cluster_arn_or_id!r} is neither a HyperPod cluster ARN nor a 12-character cluster ID")


def ssm_target(cluster_arn_or_id: str, instance_group: str, instance_id: str) -> str:
    """``sagemaker-cluster:<cluster-id>_<instance-group>-<instance-id>``, checked part by part."""
    if not GROUP_NAME.match(instance_group):
        raise ValueError(f"{instance_group!r} is not an instance group name")
    if not INSTANCE_ID.match(instance_id):
        raise ValueError(f"{instance_id!r} is not an EC2 instance ID (i-...)")
    return f"{SSM_PREFIX}{cluster_id(cluster_arn_or_id)}_{instance_group}-{instance_id}"


def pick_node(nodes: Sequence[dict[str, Any]], node: str | None, group: str | None) -> dict[str, Any]:
    """The node named (instance ID or logical ID), or the oldest Running node of ``group``."""
    if node:
        found = [n for n in nodes if node in (n.get("instance_id"), n.get("logical_id"))]
        if not found:
            raise SshError(f"{node} is not a node of this cluster (see: hyperpod-cdk nodes list)")
        chosen = found[0]
        if group and chosen.get("instance_group") != group:
            raise SshError(f"{node} is in instance group {chosen.get('instance_group')}, not {group}")
    else:
        members = [n for n in nodes if n.get("instance_group") == group]
        if not members:
            groups = sorted({str(n.get("instance_group")) for n in nodes})
            raise SshError(f"no nodes in instance group {group!r} (groups: {', '.join(groups) or 'none'})")
        running = [n for n in members if n.get("status") == "Running"]
        if not running:
            raise SshError(
                f"no Running node in {group}: "
                + ", ".join(f"{n.get('instance_id') or n.get('logical_id')} {n.get('status')}" for n in members)
            )
        chosen = min(running, key=lambda n: str(n.get("launch_time") or ""))
    if not chosen.get("instance_id"):
        raise SshError(f"{node or group}: the node has no instance yet ({chosen.get('status')}); wait and retry")
    return chosen


def start_session_argv(target: str, region: str, profile: str | None = None) -> list[str]:
    argv = ["aws", "ssm", "start-session", "--target", target, "--region", region]
    if profile:
        argv += ["--profile", profile]
    return argv


COMMAND = "ssh"
HELP = "open a Session Manager shell on a HyperPod node (EKS or Slurm)"
DESCRIPTION = (
    "Builds the SSM target sagemaker-cluster:<cluster-id>_<group>-<instance-id> for NODE (an "
    "instance ID or node logical ID) or for the oldest Running node of --group, then runs "
    "'aws ssm start-session' (needs the AWS CLI and the Session Manager plugin). --print only prints it."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("node", nargs="?", metavar="NODE", help="instance ID (i-...) or node logical ID")
    parser.add_argument("--group", metavar="GROUP", help="instance group (default node: its oldest Running one)")
    add_cluster(parser, option=True)
    parser.add_argument("--print", dest="print_only", action="store_true", help="print the command, run nothing")


def run(args: argparse.Namespace, cluster: str, clients: Any) -> int:
    if not args.node and not args.group:
        output.error("name a NODE or pass --group GROUP", code=2)
        return 2
    sagemaker = clients("sagemaker")
    arn = sagemaker.describe_cluster(ClusterName=cluster)["ClusterArn"]
    try:
        chosen = pick_node(list_nodes(sagemaker, cluster), args.node, args.group)
    except SshError as exc:
        output.error(str(exc), code=exc.code)
        return exc.code
    try:
        target = ssm_target(arn, chosen["instance_group"], chosen["instance_id"])
    except ValueError as exc:
        output.error(f"cannot build the SSM target: {exc}", code=1)
        return 1
    argv = start_session_argv(target, clients.region, getattr(args, "profile", None))
    if args.json:
        output.print_json({"target": target, "node": chosen, "command": argv})
        return 0
    if args.print_only:
        print(shlex.join(argv))
        return 0
    if shutil.which("aws") is None:
        output.error(
            f"the AWS CLI is not on PATH; install it and the Session Manager plugin, or run: " f"{shlex.join(argv)}",
            code=2,
        )
        return 2
    os.execvp("aws", argv)  # replaces this process: the session owns the terminal
    return 0  # only reached when os.execvp is replaced (tests)


__all__ = ["SshError", "add_arguments", "cluster_id", "pick_node", "run", "ssm_target", "start_session_argv"]
