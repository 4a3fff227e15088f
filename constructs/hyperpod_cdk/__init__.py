"""hyperpod-cdk: AWS CDK constructs for an Amazon SageMaker HyperPod training platform.

Start with :class:`HyperPodPlatform` and a config::

    from hyperpod_cdk import HyperPodPlatform, load_config

    HyperPodPlatform(stack, "Platform", config=load_config("hyperpod.yaml"))

The config models and errors import without starting jsii; the constructs load aws-cdk-lib (and
with it Node) on first use, so ``from hyperpod_cdk import load_config`` stays fast for tools.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hyperpod_cdk.config import InstanceGroup, PlatformConfig, load_config, parse_config
from hyperpod_cdk.errors import HyperPodConfigError

__version__ = "0.2.0"

# Constructs by module, imported on first access (PEP 562).
_CONSTRUCTS = {
    "HyperPodPlatform": "hyperpod_cdk.platform",
    "HyperPodNetwork": "hyperpod_cdk.network.vpc",
    "HyperPodSubnets": "hyperpod_cdk.network.subnets",
    "HyperPodEgress": "hyperpod_cdk.network.subnets",
    "HyperPodSecurityGroup": "hyperpod_cdk.network.security_group",
    "HyperPodEksCluster": "hyperpod_cdk.cluster.eks",
    "ImportedEksCluster": "hyperpod_cdk.cluster.imported_eks",
    "HyperPodCluster": "hyperpod_cdk.cluster.hyperpod",
    "IHyperPodCluster": "hyperpod_cdk.cluster.hyperpod",
    "HyperPodSlurmCluster": "hyperpod_cdk.cluster.slurm",
    "SlurmAccountingDatabase": "hyperpod_cdk.storage.accounting_database",
    "HyperPodExecutionRole": "hyperpod_cdk.cluster.execution_role",
    "HyperPodLifecycleScripts": "hyperpod_cdk.lifecycle.lifecycle_scripts",
    "bundled_scripts": "hyperpod_cdk.lifecycle.lifecycle_scripts",
    "HyperPodFsxLustre": "hyperpod_cdk.storage.fsx_lustre",
    "HyperPodHelmDependencies": "hyperpod_cdk.kubernetes.helm_dependencies",
    "HyperPodKubernetesAddons": "hyperpod_cdk.kubernetes.addons.kubernetes_addons",
    "FsxCsiDriverAddon": "hyperpod_cdk.kubernetes.addons.fsx_csi_driver",
    "HyperPodReadiness": "hyperpod_cdk.kubernetes.readiness",
    "HyperPodTaskGovernance": "hyperpod_cdk.kubernetes.task_governance",
    "HyperPodSchedulerConfig": "hyperpod_cdk.cluster.scheduler_config",
    "HyperPodComputeQuota": "hyperpod_cdk.cluster.compute_quota",
    "HyperPodPrometheusWorkspace": "hyperpod_cdk.monitoring.prometheus_workspace",
    "HyperPodGrafanaWorkspace": "hyperpod_cdk.monitoring.grafana_workspace",
    "HyperPodAlertsTopic": "hyperpod_cdk.monitoring.alerts_topic",
    "HyperPodClusterEventRules": "hyperpod_cdk.monitoring.cluster_events",
    "HyperPodFsxAlarms": "hyperpod_cdk.monitoring.fsx_alarms",
    "HyperPodAlertRules": "hyperpod_cdk.monitoring.alert_rules",
    "HyperPodBudget": "hyperpod_cdk.monitoring.budget",
    "HyperPodGrafanaDashboards": "hyperpod_cdk.monitoring.grafana_dashboards",
    "HyperPodSignals": "hyperpod_cdk.monitoring.signals",
    "HyperPodSlurmObservability": "hyperpod_cdk.monitoring.slurm_observability",
    "EksAccessTunnel": "hyperpod_cdk.cluster.access_tunnel",
    "TrainingImageRepository": "hyperpod_cdk.storage.training_image_repository",
}

__all__ = [
    "EksAccessTunnel",
    "FsxCsiDriverAddon",
    "HyperPodAlertRules",
    "HyperPodAlertsTopic",
    "HyperPodBudget",
    "HyperPodCluster",
    "HyperPodClusterEventRules",
    "HyperPodComputeQuota",
    "HyperPodConfigError",
    "HyperPodEgress",
    "HyperPodEksCluster",
    "HyperPodExecutionRole",
    "HyperPodFsxAlarms",
    "HyperPodFsxLustre",
    "HyperPodGrafanaDashboards",
    "HyperPodGrafanaWorkspace",
    "HyperPodHelmDependencies",
    "HyperPodKubernetesAddons",
    "HyperPodLifecycleScripts",
    "HyperPodNetwork",
    "HyperPodPlatform",
    "HyperPodReadiness",
    "HyperPodPrometheusWorkspace",
    "HyperPodSchedulerConfig",
    "HyperPodSecurityGroup",
    "HyperPodSignals",
    "HyperPodSlurmCluster",
    "SlurmAccountingDatabase",
    "HyperPodSubnets",
    "HyperPodTaskGovernance",
    "IHyperPodCluster",
    "ImportedEksCluster",
    "InstanceGroup",
    "PlatformConfig",
    "TrainingImageRepository",
    "bundled_scripts",
    "load_config",
    "parse_config",
    "HyperPodSlurmObservability",
]

if TYPE_CHECKING:
    from hyperpod_cdk.cluster.access_tunnel import EksAccessTunnel
    from hyperpod_cdk.cluster.compute_quota import HyperPodComputeQuota
    from hyperpod_cdk.cluster.eks import HyperPodEksCluster
    from hyperpod_cdk.cluster.execution_role import HyperPodExecutionRole
    from hyperpod_cdk.cluster.hyperpod import HyperPodCluster, IHyperPodCluster
    from hyperpod_cdk.cluster.imported_eks import ImportedEksCluster
    from hyperpod_cdk.cluster.scheduler_config import HyperPodSchedulerConfig
    from hyperpod_cdk.cluster.slurm import HyperPodSlurmCluster
    from hyperpod_cdk.kubernetes.addons.fsx_csi_driver import FsxCsiDriverAddon
    from hyperpod_cdk.kubernetes.addons.kubernetes_addons import HyperPodKubernetesAddons
    from hyperpod_cdk.kubernetes.helm_dependencies import HyperPodHelmDependencies
    from hyperpod_cdk.kubernetes.readiness import HyperPodReadiness
    from hyperpod_cdk.kubernetes.task_governance import HyperPodTaskGovernance
    from hyperpod_cdk.lifecycle.lifecycle_scripts import HyperPodLifecycleScripts, bundled_scripts
    from hyperpod_cdk.monitoring.alert_rules import HyperPodAlertRules
    from hyperpod_cdk.monitoring.alerts_topic import HyperPodAlertsTopic
    from hyperpod_cdk.monitoring.budget import HyperPodBudget
    from hyperpod_cdk.monitoring.cluster_events import HyperPodClusterEventRules
    from hyperpod_cdk.monitoring.fsx_alarms import HyperPodFsxAlarms
    from hyperpod_cdk.monitoring.grafana_dashboards import HyperPodGrafanaDashboards
    from hyperpod_cdk.monitoring.grafana_workspace import HyperPodGrafanaWorkspace
    from hyperpod_cdk.monitoring.prometheus_workspace import HyperPodPrometheusWorkspace
    from hyperpod_cdk.monitoring.signals import HyperPodSignals
    from hyperpod_cdk.monitoring.slurm_observability import HyperPodSlurmObservability
    from hyperpod_cdk.network.security_group import HyperPodSecurityGroup
    from hyperpod_cdk.network.subnets import HyperPodEgress, HyperPodSubnets
    from hyperpod_cdk.network.vpc import HyperPodNetwork
    from hyperpod_cdk.platform import HyperPodPlatform
    from hyperpod_cdk.storage.accounting_database import SlurmAccountingDatabase
    from hyperpod_cdk.storage.fsx_lustre import HyperPodFsxLustre
    from hyperpod_cdk.storage.training_image_repository import TrainingImageRepository


def __getattr__(name: str) -> Any:
    module = _CONSTRUCTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hyperpod_cdk' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
