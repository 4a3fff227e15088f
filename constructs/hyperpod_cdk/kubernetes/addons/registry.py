"""The add-on table: which construct each ``kubernetes.addons`` key turns on, in creation order.

A new add-on is one class (usually a :class:`~hyperpod_cdk.kubernetes.addons.base.PodIdentityAddon`
or :class:`~hyperpod_cdk.kubernetes.addons.base.ConfiguredAddon`, declaring its ``REQUIRES``) plus
one row here and its settings model in :mod:`hyperpod_cdk.config.addons`, as cdk-eks-blueprints
registers add-ons. :class:`~hyperpod_cdk.kubernetes.addons.kubernetes_addons.HyperPodKubernetesAddons`
creates the rows whose section is enabled, in this order; each add-on is also created after the
add-ons it requires or follows (checked at synth by the class).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_kms as kms
from constructs import Construct

from hyperpod_cdk.kubernetes.addons.base import HyperPodAddon
from hyperpod_cdk.kubernetes.addons.cert_manager import CertManagerAddon
from hyperpod_cdk.kubernetes.addons.fsx_csi_driver import FsxCsiDriverAddon
from hyperpod_cdk.kubernetes.addons.inference_operator import HyperPodInferenceOperatorAddon
from hyperpod_cdk.kubernetes.addons.metrics_server import MetricsServerAddon
from hyperpod_cdk.kubernetes.addons.observability import HyperPodObservabilityAddon
from hyperpod_cdk.kubernetes.addons.s3_csi_driver import S3CsiDriverAddon
from hyperpod_cdk.kubernetes.addons.task_governance import HyperPodTaskGovernanceAddon
from hyperpod_cdk.kubernetes.addons.training_operator import HyperPodTrainingOperatorAddon
from hyperpod_cdk.kubernetes.manifests import HyperPodManifests


@dataclass
class AddonContext:
    """What the rows' props take besides their config section (the add-on set's own props)."""

    scope: Construct
    hyperpod_cluster_arn: str | None = None
    encryption_key: kms.IKey | None = None
    manifests: HyperPodManifests | None = None
    #: Add-ons defined elsewhere in the app, by config key: their rows create nothing.
    provided: Mapping[str, HyperPodAddon] = field(default_factory=dict)

    def inference_key(self) -> kms.IKey:
        """The inference operator's TLS bucket key: the one given, else a rotating key kept on delete."""
        return self.encryption_key or kms.Key(
            self.scope,
            "InferenceTlsKey",
            description="HyperPod inference operator: TLS certificate bucket",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )


def _settings(section: Any, _context: AddonContext) -> dict[str, Any]:
    """The props every add-on takes from its section: version and configuration values."""
    return {"version": section.version, "configuration_values": section.configuration_values}


def _s3_csi_driver(section: Any, context: AddonContext) -> dict[str, Any]:
    return {**_settings(section, context), "bucket_names": section.bucket_names, "read_only": section.read_only}


def _fsx_csi_driver(section: Any, context: AddonContext) -> dict[str, Any]:
    return {**_settings(section, context), "dynamic_provisioning": section.storage_class is not None}


def _task_governance(section: Any, context: AddonContext) -> dict[str, Any]:
    return {
        **_settings(section, context),
        "manifests": context.manifests,
        "wait_for_kueue": context.manifests is not None,
    }


def _observability(section: Any, context: AddonContext) -> dict[str, Any]:
    return {
        **_settings(section, context),
        "workspace_alias": section.workspace_alias,
        "grafana": section.grafana,
        "grafana_workspace_name": section.grafana_workspace_name,
        "metrics": section.metrics,
        "logging": section.logging,
    }


def _inference_operator(section: Any, context: AddonContext) -> dict[str, Any]:
    return {
        "hyperpod_cluster_arn": context.hyperpod_cluster_arn,
        "encryption_key": context.inference_key(),
        "load_balancer_controller": section.load_balancer_controller,
        "keda": section.keda,
        **_settings(section, context),
    }


@dataclass(frozen=True)
class AddonRow:
    """One add-on: its ``kubernetes.addons`` key (also the attribute of the add-on set), the
    construct id (part of every logical ID below it, so it never changes), the class, and the
    props the class takes from the config section."""

    config_key: str
    construct_id: str
    addon_class: type[HyperPodAddon]
    props: Callable[[Any, AddonContext], dict[str, Any]] = _settings


ADDONS: tuple[AddonRow, ...] = (
    AddonRow("cert_manager", "CertManager", CertManagerAddon),
    AddonRow("training_operator", "TrainingOperator", HyperPodTrainingOperatorAddon),
    AddonRow("metrics_server", "MetricsServer", MetricsServerAddon),
    AddonRow("s3_csi_driver", "S3CsiDriver", S3CsiDriverAddon, _s3_csi_driver),
    AddonRow("fsx_csi_driver", "FsxCsiDriver", FsxCsiDriverAddon, _fsx_csi_driver),
    AddonRow("task_governance", "TaskGovernance", HyperPodTaskGovernanceAddon, _task_governance),
    AddonRow("observability", "Observability", HyperPodObservabilityAddon, _observability),
    AddonRow("inference_operator", "InferenceOperator", HyperPodInferenceOperatorAddon, _inference_operator),
)
