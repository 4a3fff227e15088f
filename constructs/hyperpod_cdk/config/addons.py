"""The ``kubernetes.addons`` section: the EKS add-ons around HyperPod and their settings."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import Field, model_validator

from hyperpod_cdk.config.base import DnsSubdomain, _Model
from hyperpod_cdk.config.helm import ADDON_VERSION_PATTERN
from hyperpod_cdk.config.messages import register_hints
from hyperpod_cdk.specs.addon_compat import task_governance_problem
from hyperpod_cdk.specs.addon_conflicts import CERT_MANAGER
from hyperpod_cdk.specs.fsx import DEFAULT_BACKUP_RETENTION_DAYS


class AddonConfig(_Model):
    """One EKS add-on: on or off, an optional version pin and extra configuration values."""

    #: The EKS add-on's name (``aws eks list-addons``); the add-on construct of this key takes it from here.
    ADDON_NAME: ClassVar[str]
    enabled: bool
    version: Annotated[str | None, Field(pattern=ADDON_VERSION_PATTERN)] = Field(
        default=None, description="e.g. v1.18.2-eksbuild.2; None lets EKS pick its default for the cluster version."
    )
    configuration_values: dict[str, Any] = Field(
        default={}, description="Merged (deeply) over the values this library sets for the add-on."
    )
    #: (setting, switch, error): a setting that means nothing unless its switch is on.
    settings_needing_switch: ClassVar[tuple[tuple[str, str, str], ...]] = ()

    @model_validator(mode="after")
    def _settings_have_switch(self) -> Self:
        for setting, switch, error in self.settings_needing_switch:
            if getattr(self, setting) is not None and not getattr(self, switch):
                raise ValueError(error)
        return self


class CertManagerConfig(AddonConfig):
    """cert-manager (EKS community add-on), required by the training operator."""

    ADDON_NAME: ClassVar[str] = CERT_MANAGER
    enabled: bool = True


class TrainingOperatorConfig(AddonConfig):
    """The HyperPod training operator add-on (HyperPodPyTorchJob)."""

    ADDON_NAME: ClassVar[str] = "amazon-sagemaker-hyperpod-training-operator"
    enabled: bool = True


BasicOrAdvanced = Literal["BASIC", "ADVANCED"]
DisabledOrAdvanced = Literal["DISABLED", "ADVANCED"]
# Scrape interval AWS's own templates use for every category (aws/sagemaker-hyperpod-cluster-setup
# eks/cloudformation/observability-template.yaml @0ab564d7; awsome-distributed-ai observability module).
SCRAPE_INTERVAL_SECONDS = 30
# Config key -> the add-on's metricsProvider key. "clusterMetrics" is what AWS's CloudFormation template
# writes; AWS's Terraform module writes "customMetrics" for the same setting. The add-on's schema
# (`aws eks describe-addon-configuration`) was not reachable; the CloudFormation key is used.
METRIC_KEYS: dict[str, str] = {
    "training": "trainingMetrics",
    "task_governance": "taskGovernanceMetrics",
    "scaling": "scalingMetrics",
    "cluster": "clusterMetrics",
    "node": "nodeMetrics",
    "network": "networkMetrics",
    "accelerated_compute": "acceleratedComputeMetrics",
}


class ObservabilityMetrics(_Model):
    """Metric levels per category; defaults and allowed levels are those of AWS's templates."""

    training: BasicOrAdvanced = "BASIC"
    task_governance: DisabledOrAdvanced = "DISABLED"
    scaling: DisabledOrAdvanced = "DISABLED"
    cluster: BasicOrAdvanced = "BASIC"
    node: BasicOrAdvanced = "BASIC"
    network: DisabledOrAdvanced = "DISABLED"
    accelerated_compute: BasicOrAdvanced = "BASIC"

    def metrics_provider(self, *, logging: bool) -> dict[str, Any]:
        """The add-on's ``metricsProvider`` value.

        ``inferenceMetrics`` is always BASIC, as both AWS templates hard-code it. ``logging`` sits
        inside ``metricsProvider`` as in AWS's CloudFormation template (its Terraform module puts it
        at the top level; the add-on schema could not be checked).
        """
        provider: dict[str, Any] = {
            key: {"level": getattr(self, field), "scrapeInterval": SCRAPE_INTERVAL_SECONDS}
            for field, key in METRIC_KEYS.items()
        }
        provider["inferenceMetrics"] = {"level": "BASIC", "scrapeInterval": SCRAPE_INTERVAL_SECONDS}
        provider["logging"] = {"enabled": logging}
        return provider


GRAFANA_NAME_PATTERN = r"^[a-zA-Z0-9-._~]{1,255}$"
register_hints({GRAFANA_NAME_PATTERN: "a Grafana workspace name: 1 to 255 letters, digits, '-', '.', '_' or '~'"})


class ObservabilityConfig(AddonConfig):
    """The HyperPod observability add-on, writing to a new Amazon Managed Prometheus workspace.

    With ``grafana: true`` also an Amazon Managed Grafana workspace (IAM Identity Center sign-in)
    with a role that reads the AMP workspace; the add-on is told about it (``amgWorkspace``).
    """

    ADDON_NAME: ClassVar[str] = "amazon-sagemaker-hyperpod-observability"
    enabled: bool = False
    workspace_alias: Annotated[str | None, Field(min_length=1, max_length=100)] = Field(
        default=None, description="AMP workspace alias; None means '<EKS cluster name>-hyperpod'."
    )
    metrics: ObservabilityMetrics = Field(default=ObservabilityMetrics(), description="Metric level per category.")
    logging: bool = Field(default=False, description="Ship HyperPod task logs to CloudWatch Logs.")
    grafana: bool = Field(
        default=False,
        description="Create an Amazon Managed Grafana workspace (needs IAM Identity Center in the account).",
    )
    grafana_workspace_name: Annotated[str | None, Field(pattern=GRAFANA_NAME_PATTERN)] = Field(
        default=None, description="Grafana workspace name; None means '<EKS cluster name>-hyperpod'."
    )
    settings_needing_switch = (
        ("grafana_workspace_name", "grafana", "grafana_workspace_name: only used with grafana: true"),
    )


class TaskGovernanceConfig(AddonConfig):
    """The HyperPod task governance add-on (Kueue). Remove any Kueue you installed yourself first.

    On, it also creates the cluster scheduler config (``kubernetes.scheduler`` and the weighted
    ``kubernetes.priority_classes``) and one compute quota per team with ``compute_quota``.
    """

    ADDON_NAME: ClassVar[str] = "amazon-sagemaker-hyperpod-taskgovernance"
    enabled: bool = False


class InferenceOperatorConfig(AddonConfig):
    """The HyperPod inference operator add-on (``amazon-sagemaker-hyperpod-inference``).

    Needs cert-manager, the S3 and FSx CSI drivers and metrics-server (the dependencies AWS's
    setup guide installs). The AWS Load Balancer Controller and KEDA come inside the add-on.
    """

    ADDON_NAME: ClassVar[str] = "amazon-sagemaker-hyperpod-inference"
    enabled: bool = False
    load_balancer_controller: bool = Field(
        default=True, description="The bundled AWS Load Balancer Controller (ALBs in front of endpoints)."
    )
    keda: bool = Field(default=True, description="The bundled KEDA operator (endpoint autoscaling).")


S3_BUCKET_NAME_PATTERN = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
register_hints({S3_BUCKET_NAME_PATTERN: "an S3 bucket name such as my-training-data (not an ARN or s3:// URI)"})


class S3CsiDriverConfig(AddonConfig):
    """Mountpoint for Amazon S3 CSI driver (``aws-mountpoint-s3-csi-driver``), with pod identity.

    The driver may read (and unless ``read_only``, write) the listed buckets only.
    """

    ADDON_NAME: ClassVar[str] = "aws-mountpoint-s3-csi-driver"
    enabled: bool = False
    bucket_names: Annotated[list[Annotated[str, Field(pattern=S3_BUCKET_NAME_PATTERN)]], Field(max_length=50)] = Field(
        default=[], description="Buckets the driver may mount (model weights, datasets)."
    )
    read_only: bool = Field(default=False, description="Only s3:ListBucket and s3:GetObject.")

    @model_validator(mode="after")
    def _has_buckets(self) -> S3CsiDriverConfig:
        if self.enabled and not self.bucket_names:
            raise ValueError("bucket_names: list the buckets the driver may mount (least privilege)")
        if len(set(self.bucket_names)) != len(self.bucket_names):
            raise ValueError("bucket_names: each bucket may appear once")
        return self


FsxDeploymentType = Literal["SCRATCH_2", "PERSISTENT_1", "PERSISTENT_2"]
# MB/s/TiB per deployment type (FSx for Lustre API, CreateFileSystemLustreConfiguration).
FSX_THROUGHPUTS: dict[str, tuple[int, ...]] = {
    "SCRATCH_2": (),
    "PERSISTENT_1": (50, 100, 200),
    "PERSISTENT_2": (125, 250, 500, 1000),
}


class FsxStorageClassConfig(_Model):
    """A StorageClass for dynamically provisioned FSx for Lustre volumes (provisioner ``fsx.csi.aws.com``).

    Each PersistentVolumeClaim of this class creates a new file system in the default HyperPod
    subnet with the node security group. Parameters as the driver documents them
    (kubernetes-sigs/aws-fsx-csi-driver, examples/kubernetes/dynamic_provisioning).
    """

    name: DnsSubdomain = "fsx-sc"
    deployment_type: FsxDeploymentType = "PERSISTENT_2"
    per_unit_storage_throughput: int | None = Field(
        default=250, description="MB/s/TiB; PERSISTENT_2: 125/250/500/1000, PERSISTENT_1: 50/100/200, SCRATCH_2: none."
    )
    data_compression_type: Literal["NONE", "LZ4"] = "LZ4"
    file_system_type_version: Literal["2.10", "2.12", "2.15"] = "2.15"
    # The driver passes automaticBackupRetentionDays to CreateFileSystem (kubernetes-sigs/aws-fsx-csi-driver
    # examples/kubernetes/dynamic_provisioning/README.md); the same default as a static storage.fsx file system.
    automatic_backup_retention_days: Annotated[int, Field(ge=0, le=90)] = Field(
        default=DEFAULT_BACKUP_RETENTION_DAYS,
        description="Daily automatic backups of each file system kept this many days (0-90; 0 turns them off). "
        "Default 7, as storage.fsx. Not used with SCRATCH_2.",
    )
    reclaim_policy: Literal["Retain", "Delete"] = Field(
        default="Retain",
        description="Retain (default) keeps the file system and its data when the claim is deleted; you delete "
        "it yourself. Delete removes it with the claim.",
    )

    @model_validator(mode="after")
    def _throughput_fits(self) -> FsxStorageClassConfig:
        allowed = FSX_THROUGHPUTS[self.deployment_type]
        value = self.per_unit_storage_throughput
        if allowed and value not in allowed:
            raise ValueError(
                f"per_unit_storage_throughput: {self.deployment_type} takes one of {list(allowed)} (got {value})"
            )
        if not allowed and value is not None:
            raise ValueError(f"per_unit_storage_throughput: not used with {self.deployment_type}; set null")
        backups_set = "automatic_backup_retention_days" in self.model_fields_set
        if self.deployment_type == "SCRATCH_2" and backups_set and self.automatic_backup_retention_days:
            raise ValueError("automatic_backup_retention_days: scratch file systems have no backups; set 0")
        return self

    def parameters(self, *, subnet_id: str, security_group_ids: str) -> dict[str, str]:
        """The StorageClass ``parameters`` (all strings, as the driver reads them)."""
        params = {
            "subnetId": subnet_id,
            "securityGroupIds": security_group_ids,
            "deploymentType": self.deployment_type,
            "dataCompressionType": self.data_compression_type,
            "fileSystemTypeVersion": self.file_system_type_version,
        }
        if self.per_unit_storage_throughput is not None:
            params["perUnitStorageThroughput"] = str(self.per_unit_storage_throughput)
        if self.deployment_type != "SCRATCH_2":
            params["automaticBackupRetentionDays"] = str(self.automatic_backup_retention_days)
            params["copyTagsToBackups"] = "true"
        return params


class FsxCsiDriverConfig(AddonConfig):
    """FSx for Lustre CSI driver (``aws-fsx-csi-driver``); also installed whenever ``storage.fsx`` is set.

    ``storage_class`` adds dynamic provisioning; the driver's role then gets the AWS managed
    ``AmazonFSxFullAccess`` (AWS's EKS guide for this driver), which it needs to create file systems.
    """

    ADDON_NAME: ClassVar[str] = "aws-fsx-csi-driver"
    enabled: bool = False
    storage_class: FsxStorageClassConfig | None = Field(
        default=None, description="Dynamic provisioning: a StorageClass whose claims create file systems."
    )
    settings_needing_switch = (("storage_class", "enabled", "storage_class: needs the driver; set enabled: true"),)


class MetricsServerConfig(AddonConfig):
    """metrics-server (EKS community add-on): the resource metrics API that autoscalers read."""

    ADDON_NAME: ClassVar[str] = "metrics-server"
    enabled: bool = False


class KubernetesAddonsConfig(_Model):
    """EKS add-ons around HyperPod (the pod identity agent comes with the EKS cluster)."""

    cert_manager: CertManagerConfig = CertManagerConfig()
    training_operator: TrainingOperatorConfig = TrainingOperatorConfig()
    observability: ObservabilityConfig = ObservabilityConfig()
    task_governance: TaskGovernanceConfig = TaskGovernanceConfig()
    inference_operator: InferenceOperatorConfig = InferenceOperatorConfig()
    s3_csi_driver: S3CsiDriverConfig = S3CsiDriverConfig()
    fsx_csi_driver: FsxCsiDriverConfig = FsxCsiDriverConfig()
    metrics_server: MetricsServerConfig = MetricsServerConfig()

    @model_validator(mode="after")
    def _operator_needs_cert_manager(self) -> KubernetesAddonsConfig:
        if self.training_operator.enabled and not self.cert_manager.enabled:
            raise ValueError(
                "training_operator: the HyperPod training operator needs cert-manager; set "
                "cert_manager.enabled: true or training_operator.enabled: false"
            )
        if self.task_governance.enabled:
            problem = task_governance_problem(self.task_governance.version, self.training_operator.enabled)
            if problem:
                raise ValueError(f"task_governance.version: {problem}")
        return self

    def created_addons(self, *, fsx_csi_driver_installed: bool = False) -> dict[str, str]:
        """EKS add-on name -> its key under ``kubernetes.addons``, for every add-on the platform creates
        from this section (``fsx_csi_driver_installed``: ``storage.fsx`` creates the FSx CSI driver too)."""
        created: dict[str, str] = {}
        for key in type(self).model_fields:
            section = getattr(self, key)
            if section.enabled or (key == "fsx_csi_driver" and fsx_csi_driver_installed):
                created[section.ADDON_NAME] = key
        return created


# What each add-on needs among the others, by config key; the add-on constructs declare the same as
# REQUIRES (a test keeps the two equal). The training operator's need is checked on this section
# alone; the others are checked with the platform config (storage.fsx also installs the FSx CSI
# driver), all of an add-on's missing prerequisites in one error.
ADDON_PREREQUISITES: dict[str, tuple[str, ...]] = {
    "training_operator": ("cert_manager",),
    "inference_operator": ("cert_manager", "s3_csi_driver", "fsx_csi_driver", "metrics_server"),
}
_HOW_TO_ENABLE = {"fsx_csi_driver": "fsx_csi_driver.enabled: true (or storage.fsx)"}


def missing_prerequisites(addons: KubernetesAddonsConfig, *, fsx_csi_driver_installed: bool) -> list[str] | None:
    """For the first enabled add-on that lacks prerequisites: (its key, every missing key); else None.

    ``fsx_csi_driver_installed``: the FSx CSI driver comes from elsewhere (``storage.fsx``).
    """
    for name, needs in ADDON_PREREQUISITES.items():
        if not getattr(addons, name).enabled:
            continue
        missing = [
            need
            for need in needs
            if not getattr(addons, need).enabled and not (need == "fsx_csi_driver" and fsx_csi_driver_installed)
        ]
        if missing:
            return [name, *missing]
    return None


def prerequisites_message(name: str, missing: list[str]) -> str:
    """One line naming every missing prerequisite of add-on ``name`` and how to turn each on."""
    fixes = [_HOW_TO_ENABLE.get(need, f"{need}.enabled: true") for need in missing]
    return f"{name} needs {_and(missing)}, which {'are' if len(missing) > 1 else 'is'} off; set {_and(fixes)}"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
