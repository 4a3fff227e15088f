"""HyperPodGrafanaDashboards: this library's HyperPod dashboards, installed in the Grafana workspace at deploy."""

from __future__ import annotations

import hashlib
from pathlib import Path

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from hyperpod_cdk._handler_functions import (
    cfn_resource,
    handler_code,
    handler_custom_resource,
    handler_function,
    retained_log_group,
)
from hyperpod_cdk.monitoring.grafana_workspace import HyperPodGrafanaWorkspace
from hyperpod_cdk.monitoring.prometheus_workspace import HyperPodPrometheusWorkspace

HANDLER_DIR = Path(__file__).parent / "handlers" / "grafana_dashboards"
DASHBOARD_DIR = HANDLER_DIR / "dashboards"
CUSTOM_RESOURCE_TYPE = "Custom::HyperPodGrafanaDashboards"
# The Grafana workspace API calls the handler makes (Service Authorization Reference, Amazon Managed
# Grafana: each takes the workspace ARN as its resource).
SPEC_ENV = "GRAFANA_DASHBOARDS_SPEC"
# The handler mints an ADMIN token for the workspace: tagged, so an SCP can keep others from invoking it.
PURPOSE_TAG = ("hyperpod-cdk:purpose", "grafana-admin-token")
SERVICE_ACCOUNT_ACTIONS = (
    "grafana:ListWorkspaceServiceAccounts",
    "grafana:CreateWorkspaceServiceAccount",
    "grafana:CreateWorkspaceServiceAccountToken",
    "grafana:DeleteWorkspaceServiceAccountToken",
)


def dashboards_digest() -> str:
    """sha256 over the bundled dashboards: a changed dashboard changes a property, so CloudFormation
    sends an Update and the handler writes the new version."""
    digest = hashlib.sha256()
    for path in sorted(DASHBOARD_DIR.glob("*.json")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


class HyperPodGrafanaDashboards(Construct):
    """A custom resource that installs the HyperPod dashboards (cluster, training, tasks, inference,
    EFA; monitoring/handlers/grafana_dashboards/dashboards/) and their AMP data source in an Amazon
    Managed Grafana workspace, with a service-account token that lives 15 minutes and is deleted
    after each run. Writes only its own uids (``hyperpod-cdk-*``, folder ``hyperpod-cdk``, data
    source ``hyperpod-amp``); dashboards people made are never read or changed. On stack delete it
    removes its own dashboards, best effort.

    Args:
        grafana_workspace: the workspace (its role must query ``prometheus_workspace``).
        prometheus_workspace: the AMP workspace the dashboards read.
        log_key: the KMS key for the handler's log group. Default: a new key.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        grafana_workspace: HyperPodGrafanaWorkspace,
        prometheus_workspace: HyperPodPrometheusWorkspace,
        log_key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        # The event's properties must equal this copy, fixed at synth in the function's environment:
        # a forged event cannot point the ADMIN token at another host or workspace (review M1).
        properties = {
            "WorkspaceId": grafana_workspace.workspace_id,
            "GrafanaUrl": f"https://{grafana_workspace.endpoint}",
            "PrometheusUrl": prometheus_workspace.prometheus_endpoint,
            "Region": stack.region,
            "DashboardsSha256": dashboards_digest(),
        }
        _, log_group = retained_log_group(
            self,
            "HandlerLogs",
            "grafana-dashboards",
            description="HyperPod Grafana dashboards handler logs",
            key=log_key,
        )
        self.function = handler_function(
            self,
            "Handler",
            description="Installs the HyperPod dashboards in Amazon Managed Grafana (hyperpod-cdk)",
            code=handler_code(HANDLER_DIR),  # with the shared CloudFormation-response module
            timeout=Duration.minutes(5),
            memory_size=256,
            log_group=log_group,
            environment={SPEC_ENV: stack.to_json_string(properties)},
            purpose_tag=PURPOSE_TAG,
            outside_vpc_reason="calls the Grafana workspace API and the workspace's public HTTPS endpoint; "
            "nothing in the VPC is involved",
            managed_policies_reason="Lambda's AWS managed basic execution policy: CloudWatch Logs for the handler; "
            "its own access is the service-account calls on one Grafana workspace",
            statements=[
                iam.PolicyStatement(
                    sid="GrafanaServiceAccountToken",
                    actions=list(SERVICE_ACCOUNT_ACTIONS),
                    resources=[grafana_workspace.workspace_arn],
                )
            ],
        )
        # CloudFormation waits 16 minutes for the answer (the default ServiceTimeout of the helper), not an
        # hour: the function's 5 minutes plus Lambda's retries of an asynchronous invoke.
        self.resource = cfn_resource(
            handler_custom_resource(
                self,
                "Resource",
                self.function,
                resource_type=CUSTOM_RESOURCE_TYPE,
                properties=properties,
                after_role_policy=True,
            )
        )
