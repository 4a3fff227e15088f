"""The SageMaker HyperPod observability add-on, writing to Amazon Managed Service for Prometheus."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Unpack

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from constructs import Construct

from hyperpod_cdk.config.addons import ObservabilityConfig
from hyperpod_cdk.config.kubernetes import ObservabilityMetrics
from hyperpod_cdk.errors import check_prop_types, prop_error
from hyperpod_cdk.kubernetes.addons.base import (
    POD_IDENTITY_AGENT,
    AddonSettings,
    PodIdentityAddon,
)
from hyperpod_cdk.monitoring.grafana_workspace import HyperPodGrafanaWorkspace
from hyperpod_cdk.monitoring.prometheus_workspace import HyperPodPrometheusWorkspace
from hyperpod_cdk.rules.acknowledge import acknowledge_wildcards

ADDON_NAME = ObservabilityConfig.ADDON_NAME  # the config section names the add-on
NAMESPACE = "hyperpod-observability"
SERVICE_ACCOUNT = "hyperpod-observability-operator-otel-collector"
# The collector's CloudWatch Logs permissions, as the SageMaker developer guide lists them for
# this add-on's pod identity role ("Verify Pod Identity association").
LOG_ACTIONS = (
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:DescribeLogGroups",
    "logs:DescribeLogStreams",
    "logs:PutLogEvents",
    "logs:GetLogEvents",
    "logs:FilterLogEvents",
    "logs:GetLogRecord",
    "logs:StartQuery",
    "logs:StopQuery",
    "logs:GetQueryResults",
)


class HyperPodObservabilityAddon(PodIdentityAddon):
    """``amazon-sagemaker-hyperpod-observability`` writing to an AMP workspace.

    - The AMP workspace: ``prometheus_workspace``, else a new :class:`HyperPodPrometheusWorkspace`
      (retained on delete: it holds the metric history).
    - A pod identity role for ``hyperpod-observability/hyperpod-observability-operator-otel-collector``
      with ``aps:RemoteWrite`` on that workspace only and CloudWatch Logs on
      ``/aws/sagemaker/Clusters/*`` (the HyperPod cluster log groups), and its standalone
      association, after the pod identity agent (required).
    - With ``grafana``, a :class:`HyperPodGrafanaWorkspace` reading that AMP workspace.
    - The add-on with ``ampWorkspace {prometheusEndpoint, arn}``, ``metricsProvider`` from
      ``metrics`` (levels per category, with ``logging``) and, with ``grafana``,
      ``amgWorkspace {workspaceName, arn}``, the keys AWS's CloudFormation and Terraform write
      (aws/sagemaker-hyperpod-cluster-setup eks/cloudformation/observability-template.yaml @0ab564d7;
      awsome-distributed-ai modules/observability/eks_addon.tf). ``configuration_values`` are
      deep-merged over that.

    Args:
        cluster: the EKS cluster.
        prometheus_workspace: where metrics go. Default: a new workspace aliased ``workspace_alias``.
        workspace_alias: alias of the new workspace. Default: ``<EKS cluster name>-hyperpod``.
        grafana: create an Amazon Managed Grafana workspace for the dashboards (needs IAM
            Identity Center). Default: False.
        grafana_workspace_name: its name. Default: ``<EKS cluster name>-hyperpod``.
        metrics: metric level per category. Default: :class:`ObservabilityMetrics` defaults.
        logging: ship task logs to CloudWatch Logs.
    """

    ADDON_NAME = ADDON_NAME
    REQUIRES = (POD_IDENTITY_AGENT,)
    CONFIG_FIELD = "kubernetes.addons.observability"
    NAMESPACE = NAMESPACE
    SERVICE_ACCOUNT = SERVICE_ACCOUNT
    ROLE_DESCRIPTION = "SageMaker HyperPod observability collector (EKS Pod Identity)"
    SAGEMAKER_TAG = True

    workspace: HyperPodPrometheusWorkspace
    grafana_workspace: HyperPodGrafanaWorkspace | None

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.ICluster,
        prometheus_workspace: HyperPodPrometheusWorkspace | None = None,
        workspace_alias: str | None = None,
        grafana: bool = False,
        grafana_workspace_name: str | None = None,
        metrics: ObservabilityMetrics | None = None,
        logging: bool = False,
        **settings: Unpack[AddonSettings],
    ) -> None:
        if prometheus_workspace is not None and workspace_alias is not None:
            raise prop_error(scope, construct_id, "workspace_alias", "only used without prometheus_workspace")
        if grafana_workspace_name is not None and not grafana:
            raise prop_error(scope, construct_id, "grafana_workspace_name", "only used with grafana=True")
        check_prop_types(scope, construct_id, cluster=("eks.ICluster", cluster))  # its name is read here
        default_name = f"{cluster.cluster_name}-hyperpod"
        self._given_workspace = prometheus_workspace
        self._workspace_alias = workspace_alias or default_name
        self._grafana_workspace_name = (grafana_workspace_name or default_name) if grafana else None
        self._metrics_provider = (metrics or ObservabilityMetrics()).metrics_provider(logging=logging)
        super().__init__(scope, construct_id, cluster=cluster, **settings)

    def _build(self) -> Mapping[str, Any]:
        """The workspaces, then the collector's role; the settings that point the add-on at them."""
        self.workspace = self._given_workspace or HyperPodPrometheusWorkspace(
            self, "Workspace", alias=self._workspace_alias
        )
        self.grafana_workspace = None
        if self._grafana_workspace_name is not None:
            self.grafana_workspace = HyperPodGrafanaWorkspace(
                self, "Grafana", prometheus_workspace=self.workspace, workspace_name=self._grafana_workspace_name
            )
        super()._build()
        base: dict[str, Any] = {
            "ampWorkspace": {
                "prometheusEndpoint": self.workspace.prometheus_endpoint,
                "arn": self.workspace.workspace_arn,
            },
            "metricsProvider": self._metrics_provider,
        }
        if self.grafana_workspace is not None:
            base["amgWorkspace"] = {
                "workspaceName": self.grafana_workspace.workspace_name,
                "arn": self.grafana_workspace.workspace_arn,
            }
        return base

    def _grant(self, role: iam.Role) -> None:
        role.add_to_policy(iam.PolicyStatement(actions=["aps:RemoteWrite"], resources=[self.workspace.workspace_arn]))
        log_groups = Stack.of(self).format_arn(
            service="logs",
            resource="log-group",
            resource_name="/aws/sagemaker/Clusters/*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        log_streams = f"{log_groups}:log-stream:*"
        role.add_to_policy(iam.PolicyStatement(actions=list(LOG_ACTIONS), resources=[log_groups, log_streams]))
        acknowledge_wildcards(
            role,
            "HyperPod names its cluster log groups /aws/sagemaker/Clusters/<cluster>/<id> at run time; "
            "the collector reads and writes only under that prefix in this account and region",
            resources=[log_groups, log_streams],
        )
