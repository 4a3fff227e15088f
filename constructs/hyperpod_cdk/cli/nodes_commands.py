"""``hyperpod-cdk nodes list | describe | reboot | replace``: the commands over ``cli/nodes.py`` (``main.py``
registers them)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from botocore.exceptions import ClientError

from hyperpod_cdk.cli import aws_errors, output
from hyperpod_cdk.cli.clients import ClientsFactory
from hyperpod_cdk.cli.target import resolve_target


def _cmd_nodes_list(args: argparse.Namespace, factory: ClientsFactory, io: Any) -> int:
    from hyperpod_cdk.cli import nodes

    target = resolve_target(args)
    clients = factory(target.region)
    try:
        with output.spinner(f"Listing nodes of {target.cluster}", enabled=not args.json):
            found = nodes.list_nodes(clients("sagemaker"), target.cluster, args.group)
    except ClientError as exc:
        if not aws_errors.is_not_found(exc):
            raise
        output.error(
            f"HyperPod cluster '{target.cluster}' not found in {clients.region}: {aws_errors.message(exc)}", code=1
        )
        return 1
    if args.json:
        output.print_json(found)
        return 0
    con = output.console()
    con.print(
        output.simple_table(
            [*nodes.NODE_COLUMNS, "Launched"],
            [
                [*nodes.node_row(n), n["launch_time"].strftime("%Y-%m-%d %H:%M") if n["launch_time"] else ""]
                for n in found
            ],
            title=f"Nodes of {target.cluster}",
        )
    )
    con.print(f"{len(found)} node(s)")
    return 0


def _cmd_nodes_describe(args: argparse.Namespace, factory: ClientsFactory, io: Any) -> int:
    from hyperpod_cdk.cli import nodes

    target = resolve_target(args)
    clients = factory(target.region)
    details, errors = nodes.describe_nodes(clients("sagemaker"), target.cluster, args.nodes)
    if args.json:
        output.print_json({"nodes": details, "errors": errors})
        return 1 if errors else 0
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
        return str(value.isoformat())
    return str(value)


def _cmd_nodes_batch(args: argparse.Namespace, factory: ClientsFactory, io: Any) -> int:
    from hyperpod_cdk.cli import nodes

    clients = factory(resolve_target(args).region)
    sagemaker = clients.mutating("sagemaker")  # no automatic resend of a batch call that timed out
    nodes_list = list(dict.fromkeys(args.nodes))  # keep order, drop repeats
    try:
        action, note = nodes.resolve_action(sagemaker, args.action, getattr(args, "allow_delete_fallback", False))
        if note:
            print(f"warning: {note}", file=sys.stderr)
        nodes.confirm(action, args.cluster, nodes_list, assume_yes=args.yes, stdin=io.stdin, stderr=sys.stderr)
    except nodes.NodeCommandError as exc:
        output.error(str(exc), code=exc.code)
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
