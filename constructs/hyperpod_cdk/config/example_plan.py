"""Which instance group the training example targets, and how many replicas it may ask for.

Pure: reads the instance groups and ``kubernetes.examples`` and returns an :class:`ExamplePlan`
(or None when no group has accelerators). The config model calls :func:`plan_training_example`
so a job that could not schedule is an error at load time, which is synth time for the CDK app
and for ``dist``; ``dist`` then builds the job from the same plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.specs.instance_types import spec_for

__all__ = ["DEFAULT_NODES", "ExamplePlan", "plan_training_example", "training_job_name"]

DEFAULT_NODES = 2
GPU_JOB_NAME = "llama3-1-8b-fsdp"
NEURON_JOB_NAME = "llama3-1-8b-neuron"
# The guide's job runs on p5; when the platform has such a group it stays the first choice.
_PREFERRED_FAMILY = "ml.p5."


@dataclass(frozen=True)
class ExamplePlan:
    """What the example job gets from the platform."""

    job_name: str
    group: str
    instance_type: str
    accelerator: str  # "nvidia" or "neuron"
    accelerators_per_node: int  # GPUs or Neuron devices
    efa_per_node: int
    replicas: int
    group_count: int  # instances of that type across the groups


def training_job_name(accelerator: str) -> str:
    return NEURON_JOB_NAME if accelerator == "neuron" else GPU_JOB_NAME


def _fixed_type(group: Any) -> str | None:
    value = getattr(group, "instance_type", None)
    return value if isinstance(value, str) else None


def plan_training_example(instance_groups: Sequence[Any], examples: Any) -> ExamplePlan | None:
    """The group and replicas of the training example; raises one line naming the job and the group."""
    typed = [(g, t, spec_for(t)) for g in instance_groups if (t := _fixed_type(g)) is not None]
    requested = getattr(examples, "instance_type", None)
    if requested is not None:
        matching = [(g, t, s) for g, t, s in typed if t == requested]
        if not matching:
            available = ", ".join(f"{g.name}: {t}" for g, t, _ in typed) or "none"
            raise HyperPodConfigError(
                "kubernetes.examples.instance_type",
                f"the example job asks for {requested}, but no instance group has that type ({available}); "
                "use one of them or remove the key",
            )
        group, instance_type, spec = matching[0]
        if spec is None or spec.accelerator is None:
            raise HyperPodConfigError(
                "kubernetes.examples.instance_type",
                f"group '{group.name}' ({instance_type}) has no GPUs or Neuron devices; the training example needs "
                "an accelerated group",
            )
    else:
        accelerated = [(g, t, s) for g, t, s in typed if s is not None and s.accelerator is not None]
        if not accelerated:
            return None
        ranked = sorted(
            accelerated,
            key=lambda item: (not item[1].startswith(_PREFERRED_FAMILY), item[2].accelerator != "nvidia"),
        )
        group, instance_type, spec = ranked[0]
    assert spec is not None and spec.accelerator is not None
    # An autoscaled group may grow to max_instance_count (Karpenter adds nodes for pending pods).
    count = sum(
        max(g.instance_count, getattr(g, "max_instance_count", None) or 0) for g, t, _ in typed if t == instance_type
    )
    job = training_job_name(spec.accelerator)
    nodes = getattr(examples, "nodes", None)
    if nodes is not None and nodes > max(count, 1):
        raise HyperPodConfigError(
            "kubernetes.examples.nodes",
            f"job {job} asks for {nodes} nodes of {instance_type}, but group '{group.name}' has {count}; lower "
            "nodes or raise the group's instance_count",
        )
    replicas = nodes if nodes is not None else max(1, min(DEFAULT_NODES, count))
    return ExamplePlan(
        job_name=job,
        group=group.name,
        instance_type=instance_type,
        accelerator=spec.accelerator,
        accelerators_per_node=spec.accelerators,
        efa_per_node=spec.efa,
        replicas=replicas,
        group_count=count,
    )
