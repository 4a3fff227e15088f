"""HyperPodSlurmObservability: the AWS side of Slurm metrics (AMP workspace, remote-write grant, Grafana).

The node side is the API-driven lifecycle script (lifecycle_scripts/slurm_api/on_create.sh,
"observability"): it reads :data:`NODE_SETTINGS_FILE` from the lifecycle prefix and runs the
exporters and an OpenTelemetry collector that remote-writes to :attr:`remote_write_url`.

What AWS's own Slurm observability stack creates, and this construct mirrors
(aws/sagemaker-hyperpod-cluster-setup slurm/cloudformation/slurm-observability-template.yaml @1470cd70):
an ``AWS::APS::Workspace`` tagged ``SageMaker=true`` and retained, ``aps:RemoteWrite`` on that one
workspace for the cluster execution role (``ExecutionRoleObservabilityPolicy``), and an optional
Amazon Managed Grafana workspace.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_aps as aps
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct

from hyperpod_cdk.config import PlatformConfig
from hyperpod_cdk.errors import prop_error
from hyperpod_cdk.monitoring.alert_rules import alert_manager_definition
from hyperpod_cdk.monitoring.grafana_workspace import HyperPodGrafanaWorkspace
from hyperpod_cdk.monitoring.prometheus_workspace import HyperPodPrometheusWorkspace

#: Written next to the API-driven Slurm scripts; on_create.sh starts the collector only when it exists.
NODE_SETTINGS_FILE = "slurm_observability.json"
SLURM_RULES_FILE = Path(__file__).parent / "assets" / "slurm-alert-rules.yaml"


class HyperPodSlurmObservability(Construct):
    """An AMP workspace for a Slurm cluster's node metrics, optionally with Grafana.

    - :attr:`prometheus_workspace`: :class:`HyperPodPrometheusWorkspace` (retained, ``SageMaker=true``).
    - :attr:`grafana_workspace`: :class:`HyperPodGrafanaWorkspace` reading it, when ``grafana``.
    - :meth:`grant_remote_write`: ``aps:RemoteWrite`` on this workspace only, for the execution role
      whose instance credentials the collector signs with (SigV4, service ``aps``).
    - :attr:`node_settings`: the file the lifecycle script reads (remote-write URL and region).

    Args:
        workspace_alias: AMP workspace alias (1-100 characters).
        grafana: create an Amazon Managed Grafana workspace too. Default: False.
        grafana_workspace_name: its name. Default: ``workspace_alias``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        workspace_alias: str,
        grafana: bool = False,
        grafana_workspace_name: str | None = None,
    ) -> None:
        if grafana_workspace_name is not None and not grafana:
            raise prop_error(scope, construct_id, "grafana_workspace_name", "only with grafana=True")
        super().__init__(scope, construct_id)
        self.prometheus_workspace = HyperPodPrometheusWorkspace(self, "Workspace", alias=workspace_alias)
        self.grafana_workspace: HyperPodGrafanaWorkspace | None = None
        if grafana:
            self.grafana_workspace = HyperPodGrafanaWorkspace(
                self,
                "Grafana",
                prometheus_workspace=self.prometheus_workspace,
                workspace_name=grafana_workspace_name or workspace_alias,
            )
        self.alert_rules: aps.CfnRuleGroupsNamespace | None = None

    @property
    def remote_write_url(self) -> str:
        """``<workspace endpoint>/api/v1/remote_write``: the URL form AWS's install_observability.py
        takes (``--prometheus-remote-write-url``, awslabs/awsome-distributed-ai base-config/observability)."""
        return f"{self.prometheus_workspace.prometheus_endpoint}/api/v1/remote_write"

    @property
    def node_settings(self) -> dict[str, Any]:
        """The JSON the lifecycle script reads (:data:`NODE_SETTINGS_FILE`); values are deploy-time tokens."""
        return {"version": 1, "remote_write_url": self.remote_write_url, "region": Stack.of(self).region}

    def grant_remote_write(self, role: iam.IRole) -> None:
        """``aps:RemoteWrite`` on this workspace only (AWS's template: ``ExecutionRoleObservabilityPolicy``)."""
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="SlurmMetricsRemoteWrite",
                actions=["aps:RemoteWrite"],
                resources=[self.prometheus_workspace.workspace_arn],
            )
        )

    def add_alert_rules(self, topic: sns.ITopic) -> aps.CfnRuleGroupsNamespace:
        """Slurm alert rules (monitoring/assets/slurm-alert-rules.yaml) and the alert manager routing to ``topic``."""
        if self.alert_rules is not None:
            raise prop_error(self, "AlertRules", "topic", "alert rules were already added to this workspace")
        self.alert_rules = aps.CfnRuleGroupsNamespace(
            self,
            "AlertRules",
            name="hyperpod-slurm-alerts",
            workspace=self.prometheus_workspace.workspace_arn,
            data=SLURM_RULES_FILE.read_text(),
        )
        self.prometheus_workspace.resource.alert_manager_definition = alert_manager_definition(
            topic.topic_arn, Stack.of(self).region
        )
        return self.alert_rules


def slurm_observability_for(scope: Construct, config: PlatformConfig) -> HyperPodSlurmObservability | None:
    """``slurm.observability`` of a PlatformConfig as a construct (``SlurmObservability``), else None.

    The workspace alias and Grafana name are ``<hyperpod.cluster_name>-slurm`` (one AMP workspace per
    cluster, as AWS's template names it after its resource prefix).
    """
    settings = config.slurm.observability
    if config.orchestrator != "slurm" or not settings.enabled:
        return None
    return HyperPodSlurmObservability(
        scope,
        "SlurmObservability",
        workspace_alias=f"{config.hyperpod.cluster_name}-slurm",
        grafana=settings.grafana,
    )


def slurm_observability_files(observability: HyperPodSlurmObservability | None) -> dict[str, Any]:
    """The lifecycle prefix's extra JSON files: :data:`NODE_SETTINGS_FILE`, or none without metrics."""
    return {} if observability is None else {NODE_SETTINGS_FILE: observability.node_settings}
