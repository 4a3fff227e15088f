"""HyperPodGrafanaWorkspace: an Amazon Managed Grafana workspace that reads one AMP workspace."""

from __future__ import annotations

import re

from aws_cdk import ArnFormat, RemovalPolicy, Stack, Token
from aws_cdk import aws_grafana as grafana
from aws_cdk import aws_iam as iam
from constructs import Construct

from hyperpod_cdk.errors import prop_error
from hyperpod_cdk.monitoring.prometheus_workspace import HyperPodPrometheusWorkspace
from hyperpod_cdk.rules.acknowledge import acknowledge_wildcards

NAME_PATTERN = r"^[a-zA-Z0-9-._~]{1,255}$"
# Query actions of the Grafana role in AWS's observability template (aws/sagemaker-hyperpod-cluster-setup
# eks/cloudformation/observability-template.yaml @0ab564d7, GrafanaWorkspaceRole), scoped here to the
# one workspace HyperPod writes to; the alert-manager *write* actions of that role are left out.
PROMETHEUS_QUERY_ACTIONS = (
    "aps:DescribeWorkspace",
    "aps:QueryMetrics",
    "aps:GetLabels",
    "aps:GetSeries",
    "aps:GetMetricMetadata",
    "aps:ListRules",
    "aps:ListAlertManagerSilences",
    "aps:ListAlertManagerAlerts",
    "aps:GetAlertManagerStatus",
    "aps:ListAlertManagerAlertGroups",
)


class HyperPodGrafanaWorkspace(Construct):
    """An ``AWS::Grafana::Workspace`` with its own role, for the HyperPod dashboards.

    - Sign-in through IAM Identity Center (``AWS_SSO``), which must be enabled in the account;
      the workspace's create handler fails otherwise.
    - ``CURRENT_ACCOUNT`` access with a customer-managed role (``PermissionType CUSTOMER_MANAGED``),
      trusted by ``grafana.amazonaws.com`` from this account only, that may query the given AMP
      workspace (and list workspaces, which has no resource scope), as AWS's templates configure it.
    - ``DataSources: [PROMETHEUS]``. CloudFormation has no type for Grafana's own data sources or
      dashboards: :class:`~hyperpod_cdk.monitoring.grafana_dashboards.HyperPodGrafanaDashboards`
      adds the AMP data source and this library's dashboards at deploy (docs/observability.md).
    - Retained on stack delete and replacement by default: users' dashboards live in it.

    Args:
        prometheus_workspace: the AMP workspace the dashboards read.
        workspace_name: the Grafana workspace name.
        retain: keep the workspace when it leaves the stack. Default: True.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        prometheus_workspace: HyperPodPrometheusWorkspace,
        workspace_name: str,
        retain: bool = True,
    ) -> None:
        if not Token.is_unresolved(workspace_name) and not re.fullmatch(NAME_PATTERN, workspace_name):
            raise prop_error(
                scope, construct_id, "workspace_name", f"'{workspace_name}' must be 1-255 of a-z A-Z 0-9 - . _ ~"
            )
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("grafana.amazonaws.com").with_conditions(
                {"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
            description="Amazon Managed Grafana workspace of the HyperPod dashboards",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="QueryHyperPodMetrics",
                actions=list(PROMETHEUS_QUERY_ACTIONS),
                resources=[prometheus_workspace.workspace_arn],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ListPrometheusWorkspaces",
                actions=["aps:ListWorkspaces"],
                resources=["*"],
            )
        )
        acknowledge_wildcards(
            self.role,
            "aps:ListWorkspaces has no resource-level scope (Service Authorization Reference); Grafana's "
            "Prometheus data-source picker calls it, and every query action is scoped to one workspace",
            resources=["*"],
        )
        self.workspace_name = workspace_name
        self.resource = grafana.CfnWorkspace(
            self,
            "Resource",
            name=workspace_name,
            description="SageMaker HyperPod cluster dashboards",
            account_access_type="CURRENT_ACCOUNT",
            authentication_providers=["AWS_SSO"],
            permission_type="CUSTOMER_MANAGED",
            role_arn=self.role.role_arn,
            data_sources=["PROMETHEUS"],
        )
        self.resource.apply_removal_policy(RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY)
        # The role must be able to query before the workspace first uses it.
        policy = self.role.node.try_find_child("DefaultPolicy")
        if policy is not None:
            self.resource.node.add_dependency(policy)

    @property
    def workspace_id(self) -> str:
        return self.resource.attr_id

    @property
    def workspace_arn(self) -> str:
        """``arn:<partition>:grafana:<region>:<account>:/workspaces/<id>`` (Service Authorization Reference)."""
        return Stack.of(self).format_arn(
            service="grafana",
            resource="/workspaces",
            resource_name=self.workspace_id,
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )

    @property
    def endpoint(self) -> str:
        """The workspace URL host (``g-xxxx.grafana-workspace.<region>.amazonaws.com``)."""
        return self.resource.attr_endpoint
