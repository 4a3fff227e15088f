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
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from hyperpod_cdk.config.kubernetes import ADDON_VERSION_PATTERN, KubernetesConfig
from hyperpod_cdk.config.kubernetes_checks import check_kubernetes
from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.specs.fsx import (
    DNS_NAME_PATTERN,
    FILE_SYSTEM_ID_PATTERN,
    MOUNT_NAME_PATTERN,
    check_capacity,
)
from hyperpod_cdk.specs.instance_types import Orchestrator, spec_for, supports_deep_health_checks
from hyperpod_cdk.specs.kubernetes_versions import DEFAULT_VERSION, KubernetesVersion
from hyperpod_cdk.specs.network_plan import GroupDemand, SubnetPlan, demand, plan_existing_subnets, plan_subnets
from hyperpod_cdk.specs.offerings import offered_in
from hyperpod_cdk.specs.regions import known_region
from hyperpod_cdk.specs.slurm import PARTITION_PATTERN, SlurmLayout, slurm_layout

# Patterns come from the AWS::SageMaker::Cluster and AWS::EKS::Cluster CloudFormation schemas.
HYPERPOD_NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
EKS_NAME_PATTERN = r"^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$"
AZ_ID_PATTERN = r"^[a-z]{2,5}[0-9]-az[0-9]{1,2}$"
REGION_PATTERN = r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$"
IAM_PRINCIPAL_PATTERN = r"^arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:(role|user|assumed-role)/[\w+=,.@/-]+$"
TRAINING_PLAN_PATTERN = r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:[0-9]{12}:training-plan/[a-zA-Z0-9-]+$"
IMAGE_ID_PATTERN = r"^(ami-[0-9a-f]{8,17}|default)$"
LABEL_KEY_PATTERN = r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
# EC2 resource IDs: the prefix, then 8 (older resources) or 17 hex digits.
VPC_ID_PATTERN = r"^vpc-[0-9a-f]{8}([0-9a-f]{9})?$"
SUBNET_ID_PATTERN = r"^subnet-[0-9a-f]{8}([0-9a-f]{9})?$"
SECURITY_GROUP_ID_PATTERN = r"^sg-[0-9a-f]{8}([0-9a-f]{9})?$"
NAT_GATEWAY_ID_PATTERN = r"^nat-[0-9a-f]{8}([0-9a-f]{9})?$"
ROUTE_TABLE_ID_PATTERN = r"^rtb-[0-9a-f]{8}([0-9a-f]{9})?$"

DeepHealthCheck = Literal["InstanceStress", "InstanceConnectivity"]
SlurmNodeType = Literal["Controller", "Login", "Compute"]
# CloudWatch Logs accepts only these retention values.
LogRetentionDays = Literal[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653]

_DIRECTIONS = {
    "east": "e", "west": "w", "north": "n", "south": "s", "central": "c",
    "northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw",
}


def az_id_prefix(region: str) -> str | None:
    """``us-east-1`` -> ``use1``: the prefix every AZ ID of that region carries (None if unknown)."""
    match = re.fullmatch(r"([a-z]{2})(-gov)?-([a-z]+)-([0-9])", region)
    if not match or match.group(3) not in _DIRECTIONS:
        return None
    area, gov, direction, number = match.groups()
    return f"{area}{'g' if gov else ''}{_DIRECTIONS[direction]}{number}"


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
            error = _explain(exc.errors()[0], data)
            raise HyperPodConfigError(f"{type(self).__name__}.{error.field}", error.message) from None
        finally:
            _VALIDATING.reset(token)


class Taint(_Model):
    """A Kubernetes taint HyperPod puts on every node of the group."""

    key: Annotated[str, Field(min_length=1, max_length=317, pattern=LABEL_KEY_PATTERN)]
    value: Annotated[str | None, Field(max_length=63)] = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


class InstanceGroup(_Model):
    """One HyperPod instance group.

    Defaults: 1 thread per core (what EFA/NCCL workloads want), a 500 GiB KMS-encrypted
    secondary EBS volume, and deep health checks on for accelerated instance types.
    """

    name: Annotated[str, Field(max_length=63, pattern=HYPERPOD_NAME_PATTERN)]
    instance_type: Annotated[str, Field(pattern=r"^ml\.[a-z0-9-]+\.[a-z0-9]+$")]
    instance_count: Annotated[int, Field(ge=0, le=6758)]
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
        if spec_for(self.instance_type) is None and self.ips_per_node is None:
            raise ValueError(
                f"instance_type: '{self.instance_type}' is not a SageMaker HyperPod instance type this "
                "library knows; use one like ml.p5.48xlarge, ml.g5.8xlarge or ml.trn1.32xlarge, or set "
                "ips_per_node for a new type"
            )
        if self.deep_health_checks and not supports_deep_health_checks(self.instance_type):
            raise ValueError(
                f"deep_health_checks: {self.instance_type} does not support deep health checks "
                "(GPU and Trainium types only); remove the key or set it to []"
            )
        if len(set(self.deep_health_checks or [])) != len(self.deep_health_checks or []):
            raise ValueError("deep_health_checks: list each check at most once")
        return self

    @property
    def effective_deep_health_checks(self) -> list[str]:
        if self.deep_health_checks is not None:
            return list(self.deep_health_checks)
        if supports_deep_health_checks(self.instance_type):
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
    nat_gateways: Annotated[int, Field(ge=1, le=3)] = 1
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
            return self._existing_consistent(self.existing)
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
        for key in ("vpc_cidr", "max_azs", "nat_gateways", "flow_log_retention_days"):
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
    kubernetes_version: KubernetesVersion = DEFAULT_VERSION
    public_access_cidrs: list[Cidr] = Field(
        default=[], description="Empty means a private-only endpoint."
    )
    admin_principal_arn: Annotated[str | None, Field(pattern=IAM_PRINCIPAL_PATTERN)] = Field(
        default=None, description="IAM role or user that gets cluster-admin through an access entry."
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
            for key in ("public_access_cidrs", "admin_principal_arn", "log_retention_days"):
                if key in self.model_fields_set:
                    raise ValueError(
                        f"{key}: only for a cluster created here; the existing {self.cluster_name} keeps its own"
                    )
        return self


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


class HyperPodConfig(_Model):
    """The ``AWS::SageMaker::Cluster``."""

    cluster_name: Annotated[str, Field(max_length=63, pattern=HYPERPOD_NAME_PATTERN)]
    node_recovery: Literal["Automatic", "None"] = "Automatic"
    node_provisioning_mode: Literal["Continuous"] | None = "Continuous"
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


class PlatformConfig(_Model):
    """The whole platform: one file, one stack."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True,
        json_schema_extra={"$schema": "http://json-schema.org/draft-07/schema#"},
    )

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")] = Field(
        description="Stack name prefix."
    )
    region: Annotated[str, Field(pattern=REGION_PATTERN)]
    account: Annotated[str | None, Field(pattern=r"^[0-9]{12}$")] = None
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
    tags: dict[Annotated[str, Field(min_length=1, max_length=128)], Annotated[str, Field(max_length=256)]] = {}

    @model_validator(mode="after")
    def _orchestrator_sections(self) -> PlatformConfig:
        groups = self.hyperpod.instance_groups
        if self.orchestrator == "eks":
            if self.eks is None:
                raise HyperPodConfigError("eks", "required key is missing (orchestrator is eks)")
            for index, group in enumerate(groups):
                for key in ("slurm_node_type", "partition"):
                    if getattr(group, key) is not None:
                        raise HyperPodConfigError(
                            f"hyperpod.instance_groups[{index}]({group.name}).{key}",
                            "only used with orchestrator: slurm",
                        )
            if self.storage.fsx is not None and self.kubernetes.fsx is not None:
                raise HyperPodConfigError(
                    "kubernetes.fsx",
                    "storage.fsx already gives every team namespace the fsx-claim volume; remove one of the two",
                )
            return self
        if self.eks is not None:
            raise HyperPodConfigError("eks", "only used with orchestrator: eks; remove it for a Slurm cluster")
        if "kubernetes" in self.model_fields_set:
            raise HyperPodConfigError("kubernetes", "only used with orchestrator: eks; remove it for a Slurm cluster")
        explicit_mode = "node_provisioning_mode" in self.hyperpod.model_fields_set
        if explicit_mode and self.hyperpod.node_provisioning_mode is not None:
            raise HyperPodConfigError(
                "hyperpod.node_provisioning_mode",
                "Continuous provisioning is only supported for EKS-orchestrated clusters; remove it or set null",
            )
        for index, group in enumerate(groups):
            if group.labels or group.taints:
                key = "labels" if group.labels else "taints"
                raise HyperPodConfigError(
                    f"hyperpod.instance_groups[{index}]({group.name}).{key}",
                    "Kubernetes labels and taints only apply with orchestrator: eks",
                )
        slurm_layout(groups)  # raises HyperPodConfigError naming the group and field
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
        for index, group in enumerate(self.hyperpod.instance_groups):
            check_offered(self.region, group, f"hyperpod.instance_groups[{index}]({group.name}).instance_type")
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
        """What the cluster gets: the configured mode on EKS; none on Slurm (Continuous is EKS-only)."""
        return self.hyperpod.node_provisioning_mode if self.orchestrator == "eks" else None

    @property
    def eks_config(self) -> EksConfig:
        """The ``eks`` section; only valid with orchestrator: eks (validation guarantees it is set)."""
        if self.eks is None:
            raise HyperPodConfigError("eks", "required key is missing (orchestrator is eks)")
        return self.eks


def check_offered(region: str, group: InstanceGroup, field: str) -> None:
    """Raise naming ``field`` when HyperPod does not offer the group's type in ``region``.

    Regions missing from the vendored list are not checked; a type with ``ips_per_node`` set is
    taken as newer than the list.
    """
    offered = offered_in(region)
    if offered is not None and group.instance_type not in offered and group.ips_per_node is None:
        raise HyperPodConfigError(
            field,
            f"{group.instance_type} is not offered by SageMaker HyperPod in {region}; pick another type or "
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
        by_az.setdefault(az_id, []).append(
            demand(group.name, group.instance_type, group.instance_count, kind, group.ips_per_node)
        )
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


def _field_path(loc: tuple[Any, ...], data: Any) -> str:
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and item < len(node):
                node = node[item]
                if isinstance(node, Mapping) and isinstance(node.get("name"), str):
                    label = f"[{item}]({node['name']})"
            else:
                node = None
            parts.append(label)
        else:
            parts.append(("." if parts else "") + str(item))
            node = node.get(item) if isinstance(node, Mapping) else None
    return "".join(parts) or "(top level)"


def _explain(error: Any, data: Any) -> HyperPodConfigError:
    loc = tuple(error["loc"])
    kind = error["type"]
    ctx = error.get("ctx") or {}
    inner = ctx.get("error")
    # Validators that know a more precise field path than pydantic's location raise our error.
    if isinstance(inner, HyperPodConfigError):
        return HyperPodConfigError(inner.field, inner.message)
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        return HyperPodConfigError(_field_path(loc, data), "unknown key; check the spelling against the schema")
    if kind == "missing":
        return HyperPodConfigError(_field_path(loc, data), "required key is missing")
    # Messages of our own validators start with the sub-field they concern ("instance_type: ...").
    head, sep, rest = message.partition(": ")
    if sep and re.fullmatch(r"[a-z_]+", head):
        return HyperPodConfigError(_field_path(loc + (head,), data), rest)
    if kind == "string_pattern_mismatch":
        message = f"'{error.get('input')}' does not match {ctx.get('pattern')}"
    elif "input" in error and kind not in ("model_type", "dict_type", "list_type"):
        message = f"{message} (got {error['input']!r})"
    return HyperPodConfigError(_field_path(loc, data), message)


def parse_config(data: Any) -> PlatformConfig:
    """Validate a mapping; raise one :class:`HyperPodConfigError` for the first problem found."""
    token = _VALIDATING.set(True)
    try:
        return PlatformConfig.model_validate(data)
    except ValidationError as exc:
        raise _explain(exc.errors()[0], data) from None
    finally:
        _VALIDATING.reset(token)


def load_config(path: str | Path) -> PlatformConfig:
    """Read and validate a YAML config file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise HyperPodConfigError(str(file), f"cannot read the config file ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise HyperPodConfigError(str(file), f"not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise HyperPodConfigError(str(file), "the config must be a YAML mapping (name:, region:, network: ...)")
    return parse_config(data)


def json_schema() -> dict[str, Any]:
    """The JSON Schema editors use for completion and validation of ``hyperpod.yaml``."""
    return PlatformConfig.model_json_schema()
