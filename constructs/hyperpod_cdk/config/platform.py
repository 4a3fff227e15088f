"""Typed platform configuration (``hyperpod.yaml``).

One pydantic model describes the whole platform. The CDK app, the constructs' convenience
factories and the ops CLI all read it, so a value is validated once, the same way, before any
resource is defined. Every error becomes a :class:`HyperPodConfigError` naming the field.

The JSON Schema for editor completion is generated from these models
(``hyperpod-cdk schema`` / ``schema/hyperpod.schema.json``).
"""

from __future__ import annotations

import contextvars
import ipaddress
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from hyperpod_cdk import input_limits
from hyperpod_cdk.config.kubernetes import ADDON_VERSION_PATTERN, KubernetesConfig, unreachable_chart_images
from hyperpod_cdk.config.kubernetes_checks import check_kubernetes
from hyperpod_cdk.config.messages import explain, first_error, register_hints, yaml_error_message
from hyperpod_cdk.config.signals import AlertsConfig, CostConfig
from hyperpod_cdk.config.slurm import SlurmSettings
from hyperpod_cdk.config.slurm_checks import check_slurm_settings, slurm_provisioning_mode
from hyperpod_cdk.errors import HyperPodConfigError, shown
from hyperpod_cdk.specs.az_ids import EKS_UNSUPPORTED_AZ_IDS, default_control_plane_az_ids
from hyperpod_cdk.specs.fsx import (
    DNS_NAME_PATTERN,
    FILE_SYSTEM_ID_PATTERN,
    MOUNT_NAME_PATTERN,
    check_capacity,
)
from hyperpod_cdk.specs.instance_types import Orchestrator, is_arm64, spec_for, supports_deep_health_checks
from hyperpod_cdk.specs.kubernetes_versions import DEFAULT_VERSION, KubernetesVersion, check_version
from hyperpod_cdk.specs.network_plan import GroupDemand, SubnetPlan, demand, plan_existing_subnets, plan_subnets
from hyperpod_cdk.specs.offerings import offered_in
from hyperpod_cdk.specs.regions import known_region
from hyperpod_cdk.specs.slurm import PARTITION_HINT, PARTITION_PATTERN, SlurmLayout, slurm_layout

# Patterns come from the AWS::SageMaker::Cluster and AWS::EKS::Cluster CloudFormation schemas.
HYPERPOD_NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
EKS_NAME_PATTERN = r"^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$"
AZ_ID_PATTERN = r"^[a-z]{2,5}[0-9]-az[0-9]{1,2}$"
REGION_PATTERN = r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$"
IAM_PRINCIPAL_PATTERN = r"^arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:(role|user|assumed-role)/[\w+=,.@/-]+$"
TRAINING_PLAN_PATTERN = r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:[0-9]{12}:training-plan/[a-zA-Z0-9-]+$"
IMAGE_ID_PATTERN = r"^(ami-[0-9a-f]{8,17}|default)$"
INSTANCE_TYPE_PATTERN = r"^ml\.[a-z0-9-]+\.[a-z0-9]+$"
LABEL_KEY_PATTERN = r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
# EC2 resource IDs: the prefix, then 8 (older resources) or 17 hex digits.
VPC_ID_PATTERN = r"^vpc-[0-9a-f]{8}([0-9a-f]{9})?$"
SUBNET_ID_PATTERN = r"^subnet-[0-9a-f]{8}([0-9a-f]{9})?$"
SECURITY_GROUP_ID_PATTERN = r"^sg-[0-9a-f]{8}([0-9a-f]{9})?$"
NAT_GATEWAY_ID_PATTERN = r"^nat-[0-9a-f]{8}([0-9a-f]{9})?$"
ROUTE_TABLE_ID_PATTERN = r"^rtb-[0-9a-f]{8}([0-9a-f]{9})?$"
PLATFORM_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,30}$"
ACCOUNT_PATTERN = r"^[0-9]{12}$"
INSTANCE_TYPE_PATTERN = r"^ml\.[a-z0-9-]+\.[a-z0-9]+$"

# AWS::SageMaker::Cluster ScheduledUpdateConfig.ScheduleExpression, anchored: cron(min hour day month weekday year).
SCHEDULE_PATTERN = (
    r"^cron\((?:[0-5][0-9]|[0-9]|) (?:[01][0-9]|2[0-3]|[0-9]) (?:[1-9]|0[1-9]|[12][0-9]|3[01]|\?) "
    r"(?:[1-9]|0[1-9]|1[0-2]|\*|\*/(?:[1-9]|1[0-2])|) "
    r"(?:MON|TUE|WED|THU|FRI|SAT|SUN|[1-7]|\?|L|(?:[1-7]#[1-5])|(?:[1-7]L)) (?:20[2-9][0-9]|\*|)\)$"
)
IMAGE_RELEASE_VERSION_PATTERN = r"^[0-9]+\.[0-9]+\.[0-9]+$"
# CloudWatch alarm names: 1-255 characters, not blank (AWS::SageMaker::Cluster AlarmDetails allows 256).
ALARM_NAME_PATTERN = r"^[^\x00-\x1f]*[^\s\x00-\x1f][^\x00-\x1f]*$"
# The schema's MountPath pattern without its look-aheads: absolute, no empty segment, no trailing slash.
MOUNT_PATH_PATTERN = r"^(/[a-zA-Z0-9._-]+)+$"

DeepHealthCheck = Literal["InstanceStress", "InstanceConnectivity"]
CapacityType = Literal["OnDemand", "Spot"]
AutoPatchStrategy = Literal["WhenIdle", "WhenAllIdle"]
NetworkInterfaceType = Literal["efa", "efa-only"]
LifecycleHook = Literal["OnCreate", "OnInitComplete"]
SlurmNodeType = Literal["Controller", "Login", "Compute"]
# CloudWatch Logs accepts only these retention values.
LogRetentionDays = Literal[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653]

_DIRECTIONS = {
    "east": "e", "west": "w", "north": "n", "south": "s", "central": "c",
    "northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw",
}


# An AZ name is the region plus a letter (us-west-2b); which AZ ID it maps to differs per account.
_AZ_NAME = re.compile(r"([a-z]{2}(?:-gov)?-[a-z]+-[0-9])([a-z])")


def _az_id_message(value: str, data: Any) -> str:
    name = _AZ_NAME.fullmatch(value)
    if name:
        region, letter = name.groups()
        example = f"{az_id_prefix(region) or 'usw2'}-az{ord(letter) - ord('a') + 1}"
        return (
            f"'{value}' is an AZ name; use its AZ ID such as {example} "
            f"(`aws ec2 describe-availability-zones --region {region}` shows the mapping for your account)"
        )
    region = data.get("region") if isinstance(data, Mapping) else None
    prefix = az_id_prefix(region) if isinstance(region, str) else None
    return (
        f"{shown(value)} is not an AZ ID such as {prefix or 'usw2'}-az1 "
        "(`aws ec2 describe-availability-zones` lists the AZ IDs of a region)"
    )


register_hints({
    HYPERPOD_NAME_PATTERN: "a valid name: letters, digits and hyphens, starting and ending with a letter or "
    "digit, at most 63 characters",
    EKS_NAME_PATTERN: "a valid EKS cluster name: letters, digits, hyphens and underscores, starting with a "
    "letter or digit, at most 100 characters",
    AZ_ID_PATTERN: _az_id_message,
    REGION_PATTERN: "an AWS region name such as us-west-2",
    IAM_PRINCIPAL_PATTERN: "an IAM role or user ARN such as arn:aws:iam::123456789012:role/Admin",
    TRAINING_PLAN_PATTERN: "a training plan ARN such as "
    "arn:aws:sagemaker:us-west-2:123456789012:training-plan/my-plan",
    IMAGE_ID_PATTERN: "an AMI ID such as ami-0123456789abcdef0, or default",
    LABEL_KEY_PATTERN: "a Kubernetes label key: an optional DNS prefix and '/', then at most 63 letters, "
    "digits, '-', '_' or '.', starting and ending with a letter or digit",
    VPC_ID_PATTERN: "a VPC ID such as vpc-0123456789abcdef0",
    SUBNET_ID_PATTERN: "a subnet ID such as subnet-0123456789abcdef0",
    SECURITY_GROUP_ID_PATTERN: "a security group ID such as sg-0123456789abcdef0",
    NAT_GATEWAY_ID_PATTERN: "a NAT gateway ID such as nat-0123456789abcdef0",
    ROUTE_TABLE_ID_PATTERN: "a route table ID such as rtb-0123456789abcdef0",
    PLATFORM_NAME_PATTERN: "a valid platform name: lowercase letters, digits and hyphens, starting with a "
    "letter, at most 31 characters",
    ACCOUNT_PATTERN: "a 12-digit AWS account ID",
    INSTANCE_TYPE_PATTERN: "a SageMaker instance type such as ml.p5.48xlarge",
    PARTITION_PATTERN: PARTITION_HINT,
    FILE_SYSTEM_ID_PATTERN: "an FSx file system ID such as fs-0123456789abcdef0",
    DNS_NAME_PATTERN: "an FSx DNS name such as fs-0123456789abcdef0.fsx.us-west-2.amazonaws.com",
    MOUNT_NAME_PATTERN: "an FSx mount name: 1 to 8 letters, digits, '_' or '-' "
    "(aws fsx describe-file-systems shows it as LustreConfiguration.MountName)",
    IMAGE_RELEASE_VERSION_PATTERN: "a HyperPod AMI release version such as 1.2.3 (major.minor.patch)",
    ALARM_NAME_PATTERN: "a CloudWatch alarm name: not blank, no control characters",
    MOUNT_PATH_PATTERN: "an absolute path such as /fsx/data, without a trailing '/'",
    SCHEDULE_PATTERN: "a HyperPod schedule such as cron(0 3 ? * SUN *): cron(minutes hours day-of-month month "
    "day-of-week year), with ? for either day field",
})


def az_id_prefix(region: str) -> str | None:
    """``us-east-1`` -> ``use1``: the prefix every AZ ID of that region carries (None if unknown)."""
    match = re.fullmatch(r"([a-z]{2})(-gov)?-([a-z]+)-([0-9])", region)
    if not match or match.group(3) not in _DIRECTIONS:
        return None
    area, gov, direction, number = match.groups()
    return f"{area}{'g' if gov else ''}{_DIRECTIONS[direction]}{number}"


def _count_not_bool(value: Any) -> Any:
    # YAML reads yes/true as a boolean, which pydantic would take as 1 node.
    if isinstance(value, bool):
        raise ValueError(f"write the count as a number (YAML read {value!r} as a boolean)")
    return value


Count = Annotated[int, BeforeValidator(_count_not_bool)]
# AWS tags: "aws:" is reserved, and keys and values take letters, digits, spaces and _ . : / = + - @
# (https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html).
TAG_PATTERN = r"^[\w\s.:/=+\-@]*$"
register_hints({TAG_PATTERN: "letters, digits, spaces and _ . : / = + - @ only (AWS tag rules)"})


def _tag_key_not_reserved(value: str) -> str:
    if value.lower().startswith("aws:"):
        raise ValueError(f"'{value}': keys starting with aws: are reserved for AWS; use another prefix")
    return value


def _cidr_as_text(value: Any) -> Any:
    # pydantic would read an integer (or a YAML yes/true) as an address and make it a /32.
    if isinstance(value, bool | int):
        raise ValueError(f"write the CIDR as text such as 10.0.0.0/16 (YAML read {value!r} as a number or boolean)")
    return value


Cidr = Annotated[ipaddress.IPv4Network, BeforeValidator(_cidr_as_text)]


# Set while a model validates, so nested models (which pydantic builds through __init__ too) raise
# pydantic's error and only the outermost call turns it into a HyperPodConfigError.
_VALIDATING: contextvars.ContextVar[bool] = contextvars.ContextVar("hyperpod_cdk_validating", default=False)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    def __init__(self, **data: Any) -> None:
        # Built in Python (InstanceGroup(name=..., ...)) rather than parsed from a file: the same
        # one-line HyperPodConfigError as the config loader, named after the model. A custom
        # __init__ also runs for nested models and under model_validate, so only the outermost
        # call translates; the rest let pydantic collect the error with its full location.
        if _VALIDATING.get():
            super().__init__(**data)
            return
        token = _VALIDATING.set(True)
        try:
            super().__init__(**data)
        except ValidationError as exc:
            error = _explain(first_error(exc.errors(), data), data, type(self))
            raise HyperPodConfigError(f"{type(self).__name__}.{error.field}", error.message) from None
        finally:
            _VALIDATING.reset(token)


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
    max_batch_count: Annotated[int | None, Field(ge=1, le=6758)] = Field(
        default=None, description="Nodes updated at once (or max_batch_percent)."
    )
    rollback_batch_percent: Annotated[int | None, Field(ge=1, le=100)] = Field(
        default=None, description="Nodes rolled back at once, as a percentage; default: all at once."
    )
    rollback_batch_count: Annotated[int | None, Field(ge=1, le=6758)] = Field(
        default=None, description="Nodes rolled back at once; default: all at once."
    )
    wait_seconds: Annotated[int | None, Field(ge=0, le=3600)] = Field(
        default=None, description="Pause between batches (0-3600 s)."
    )
    rollback_alarms: Annotated[
        list[Annotated[str, Field(max_length=255, pattern=ALARM_NAME_PATTERN)]], Field(max_length=10)
    ] = Field(
        default=[], description="Names of CloudWatch alarms that roll the update back when they fire (up to 10)."
    )

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
    instance_count: Annotated[Count, Field(ge=0, le=6758)]
    min_instance_count: Annotated[int | None, Field(ge=0, le=6758)] = Field(
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
    max_instance_count: Annotated[int | None, Field(ge=1, le=6758)] = Field(
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
    availability_zone_id: Annotated[str | None, Field(pattern=AZ_ID_PATTERN)] = Field(
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
                why = "Karpenter starts the group at 0" if key == "min_instance_count" else (
                    "HyperPod does not autoscale groups on training plans or reserved capacity")
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


class ExistingSubnet(_Model):
    """A HyperPod subnet that already exists."""

    subnet_id: Annotated[str, Field(pattern=SUBNET_ID_PATTERN)]
    cidr: Cidr = Field(description="The subnet's IPv4 CIDR, written out so the IP plan is checked offline.")


class ExistingNetwork(_Model):
    """A VPC that already exists (bring your own). Everything is written out: synth does no lookups.

    HyperPod subnets either exist (``hyperpod_subnets``, keyed by AZ ID) or are added by the
    platform from ``network.hyperpod_cidr``; then the route to the internet is named explicitly
    with ``nat_gateway_id`` (the platform adds a route table with a default route to it) or
    ``route_table_id`` (the new subnets join that route table).
    """

    vpc_id: Annotated[str, Field(pattern=VPC_ID_PATTERN)]
    vpc_cidr: Cidr = Field(description="The VPC's primary IPv4 CIDR.")
    control_plane_subnet_ids: Annotated[list[Annotated[str, Field(pattern=SUBNET_ID_PATTERN)]], Field(
        max_length=16
    )] = Field(
        default=[],
        description="orchestrator: eks only. Private subnets with a route to the internet (or the VPC "
        "endpoints of a closed network) for the EKS control-plane ENIs (two AZs at least) and the "
        "in-VPC installers.",
    )
    hyperpod_subnets: dict[Annotated[str, Field(pattern=AZ_ID_PATTERN)], ExistingSubnet] = Field(
        default={}, description="Existing HyperPod subnets by AZ ID; omit to let the platform add them."
    )
    nat_gateway_id: Annotated[str | None, Field(pattern=NAT_GATEWAY_ID_PATTERN)] = Field(
        default=None, description="Internet route for subnets the platform adds (or route_table_id)."
    )
    route_table_id: Annotated[str | None, Field(pattern=ROUTE_TABLE_ID_PATTERN)] = Field(
        default=None, description="Route table for subnets the platform adds (or nat_gateway_id)."
    )

    @model_validator(mode="after")
    def _one_way_to_subnets(self) -> ExistingNetwork:
        egress = [key for key in ("nat_gateway_id", "route_table_id") if getattr(self, key) is not None]
        if self.hyperpod_subnets and egress:
            raise ValueError(
                f"{egress[0]}: only used when the platform adds the HyperPod subnets; the existing "
                "hyperpod_subnets keep their own routes"
            )
        if not self.hyperpod_subnets and not egress:
            raise ValueError(
                "hyperpod_subnets: give the existing HyperPod subnets by AZ ID, or nat_gateway_id or "
                "route_table_id so the platform can add them from network.hyperpod_cidr"
            )
        if len(egress) == 2:
            raise ValueError("route_table_id: give nat_gateway_id or route_table_id, not both")
        ids = [s.subnet_id for s in self.hyperpod_subnets.values()] + list(self.control_plane_subnet_ids)
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"hyperpod_subnets: {repeated[0]} is listed twice; each subnet has one role")
        return self


class NetworkConfig(_Model):
    """The VPC: control-plane subnets in the primary CIDR, HyperPod subnets in ``hyperpod_cidr``.

    With ``existing``, no VPC is created (see :class:`ExistingNetwork`).
    """

    vpc_cidr: Cidr = ipaddress.IPv4Network("10.192.0.0/16")
    hyperpod_cidr: Cidr = Field(
        default=ipaddress.IPv4Network("10.1.0.0/16"),
        description="Split evenly across availability_zone_ids; added as a secondary VPC CIDR when "
        "outside vpc_cidr.",
    )
    availability_zone_ids: Annotated[list[Annotated[str, Field(pattern=AZ_ID_PATTERN)]], Field(
        min_length=1, max_length=8
    )] = Field(
        description="AZ IDs (not names) that get a HyperPod subnet; the first is the default. With "
        "existing.hyperpod_subnets it defaults to their AZ IDs."
    )
    max_azs: Annotated[int, Field(ge=2, le=3)] = 2
    control_plane_availability_zone_ids: Annotated[
        list[Annotated[str, Field(pattern=AZ_ID_PATTERN)]], Field(min_length=2, max_length=3)
    ] | None = Field(
        default=None,
        description="AZ IDs of the control-plane and public subnets (max_azs of them). Default: "
        "availability_zone_ids first, then <region>-az1, -az2, ...; never one EKS refuses (use1-az3, "
        "usw1-az2, cac1-az3).",
    )
    nat_gateways: Annotated[int, Field(ge=1, le=3)] = 1
    closed: bool = Field(
        default=False,
        description="A closed network: no internet gateway and no NAT gateway; AWS services are reached "
        "through VPC endpoints (interface endpoints and the S3 gateway endpoint) and the HyperPod Helm "
        "chart comes from kubernetes.helm_dependencies.source_s3_uri. See docs/closed-network.md.",
    )
    ip_headroom_percent: Annotated[int, Field(ge=0, le=400)] = 25
    flow_log_retention_days: LogRetentionDays = 365
    existing: ExistingNetwork | None = Field(default=None, description="Use an existing VPC instead of creating one.")

    @model_validator(mode="before")
    @classmethod
    def _azs_from_existing_subnets(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "availability_zone_ids" not in data:
            existing = data.get("existing")
            subnets = existing.get("hyperpod_subnets") if isinstance(existing, Mapping) else None
            if isinstance(subnets, Mapping) and subnets:
                return {**data, "availability_zone_ids": list(subnets)}
        return data

    @field_validator("vpc_cidr")
    @classmethod
    def _vpc_cidr_size(cls, value: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
        if not 16 <= value.prefixlen <= 24:
            raise ValueError(f"VPC CIDR must be between /16 and /24 (got /{value.prefixlen})")
        return value

    @field_validator("hyperpod_cidr")
    @classmethod
    def _hyperpod_cidr_size(cls, value: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
        if not 16 <= value.prefixlen <= 28:
            raise ValueError(f"a VPC CIDR block must be between /16 and /28 (got /{value.prefixlen})")
        return value

    @model_validator(mode="after")
    def _cidrs_consistent(self) -> NetworkConfig:
        if len(set(self.availability_zone_ids)) != len(self.availability_zone_ids):
            raise ValueError("availability_zone_ids: list each AZ ID once")
        if self.existing is not None:
            if self.closed:
                raise ValueError(
                    "closed: only for a VPC created here (it creates the VPC endpoints); for an existing VPC "
                    "without internet, provide the endpoints yourself, route the platform's subnets with "
                    "existing.route_table_id and set kubernetes.helm_dependencies.source_s3_uri"
                )
            return self._existing_consistent(self.existing)
        if self.closed and "nat_gateways" in self.model_fields_set:
            raise ValueError("nat_gateways: a closed network has no NAT gateway; remove the key")
        hp, vpc = self.hyperpod_cidr, self.vpc_cidr
        if hp.overlaps(vpc) and not hp.subnet_of(vpc):
            raise ValueError(
                f"hyperpod_cidr: {hp} partly overlaps vpc_cidr {vpc}; use a block inside it or disjoint from it"
            )
        if hp == vpc:
            raise ValueError(
                "hyperpod_cidr: must not be the whole vpc_cidr (the control-plane and public subnets live there)"
            )
        return self

    def _existing_consistent(self, existing: ExistingNetwork) -> NetworkConfig:
        # Keys that describe a VPC this platform would create.
        for key in ("vpc_cidr", "max_azs", "nat_gateways", "flow_log_retention_days",
                    "control_plane_availability_zone_ids"):
            if key in self.model_fields_set:
                raise ValueError(f"{key}: only for a VPC created here; the existing VPC keeps its own settings")
        if existing.hyperpod_subnets:
            if "hyperpod_cidr" in self.model_fields_set:
                raise ValueError(
                    "hyperpod_cidr: the HyperPod subnets already exist (existing.hyperpod_subnets); remove it"
                )
            if set(self.availability_zone_ids) != set(existing.hyperpod_subnets):
                raise ValueError(
                    f"availability_zone_ids: {self.availability_zone_ids} must name the AZ IDs of "
                    f"existing.hyperpod_subnets {list(existing.hyperpod_subnets)}"
                )
            return self
        hp, vpc = self.hyperpod_cidr, existing.vpc_cidr
        if hp.overlaps(vpc) and not hp.subnet_of(vpc):
            raise ValueError(
                f"hyperpod_cidr: {hp} partly overlaps the VPC's {vpc}; use a block inside it or disjoint from it"
            )
        return self

    @property
    def hyperpod_cidr_is_secondary(self) -> bool:
        primary = self.existing.vpc_cidr if self.existing is not None else self.vpc_cidr
        return not self.hyperpod_cidr.subnet_of(primary)


class ExistingEks(_Model):
    """An EKS cluster that already exists; ``eks.cluster_name`` and ``eks.kubernetes_version`` name it.

    Its authentication mode cannot be read at synth: ``hyperpod-cdk preflight`` checks it.
    """

    cluster_security_group_id: Annotated[str, Field(pattern=SECURITY_GROUP_ID_PATTERN)] = Field(
        description="The cluster security group EKS created; HyperPod nodes and it get rules to each other."
    )


class EksConfig(_Model):
    """The EKS control plane HyperPod attaches to: created here, or ``existing``."""

    cluster_name: Annotated[str, Field(pattern=EKS_NAME_PATTERN)]
    kubernetes_version: Annotated[KubernetesVersion, BeforeValidator(check_version)] = Field(
        default=DEFAULT_VERSION,
        description="A version HyperPod accepts. One past EKS extended support is an error; one in extended "
        "support synthesizes with a warning stating the price (6x the standard hourly rate).",
    )
    public_access_cidrs: list[Cidr] = Field(
        default=[], description="Empty means a private-only endpoint."
    )
    admin_principal_arn: Annotated[str | None, Field(pattern=IAM_PRINCIPAL_PATTERN)] = Field(
        default=None, description="IAM role or user that gets cluster-admin through an access entry."
    )
    admin_principal_arns: Annotated[
        list[Annotated[str, Field(pattern=IAM_PRINCIPAL_PATTERN)]], Field(max_length=20)
    ] = Field(default=[], description="More IAM roles or users that get cluster-admin (one access entry each).")
    access_tunnel: bool = Field(
        default=False,
        description="A t4g.nano instance with no inbound rules in the control-plane subnets, reached with SSM "
        "port forwarding: `hyperpod-cdk kubeconfig` tunnels kubectl to the private endpoint (about 4 USD/month).",
    )
    log_retention_days: LogRetentionDays = 365
    existing: ExistingEks | None = Field(
        default=None, description="Use an existing cluster (in network.existing's VPC) instead of creating one."
    )

    @field_validator("public_access_cidrs")
    @classmethod
    def _no_open_endpoint(cls, value: list[ipaddress.IPv4Network]) -> list[ipaddress.IPv4Network]:
        for cidr in value:
            if cidr.prefixlen == 0:
                raise ValueError("0.0.0.0/0 opens the API endpoint to the internet; list your own CIDRs")
        return value

    @model_validator(mode="after")
    def _existing_keys(self) -> EksConfig:
        if self.existing is not None:
            for key in ("public_access_cidrs", "admin_principal_arn", "admin_principal_arns", "access_tunnel",
                        "log_retention_days"):
                if key in self.model_fields_set:
                    raise ValueError(
                        f"{key}: only for a cluster created here; the existing {self.cluster_name} keeps its own"
                    )
        return self

    @property
    def admin_principals(self) -> list[str]:
        """Every principal that gets cluster-admin: ``admin_principal_arn`` first, then ``admin_principal_arns``."""
        named = ([self.admin_principal_arn] if self.admin_principal_arn else []) + list(self.admin_principal_arns)
        return list(dict.fromkeys(named))


class FsxConfig(_Model):
    """FSx for Lustre mounted by every node (Slurm: at /fsx; EKS: a static ``fsx-claim`` volume).

    Created in this stack by default (PERSISTENT_2 SSD, in the default AZ's HyperPod subnet, with
    the HyperPod security group, KMS-encrypted, retained on stack delete), or imported when
    ``file_system_id``, ``dns_name`` and ``mount_name`` are given (then nothing is created).
    """

    storage_capacity_gib: int = Field(
        default=1200, description="1200, 2400, then steps of 2400 GiB (what FSx accepts for PERSISTENT_2 SSD)."
    )
    per_unit_storage_throughput: Literal[125, 250, 500, 1000] = Field(
        default=250, description="MB/s per TiB of storage."
    )
    data_compression_type: Literal["NONE", "LZ4"] = "LZ4"
    file_system_type_version: Literal["2.12", "2.15"] = "2.15"
    automatic_backup_retention_days: Annotated[int, Field(ge=0, le=90)] = Field(
        default=0, description="Daily automatic backups kept this many days; 0 turns them off."
    )
    retain_on_delete: bool = Field(
        default=True,
        description="DeletionPolicy/UpdateReplacePolicy Retain on the file system and its key; false deletes "
        "them with the stack (and on replacement).",
    )
    file_system_id: Annotated[str | None, Field(pattern=FILE_SYSTEM_ID_PATTERN)] = Field(
        default=None, description="Import an existing file system instead of creating one (with dns_name, mount_name)."
    )
    dns_name: Annotated[str | None, Field(pattern=DNS_NAME_PATTERN)] = None
    mount_name: Annotated[str | None, Field(pattern=MOUNT_NAME_PATTERN)] = None
    csi_driver_version: Annotated[str | None, Field(pattern=ADDON_VERSION_PATTERN)] = Field(
        default=None, description="EKS only: version of the aws-fsx-csi-driver add-on; None lets EKS pick."
    )
    efa_client_sha256: Annotated[str | None, Field(pattern=r"^[0-9a-f]{64}$")] = Field(
        default=None,
        description="sha256 of the FSx user guide's configure-efa-fsx-lustre-client.zip, which nodes with EFA "
        "download and run as root to put Lustre on EFA. The guide publishes it at an unversioned URL without a "
        "checksum, so nodes run it only when you pin the digest of the zip you reviewed; without it Lustre uses TCP.",
    )

    @field_validator("storage_capacity_gib")
    @classmethod
    def _capacity_step(cls, value: int) -> int:
        return check_capacity(value)

    @model_validator(mode="after")
    def _create_or_import(self) -> FsxConfig:
        imported = {"file_system_id": self.file_system_id, "dns_name": self.dns_name, "mount_name": self.mount_name}
        given = [key for key, value in imported.items() if value is not None]
        if given and len(given) != len(imported):
            missing = next(key for key in imported if key not in given)
            raise ValueError(
                f"{missing}: importing a file system needs file_system_id, dns_name and mount_name together"
            )
        if given:
            create_only = ("storage_capacity_gib", "per_unit_storage_throughput", "data_compression_type",
                           "file_system_type_version", "automatic_backup_retention_days", "retain_on_delete")
            for key in create_only:
                if key in self.model_fields_set:
                    raise ValueError(
                        f"{key}: only for a file system created here; the imported {self.file_system_id} "
                        "keeps its own settings"
                    )
        return self

    @property
    def imported(self) -> bool:
        return self.file_system_id is not None


class StorageConfig(_Model):
    """Shared storage for the cluster."""

    fsx: FsxConfig | None = Field(default=None, description="FSx for Lustre; omit for none.")


# https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-autoscaling-nodeclass.html
MAX_AUTOSCALED_GROUPS = 10
# Keys that only an EKS-orchestrated cluster can use (HyperPod documents them for EKS only, or this
# library's Slurm lifecycle scripts would clash with them).
EKS_ONLY_GROUP_KEYS = (
    "instance_types", "min_instance_count", "capacity_type", "autoscale", "image_release_version", "fsx_mounts",
)


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
        # Prerequisites: https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-autoscaling.html
        scaled = [(i, g) for i, g in enumerate(self.instance_groups) if g.autoscale]
        if self.autoscaler is None:
            if scaled:
                index, group = scaled[0]
                raise HyperPodConfigError(
                    f"hyperpod.instance_groups[{index}]({group.name}).autoscale",
                    "needs hyperpod.autoscaler: Karpenter",
                )
            return self
        if not scaled:
            raise HyperPodConfigError(
                "hyperpod.autoscaler", "no instance group has autoscale: true; mark the groups Karpenter may scale"
            )
        if len(scaled) > MAX_AUTOSCALED_GROUPS:
            raise HyperPodConfigError(
                "hyperpod.autoscaler",
                f"{len(scaled)} autoscale groups; a HyperpodNodeClass takes at most {MAX_AUTOSCALED_GROUPS}",
            )
        if self.node_provisioning_mode != "Continuous":
            raise HyperPodConfigError(
                "hyperpod.node_provisioning_mode", "autoscaler: Karpenter needs Continuous provisioning"
            )
        if self.node_recovery != "Automatic":
            raise HyperPodConfigError("hyperpod.node_recovery", "autoscaler: Karpenter needs Automatic node recovery")
        return self


class PlatformConfig(_Model):
    """The whole platform: one file, one stack."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True,
        json_schema_extra={"$schema": "http://json-schema.org/draft-07/schema#"},
    )

    name: Annotated[str, Field(pattern=PLATFORM_NAME_PATTERN)] = Field(
        description="Stack name prefix."
    )
    region: Annotated[str, Field(pattern=REGION_PATTERN)]
    account: Annotated[str | None, Field(pattern=ACCOUNT_PATTERN)] = None
    orchestrator: Literal["eks", "slurm"] = Field(
        default="eks", description="eks: HyperPod on an EKS control plane; slurm: a Slurm-orchestrated cluster."
    )
    network: NetworkConfig
    eks: EksConfig | None = Field(default=None, description="Required with orchestrator: eks; unused with slurm.")
    hyperpod: HyperPodConfig
    kubernetes: KubernetesConfig = Field(
        default_factory=KubernetesConfig,
        description="What runs inside EKS: the HyperPod Helm chart, EKS add-ons, teams and charts (eks only).",
    )
    storage: StorageConfig = Field(default_factory=StorageConfig, description="Shared file systems.")
    alerts: AlertsConfig | None = Field(
        default=None, description="One SNS topic for cluster events, alarms, AMP alert rules and the budget."
    )
    cost: CostConfig | None = Field(
        default=None, description="A monthly AWS Budgets budget on the platform's cost allocation tag (needs alerts)."
    )
    slurm: SlurmSettings = Field(
        default_factory=SlurmSettings,
        description="orchestrator: slurm. How HyperPod configures Slurm (API-driven by default) and accounting.",
    )
    tags: dict[
        Annotated[str, Field(min_length=1, max_length=128, pattern=TAG_PATTERN), AfterValidator(_tag_key_not_reserved)],
        Annotated[str, Field(max_length=256, pattern=TAG_PATTERN)],
    ] = {}

    @model_validator(mode="after")
    def _orchestrator_sections(self) -> PlatformConfig:
        groups = self.hyperpod.instance_groups
        if self.orchestrator == "eks":
            if self.eks is None:
                raise HyperPodConfigError("eks", "required key is missing (orchestrator is eks)")
            if "slurm" in self.model_fields_set:
                raise HyperPodConfigError("slurm", "only used with orchestrator: slurm; remove it for an EKS cluster")
            for index, group in enumerate(groups):
                for key in ("slurm_node_type", "partition"):
                    if getattr(group, key) is not None:
                        raise HyperPodConfigError(
                            f"hyperpod.instance_groups[{index}]({group.name}).{key}",
                            "only used with orchestrator: slurm",
                        )
            for index, group in enumerate(groups):
                where = f"hyperpod.instance_groups[{index}]({group.name})"
                for key in ("capacity_type", "min_instance_count"):
                    if getattr(group, key) is not None and self.hyperpod.node_provisioning_mode != "Continuous":
                        raise HyperPodConfigError(
                            f"{where}.{key}", "needs hyperpod.node_provisioning_mode: Continuous"
                        )
                if any(m.uses_platform_fsx for m in group.fsx_mounts) and self.storage.fsx is None:
                    raise HyperPodConfigError(
                        f"{where}.fsx_mounts", "a mount without dns_name mounts storage.fsx; add storage.fsx or "
                        "give dns_name and mount_name"
                    )
            if self.storage.fsx is not None and self.kubernetes.fsx is not None:
                raise HyperPodConfigError(
                    "kubernetes.fsx",
                    "storage.fsx already gives every team namespace the fsx-claim volume; remove one of the two",
                )
            if self.hyperpod.ebs_kms_key == "customer-managed" and self.hyperpod.node_provisioning_mode is None:
                raise HyperPodConfigError(
                    "hyperpod.ebs_kms_key",
                    "HyperPod accepts a customer managed EBS key only in Continuous node provisioning mode; set "
                    "hyperpod.node_provisioning_mode: Continuous, or ebs_kms_key: aws-owned",
                )
            if not system_pod_groups(groups):
                raise HyperPodConfigError(
                    "hyperpod.instance_groups",
                    "no group can host system pods (coredns, cert-manager, the operators): every group runs deep "
                    "health checks or carries a NoSchedule/NoExecute taint. Add a small CPU group without taints "
                    "(e.g. {name: system, instance_type: ml.m5.xlarge, instance_count: 1})",
                )
            return self
        if self.eks is not None:
            raise HyperPodConfigError("eks", "only used with orchestrator: eks; remove it for a Slurm cluster")
        if "kubernetes" in self.model_fields_set:
            raise HyperPodConfigError("kubernetes", "only used with orchestrator: eks; remove it for a Slurm cluster")
        check_slurm_settings(self)
        for index, group in enumerate(groups):
            if group.labels or group.taints:
                key = "labels" if group.labels else "taints"
                raise HyperPodConfigError(
                    f"hyperpod.instance_groups[{index}]({group.name}).{key}",
                    "Kubernetes labels and taints only apply with orchestrator: eks",
                )
            for key in (*EKS_ONLY_GROUP_KEYS, "lifecycle_hook"):
                if key in group.model_fields_set and getattr(group, key) not in (None, False, [], "OnCreate"):
                    raise HyperPodConfigError(
                        f"hyperpod.instance_groups[{index}]({group.name}).{key}",
                        "only used with orchestrator: eks (HyperPod documents it for EKS clusters; on Slurm this "
                        "library's lifecycle scripts configure the node)",
                    )
        for key in ("autoscaler", "tiered_storage_memory_percent"):
            if getattr(self.hyperpod, key) is not None:
                raise HyperPodConfigError(f"hyperpod.{key}", "only used with orchestrator: eks")
        slurm_layout(groups)  # raises HyperPodConfigError naming the group and field
        return self

    @model_validator(mode="after")
    def _cost_needs_alerts(self) -> PlatformConfig:
        if self.cost is not None and self.alerts is None:
            raise HyperPodConfigError(
                "cost", "the budget notifies the alerts topic: add alerts: {email: [you@example.com]}"
            )
        return self

    @model_validator(mode="after")
    def _existing_resources(self) -> PlatformConfig:
        existing_net = self.network.existing
        existing_eks = self.eks.existing if self.eks is not None else None
        if existing_net is None:
            if existing_eks is not None:
                raise HyperPodConfigError(
                    "eks.existing",
                    "an existing EKS cluster lives in an existing VPC: describe it under network.existing",
                )
            return self
        subnets = existing_net.control_plane_subnet_ids
        if self.orchestrator == "slurm":
            if subnets:
                raise HyperPodConfigError(
                    "network.existing.control_plane_subnet_ids", "only used with orchestrator: eks; remove it"
                )
        elif existing_eks is None and len(subnets) < 2:
            raise HyperPodConfigError(
                "network.existing.control_plane_subnet_ids",
                "EKS needs private subnets in at least two AZs for its control plane; list two or more",
            )
        elif not subnets:
            raise HyperPodConfigError(
                "network.existing.control_plane_subnet_ids",
                "list at least one private subnet that reaches the cluster endpoint: the Helm and kubectl "
                "installers run there",
            )
        return self

    @model_validator(mode="after")
    def _closed_network(self) -> PlatformConfig:
        helm = self.kubernetes.helm_dependencies
        if self.network.closed and self.orchestrator == "eks" and helm.enabled and helm.source_s3_uri is None:
            raise HyperPodConfigError(
                "kubernetes.helm_dependencies.source_s3_uri",
                "required with network.closed: true (the installer cannot reach github.com or the chart "
                "repositories); build the bundle where there is internet with `make chart-bundle` and give "
                "its s3:// URI",
            )
        if self.network.closed and self.orchestrator == "eks":
            problem = unreachable_chart_images(self.kubernetes, self.region)
            if problem is not None:
                raise HyperPodConfigError(*problem)
        return self

    @model_validator(mode="after")
    def _lifecycle_hook_fits_the_bundled_script(self) -> PlatformConfig:
        # OnInitComplete "runs on the node after the AMI-based initialization is complete" (SageMaker
        # API reference, ClusterLifeCycleConfig: https://docs.aws.amazon.com/sagemaker/latest/APIReference/
        # API_ClusterLifeCycleConfig.html): on the HyperPod EKS AMI that initialization is the node
        # bootstrap that starts containerd and kubelet. The bundled eks/on_create.sh moves their data
        # onto the instance group's EBS volume and can only do so before they hold running pods, so it
        # refuses live mounts; the app always ships that script, hence the combination is refused here.
        for index, group in enumerate(self.hyperpod.instance_groups):
            if self.orchestrator == "eks" and group.lifecycle_hook == "OnInitComplete":
                raise HyperPodConfigError(
                    f"hyperpod.instance_groups[{index}]({group.name}).lifecycle_hook",
                    "OnInitComplete runs the lifecycle scripts after the AMI's own node setup has started "
                    "containerd and kubelet, and the bundled on_create.sh must move their data to the EBS volume "
                    "before they run; use OnCreate (the default). HyperPodCluster with your own scripts accepts it",
                )
        return self

    @property
    def control_plane_az_ids(self) -> list[str]:
        """The AZ IDs of the control-plane and public subnets of a VPC created here (max_azs of them)."""
        net = self.network
        if net.control_plane_availability_zone_ids is not None:
            return list(net.control_plane_availability_zone_ids)
        prefix = az_id_prefix(self.region) or ""
        return default_control_plane_az_ids(prefix, net.availability_zone_ids, net.max_azs)

    def _check_control_plane_az_ids(self, prefix: str | None) -> None:
        net = self.network
        field = "network.control_plane_availability_zone_ids"
        given = net.control_plane_availability_zone_ids
        for index, az_id in enumerate(given or ()):
            if prefix and not az_id.startswith(prefix + "-"):
                raise HyperPodConfigError(
                    f"{field}[{index}]", f"'{az_id}' is not an AZ ID of {self.region} (they look like {prefix}-az1)"
                )
            if az_id in EKS_UNSUPPORTED_AZ_IDS:
                # https://docs.aws.amazon.com/eks/latest/userguide/network-reqs.html#network-requirements-subnets
                raise HyperPodConfigError(
                    f"{field}[{index}]", f"EKS does not create control planes in {az_id} "
                    "(UnsupportedAvailabilityZoneException); choose another AZ ID",
                )
        if given is not None and len(set(given)) != len(given):
            raise HyperPodConfigError(field, f"{given} repeats an AZ ID; list {net.max_azs} different ones")
        if given is not None and len(given) != net.max_azs:
            raise HyperPodConfigError(field, f"list network.max_azs ({net.max_azs}) AZ IDs, got {len(given)}")
        if given is None and net.existing is None and prefix and len(self.control_plane_az_ids) < net.max_azs:
            raise HyperPodConfigError(field, f"give {net.max_azs} AZ IDs of {self.region} that EKS accepts")

    @model_validator(mode="after")
    def _azs_belong(self) -> PlatformConfig:
        if not known_region(self.region):
            raise HyperPodConfigError(
                "region",
                f"'{self.region}' is not an AWS region this botocore knows (such as us-west-2); check the "
                "spelling, or upgrade boto3 for a region launched since",
            )
        prefix = az_id_prefix(self.region)
        if prefix:
            for index, az_id in enumerate(self.network.availability_zone_ids):
                if not az_id.startswith(prefix + "-"):
                    raise HyperPodConfigError(
                        f"network.availability_zone_ids[{index}]",
                        f"'{az_id}' is not an AZ ID of {self.region} (they look like {prefix}-az1)",
                    )
        self._check_control_plane_az_ids(prefix)
        for index, group in enumerate(self.hyperpod.instance_groups):
            key = "instance_type" if group.instance_type else "instance_types"
            check_offered(self.region, group, f"hyperpod.instance_groups[{index}]({group.name}).{key}")
            if group.availability_zone_id and group.availability_zone_id not in self.network.availability_zone_ids:
                raise HyperPodConfigError(
                    f"hyperpod.instance_groups[{index}].availability_zone_id",
                    f"'{group.availability_zone_id}' has no HyperPod subnet; add it to "
                    f"network.availability_zone_ids {self.network.availability_zone_ids}",
                )
        # Subnet sizing is part of validity: a plan that does not fit fails here, for the app and the CLI.
        plan_for_config(self)
        return self

    @model_validator(mode="after")
    def _kubernetes_fits_platform(self) -> PlatformConfig:
        if self.orchestrator != "eks" or self.eks is None:
            return self
        fsx = self.storage.fsx
        check_kubernetes(
            self.kubernetes,
            region=self.region,
            instance_groups=self.hyperpod.instance_groups,
            fsx_configured=fsx is not None,
            fsx_csi_driver_version=fsx.csi_driver_version if fsx is not None else None,
            existing_eks=self.eks.existing is not None,
        )
        return self

    def group_az_id(self, group: InstanceGroup) -> str:
        return group.availability_zone_id or self.network.availability_zone_ids[0]

    @property
    def slurm_layout(self) -> SlurmLayout:
        """Controller, login and compute groups (orchestrator: slurm); raises on an invalid layout."""
        return slurm_layout(self.hyperpod.instance_groups)

    @property
    def node_provisioning_mode(self) -> str | None:
        """What the cluster gets: the configured mode on EKS; on Slurm only an explicit one (API-driven only)."""
        if self.orchestrator == "eks":
            return self.hyperpod.node_provisioning_mode
        return slurm_provisioning_mode(self)

    @property
    def customer_managed_ebs_key(self) -> bool:
        """Whether the instance groups' EBS volumes use the platform's KMS key (``VolumeKmsKeyId``).

        HyperPod accepts a customer managed key only in Continuous node provisioning mode
        (https://docs.aws.amazon.com/sagemaker/latest/dg/smcluster-cmk.html); validation refuses
        an explicit ``customer-managed`` anywhere else, and the default follows the mode.
        """
        if self.hyperpod.ebs_kms_key is not None:
            return self.hyperpod.ebs_kms_key == "customer-managed"
        return self.node_provisioning_mode == "Continuous"

    @property
    def system_instance_groups(self) -> list[str]:
        """Names of the groups whose nodes can host system pods (see :func:`system_pod_groups`)."""
        return system_pod_groups(self.hyperpod.instance_groups)

    @property
    def eks_config(self) -> EksConfig:
        """The ``eks`` section; only valid with orchestrator: eks (validation guarantees it is set)."""
        if self.eks is None:
            raise HyperPodConfigError("eks", "required key is missing (orchestrator is eks)")
        return self.eks


# Effects that keep pods without a matching toleration off a node (PreferNoSchedule does not).
_REPELLING_EFFECTS = ("NoSchedule", "NoExecute")


def system_pod_groups(groups: Sequence[InstanceGroup]) -> list[str]:
    """Groups whose nodes can run coredns, cert-manager and the operators as soon as they join.

    A group qualifies when it has at least one instance, runs no deep health checks and carries no
    NoSchedule/NoExecute taint. HyperPod taints a node ``sagemaker.amazonaws.com/node-health-status=
    Unschedulable:NoSchedule`` while its deep health checks run (and custom taints are refused on such
    groups), so accelerated groups with checks on are unschedulable for system pods during the first
    boot (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-resiliency-node-labels.html).
    """
    return [
        group.name for group in groups
        if group.instance_count >= 1
        and not group.effective_deep_health_checks
        and not any(taint.effect in _REPELLING_EFFECTS for taint in group.taints)
    ]


def check_offered(region: str, group: InstanceGroup, field: str) -> None:
    """Raise naming ``field`` when HyperPod does not offer the group's type in ``region``.

    Regions missing from the vendored list are not checked; a type with ``ips_per_node`` set is
    taken as newer than the list.
    """
    offered = offered_in(region)
    if offered is None or group.ips_per_node is not None:
        return
    for instance_type in group.candidate_types:
        if instance_type not in offered:
            raise HyperPodConfigError(
                field,
                f"{instance_type} is not offered by SageMaker HyperPod in {region}; pick another type or "
                "region (list: hyperpod_cdk/specs/data/hyperpod_instance_types.json)",
            )


def group_demands(
    groups: Sequence[InstanceGroup], orchestrator: str, default_az_id: str
) -> dict[str, list[GroupDemand]]:
    """IP demand of each group, by the AZ ID it runs in."""
    kind = Orchestrator(orchestrator)
    by_az: dict[str, list[GroupDemand]] = {}
    for group in groups:
        az_id = group.availability_zone_id or default_az_id
        # A flexible group is planned at its hungriest type; an autoscale group at max_instance_count.
        options = [demand(group.name, t, group.planned_count, kind, group.ips_per_node) for t in group.candidate_types]
        by_az.setdefault(az_id, []).append(max(options, key=lambda d: d.ips_per_node))
    return by_az


def plan_for_config(config: PlatformConfig) -> list[SubnetPlan]:
    """Plan the HyperPod subnets of a platform config (raises when the plan does not fit).

    Subnets the platform creates are carved from ``network.hyperpod_cidr``; existing ones
    (``network.existing.hyperpod_subnets``) are checked with the CIDRs written in the config.
    """
    net = config.network
    by_az = group_demands(config.hyperpod.instance_groups, config.orchestrator, net.availability_zone_ids[0])
    orchestrator = Orchestrator(config.orchestrator)
    if net.existing is not None and net.existing.hyperpod_subnets:
        cidrs = {az: net.existing.hyperpod_subnets[az].cidr for az in net.availability_zone_ids}
        return plan_existing_subnets(
            cidrs, by_az, net.ip_headroom_percent, orchestrator, "network.existing.hyperpod_subnets"
        )
    return plan_subnets(net.hyperpod_cidr, net.availability_zone_ids, by_az, net.ip_headroom_percent, orchestrator)


def _explain(error: Any, data: Any, root: type[BaseModel] | None = None) -> HyperPodConfigError:
    """One plain line for a pydantic error (see :mod:`hyperpod_cdk.config.messages`)."""
    return explain(error, data, root or PlatformConfig)


def parse_config(data: Any) -> PlatformConfig:
    """Validate a mapping; raise one :class:`HyperPodConfigError` for the first problem found."""
    token = _VALIDATING.set(True)
    try:
        return PlatformConfig.model_validate(data)
    except ValidationError as exc:
        raise _explain(first_error(exc.errors(), data), data) from None
    finally:
        _VALIDATING.reset(token)


def load_config(path: str | Path) -> PlatformConfig:
    """Read and validate a YAML config file."""
    file = Path(path)
    try:
        text = input_limits.read_text(file, input_limits.CONFIG_LIMITS)
    except OSError as exc:
        raise HyperPodConfigError(str(file), f"cannot read the config file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise HyperPodConfigError(str(file), "the config file is not UTF-8 text") from None
    except input_limits.InputLimitError as exc:
        raise HyperPodConfigError(str(file), str(exc)) from None
    try:
        # Capped: an alias bomb or deep nesting would otherwise hang or overflow in validation.
        data = input_limits.load_yaml(text, input_limits.CONFIG_LIMITS)
    except input_limits.InputLimitError as exc:
        raise HyperPodConfigError(str(file), str(exc)) from None
    except yaml.YAMLError as exc:
        raise HyperPodConfigError(str(file), yaml_error_message(exc)) from None
    if not isinstance(data, dict):
        raise HyperPodConfigError(str(file), "the config must be a YAML mapping (name:, region:, network: ...)")
    return parse_config(data)


def json_schema() -> dict[str, Any]:
    """The JSON Schema editors use for completion and validation of ``hyperpod.yaml``."""
    return PlatformConfig.model_json_schema()
