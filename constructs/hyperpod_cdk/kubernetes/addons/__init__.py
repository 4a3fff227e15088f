"""EKS add-ons around SageMaker HyperPod, each declaring and checking what it depends on.

:class:`HyperPodKubernetesAddons` builds the set a :class:`~hyperpod_cdk.config.kubernetes.KubernetesAddonsConfig`
asks for; the single add-on constructs can also be used on their own.

Order in the template (``DependsOn``)::

    eks-pod-identity-agent ─► cert-manager ─► PodIdentityAssociation ─► training operator
    eks-pod-identity-agent ─► PodIdentityAssociation ─► observability
    eks-pod-identity-agent ─► PodIdentityAssociation ─► S3 CSI driver / FSx CSI driver
    eks-pod-identity-agent ─► metrics-server
    task governance ─► Kueue readiness wait
    cert-manager, S3 CSI, FSx CSI, metrics-server, task governance ─► inference operator

and every add-on after whatever :meth:`HyperPodKubernetesAddons.install_after` was given (the
platform passes the readiness gate that waits for a HyperPod node): their pods need nodes, the
training operator's namespace ``aws-hyperpod`` is created by the HyperPod Helm chart (installed
before the cluster), and Kueue's webhooks should not answer for pods before the Kueue controller
can run. Add-ons that need cert-manager also come after
:meth:`HyperPodKubernetesAddons.wait_for_cert_manager`'s dependencies (the cert-manager gate).
The add-on set is table-driven (:data:`~hyperpod_cdk.kubernetes.addons.registry.ADDONS`);
:class:`~hyperpod_cdk.kubernetes.addons.base.HyperPodAddon` does each add-on's checks, resources and
ordering, and add-ons whose pods call AWS derive from
:class:`~hyperpod_cdk.kubernetes.addons.base.PodIdentityAddon`. Every add-on sets ``ResolveConflicts``
(:data:`~hyperpod_cdk.specs.addon_conflicts.RESOLVE_CONFLICTS`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# The construct classes load aws-cdk-lib (jsii, about a second); the config models must not, so
# that `hyperpod_cdk.config.kubernetes` stays cheap to import for the CLI. Constructs load on first use.
_LAZY = {
    "CERT_MANAGER": "hyperpod_cdk.kubernetes.addons.base",
    "POD_IDENTITY_AGENT": "hyperpod_cdk.kubernetes.addons.base",
    "HyperPodAddon": "hyperpod_cdk.kubernetes.addons.base",
    "ConfiguredAddon": "hyperpod_cdk.kubernetes.addons.base",
    "PodIdentityAddon": "hyperpod_cdk.kubernetes.addons.base",
    "ADDONS": "hyperpod_cdk.kubernetes.addons.registry",
    "AddonRow": "hyperpod_cdk.kubernetes.addons.registry",
    "MissingAddonDependencyError": "hyperpod_cdk.kubernetes.addons.base",
    "installed_addons": "hyperpod_cdk.kubernetes.addons.base",
    "CertManagerAddon": "hyperpod_cdk.kubernetes.addons.cert_manager",
    "HyperPodTrainingOperatorAddon": "hyperpod_cdk.kubernetes.addons.training_operator",
    "HyperPodObservabilityAddon": "hyperpod_cdk.kubernetes.addons.observability",
    "HyperPodTaskGovernanceAddon": "hyperpod_cdk.kubernetes.addons.task_governance",
    "HyperPodInferenceOperatorAddon": "hyperpod_cdk.kubernetes.addons.inference_operator",
    "S3CsiDriverAddon": "hyperpod_cdk.kubernetes.addons.s3_csi_driver",
    "FsxCsiDriverAddon": "hyperpod_cdk.kubernetes.addons.fsx_csi_driver",
    "MetricsServerAddon": "hyperpod_cdk.kubernetes.addons.metrics_server",
    "HyperPodKubernetesAddons": "hyperpod_cdk.kubernetes.addons.kubernetes_addons",
    "HelmDependenciesConfig": "hyperpod_cdk.config.kubernetes",
    "KubernetesAddonsConfig": "hyperpod_cdk.config.kubernetes",
    "KubernetesConfig": "hyperpod_cdk.config.kubernetes",
}
__all__ = [
    "ADDONS",
    "CERT_MANAGER",
    "POD_IDENTITY_AGENT",
    "AddonRow",
    "CertManagerAddon",
    "ConfiguredAddon",
    "FsxCsiDriverAddon",
    "HelmDependenciesConfig",
    "HyperPodAddon",
    "HyperPodInferenceOperatorAddon",
    "HyperPodKubernetesAddons",
    "HyperPodObservabilityAddon",
    "HyperPodTaskGovernanceAddon",
    "HyperPodTrainingOperatorAddon",
    "KubernetesAddonsConfig",
    "KubernetesConfig",
    "MetricsServerAddon",
    "MissingAddonDependencyError",
    "PodIdentityAddon",
    "S3CsiDriverAddon",
    "installed_addons",
]

if TYPE_CHECKING:
    from hyperpod_cdk.config.kubernetes import HelmDependenciesConfig, KubernetesAddonsConfig, KubernetesConfig
    from hyperpod_cdk.kubernetes.addons.base import (
        CERT_MANAGER,
        POD_IDENTITY_AGENT,
        ConfiguredAddon,
        HyperPodAddon,
        MissingAddonDependencyError,
        PodIdentityAddon,
        installed_addons,
    )
    from hyperpod_cdk.kubernetes.addons.cert_manager import CertManagerAddon
    from hyperpod_cdk.kubernetes.addons.fsx_csi_driver import FsxCsiDriverAddon
    from hyperpod_cdk.kubernetes.addons.inference_operator import HyperPodInferenceOperatorAddon
    from hyperpod_cdk.kubernetes.addons.kubernetes_addons import HyperPodKubernetesAddons
    from hyperpod_cdk.kubernetes.addons.metrics_server import MetricsServerAddon
    from hyperpod_cdk.kubernetes.addons.observability import HyperPodObservabilityAddon
    from hyperpod_cdk.kubernetes.addons.registry import ADDONS, AddonRow
    from hyperpod_cdk.kubernetes.addons.s3_csi_driver import S3CsiDriverAddon
    from hyperpod_cdk.kubernetes.addons.task_governance import HyperPodTaskGovernanceAddon
    from hyperpod_cdk.kubernetes.addons.training_operator import HyperPodTrainingOperatorAddon


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hyperpod_cdk.kubernetes.addons' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
