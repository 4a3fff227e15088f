"""Typed platform configuration (``hyperpod.yaml``).

One pydantic model describes the whole platform. The CDK app, the constructs' convenience
factories and the ops CLI all read it, so a value is validated once, the same way, before any
resource is defined. Every error becomes a :class:`HyperPodConfigError` naming the field.

The JSON Schema for editor completion is generated from these models
(``hyperpod-cdk schema`` / ``schema/hyperpod.schema.json``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    model_validator,
)

# Names defined here before the split into base/network/eks/hyperpod/storage/loading modules stay
# importable from this module (issue 21).
from hyperpod_cdk.config.base import (  # noqa: F401
    _AZ_NAME,
    _DIRECTIONS,
    _VALIDATING,
    ACCOUNT_PATTERN,
    ALARM_NAME_PATTERN,
    IMAGE_ID_PATTERN,
    IMAGE_RELEASE_VERSION_PATTERN,
    INSTANCE_TYPE_PATTERN,
    LABEL_KEY_PATTERN,
    MOUNT_PATH_PATTERN,
    NAT_GATEWAY_ID_PATTERN,
    PLATFORM_NAME_PATTERN,
    ROUTE_TABLE_ID_PATTERN,
    SCHEDULE_PATTERN,
    SECURITY_GROUP_ID_PATTERN,
    SUBNET_ID_PATTERN,
    TAG_PATTERN,
    TRAINING_PLAN_PATTERN,
    VPC_ID_PATTERN,
    AutoPatchStrategy,
    CapacityType,
    Cidr,
    Count,
    DeepHealthCheck,
    LifecycleHook,
    LogRetentionDays,
    NetworkInterfaceType,
    SlurmNodeType,
    _az_id_message,
    _cidr_as_text,
    _count_not_bool,
    _Model,
    _tag_key_not_reserved,
)
from hyperpod_cdk.config.base import (
    AZ_ID_PATTERN as AZ_ID_PATTERN,
)
from hyperpod_cdk.config.base import (
    EKS_NAME_PATTERN as EKS_NAME_PATTERN,
)
from hyperpod_cdk.config.base import (
    HYPERPOD_NAME_PATTERN as HYPERPOD_NAME_PATTERN,
)
from hyperpod_cdk.config.base import (
    IAM_PRINCIPAL_PATTERN as IAM_PRINCIPAL_PATTERN,
)
from hyperpod_cdk.config.base import (
    REGION_PATTERN as REGION_PATTERN,
)
from hyperpod_cdk.config.base import (
    az_id_prefix as az_id_prefix,
)
from hyperpod_cdk.config.eks import (  # noqa: F401
    EksConfig as EksConfig,
)
from hyperpod_cdk.config.eks import (
    ExistingEks as ExistingEks,
)
from hyperpod_cdk.config.hyperpod import (  # noqa: F401
    FsxMount as FsxMount,
)
from hyperpod_cdk.config.hyperpod import (
    HyperPodConfig as HyperPodConfig,
)
from hyperpod_cdk.config.hyperpod import (
    InstanceGroup as InstanceGroup,
)
from hyperpod_cdk.config.hyperpod import (
    ScheduledUpdate as ScheduledUpdate,
)
from hyperpod_cdk.config.hyperpod import (
    Taint as Taint,
)
from hyperpod_cdk.config.hyperpod_checks import (  # noqa: F401
    _REPELLING_EFFECTS,
    EKS_ONLY_GROUP_KEYS,
    MAX_AUTOSCALED_GROUPS,
    check_orchestrator_sections,
)
from hyperpod_cdk.config.hyperpod_checks import (
    check_offered as check_offered,
)
from hyperpod_cdk.config.hyperpod_checks import (
    system_pod_groups as system_pod_groups,
)
from hyperpod_cdk.config.kubernetes import KubernetesConfig, unreachable_chart_images
from hyperpod_cdk.config.kubernetes_checks import check_kubernetes, check_team_ingress_cidrs
from hyperpod_cdk.config.network import (  # noqa: F401
    ExistingNetwork as ExistingNetwork,
)
from hyperpod_cdk.config.network import (
    ExistingSubnet as ExistingSubnet,
)
from hyperpod_cdk.config.network import (
    NetworkConfig as NetworkConfig,
)
from hyperpod_cdk.config.network import (
    group_demands as group_demands,
)
from hyperpod_cdk.config.network import (
    plan_for_config as plan_for_config,
)
from hyperpod_cdk.config.signals import AlertsConfig, CostConfig
from hyperpod_cdk.config.slurm import SlurmSettings
from hyperpod_cdk.config.slurm_checks import slurm_provisioning_mode
from hyperpod_cdk.config.storage import (  # noqa: F401
    FsxConfig as FsxConfig,
)
from hyperpod_cdk.config.storage import (
    StorageConfig as StorageConfig,
)
from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.specs.az_ids import EKS_UNSUPPORTED_AZ_IDS, default_control_plane_az_ids
from hyperpod_cdk.specs.regions import known_region
from hyperpod_cdk.specs.slurm import SlurmLayout, slurm_layout


class PlatformConfig(_Model):
    """The whole platform: one file, one stack."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        validate_default=True,
        json_schema_extra={"$schema": "http://json-schema.org/draft-07/schema#"},
    )

    name: Annotated[str, Field(pattern=PLATFORM_NAME_PATTERN)] = Field(description="Stack name prefix.")
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
        check_orchestrator_sections(self)
        return self

    @model_validator(mode="after")
    def _cost_needs_alerts(self) -> PlatformConfig:
        if self.cost is not None and self.alerts is None:
            raise HyperPodConfigError(
                "cost", "the budget notifies the alerts topic: add alerts: {email: [you@example.com]}"
            )
        admins = set(self.eks.admin_principals) if self.eks is not None else set()
        for index, team in enumerate(self.kubernetes.teams):
            if team.submitter_role_arn in admins:
                # EKS allows one access entry per principal; the platform would create two (R28-M2).
                raise HyperPodConfigError(
                    f"kubernetes.teams[{index}]({team.name}).submitter_role_arn",
                    "the role is also in eks.admin_principal_arns (EKS allows one access entry per principal): "
                    "an admin may already submit to every team; map it in one place",
                )
        topic = self.alerts.sns_topic_arn.split(":") if self.alerts and self.alerts.sns_topic_arn else None
        if topic is not None and self.account is not None and topic[4] != self.account:
            # Another account's topic: an event rule reaches it only through an execution role, and aws-cdk-lib
            # refuses the target (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-cross-account
            # .html; review round 25, R25P-L3).
            raise HyperPodConfigError(
                "alerts.sns_topic_arn",
                f"the topic is in account {topic[4]} but the platform in {self.account}: "
                f"give a topic of {self.account}",
            )
        topic_region = topic[3] if topic is not None else None
        if topic_region is not None and topic_region != self.region:
            # An EventBridge rule's targets are in its region (cross-region takes an event bus), and CloudWatch
            # alarm actions need a topic of the alarm's region: https://docs.aws.amazon.com/eventbridge/latest/
            # userguide/eb-cross-region.html (review round 23, R23U-L3).
            raise HyperPodConfigError(
                "alerts.sns_topic_arn",
                f"the topic is in {topic_region} but the platform in {self.region}: give a topic of {self.region}",
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
                    f"{field}[{index}]",
                    f"EKS does not create control planes in {az_id} "
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
        check_team_ingress_cidrs(self.kubernetes, self.network, existing_eks=self.eks.existing is not None)
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


# The loaders need PlatformConfig, so they are imported once it exists; the names stay importable
# from this module as before the split.
from hyperpod_cdk.config.loading import _explain  # noqa: E402,F401
from hyperpod_cdk.config.loading import json_schema as json_schema  # noqa: E402
from hyperpod_cdk.config.loading import load_config as load_config  # noqa: E402
from hyperpod_cdk.config.loading import parse_config as parse_config  # noqa: E402
