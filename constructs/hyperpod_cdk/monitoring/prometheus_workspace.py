"""HyperPodPrometheusWorkspace: the Amazon Managed Service for Prometheus workspace HyperPod writes to."""

from __future__ import annotations

from aws_cdk import CfnTag, RemovalPolicy, Stack
from aws_cdk import aws_aps as aps
from constructs import Construct

from hyperpod_cdk.errors import prop_error

# AWS's observability template tags the workspace SageMaker=true (aws/sagemaker-hyperpod-cluster-setup
# eks/cloudformation/observability-template.yaml @0ab564d7); the admin policy
# AmazonSageMakerHyperPodObservabilityAdminAccess conditions its AMP permissions on that tag.
SAGEMAKER_TAG = CfnTag(key="SageMaker", value="true")
MAX_ALIAS = 100


class HyperPodPrometheusWorkspace(Construct):
    """An ``AWS::APS::Workspace`` for HyperPod metrics, tagged ``SageMaker=true``.

    Retained on stack delete and on replacement by default: it holds the cluster's metric history.

    Args:
        alias: workspace alias (1-100 characters).
        retain: keep the workspace when it leaves the stack. Default: True.

    Attributes:
        resource: the ``AWS::APS::Workspace``.
        workspace_arn, workspace_id: its ARN and id.
        prometheus_endpoint: ``https://aps-workspaces.<region>.<suffix>/workspaces/<id>``: no trailing slash
            and no ``/api/v1/remote_write``, the form AWS's templates give the observability add-on.
    """

    def __init__(self, scope: Construct, construct_id: str, *, alias: str, retain: bool = True) -> None:
        if not 1 <= len(alias) <= MAX_ALIAS:
            raise prop_error(scope, construct_id, "alias", f"must be 1-{MAX_ALIAS} characters, got {len(alias)}")
        super().__init__(scope, construct_id)
        # "Default" keeps the workspace's logical id what it was when the observability add-on
        # created the L1 directly under this construct's id.
        self.resource = aps.CfnWorkspace(self, "Default", alias=alias, tags=[SAGEMAKER_TAG])
        self.resource.apply_removal_policy(RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY)
        self.workspace_arn = self.resource.attr_arn
        self.workspace_id = self.resource.attr_workspace_id
        stack = Stack.of(self)
        self.prometheus_endpoint = (
            f"https://aps-workspaces.{stack.region}.{stack.url_suffix}/workspaces/{self.workspace_id}"
        )
