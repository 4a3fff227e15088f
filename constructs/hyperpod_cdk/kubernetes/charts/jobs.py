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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cdk8s
from constructs import Construct

from hyperpod_cdk.kubernetes.charts.api_object import api_object
from hyperpod_cdk.kubernetes.charts.job_agent import (  # noqa: F401 - re-exported: the public import path
    ElasticAgentOptions,
    check_agent_argv,
    check_agent_values,
    hyperpodrun_args,
)
from hyperpod_cdk.kubernetes.charts.job_checks import (  # noqa: F401 - re-exported: the public import path
    _LABEL_VALUE,
    AGENT_FLAG_DEFAULTS,
    AGENT_LOG_DIR,
    AGENT_LOG_LEVELS,
    API_VERSION,
    CLEAN_POD_POLICIES,
    EFA_RESOURCE,
    GPU_RESOURCE,
    HEALTH_STATUS_LABEL,
    INSTANCE_TYPE_LABEL,
    KIND,
    LOG_OPERATORS,
    NEURON_RESOURCE,
    NPROC_KEYWORDS,
    CleanPodPolicy,
    LogOperator,
    _check_dns_label,
    _check_labels,
    _compact,
    _fail,
    _freeze_map,
    _freeze_seq,
    check_log_rule,
    check_nproc_per_node,
    check_run_policy,
    parse_quantity,
)
from hyperpod_cdk.kubernetes.charts.job_checks import (
    KUEUE_PRIORITY_LABEL as KUEUE_PRIORITY_LABEL,
)
from hyperpod_cdk.kubernetes.charts.job_checks import (
    KUEUE_QUEUE_LABEL as KUEUE_QUEUE_LABEL,
)
from hyperpod_cdk.kubernetes.charts.job_parts import (  # noqa: F401 - re-exported: the public import path
    Container,
    EmptyDirVolume,
    LogMonitoringRule,
    PvcVolume,
    ReplicaSpec,
    Resources,
    RestartPolicy,
    RunPolicy,
    ShmVolume,
    Toleration,
    Volume,
)
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


def _on_neuron(replica: ReplicaSpec) -> bool:
    """A Trainium instance type, or Neuron devices requested (aws.amazon.com/neuron*)."""
    if replica.instance_type and neuron.is_trainium(replica.instance_type):
        return True
    resources = replica.container.resources
    return any(
        name.startswith("aws.amazon.com/neuron") and int(count) > 0
        for name, count in {**resources.requests, **resources.limits}.items()
    )


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
            if value is not None and (
                not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value) or not value
            ):
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
            raise _fail(
                "job.model_architecture",
                f"{self.model_architecture!r} is not in the Neuron architecture "
                f"table, so Trainium support cannot be checked ({where}); use a model_type such as "
                f"{', '.join(a.model_type for a in neuron.architectures().values() if a.training.supported)}, "
                "or leave model_architecture unset",
            )
        if not arch.training.supported:
            trainable = ", ".join(a.model_type for a in neuron.architectures().values() if a.training.supported)
            raise _fail(
                "job.model_architecture",
                f"{arch.display} has no Neuron training support ({where}; "
                f"`hyperpod-cdk neuron check {arch.model_type}` shows the sources); train it on GPU "
                f"instance types, or pick an architecture Trainium trains: {trainable}",
            )

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
        raise _fail(
            "job.run_policy.log_monitoring",
            f"log-monitoring rules need the HyperPod elastic agent, but no replica runs hyperpodrun "
            f"(replica {replica.name!r} runs {command[0]}); start the training with "
            "command=['hyperpodrun'] and hyperpodrun_args(...), set Container(agent_in_entrypoint=True) "
            "if the image's ENTRYPOINT runs it, or drop the rules",
        )

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
            raise _fail(
                "job.nproc_per_node",
                f"{self.nproc_per_node} processes per node but replica " f"{replica.name!r} requests only {gpus} GPUs",
            )

    def to_manifest(self) -> dict[str, Any]:
        """The resource as a plain dict (apiVersion, kind, metadata, spec)."""
        labels = dict(self.labels)
        if self.queue_name:
            labels[KUEUE_QUEUE_LABEL] = self.queue_name
        if self.kueue_priority_class:
            labels[KUEUE_PRIORITY_LABEL] = self.kueue_priority_class
        metadata = _compact(
            {
                "name": self.name,
                "namespace": self.namespace,
                "labels": labels,
                "annotations": dict(self.annotations),
            }
        )
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
        self.api_object = api_object(
            self, "Resource", API_VERSION, KIND, manifest["metadata"], {"spec": manifest["spec"]}
        )

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
            raise _fail(
                "priority_class",
                f"'{getattr(priority_class, 'name', priority_class)}' has no weight, so "
                "it is not a task-governance priority class",
            )
        allowed = getattr(team, "priority_classes", None)
        class_name = getattr(priority_class, "name", priority_class)
        if allowed is not None and class_name not in allowed:
            raise _fail(
                "priority_class",
                f"team '{getattr(team, 'name', team)}' may not use '{class_name}' (its priority_classes {allowed})",
            )
        out["kueue_priority_class"] = workload_class
    return out
