"""The parts of a HyperPodPyTorchJob (``jobs.py``): run policy, log-monitoring rules, resources, volumes,
tolerations, the container and a replica spec. Frozen dataclasses that check themselves."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any, Literal

from hyperpod_cdk.kubernetes.charts.job_checks import (
    _CDK_TOKEN,
    _ENV_NAME,
    _IMAGE,
    _RESOURCE_NAME,
    _SHELLS,
    EFA_RESOURCE,
    GPU_RESOURCE,
    HEALTH_STATUS_LABEL,
    INSTANCE_TYPE_LABEL,
    NEURON_RESOURCE,
    NO_GPU_ENV,
    NVIDIA_RESOURCE_PREFIX,
    TOOLKIT_DEVICE_ENV,
    CleanPodPolicy,
    LogOperator,
    _check_dns_label,
    _check_int,
    _check_labels,
    _compact,
    _fail,
    _freeze_map,
    _freeze_seq,
    _is_extended,
    check_log_rule,
    check_run_policy,
    parse_quantity,
)
from hyperpod_cdk.specs.kubernetes_names import DNS_SUBDOMAIN, is_dns_subdomain

# --------------------------------------------------------------------------------------------
# Run policy

# Manifest key of each field, in the order the manifest lists them.
_LOG_RULE_KEYS = {
    "name": "name",
    "log_pattern": "logPattern",
    "stop_pattern": "stopPattern",
    "expected_start_cutoff_seconds": "expectedStartCutOffInSeconds",
    "expected_recurring_frequency_seconds": "expectedRecurringFrequencyInSeconds",
    "metric_threshold": "metricThreshold",
    "operator": "operator",
    "metric_evaluation_data_points": "metricEvaluationDataPoints",
}
_RESTART_POLICY_KEYS = {
    "eval_period_seconds": "evalPeriodSeconds",
    "num_restart_before_full_job_restart": "numRestartBeforeFullJobRestart",
    "max_full_job_restarts": "maxFullJobRestarts",
}


def _field_values(obj: Any) -> dict[str, Any]:
    """A dataclass's fields by name, as they are (``dataclasses.asdict`` would copy them)."""
    return {item.name: getattr(obj, item.name) for item in fields(obj)}


def _manifest(obj: Any, keys: Mapping[str, str]) -> dict[str, Any]:
    """The fields of ``obj`` that are set, under their manifest keys."""
    return _compact({key: getattr(obj, name) for name, key in keys.items()})


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
        check_log_rule(f"log_monitoring[{label}]", **_field_values(self))

    def to_manifest(self) -> dict[str, Any]:
        return _manifest(self, _LOG_RULE_KEYS)


@dataclass(frozen=True)
class RestartPolicy:
    """``runPolicy.restartPolicy``: how many in-place restarts before a full job restart, per window."""

    eval_period_seconds: int = 21600
    num_restart_before_full_job_restart: int | None = 3
    max_full_job_restarts: int | None = 1

    def __post_init__(self) -> None:
        check_run_policy("run_policy", **_field_values(self))

    def to_manifest(self) -> dict[str, Any]:
        return _manifest(self, _RESTART_POLICY_KEYS)


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
        return _compact(
            {
                "cleanPodPolicy": self.clean_pod_policy,
                "jobMaxRetryCount": self.job_max_retry_count,
                "ttlSecondsAfterFinished": self.ttl_seconds_after_finished,
                "activeDeadlineSeconds": self.active_deadline_seconds,
                "restartPolicy": self.restart_policy.to_manifest() if self.restart_policy else None,
                "logMonitoringConfiguration": [rule.to_manifest() for rule in self.log_monitoring],
            }
        )


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
                    if (
                        isinstance(value, bool)
                        or not isinstance(value, int)
                        and not (isinstance(value, str) and value.lstrip("-").isdigit())
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
                    raise _fail(
                        f"resources.limits[{name}]",
                        f"extended resource {name} needs equal requests and limits "
                        f"(requests {self.requests.get(name)!r}, limits {self.limits.get(name)!r})",
                    )
            elif request is not None and limit is not None and request > limit:
                raise _fail(
                    f"resources.requests[{name}]",
                    f"request {self.requests[name]!r} exceeds limit {self.limits[name]!r}",
                )

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
        if not is_dns_subdomain(self.claim_name):
            raise _fail(f"volumes[{self.name}].claim_name", f"{self.claim_name!r} is not a valid claim name")
        _check_mount_path(f"volumes[{self.name}].mount_path", self.mount_path)

    def volume(self) -> dict[str, Any]:
        source: dict[str, Any] = {"claimName": self.claim_name}
        if self.read_only:
            source["readOnly"] = True
        return {"name": self.name, "persistentVolumeClaim": source}

    def mount(self) -> dict[str, Any]:
        return _compact(
            {
                "name": self.name,
                "mountPath": self.mount_path,
                "readOnly": True if self.read_only else None,
                "subPath": self.sub_path,
            }
        )


def _check_empty_dir(volume: ShmVolume | EmptyDirVolume) -> None:
    _check_dns_label(f"volumes[{volume.name}].name", volume.name, "volume name")
    _check_mount_path(f"volumes[{volume.name}].mount_path", volume.mount_path)
    if volume.size_limit is not None:
        parse_quantity(f"volumes[{volume.name}].size_limit", volume.size_limit)


@dataclass(frozen=True)
class ShmVolume:
    """A memory-backed emptyDir at /dev/shm (NCCL and data loaders outgrow the 64 MiB default)."""

    size_limit: str | None = None
    name: str = "shm"
    mount_path: str = "/dev/shm"

    def __post_init__(self) -> None:
        _check_empty_dir(self)

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
        _check_empty_dir(self)

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
        raise _fail(
            path,
            f"{image!r} is not an image reference such as "
            "123456789012.dkr.ecr.us-west-2.amazonaws.com/repo:tag (placeholders like "
            "${REGISTRY} or <account> are not resolved here)",
        )


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
            if key in TOOLKIT_DEVICE_ENV:
                raise _fail(f"{prefix}.env[{key}]", f"remove it: request GPUs with resources ({GPU_RESOURCE})")
        if not isinstance(self.resources, Resources):
            raise _fail(f"{prefix}.resources", "must be a Resources")
        if self.image_pull_policy not in ("Always", "IfNotPresent", "Never"):
            raise _fail(
                f"{prefix}.image_pull_policy", f"{self.image_pull_policy!r} is not Always, IfNotPresent " "or Never"
            )
        if self.working_dir is not None:
            _check_mount_path(f"{prefix}.working_dir", self.working_dir)
        if not isinstance(self.agent_in_entrypoint, bool):
            raise _fail(f"{prefix}.agent_in_entrypoint", f"must be true or false (got {self.agent_in_entrypoint!r})")
        if self.agent_in_entrypoint and self.command:
            raise _fail(
                f"{prefix}.agent_in_entrypoint",
                "the command replaces the image's ENTRYPOINT; leave " "command empty, or run hyperpodrun in it",
            )

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
                    return words[words.index("hyperpodrun") + 1 :]
        return None

    def _no_gpu_env(self) -> list[dict[str, str]]:
        # CUDA base images set NVIDIA_VISIBLE_DEVICES=all in the image; a container that requests no
        # NVIDIA resource (nvidia.com/gpu, or a MIG profile nvidia.com/mig-*) overrides it with "void",
        # which the toolkit treats as no GPU (R8P-M3; job_checks.py). A count of 0 ("0" or 0) allocates
        # no device, so the device plugin sets nothing and the image's "all" would stay (R9P-L2).
        if any(
            name.startswith(NVIDIA_RESOURCE_PREFIX) and parse_quantity(f"resources.{kind}[{name}]", value) > 0
            for kind in ("requests", "limits")
            for name, value in getattr(self.resources, kind).items()
        ):
            return []
        return [{"name": NO_GPU_ENV[0], "value": NO_GPU_ENV[1]}]

    def to_manifest(self, mounts: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
        return _compact(
            {
                "name": self.name,
                "image": self.image,
                "imagePullPolicy": self.image_pull_policy,
                "command": list(self.command),
                "args": list(self.args),
                "workingDir": self.working_dir,
                "env": [{"name": key, "value": value} for key, value in self.env.items()] + self._no_gpu_env(),
                "resources": self.resources.to_manifest(),
                "volumeMounts": list(mounts),
            }
        )


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
            raise _fail(
                f"{prefix}.instance_type",
                f"{self.instance_type!r} is not a SageMaker instance type " "such as ml.p5.48xlarge",
            )
        _check_labels(f"{prefix}.node_selector", self.node_selector)
        _check_labels(f"{prefix}.labels", self.labels)
        for attr in ("priority_class_name", "service_account_name"):
            value = getattr(self, attr)
            if value is not None and (not isinstance(value, str) or not DNS_SUBDOMAIN.match(value)):
                raise _fail(f"{prefix}.{attr}", f"{value!r} is not a valid name")

    def _affinity(self) -> dict[str, Any] | None:
        expressions = []
        if self.require_schedulable_nodes:
            expressions.append({"key": HEALTH_STATUS_LABEL, "operator": "In", "values": ["Schedulable"]})
        if self.instance_type:
            expressions.append({"key": INSTANCE_TYPE_LABEL, "operator": "In", "values": [self.instance_type]})
        if not expressions:
            return None
        return {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": expressions}],
                }
            }
        }

    def pod_template(self) -> dict[str, Any]:
        """The ``template`` of this replica (a core/v1 PodTemplateSpec)."""
        spec = _compact(
            {
                "affinity": self._affinity(),
                "nodeSelector": dict(self.node_selector),
                "tolerations": [t.to_manifest() for t in self.tolerations],
                "priorityClassName": self.priority_class_name,
                "serviceAccountName": self.service_account_name,
                "containers": [self.container.to_manifest([v.mount() for v in self.volumes])],
                "volumes": [v.volume() for v in self.volumes],
            }
        )
        template: dict[str, Any] = {"spec": spec}
        if self.labels:
            template = {"metadata": {"labels": dict(self.labels)}, **template}
        return template

    def to_manifest(self) -> dict[str, Any]:
        return {"name": self.name, "replicas": self.replicas, "template": self.pod_template()}
