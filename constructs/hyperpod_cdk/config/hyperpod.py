"""The ``hyperpod:`` section: instance groups and the ``AWS::SageMaker::Cluster`` settings."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from hyperpod_cdk.config.base import (
    ALARM_NAME_PATTERN,
    HYPERPOD_NAME_PATTERN,
    IMAGE_ID_PATTERN,
    IMAGE_RELEASE_VERSION_PATTERN,
    INSTANCE_TYPE_PATTERN,
    LABEL_KEY_PATTERN,
    MOUNT_PATH_PATTERN,
    SCHEDULE_PATTERN,
    TRAINING_PLAN_PATTERN,
    AutoPatchStrategy,
    AzId,
    CapacityType,
    DeepHealthCheck,
    InstanceCount,
    LifecycleHook,
    NetworkInterfaceType,
    NodeCount,
    SlurmNodeType,
    _Model,
)
from hyperpod_cdk.config.hyperpod_checks import check_autoscaling
from hyperpod_cdk.specs.fsx import (
    DNS_NAME_PATTERN,
    MOUNT_NAME_PATTERN,
)
from hyperpod_cdk.specs.instance_types import is_arm64, spec_for, supports_deep_health_checks
from hyperpod_cdk.specs.slurm import PARTITION_PATTERN


class Taint(_Model):
    """A Kubernetes taint HyperPod puts on every node of the group."""

    key: Annotated[str, Field(min_length=1, max_length=317, pattern=LABEL_KEY_PATTERN)]
    value: Annotated[str | None, Field(max_length=63)] = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


class ScheduledUpdate(_Model):
    """A scheduled rolling AMI update of one instance group (``ScheduledUpdateConfig``).

    HyperPod replaces the nodes in batches of ``max_batch_percent`` (or ``max_batch_count``),
    waits ``wait_seconds`` between batches, and rolls back when a ``rollback_alarms`` alarm fires.
    """

    schedule: Annotated[str, Field(pattern=SCHEDULE_PATTERN)] = Field(
        description="cron(minutes hours day-of-month month day-of-week year) in UTC, e.g. cron(0 3 ? * SUN *)."
    )
    max_batch_percent: Annotated[int | None, Field(ge=1, le=100)] = Field(
        default=None, description="Nodes updated at once, as a percentage of the group (or max_batch_count)."
    )
    max_batch_count: NodeCount | None = Field(default=None, description="Nodes updated at once (or max_batch_percent).")
    rollback_batch_percent: Annotated[int | None, Field(ge=1, le=100)] = Field(
        default=None, description="Nodes rolled back at once, as a percentage; default: all at once."
    )
    rollback_batch_count: NodeCount | None = Field(
        default=None, description="Nodes rolled back at once; default: all at once."
    )
    wait_seconds: Annotated[int | None, Field(ge=0, le=3600)] = Field(
        default=None, description="Pause between batches (0-3600 s)."
    )
    rollback_alarms: Annotated[
        list[Annotated[str, Field(max_length=255, pattern=ALARM_NAME_PATTERN)]], Field(max_length=10)
    ] = Field(default=[], description="Names of CloudWatch alarms that roll the update back when they fire (up to 10).")

    @model_validator(mode="after")
    def _one_batch_size(self) -> ScheduledUpdate:
        if (self.max_batch_percent is None) == (self.max_batch_count is None):
            raise ValueError("max_batch_percent: give the batch size as max_batch_percent or max_batch_count (one)")
        if self.rollback_batch_percent is not None and self.rollback_batch_count is not None:
            raise ValueError("rollback_batch_count: give rollback_batch_percent or rollback_batch_count, not both")
        if len(set(self.rollback_alarms)) != len(self.rollback_alarms):
            raise ValueError("rollback_alarms: list each alarm once")
        return self


class FsxMount(_Model):
    """An FSx for Lustre file system HyperPod mounts on every node of the group (``InstanceStorageConfigs``).

    Without ``dns_name`` and ``mount_name`` it is the platform's ``storage.fsx``.
    """

    mount_path: Annotated[str, Field(max_length=1024, pattern=MOUNT_PATH_PATTERN)] = Field(
        description="Where the file system appears on the node, e.g. /fsx."
    )
    dns_name: Annotated[str | None, Field(pattern=DNS_NAME_PATTERN)] = None
    mount_name: Annotated[str | None, Field(pattern=MOUNT_NAME_PATTERN)] = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> FsxMount:
        if (self.dns_name is None) != (self.mount_name is None):
            missing = "mount_name" if self.mount_name is None else "dns_name"
            raise ValueError(f"{missing}: give dns_name and mount_name together, or neither for storage.fsx")
        return self

    @property
    def uses_platform_fsx(self) -> bool:
        return self.dns_name is None


class InstanceGroup(_Model):
    """One HyperPod instance group.

    Defaults: 1 thread per core (what EFA/NCCL workloads want), a 500 GiB KMS-encrypted
    secondary EBS volume, and deep health checks on for accelerated instance types.
    """

    name: Annotated[str, Field(max_length=63, pattern=HYPERPOD_NAME_PATTERN)]
    instance_type: Annotated[str | None, Field(pattern=INSTANCE_TYPE_PATTERN)] = Field(
        default=None, description="The group's instance type (or instance_types for a flexible group)."
    )
    instance_types: Annotated[
        list[Annotated[str, Field(pattern=INSTANCE_TYPE_PATTERN)]] | None, Field(min_length=1, max_length=20)
    ] = Field(
        default=None,
        description="orchestrator: eks. A flexible group (InstanceRequirements): HyperPod tries the types in "
        "this order and falls back to the next when capacity runs out. Exclusive with instance_type.",
    )
    instance_count: InstanceCount
    min_instance_count: InstanceCount | None = Field(
        default=None,
        description="orchestrator: eks. The group becomes InService once this many nodes run (the rest keep "
        "provisioning); if not reached within 3 hours HyperPod rolls the group back. At most instance_count.",
    )
    capacity_type: CapacityType | None = Field(
        default=None,
        description="orchestrator: eks. OnDemand or Spot (CapacityRequirements); fixed once the group exists. "
        "Omitted: HyperPod's default, on-demand.",
    )
    autoscale: bool = Field(
        default=False,
        description="orchestrator: eks, with hyperpod.autoscaler: Karpenter owns this group's node count "
        "(instance_count stays 0 in the template; see max_instance_count).",
    )
    max_instance_count: NodeCount | None = Field(
        default=None,
        description="autoscale groups: the most nodes Karpenter may run in the group, for the subnet IP plan and "
        "the quota check.",
    )
    scheduled_update: ScheduledUpdate | None = Field(
        default=None, description="Scheduled rolling AMI update with batch sizes and alarm rollback."
    )
    auto_patch: AutoPatchStrategy | None = Field(
        default=None,
        description="Security-patch AMI updates as nodes go idle: WhenIdle (node by node) or WhenAllIdle "
        "(the whole group once every node is idle).",
    )
    image_release_version: Annotated[str | None, Field(pattern=IMAGE_RELEASE_VERSION_PATTERN)] = Field(
        default=None,
        description="orchestrator: eks. Pin the HyperPod AMI release (MAJOR.MINOR.PATCH); changing it rolls "
        "the group onto that release. Omitted: the latest at creation.",
    )
    network_interface: NetworkInterfaceType | None = Field(
        default=None, description="efa (EFA with ENA/IP) or efa-only (EFA device without IP networking)."
    )
    lifecycle_hook: LifecycleHook = Field(
        default="OnCreate",
        description="orchestrator: eks. OnCreate runs the lifecycle scripts in place of HyperPod's setup; "
        "OnInitComplete (extended mode) runs them after it, and the bundled EKS script cannot run then "
        "(it moves containerd and kubelet data before they start), so the app refuses it.",
    )
    fsx_mounts: Annotated[list[FsxMount], Field(max_length=3)] = Field(
        default=[], description="orchestrator: eks. FSx for Lustre file systems HyperPod mounts on every node."
    )
    threads_per_core: Literal[1, 2] = 1
    ebs_volume_size_gb: Annotated[int, Field(ge=1, le=16384)] = 500
    deep_health_checks: list[DeepHealthCheck] | None = Field(
        default=None,
        description="None means both checks on accelerated types and none on CPU types; [] turns them off.",
    )
    availability_zone_id: AzId | None = Field(
        default=None, description="AZ ID for this group (OverrideVpcConfig); defaults to the first network AZ."
    )
    labels: dict[Annotated[str, Field(pattern=LABEL_KEY_PATTERN)], Annotated[str, Field(max_length=63)]] = {}
    taints: Annotated[list[Taint], Field(max_length=50)] = []
    training_plan_arn: Annotated[str | None, Field(pattern=TRAINING_PLAN_PATTERN)] = None
    image_id: Annotated[str | None, Field(pattern=IMAGE_ID_PATTERN)] = None
    ips_per_node: Annotated[int | None, Field(ge=1, le=4096)] = Field(
        default=None,
        description="IPs one node consumes, for instance types missing from the built-in table.",
    )
    slurm_node_type: SlurmNodeType | None = Field(
        default=None,
        description="orchestrator: slurm only. Controller (one group, one instance), Login (at most one "
        "group) or Compute (the default).",
    )
    partition: Annotated[str | None, Field(max_length=1024, pattern=PARTITION_PATTERN)] = Field(
        default=None,
        description="orchestrator: slurm, Compute groups only: the Slurm partition; defaults to the group name.",
    )

    @model_validator(mode="after")
    def _known_instance_type(self) -> InstanceGroup:
        if (self.instance_type is None) == (self.instance_types is None):
            raise ValueError(
                "instance_type: give instance_type, or instance_types for a flexible group (one of the two)"
            )
        for instance_type in self.candidate_types:
            if spec_for(instance_type) is None and self.ips_per_node is None:
                key = "instance_type" if self.instance_type else "instance_types"
                raise ValueError(
                    f"{key}: '{instance_type}' is not a SageMaker HyperPod instance type this "
                    "library knows; use one like ml.p5.48xlarge, ml.g5.8xlarge or ml.trn1.32xlarge, or set "
                    "ips_per_node for a new type"
                )
        if self.instance_types is not None and len(set(self.instance_types)) != len(self.instance_types):
            raise ValueError("instance_types: list each type once (the order is the fallback order)")
        if self.deep_health_checks and not all(supports_deep_health_checks(t) for t in self.candidate_types):
            lacking = [t for t in self.candidate_types if not supports_deep_health_checks(t)]
            raise ValueError(
                f"deep_health_checks: {', '.join(lacking)} does not support deep health checks "
                "(GPU and Trainium types only); remove the key or set it to []"
            )
        if len(set(self.deep_health_checks or [])) != len(self.deep_health_checks or []):
            raise ValueError("deep_health_checks: list each check at most once")
        if self.min_instance_count is not None and self.min_instance_count > self.instance_count:
            raise ValueError(
                f"min_instance_count: {self.min_instance_count} is more than instance_count {self.instance_count}"
            )
        self._check_autoscale()
        fsx_paths = [m.mount_path for m in self.fsx_mounts]
        if len(set(fsx_paths)) != len(fsx_paths):
            raise ValueError("fsx_mounts: each mount_path once")
        return self

    def _check_autoscale(self) -> None:
        # https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-autoscaling-nodeclass.html
        if not self.autoscale:
            if self.max_instance_count is not None:
                raise ValueError("max_instance_count: only for autoscale: true groups (Karpenter's bound)")
            return
        if self.instance_count != 0:
            raise ValueError(
                "instance_count: must be 0 for an autoscale group: Karpenter owns the count (HyperPod scales a "
                "Karpenter group that starts above 0 down to 0); bound it with max_instance_count"
            )
        if self.max_instance_count is None:
            raise ValueError(
                "max_instance_count: required with autoscale: true (the most nodes Karpenter may run, for the "
                "subnet IP plan)"
            )
        for key in ("min_instance_count", "training_plan_arn"):
            if getattr(self, key) is not None:
                why = (
                    "Karpenter starts the group at 0"
                    if key == "min_instance_count"
                    else ("HyperPod does not autoscale groups on training plans or reserved capacity")
                )
                raise ValueError(f"{key}: not with autoscale: true ({why})")
        if self.deep_health_checks:
            raise ValueError(
                "deep_health_checks: HyperPod does not autoscale groups with deep health checks (60-90 minutes "
                "per node would over-provision); set [] or drop autoscale"
            )
        arm = [t for t in self.candidate_types if is_arm64(t)]
        if arm:
            raise ValueError(
                f"autoscale: {arm[0]} is an arm64 (Graviton) type; HyperPod's Karpenter provisions amd64 only"
            )

    @property
    def candidate_types(self) -> tuple[str, ...]:
        """The group's instance types: the one ``instance_type``, or ``instance_types`` in fallback order."""
        if self.instance_types is not None:
            return tuple(self.instance_types)
        return (self.instance_type,) if self.instance_type else ()

    @property
    def primary_type(self) -> str:
        """The first (or only) instance type."""
        return self.candidate_types[0]

    @property
    def planned_count(self) -> int:
        """Nodes to plan IPs and quota for: ``max_instance_count`` for autoscale groups, else ``instance_count``."""
        if self.autoscale and self.max_instance_count is not None:
            return self.max_instance_count
        return self.instance_count

    @property
    def effective_deep_health_checks(self) -> list[str]:
        if self.deep_health_checks is not None:
            return list(self.deep_health_checks)
        if not self.autoscale and all(supports_deep_health_checks(t) for t in self.candidate_types):
            return ["InstanceStress", "InstanceConnectivity"]
        return []


class HyperPodConfig(_Model):
    """The ``AWS::SageMaker::Cluster``."""

    cluster_name: Annotated[str, Field(max_length=63, pattern=HYPERPOD_NAME_PATTERN)]
    node_recovery: Literal["Automatic", "None"] = "Automatic"
    node_provisioning_mode: Literal["Continuous"] | None = "Continuous"
    autoscaler: Literal["Karpenter"] | None = Field(
        default=None,
        description="orchestrator: eks. Karpenter: HyperPod's managed Karpenter scales the autoscale: true "
        "groups (AutoScaling, a cluster role, a HyperpodNodeClass and a NodePool).",
    )
    tiered_storage_memory_percent: Annotated[int | None, Field(ge=20, le=100)] = Field(
        default=None,
        description="orchestrator: eks. Managed tiered checkpointing: the share of each node's memory (20-100) "
        "HyperPod sets aside for in-memory checkpoints (TieredStorageConfig).",
    )
    ebs_kms_key: Literal["customer-managed", "aws-owned"] | None = Field(
        default=None,
        description="Key of the instance groups' EBS volumes: customer-managed (the platform's data key) or "
        "aws-owned. HyperPod accepts a customer managed key only in Continuous node provisioning mode, "
        "so the default is customer-managed on EKS with Continuous and aws-owned elsewhere. Fixed at creation.",
    )
    instance_groups: Annotated[list[InstanceGroup], Field(min_length=1, max_length=100)]

    @field_validator("instance_groups")
    @classmethod
    def _unique_names(cls, groups: list[InstanceGroup]) -> list[InstanceGroup]:
        seen: set[str] = set()
        for group in groups:
            if group.name in seen:
                raise ValueError(f"instance group name '{group.name}' is used twice; names must be unique")
            seen.add(group.name)
        return groups

    @model_validator(mode="after")
    def _autoscaling(self) -> HyperPodConfig:
        check_autoscaling(self)
        return self
