"""``hyperpod-cdk diagnose CLUSTER``: what state a HyperPod cluster is in, and why.

Collects the SageMaker view (cluster status, FailureMessage, instance groups, nodes), the
lifecycle-script log streams, and for EKS-orchestrated clusters the EKS side (authentication
mode, the execution roles' HYPERPOD_LINUX access entries, required add-ons). Then matches what it
saw against :mod:`hyperpod_cdk.cli.errors_table`. Every sub-call that AWS refuses is recorded
under ``unchecked`` instead of stopping the report.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from hyperpod_cdk.cli import aws_errors, cluster_events, errors_table, slurm_diagnose
from hyperpod_cdk.cli.clients import Clients
from hyperpod_cdk.cli.nodes import NODE_COLUMNS, list_nodes, node_row
from hyperpod_cdk.cli.output import escape, simple_table
from hyperpod_cdk.cli.preflight import REQUIRED_EKS_ADDONS
from hyperpod_cdk.specs.addon_compat import task_governance_problem

CERT_MANAGER_ADDON = "cert-manager"
TRAINING_OPERATOR_ADDON = "amazon-sagemaker-hyperpod-training-operator"
TASK_GOVERNANCE_ADDON = "amazon-sagemaker-hyperpod-taskgovernance"

LOG_GROUP_PREFIX = "/aws/sagemaker/Clusters"
MAX_LOG_STREAMS = 50
BAD_CLUSTER_STATES = frozenset({"Failed", "RollingBack"})
BAD_GROUP_STATES = frozenset({"Failed", "Degraded"})
BUSY_CLUSTER_STATES = frozenset({"Creating", "Updating", "SystemUpdating"})

NODE_FAILURE = errors_table.KnownError(
    key="node-failure",
    patterns=(),
    cause="Nodes report Failure with a message none of the known patterns explains.",
    fix=(
        "Read the node's message and its lifecycle log stream; once fixed, replace the node "
        "(hyperpod-cdk nodes replace <cluster> <node>) or let automatic node recovery do it."
    ),
)
CLUSTER_FAILED = errors_table.KnownError(
    key="cluster-failed",
    patterns=(),
    cause="The cluster failed with a message none of the known patterns explains.",
    fix="Read the FailureMessage above and the lifecycle logs, fix the cause, then delete and recreate the cluster.",
)


class ClusterNotFoundError(Exception):
    """describe_cluster found no cluster by that name in the region."""


#: Deprecated alias (issue 21, removed in the next release): the old name, before ruff's N818.
ClusterNotFound = ClusterNotFoundError


def log_group_name(cluster_name: str, cluster_arn: str) -> str:
    """``/aws/sagemaker/Clusters/<name>/<id>``, the id being the last segment of the cluster ARN."""
    return f"{LOG_GROUP_PREFIX}/{cluster_name}/{cluster_arn.rsplit('/', 1)[-1]}"


def _role_name(arn: str) -> str:
    """Last path segment of an IAM role ARN (access entries and execution roles may differ in path)."""
    return arn.rsplit("/", 1)[-1]


class _Collector:
    def __init__(self, clients: Clients, progress: Any) -> None:
        self.clients = clients
        self.progress = progress
        self.unchecked: list[str] = []

    def step(self, text: str) -> None:
        if self.progress is not None:
            self.progress.update(text)

    def attempt(self, service: str, fn: Callable[[], Any], default: Any = None) -> Any:
        try:
            return fn()
        except aws_errors.SETUP_ERRORS:
            raise
        except (ClientError, BotoCoreError) as exc:
            self.unchecked.append(aws_errors.unchecked_note(service, exc))
            return default


def collect(clients: Clients, cluster: str, *, progress: Any = None) -> dict[str, Any]:
    """The diagnosis as a JSON-ready dict (see docs/cli.md for the keys)."""
    col = _Collector(clients, progress)
    sagemaker = clients("sagemaker")
    col.step(f"Describing cluster {cluster}")
    try:
        described = sagemaker.describe_cluster(ClusterName=cluster)
    except ClientError as exc:
        if aws_errors.is_not_found(exc):
            raise ClusterNotFoundError(cluster) from None
        raise
    name = described.get("ClusterName") or cluster
    arn = described["ClusterArn"]
    groups = [
        {
            "name": g.get("InstanceGroupName"),
            "instance_type": g.get("InstanceType"),
            "current_count": g.get("CurrentCount"),
            "target_count": g.get("TargetCount"),
            "status": g.get("Status"),
            "execution_role": g.get("ExecutionRole"),
            "training_plan_arn": g.get("TrainingPlanArn"),
            "training_plan_status": g.get("TrainingPlanStatus"),
        }
        for g in described.get("InstanceGroups", [])
    ]
    eks_arn = ((described.get("Orchestrator") or {}).get("Eks") or {}).get("ClusterArn")
    report: dict[str, Any] = {
        "cluster": {
            "name": name,
            "arn": arn,
            "status": described.get("ClusterStatus"),
            "failure_message": described.get("FailureMessage") or "",
            "orchestrator": "eks"
            if eks_arn
            else ("slurm" if (described.get("Orchestrator") or {}).get("Slurm") else None),
            "node_recovery": described.get("NodeRecovery"),
            "node_provisioning_mode": described.get("NodeProvisioningMode"),
            "created": described.get("CreationTime"),
        },
        "instance_groups": groups,
    }
    col.step("Listing nodes")
    report["nodes"] = col.attempt("sagemaker", lambda: list_nodes(sagemaker, name), default=[])
    col.step("Reading cluster events")
    report["events"] = cluster_events.collect(col.attempt, sagemaker, name, report["cluster"]["node_provisioning_mode"])
    col.step("Listing lifecycle log streams")
    report["logs"] = _logs(col, log_group_name(name, arn))
    report["eks"] = _eks(col, eks_arn, groups) if eks_arn else None
    is_slurm = report["cluster"]["orchestrator"] == "slurm" or (not eks_arn and described.get("Orchestrator") is None)
    report["slurm"] = slurm_diagnose.collect(col, described, report) if is_slurm else None
    report["unchecked"] = col.unchecked
    placeholders = {"<cluster>": name, "<log group>": report["logs"]["log_group"]}
    if report["eks"]:
        placeholders["<eks-cluster>"] = report["eks"]["cluster_name"]
    if len({g["execution_role"] for g in groups if g.get("execution_role")}) == 1:
        placeholders["<execution role>"] = next(g["execution_role"] for g in groups if g.get("execution_role"))
    report["findings"] = [
        {"key": known.key, "cause": known.cause, "fix": _fill(known.fix, placeholders), "evidence": evidence}
        for known, evidence in analyse(report)
    ]
    report["next_steps"] = errors_table.next_steps(name, report["logs"]["log_group"])
    return report


def _logs(col: _Collector, group: str) -> dict[str, Any]:
    result: dict[str, Any] = {"log_group": group, "streams": [], "more": False, "note": ""}
    try:
        page = col.clients("logs").describe_log_streams(
            logGroupName=group, orderBy="LastEventTime", descending=True, limit=MAX_LOG_STREAMS
        )
    except aws_errors.SETUP_ERRORS:
        raise
    except ClientError as exc:
        if aws_errors.code(exc) == "ResourceNotFoundException":
            result["note"] = "log group does not exist yet: no lifecycle script has logged (or nodes never started)"
            return result
        col.unchecked.append(aws_errors.unchecked_note("logs", exc))
        result["note"] = "could not list the log streams"
        return result
    except BotoCoreError as exc:
        col.unchecked.append(aws_errors.unchecked_note("logs", exc))
        result["note"] = "could not list the log streams"
        return result
    result["streams"] = [s["logStreamName"] for s in page.get("logStreams", [])]
    result["more"] = bool(page.get("nextToken"))
    return result


def _eks(col: _Collector, eks_arn: str, groups: list[dict[str, Any]]) -> dict[str, Any]:
    # arn:aws:eks:<region>:<account>:cluster/<name>
    parts = eks_arn.split(":")
    region = parts[3] if len(parts) > 5 and parts[3] else None
    cluster = eks_arn.rsplit("/", 1)[-1]
    eks = col.clients("eks", region)
    info: dict[str, Any] = {
        "cluster_arn": eks_arn,
        "cluster_name": cluster,
        "status": None,
        "auth_mode": None,
        "access_entries": [],
        "addons": [],
    }
    col.step(f"Describing EKS cluster {cluster}")
    described = col.attempt("eks", lambda: eks.describe_cluster(name=cluster)["cluster"])
    if described is not None:
        info["status"] = described.get("status")
        info["auth_mode"] = (described.get("accessConfig") or {}).get("authenticationMode")

    col.step("Checking access entries")
    principals = col.attempt("eks", lambda: _list_all(eks, "list_access_entries", "accessEntries", cluster))
    roles = sorted({g["execution_role"] for g in groups if g.get("execution_role")})
    for role in roles:
        entry: dict[str, Any] = {"execution_role": role, "principal_arn": None, "type": None, "found": None}
        if principals is not None:
            match = next((p for p in principals if _role_name(p) == _role_name(role)), None)
            entry["found"] = match is not None
            if match is not None:
                entry["principal_arn"] = match
                described_entry = col.attempt(
                    "eks", functools.partial(eks.describe_access_entry, clusterName=cluster, principalArn=match)
                )
                if described_entry is not None:
                    entry["type"] = described_entry.get("accessEntry", {}).get("type")
        info["access_entries"].append(entry)

    col.step("Checking EKS add-ons")
    present = col.attempt("eks", lambda: _list_all(eks, "list_addons", "addons", cluster))
    for addon in REQUIRED_EKS_ADDONS:
        row: dict[str, Any] = {"name": addon, "present": None, "status": None, "issues": []}
        if present is not None:
            row["present"] = addon in present
            if row["present"]:
                got = col.attempt("eks", functools.partial(eks.describe_addon, clusterName=cluster, addonName=addon))
                if got is not None:
                    row["status"] = got["addon"].get("status")
                    row["issues"] = [
                        f"{i.get('code')}: {i.get('message')}"
                        for i in (got["addon"].get("health") or {}).get("issues", [])
                    ]
        info["addons"].append(row)
    # The training operator and what it depends on are optional: reported only when installed.
    for addon in OPERATOR_ADDONS:
        if present is None or addon not in present:
            continue
        got = col.attempt("eks", functools.partial(eks.describe_addon, clusterName=cluster, addonName=addon))
        if got is not None:
            info["addons"].append(
                {
                    "name": addon,
                    "present": True,
                    "status": got["addon"].get("status"),
                    "optional": True,
                    "version": got["addon"].get("addonVersion"),
                    "issues": [
                        f"{i.get('code')}: {i.get('message')}"
                        for i in (got["addon"].get("health") or {}).get("issues", [])
                    ],
                }
            )
    return info


def _fill(text: str, values: dict[str, str]) -> str:
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


def _list_all(client: Any, operation: str, key: str, cluster: str) -> list[str]:
    items: list[str] = []
    for page in client.get_paginator(operation).paginate(clusterName=cluster):
        items.extend(page.get(key, []))
    return items


OPERATOR_ADDONS = (CERT_MANAGER_ADDON, TRAINING_OPERATOR_ADDON, TASK_GOVERNANCE_ADDON)


def operator_findings(addons: list[dict[str, Any]]) -> list[tuple[errors_table.KnownError, str]]:
    """The guide's install failures among the add-on rows: versions, a missing cert-manager, health issues."""
    by_name = {a["name"]: a for a in addons if a.get("present")}
    found: list[tuple[errors_table.KnownError, str]] = []
    operator = by_name.get(TRAINING_OPERATOR_ADDON)
    if operator is not None and CERT_MANAGER_ADDON not in by_name:
        found.append(
            (errors_table.CERT_MANAGER_MISSING, f"{TRAINING_OPERATOR_ADDON} is installed, cert-manager is not")
        )
    governance = by_name.get(TASK_GOVERNANCE_ADDON)
    if operator is not None and governance is not None and governance.get("version"):
        try:
            problem = task_governance_problem(governance["version"], True)
        except ValueError:
            problem = None
        if problem:
            found.append((errors_table.TASK_GOVERNANCE_VERSION, f"{TASK_GOVERNANCE_ADDON} {governance['version']}"))
    issues = [(f"add-on {a['name']}", issue) for a in by_name.values() if a.get("optional") for issue in a["issues"]]
    found += [
        (known, evidence)
        for known, evidence in errors_table.match_messages(issues)
        if known.key not in {k.key for k, _ in found}
    ]
    return found


def _eks_findings(eks: dict[str, Any] | None) -> list[tuple[errors_table.KnownError, str]]:
    """What the EKS side of the report points to: auth mode, add-ons, operators, access entries."""
    if not eks:
        return []
    found: list[tuple[errors_table.KnownError, str]] = []
    if eks.get("auth_mode") == "CONFIG_MAP":
        found.append((errors_table.CONFIG_MAP_AUTH, f"EKS cluster {eks['cluster_name']} authenticationMode=CONFIG_MAP"))
    bad_addons = [
        f"{a['name']} missing" if a["present"] is False else f"{a['name']} {a['status']}"
        for a in eks.get("addons", [])
        if a["present"] is False or (a["present"] and a["status"] not in (None, "ACTIVE"))
    ]
    if bad_addons:
        found.append((errors_table.EKS_ADDONS, "EKS add-ons: " + ", ".join(bad_addons)))
    found += operator_findings(eks.get("addons", []))
    bad_entries = [
        f"{e['execution_role']}: no access entry"
        if e["found"] is False
        else f"{e['execution_role']}: access entry type {e['type']}"
        for e in eks.get("access_entries", [])
        if e["found"] is False or (e["found"] and e["type"] not in (None, "HYPERPOD_LINUX"))
    ]
    if bad_entries:
        found.append((errors_table.ACCESS_ENTRY, "; ".join(bad_entries)))
    return found


def _churn_evidence(nodes: list[dict[str, Any]], *, busy: bool) -> str:
    """Nodes shutting down, or pending while the cluster is not busy creating or updating ("" if none)."""
    churn = [n for n in nodes if n.get("status") == "ShuttingDown" or (n.get("status") == "Pending" and not busy)]
    if not churn:
        return ""
    return ", ".join(f"{n.get('instance_id') or n.get('logical_id')} {n.get('status')}" for n in churn[:10]) + (
        f" (+{len(churn) - 10} more)" if len(churn) > 10 else ""
    )


def analyse(report: dict[str, Any]) -> list[tuple[errors_table.KnownError, str]]:
    """Likely causes, most specific first, each with the evidence that points to it."""
    cluster = report["cluster"]
    nodes = report.get("nodes") or []
    texts = [("cluster FailureMessage", cluster.get("failure_message") or "")]
    texts += [
        (f"node {n.get('instance_id') or n.get('logical_id')} ({n.get('status')})", n.get("message") or "")
        for n in nodes
        if n.get("status") != "Running"
    ]
    found = errors_table.match_messages(texts)
    keys = {known.key for known, _ in found}

    def add(known: errors_table.KnownError, evidence: str) -> None:
        if known.key not in keys:
            keys.add(known.key)
            found.append((known, evidence))

    for known, evidence in _eks_findings(report.get("eks")):
        add(known, evidence)

    for known, evidence in slurm_diagnose.analyse(report):
        add(known, evidence)

    churn = _churn_evidence(nodes, busy=cluster.get("status") in BUSY_CLUSTER_STATES)
    if churn:
        add(errors_table.NODE_CHURN, churn)
    failed = [n for n in nodes if n.get("status") == "Failure"]
    if failed and not found:
        add(
            NODE_FAILURE,
            "; ".join(
                f"{n.get('instance_id') or n.get('logical_id')}: {n.get('message') or 'no message'}" for n in failed[:5]
            ),
        )
    if cluster.get("status") in BAD_CLUSTER_STATES and not found:
        add(CLUSTER_FAILED, f"cluster {cluster.get('status')}: {cluster.get('failure_message') or 'no FailureMessage'}")
    return found


def exit_code(report: dict[str, Any]) -> int:
    if report["findings"]:
        return 1
    if report["cluster"].get("status") in BAD_CLUSTER_STATES:
        return 1
    if any(g.get("status") in BAD_GROUP_STATES for g in report["instance_groups"]):
        return 1
    return 0


def _eks_rows(eks: dict[str, Any]) -> list[list[str]]:
    """The EKS table of ``render``: the cluster, its auth mode, access entries and add-ons."""
    rows = [
        ["cluster", eks["cluster_name"], eks["status"] or "unknown"],
        ["authentication mode", "", eks["auth_mode"] or "unknown"],
    ]
    for entry in eks["access_entries"]:
        state = "unknown" if entry["found"] is None else "missing" if not entry["found"] else entry["type"] or "present"
        rows.append(["access entry", entry["execution_role"], state])
    for addon in eks["addons"]:
        state = (
            "unknown"
            if addon["present"] is None
            else "missing"
            if not addon["present"]
            else addon["status"] or "present"
        )
        if addon["issues"]:
            state += " (" + "; ".join(addon["issues"]) + ")"
        rows.append(["add-on", addon["name"], state])
    return rows


def render(console: Console, report: dict[str, Any]) -> None:
    cluster = report["cluster"]
    console.print(
        f"[bold]Cluster {escape(cluster['name'])}[/]: {escape(str(cluster['status']))}  ({escape(cluster['arn'])})"
    )
    if cluster.get("failure_message"):
        console.print(f"[red]FailureMessage:[/] {escape(cluster['failure_message'])}")
    console.print(
        simple_table(
            ["Group", "Type", "Nodes (current/target)", "Status", "Training plan"],
            [
                [
                    g["name"],
                    g["instance_type"],
                    f"{g['current_count']}/{g['target_count']}",
                    g["status"],
                    g["training_plan_arn"] or "",
                ]
                for g in report["instance_groups"]
            ],
            title="Instance groups",
        )
    )
    nodes = report["nodes"]
    if nodes:
        console.print(
            simple_table(
                NODE_COLUMNS,
                [node_row(n) for n in nodes],
                title="Nodes",
            )
        )
    else:
        console.print("Nodes: none listed")
    cluster_events.render(console, report.get("events"))
    logs = report["logs"]
    console.print(f"\n[bold]Lifecycle logs[/]: {escape(logs['log_group'])}")
    if logs["note"]:
        console.print(f"  {escape(logs['note'])}")
    for stream in logs["streams"]:
        console.print(f"  {escape(stream)}")
    if logs["more"]:
        console.print(f"  ... more streams (newest {MAX_LOG_STREAMS} shown)")
    eks = report.get("eks")
    if eks:
        console.print(simple_table(["EKS", "Name", "State"], _eks_rows(eks), title="EKS"))
    slurm_diagnose.render(console, report)
    if report["unchecked"]:
        console.print("\n[bold yellow]Could not check[/]")
        for line in report["unchecked"]:
            console.print(f"  - {escape(line)}")
    console.print("\n[bold]Likely causes[/]")
    if not report["findings"]:
        console.print("  none of the known failure patterns matched")
    for number, finding in enumerate(report["findings"], start=1):
        console.print(f"  {number}. {escape(finding['cause'])}")
        console.print(f"     seen: {escape(finding['evidence'])}")
        console.print(f"     fix:  {escape(finding['fix'])}")
    console.print("\n[bold]Next steps[/]")
    for step in report["next_steps"]:
        console.print(f"  - {escape(step)}")
