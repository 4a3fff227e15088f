"""Entry point of the ``hyperpod-cdk`` console script.

Exit codes: 0 all good; 1 a check failed, a problem was found or an operation failed;
2 bad arguments, bad config, missing credentials/region, or a refused confirmation.

Region: ``--region``; else, when the command works on the config's cluster (or ``--config`` is
given), the config's ``region``; else ``AWS_REGION``, ``AWS_DEFAULT_REGION`` or the profile's. The
profile: ``--profile``, else ``AWS_PROFILE``. With ``--json`` every outcome, errors included, is JSON
on stdout.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from hyperpod_cdk.cli import aws_errors, output
from hyperpod_cdk.cli.arguments import CLUSTER_HELP as CLUSTER_HELP  # re-exported: the public import path
from hyperpod_cdk.cli.arguments import CLUSTER_PATTERN as CLUSTER_PATTERN
from hyperpod_cdk.cli.arguments import (
    add_cluster,
    add_command,
    add_group,
    add_switches,
    add_yes,
    cluster_name,
    matching,
    register,
)
from hyperpod_cdk.cli.clients import ClientsFactory, default_clients
from hyperpod_cdk.cli.nodes_commands import (  # noqa: F401 - re-exported: the public import path
    _cmd_nodes_batch,
    _cmd_nodes_describe,
    _cmd_nodes_list,
)
from hyperpod_cdk.cli.target import (  # noqa: F401 - re-exported: the public import path
    CLUSTER_ARN_REGION,
    DEFAULT_CONFIG,
    ConfigFileError,
    Target,
    UsageError,
    config_error_line,
    resolve_target,
)
from hyperpod_cdk.config import EKS_NAME_PATTERN, REGION_PATTERN, load_config
from hyperpod_cdk.errors import HyperPodConfigError

PROG = "hyperpod-cdk"
SUBNET_ID_PATTERN = re.compile(r"^subnet-[0-9a-f]{8}([0-9a-f]{9})?$")
# AWS CLI profile names: anything printable without spaces or brackets.
PROFILE_PATTERN = re.compile(r"^[A-Za-z0-9_.@+=,/-]{1,128}$")
STACK_NAME_PATTERN = re.compile(r"^[A-Za-z][-A-Za-z0-9]{0,127}$")


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error that names the argument and points at --help."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


# ----------------------------------------------------------------------------- argument types


_region = matching(REGION_PATTERN, "an AWS region name (like us-west-2)")
_cluster = cluster_name
_eks_cluster = matching(EKS_NAME_PATTERN, "an EKS cluster name")
_profile = matching(PROFILE_PATTERN, "an AWS profile name (see ~/.aws/config)")
# https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html (StackName)
_stack_name = matching(STACK_NAME_PATTERN, "a CloudFormation stack name (a letter, then letters, digits and -)")


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
    common.add_argument(
        "--region", type=_region, help="AWS region (default: the config's, else AWS_REGION or your AWS profile's)"
    )
    common.add_argument("--profile", type=_profile, help="AWS profile from ~/.aws/config (default: AWS_PROFILE)")
    common.add_argument("--json", action="store_true", help="print machine-readable JSON (errors included)")
    # Commands that work on a deployed cluster: the config supplies the cluster and region by default.
    on_cluster = _Parser(add_help=False, parents=[common])
    on_cluster.add_argument(
        "--config",
        metavar="FILE",
        help=f"platform config whose cluster and region are the defaults (default: ./{DEFAULT_CONFIG} if it exists)",
    )

    parser = _Parser(
        prog=PROG,
        description="Ops CLI for the SageMaker HyperPod on EKS platform defined in hyperpod.yaml.",
        epilog="Exit codes: 0 ok, 1 check failed / problem found, 2 usage, config or credentials error.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    pre = add_command(
        commands,
        "preflight",
        [common],
        _cmd_preflight,
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
        "--stack-name",
        type=_stack_name,
        metavar="NAME",
        help="the CloudFormation stack that deploys this platform, when your own CDK app names it "
        "(default: <name>-platform); what it holds passes on an update",
    )
    pre.add_argument(
        "--existing-subnet-ids",
        type=_subnet_ids,
        metavar="SUBNET[,SUBNET...]",
        help="check these subnets' free IPs instead of planning a new VPC",
    )

    diag = add_command(
        commands,
        "diagnose",
        [on_cluster],
        _cmd_diagnose,
        help="explain a cluster's state and likely causes of failure",
        description="Cluster and node status, lifecycle log streams, EKS auth mode, access entries, add-ons.",
    )
    add_cluster(diag)

    from hyperpod_cdk.cli import cost

    register(commands, cost, [on_cluster], _cmd_cost)
    schema = commands.add_parser("schema", help="print the JSON Schema of hyperpod.yaml (for editors)")
    schema.set_defaults(handler=_cmd_schema)

    node_commands = add_group(
        commands,
        "nodes",
        "list, describe, reboot, replace or delete cluster nodes; update their software",
        "nodes_command",
    )
    listing = add_command(node_commands, "list", [on_cluster], _cmd_nodes_list, help="list the cluster's nodes")
    add_cluster(listing)
    listing.add_argument("--group", metavar="NAME", help="only groups whose name contains NAME")
    # Commands with NODE arguments name the cluster explicitly: an optional first positional
    # could not be told apart from a node logical ID.
    fallback = ("--allow-delete-fallback", "if botocore lacks BatchReplaceClusterNodes, delete the nodes instead")
    for action, text, handler, switches in (
        ("describe", "describe nodes", _cmd_nodes_describe, None),
        ("reboot", "reboot nodes (soft recovery)", _cmd_nodes_batch, ()),
        ("replace", "replace nodes with new hardware (volumes are lost)", _cmd_nodes_batch, (fallback,)),
        ("delete", "delete nodes for good (BatchDeleteClusterNodes; volumes are lost)", _cmd_nodes_batch, ()),
    ):
        sub = add_command(node_commands, action, [on_cluster], handler, help=text)
        sub.add_argument("cluster", type=_cluster, metavar="CLUSTER")
        sub.add_argument("nodes", type=_node, nargs="+", metavar="NODE", help="instance ID or node logical ID")
        if switches is not None:  # the batch actions change nodes: they ask first
            add_yes(sub)
            add_switches(sub, switches)
            sub.set_defaults(action=action)

    from hyperpod_cdk.cli import access, clusters, drill, images, jobs, ssh, update_software, verify

    register(
        add_group(commands, "clusters", clusters.GROUP_HELP, "clusters_command"),
        clusters,
        [on_cluster],
        _cmd_clusters_list,
    )
    register(commands, ssh, [on_cluster], _cmd_ssh)
    register(commands, verify, [on_cluster], _cmd_verify)
    register(add_group(commands, "jobs", jobs.GROUP_HELP, "jobs_command"), jobs, [on_cluster], _cmd_jobs_status)
    access.add_parsers(commands, [on_cluster], kubeconfig_handler=_cmd_kubeconfig, access_handler=_cmd_access)
    register(node_commands, update_software, [on_cluster], _cmd_update_software)
    drills = add_group(commands, "drill", "resiliency drills on a running cluster", "drill_command", "DRILL")
    register(drills, drill, [on_cluster], _cmd_drill_node_fault)
    register(commands, images, [common], images.command)

    neuron = add_group(
        commands, "neuron", "offline checks for AWS Trainium / Inferentia (Neuron)", "neuron_command", "CHECK"
    )
    check = add_command(
        neuron,
        "check",
        [],
        _cmd_neuron_check,
        help="is a model architecture supported on Neuron (exit 0 yes, 1 no, 2 unknown)",
        description="The HyperPod guide's Workflow 4, offline: looks MODEL up in a sourced table of Neuron "
        "architectures (training with tensor/pipeline parallelism, inference tasks, minimum transformers). "
        "Exit 0 supported, 1 not supported, 2 unknown.",
    )
    check.add_argument(
        "model",
        metavar="MODEL_OR_ARCHITECTURE",
        help="a family (Qwen3, 'Llama 3'), a model_type (qwen3_moe), a Hugging Face id of a known family "
        "(Qwen/Qwen3-4B-Instruct-2507), or a local config.json (or its folder)",
    )
    check.add_argument("--task", choices=("training", "inference"), default="training", help="default: training")
    check.add_argument("--json", action="store_true", help="print machine-readable JSON")
    from hyperpod_cdk.cli import lint  # noqa: I001 - one registration line per command module

    lint.add_parser(commands, [common])
    return parser


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("hyperpod-cdk")
    except Exception:  # noqa: BLE001 - not installed: running from a checkout
        return "unknown"


# ----------------------------------------------------------------------------- commands


def _cmd_preflight(args: argparse.Namespace, factory: ClientsFactory, io: _IO) -> int:
    from hyperpod_cdk.cli import preflight

    try:
        config = load_config(args.config)
    except HyperPodConfigError as exc:
        output.error(config_error_line(args.config, exc), code=2)
        return 2
    region = args.region or config.region
    clients = factory(region)
    options = preflight.PreflightOptions(
        existing_eks_cluster=args.existing_eks_cluster,
        existing_subnet_ids=tuple(args.existing_subnet_ids or ()),
        stack_name=args.stack_name,
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
        from hyperpod_cdk.cli import cost

        con.print(cost.summary_line(cost.offline_report(config, region)), markup=False)
    return preflight.exit_code(rows)


def _cmd_cost(args: argparse.Namespace, factory: ClientsFactory, io: _IO) -> int:
    from hyperpod_cdk.cli import cost

    path = args.config or DEFAULT_CONFIG
    try:
        config = load_config(path)
    except HyperPodConfigError as exc:
        output.error(config_error_line(path, exc), code=2)
        return 2
    region = args.region or config.region
    return cost.run(args, config, None if args.offline else factory(region), region)


def _cmd_schema(args: argparse.Namespace, factory: ClientsFactory, io: _IO) -> int:
    from hyperpod_cdk.config import json_schema

    output.print_json(json_schema())
    return 0


def _cmd_diagnose(args: argparse.Namespace, factory: ClientsFactory, io: _IO) -> int:
    from hyperpod_cdk.cli import diagnose

    target = resolve_target(args)
    clients = factory(target.region)
    region = clients.region
    try:
        with output.spinner(f"Diagnosing {target.cluster}", enabled=not args.json) as status:
            report = diagnose.collect(clients, target.cluster, progress=status)
    except diagnose.ClusterNotFoundError:
        output.error(
            f"HyperPod cluster '{target.cluster}' not found in {region}: check the name "
            "(aws sagemaker list-clusters) and --region",
            code=1,
        )
        return 1
    output.show(report, args.json, diagnose.render)
    return diagnose.exit_code(report)


# ----------------------------------------------------------------------------- new workflows


def _cmd_clusters_list(args: argparse.Namespace, factory: ClientsFactory, io: _IO) -> int:
    from hyperpod_cdk.cli import clusters

    region = args.region
    if region is None and (args.config is not None or Path(DEFAULT_CONFIG).is_file()):
        path = args.config or DEFAULT_CONFIG
        try:
            region = load_config(path).region
        except HyperPodConfigError as exc:
            raise ConfigFileError(path, exc) from None
    return clusters.run(args, factory(region or os.environ.get("AWS_REGION") or None))


def _delegate(module: str, function: str = "run", *, last: str = "") -> Callable[..., int]:
    """A command that resolves the target cluster and calls ``hyperpod_cdk.cli.<module>.<function>``
    (imported when the command runs, so ``--help`` stays fast) with the args, the cluster and its
    clients; ``last="config"`` adds the loaded config, ``last="stdin"`` the input stream."""

    def handler(args: argparse.Namespace, factory: ClientsFactory, io: _IO) -> int:
        run = getattr(importlib.import_module(f"hyperpod_cdk.cli.{module}"), function)
        target = resolve_target(args)
        clients = factory(target.region)
        if last == "config":
            return int(run(args, target.cluster, clients, target.config))
        if last == "stdin":
            return int(run(args, target.cluster, clients, stdin=io.stdin))
        return int(run(args, target.cluster, clients))

    return handler


_cmd_ssh = _delegate("ssh")
_cmd_update_software = _delegate("update_software", last="stdin")
_cmd_drill_node_fault = _delegate("drill", last="stdin")
_cmd_kubeconfig = _delegate("access", "run_kubeconfig", last="config")
_cmd_access = _delegate("access", "run_access", last="config")
_cmd_verify = _delegate("verify", last="config")
_cmd_jobs_status = _delegate("jobs", last="config")


def _cmd_neuron_check(args: argparse.Namespace, factory: ClientsFactory, io: _IO) -> int:
    from hyperpod_cdk.cli import neuron

    try:
        result = neuron.report(neuron.resolve(args.model), args.task)
    except neuron.NeuronCheckError as exc:
        output.error(str(exc), code=2)
        return 2
    output.show(result, args.json, neuron.render)
    return neuron.exit_code(result)


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
    arguments = list(argv) if argv is not None else sys.argv[1:]
    output.set_json_errors("--json" in arguments)
    try:
        return _run(arguments, clients_factory, stdin)
    finally:
        output.set_json_errors(False)


def _run(arguments: list[str], clients_factory: ClientsFactory | None, stdin: TextIO | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(arguments)
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except UsageError as exc:
        output.error(str(exc), code=2)
        return 2
    factory = clients_factory or functools.partial(default_clients, profile=getattr(args, "profile", None))
    try:
        return int(args.handler(args, factory, _IO(stdin)))
    except UsageError as exc:
        output.error(f"{PROG}: {exc}", code=2)
        return 2
    except ConfigFileError as exc:
        output.error(str(exc), code=2)
        return 2
    except output.RefusedError as exc:
        output.error(str(exc), code=exc.code)
        return exc.code
    except aws_errors.SETUP_ERRORS as exc:
        output.error(aws_errors.setup_error_line(exc), code=2)
        return 2
    except HyperPodConfigError as exc:
        output.error(f"{exc.field}: {exc.message}", code=2)
        return 2
    except ClientError as exc:
        line = f"{exc.operation_name} failed: {aws_errors.code(exc)}: {aws_errors.message(exc)}"
        if aws_errors.is_access_denied(exc):
            line += f" (allow the {exc.operation_name} action for the caller)"
        output.error(line, code=1)
        return 1
    except BotoCoreError as exc:
        output.error(f"{exc} (check network access to AWS and the region)", code=1)
        return 1
    except KeyboardInterrupt:
        output.error("interrupted", code=130)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
