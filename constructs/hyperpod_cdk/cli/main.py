"""Entry point of the ``hyperpod-cdk`` console script.

Exit codes: 0 all good; 1 a check failed, a problem was found or an operation failed;
2 bad arguments, bad config, missing credentials/region, or a refused confirmation.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from hyperpod_cdk.cli import aws_errors, output
from hyperpod_cdk.cli.clients import ClientsFactory, default_clients
from hyperpod_cdk.config import EKS_NAME_PATTERN, REGION_PATTERN, load_config
from hyperpod_cdk.errors import HyperPodConfigError

PROG = "hyperpod-cdk"
DEFAULT_CONFIG = "hyperpod.yaml"
# SageMaker's ClusterName accepts a name or a cluster ARN.
CLUSTER_PATTERN = re.compile(
    r"^(arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:cluster/[a-z0-9]{12}|[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62})$"
)
SUBNET_ID_PATTERN = re.compile(r"^subnet-[0-9a-f]{8}([0-9a-f]{9})?$")


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error that names the argument and points at --help."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# ----------------------------------------------------------------------------- argument types


def _region(value: str) -> str:
    if not re.fullmatch(REGION_PATTERN, value):
        raise argparse.ArgumentTypeError(f"'{value}' is not an AWS region name (like us-west-2)")
    return value


def _cluster(value: str) -> str:
    if not CLUSTER_PATTERN.fullmatch(value):
        raise argparse.ArgumentTypeError(
            f"'{value}' is not a HyperPod cluster name (letters, digits, hyphens; max 63) or cluster ARN"
        )
    return value


def _eks_cluster(value: str) -> str:
    if not re.fullmatch(EKS_NAME_PATTERN, value):
        raise argparse.ArgumentTypeError(f"'{value}' is not an EKS cluster name")
    return value


def _subnet_ids(value: str) -> tuple[str, ...]:
    ids = tuple(part.strip() for part in value.split(",") if part.strip())
    bad = [i for i in ids if not SUBNET_ID_PATTERN.fullmatch(i)]
    if not ids or bad:
        shown = ", ".join(f"'{b}'" for b in bad) or "nothing"
        raise argparse.ArgumentTypeError(
            f"{shown} is not a subnet ID list: use comma-separated IDs like subnet-0a1b2c3d,subnet-4e5f6a7b"
        )
    return ids


def _node(value: str) -> str:
    from hyperpod_cdk.cli.nodes import node_id

    return node_id(value)


# ----------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--region", type=_region, help="AWS region (default: the config's, or your AWS profile's)")
    common.add_argument("--json", action="store_true", help="print machine-readable JSON instead of tables")

    parser = _Parser(
        prog=PROG,
        description="Ops CLI for the SageMaker HyperPod on EKS platform defined in hyperpod.yaml.",
        epilog="Exit codes: 0 ok, 1 check failed / problem found, 2 usage, config or credentials error.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    pre = commands.add_parser(
        "preflight",
        parents=[common],
        help="check the AWS account against the config before deploying",
        description="Check quotas, AZs, capacity proxies, training plans and imported resources for the config.",
    )
    pre.add_argument(
        "--config", default=DEFAULT_CONFIG, metavar="FILE", help=f"platform config (default: {DEFAULT_CONFIG})"
    )
    pre.add_argument(
        "--existing-eks-cluster",
        type=_eks_cluster,
        metavar="NAME",
        help="check an EKS cluster HyperPod would attach to instead of a new one",
    )
    pre.add_argument(
        "--existing-subnet-ids",
        type=_subnet_ids,
        metavar="SUBNET[,SUBNET...]",
        help="check these subnets' free IPs instead of planning a new VPC",
    )
    pre.set_defaults(handler=_cmd_preflight)

    diag = commands.add_parser(
        "diagnose",
        parents=[common],
        help="explain a cluster's state and likely causes of failure",
        description="Cluster and node status, lifecycle log streams, EKS auth mode, access entries, add-ons.",
    )
    diag.add_argument("cluster", type=_cluster, metavar="CLUSTER", help="HyperPod cluster name or ARN")
    diag.set_defaults(handler=_cmd_diagnose)

    schema = commands.add_parser("schema", help="print the JSON Schema of hyperpod.yaml (for editors)")
    schema.set_defaults(handler=_cmd_schema)

    nodes = commands.add_parser("nodes", help="list, describe, reboot or replace cluster nodes")
    node_commands = nodes.add_subparsers(dest="nodes_command", required=True, metavar="ACTION")
    listing = node_commands.add_parser("list", parents=[common], help="list the cluster's nodes")
    listing.add_argument("cluster", type=_cluster, metavar="CLUSTER")
    listing.add_argument("--group", metavar="NAME", help="only groups whose name contains NAME")
    listing.set_defaults(handler=_cmd_nodes_list)
    describe = node_commands.add_parser("describe", parents=[common], help="describe nodes")
    describe.add_argument("cluster", type=_cluster, metavar="CLUSTER")
    describe.add_argument("nodes", type=_node, nargs="+", metavar="NODE", help="instance ID or node logical ID")
    describe.set_defaults(handler=_cmd_nodes_describe)
    for action, text in (
        ("reboot", "reboot nodes (soft recovery)"),
        ("replace", "replace nodes with new hardware (volumes are lost)"),
    ):
        sub = node_commands.add_parser(action, parents=[common], help=text)
        sub.add_argument("cluster", type=_cluster, metavar="CLUSTER")
        sub.add_argument("nodes", type=_node, nargs="+", metavar="NODE", help="instance ID or node logical ID")
        sub.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
        if action == "replace":
            sub.add_argument(
                "--allow-delete-fallback",
                action="store_true",
                help="if botocore lacks BatchReplaceClusterNodes, delete the nodes instead",
            )
        sub.set_defaults(handler=_cmd_nodes_batch, action=action)
    return parser


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("hyperpod-cdk")
    except Exception:  # noqa: BLE001 - not installed: running from a checkout
        return "unknown"


# ----------------------------------------------------------------------------- commands


def config_error_line(path: str, exc: HyperPodConfigError) -> str:
    if exc.field in (path, str(Path(path))):
        return f"{path}: {exc.message}"
    return f"{path}: {exc.field}: {exc.message}"


def _cmd_preflight(args: argparse.Namespace, factory: ClientsFactory, io: _IO) -> int:
    from hyperpod_cdk.cli import preflight

    try:
        config = load_config(args.config)
    except HyperPodConfigError as exc:
        output.error(config_error_line(args.config, exc))
        return 2
    region = args.region or config.region
    clients = factory(region)
    options = preflight.PreflightOptions(
        existing_eks_cluster=args.existing_eks_cluster,
        existing_subnet_ids=tuple(args.existing_subnet_ids or ()),
    )
    with output.spinner(f"Preflight for {config.name} in {region}", enabled=not args.json) as status:
        rows = preflight.run_preflight(config, clients, options, progress=status)
    if args.json:
        output.print_json([row.to_dict() for row in rows])
    else:
        con = output.console()
        con.print(output.checks_table(rows, title=f"Preflight: {config.name} ({args.config}) in {region}"))
        counts = {s: sum(1 for r in rows if r.status == s) for s in ("pass", "warn", "fail")}
        con.print(f"{counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail")
        if any(r.check.startswith("offering ") for r in rows):
            con.print(f"Note: {preflight.EC2_PROXY_NOTE}.")
    return preflight.exit_code(rows)


def _cmd_schema(args: argparse.Namespace, factory: ClientsFactory, io: _IO) -> int:
    from hyperpod_cdk.config import json_schema

    output.print_json(json_schema())
    return 0


def _cmd_diagnose(args: argparse.Namespace, factory: ClientsFactory, io: _IO) -> int:
    from hyperpod_cdk.cli import diagnose

    clients = factory(args.region)
    region = clients.region
    try:
        with output.spinner(f"Diagnosing {args.cluster}", enabled=not args.json) as status:
            report = diagnose.collect(clients, args.cluster, progress=status)
    except diagnose.ClusterNotFound:
        output.error(
            f"HyperPod cluster '{args.cluster}' not found in {region}: check the name "
            "(aws sagemaker list-clusters) and --region"
        )
        return 1
    if args.json:
        output.print_json(report)
    else:
        diagnose.render(output.console(), report)
    return diagnose.exit_code(report)


def _cmd_nodes_list(args: argparse.Namespace, factory: ClientsFactory, io: _IO) -> int:
    from hyperpod_cdk.cli import nodes

    clients = factory(args.region)
    try:
        with output.spinner(f"Listing nodes of {args.cluster}", enabled=not args.json):
            found = nodes.list_nodes(clients("sagemaker"), args.cluster, args.group)
    except ClientError as exc:
        if not aws_errors.is_not_found(exc):
            raise
        output.error(f"HyperPod cluster '{args.cluster}' not found in {clients.region}: {aws_errors.message(exc)}")
        return 1
    if args.json:
        output.print_json(found)
        return 0
    con = output.console()
    con.print(
        output.simple_table(
            ["Group", "Node", "Logical ID", "Type", "Status", "Message", "Launched"],
            [
                [
                    n["instance_group"],
                    n["instance_id"],
                    n["logical_id"],
                    n["instance_type"],
                    n["status"],
                    n["message"],
                    n["launch_time"].strftime("%Y-%m-%d %H:%M") if n["launch_time"] else "",
                ]
                for n in found
            ],
            title=f"Nodes of {args.cluster}",
        )
    )
    con.print(f"{len(found)} node(s)")
    return 0


def _cmd_nodes_describe(args: argparse.Namespace, factory: ClientsFactory, io: _IO) -> int:
    from hyperpod_cdk.cli import nodes

    clients = factory(args.region)
    details, errors = nodes.describe_nodes(clients("sagemaker"), args.cluster, args.nodes)
    if args.json:
        output.print_json({"nodes": details, "errors": errors})
    else:
        con = output.console()
        for detail in details:
            rows = [[key, _short(value)] for key, value in detail.items()]
            con.print(
                output.simple_table(
                    ["Field", "Value"], rows, title=f"Node {detail.get('InstanceId') or detail.get('NodeLogicalId')}"
                )
            )
    for line in errors:
        output.error(line)
    return 1 if errors else 0


def _short(value: Any) -> str:
    if isinstance(value, dict | list):
        return output.to_json(value).replace("\n", " ").replace("  ", "")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _cmd_nodes_batch(args: argparse.Namespace, factory: ClientsFactory, io: _IO) -> int:
    from hyperpod_cdk.cli import nodes

    clients = factory(args.region)
    sagemaker = clients.mutating("sagemaker")  # no automatic resend of a batch call that timed out
    nodes_list = list(dict.fromkeys(args.nodes))  # keep order, drop repeats
    try:
        action, note = nodes.resolve_action(sagemaker, args.action, getattr(args, "allow_delete_fallback", False))
        if note:
            print(f"warning: {note}", file=sys.stderr)
        nodes.confirm(action, args.cluster, nodes_list, assume_yes=args.yes, stdin=io.stdin, stderr=sys.stderr)
    except nodes.NodeCommandError as exc:
        output.error(str(exc))
        return exc.code
    with output.spinner(f"Requesting {action} of {len(nodes_list)} node(s)", enabled=not args.json):
        results = nodes.run_batch(sagemaker, action, args.cluster, nodes_list)
    if args.json:
        output.print_json({"action": action, "cluster": args.cluster, "results": [r.to_dict() for r in results]})
    else:
        con = output.console()
        con.print(
            output.simple_table(
                ["Node", "Result", "Error", "Message"],
                [
                    [
                        r.node,
                        "requested" if r.ok else ("FAILED" if r.ok is False else "unknown"),
                        r.error_code,
                        r.message,
                    ]
                    for r in results
                ],
                title=f"{action.capitalize()} on {args.cluster}",
            )
        )
        con.print(nodes.summary(results, args.cluster))
    return 0 if nodes.all_requested(results) else 1


# ----------------------------------------------------------------------------- entry point


class _IO:
    def __init__(self, stdin: TextIO | None) -> None:
        self.stdin = stdin if stdin is not None else sys.stdin


def main(
    argv: Sequence[str] | None = None,
    *,
    clients_factory: ClientsFactory | None = None,
    stdin: TextIO | None = None,
) -> int:
    """Run ``hyperpod-cdk``; returns the exit status (argparse errors included, no SystemExit)."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    factory = clients_factory or default_clients
    try:
        return int(args.handler(args, factory, _IO(stdin)))
    except aws_errors.SETUP_ERRORS as exc:
        output.error(aws_errors.setup_error_line(exc))
        return 2
    except HyperPodConfigError as exc:
        output.error(f"{exc.field}: {exc.message}")
        return 2
    except ClientError as exc:
        line = f"{exc.operation_name} failed: {aws_errors.code(exc)}: {aws_errors.message(exc)}"
        if aws_errors.is_access_denied(exc):
            line += f" (allow the {exc.operation_name} action for the caller)"
        output.error(line)
        return 1
    except BotoCoreError as exc:
        output.error(f"{exc} (check network access to AWS and the region)")
        return 1
    except KeyboardInterrupt:
        output.error("interrupted")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
