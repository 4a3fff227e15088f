"""A typed builder for ``HyperPodPyTorchJob`` resources (``sagemaker.amazonaws.com/v1``).

The HyperPod training operator runs PyTorch jobs whose pods start ``hyperpodrun`` (the HyperPod
elastic agent, ``pip install hyperpod-elastic-agent``). The operator restarts processes, pods or
the whole job when workers fail or when log-monitoring rules say the job hangs.

Each class here is a frozen dataclass that checks itself when it is constructed, so a bad value
fails in the user's own code, before anything is synthesized, with one
:class:`~hyperpod_cdk.errors.HyperPodConfigError` whose ``field`` names the offending value::

    from hyperpod_cdk.kubernetes.charts.jobs import *

    spec = HyperPodPyTorchJobSpec(
        name="llama", namespace="hyperpod-ns-training", nproc_per_node=8,
        replica_specs=[ReplicaSpec(
            replicas=2, instance_type="ml.p5.48xlarge",
            container=Container(image=image, command=["hyperpodrun"],
                                args=hyperpodrun_args(nnodes=2, nproc_per_node=8, script="/fsdp/train.py")),
        )],
        run_policy=RunPolicy(job_max_retry_count=10, log_monitoring=[
            LogMonitoringRule(name="JobStart", log_pattern=".*Loss:.*", expected_start_cutoff_seconds=240),
        ]),
    )
    HyperPodJobChart(cdk8s.App(), "jobs", jobs=[spec])

What the operator does not check but these classes do (the CRD accepts any string or integer):
log-rule operators (``gt``/``gteq``/``lt``/``lteq``/``eq``), that patterns compile and use only
RE2 syntax (the operator is written in Go), that a metric threshold has a capturing group and an
operator, positive durations, restart-policy bounds, ``cleanPodPolicy`` values, replica counts,
``nprocPerNode`` (a string in the CRD), extended-resource counts (GPU/EFA requests must equal
limits) and that ``hyperpodrun --nnodes/--nproc-per-node`` agree with the spec.
"""

from __future__ import annotations

import re
import shlex
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import cdk8s
from constructs import Construct

from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.specs import neuron

__all__ = [
    "API_VERSION",
    "CLEAN_POD_POLICIES",
    "Container",
    "AGENT_FLAG_DEFAULTS",
    "AGENT_LOG_DIR",
    "EFA_RESOURCE",
    "ElasticAgentOptions",
    "GPU_RESOURCE",
    "HEALTH_STATUS_LABEL",
    "HyperPodJobChart",
    "HyperPodPyTorchJob",
    "HyperPodPyTorchJobSpec",
    "INSTANCE_TYPE_LABEL",
    "KIND",
    "LOG_OPERATORS",
    "LogMonitoringRule",
    "NEURON_RESOURCE",
    "EmptyDirVolume",
    "PvcVolume",
    "ReplicaSpec",
    "Resources",
    "RestartPolicy",
    "RunPolicy",
    "ShmVolume",
    "Toleration",
    "check_agent_argv",
    "check_log_rule",
    "check_nproc_per_node",
    "check_run_policy",
    "hyperpodrun_args",
    "task_governance_labels",
    "parse_quantity",
]

API_VERSION = "sagemaker.amazonaws.com/v1"
KIND = "HyperPodPyTorchJob"  # capital T: the CRD's kind; "HyperPodPytorchJob" is only the SDK class name
GPU_RESOURCE = "nvidia.com/gpu"
EFA_RESOURCE = "vpc.amazonaws.com/efa"
NEURON_RESOURCE = "aws.amazon.com/neurondevice"
HEALTH_STATUS_LABEL = "sagemaker.amazonaws.com/node-health-status"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
# The labels task governance schedules by (aws/sagemaker-hyperpod-cli cli/constants/command_constants.py
# KUEUE_QUEUE_NAME_LABEL_KEY, KUEUE_WORKLOAD_PRIORITY_CLASS_LABEL_KEY). In a quota team's namespace
# SageMaker's admission policy refuses pods without the queue label.
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
KUEUE_PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"

LogOperator = Literal["gt", "gteq", "lt", "lteq", "eq"]
CleanPodPolicy = Literal["All", "OnlyComplete", "None"]
LOG_OPERATORS: tuple[str, ...] = ("gt", "gteq", "lt", "lteq", "eq")
CLEAN_POD_POLICIES: tuple[str, ...] = ("All", "OnlyComplete", "None")
NPROC_KEYWORDS: tuple[str, ...] = ("auto", "cpu", "gpu")

# Where the elastic agent writes worker logs and where the operator's log-monitoring rules read
# them. The training-operator guide's troubleshooting ("Log Monitoring Not Working: ensure training
# logs are emitted to sys.stdout and saved at /tmp/hyperpod/") and awsome-distributed-training's
# 3.test_cases/pytorch/FSDP/kubernetes/llama3_1_8b-fsdp-hpto.yaml (--log_dir=/tmp/hyperpod).
AGENT_LOG_DIR = "/tmp/hyperpod"
# The flags hyperpodrun adds to torchrun's, with the agent's defaults when a flag is absent.
# Source: the guide's "HyperPod Elastic Agent Arguments" table (awslabs/ai-on-sagemaker-hyperpod,
# website/docs/04-add-ons/hp-training-operator/installation-and-usage.md) and the package page
# https://pypi.org/project/hyperpod-elastic-agent/ (--pre/post-train-script/-args).
AGENT_FLAG_DEFAULTS: dict[str, Any] = {
    "shutdown-signal": "SIGKILL",
    "shutdown-timeout": 30,
    "server-host": "0.0.0.0",
    "server-port": 8080,
    "server-log-level": "info",
    "server-shutdown-timeout": 300,
    "pre-train-script": None,
    "pre-train-args": None,
    "post-train-script": None,
    "post-train-args": None,
}
AGENT_LOG_LEVELS: tuple[str, ...] = ("critical", "error", "warning", "info", "debug", "trace")
# Flags hyperpodrun_args writes itself (the spec checks them against the replica spec).
_BUILDER_FLAGS = frozenset({"nnodes", "nproc-per-node", "tee", "log-dir"})
_SHELLS = frozenset({"sh", "bash", "dash", "zsh"})

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_RESOURCE_NAME = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
# CDK tokens (e.g. the account ID) render as ${Token[...]} until CloudFormation resolves them.
_CDK_TOKEN = re.compile(r"\$\{Token\[[^\]]+\]\}")
_IMAGE = re.compile(
    r"^(?:[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@sha256:[0-9a-f]{64})?$"
)
# Python-only regex syntax the operator's Go (RE2) engine rejects: lookaround, backreferences,
# atomic groups.
_NOT_RE2 = re.compile(r"\(\?(?:=|!|<=|<!|P=|>)|(?<!\\)\\[1-9]")
_QUANTITY = re.compile(
    r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
)
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
# Resource names Kubernetes itself defines; everything else with a domain is an extended resource.
_NATIVE_RESOURCES = {"cpu", "memory", "ephemeral-storage", "storage"}


def _fail(path: str, message: str) -> HyperPodConfigError:
    return HyperPodConfigError(path, message)


def _check_int(path: str, value: Any, minimum: int, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(path, f"must be an integer (got {value!r})")
    if value < minimum:
        bound = "positive" if minimum == 1 else f"at least {minimum}"
        raise _fail(path, f"must be {bound} (got {value})")


def _check_dns_label(path: str, value: Any, what: str = "name") -> None:
    if not isinstance(value, str) or len(value) > 63 or not _DNS_LABEL.match(value):
        raise _fail(path, f"{what} {value!r} must be a DNS-1123 label: at most 63 of [a-z0-9-], "
                          "starting and ending alphanumeric")


def _check_labels(path: str, labels: Mapping[str, str]) -> None:
    for key, value in labels.items():
        if not isinstance(key, str) or len(key) > 317 or not _LABEL_KEY.match(key):
            raise _fail(f"{path}[{key}]", f"{key!r} is not a valid label key")
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            raise _fail(f"{path}[{key}]", f"{value!r} is not a valid label value (at most 63 of [A-Za-z0-9-_.])")


def _compact(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Drop None and empty collections so manifests only carry what was set."""
    return {k: v for k, v in mapping.items() if v is not None and v != {} and v != []}


def _freeze_seq(obj: Any, name: str) -> None:
    value = getattr(obj, name)
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise _fail(name, f"must be a list (got {type(value).__name__})")
    object.__setattr__(obj, name, tuple(value))


def _freeze_map(obj: Any, name: str) -> None:
    value = getattr(obj, name)
    if not isinstance(value, Mapping):
        raise _fail(name, f"must be a mapping (got {type(value).__name__})")
    object.__setattr__(obj, name, dict(value))


# --------------------------------------------------------------------------------------------
# Rules shared with validate.py (they take plain values so hand-written YAML is checked the same way)


def _check_pattern(path: str, pattern: Any) -> re.Pattern[str]:
    if not isinstance(pattern, str) or not pattern:
        raise _fail(path, "must be a non-empty regular expression")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise _fail(path, f"{pattern!r} is not a valid regular expression ({exc})") from None
    if _NOT_RE2.search(pattern):
        raise _fail(path, f"{pattern!r} uses lookaround, backreferences or atomic groups, which the "
                          "operator's Go (RE2) regex engine does not support")
    return compiled


def check_log_rule(
    prefix: str,
    *,
    name: Any,
    log_pattern: Any,
    stop_pattern: Any = None,
    operator: Any = None,
    metric_threshold: Any = None,
    metric_evaluation_data_points: Any = None,
    expected_start_cutoff_seconds: Any = None,
    expected_recurring_frequency_seconds: Any = None,
) -> None:
    """Check one log-monitoring rule; ``prefix`` is the field path of the rule."""
    if not isinstance(name, str) or not name.strip():
        raise _fail(f"{prefix}.name", "a log-monitoring rule needs a non-empty name")
    compiled = _check_pattern(f"{prefix}.log_pattern", log_pattern)
    if stop_pattern is not None:
        _check_pattern(f"{prefix}.stop_pattern", stop_pattern)
    _check_int(f"{prefix}.expected_start_cutoff_seconds", expected_start_cutoff_seconds, 1, optional=True)
    _check_int(f"{prefix}.expected_recurring_frequency_seconds", expected_recurring_frequency_seconds, 1,
               optional=True)
    _check_int(f"{prefix}.metric_evaluation_data_points", metric_evaluation_data_points, 1, optional=True)
    if operator is not None and operator not in LOG_OPERATORS:
        raise _fail(f"{prefix}.operator", f"{operator!r} is not one of {', '.join(LOG_OPERATORS)}")
    if metric_threshold is not None:
        if isinstance(metric_threshold, bool) or not isinstance(metric_threshold, int):
            raise _fail(f"{prefix}.metric_threshold", f"must be an integer (got {metric_threshold!r})")
        if compiled.groups != 1:
            raise _fail(f"{prefix}.log_pattern", f"{log_pattern!r} needs exactly one capturing group to extract "
                                                 f"the value compared with metric_threshold (has {compiled.groups})")
        if operator is None:
            raise _fail(f"{prefix}.operator", "a metric_threshold needs an operator (gt, gteq, lt, lteq or eq)")
    elif operator is not None:
        raise _fail(f"{prefix}.metric_threshold", f"operator {operator!r} compares against metric_threshold, "
                                                  "which is not set")
    elif metric_evaluation_data_points is not None:
        raise _fail(f"{prefix}.metric_threshold", "metric_evaluation_data_points needs a metric_threshold")
    if expected_start_cutoff_seconds is None and expected_recurring_frequency_seconds is None \
            and metric_threshold is None:
        raise _fail(prefix, "the rule checks nothing; set expected_start_cutoff_seconds, "
                            "expected_recurring_frequency_seconds or metric_threshold")


def check_run_policy(
    prefix: str,
    *,
    clean_pod_policy: Any = None,
    job_max_retry_count: Any = None,
    eval_period_seconds: Any = ...,
    num_restart_before_full_job_restart: Any = None,
    max_full_job_restarts: Any = None,
    rule_names: Sequence[Any] = (),
) -> None:
    """Check run-policy values; ``eval_period_seconds=...`` (the default) means no restart policy."""
    if clean_pod_policy is not None and clean_pod_policy not in CLEAN_POD_POLICIES:
        raise _fail(f"{prefix}.clean_pod_policy",
                    f"{clean_pod_policy!r} is not one of {', '.join(CLEAN_POD_POLICIES)}")
    _check_int(f"{prefix}.job_max_retry_count", job_max_retry_count, 0, optional=True)
    if eval_period_seconds is not ...:
        _check_int(f"{prefix}.restart_policy.eval_period_seconds", eval_period_seconds, 1)
        _check_int(f"{prefix}.restart_policy.num_restart_before_full_job_restart",
                   num_restart_before_full_job_restart, 0, optional=True)
        _check_int(f"{prefix}.restart_policy.max_full_job_restarts", max_full_job_restarts, 0, optional=True)
    seen: set[Any] = set()
    for index, rule_name in enumerate(rule_names):
        if rule_name in seen:
            raise _fail(f"{prefix}.log_monitoring[{index}].name",
                        f"rule name {rule_name!r} is used twice; names must be unique")
        seen.add(rule_name)


def check_nproc_per_node(path: str, value: Any) -> str:
    """``nprocPerNode`` as the CRD wants it: a string holding a positive integer, auto, cpu or gpu."""
    if isinstance(value, bool):
        raise _fail(path, f"must be a positive integer or one of {', '.join(NPROC_KEYWORDS)} (got {value!r})")
    if isinstance(value, int):
        if value < 1:
            raise _fail(path, f"must be positive (got {value})")
        return str(value)
    if isinstance(value, str) and (value in NPROC_KEYWORDS or (value.isdigit() and int(value) >= 1)):
        return str(int(value)) if value.isdigit() else value
    raise _fail(path, f"must be a positive integer or one of {', '.join(NPROC_KEYWORDS)} (got {value!r})")


def parse_quantity(path: str, value: Any) -> Decimal:
    """A Kubernetes resource quantity (``500m``, ``64Gi``, ``8``) as a Decimal."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _fail(path, f"must be a quantity such as 8, 500m or 64Gi (got {value!r})")
    match = _QUANTITY.match(str(value))
    if not match:
        raise _fail(path, f"{value!r} is not a Kubernetes quantity (such as 8, 500m or 64Gi)")
    try:
        number = Decimal(match.group(1))
    except InvalidOperation:  # pragma: no cover - the regex admits only decimals
        raise _fail(path, f"{value!r} is not a Kubernetes quantity") from None
    suffix = match.group(2) or ""
    if suffix in _BINARY:
        return number * (Decimal(1024) ** _BINARY[suffix])
    if suffix in _DECIMAL:
        return number.scaleb(_DECIMAL[suffix])
    return number.scaleb(int(suffix[1:]))


def _is_extended(resource: str) -> bool:
    if resource in _NATIVE_RESOURCES or resource.startswith("hugepages-"):
        return False
    domain = resource.split("/", 1)[0] if "/" in resource else ""
    return bool(domain) and domain != "kubernetes.io" and not domain.endswith(".kubernetes.io")


# --------------------------------------------------------------------------------------------
# Run policy


@dataclass(frozen=True)
class LogMonitoringRule:
    """One ``runPolicy.logMonitoringConfiguration`` entry.

    A rule is active from its first log line until ``stop_pattern`` matches. It marks the job
    HANGING when ``log_pattern`` is not seen within ``expected_start_cutoff_seconds`` of the start or
    ``expected_recurring_frequency_seconds`` of the last match, and SLOW when the number captured by
    the pattern's single group compares with ``metric_threshold`` by ``operator`` for
    ``metric_evaluation_data_points`` consecutive matches.
    """

    name: str
    log_pattern: str
    expected_start_cutoff_seconds: int | None = None
    expected_recurring_frequency_seconds: int | None = None
    stop_pattern: str | None = None
    metric_threshold: int | None = None
    operator: LogOperator | None = None
    metric_evaluation_data_points: int | None = None

    def __post_init__(self) -> None:
        label = self.name if isinstance(self.name, str) and self.name.strip() else ""
        check_log_rule(
            f"log_monitoring[{label}]",
            name=self.name,
            log_pattern=self.log_pattern,
            stop_pattern=self.stop_pattern,
            operator=self.operator,
            metric_threshold=self.metric_threshold,
            metric_evaluation_data_points=self.metric_evaluation_data_points,
            expected_start_cutoff_seconds=self.expected_start_cutoff_seconds,
            expected_recurring_frequency_seconds=self.expected_recurring_frequency_seconds,
        )

    def to_manifest(self) -> dict[str, Any]:
        return _compact({
            "name": self.name,
            "logPattern": self.log_pattern,
            "stopPattern": self.stop_pattern,
            "expectedStartCutOffInSeconds": self.expected_start_cutoff_seconds,
            "expectedRecurringFrequencyInSeconds": self.expected_recurring_frequency_seconds,
            "metricThreshold": self.metric_threshold,
            "operator": self.operator,
            "metricEvaluationDataPoints": self.metric_evaluation_data_points,
        })


@dataclass(frozen=True)
class RestartPolicy:
    """``runPolicy.restartPolicy``: how many in-place restarts before a full job restart, per window."""

    eval_period_seconds: int = 21600
    num_restart_before_full_job_restart: int | None = 3
    max_full_job_restarts: int | None = 1

    def __post_init__(self) -> None:
        check_run_policy(
            "run_policy",
            eval_period_seconds=self.eval_period_seconds,
            num_restart_before_full_job_restart=self.num_restart_before_full_job_restart,
            max_full_job_restarts=self.max_full_job_restarts,
        )

    def to_manifest(self) -> dict[str, Any]:
        return _compact({
            "evalPeriodSeconds": self.eval_period_seconds,
            "numRestartBeforeFullJobRestart": self.num_restart_before_full_job_restart,
            "maxFullJobRestarts": self.max_full_job_restarts,
        })


@dataclass(frozen=True)
class RunPolicy:
    """``spec.runPolicy``. ``clean_pod_policy="None"`` keeps finished pods for their logs."""

    clean_pod_policy: CleanPodPolicy = "None"
    job_max_retry_count: int | None = None
    restart_policy: RestartPolicy | None = None
    log_monitoring: Sequence[LogMonitoringRule] = ()
    ttl_seconds_after_finished: int | None = None
    active_deadline_seconds: int | None = None

    def __post_init__(self) -> None:
        _freeze_seq(self, "log_monitoring")
        for index, rule in enumerate(self.log_monitoring):
            if not isinstance(rule, LogMonitoringRule):
                raise _fail(f"run_policy.log_monitoring[{index}]", "must be a LogMonitoringRule")
        if self.restart_policy is not None and not isinstance(self.restart_policy, RestartPolicy):
            raise _fail("run_policy.restart_policy", "must be a RestartPolicy")
        check_run_policy(
            "run_policy",
            clean_pod_policy=self.clean_pod_policy,
            job_max_retry_count=self.job_max_retry_count,
            rule_names=[rule.name for rule in self.log_monitoring],
        )
        _check_int("run_policy.ttl_seconds_after_finished", self.ttl_seconds_after_finished, 0, optional=True)
        _check_int("run_policy.active_deadline_seconds", self.active_deadline_seconds, 1, optional=True)

    def to_manifest(self) -> dict[str, Any]:
        return _compact({
            "cleanPodPolicy": self.clean_pod_policy,
            "jobMaxRetryCount": self.job_max_retry_count,
            "ttlSecondsAfterFinished": self.ttl_seconds_after_finished,
            "activeDeadlineSeconds": self.active_deadline_seconds,
            "restartPolicy": self.restart_policy.to_manifest() if self.restart_policy else None,
            "logMonitoringConfiguration": [rule.to_manifest() for rule in self.log_monitoring],
        })


# --------------------------------------------------------------------------------------------
# Pod template


@dataclass(frozen=True)
class Resources:
    """Container requests and limits.

    Extended resources (``nvidia.com/gpu``, ``vpc.amazonaws.com/efa``, Neuron devices) cannot be
    overcommitted: each must appear in both requests and limits with the same whole count.
    :meth:`for_accelerators` builds that for you.
    """

    requests: Mapping[str, int | str] = field(default_factory=dict)
    limits: Mapping[str, int | str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _freeze_map(self, "requests")
        _freeze_map(self, "limits")
        amounts: dict[str, dict[str, Decimal]] = {"requests": {}, "limits": {}}
        for kind in ("requests", "limits"):
            for name, value in getattr(self, kind).items():
                path = f"resources.{kind}[{name}]"
                if not isinstance(name, str) or not _RESOURCE_NAME.match(name):
                    raise _fail(path, f"{name!r} is not a resource name")
                if _is_extended(name):
                    if isinstance(value, bool) or not isinstance(value, int) and not (
                        isinstance(value, str) and value.lstrip("-").isdigit()
                    ):
                        raise _fail(path, f"an extended resource takes a whole count (got {value!r})")
                    if int(value) < 0:
                        raise _fail(path, f"count must be at least 0 (got {value})")
                amount = parse_quantity(path, value)
                if amount < 0:
                    raise _fail(path, f"must not be negative (got {value!r})")
                amounts[kind][name] = amount
        for name in sorted(set(amounts["requests"]) | set(amounts["limits"])):
            request, limit = amounts["requests"].get(name), amounts["limits"].get(name)
            if _is_extended(name):
                if request is None or limit is None or request != limit:
                    raise _fail(f"resources.limits[{name}]",
                                f"extended resource {name} needs equal requests and limits "
                                f"(requests {self.requests.get(name)!r}, limits {self.limits.get(name)!r})")
            elif request is not None and limit is not None and request > limit:
                raise _fail(f"resources.requests[{name}]",
                            f"request {self.requests[name]!r} exceeds limit {self.limits[name]!r}")

    @classmethod
    def for_accelerators(
        cls,
        *,
        cpu: int | str | None = None,
        memory: str | None = None,
        gpus: int = 0,
        efa: int = 0,
        neuron_devices: int = 0,
        cpu_limit: int | str | None = None,
        memory_limit: str | None = None,
    ) -> Resources:
        """GPUs, EFA interfaces and Neuron devices as equal requests/limits; CPU/memory as given."""
        _check_int("resources.gpus", gpus, 0)
        _check_int("resources.efa", efa, 0)
        _check_int("resources.neuron_devices", neuron_devices, 0)
        extended = {GPU_RESOURCE: gpus, EFA_RESOURCE: efa, NEURON_RESOURCE: neuron_devices}
        extended = {name: count for name, count in extended.items() if count}
        requests = _compact({"cpu": cpu, "memory": memory}) | extended
        limits = _compact({"cpu": cpu_limit, "memory": memory_limit}) | extended
        return cls(requests=requests, limits=limits)

    def count(self, resource: str) -> int:
        value = self.limits.get(resource, self.requests.get(resource, 0))
        return int(value)

    @property
    def gpus(self) -> int:
        return self.count(GPU_RESOURCE)

    @property
    def efa(self) -> int:
        return self.count(EFA_RESOURCE)

    def to_manifest(self) -> dict[str, Any]:
        return _compact({"requests": dict(self.requests), "limits": dict(self.limits)})


def _check_mount_path(path: str, value: Any) -> None:
    if not isinstance(value, str) or not value.startswith("/") or ":" in value:
        raise _fail(path, f"must be an absolute path (got {value!r})")


@dataclass(frozen=True)
class PvcVolume:
    """A PersistentVolumeClaim mounted into the container (e.g. FSx for Lustre at /fsx)."""

    claim_name: str
    mount_path: str
    name: str = "fsx"
    read_only: bool = False
    sub_path: str | None = None

    def __post_init__(self) -> None:
        _check_dns_label(f"volumes[{self.name}].name", self.name, "volume name")
        if not isinstance(self.claim_name, str) or len(self.claim_name) > 253 \
                or not _DNS_SUBDOMAIN.match(self.claim_name):
            raise _fail(f"volumes[{self.name}].claim_name", f"{self.claim_name!r} is not a valid claim name")
        _check_mount_path(f"volumes[{self.name}].mount_path", self.mount_path)

    def volume(self) -> dict[str, Any]:
        source: dict[str, Any] = {"claimName": self.claim_name}
        if self.read_only:
            source["readOnly"] = True
        return {"name": self.name, "persistentVolumeClaim": source}

    def mount(self) -> dict[str, Any]:
        return _compact({"name": self.name, "mountPath": self.mount_path,
                         "readOnly": True if self.read_only else None, "subPath": self.sub_path})


@dataclass(frozen=True)
class ShmVolume:
    """A memory-backed emptyDir at /dev/shm (NCCL and data loaders outgrow the 64 MiB default)."""

    size_limit: str | None = None
    name: str = "shm"
    mount_path: str = "/dev/shm"

    def __post_init__(self) -> None:
        _check_dns_label(f"volumes[{self.name}].name", self.name, "volume name")
        _check_mount_path(f"volumes[{self.name}].mount_path", self.mount_path)
        if self.size_limit is not None:
            parse_quantity(f"volumes[{self.name}].size_limit", self.size_limit)

    def volume(self) -> dict[str, Any]:
        return {"name": self.name, "emptyDir": _compact({"medium": "Memory", "sizeLimit": self.size_limit})}

    def mount(self) -> dict[str, Any]:
        return {"name": self.name, "mountPath": self.mount_path}


@dataclass(frozen=True)
class EmptyDirVolume:
    """A disk-backed emptyDir: scratch space that lives as long as the pod (checkpoints without FSx)."""

    name: str
    mount_path: str
    size_limit: str | None = None

    def __post_init__(self) -> None:
        _check_dns_label(f"volumes[{self.name}].name", self.name, "volume name")
        _check_mount_path(f"volumes[{self.name}].mount_path", self.mount_path)
        if self.size_limit is not None:
            parse_quantity(f"volumes[{self.name}].size_limit", self.size_limit)

    def volume(self) -> dict[str, Any]:
        return {"name": self.name, "emptyDir": _compact({"sizeLimit": self.size_limit})}

    def mount(self) -> dict[str, Any]:
        return {"name": self.name, "mountPath": self.mount_path}


Volume = PvcVolume | ShmVolume | EmptyDirVolume


@dataclass(frozen=True)
class Toleration:
    """A pod toleration, e.g. for taints set on a HyperPod instance group."""

    key: str | None = None
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None

    def __post_init__(self) -> None:
        if self.operator not in ("Equal", "Exists"):
            raise _fail("tolerations.operator", f"{self.operator!r} is not Equal or Exists")
        if self.operator == "Exists" and self.value:
            raise _fail("tolerations.value", "an Exists toleration takes no value")
        if self.operator == "Equal" and not self.key:
            raise _fail("tolerations.key", "an Equal toleration needs a key")
        if self.effect not in (None, "NoSchedule", "PreferNoSchedule", "NoExecute"):
            raise _fail("tolerations.effect", f"{self.effect!r} is not NoSchedule, PreferNoSchedule or NoExecute")

    def to_manifest(self) -> dict[str, Any]:
        return _compact({"key": self.key, "operator": self.operator, "value": self.value, "effect": self.effect})


def _check_image(path: str, image: Any) -> None:
    if not isinstance(image, str) or not image:
        raise _fail(path, "an image is required")
    if not _IMAGE.match(_CDK_TOKEN.sub("token", image)):
        raise _fail(path, f"{image!r} is not an image reference such as "
                          "123456789012.dkr.ecr.us-west-2.amazonaws.com/repo:tag (placeholders like "
                          "${REGISTRY} or <account> are not resolved here)")


@dataclass(frozen=True)
class Container:
    """The one container of a replica's pods."""

    image: str
    name: str = "pytorch"
    command: Sequence[str] = ()
    args: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    resources: Resources = field(default_factory=Resources)
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    working_dir: str | None = None
    agent_in_entrypoint: bool = False
    """The image's ENTRYPOINT starts ``hyperpodrun`` (``command`` left empty): log rules are allowed."""

    def __post_init__(self) -> None:
        prefix = f"container[{self.name}]"
        _check_dns_label(f"{prefix}.name", self.name, "container name")
        _check_image(f"{prefix}.image", self.image)
        _freeze_seq(self, "command")
        _freeze_seq(self, "args")
        _freeze_map(self, "env")
        for kind in ("command", "args"):
            for index, item in enumerate(getattr(self, kind)):
                if not isinstance(item, str):
                    raise _fail(f"{prefix}.{kind}[{index}]", f"must be a string (got {item!r})")
        for key, value in self.env.items():
            if not isinstance(key, str) or not _ENV_NAME.match(key):
                raise _fail(f"{prefix}.env[{key}]", f"{key!r} is not a valid environment variable name")
            if not isinstance(value, str):
                raise _fail(f"{prefix}.env[{key}]", f"values must be strings (got {value!r}); quote numbers")
        if not isinstance(self.resources, Resources):
            raise _fail(f"{prefix}.resources", "must be a Resources")
        if self.image_pull_policy not in ("Always", "IfNotPresent", "Never"):
            raise _fail(f"{prefix}.image_pull_policy", f"{self.image_pull_policy!r} is not Always, IfNotPresent "
                                                       "or Never")
        if self.working_dir is not None:
            _check_mount_path(f"{prefix}.working_dir", self.working_dir)
        if not isinstance(self.agent_in_entrypoint, bool):
            raise _fail(f"{prefix}.agent_in_entrypoint", f"must be true or false (got {self.agent_in_entrypoint!r})")
        if self.agent_in_entrypoint and self.command:
            raise _fail(f"{prefix}.agent_in_entrypoint", "the command replaces the image's ENTRYPOINT; leave "
                                                         "command empty, or run hyperpodrun in it")

    def agent_argv(self) -> list[str] | None:
        """The ``hyperpodrun`` arguments this container runs, or None when it does not run the agent.

        Knows ``command: [hyperpodrun]`` (or a path to it) and a shell ``-c`` script with a
        ``hyperpodrun`` line; an image ENTRYPOINT that runs it is declared with ``agent_in_entrypoint``.
        """
        if self.agent_in_entrypoint:
            return list(self.args)
        argv = [*self.command, *self.args]
        if not argv:
            return None
        if argv[0].rsplit("/", 1)[-1] == "hyperpodrun":
            return argv[1:]
        if argv[0].rsplit("/", 1)[-1] in _SHELLS and "-c" in argv[1:-1]:
            script = argv[argv.index("-c", 1) + 1]
            for line in script.splitlines():
                try:
                    words = shlex.split(line)
                except ValueError:
                    continue
                if "hyperpodrun" in words:
                    return words[words.index("hyperpodrun") + 1:]
        return None

    def to_manifest(self, mounts: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
        return _compact({
            "name": self.name,
            "image": self.image,
            "imagePullPolicy": self.image_pull_policy,
            "command": list(self.command),
            "args": list(self.args),
            "workingDir": self.working_dir,
            "env": [{"name": key, "value": value} for key, value in self.env.items()],
            "resources": self.resources.to_manifest(),
            "volumeMounts": list(mounts),
        })


@dataclass(frozen=True)
class ReplicaSpec:
    """One ``spec.replicaSpecs`` entry: ``replicas`` identical pods.

    With ``require_schedulable_nodes`` (the default) the pods require nodes HyperPod marks
    ``sagemaker.amazonaws.com/node-health-status=Schedulable``, so they never land on a node being
    checked or replaced; ``instance_type`` pins them to one ``ml.*`` type.
    """

    container: Container
    replicas: int = 1
    name: str = "pods"
    instance_type: str | None = None
    require_schedulable_nodes: bool = True
    volumes: Sequence[Volume] = ()
    tolerations: Sequence[Toleration] = ()
    node_selector: Mapping[str, str] = field(default_factory=dict)
    priority_class_name: str | None = None
    service_account_name: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        prefix = f"replica_specs[{self.name}]"
        _check_dns_label(f"{prefix}.name", self.name, "replica name")
        _check_int(f"{prefix}.replicas", self.replicas, 1)
        if not isinstance(self.container, Container):
            raise _fail(f"{prefix}.container", "must be a Container")
        _freeze_seq(self, "volumes")
        _freeze_seq(self, "tolerations")
        _freeze_map(self, "node_selector")
        _freeze_map(self, "labels")
        names: set[str] = set()
        paths: set[str] = set()
        for index, volume in enumerate(self.volumes):
            if not isinstance(volume, PvcVolume | ShmVolume | EmptyDirVolume):
                raise _fail(f"{prefix}.volumes[{index}]", "must be a PvcVolume, ShmVolume or EmptyDirVolume")
            if volume.name in names:
                raise _fail(f"{prefix}.volumes[{index}].name", f"volume name {volume.name!r} is used twice")
            if volume.mount_path in paths:
                raise _fail(f"{prefix}.volumes[{index}].mount_path", f"{volume.mount_path} is mounted twice")
            names.add(volume.name)
            paths.add(volume.mount_path)
        for index, toleration in enumerate(self.tolerations):
            if not isinstance(toleration, Toleration):
                raise _fail(f"{prefix}.tolerations[{index}]", "must be a Toleration")
        if self.instance_type is not None and not re.fullmatch(r"ml\.[a-z0-9-]+\.[a-z0-9]+", str(self.instance_type)):
            raise _fail(f"{prefix}.instance_type", f"{self.instance_type!r} is not a SageMaker instance type "
                                                   "such as ml.p5.48xlarge")
        _check_labels(f"{prefix}.node_selector", self.node_selector)
        _check_labels(f"{prefix}.labels", self.labels)
        for attr in ("priority_class_name", "service_account_name"):
            value = getattr(self, attr)
            if value is not None and (not isinstance(value, str) or not _DNS_SUBDOMAIN.match(value)):
                raise _fail(f"{prefix}.{attr}", f"{value!r} is not a valid name")

    def _affinity(self) -> dict[str, Any] | None:
        expressions = []
        if self.require_schedulable_nodes:
            expressions.append({"key": HEALTH_STATUS_LABEL, "operator": "In", "values": ["Schedulable"]})
        if self.instance_type:
            expressions.append({"key": INSTANCE_TYPE_LABEL, "operator": "In", "values": [self.instance_type]})
        if not expressions:
            return None
        return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": expressions}],
        }}}

    def pod_template(self) -> dict[str, Any]:
        """The ``template`` of this replica (a core/v1 PodTemplateSpec)."""
        spec = _compact({
            "affinity": self._affinity(),
            "nodeSelector": dict(self.node_selector),
            "tolerations": [t.to_manifest() for t in self.tolerations],
            "priorityClassName": self.priority_class_name,
            "serviceAccountName": self.service_account_name,
            "containers": [self.container.to_manifest([v.mount() for v in self.volumes])],
            "volumes": [v.volume() for v in self.volumes],
        })
        template: dict[str, Any] = {"spec": spec}
        if self.labels:
            template = {"metadata": {"labels": dict(self.labels)}, **template}
        return template

    def to_manifest(self) -> dict[str, Any]:
        return {"name": self.name, "replicas": self.replicas, "template": self.pod_template()}


# --------------------------------------------------------------------------------------------
# The job


def _check_signal(path: str, value: Any) -> None:
    if not isinstance(value, str) or value not in signal.Signals.__members__:
        raise _fail(path, f"{value!r} is not a signal name such as SIGTERM or SIGKILL")


def _check_seconds(path: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(path, f"must be a whole number of seconds, 0 or more (got {value!r})")


def _check_port(path: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise _fail(path, f"must be a TCP port, 1-65535 (got {value!r})")


@dataclass(frozen=True)
class ElasticAgentOptions:
    """The flags ``hyperpodrun`` (the HyperPod elastic agent) adds to torchrun's, typed.

    Defaults are the agent's own (see :data:`AGENT_FLAG_DEFAULTS` for the source); only values that
    differ from them are written, except the server address, which is always written so the
    operator and the pod agree on it.

    - ``shutdown_signal`` (``SIGKILL``): the signal sent to workers to stop them.
    - ``shutdown_timeout`` (30 s): time between SIGTERM and SIGKILL.
    - ``server_host`` (``0.0.0.0``) / ``server_port`` (8080): where the agent serves the operator.
    - ``server_log_level`` (``info``): the agent server's log level.
    - ``server_shutdown_timeout`` (300 s): how long the agent server takes to shut down.
    - ``pre_train_script`` / ``pre_train_args`` (none): a script run before training, and its
      arguments as one string; ``post_train_script`` / ``post_train_args`` likewise after it.
    """

    shutdown_signal: str = "SIGKILL"
    shutdown_timeout: int = 30
    server_host: str = "0.0.0.0"
    server_port: int = 8080
    server_log_level: str = "info"
    server_shutdown_timeout: int = 300
    pre_train_script: str | None = None
    pre_train_args: str | None = None
    post_train_script: str | None = None
    post_train_args: str | None = None

    def __post_init__(self) -> None:
        check_agent_values("agent", {key.replace("_", "-"): getattr(self, key) for key in _AGENT_FIELDS},
                           parsed=True)

    def to_args(self) -> list[str]:
        args = [f"--server-host={self.server_host}", f"--server-port={self.server_port}"]
        for key in _AGENT_FIELDS:
            flag = key.replace("_", "-")
            value = getattr(self, key)
            if flag in ("server-host", "server-port") or value is None or value == AGENT_FLAG_DEFAULTS[flag]:
                continue
            args.append(f"--{flag}={value}")
        return args


_AGENT_FIELDS: tuple[str, ...] = tuple(flag.replace("-", "_") for flag in AGENT_FLAG_DEFAULTS)


def check_agent_values(prefix: str, flags: Mapping[str, Any], *, parsed: bool = False) -> None:
    """Check elastic-agent flag values; ``flags`` maps ``shutdown-timeout`` style names to values.

    From a command line (``parsed=False``) values are strings; the field named in an error is
    ``<prefix>`` plus the attribute (``agent.shutdown_timeout``) or the flag (``--shutdown-timeout``).
    """
    def where(flag: str) -> str:
        return f"{prefix}.{flag.replace('-', '_')}" if parsed else f"{prefix} --{flag}"

    def number(flag: str) -> Any:
        value = flags[flag]
        if not parsed and isinstance(value, str) and value.isdigit():
            return int(value)
        return value

    if "shutdown-signal" in flags:
        _check_signal(where("shutdown-signal"), flags["shutdown-signal"])
    for flag in ("shutdown-timeout", "server-shutdown-timeout"):
        if flag in flags:
            _check_seconds(where(flag), number(flag))
    if "server-port" in flags:
        _check_port(where("server-port"), number("server-port"))
    if "server-host" in flags and (not isinstance(flags["server-host"], str) or not flags["server-host"]):
        raise _fail(where("server-host"), "must be an address to listen on, such as 0.0.0.0")
    if "server-log-level" in flags and flags["server-log-level"] not in AGENT_LOG_LEVELS:
        raise _fail(where("server-log-level"),
                    f"{flags['server-log-level']!r} is not one of {', '.join(AGENT_LOG_LEVELS)}")
    for stage in ("pre-train", "post-train"):
        script, args = flags.get(f"{stage}-script"), flags.get(f"{stage}-args")
        if script is not None and (not isinstance(script, str) or not script):
            raise _fail(where(f"{stage}-script"), "must be the path of a script in the image")
        if args is not None and not isinstance(args, str):
            raise _fail(where(f"{stage}-args"), "must be one string of arguments, such as \"a b c\"")
        if args is not None and script is None:
            raise _fail(where(f"{stage}-args"), f"is passed to the {stage} script, which is not set; "
                                                f"set {stage}-script too")


def _agent_flags(argv: Sequence[str]) -> dict[str, str]:
    """``--flag=value`` and ``--flag value`` options before the script in a hyperpodrun command line.

    Names are normalised to dashes (``--log_dir`` is ``log-dir``). A known agent flag takes the next
    word as its value; any other ``--flag value`` pair is a torchrun option whose value is not needed.
    """
    flags: dict[str, str] = {}
    index = 0
    while index < len(argv):
        item = argv[index]
        if not item.startswith("--"):
            break
        key, sep, value = item[2:].partition("=")
        key = key.replace("_", "-")
        if sep:
            flags[key] = value
        elif key in AGENT_FLAG_DEFAULTS or key in _BUILDER_FLAGS or key == "rdzv-backend":
            if index + 1 < len(argv):
                flags[key] = argv[index + 1]
                index += 1
        index += 1
    return flags


def check_agent_argv(prefix: str, argv: Sequence[str], *, log_rules: bool) -> dict[str, str]:
    """Check the agent's flags in a hyperpodrun command line; returns them (dash-named).

    The log directory must be the one the agent and the log-monitoring rules use
    (:data:`AGENT_LOG_DIR`); with log-monitoring rules it must be given.
    """
    flags = _agent_flags(argv)
    check_agent_values(prefix, {k: v for k, v in flags.items() if k in AGENT_FLAG_DEFAULTS})
    log_dir = flags.get("log-dir")
    if log_dir is not None and log_dir.rstrip("/") != AGENT_LOG_DIR:
        raise _fail(f"{prefix} --log_dir", f"{log_dir} is not {AGENT_LOG_DIR}, where the elastic agent saves the "
                                           "worker logs the log-monitoring rules read; use "
                                           f"--log_dir={AGENT_LOG_DIR}")
    if log_dir is None and log_rules:
        raise _fail(f"{prefix} --log_dir", f"log-monitoring rules read the worker logs the agent saves in "
                                           f"{AGENT_LOG_DIR}; add --log_dir={AGENT_LOG_DIR} (and --tee=3)")
    return flags


def hyperpodrun_args(
    *,
    nnodes: int,
    nproc_per_node: int | str,
    script: str,
    script_args: Sequence[str] = (),
    server_host: str = "0.0.0.0",
    server_port: int = 8080,
    tee: int = 3,
    log_dir: str = AGENT_LOG_DIR,
    agent_args: Sequence[str] = (),
    agent: ElasticAgentOptions | None = None,
) -> list[str]:
    """Arguments for ``command: [hyperpodrun]``: the elastic-agent flags, then the script and its args.

    The agent serves the operator on ``server_host:server_port``; ``tee=3`` copies worker stdout and
    stderr to the container log, and the agent saves them in ``log_dir``, which must be
    ``/tmp/hyperpod`` (what the log-monitoring rules read). The agent's own flags are typed in
    ``agent`` (:class:`ElasticAgentOptions`); ``agent_args`` is for torchrun options only.
    """
    _check_int("hyperpodrun.nnodes", nnodes, 1)
    nproc = check_nproc_per_node("hyperpodrun.nproc_per_node", nproc_per_node)
    _check_port("hyperpodrun.server_port", server_port)
    if not isinstance(script, str) or not script:
        raise _fail("hyperpodrun.script", "the training script path is required")
    if not isinstance(log_dir, str) or log_dir.rstrip("/") != AGENT_LOG_DIR:
        raise _fail("hyperpodrun.log_dir", f"{log_dir!r} is not {AGENT_LOG_DIR}, where the elastic agent saves the "
                                           "worker logs the log-monitoring rules read; leave the default")
    if agent is None:
        agent = ElasticAgentOptions(server_host=server_host, server_port=server_port)
    elif not isinstance(agent, ElasticAgentOptions):
        raise _fail("hyperpodrun.agent", "must be an ElasticAgentOptions")
    elif (server_host, server_port) != ("0.0.0.0", 8080):
        raise _fail("hyperpodrun.server_port", "give the server address in agent=ElasticAgentOptions(...) only")
    for index, item in enumerate(agent_args):
        if not isinstance(item, str):
            raise _fail(f"hyperpodrun.agent_args[{index}]", f"must be a string (got {item!r})")
        key = item[2:].partition("=")[0].replace("_", "-") if item.startswith("--") else ""
        if key in AGENT_FLAG_DEFAULTS:
            raise _fail(f"hyperpodrun.agent_args[{index}]", f"--{key} is typed: pass "
                        f"agent=ElasticAgentOptions({key.replace('-', '_')}=...) instead")
        if key in _BUILDER_FLAGS:
            raise _fail(f"hyperpodrun.agent_args[{index}]", f"--{key} is set by hyperpodrun_args itself; "
                        "use its keyword argument")
    return [
        f"--nnodes={nnodes}",
        f"--nproc-per-node={nproc}",
        *agent.to_args(),
        f"--tee={tee}",
        f"--log_dir={AGENT_LOG_DIR}",
        *agent_args,
        script,
        *script_args,
    ]


def _on_neuron(replica: ReplicaSpec) -> bool:
    """A Trainium instance type, or Neuron devices requested (aws.amazon.com/neuron*)."""
    if replica.instance_type and neuron.is_trainium(replica.instance_type):
        return True
    resources = replica.container.resources
    return any(name.startswith("aws.amazon.com/neuron") and int(count) > 0
               for name, count in {**resources.requests, **resources.limits}.items())


@dataclass(frozen=True)
class HyperPodPyTorchJobSpec:
    """A whole ``HyperPodPyTorchJob``: metadata, replicas, ``nprocPerNode`` and the run policy.

    ``queue_name`` / ``kueue_priority_class`` set the Kueue labels task governance schedules by
    (the queue is the team's SageMaker-managed LocalQueue ``hyperpod-ns-<team>-localqueue``, the
    priority a WorkloadPriorityClass ``<class>-priority``); :func:`task_governance_labels` derives
    both from a team and a priority class. A priority without a queue is refused: Kueue ignores
    workloads that name no queue.

    ``model_architecture`` declares what the job trains (a Hugging Face ``model_type`` such as
    ``qwen3``, or a family name): a job on Trainium (an ``ml.trn*`` instance type or Neuron devices
    requested) is refused when the Neuron table (:mod:`hyperpod_cdk.specs.neuron`, the data behind
    ``hyperpod-cdk neuron check``) says the architecture does not train there, or does not know it.
    """

    name: str
    namespace: str
    replica_specs: Sequence[ReplicaSpec]
    nproc_per_node: int | str = "auto"
    run_policy: RunPolicy = field(default_factory=RunPolicy)
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    queue_name: str | None = None
    kueue_priority_class: str | None = None
    model_architecture: str | None = None

    def __post_init__(self) -> None:
        _check_dns_label("job.name", self.name, "job name")
        _check_dns_label("job.namespace", self.namespace, "namespace")
        object.__setattr__(self, "nproc_per_node", check_nproc_per_node("job.nproc_per_node", self.nproc_per_node))
        _freeze_seq(self, "replica_specs")
        _freeze_map(self, "labels")
        _freeze_map(self, "annotations")
        _check_labels("job.labels", self.labels)
        if not isinstance(self.run_policy, RunPolicy):
            raise _fail("job.run_policy", "must be a RunPolicy")
        if not self.replica_specs:
            raise _fail("job.replica_specs", "a job needs at least one replica spec")
        seen: set[str] = set()
        for index, replica in enumerate(self.replica_specs):
            if not isinstance(replica, ReplicaSpec):
                raise _fail(f"job.replica_specs[{index}]", "must be a ReplicaSpec")
            if replica.name in seen:
                raise _fail(f"job.replica_specs[{index}].name", f"replica name {replica.name!r} is used twice")
            seen.add(replica.name)
            self._check_agent(replica)
        self._check_log_rules_have_agent()
        self._check_neuron_architecture()
        for attr in ("queue_name", "kueue_priority_class"):
            value = getattr(self, attr)
            if value is not None and (not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value)
                                      or not value):
                raise _fail(f"job.{attr}", f"{value!r} is not a valid queue or priority-class name")
        if self.kueue_priority_class and not self.queue_name:
            raise _fail("job.kueue_priority_class", "needs queue_name: Kueue schedules only workloads with a queue")

    def _check_neuron_architecture(self) -> None:
        if self.model_architecture is None:
            return
        if not isinstance(self.model_architecture, str) or not self.model_architecture.strip():
            raise _fail("job.model_architecture", "must be a model_type such as qwen3, or a family name such as Llama")
        on_neuron = [r for r in self.replica_specs if _on_neuron(r)]
        if not on_neuron:
            return
        arch = neuron.find(self.model_architecture)
        where = f"replica {on_neuron[0].name!r} runs on Trainium"
        if arch is None:
            raise _fail("job.model_architecture", f"{self.model_architecture!r} is not in the Neuron architecture "
                        f"table, so Trainium support cannot be checked ({where}); use a model_type such as "
                        f"{', '.join(a.model_type for a in neuron.architectures().values() if a.training.supported)}, "
                        "or leave model_architecture unset")
        if not arch.training.supported:
            trainable = ", ".join(a.model_type for a in neuron.architectures().values() if a.training.supported)
            raise _fail("job.model_architecture", f"{arch.display} has no Neuron training support ({where}; "
                        f"`hyperpod-cdk neuron check {arch.model_type}` shows the sources); train it on GPU "
                        f"instance types, or pick an architecture Trainium trains: {trainable}")

    def _check_log_rules_have_agent(self) -> None:
        # The operator learns of worker logs through the elastic agent in the pod; a pod that does not
        # run hyperpodrun never reports, so its rules never fire (the guide's "Jobs not starting:
        # check that the HyperPod elastic agent is properly installed in your training image").
        if not self.run_policy.log_monitoring:
            return
        if any(replica.container.agent_argv() is not None for replica in self.replica_specs):
            return
        replica = self.replica_specs[0]
        command = [*replica.container.command][:1] or ["the image's ENTRYPOINT"]
        raise _fail("job.run_policy.log_monitoring",
                    f"log-monitoring rules need the HyperPod elastic agent, but no replica runs hyperpodrun "
                    f"(replica {replica.name!r} runs {command[0]}); start the training with "
                    "command=['hyperpodrun'] and hyperpodrun_args(...), set Container(agent_in_entrypoint=True) "
                    "if the image's ENTRYPOINT runs it, or drop the rules")

    def _check_agent(self, replica: ReplicaSpec) -> None:
        container = replica.container
        agent_argv = container.agent_argv()
        if agent_argv is None or container.agent_in_entrypoint:
            return  # an ENTRYPOINT's flags are not visible here
        prefix = f"replica_specs[{replica.name}].container[{container.name}].args"
        flags = check_agent_argv(prefix, agent_argv, log_rules=bool(self.run_policy.log_monitoring))
        nnodes = flags.get("nnodes")
        if nnodes is not None and ":" not in nnodes and nnodes != str(replica.replicas):
            raise _fail(prefix, f"hyperpodrun --nnodes={nnodes} but the replica spec has {replica.replicas} replicas")
        nproc = flags.get("nproc-per-node")
        if nproc is not None and self.nproc_per_node not in NPROC_KEYWORDS and nproc != self.nproc_per_node:
            raise _fail(prefix, f"hyperpodrun --nproc-per-node={nproc} but nproc_per_node is {self.nproc_per_node}")
        gpus = container.resources.gpus
        if str(self.nproc_per_node).isdigit() and gpus and int(self.nproc_per_node) > gpus:
            raise _fail("job.nproc_per_node", f"{self.nproc_per_node} processes per node but replica "
                                              f"{replica.name!r} requests only {gpus} GPUs")

    def to_manifest(self) -> dict[str, Any]:
        """The resource as a plain dict (apiVersion, kind, metadata, spec)."""
        labels = dict(self.labels)
        if self.queue_name:
            labels[KUEUE_QUEUE_LABEL] = self.queue_name
        if self.kueue_priority_class:
            labels[KUEUE_PRIORITY_LABEL] = self.kueue_priority_class
        metadata = _compact({
            "name": self.name,
            "namespace": self.namespace,
            "labels": labels,
            "annotations": dict(self.annotations),
        })
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": metadata,
            "spec": {
                "nprocPerNode": self.nproc_per_node,
                "replicaSpecs": [replica.to_manifest() for replica in self.replica_specs],
                "runPolicy": self.run_policy.to_manifest(),
            },
        }


class HyperPodPyTorchJob(Construct):
    """Renders a :class:`HyperPodPyTorchJobSpec` into the enclosing cdk8s chart.

    ``cdk8s.ApiObject`` takes no ``spec``, so the spec is added with a JSON patch.
    """

    def __init__(self, scope: Construct, id: str, *, spec: HyperPodPyTorchJobSpec) -> None:
        super().__init__(scope, id)
        if not isinstance(spec, HyperPodPyTorchJobSpec):
            raise _fail("spec", "must be a HyperPodPyTorchJobSpec")
        self.spec = spec
        manifest = spec.to_manifest()
        self.api_object = cdk8s.ApiObject(
            self, "Resource", api_version=API_VERSION, kind=KIND, metadata=manifest["metadata"]
        )
        self.api_object.add_json_patch(cdk8s.JsonPatch.add("/spec", manifest["spec"]))

    @property
    def name(self) -> str:
        return self.spec.name


class HyperPodJobChart(cdk8s.Chart):
    """A chart holding one or more HyperPodPyTorchJobs (one chart per example job in ``dist/jobs``)."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        jobs: Sequence[HyperPodPyTorchJobSpec],
        labels: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(scope, id, labels=dict(labels or {}), disable_resource_name_hashes=True)
        if not jobs:
            raise _fail("jobs", "a job chart needs at least one job")
        seen: set[tuple[str, str]] = set()
        self.jobs: list[HyperPodPyTorchJob] = []
        for index, spec in enumerate(jobs):
            if not isinstance(spec, HyperPodPyTorchJobSpec):
                raise _fail(f"jobs[{index}]", "must be a HyperPodPyTorchJobSpec")
            key = (spec.namespace, spec.name)
            if key in seen:
                raise _fail(f"jobs[{index}].name", f"job {spec.namespace}/{spec.name} is defined twice")
            seen.add(key)
            self.jobs.append(HyperPodPyTorchJob(self, spec.name, spec=spec))


def task_governance_labels(team: Any, priority_class: Any = None) -> dict[str, str]:
    """``queue_name`` and ``kueue_priority_class`` for a job of ``team`` (a config ``Team``).

    The team must have a compute quota (only those get a SageMaker-managed queue) and the class, if
    given, a weight (only those become WorkloadPriorityClasses). Returns keyword arguments for
    :class:`HyperPodPyTorchJobSpec`.
    """
    queue = getattr(team, "queue_name", None)
    if not queue:
        raise _fail("team", f"team '{getattr(team, 'name', team)}' has no compute_quota, so no task-governance queue")
    out = {"queue_name": queue}
    if priority_class is not None:
        workload_class = getattr(priority_class, "workload_priority_class", None)
        if not workload_class:
            raise _fail("priority_class", f"'{getattr(priority_class, 'name', priority_class)}' has no weight, so "
                                          "it is not a task-governance priority class")
        out["kueue_priority_class"] = workload_class
    return out
