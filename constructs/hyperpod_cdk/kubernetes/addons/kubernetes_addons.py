"""HyperPodKubernetesAddons: the add-on set a KubernetesAddonsConfig turns on."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_eks_v2 as eks
from constructs import Construct, IConstruct

from hyperpod_cdk.config.kubernetes import KubernetesAddonsConfig
from hyperpod_cdk.kubernetes.addons.base import CERT_MANAGER, HyperPodAddon
from hyperpod_cdk.kubernetes.addons.cert_manager import CertManagerAddon
from hyperpod_cdk.kubernetes.addons.observability import HyperPodObservabilityAddon
from hyperpod_cdk.kubernetes.addons.task_governance import HyperPodTaskGovernanceAddon
from hyperpod_cdk.kubernetes.addons.training_operator import HyperPodTrainingOperatorAddon


class HyperPodKubernetesAddons(Construct):
    """The add-ons a :class:`KubernetesAddonsConfig` turns on, in dependency order.

    Defaults: cert-manager and the training operator on; observability and task governance off.
    The pod identity agent must already be defined for ``cluster`` (HyperPodEksCluster does it
    through ``cluster.eks_pod_identity_agent``), or be named in ``assume_installed``.

    Attributes are ``None`` for add-ons that are off.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.ICluster,
        config: KubernetesAddonsConfig | None = None,
        assume_installed: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        cfg = config or KubernetesAddonsConfig()
        self.config = cfg

        self.cert_manager: CertManagerAddon | None = None
        if cfg.cert_manager.enabled:
            self.cert_manager = CertManagerAddon(
                self, "CertManager",
                version=cfg.cert_manager.version,
                configuration_values=cfg.cert_manager.configuration_values,
                cluster=cluster,
                assume_installed=assume_installed,
            )
        self.training_operator: HyperPodTrainingOperatorAddon | None = None
        if cfg.training_operator.enabled:
            self.training_operator = HyperPodTrainingOperatorAddon(
                self, "TrainingOperator",
                version=cfg.training_operator.version,
                configuration_values=cfg.training_operator.configuration_values,
                cluster=cluster,
                assume_installed=assume_installed,
            )
        self.observability: HyperPodObservabilityAddon | None = None
        if cfg.observability.enabled:
            self.observability = HyperPodObservabilityAddon(
                self, "Observability",
                workspace_alias=cfg.observability.workspace_alias,
                version=cfg.observability.version,
                configuration_values=cfg.observability.configuration_values,
                cluster=cluster,
                assume_installed=assume_installed,
            )
        self.task_governance: HyperPodTaskGovernanceAddon | None = None
        if cfg.task_governance.enabled:
            self.task_governance = HyperPodTaskGovernanceAddon(
                self, "TaskGovernance",
                version=cfg.task_governance.version,
                configuration_values=cfg.task_governance.configuration_values,
                cluster=cluster,
                assume_installed=assume_installed,
            )

    @property
    def addons(self) -> list[HyperPodAddon]:
        """The add-on constructs that are on, in creation order."""
        candidates = (self.cert_manager, self.training_operator, self.observability, self.task_governance)
        return [addon for addon in candidates if addon is not None]

    def install_after(self, *dependencies: IConstruct) -> None:
        """Create every add-on after ``dependencies`` and delete it before them.

        Pass the readiness gate that waits for HyperPod nodes (``HyperPodReadiness.add_node_gate``;
        the platform does): the add-ons' pods need nodes (CloudFormation would otherwise accept them
        DEGRADED), the training operator must find the ``aws-hyperpod`` namespace the Helm chart
        created, and Kueue's webhooks must not answer for pods before Kueue runs. None of these
        add-ons has to exist before the nodes; the pod identity agent, which does, is one of
        HyperPodEksCluster's base add-ons.
        """
        for addon in self.addons:
            for dependency in dependencies:
                addon.node.add_dependency(dependency)

    def wait_for_cert_manager(self, *dependencies: IConstruct) -> None:
        """Create every add-on that needs cert-manager (``REQUIRES`` or ``AFTER`` it) after ``dependencies``.

        Pass the cert-manager readiness gate (``HyperPodReadiness.add_cert_manager_gate``): the
        add-on's webhook certificates are issued by cert-manager, whose webhook must answer first
        (AWS's Terraform waits for the three cert-manager deployments before the training operator).
        """
        for addon in self.addons:
            if addon.ADDON_NAME != CERT_MANAGER and CERT_MANAGER in (*addon.REQUIRES, *addon.AFTER):
                for dependency in dependencies:
                    addon.node.add_dependency(dependency)
