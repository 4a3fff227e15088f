"""Settings for what runs inside the EKS cluster: the HyperPod Helm dependencies and EKS add-ons.

These models are meant to be mounted into the platform config as its ``kubernetes:`` section
(:class:`KubernetesConfig`). Every field has a default, so a config file without the section gets
the documented defaults:

.. code-block:: yaml

    kubernetes:
      helm_dependencies:            # the HyperPod Helm chart, installed before the HyperPod cluster
        enabled: true
        revision: b01cf90676553a711ab1a8ac51422adbb09aef6b   # aws/sagemaker-hyperpod-cli v3.9.0
        source_s3_uri: null          # s3://... chart bundle (make chart-bundle); required in a closed network
        source_sha256: null          # optional sha256 of the source tarball or bundle
        chart_sha256: null           # chart tree digest; pinned by the library for the default revision
        subchart_sha256: {}          # sub-chart archive digests; pinned by the library for the default revision
        nvidia_device_plugin: true
        neuron_device_plugin: true
        efa_device_plugin: true
        health_monitoring_agent: true
        health_monitoring_agent_region: null   # null = the stack's region
        deep_health_check: true
        job_auto_restart: true
        mpi_operator: true
        training_operators: true     # Kubeflow training operator sub-chart
        extra_values: {}             # more chart values by dotted path (types kept)
        wait: false
        timeout_minutes: 10
      addons:
        cert_manager: {enabled: true}
        training_operator: {enabled: true}
        task_governance: {enabled: false}        # + kubernetes.scheduler, teams[].compute_quota
        observability:                           # AMP workspace (+ Grafana with grafana: true)
          enabled: false
          metrics: {training: BASIC, task_governance: DISABLED, scaling: DISABLED, cluster: BASIC,
                    node: BASIC, network: DISABLED, accelerated_compute: BASIC}
          logging: false
          grafana: false
        inference_operator: {enabled: false}     # needs the four add-ons below
        s3_csi_driver: {enabled: false, bucket_names: []}
        fsx_csi_driver: {enabled: false, storage_class: null}   # also on with storage.fsx
        metrics_server: {enabled: false}

Every add-on's ``version`` defaults to the pinned version of
:mod:`hyperpod_cdk.specs.addon_versions` for the cluster's Kubernetes version, or to EKS's own
default where that table pins nothing.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hyperpod_cdk.config.charts import DNS_SUBDOMAIN_PATTERN, K8sSettings
from hyperpod_cdk.config.messages import register_hints
from hyperpod_cdk.specs.addon_compat import task_governance_problem
from hyperpod_cdk.specs.hyperpod_chart import DEFAULT_CHART_PATH, DEFAULT_CHART_REVISION, ChartPin, pin_for
from hyperpod_cdk.specs.images import (
    IMAGE_MIRROR_PATTERN,
    OUTSIDE_ECR,
    mirror_repository,
    reachable_in_region,
)

# The commit of github.com/aws/sagemaker-hyperpod-cli the Helm chart is taken from by default:
# the v3.9.0 release commit (tag v3.9.0, 2026-06-11), read from the repository's history. Other
# commits AWS's own templates pin, for comparison: f57185916d4f7d2fa85caf6a03c04fd17172d330
# (aws/sagemaker-hyperpod-cluster-setup helm-chart-template.yaml, Aug 2025) and
# 9f496a6364759553f73ff534434a057ef4bdc004 (awsome-distributed-ai Terraform, 2026). v3.9.0 is
# newer than both and contains the EFA device-plugin fix (aws/sagemaker-hyperpod-cli#367, #389).
# Its integrity pins (chart files, sub-chart archives) live in specs/hyperpod_chart.py.
DEFAULT_SOURCE_URL_TEMPLATE = "https://github.com/aws/sagemaker-hyperpod-cli/archive/{revision}.tar.gz"

REVISION_PATTERN = r"^[0-9a-f]{40}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
# Chart value paths: dot-separated names (a.b.c). They become a values file, so list indexes and
# dotted map keys are not supported.
HELM_KEY_PATTERN = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"
# s3://bucket/key of a chart bundle (`make chart-bundle`).
S3_URI_PATTERN = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[A-Za-z0-9!_.*'()/=+-]+$"
# A sub-chart archive, named <chart name>-<version>, e.g. nvidia-device-plugin-0.16.1.
ARCHIVE_KEY_PATTERN = r"^[a-z0-9][a-z0-9.-]*-v?[0-9][A-Za-z0-9.+-]*$"
# EKS add-on versions look like v1.18.2-eksbuild.2.
ADDON_VERSION_PATTERN = r"^v[0-9]+\.[0-9]+\.[0-9]+(-[A-Za-z0-9.]+)?$"
# Values go through helm's --set for integers (int64) and a JSON values file otherwise.
INT64 = (-(2**63), 2**63 - 1)
HTTPS_URL_PATTERN = r"^https://[^\s]+$"
# Same as config.platform.REGION_PATTERN (which imports this module), so the same hint applies.
REGION_PATTERN = r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$"
CHART_PATH_PATTERN = r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$"
register_hints({
    REVISION_PATTERN: "a full 40-character commit SHA in lowercase hex (branch and tag names are refused)",
    SHA256_PATTERN: "a SHA-256 digest: 64 lowercase hex characters",
    HELM_KEY_PATTERN: "a dotted Helm value path such as image.tag (no list indexes)",
    ARCHIVE_KEY_PATTERN: "a sub-chart archive name <chart>-<version> such as nvidia-device-plugin-0.16.1",
    S3_URI_PATTERN: "an S3 object URI such as s3://my-bucket/charts/hyperpod.tgz",
    ADDON_VERSION_PATTERN: "an EKS add-on version such as v1.18.2-eksbuild.2",
    HTTPS_URL_PATTERN: "an https:// URL without spaces",
    CHART_PATH_PATTERN: "a relative folder path such as helm_chart/HyperPodHelmChart",
    IMAGE_MIRROR_PATTERN: "a registry prefix without scheme or tag, such as "
    "123456789012.dkr.ecr.us-west-2.amazonaws.com/hyperpod-mirror",
})

# The chart values each toggle sets (chart defaults from helm_chart/HyperPodHelmChart/values.yaml).
TOGGLE_KEYS: dict[str, str] = {
    "nvidia_device_plugin": "nvidia-device-plugin.devicePlugin.enabled",
    "neuron_device_plugin": "neuron-device-plugin.devicePlugin.enabled",
    "efa_device_plugin": "aws-efa-k8s-device-plugin.devicePlugin.enabled",
    "health_monitoring_agent": "health-monitoring-agent.enabled",
    "deep_health_check": "deep-health-check.enabled",
    "job_auto_restart": "job-auto-restart.enabled",
    "mpi_operator": "mpi-operator.enabled",
    "training_operators": "trainingOperators.enabled",
}
HEALTH_MONITORING_REGION_KEY = "health-monitoring-agent.region"
# cert-manager comes from the EKS community add-on; the chart's copy must stay off.
CERT_MANAGER_KEY = "cert-manager.enabled"
MANAGED_KEYS = frozenset({*TOGGLE_KEYS.values(), HEALTH_MONITORING_REGION_KEY, CERT_MANAGER_KEY})

HelmValue = str | bool | int


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class HelmDependenciesConfig(_Model):
    """The official HyperPod Helm chart (``helm_chart/HyperPodHelmChart``), pinned to one commit.

    HyperPod refuses to create a cluster on an EKS cluster that lacks these dependencies
    ("missing required dependencies"), so the chart is installed first. Toggles default to the
    chart's own defaults; ``cert-manager.enabled`` is always false (the EKS add-on provides it).

    Integrity: the chart's files are checked against ``chart_sha256`` and every downloaded
    sub-chart archive against ``subchart_sha256``; both come from the library's pins for the
    default revision (``hyperpod_cdk.specs.hyperpod_chart``) and must be given for any other.
    """

    enabled: bool = Field(default=True, description="Install the chart (off: you install it yourself).")
    revision: Annotated[str, Field(pattern=REVISION_PATTERN)] = Field(
        default=DEFAULT_CHART_REVISION,
        description=(
            "Full 40-character commit SHA of github.com/aws/sagemaker-hyperpod-cli. Branch and tag "
            "names are refused: the deployed chart must not change under an unchanged template. Pick "
            "one with `git ls-remote https://github.com/aws/sagemaker-hyperpod-cli refs/tags/v3.9.0`."
        ),
    )
    source_s3_uri: Annotated[str | None, Field(pattern=S3_URI_PATTERN)] = Field(
        default=None,
        description=(
            "s3://bucket/key of a chart bundle built by `make chart-bundle` (the chart with its "
            "sub-charts). The installer then reads only S3: no github.com, no chart repositories. "
            "Required with network.closed."
        ),
    )
    source_sha256: Annotated[str | None, Field(pattern=SHA256_PATTERN)] = Field(
        default=None,
        description="sha256 of the downloaded tarball or bundle; when set, the installer refuses any other bytes.",
    )
    source_url_template: Annotated[str, Field(pattern=HTTPS_URL_PATTERN)] = Field(
        default=DEFAULT_SOURCE_URL_TEMPLATE,
        description=(
            "Where the tarball of a revision is downloaded from ({revision} is replaced); a mirror "
            "works if it serves GitHub's archive layout (top directory sagemaker-hyperpod-cli-<revision>)."
        ),
    )
    chart_path: Annotated[str, Field(pattern=CHART_PATH_PATTERN)] = DEFAULT_CHART_PATH
    chart_sha256: Annotated[str | None, Field(pattern=SHA256_PATTERN)] = Field(
        default=None,
        description=(
            "Chart tree digest of the chart folder at the revision (see docs/helm-dependencies.md). "
            "Default: the library's pin for the default revision; required for any other revision."
        ),
    )
    subchart_sha256: dict[Annotated[str, Field(pattern=ARCHIVE_KEY_PATTERN)],
                          Annotated[str, Field(pattern=SHA256_PATTERN)]] = Field(
        default={},
        description=(
            "sha256 of each sub-chart archive `helm dependency build` downloads, by <name>-<version>. "
            "Default: the library's pins for the default revision; list them for any other revision."
        ),
    )
    nvidia_device_plugin: bool = True
    neuron_device_plugin: bool = True
    efa_device_plugin: bool = True
    health_monitoring_agent: bool = True
    health_monitoring_agent_region: Annotated[str | None, Field(pattern=REGION_PATTERN)] = Field(
        default=None, description="Region of the agent's ECR image; None means the stack's region."
    )
    deep_health_check: bool = True
    job_auto_restart: bool = True
    mpi_operator: bool = True
    training_operators: bool = Field(default=True, description="The Kubeflow training operator sub-chart.")
    extra_values: dict[Annotated[str, Field(pattern=HELM_KEY_PATTERN)], HelmValue] = Field(
        default={},
        description=(
            "More chart values by dotted path (e.g. hyperpod-patching.enabled: false). Types are kept: "
            "quoted YAML stays a string, true/false a boolean, a number an integer."
        ),
    )
    wait: bool = Field(
        default=False,
        description=(
            "Pass --wait. Off by default: the chart's Deployments cannot become ready before the "
            "HyperPod nodes exist, and the nodes are created after the chart."
        ),
    )
    timeout_minutes: Annotated[int, Field(ge=1, le=12)] = Field(
        default=10,
        description="helm --timeout (at most what the 15-minute installer Lambda has left, less 60 s).",
    )

    @field_validator("revision", mode="before")
    @classmethod
    def _explain_revision(cls, value: Any) -> Any:
        if isinstance(value, str) and not re.fullmatch(REVISION_PATTERN, value):
            raise ValueError(
                f"'{value}' is not a full 40-character lowercase commit SHA; branch and tag names "
                "(main, v3.9.0) and short SHAs are refused so the installed chart cannot drift. Find the "
                "commit of a release with `git ls-remote https://github.com/aws/sagemaker-hyperpod-cli "
                "refs/tags/<tag>` and paste its SHA"
            )
        return value

    @field_validator("source_url_template")
    @classmethod
    def _has_placeholder(cls, value: str) -> str:
        if "{revision}" not in value:
            raise ValueError("must contain {revision}, which is replaced by the pinned commit")
        return value

    @field_validator("chart_path")
    @classmethod
    def _relative(cls, value: str) -> str:
        if ".." in value.split("/"):
            raise ValueError("must stay inside the repository (no '..')")
        return value

    @field_validator("extra_values")
    @classmethod
    def _not_managed(cls, value: dict[str, HelmValue]) -> dict[str, HelmValue]:
        clash = sorted(set(value) & MANAGED_KEYS)
        if clash:
            raise ValueError(
                f"{clash} are set by this section's own fields (or, for cert-manager.enabled, always "
                "false because cert-manager is the EKS add-on); use those fields instead"
            )
        for key, item in value.items():
            if isinstance(item, int) and not isinstance(item, bool) and not INT64[0] <= item <= INT64[1]:
                raise ValueError(f"{key}: {item} does not fit a 64-bit integer; quote it to pass a string")
        keys = sorted(set(value) | MANAGED_KEYS)
        for key in keys:
            parent = next((other for other in keys if key.startswith(other + ".")), None)
            if parent is not None:
                raise ValueError(
                    f"'{key}' is inside '{parent}', which is set to a single value; set one or the other"
                )
        return value

    @model_validator(mode="after")
    def _pinned(self) -> HelmDependenciesConfig:
        pin = self.pin
        if pin is None:
            if self.chart_sha256 is None:
                raise ValueError(
                    "chart_sha256: required for a revision or chart_path the library has no pins for; compute "
                    "it (and subchart_sha256) with `python -m hyperpod_cdk.kubernetes.chart_bundle pins "
                    f"--revision {self.revision}` after reviewing that commit"
                )
            return self
        if self.chart_sha256 is not None and self.chart_sha256 != pin.chart_sha256:
            raise ValueError(
                f"chart_sha256: the library pins {pin.chart_sha256} for revision {self.revision}; remove the "
                "key (or pick another revision)"
            )
        if self.subchart_sha256:
            raise ValueError(
                f"subchart_sha256: the library pins the sub-charts of revision {self.revision}; remove the key"
            )
        unknown = sorted({key.split(".", 1)[0] for key in self.extra_values} - pin.value_scopes)
        if unknown:
            raise ValueError(
                f"extra_values: {unknown} is not a value of the HyperPod chart at this revision (top-level keys "
                "of its values.yaml and its sub-chart names); check the spelling"
            )
        return self

    @property
    def pin(self) -> ChartPin | None:
        """The library's pins, when they apply (default chart path and a pinned revision)."""
        return pin_for(self.revision) if self.chart_path == DEFAULT_CHART_PATH else None

    @property
    def effective_chart_sha256(self) -> str:
        pin = self.pin
        if pin is not None:
            return pin.chart_sha256
        assert self.chart_sha256 is not None  # checked by _pinned
        return self.chart_sha256

    def archive_pins(self) -> list[dict[str, str]]:
        """Every remote sub-chart archive the installer accepts: name, version, sha256 (or '' and
        the condition that must be false for an archive without a digest)."""
        pin = self.pin
        if pin is None:
            return [
                {"Name": name, "Version": version, "Sha256": digest, "Condition": ""}
                for key, digest in sorted(self.subchart_sha256.items())
                for name, version in [_split_archive_key(key)]
            ]
        return [
            {"Name": a.name, "Version": a.version, "Sha256": a.sha256 or "", "Condition": a.condition}
            for a in pin.archives
        ]

    def helm_values(self, default_region: str) -> dict[str, HelmValue]:
        """Every chart value the installer sets, typed (sorted keys)."""
        values: dict[str, HelmValue] = {key: getattr(self, field) for field, key in TOGGLE_KEYS.items()}
        values[CERT_MANAGER_KEY] = False
        values[HEALTH_MONITORING_REGION_KEY] = self.health_monitoring_agent_region or default_region
        values.update(self.extra_values)
        return {key: values[key] for key in sorted(values)}


def _split_archive_key(key: str) -> tuple[str, str]:
    """``nvidia-device-plugin-0.16.1`` -> (``nvidia-device-plugin``, ``0.16.1``)."""
    match = re.fullmatch(r"(.+?)-(v?[0-9][A-Za-z0-9.+-]*)", key)
    assert match is not None  # ARCHIVE_KEY_PATTERN
    return match.group(1), match.group(2)


class AddonConfig(_Model):
    """One EKS add-on: on or off, an optional version pin and extra configuration values."""

    enabled: bool
    version: Annotated[str | None, Field(pattern=ADDON_VERSION_PATTERN)] = Field(
        default=None, description="e.g. v1.18.2-eksbuild.2; None lets EKS pick its default for the cluster version."
    )
    configuration_values: dict[str, Any] = Field(
        default={}, description="Merged (deeply) over the values this library sets for the add-on."
    )


class CertManagerConfig(AddonConfig):
    """cert-manager (EKS community add-on), required by the training operator."""

    enabled: bool = True


class TrainingOperatorConfig(AddonConfig):
    """The HyperPod training operator add-on (HyperPodPyTorchJob)."""

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

    @model_validator(mode="after")
    def _grafana_keys(self) -> ObservabilityConfig:
        if self.grafana_workspace_name is not None and not self.grafana:
            raise ValueError("grafana_workspace_name: only used with grafana: true")
        return self


class TaskGovernanceConfig(AddonConfig):
    """The HyperPod task governance add-on (Kueue). Remove any Kueue you installed yourself first.

    On, it also creates the cluster scheduler config (``kubernetes.scheduler`` and the weighted
    ``kubernetes.priority_classes``) and one compute quota per team with ``compute_quota``.
    """

    enabled: bool = False


class InferenceOperatorConfig(AddonConfig):
    """The HyperPod inference operator add-on (``amazon-sagemaker-hyperpod-inference``).

    Needs cert-manager, the S3 and FSx CSI drivers and metrics-server (the dependencies AWS's
    setup guide installs). The AWS Load Balancer Controller and KEDA come inside the add-on.
    """

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

    enabled: bool = False
    bucket_names: Annotated[list[Annotated[str, Field(pattern=S3_BUCKET_NAME_PATTERN)]], Field(max_length=50)] = (
        Field(default=[], description="Buckets the driver may mount (model weights, datasets).")
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

    name: Annotated[str, Field(max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)] = "fsx-sc"
    deployment_type: FsxDeploymentType = "PERSISTENT_2"
    per_unit_storage_throughput: int | None = Field(
        default=250, description="MB/s/TiB; PERSISTENT_2: 125/250/500/1000, PERSISTENT_1: 50/100/200, SCRATCH_2: none."
    )
    data_compression_type: Literal["NONE", "LZ4"] = "LZ4"
    file_system_type_version: Literal["2.10", "2.12", "2.15"] = "2.15"
    automatic_backup_retention_days: Annotated[int, Field(ge=0, le=90)] = 0
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
        if self.deployment_type == "SCRATCH_2" and self.automatic_backup_retention_days:
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

    enabled: bool = False
    storage_class: FsxStorageClassConfig | None = Field(
        default=None, description="Dynamic provisioning: a StorageClass whose claims create file systems."
    )

    @model_validator(mode="after")
    def _class_needs_driver(self) -> FsxCsiDriverConfig:
        if self.storage_class is not None and not self.enabled:
            raise ValueError("storage_class: needs the driver; set enabled: true")
        return self


class MetricsServerConfig(AddonConfig):
    """metrics-server (EKS community add-on): the resource metrics API that autoscalers read."""

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
        if self.inference_operator.enabled:
            # The FSx CSI driver is checked with the platform config: storage.fsx also installs it.
            missing = [name for name in ("cert_manager", "s3_csi_driver", "metrics_server")
                       if not getattr(self, name).enabled]
            if missing:
                raise ValueError(
                    f"inference_operator: the inference operator needs {', '.join(missing)}; set "
                    + " and ".join(f"{name}.enabled: true" for name in missing)
                )
        return self


class KubernetesConfig(K8sSettings):
    """The platform config's ``kubernetes:`` section: Helm dependencies, EKS add-ons, and the
    settings of the charts this project authors (teams, priority classes, FSx claim, examples).

    ``task_governance`` (compute quotas, the scheduler config's priority classes, Kueue job labels)
    follows ``addons.task_governance.enabled`` unless set; without the add-on there is no Kueue.
    """

    helm_dependencies: HelmDependenciesConfig = HelmDependenciesConfig()
    addons: KubernetesAddonsConfig = KubernetesAddonsConfig()
    image_mirror: Annotated[str | None, Field(pattern=IMAGE_MIRROR_PATTERN, max_length=255)] = Field(
        default=None,
        description="Registry prefix (such as 123456789012.dkr.ecr.us-west-2.amazonaws.com/mirror) holding every "
        "image the chart needs from outside AWS's regional ECR, each under its original path and tag; the Helm "
        "values point there. Required in a closed network for the components that pull from nvcr.io or Docker "
        "Hub. `hyperpod-cdk images --copy` fills it.",
    )

    @model_validator(mode="before")
    @classmethod
    def _mirror_chart_images(cls, data: Any) -> Any:
        """With image_mirror, each chart image outside ECR gets its mirrored repository as a chart value
        (a value the config already sets wins)."""
        if not isinstance(data, dict) or not isinstance(data.get("image_mirror"), str):
            return data
        helm = data.get("helm_dependencies") or {}
        if not isinstance(helm, dict):
            return data
        extra = dict(helm.get("extra_values") or {})
        for image in OUTSIDE_ECR:
            if image.repository_key and helm.get(image.toggle, True) is not False:
                extra.setdefault(image.repository_key, mirror_repository(data["image_mirror"], image.path))
        return {**data, "helm_dependencies": {**helm, "extra_values": extra}}

    @model_validator(mode="before")
    @classmethod
    def _queues_follow_the_addon(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        addons = data.get("addons") or {}
        governance = addons.get("task_governance") if isinstance(addons, dict) else None
        enabled = bool(governance.get("enabled")) if isinstance(governance, dict) else False
        if "task_governance" not in data:
            return {**data, "task_governance": enabled}
        if data["task_governance"] and not enabled:
            raise ValueError(
                "task_governance: quotas and Kueue labels need the task-governance add-on; set "
                "kubernetes.addons.task_governance.enabled: true"
            )
        return data


def unreachable_chart_images(k8s: KubernetesConfig, region: str) -> tuple[str, str] | None:
    """In a closed VPC: the first enabled chart component whose image cannot be pulled, as
    (field, message), or None. Pulls work from AWS's regional ECR (the VPC endpoints) only."""
    helm = k8s.helm_dependencies
    if not helm.enabled:
        return None
    mirror = k8s.image_mirror
    if mirror is not None and not reachable_in_region(mirror, region):
        return (
            "kubernetes.image_mirror",
            f"'{mirror}' is not a private ECR registry in {region}, the only registry a closed VPC reaches "
            f"(through its ECR endpoints); use <account>.dkr.ecr.{region}.amazonaws.com/<prefix>",
        )
    for image in OUTSIDE_ECR:
        if not getattr(helm, image.toggle):
            continue
        field = f"kubernetes.helm_dependencies.{image.toggle}"
        if image.repository_key is None:
            return (
                field,
                f"{image.component}: its image {image.image} is fixed in the chart template and a closed VPC cannot "
                "pull it (ECR Public has no VPC endpoint); set it to false unless you run Trainium or Inferentia",
            )
        repository = helm.extra_values.get(image.repository_key)
        if repository is None or not reachable_in_region(str(repository), region):
            return (
                field,
                f"{image.component}: a closed VPC cannot pull {image.image}; set kubernetes.image_mirror to a private "
                f"ECR prefix in {region} and copy the images there (hyperpod-cdk images --copy), or set it to false",
            )
    return None
