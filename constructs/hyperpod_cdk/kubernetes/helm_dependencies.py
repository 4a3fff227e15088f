"""HyperPodHelmDependencies: the official HyperPod Helm chart, installed at deploy time.

SageMaker HyperPod refuses to create a cluster on an EKS cluster that lacks the chart's components
("missing required dependencies": health monitoring agent, device plugins, ...). This construct
installs ``helm_chart/HyperPodHelmChart`` of ``github.com/aws/sagemaker-hyperpod-cli`` at a pinned
commit with a custom resource whose Lambda handler runs ``helm`` from the kubectl layer inside the
VPC. Synth stays offline: nothing is cloned or downloaded on the machine running ``cdk synth``.
See docs/helm-dependencies.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aws_cdk import CustomResource, Duration, RemovalPolicy, Size, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from hyperpod_cdk._cdk_util import (
    HELM_DEPENDENCIES_RESOURCE_TYPE,
    cluster_attribute,
    log_group_name_for,
    logs_key,
)
from hyperpod_cdk.cluster.kubectl import kubectl_layer as kubectl_layer_for
from hyperpod_cdk.config.kubernetes import HelmDependenciesConfig
from hyperpod_cdk.errors import prop_error
from hyperpod_cdk.rules.acknowledge import acknowledge_managed_policies
from hyperpod_cdk.rules.suppress import skip_handler_checks
from hyperpod_cdk.specs.kubernetes_versions import DEFAULT_VERSION

HANDLER_DIR = Path(__file__).resolve().parent / "handlers" / "helm_dependencies"
RELEASE_NAME = "hyperpod-dependencies"
NAMESPACE = "kube-system"
RESOURCE_TYPE = HELM_DEPENDENCIES_RESOURCE_TYPE
# Lambda's ceiling; download + dependency build get what helm's --timeout leaves.
HANDLER_TIMEOUT = Duration.minutes(15)
HELM_BINARY = "/opt/helm/helm"


class HyperPodHelmDependencies(Construct):
    """Installs (create/update) and uninstalls (delete) the HyperPod Helm chart.

    - A Python Lambda (stdlib + boto3, plain folder asset) with the kubectl layer
      (``/opt/helm/helm``, ``/opt/kubectl/kubectl``), 15-minute timeout, in ``subnets`` with the
      cluster security group, like aws_eks_v2's own kubectl handler, so it reaches a private
      endpoint. The subnets need egress to github.com, the chart repositories and ECR.
    - Its role may call ``eks:DescribeCluster`` on this cluster only, and an EKS access entry gives
      it ``AmazonEKSClusterAdminPolicy`` (cluster scope): the chart installs CRDs and cluster roles.
    - ``Custom::HyperPodHelmDependencies`` (:attr:`resource`), created after the access entry, with
      the revision, chart path, release, namespace and every ``--set`` value as properties, so
      changing any of them runs ``helm upgrade``.

    Pass :attr:`resource` (or this construct) to ``HyperPodCluster.wait_for``.

    Args:
        cluster: the EKS cluster (it provides the VPC and the cluster security group).
        subnets: where the handler runs; default: the VPC's private subnets with egress.
        config: chart revision, sub-chart toggles and helm options. Default: all defaults.
        release_name: Default ``hyperpod-dependencies`` (the name AWS's templates use).
        namespace: Default ``kube-system``.
        kubectl_layer: reuse a kubectl layer; default: a new one for ``kubernetes_version``.
        kubernetes_version: the cluster's version, for the default kubectl layer. Default: the
            library's default version.
        log_retention: handler logs. Default one year.
        log_key: KMS key for the handler's log group (named ``/hyperpod-cdk/<stack-path-hash>/installer``;
            the key policy gets a statement for that group only). Default: a new key.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.ICluster,
        subnets: Sequence[ec2.ISubnet] | None = None,
        config: HelmDependenciesConfig | None = None,
        release_name: str = RELEASE_NAME,
        namespace: str = NAMESPACE,
        kubectl_layer: lambda_.ILayerVersion | None = None,
        kubernetes_version: str = DEFAULT_VERSION,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
        log_key: kms.IKey | None = None,
    ) -> None:
        cfg = config or HelmDependenciesConfig()
        vpc = cluster_attribute(cluster, "vpc")
        if vpc is None:
            raise prop_error(
                scope, construct_id, "cluster",
                "the cluster has no VPC (import it with vpc=); the installer runs inside it",
            )
        security_group = cluster_attribute(cluster, "cluster_security_group")
        if security_group is None:
            raise prop_error(
                scope, construct_id, "cluster",
                "the cluster has no cluster security group (import it with cluster_security_group_id=) to place "
                "the installer in",
            )
        selected = list(subnets) if subnets else vpc.select_subnets(
            subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS
        ).subnets
        if not selected:
            raise prop_error(
                scope, construct_id, "subnets",
                "no private subnets with egress for the installer; pass subnets= (it needs the "
                "cluster endpoint and internet access for github.com and the chart repositories)",
            )
        super().__init__(scope, construct_id)
        self.config = cfg

        log_group_name = log_group_name_for(self, "installer")  # named: the key policy names it
        self.log_key = logs_key(self, log_key, "HyperPod Helm dependencies installer logs", log_group_name)
        self.log_group = logs.LogGroup(
            self, "HandlerLogs", log_group_name=log_group_name, retention=log_retention, encryption_key=self.log_key,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.function = lambda_.Function(
            self, "Handler",
            description="Installs the SageMaker HyperPod Helm chart (hyperpod-cdk)",
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler="index.handler",
            code=lambda_.Code.from_asset(str(HANDLER_DIR), exclude=["__pycache__", "*.pyc"]),
            timeout=HANDLER_TIMEOUT,
            memory_size=1024,
            # The source tarball, the extracted chart and the downloaded sub-charts.
            ephemeral_storage_size=Size.mebibytes(2048),
            layers=[kubectl_layer or kubectl_layer_for(self, "KubectlLayer", kubernetes_version)],
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnets=selected),
            security_groups=[security_group],
            environment={
                "HELM_BINARY": HELM_BINARY,
                "SOURCE_URL_TEMPLATE": cfg.source_url_template,
            },
            log_group=self.log_group,
        )
        skip_handler_checks(self.function)
        role = self.function.role
        assert role is not None
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["eks:DescribeCluster"], resources=[cluster.cluster_arn])
        )
        acknowledge_managed_policies(
            self.function,
            "Lambda's AWS managed basic and VPC execution policies: CloudWatch Logs for the "
            "handler and the ENI actions Lambda needs to attach the function to the VPC (which "
            "EC2 does not scope by resource); the handler's own access is eks:DescribeCluster on "
            "one cluster",
        )

        self.access_entry = eks.AccessEntry(
            self, "AccessEntry",
            cluster=cluster,
            principal=role.role_arn,
            access_policies=[
                eks.AccessPolicy.from_access_policy_name(
                    "AmazonEKSClusterAdminPolicy", access_scope_type=eks.AccessScopeType.CLUSTER
                )
            ],
        )

        self.values = cfg.helm_values(default_region=Stack.of(self).region)
        properties: dict[str, object] = {
            "ClusterName": cluster.cluster_name,
            "Revision": cfg.revision,
            "ChartPath": cfg.chart_path,
            "Release": release_name,
            "Namespace": namespace,
            "Values": self.values,
            "TimeoutSeconds": str(cfg.timeout_minutes * 60),
            "Wait": "true" if cfg.wait else "false",
        }
        if cfg.source_sha256:
            properties["SourceSha256"] = cfg.source_sha256
        self.resource = CustomResource(
            self, "Resource",
            service_token=self.function.function_arn,
            resource_type=RESOURCE_TYPE,
            properties=properties,
        )
        # helm authenticates as the handler role: its access entry must exist first (and, on
        # delete, outlive the uninstall).
        self.resource.node.add_dependency(self.access_entry)

    def wait_for(self, *dependencies: Construct) -> None:
        """Install the chart only after ``dependencies``."""
        for dependency in dependencies:
            self.resource.node.add_dependency(dependency)

    @classmethod
    def from_config(
        cls,
        scope: Construct,
        construct_id: str,
        config: HelmDependenciesConfig,
        *,
        cluster: eks.ICluster,
        subnets: Sequence[ec2.ISubnet] | None = None,
        kubectl_layer: lambda_.ILayerVersion | None = None,
        log_key: kms.IKey | None = None,
    ) -> HyperPodHelmDependencies:
        return cls(
            scope, construct_id, cluster=cluster, subnets=subnets, config=config,
            kubectl_layer=kubectl_layer, log_key=log_key,
        )
