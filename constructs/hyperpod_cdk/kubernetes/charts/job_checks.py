"""The constants and value checks of the HyperPodPyTorchJob builder (``jobs.py``): names, labels, quantities,
log rules, run-policy bounds. Each check raises one :class:`~hyperpod_cdk.errors.HyperPodConfigError`."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.specs.kubernetes_names import is_dns_label

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

# The environment variables NVIDIA's container toolkit reads to pick the devices it mounts into a
# container ("Environment variables (OCI spec)",
# https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/docker-specialized.html).
# With the toolkit's default (accept-nvidia-visible-devices-envvar-when-unprivileged = true) a pod
# that sets one gets those GPUs without requesting nvidia.com/gpu, outside the scheduler and the
# team's quota (NVIDIA/k8s-device-plugin README, "Preventing unprivileged access to GPUs"; R8P-M3).
# GPUs come from the resource request, which the device plugin turns into this variable itself.
TOOLKIT_DEVICE_ENV = frozenset(
    {"NVIDIA_VISIBLE_DEVICES", "NVIDIA_MIG_CONFIG_DEVICES", "NVIDIA_MIG_MONITOR_DEVICES", "NVIDIA_IMEX_CHANNELS"}
)
# What a container that requests no GPU gets instead: "void" (or empty or unset) makes the NVIDIA
# runtime behave like runc, no GPU ("Environment variables (OCI spec)", same page). Pod env wins over
# the image's ENV, so this also cancels the NVIDIA_VISIBLE_DEVICES=all that CUDA base images carry.
NO_GPU_ENV = ("NVIDIA_VISIBLE_DEVICES", "void")
NVIDIA_RESOURCE_PREFIX = "nvidia.com/"

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
_QUANTITY = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$")
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
    if not is_dns_label(value):
        raise _fail(
            path,
            f"{what} {value!r} must be a DNS-1123 label: at most 63 of [a-z0-9-], " "starting and ending alphanumeric",
        )


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
        raise _fail(
            path,
            f"{pattern!r} uses lookaround, backreferences or atomic groups, which the "
            "operator's Go (RE2) regex engine does not support",
        )
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
    _check_int(f"{prefix}.expected_recurring_frequency_seconds", expected_recurring_frequency_seconds, 1, optional=True)
    _check_int(f"{prefix}.metric_evaluation_data_points", metric_evaluation_data_points, 1, optional=True)
    if operator is not None and operator not in LOG_OPERATORS:
        raise _fail(f"{prefix}.operator", f"{operator!r} is not one of {', '.join(LOG_OPERATORS)}")
    if metric_threshold is not None:
        if isinstance(metric_threshold, bool) or not isinstance(metric_threshold, int):
            raise _fail(f"{prefix}.metric_threshold", f"must be an integer (got {metric_threshold!r})")
        if compiled.groups != 1:
            raise _fail(
                f"{prefix}.log_pattern",
                f"{log_pattern!r} needs exactly one capturing group to extract "
                f"the value compared with metric_threshold (has {compiled.groups})",
            )
        if operator is None:
            raise _fail(f"{prefix}.operator", "a metric_threshold needs an operator (gt, gteq, lt, lteq or eq)")
    elif operator is not None:
        raise _fail(
            f"{prefix}.metric_threshold",
            f"operator {operator!r} compares against metric_threshold, " "which is not set",
        )
    elif metric_evaluation_data_points is not None:
        raise _fail(f"{prefix}.metric_threshold", "metric_evaluation_data_points needs a metric_threshold")
    if (
        expected_start_cutoff_seconds is None
        and expected_recurring_frequency_seconds is None
        and metric_threshold is None
    ):
        raise _fail(
            prefix,
            "the rule checks nothing; set expected_start_cutoff_seconds, "
            "expected_recurring_frequency_seconds or metric_threshold",
        )


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
        raise _fail(f"{prefix}.clean_pod_policy", f"{clean_pod_policy!r} is not one of {', '.join(CLEAN_POD_POLICIES)}")
    _check_int(f"{prefix}.job_max_retry_count", job_max_retry_count, 0, optional=True)
    if eval_period_seconds is not ...:
        _check_int(f"{prefix}.restart_policy.eval_period_seconds", eval_period_seconds, 1)
        _check_int(
            f"{prefix}.restart_policy.num_restart_before_full_job_restart",
            num_restart_before_full_job_restart,
            0,
            optional=True,
        )
        _check_int(f"{prefix}.restart_policy.max_full_job_restarts", max_full_job_restarts, 0, optional=True)
    seen: set[Any] = set()
    for index, rule_name in enumerate(rule_names):
        if rule_name in seen:
            raise _fail(
                f"{prefix}.log_monitoring[{index}].name", f"rule name {rule_name!r} is used twice; names must be unique"
            )
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
