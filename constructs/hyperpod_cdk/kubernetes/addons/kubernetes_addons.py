"""HyperPodKubernetesAddons: the add-on set a KubernetesAddonsConfig turns on."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_kms as kms
from constructs import Construct, IConstruct

from hyperpod_cdk.config.kubernetes import KubernetesAddonsConfig
from hyperpod_cdk.errors import prop_error
from hyperpod_cdk.kubernetes.addons.base import CERT_MANAGER, AddonSettings, HyperPodAddon
from hyperpod_cdk.kubernetes.addons.cert_manager import CertManagerAddon
from hyperpod_cdk.kubernetes.addons.fsx_csi_driver import FsxCsiDriverAddon
from hyperpod_cdk.kubernetes.addons.inference_operator import HyperPodInferenceOperatorAddon
from hyperpod_cdk.kubernetes.addons.metrics_server import MetricsServerAddon
from hyperpod_cdk.kubernetes.addons.observability import HyperPodObservabilityAddon
from hyperpod_cdk.kubernetes.addons.registry import ADDONS, AddonContext
from hyperpod_cdk.kubernetes.addons.s3_csi_driver import S3CsiDriverAddon
from hyperpod_cdk.kubernetes.addons.task_governance import HyperPodTaskGovernanceAddon
from hyperpod_cdk.kubernetes.addons.training_operator import HyperPodTrainingOperatorAddon
from hyperpod_cdk.kubernetes.manifests import HyperPodManifests
from hyperpod_cdk.monitoring.grafana_workspace import HyperPodGrafanaWorkspace
from hyperpod_cdk.monitoring.prometheus_workspace import HyperPodPrometheusWorkspace


class HyperPodKubernetesAddons(Construct):
    """The add-ons a :class:`KubernetesAddonsConfig` turns on, in dependency order.

    Defaults: cert-manager and the training operator on; everything else off. The pod identity
    agent must already be defined for ``cluster`` (HyperPodEksCluster does it through
    ``cluster.eks_pod_identity_agent``), or be named in ``assume_installed``.

    Created in this order (each add-on also after the add-ons it requires or follows):
    cert-manager, training operator, metrics-server, S3 CSI driver, FSx CSI driver, task
    governance, observability (with its AMP workspace and, with ``grafana``, the Grafana
    workspace), inference operator. Versions not set in the config come from
    :mod:`hyperpod_cdk.specs.addon_versions` for ``kubernetes_version``. On an imported cluster
    every add-on keeps its software on the cluster when the stack deletes it (``preserve_on_delete``
    of :class:`~hyperpod_cdk.kubernetes.addons.base.HyperPodAddon`).

    Args:
        cluster: the EKS cluster.
        config: which add-ons, and their settings.
        assume_installed: add-on names installed outside this app.
        kubernetes_version: the cluster's Kubernetes version (picks default add-on versions).
        hyperpod_cluster_arn: the HyperPod cluster (required with the inference operator).
        encryption_key: KMS key of the inference operator's TLS bucket. Default: a new
            rotating key, retained on delete.
        fsx_csi_driver: an FSx CSI driver defined elsewhere in the app; when given, none is
            created here even if ``config.fsx_csi_driver.enabled``.
        manifests: where the task-governance add-on's Kueue wait runs. Default: none, and no wait.

    Attributes are ``None`` for add-ons that are off.
    """

    cert_manager: CertManagerAddon | None
    training_operator: HyperPodTrainingOperatorAddon | None
    metrics_server: MetricsServerAddon | None
    s3_csi_driver: S3CsiDriverAddon | None
    #: The FSx CSI driver created here (None when off or passed in as ``fsx_csi_driver``).
    fsx_csi_driver: FsxCsiDriverAddon | None
    task_governance: HyperPodTaskGovernanceAddon | None
    observability: HyperPodObservabilityAddon | None
    inference_operator: HyperPodInferenceOperatorAddon | None

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.ICluster,
        config: KubernetesAddonsConfig | None = None,
        assume_installed: Sequence[str] = (),
        kubernetes_version: str | None = None,
        hyperpod_cluster_arn: str | None = None,
        encryption_key: kms.IKey | None = None,
        fsx_csi_driver: FsxCsiDriverAddon | None = None,
        manifests: HyperPodManifests | None = None,
    ) -> None:
        cfg = config or KubernetesAddonsConfig()
        if cfg.inference_operator.enabled and hyperpod_cluster_arn is None:
            raise prop_error(
                scope,
                construct_id,
                "hyperpod_cluster_arn",
                "the inference operator needs the HyperPod " "cluster's ARN",
            )
        super().__init__(scope, construct_id)
        self.config = cfg
        # What every add-on construct here is given besides its row's props.
        shared = AddonSettings(assume_installed=assume_installed, kubernetes_version=kubernetes_version)

        #: An FSx CSI driver defined elsewhere; install_after orders it like the add-ons made here.
        self.external_fsx_csi_driver = fsx_csi_driver
        context = AddonContext(
            scope=self,
            hyperpod_cluster_arn=hyperpod_cluster_arn,
            encryption_key=encryption_key,
            manifests=manifests,
            provided={"fsx_csi_driver": fsx_csi_driver} if fsx_csi_driver is not None else {},
        )
        # One row per add-on (registry.ADDONS), created in the table's order when its section is on.
        for row in ADDONS:
            section = getattr(cfg, row.config_key)
            addon = None
            if section.enabled and row.config_key not in context.provided:
                addon = row.addon_class(
                    self, row.construct_id, cluster=cluster, **row.props(section, context), **shared
                )
            setattr(self, row.config_key, addon)
        self.prometheus_workspace: HyperPodPrometheusWorkspace | None = None
        self.grafana_workspace: HyperPodGrafanaWorkspace | None = None
        if self.observability is not None:
            self.prometheus_workspace = self.observability.workspace
            self.grafana_workspace = self.observability.grafana_workspace

    @property
    def addons(self) -> list[HyperPodAddon]:
        """The add-on constructs that are on, in creation order."""
        candidates = (getattr(self, row.config_key) for row in ADDONS)
        return [addon for addon in candidates if addon is not None]

    def install_after(self, *dependencies: IConstruct) -> None:
        """Create every add-on after ``dependencies`` and delete it before them.

        Pass the readiness gate that waits for HyperPod nodes (``HyperPodReadiness.add_node_gate``;
        the platform does): the add-ons' pods need nodes (CloudFormation would otherwise accept them
        DEGRADED), the training operator must find the ``aws-hyperpod`` namespace the Helm chart
        created, Kueue's webhooks must not answer for pods before Kueue runs, and the inference
        operator is given the HyperPod cluster's ARN. None of these add-ons has to exist before the
        nodes; the pod identity agent, which does, is one of HyperPodEksCluster's base add-ons. An
        FSx CSI driver passed in as ``fsx_csi_driver`` is ordered the same way.
        """
        ordered: list[HyperPodAddon] = list(self.addons)
        if self.external_fsx_csi_driver is not None:
            ordered.append(self.external_fsx_csi_driver)
        for addon in ordered:
            for dependency in dependencies:
                addon.node.add_dependency(dependency)

    def wait_for_cert_manager(self, *dependencies: IConstruct) -> None:
        """Create every add-on that needs cert-manager (``REQUIRES`` or ``AFTER`` it) after ``dependencies``.

        Pass the cert-manager readiness gate (``HyperPodReadiness.add_cert_manager_gate``): the
        add-on's webhook certificates are issued by cert-manager, whose webhook must answer first
        (AWS's Terraform waits for the three cert-manager deployments before the training operator:
        awslabs/awsome-distributed-ai .../terraform-modules/hyperpod-eks-tf/modules/hyperpod_cluster/cert_manager.tf).
        """
        for addon in self.addons:
            if addon.ADDON_NAME != CERT_MANAGER and CERT_MANAGER in (*addon.REQUIRES, *addon.AFTER):
                for dependency in dependencies:
                    addon.node.add_dependency(dependency)
