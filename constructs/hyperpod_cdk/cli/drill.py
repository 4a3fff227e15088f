"""``hyperpod-cdk drill node-fault [CLUSTER]``: the HyperPod guide's resiliency test, as a command.

The training-operator guide ("5. Testing Resiliency"; awslabs/ai-on-sagemaker-hyperpod
website/docs/04-add-ons/hp-training-operator/installation-and-usage.md) labels one node of a running
HyperPodPyTorchJob ``sagemaker.amazonaws.com/node-health-status=UnschedulablePendingReboot`` and
watches the job: the controller (``hyperpod-pytorch-job-controller``) reports a ``NodeFault`` warning,
restarts the job, and sets the ``Running`` condition with the message "The fault of reason NodeFault
was remediated in <N> milliseconds." With automatic node recovery on, HyperPod then reboots the node
("Resilience-related Kubernetes labels",
https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-resiliency-node-labels.html);
with it off, the label does nothing, so the drill refuses to start.

Steps: DescribeCluster (EKS, NodeRecovery), eks:DescribeCluster (endpoint, CA), a token signed like
``aws eks get-token`` (:mod:`hyperpod_cdk.cli.kube`); pick the job and one node running its pods;
ask for confirmation (``--yes`` skips it; ``--dry-run`` stops before changing anything); label the
node; poll the job's conditions and events and the node's label until the remediation message
appears, the job fails, or ``--timeout`` passes. It prints how long remediation took, as the
controller measured it and as observed from the label.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO, cast

from botocore.exceptions import ClientError

from hyperpod_cdk.cli import aws_errors, output
from hyperpod_cdk.cli.access import AccessError, api_endpoint
from hyperpod_cdk.cli.arguments import CommandError, add_cluster, add_yes, int_between, matching
from hyperpod_cdk.cli.clients import Clients
from hyperpod_cdk.cli.kube import KubeApi, KubeError, eks_token
from hyperpod_cdk.kubernetes.charts.job_checks import API_VERSION, KIND
from hyperpod_cdk.kubernetes.charts.job_checks import HEALTH_STATUS_LABEL as HEALTH_LABEL
from hyperpod_cdk.specs.kubernetes_names import DNS_LABEL, DNS_SUBDOMAIN

FAULT = "UnschedulablePendingReboot"
HEALTHY = "Schedulable"
JOBS = f"/apis/{API_VERSION}"
REMEDIATED = re.compile(r"remediated in (\d+) milliseconds")

# Replaced by the tests: the watch loop must not really wait.
_sleep: Callable[[float], None] = time.sleep
_clock: Callable[[], float] = time.monotonic


class DrillError(CommandError):
    """The drill cannot start (or must stop); ``code`` is the exit status."""


# ----------------------------------------------------------------------------- arguments


def _k8s_name(kind: str, pattern: re.Pattern[str], limit: int) -> Callable[[str], str]:
    return matching(pattern, f"a Kubernetes {kind} name", max_length=limit)


def _seconds(low: int, high: int) -> Callable[[str], int]:
    return int_between(low, high, "a number of seconds from {low} to {high}")


COMMAND = "node-fault"
HELP = "mark a node of a running job UnschedulablePendingReboot and time the job's recovery"
DESCRIPTION = (
    "The HyperPod resiliency test: label one node of a running HyperPodPyTorchJob "
    f"{HEALTH_LABEL}={FAULT}, then watch the job's conditions and events until the training operator "
    "reports the NodeFault remediated, and print how long it took. HyperPod reboots the node (automatic "
    "node recovery must be on). Asks for confirmation unless --yes; --dry-run changes nothing."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_cluster(parser)
    parser.add_argument(
        "--node",
        type=_k8s_name("node", DNS_SUBDOMAIN, 253),
        metavar="NAME",
        help="Kubernetes node to fault (default: a node running a pod of the job)",
    )
    parser.add_argument(
        "--job",
        type=_k8s_name("job", DNS_LABEL, 63),
        metavar="NAME",
        help="HyperPodPyTorchJob to watch (default: the only running one)",
    )
    parser.add_argument(
        "--namespace",
        type=_k8s_name("namespace", DNS_LABEL, 63),
        metavar="NS",
        help="namespace of the job (default: look in every namespace)",
    )
    parser.add_argument("--dry-run", action="store_true", help="find the job and node, print the plan, change nothing")
    parser.add_argument(
        "--timeout",
        type=_seconds(60, 6 * 3600),
        default=1800,
        metavar="SECONDS",
        help="give up after this long (default 1800)",
    )
    parser.add_argument(
        "--interval", type=_seconds(1, 300), default=10, metavar="SECONDS", help="poll interval (default 10)"
    )
    add_yes(parser)


# ----------------------------------------------------------------------------- cluster access


def connect(clients: Clients, cluster: str) -> tuple[str, KubeApi]:
    """(EKS cluster name, API client) for a HyperPod cluster; refuses what the drill cannot use."""
    try:
        described = clients("sagemaker").describe_cluster(ClusterName=cluster)
    except ClientError as exc:
        if aws_errors.is_not_found(exc):
            raise DrillError(
                f"HyperPod cluster '{cluster}' not found in {clients.region}: " f"{aws_errors.message(exc)}"
            ) from None
        raise
    eks_arn = ((described.get("Orchestrator") or {}).get("Eks") or {}).get("ClusterArn")
    if not eks_arn:
        raise DrillError(f"{cluster} is not orchestrated by EKS: the node-fault drill uses Kubernetes labels", 2)
    if described.get("NodeRecovery") != "Automatic":
        raise DrillError(
            f"{cluster} has NodeRecovery {described.get('NodeRecovery')!r}: HyperPod would not reboot the node, so "
            "the label would only cordon it. Turn automatic node recovery on (hyperpod.node_recovery: Automatic)"
        )
    if described.get("ClusterStatus") != "InService":
        raise DrillError(f"{cluster} is {described.get('ClusterStatus')}; run the drill on an InService cluster")
    eks_name = eks_arn.rsplit("/", 1)[-1]
    eks_cluster = clients("eks").describe_cluster(name=eks_name)["cluster"]
    try:
        endpoint, ca = api_endpoint(eks_cluster)
    except AccessError as exc:  # not ACTIVE yet (R31T-M2)
        raise DrillError(str(exc), exc.code) from None
    region = clients.region
    session = clients.session
    api = KubeApi(
        endpoint,
        ca,
        lambda: eks_token(session, eks_name, region),
        clock=_clock,
    )
    return eks_name, api


def _running(job: dict[str, Any]) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or []
    latest = {c.get("type"): c.get("status") for c in conditions}
    return latest.get("Running") == "True" and latest.get("Failed") != "True" and latest.get("Completed") != "True"


def _job_id(job: dict[str, Any]) -> str:
    meta = job.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"


def find_job(api: KubeApi, name: str | None, namespace: str | None) -> dict[str, Any]:
    path = f"{JOBS}/namespaces/{namespace}/hyperpodpytorchjobs" if namespace else f"{JOBS}/hyperpodpytorchjobs"
    try:
        jobs = api.get(path).get("items") or []
    except KubeError as exc:
        if exc.status == 404:
            raise DrillError(
                "the cluster has no HyperPodPyTorchJob API: install the HyperPod training operator"
            ) from None
        raise
    if name:
        jobs = [j for j in jobs if (j.get("metadata") or {}).get("name") == name]
        if not jobs:
            raise DrillError(f"no HyperPodPyTorchJob named {name}" + (f" in {namespace}" if namespace else ""), 2)
        if len(jobs) > 1:
            raise DrillError(
                f"{name} exists in several namespaces ({', '.join(map(_job_id, jobs))}); " "pass --namespace", 2
            )
        if not _running(jobs[0]):
            raise DrillError(f"{_job_id(jobs[0])} is not Running; the drill needs a running job to watch")
        return cast("dict[str, Any]", jobs[0])
    running = [j for j in jobs if _running(j)]
    if not running:
        raise DrillError(
            "no running HyperPodPyTorchJob to watch: start one (for example dist/jobs/smoke.yaml) "
            "or name it with --job"
        )
    if len(running) > 1:
        raise DrillError(f"several jobs are running ({', '.join(map(_job_id, running))}); pass --job", 2)
    return cast("dict[str, Any]", running[0])


def job_nodes(api: KubeApi, job: dict[str, Any]) -> list[str]:
    """Nodes running a pod the job owns."""
    meta = job["metadata"]
    pods = api.get(f"/api/v1/namespaces/{meta['namespace']}/pods").get("items") or []
    nodes = set()
    for pod in pods:
        owners = (pod.get("metadata") or {}).get("ownerReferences") or []
        if any(o.get("kind") == KIND and o.get("name") == meta["name"] for o in owners):
            node = (pod.get("spec") or {}).get("nodeName")
            if node:
                nodes.add(node)
    return sorted(nodes)


def pick_node(api: KubeApi, job: dict[str, Any], wanted: str | None) -> tuple[dict[str, Any], bool]:
    """(node, runs a pod of the job); the node must be a HyperPod node in Schedulable state."""
    candidates = job_nodes(api, job)
    name = wanted or (candidates[0] if candidates else None)
    if name is None:
        raise DrillError(f"no pod of {_job_id(job)} runs on a node yet; wait for it, or pass --node")
    try:
        node = api.get(f"/api/v1/nodes/{name}")
    except KubeError as exc:
        if exc.status == 404:
            raise DrillError(f"node {name} not found", 2) from None
        raise
    health = ((node.get("metadata") or {}).get("labels") or {}).get(HEALTH_LABEL)
    if health is None:
        raise DrillError(f"{name} has no {HEALTH_LABEL} label: not a HyperPod node", 2)
    if health != HEALTHY:
        raise DrillError(f"{name} is already {health}; pick a {HEALTHY} node")
    return node, name in candidates


# ----------------------------------------------------------------------------- the watch


@dataclass
class Watch:
    """What the drill saw, in order (seconds since the label was set)."""

    job_path: str
    events_path: str
    node_path: str
    started: float
    seen_events: set[str] = field(default_factory=set)
    seen_conditions: set[tuple[str, str, str, str]] = field(default_factory=set)
    node_health: str | None = FAULT
    timeline: list[dict[str, Any]] = field(default_factory=list)
    controller_ms: int | None = None
    failed: str | None = None

    def note(self, kind: str, text: str, emit: Callable[[str], None]) -> None:
        seconds = round(_clock() - self.started, 1)
        self.timeline.append({"seconds": seconds, "kind": kind, "text": text})
        emit(f"+{seconds:7.1f}s  {kind:9s} {text}")


def _baseline(api: KubeApi, watch: Watch, job: dict[str, Any]) -> None:
    """Events and conditions from before the label: not reported, and never taken as the remediation."""
    selector = f"involvedObject.name={job['metadata']['name']}"
    for event in api.get(watch.events_path, fieldSelector=selector).get("items") or []:
        watch.seen_events.add(_event_key(event))
    for condition in (job.get("status") or {}).get("conditions") or []:
        watch.seen_conditions.add(_condition_key(condition))


def _event_key(event: dict[str, Any]) -> str:
    meta = event.get("metadata") or {}
    return str(meta.get("uid") or meta.get("name"))


def _condition_key(condition: dict[str, Any]) -> tuple[str, str, str, str]:
    return (
        str(condition.get("type")),
        str(condition.get("status")),
        str(condition.get("reason")),
        str(condition.get("lastTransitionTime") or condition.get("message")),
    )


def poll(api: KubeApi, watch: Watch, job_name: str, emit: Callable[[str], None]) -> None:
    """One round: new events, new conditions, the node's label; records remediation or failure."""
    events = api.get(watch.events_path, fieldSelector=f"involvedObject.name={job_name}").get("items") or []
    for event in sorted(events, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or "")):
        key = _event_key(event)
        if key in watch.seen_events:
            continue
        watch.seen_events.add(key)
        message = str(event.get("message") or "")
        watch.note("event", f"{event.get('type', '')} {event.get('reason', '')}: {message}", emit)
        _check_remediated(watch, message)
    job = api.get(watch.job_path)
    for condition in (job.get("status") or {}).get("conditions") or []:
        condition_key = _condition_key(condition)
        if condition_key in watch.seen_conditions:
            continue
        watch.seen_conditions.add(condition_key)
        message = str(condition.get("message") or "")
        watch.note(
            "condition",
            f"{condition.get('type')}={condition.get('status')} {condition.get('reason') or ''}"
            f"{': ' + message if message else ''}",
            emit,
        )
        if condition.get("type") == "Failed" and condition.get("status") == "True":
            watch.failed = message or str(condition.get("reason") or "Failed")
        if condition.get("type") == "Running" and condition.get("status") == "True":
            _check_remediated(watch, message)
    try:
        node = api.get(watch.node_path)
        health = ((node.get("metadata") or {}).get("labels") or {}).get(HEALTH_LABEL)
    except KubeError as exc:
        if exc.status != 404:
            raise
        health = "(node gone)"
    if health != watch.node_health:
        watch.note("node", f"{HEALTH_LABEL}={health}", emit)
        watch.node_health = health


def _check_remediated(watch: Watch, message: str) -> None:
    match = REMEDIATED.search(message)
    if match and watch.controller_ms is None:
        watch.controller_ms = int(match.group(1))


# ----------------------------------------------------------------------------- command


def run(args: argparse.Namespace, cluster: str, clients: Clients, *, stdin: TextIO) -> int:
    emit: Callable[[str], None] = (
        (lambda _line: None) if args.json else (lambda line: print(output.plain(line), flush=True))
    )
    try:
        eks_name, api = connect(clients, cluster)
        job = find_job(api, args.job, args.namespace)
        node, runs_job = pick_node(api, job, args.node)
    except (DrillError, KubeError) as exc:
        code = exc.code if isinstance(exc, DrillError) else 1
        output.error(str(exc), code=code)
        return code
    node_name = node["metadata"]["name"]
    job_name, namespace = job["metadata"]["name"], job["metadata"]["namespace"]
    plan = (
        f"Drill on {cluster} (EKS {eks_name}): label node {node_name} {HEALTH_LABEL}={FAULT}; HyperPod reboots it "
        f"and the pods of {namespace}/{job_name} on it stop. Then watch the job for up to {args.timeout} s."
    )
    if not runs_job:
        plan += f"\nNote: no pod of {namespace}/{job_name} runs on {node_name}; the job may not notice the fault."
    result: dict[str, Any] = {
        "cluster": cluster,
        "eks_cluster": eks_name,
        "job": f"{namespace}/{job_name}",
        "node": node_name,
        "label": f"{HEALTH_LABEL}={FAULT}",
        "dry_run": args.dry_run,
    }
    if args.dry_run:
        if args.json:
            output.print_json({**result, "plan": plan})
        else:
            print(plan + "\nDry run: nothing was changed.")
        return 0
    try:
        output.confirm(plan, f"fault node {node_name}", assume_yes=args.yes, stdin=stdin, stderr=sys.stderr)
    except output.RefusedError as exc:
        output.error(str(exc), code=exc.code)
        return exc.code
    watch = Watch(
        job_path=f"{JOBS}/namespaces/{namespace}/hyperpodpytorchjobs/{job_name}",
        events_path=f"/api/v1/namespaces/{namespace}/events",
        node_path=f"/api/v1/nodes/{node_name}",
        started=_clock(),
    )
    try:
        _baseline(api, watch, job)
        api.merge_patch(watch.node_path, {"metadata": {"labels": {HEALTH_LABEL: FAULT}}})
        watch.started = _clock()
        watch.note("label", f"{node_name} {HEALTH_LABEL}={FAULT}", emit)
        while True:
            poll(api, watch, job_name, emit)
            if watch.controller_ms is not None or watch.failed or _clock() - watch.started >= args.timeout:
                break
            _sleep(args.interval)
    except KubeError as exc:
        output.error(f"{exc} (the node keeps the label; HyperPod handles it)", code=1)
        return 1
    observed = round(_clock() - watch.started, 1)
    remediated = watch.controller_ms is not None
    result.update(
        {
            "remediated": remediated,
            "controller_ms": watch.controller_ms,
            "observed_seconds": observed,
            "job_failed": watch.failed,
            "node_health": watch.node_health,
            "timeline": watch.timeline,
        }
    )
    problem = None
    if not remediated:
        reason = (
            f"the job failed: {watch.failed}" if watch.failed else f"no remediation reported within {args.timeout} s"
        )
        problem = f"{reason}; node {node_name} is {watch.node_health}"
        result["error"] = problem
    if args.json:
        output.print_json(result)
    elif watch.controller_ms is not None:
        print(
            f"Remediated: the training operator reports {watch.controller_ms / 1000:.1f} s "
            f"({watch.controller_ms} ms); observed {observed} s after the label."
        )
    else:
        output.error(str(problem), code=1)
    return 0 if remediated else 1
