"""The SageMaker HyperPod observability add-on, writing to Amazon Managed Service for Prometheus."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import ArnFormat, RemovalPolicy, Stack, Tags
from aws_cdk import aws_aps as aps
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from constructs import Construct

from hyperpod_cdk.kubernetes.addons.base import (
    POD_IDENTITY_AGENT,
    HyperPodAddon,
    deep_merge,
    pod_identity_association,
    pod_identity_role,
)
from hyperpod_cdk.rules.acknowledge import acknowledge_wildcards

ADDON_NAME = "amazon-sagemaker-hyperpod-observability"
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


class HyperPodObservabilityAddon(HyperPodAddon):
    """``amazon-sagemaker-hyperpod-observability`` with a new AMP workspace.

    - ``AWS::APS::Workspace`` (retained on delete: it holds the metric history).
    - A pod identity role for ``hyperpod-observability/hyperpod-observability-operator-otel-collector``
      with ``aps:RemoteWrite`` on that workspace only and CloudWatch Logs on
      ``/aws/sagemaker/Clusters/*`` (the HyperPod cluster log groups), and its standalone
      association, after the pod identity agent (required).
    - The add-on with ``ampWorkspace {prometheusEndpoint, arn}``; ``configuration_values`` are
      deep-merged over that (``metricsProvider`` levels, ``logging``, ``amgWorkspace``).

    Amazon Managed Grafana is not created: it needs IAM Identity Center, which is account setup.
    """

    ADDON_NAME = ADDON_NAME
    REQUIRES = (POD_IDENTITY_AGENT,)
    CONFIG_FIELD = "kubernetes.addons.observability"

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.ICluster,
        workspace_alias: str | None = None,
        version: str | None = None,
        configuration_values: Mapping[str, Any] | None = None,
        assume_installed: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, construct_id, cluster=cluster, assume_installed=assume_installed)
        stack = Stack.of(self)
        self.workspace = aps.CfnWorkspace(
            self, "Workspace", alias=workspace_alias or f"{cluster.cluster_name}-hyperpod"
        )
        self.workspace.apply_removal_policy(RemovalPolicy.RETAIN)

        self.role = pod_identity_role(
            self, "Role",
            cluster=cluster,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            description="SageMaker HyperPod observability collector (EKS Pod Identity)",
        )
        self.role.add_to_policy(iam.PolicyStatement(actions=["aps:RemoteWrite"], resources=[self.workspace.attr_arn]))
        log_groups = stack.format_arn(
            service="logs", resource="log-group", resource_name="/aws/sagemaker/Clusters/*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        log_streams = f"{log_groups}:log-stream:*"
        self.role.add_to_policy(iam.PolicyStatement(actions=list(LOG_ACTIONS), resources=[log_groups, log_streams]))
        acknowledge_wildcards(
            self.role,
            "HyperPod names its cluster log groups /aws/sagemaker/Clusters/<cluster>/<id> at run time; "
            "the collector reads and writes only under that prefix in this account and region",
            resources=[log_groups, log_streams],
        )

        self.association = pod_identity_association(
            self, "PodIdentity",
            cluster=cluster, namespace=NAMESPACE, service_account=SERVICE_ACCOUNT, role=self.role,
        )
        self._order(self.association)
        self.configuration = deep_merge(
            {"ampWorkspace": {"prometheusEndpoint": self.workspace.attr_prometheus_endpoint,
                              "arn": self.workspace.attr_arn}},
            configuration_values or {},
        )
        self.addon = self._addon("Addon", version=version, configuration_values=self.configuration)
        self.addon.node.add_dependency(self.association)
        Tags.of(self.addon).add("SageMaker", "true")
