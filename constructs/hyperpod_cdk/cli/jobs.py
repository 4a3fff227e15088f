"""``hyperpod-cdk jobs status NAME``: a HyperPodPyTorchJob's restart history and the rule that fired.

What neither ``kubectl`` nor ``hyp`` prints in one place: the operator's restart counters
(``status.restartCount``, and ``status.restartStatus`` for the current evaluation window, against
the limits in ``spec.runPolicy``), the latest restart's kind (``PLR`` process-level or ``JLR``
job-level) with its faulty pods, ranks and instances (``status.latestFaultyPodInstanceList``),
and which log-monitoring rule of the job (``runPolicy.logMonitoringConfiguration[].name``) the
conditions and events name. Field names follow the ``sagemaker-hyperpod`` SDK's
``HyperPodPytorchJobStatus`` model. Submitting, logs and deleting stay with kubectl and ``hyp``
(docs/first-job.md).
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from hyperpod_cdk.cli import output
from hyperpod_cdk.cli.access import AccessError, eks_of
from hyperpod_cdk.cli.arguments import add_cluster, add_tunnel_port, matching
from hyperpod_cdk.cli.clients import Clients
from hyperpod_cdk.cli.kube import KubeApi, KubeError
from hyperpod_cdk.cli.verify import kube_for
from hyperpod_cdk.config import PlatformConfig

__all__ = ["add_arguments", "job_status", "run"]

JOBS = "/apis/sagemaker.amazonaws.com/v1"
RESTART_TYPES = {"PLR": "process-level restart", "JLR": "job-level restart"}
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_name = matching(_DNS_LABEL, "a Kubernetes name (lowercase letters, digits and -)")


GROUP_HELP = "what kubectl and hyp do not show about a training job"
COMMAND = "status"
HELP = "restart history of a HyperPodPyTorchJob and the log-monitoring rule that fired"
DESCRIPTION = None


def add_arguments(status: argparse.ArgumentParser) -> None:
    status.add_argument("name", type=_name, metavar="JOB")
    status.add_argument(
        "-n",
        "--namespace",
        type=_name,
        metavar="NS",
        help="the job's namespace (default: the examples' team namespace, else search all)",
    )
    add_cluster(status, option=True, help="HyperPod cluster (default: the config's)")
    add_tunnel_port(status)


def _find(api: KubeApi, name: str, namespace: str | None) -> dict[str, Any]:
    if namespace:
        try:
            return dict(api.get(f"{JOBS}/namespaces/{namespace}/hyperpodpytorchjobs/{name}"))
        except KubeError as exc:
            if exc.status != 404:
                raise
    found = [j for j in api.get(f"{JOBS}/hyperpodpytorchjobs").get("items", []) if j["metadata"]["name"] == name]
    if not found:
        raise AccessError(f"no HyperPodPyTorchJob named {name} (kubectl get hyperpodpytorchjobs -A lists them)")
    if len(found) > 1:
        spaces = ", ".join(j["metadata"]["namespace"] for j in found)
        raise AccessError(f"{name} exists in several namespaces ({spaces}); pass --namespace", 2)
    return dict(found[0])


def _history(name: str, status: dict[str, Any], events: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The job's conditions and its own events, oldest first."""
    history: list[dict[str, str]] = []
    for condition in status.get("conditions") or []:
        history.append(
            {
                "time": condition.get("lastTransitionTime", ""),
                "kind": "condition",
                "what": f"{condition.get('type')}={condition.get('status')}",
                "reason": condition.get("reason") or "",
                "message": condition.get("message") or "",
            }
        )
    for event in events:
        if (event.get("involvedObject") or {}).get("name", name) != name:
            continue
        history.append(
            {
                "time": event.get("lastTimestamp") or event.get("eventTime") or "",
                "kind": "event",
                "what": event.get("type", ""),
                "reason": event.get("reason") or "",
                "message": event.get("message") or "",
            }
        )
    history.sort(key=lambda item: item["time"])
    return history


# Review round 8 (tools), M3: the rule names come from the team's own job spec (up to Kubernetes' ~1.5 MB
# object limit, ~70,000 names), and one regex per name and history item took minutes. Matching is now
# one scan of each item's text: at most MAX_RULE_NAMES distinct names, MAX_MATCH_CHARS of each item.
MAX_RULE_NAMES = 200
MAX_MATCH_CHARS = 4096
_ALNUM_RUN = re.compile(r"[A-Za-z0-9]+")


def _named_pattern(rule: str) -> re.Pattern[str]:
    """``rule`` with no ASCII letter or digit right before or after it: one regex, searched in C (review
    round 9, tools, L4: a Python loop over every failing occurrence cost ~0.6 s per history item)."""
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(rule)}(?![A-Za-z0-9])")


def _rules_fired(history: list[dict[str, str]], rules: list[str]) -> list[dict[str, str]]:
    """The first history item that names each log-monitoring rule.

    Not \\b: the operator joins a state and the rule with "_" (LogStateHanging_JobStart, guide
    "Troubleshooting"), and "_" is a word character. A name of letters and digits only (the usual
    case) is named exactly when it is one whole run of letters and digits in the text, so those are
    looked up in a set; other names are searched for with their boundaries checked.
    """
    order = {rule: index for index, rule in enumerate(rules)}
    plain = {rule for rule in rules if _ALNUM_RUN.fullmatch(rule)}
    other = {rule: _named_pattern(rule) for rule in rules if rule not in plain}
    fired: dict[str, dict[str, str]] = {}
    for item in history:
        text = f"{item['reason']} {item['message']}"[:MAX_MATCH_CHARS]
        named = {word for word in _ALNUM_RUN.findall(text) if word in plain}
        # A name already fired is not searched for again.
        named.update(rule for rule, pattern in other.items() if rule not in fired and pattern.search(text))
        for rule in sorted(named - fired.keys(), key=order.__getitem__):
            fired[rule] = {"rule": rule, "time": item["time"], "message": item["message"] or item["reason"]}
    return list(fired.values())


def _rule_names(run_policy: dict[str, Any]) -> tuple[list[str], int]:
    """The first :data:`MAX_RULE_NAMES` distinct rule names of the spec, and how many more it has."""
    entries = run_policy.get("logMonitoringConfiguration")
    names = dict.fromkeys(
        entry["name"]
        for entry in (entries if isinstance(entries, list) else [])
        if isinstance(entry, dict) and isinstance(entry.get("name"), str) and entry["name"]
    )
    listed = list(names)
    return listed[:MAX_RULE_NAMES], max(0, len(listed) - MAX_RULE_NAMES)


def _latest_restart(faulty: dict[str, Any]) -> dict[str, Any] | None:
    if not faulty:
        return None
    return {
        "type": RESTART_TYPES.get(faulty.get("restartType", ""), faulty.get("restartType")),
        "faulty_pods": faulty.get("faultyPodList") or [],
        "faulty_ranks": faulty.get("faultyRankList") or [],
        "faulty_instances": faulty.get("faultyInstanceIdList") or [],
    }


def job_status(job: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """The summary ``jobs status`` prints (and returns with --json)."""
    spec, status = job.get("spec") or {}, job.get("status") or {}
    run_policy = spec.get("runPolicy") or {}
    restart_policy = run_policy.get("restartPolicy") or {}
    rules, rules_not_matched = _rule_names(run_policy)
    window = status.get("restartStatus") or {}
    faulty = status.get("latestFaultyPodInstanceList") or {}
    name = job["metadata"]["name"]
    history = _history(name, status, events)
    fired = _rules_fired(history, rules)
    true_conditions = [c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"]
    return {
        "job": f"{job['metadata']['namespace']}/{name}",
        "state": true_conditions[-1] if true_conditions else "Unknown",
        "restarts": status.get("restartCount", 0),
        "window": {
            "restarts": window.get("restartCount", 0),
            "full_job_restarts": window.get("fullJobRestartCount", 0),
            "current_eval_period": window.get("currentEvalPeriod"),
        },
        "limits": {
            "job_max_retry_count": run_policy.get("jobMaxRetryCount"),
            "restarts_before_full_job_restart": restart_policy.get("numRestartBeforeFullJobRestart"),
            "max_full_job_restarts": restart_policy.get("maxFullJobRestarts"),
            "eval_period_seconds": restart_policy.get("evalPeriodSeconds"),
        },
        "latest_restart": _latest_restart(faulty),
        "rules": rules,
        "rules_not_matched": rules_not_matched,
        "rules_fired": fired,
        "history": history,
    }


def run(args: argparse.Namespace, cluster: str, clients: Clients, config: PlatformConfig | None) -> int:
    namespace = args.namespace
    if namespace is None and config is not None and config.orchestrator == "eks":
        namespace = config.kubernetes.team(config.kubernetes.examples.team).effective_namespace
    try:
        api = kube_for(clients, eks_of(clients, cluster), args.tunnel_port)
        job = _find(api, args.name, namespace)
        ns = job["metadata"]["namespace"]
        events = api.get(f"/api/v1/namespaces/{ns}/events", fieldSelector=f"involvedObject.name={args.name}").get(
            "items", []
        )
    except AccessError as exc:
        output.error(str(exc), code=exc.code)
        return exc.code
    except KubeError as exc:
        if exc.status in (401, 403):  # an answer, so not the tunnel: the caller's Kubernetes access (R31P-L3)
            hint = "your access entry may not read that; a team member passes --namespace <its namespace>"
        else:
            hint = "a private endpoint needs `hyperpod-cdk kubeconfig` running for the tunnel"
        output.error(f"{exc} ({hint})", code=1)
        return 1
    summary = job_status(job, events)
    if args.json:
        output.print_json(summary)
        return 0
    limits, window = summary["limits"], summary["window"]

    def listed(items: Any) -> str:
        return ", ".join(str(item) for item in items or ()) or "-"

    lines = [
        f"{summary['job']}: {summary['state']}",
        f"Restarts: {summary['restarts']} in total (limit jobMaxRetryCount {limits['job_max_retry_count']}); "
        f"this window: {window['restarts']} process-level (full-job restart after "
        f"{limits['restarts_before_full_job_restart']}), {window['full_job_restarts']} full-job "
        f"(limit {limits['max_full_job_restarts']})",
    ]
    latest = summary["latest_restart"]
    if latest:
        lines.append(
            f"Latest restart: {latest['type']}; pods {listed(latest['faulty_pods'])}; ranks "
            f"{listed(latest['faulty_ranks'])}; instances {listed(latest['faulty_instances'])}"
        )
    lines += [f"Log rule fired: {f['rule']} at {f['time']}: {f['message']}" for f in summary["rules_fired"]] or [
        f"No log-monitoring rule fired (rules: {', '.join(str(r) for r in summary['rules']) or 'none'})"
    ]
    if summary["rules_not_matched"]:
        lines.append(
            f"Only the first {MAX_RULE_NAMES} log-monitoring rule names were matched; "
            f"{summary['rules_not_matched']} more are in the job's spec"
        )
    # Every field comes from the team's job object or the cluster: no terminal control gets through.
    for line in lines:
        print(output.plain(line))
    output.console().print(
        output.simple_table(
            ("Time", "Kind", "What", "Reason", "Message"),
            [(h["time"], h["kind"], h["what"], h["reason"], h["message"]) for h in summary["history"]],
            title="History",
        )
    )
    return 0
