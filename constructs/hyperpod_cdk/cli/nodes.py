"""``hyperpod-cdk nodes list|describe|reboot|replace``: HyperPod node operations.

Reboot and replace go through SageMaker's BatchRebootClusterNodes / BatchReplaceClusterNodes
(both in botocore's sagemaker model since the 1.40 line; checked at run time because pyproject
allows older boto3). Node arguments may be EC2 instance IDs (``i-...``) or, on clusters in
Continuous provisioning mode, node logical IDs; each call takes at most 25 of either kind.
"""

from __future__ import annotations

import argparse
import random
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TextIO

import botocore
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError

from hyperpod_cdk.cli import aws_errors

INSTANCE_ID = re.compile(r"^i-[a-f0-9]{8}(?:[a-f0-9]{9})?$")
# How `nodes list` and `diagnose` show a node of list_nodes(): column titles and the fields under them.
NODE_COLUMNS = ("Group", "Node", "Logical ID", "Type", "Status", "Message")
NODE_FIELDS = ("instance_group", "instance_id", "logical_id", "instance_type", "status", "message")
LOGICAL_ID = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-]{0,126}[a-zA-Z0-9]$")
BATCH_LIMIT = 25

ACTIONS = {
    "reboot": ("batch_reboot_cluster_nodes", "BatchRebootClusterNodes"),
    "replace": ("batch_replace_cluster_nodes", "BatchReplaceClusterNodes"),
    "delete": ("batch_delete_cluster_nodes", "BatchDeleteClusterNodes"),
}
WARNINGS = {
    "reboot": "Workloads on these nodes are interrupted while they restart.",
    "replace": "The instances are terminated and rebuilt on new hardware: ALL data on their root and "
    "secondary volumes is lost.",
    "delete": "The nodes are deleted, not replaced, and all data on their volumes is lost.",
}


class NodeCommandError(Exception):
    """A refusal or unsupported operation; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def node_id(value: str) -> str:
    """argparse type for NODE arguments."""
    if INSTANCE_ID.match(value) or (LOGICAL_ID.match(value) and not value.startswith("i-")):
        return value
    raise argparse.ArgumentTypeError(
        f"'{value}' is not a node ID: use an instance ID like i-0123456789abcdef0 "
        "(from 'hyperpod-cdk nodes list') or a node logical ID"
    )


def is_instance_id(value: str) -> bool:
    return bool(INSTANCE_ID.match(value))


def node_row(node: dict[str, Any]) -> list[Any]:
    """A node of :func:`list_nodes` as table cells, in :data:`NODE_COLUMNS` order."""
    return [node[field] for field in NODE_FIELDS]


def list_nodes_kwargs(client: Any, cluster: str, group: str | None = None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"ClusterName": cluster}
    if group:
        kwargs["InstanceGroupNameContains"] = group
    members = client.meta.service_model.operation_model("ListClusterNodes").input_shape.members
    if "IncludeNodeLogicalIds" in members:
        kwargs["IncludeNodeLogicalIds"] = True  # also show nodes still being provisioned
    return kwargs


def list_nodes(sagemaker: Any, cluster: str, group: str | None = None) -> list[dict[str, Any]]:
    """Every node of the cluster (ListClusterNodes, all pages), flattened for tables and JSON."""
    nodes = []
    paginator = sagemaker.get_paginator("list_cluster_nodes")
    for page in paginator.paginate(**list_nodes_kwargs(sagemaker, cluster, group)):
        for node in page.get("ClusterNodeSummaries", []):
            status = node.get("InstanceStatus") or {}
            nodes.append(
                {
                    "instance_group": node.get("InstanceGroupName"),
                    "instance_id": node.get("InstanceId"),
                    "logical_id": node.get("NodeLogicalId"),
                    "instance_type": node.get("InstanceType"),
                    "status": status.get("Status"),
                    "message": status.get("Message") or "",
                    "launch_time": node.get("LaunchTime"),
                }
            )
    return nodes


def describe_nodes(sagemaker: Any, cluster: str, nodes: Sequence[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """(NodeDetails per node found, one error line per node not described)."""
    details: list[dict[str, Any]] = []
    errors: list[str] = []
    for node in nodes:
        key = "NodeId" if is_instance_id(node) else "NodeLogicalId"
        try:
            details.append(sagemaker.describe_cluster_node(ClusterName=cluster, **{key: node})["NodeDetails"])
        except aws_errors.SETUP_ERRORS:
            raise
        except ClientError as exc:
            if aws_errors.is_not_found(exc):
                errors.append(f"{node}: not found in cluster {cluster}")
            else:
                errors.append(f"{node}: {aws_errors.code(exc)}: {aws_errors.message(exc)}")
    return details, errors


@dataclass(frozen=True)
class NodeResult:
    node: str
    ok: bool | None  # None: the response named the node in neither list
    error_code: str = ""
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _chunks(items: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), BATCH_LIMIT):
        yield list(items[start : start + BATCH_LIMIT])


def resolve_action(sagemaker: Any, action: str, allow_delete_fallback: bool = False) -> tuple[str, str | None]:
    """(action to run, note to print) — checks the installed botocore has the API."""
    method, api = ACTIONS[action]
    if hasattr(sagemaker, method):
        return action, None
    version = getattr(botocore, "__version__", "?")
    if action == "replace" and allow_delete_fallback:
        if not hasattr(sagemaker, ACTIONS["delete"][0]):
            raise NodeCommandError(f"botocore {version} has neither {api} nor BatchDeleteClusterNodes; upgrade boto3")
        return "delete", (
            f"botocore {version} has no {api}; falling back to BatchDeleteClusterNodes as asked: the nodes are "
            "DELETED, not replaced (raise the group's instance count again to get new ones)"
        )
    hint = " or pass --allow-delete-fallback to delete the nodes instead" if action == "replace" else ""
    raise NodeCommandError(f"botocore {version} has no {api}: upgrade it (pip install -U boto3 botocore){hint}")


def confirm(
    action: str, cluster: str, nodes: Sequence[str], *, assume_yes: bool, stdin: TextIO, stderr: TextIO
) -> None:
    """Ask on the terminal; raise NodeCommandError when not confirmed."""
    if assume_yes:
        return
    count = len(nodes)
    if not stdin.isatty():
        raise NodeCommandError(
            f"refusing to {action} {count} node(s) of {cluster} without confirmation: stdin is not a terminal; "
            "pass --yes to confirm",
            code=2,
        )
    listed = ", ".join(nodes[:10]) + (f" (+{count - 10} more)" if count > 10 else "")
    print(f"{WARNINGS[action]}\n{action.capitalize()} {count} node(s) of cluster {cluster}: {listed}?", file=stderr)
    print("Type 'yes' to continue: ", end="", file=stderr, flush=True)
    answer = stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise NodeCommandError(f"{action} cancelled; nothing was changed", code=1)


# A throttled call was refused before anything happened, so it is safe to send again. Other
# errors are not retried: the client for these calls has botocore's retries off (see
# Clients.mutating), because a timed-out BatchReplaceClusterNodes may already have been accepted.
THROTTLE_RETRIES = 3
THROTTLE_BASE_DELAY = 1.0
# Transport errors raised before the request left this machine: the nodes were certainly not touched.
NOT_SENT_ERRORS: tuple[type[Exception], ...] = (EndpointConnectionError, ConnectTimeoutError)


def _call(method: Any, cluster: str, key: str, chunk: list[str], sleep: Callable[[float], None]) -> Any:
    for attempt in range(THROTTLE_RETRIES + 1):
        try:
            return method(ClusterName=cluster, **{key: chunk})
        except ClientError as exc:
            if aws_errors.code(exc) not in aws_errors.THROTTLED or attempt == THROTTLE_RETRIES:
                raise
            sleep(THROTTLE_BASE_DELAY * 2**attempt * (1 + random.random()))  # noqa: S311 - jitter, not crypto
    raise AssertionError("unreachable")


def _unknown(exc: Exception, cluster: str) -> str:
    return (
        f"no reliable answer ({exc}): SageMaker may have accepted the request; check with "
        f"'hyperpod-cdk nodes list {cluster}' before sending it again"
    )


def _answered(response: dict[str, Any]) -> dict[str, NodeResult]:
    """Each node a batch response names: successful, or failed with its code and message."""
    results = {
        node: NodeResult(node, True)
        for node in response.get("Successful", []) + response.get("SuccessfulNodeLogicalIds", [])
    }
    for failed in response.get("Failed", []) + response.get("FailedNodeLogicalIds", []):
        node = failed.get("NodeId") or failed.get("NodeLogicalId") or "?"
        # Reboot/replace say ErrorCode, delete says Code.
        results[node] = NodeResult(
            node, False, failed.get("ErrorCode") or failed.get("Code") or "", failed.get("Message") or ""
        )
    return results


def run_batch(
    sagemaker: Any, action: str, cluster: str, nodes: Sequence[str], *, sleep: Callable[[float], None] = time.sleep
) -> list[NodeResult]:
    """Call the batch API in chunks of 25 and report each node's outcome.

    Never loses what earlier chunks did: an error on one chunk is recorded for its nodes, and a
    transport error (a timeout, a dropped connection) stops the run with the remaining chunks
    marked "not sent". ``ok`` is None where the outcome is unknown: a read timeout or a 5xx
    answer (the request may have been applied) and a node the response does not name.
    """
    method = getattr(sagemaker, ACTIONS[action][0])
    instance_ids = [n for n in nodes if is_instance_id(n)]
    logical_ids = [n for n in nodes if not is_instance_id(n)]
    outcome: dict[str, NodeResult] = {}
    calls = [("NodeIds", chunk) for chunk in _chunks(instance_ids)]
    calls += [("NodeLogicalIds", chunk) for chunk in _chunks(logical_ids)]
    stopped: str | None = None
    for index, (key, chunk) in enumerate(calls):
        if stopped is not None:
            for node in chunk:
                outcome[node] = NodeResult(node, False, "NotSent", f"not sent: stopped after {stopped}")
            continue
        try:
            response = _call(method, cluster, key, chunk, sleep)
        except aws_errors.SETUP_ERRORS as exc:
            if index == 0:
                raise  # nothing was sent: main() prints the one setup line
            stopped = f"{type(exc).__name__} on an earlier request"
            for node in chunk:
                outcome[node] = NodeResult(
                    node, False, type(exc).__name__, f"not sent: {aws_errors.setup_error_line(exc)}"
                )
            continue
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            ok, message = (None, _unknown(exc, cluster)) if status >= 500 else (False, aws_errors.message(exc))
            for node in chunk:
                outcome[node] = NodeResult(node, ok, aws_errors.code(exc), message)
            continue
        except BotoCoreError as exc:
            stopped = f"{type(exc).__name__} on an earlier request"
            sent = not isinstance(exc, NOT_SENT_ERRORS)
            message = _unknown(exc, cluster) if sent else f"not sent: {exc}"
            for node in chunk:
                outcome[node] = NodeResult(node, None if sent else False, type(exc).__name__, message)
            continue
        outcome.update(_answered(response))
    return [outcome.get(node, NodeResult(node, None, "", "not reported in the response")) for node in nodes]


def summary(results: Sequence[NodeResult], cluster: str) -> str:
    """``"25 requested, 0 failed, 5 unknown; ..."``: unknown outcomes are not successes."""
    requested = sum(1 for r in results if r.ok is True)
    failed = sum(1 for r in results if r.ok is False)
    unknown = len(results) - requested - failed
    line = f"{requested} requested, {failed} failed"
    if unknown:
        line += f", {unknown} unknown"
    if requested or unknown:
        line += f"; follow progress with: hyperpod-cdk nodes list {cluster}"
    return line


def all_requested(results: Sequence[NodeResult]) -> bool:
    """True only when SageMaker accepted every node (exit status 0)."""
    return all(r.ok is True for r in results)
