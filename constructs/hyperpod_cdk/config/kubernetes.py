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

from typing import Annotated, Any

from pydantic import Field, model_validator

# Names defined here before the split into helm.py and addons.py stay importable from this module.
from hyperpod_cdk.config.addons import (  # noqa: F401
    FSX_THROUGHPUTS,
    GRAFANA_NAME_PATTERN,
    METRIC_KEYS,
    S3_BUCKET_NAME_PATTERN,
    SCRAPE_INTERVAL_SECONDS,
    AddonConfig,
    BasicOrAdvanced,
    CertManagerConfig,
    DisabledOrAdvanced,
    FsxCsiDriverConfig,
    FsxDeploymentType,
    InferenceOperatorConfig,
    MetricsServerConfig,
    ObservabilityConfig,
    S3CsiDriverConfig,
    TaskGovernanceConfig,
    TrainingOperatorConfig,
)
from hyperpod_cdk.config.addons import (
    FsxStorageClassConfig as FsxStorageClassConfig,
)
from hyperpod_cdk.config.addons import (
    KubernetesAddonsConfig as KubernetesAddonsConfig,
)
from hyperpod_cdk.config.addons import (
    ObservabilityMetrics as ObservabilityMetrics,
)
from hyperpod_cdk.config.charts import K8sSettings
from hyperpod_cdk.config.helm import ADDON_VERSION_PATTERN as ADDON_VERSION_PATTERN
from hyperpod_cdk.config.helm import ARCHIVE_KEY_PATTERN as ARCHIVE_KEY_PATTERN
from hyperpod_cdk.config.helm import CERT_MANAGER_KEY as CERT_MANAGER_KEY
from hyperpod_cdk.config.helm import CHART_PATH_PATTERN as CHART_PATH_PATTERN
from hyperpod_cdk.config.helm import DEFAULT_CHART_PATH as DEFAULT_CHART_PATH
from hyperpod_cdk.config.helm import DEFAULT_CHART_REVISION as DEFAULT_CHART_REVISION
from hyperpod_cdk.config.helm import DEFAULT_SOURCE_URL_TEMPLATE as DEFAULT_SOURCE_URL_TEMPLATE
from hyperpod_cdk.config.helm import HEALTH_MONITORING_REGION_KEY as HEALTH_MONITORING_REGION_KEY
from hyperpod_cdk.config.helm import HELM_KEY_PATTERN as HELM_KEY_PATTERN
from hyperpod_cdk.config.helm import HTTPS_URL_PATTERN as HTTPS_URL_PATTERN
from hyperpod_cdk.config.helm import INT64 as INT64
from hyperpod_cdk.config.helm import MANAGED_KEYS as MANAGED_KEYS
from hyperpod_cdk.config.helm import REGION_PATTERN as REGION_PATTERN
from hyperpod_cdk.config.helm import REVISION_PATTERN as REVISION_PATTERN
from hyperpod_cdk.config.helm import S3_URI_PATTERN as S3_URI_PATTERN
from hyperpod_cdk.config.helm import SHA256_PATTERN as SHA256_PATTERN
from hyperpod_cdk.config.helm import TOGGLE_KEYS as TOGGLE_KEYS
from hyperpod_cdk.config.helm import HelmDependenciesConfig as HelmDependenciesConfig
from hyperpod_cdk.config.helm import HelmValue as HelmValue

# Re-exported, like the `X as X` imports from config.helm above: their import path before config/helm.py existed.
from hyperpod_cdk.config.helm import _split_archive_key  # noqa: F401
from hyperpod_cdk.specs.images import (
    IMAGE_MIRROR_PATTERN,
    OUTSIDE_ECR,
    mirror_repository,
    reachable_in_region,
)


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
    def _fsx_storage_class_follows_the_addon(cls, data: Any) -> Any:
        """The operator chart's per-team claim quota names the dynamic FSx StorageClass."""
        if not isinstance(data, dict):
            return data
        addons = data.get("addons")
        driver = addons.get("fsx_csi_driver") if isinstance(addons, dict) else getattr(addons, "fsx_csi_driver", None)
        found = driver.get("storage_class") if isinstance(driver, dict) else getattr(driver, "storage_class", None)
        # Its own validation (name pattern) runs on the addons field; here only the name is read.
        if isinstance(found, dict):
            name = found.get("name", FsxStorageClassConfig.model_fields["name"].default)
        else:
            name = found.name if isinstance(found, FsxStorageClassConfig) else None
        if not isinstance(name, str):
            return data
        if data.get("fsx_storage_class") not in (None, name):
            raise ValueError(
                f"fsx_storage_class: the platform's dynamic FSx StorageClass is '{name}' "
                "(addons.fsx_csi_driver.storage_class.name); remove the key"
            )
        return {**data, "fsx_storage_class": name}

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

    @property
    def inference_example(self) -> bool:
        """dist/ writes the inference example when the operator is on (its claim counts in the quota)."""
        return self.addons.inference_operator.enabled


#: At most this many unreachable images are named in the error; the rest are counted ("and N more").
MAX_IMAGES_NAMED = 10


def unreachable_chart_images(k8s: KubernetesConfig, region: str) -> tuple[str, str] | None:
    """In a closed VPC: every enabled chart component whose image cannot be pulled, in one
    (field, message), or None. Pulls work from AWS's regional ECR (the VPC endpoints) only.

    One message names them all (review round 15, R15T-M3): naming only the first took one config run
    per image to learn what to mirror.
    """
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
    mirrorable: list[str] = []
    fixed: list[tuple[str, str]] = []
    for image in OUTSIDE_ECR:
        if not getattr(helm, image.toggle):
            continue
        field = f"kubernetes.helm_dependencies.{image.toggle}"
        if image.repository_key is None:
            fixed.append(
                (
                    field,
                    f"{image.component}: its image {image.image} is fixed in the chart template and a closed VPC "
                    "cannot pull it (ECR Public has no VPC endpoint); set it to false unless you run Trainium or "
                    "Inferentia",
                )
            )
            continue
        repository = helm.extra_values.get(image.repository_key)
        if repository is None or not reachable_in_region(str(repository), region):
            mirrorable.append(f"{image.component} {image.image} ({field})")
    if not mirrorable:
        return fixed[0] if fixed else None
    named = mirrorable[:MAX_IMAGES_NAMED]
    more = len(mirrorable) - len(named)
    listed = ", ".join(named) + (f" and {more} more" if more else "")
    count = f"{len(mirrorable)} image" + ("s" if len(mirrorable) > 1 else "")
    message = (
        f"a closed VPC cannot pull {count}: {listed}; set kubernetes.image_mirror to a private ECR prefix in "
        f"{region} and copy the images there (hyperpod-cdk images --copy), or set those components to false"
    )
    # The fixed-image case needs its own fix (turn it off): the same line says so.
    for field, problem in fixed:
        message += f"; also {field}: {problem}"
    return ("kubernetes.image_mirror", message)
