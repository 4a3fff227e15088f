"""HyperPodHelmDependencies: the official HyperPod Helm chart, installed at deploy time.

SageMaker HyperPod refuses to create a cluster on an EKS cluster that lacks the chart's components
("missing required dependencies": health monitoring agent, device plugins, ...). This construct
installs ``helm_chart/HyperPodHelmChart`` of ``github.com/aws/sagemaker-hyperpod-cli`` at a pinned
commit (or from a chart bundle in S3) with a custom resource whose Lambda handler runs ``helm``
from the kubectl layer inside the VPC. Synth stays offline: nothing is cloned or downloaded on
the machine running ``cdk synth``. See docs/helm-dependencies.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Unpack

from aws_cdk import Aws, Size, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from constructs import Construct, IConstruct

from hyperpod_cdk._cdk_util import HELM_DEPENDENCIES_RESOURCE_TYPE, cluster_attribute
from hyperpod_cdk._handler_functions import check_environment_size, handler_custom_resource
from hyperpod_cdk.config.kubernetes import HelmDependenciesConfig
from hyperpod_cdk.errors import prop_error
from hyperpod_cdk.kubernetes.cluster_handler import ClusterHandlerConstruct, ClusterHandlerProps
from hyperpod_cdk.specs.kubernetes_names import DNS_LABEL, DNS_LABEL_PATTERN

HANDLER_DIR = Path(__file__).resolve().parent / "handlers" / "helm_dependencies"
RELEASE_NAME = "hyperpod-dependencies"
NAMESPACE = "kube-system"
RESOURCE_TYPE = HELM_DEPENDENCIES_RESOURCE_TYPE
HELM_BINARY = "/opt/helm/helm"
SPEC_ENV = "HELM_RELEASE_SPEC"
# The deploying stack's name: part of the release's owner label (handlers/helm_dependencies/helm_spec.py).
OWNER_STACK_ENV = "HELM_OWNER_STACK"
#: Deprecated: the DNS-1123 label rule lives in ``hyperpod_cdk.specs.kubernetes_names``.
NAME_PATTERN = DNS_LABEL_PATTERN
#: Tag on the installer function, for SCPs or permission boundaries that deny invoking it.
PURPOSE_TAG = ("hyperpod-cdk:purpose", "helm-installer-cluster-admin")


class HyperPodHelmDependencies(ClusterHandlerConstruct):
    """Installs (create/update) and uninstalls (delete) the HyperPod Helm chart.

    - A Python Lambda (stdlib + boto3, plain folder asset) with the kubectl layer
      (``/opt/helm/helm``, ``/opt/kubectl/kubectl``), 15-minute timeout, in ``subnets`` with the
      cluster security group, like aws_eks_v2's own kubectl handler, so it reaches a private
      endpoint. With the default GitHub source the subnets need egress to github.com and the
      chart repositories; with ``config.source_s3_uri`` only S3 and the EKS API.
    - **The release is fixed at synth**: the function's environment (``HELM_RELEASE_SPEC``)
      holds the cluster, release, namespace, source, revision, chart and sub-chart digests,
      values and timeout, and the handler refuses any request whose properties differ, so
      ``lambda:InvokeFunction`` on it does not let a caller pick what helm does.
    - Its role may call ``eks:DescribeCluster`` on this cluster only (and ``s3:GetObject`` on the
      bundle), and an EKS access entry gives it ``AmazonEKSClusterAdminPolicy`` at cluster scope:
      the chart creates Namespaces, ClusterRoles, ClusterRoleBindings and CRDs, which no
      namespace-scoped access policy allows (docs/security-posture.md).
    - ``Custom::HyperPodHelmDependencies`` (:attr:`resource`) with the same release as its
      properties (a change runs ``helm upgrade``), a 16-minute ``ServiceTimeout``, created after
      the access entry.

    Pass :attr:`resource` (or this construct) to ``HyperPodCluster.wait_for``.

    Takes the props of :class:`~hyperpod_cdk.kubernetes.cluster_handler.ClusterHandlerProps`
    (``cluster``, ``subnets``, ``kubectl_layer``, ``kubernetes_version``, ``log_key``: for the log group
    named ``/hyperpod-cdk/<stack-path-hash>/<deployment>/installer``, ``log_retention``), where
    ``subnets`` defaults to the VPC's private subnets with egress (isolated ones for an S3 source when
    there are none with egress), and:

    Args:
        config: chart revision, source, sub-chart toggles and helm options. Default: all defaults.
        release_name: Default ``hyperpod-dependencies`` (the name AWS's templates use).
        namespace: Default ``kube-system``.
    """

    HANDLER_NAME = "installer"
    NO_SUBNETS_FIX = (
        "no private subnets for the installer; pass subnets= (it needs the cluster endpoint, and internet access for "
        "github.com and the chart repositories unless config.source_s3_uri is set)"
    )
    LOGS = ("HandlerLogs", "installer", "HyperPod Helm dependencies installer logs")
    HANDLER_DIR = HANDLER_DIR
    PURPOSE_TAG = PURPOSE_TAG

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: HelmDependenciesConfig | None = None,
        release_name: str = RELEASE_NAME,
        namespace: str = NAMESPACE,
        **props: Unpack[ClusterHandlerProps],
    ) -> None:
        cfg = config or HelmDependenciesConfig()
        # Helm caps release names at 53 characters; Kubernetes namespaces (DNS labels) at 63.
        for prop, name, what, longest in (
            ("release_name", release_name, "a Helm release name", 53),
            ("namespace", namespace, "a Kubernetes namespace", 63),
        ):
            if not DNS_LABEL.fullmatch(name) or len(name) > longest:
                raise prop_error(
                    scope,
                    construct_id,
                    prop,
                    f"'{name}' is not {what} (lowercase letters, digits, -; {longest} at most)",
                )
        cluster = props["cluster"]
        if not props.get("subnets"):
            props["subnets"] = _default_subnets(cluster, cfg)
        stack = Stack.of(scope)
        values = cfg.helm_values(default_region=stack.region)
        spec = release_spec(cfg, cluster.cluster_name, release_name, namespace, values)
        _check_environment_size(scope, construct_id, spec)
        super().__init__(scope, construct_id, **props)
        self.config = cfg
        self.values = values
        self.spec = spec

        bundle: list[iam.PolicyStatement] = []  # read the chart bundle, for an S3 source
        if cfg.source_s3_uri:
            bucket_and_key = cfg.source_s3_uri.removeprefix("s3://")
            bundle.append(
                iam.PolicyStatement(actions=["s3:GetObject"], resources=[f"arn:{Aws.PARTITION}:s3:::{bucket_and_key}"])
            )
        self.function, self.access_entry = self._cluster_admin_handler(
            description="Installs the SageMaker HyperPod Helm chart (hyperpod-cdk)",
            memory_size=1024,
            # The source tarball, the extracted chart and the downloaded sub-charts.
            ephemeral_storage_size=Size.mebibytes(2048),
            environment={
                "HELM_BINARY": HELM_BINARY,
                SPEC_ENV: stack.to_json_string(self.spec),
                OWNER_STACK_ENV: Aws.STACK_NAME,
            },
            environment_reason="the environment holds the helm path and the release fixed at synth (names, revision, "
            "digests, chart values), no secrets; Lambda encrypts it at rest with an AWS managed key",
            statements=bundle,
            managed_policies_reason="Lambda's AWS managed basic and VPC execution policies: CloudWatch Logs for the "
            "handler and the ENI actions Lambda needs to attach the function to the VPC (which EC2 does not scope by "
            "resource); the handler's own access is eks:DescribeCluster on one cluster",
        )

        self.resource = handler_custom_resource(
            self,
            "Resource",
            self.function,
            resource_type=RESOURCE_TYPE,
            properties=self.spec,
        )
        # helm authenticates as the handler role: its access entry must exist first (and, on
        # delete, outlive the uninstall).
        self.resource.node.add_dependency(self.access_entry)

    def wait_for(self, *dependencies: IConstruct) -> None:
        """Install the chart only after ``dependencies``."""
        for dependency in dependencies:
            self.resource.node.add_dependency(dependency)

    @classmethod
    def from_config(
        cls,
        scope: Construct,
        construct_id: str,
        config: HelmDependenciesConfig,
        **props: Unpack[ClusterHandlerProps],
    ) -> HyperPodHelmDependencies:
        return cls(scope, construct_id, config=config, **props)


def release_spec(
    cfg: HelmDependenciesConfig, cluster_name: str, release_name: str, namespace: str, values: dict[str, Any]
) -> dict[str, Any]:
    """The release the installer may install: its environment and the custom resource's properties."""
    spec: dict[str, Any] = {
        "ClusterName": cluster_name,
        "Release": release_name,
        "Namespace": namespace,
        "Revision": cfg.revision,
        "ChartPath": cfg.chart_path,
        "ChartSha256": cfg.effective_chart_sha256,
        "Archives": cfg.archive_pins(),
        "Values": values,
        "TimeoutSeconds": cfg.timeout_minutes * 60,
        "Wait": cfg.wait,
    }
    if cfg.source_s3_uri:
        spec["SourceS3Uri"] = cfg.source_s3_uri
    else:
        spec["SourceUrlTemplate"] = cfg.source_url_template
    if cfg.source_sha256:
        spec["SourceSha256"] = cfg.source_sha256
    return spec


def _default_subnets(cluster: eks.ICluster, cfg: HelmDependenciesConfig) -> list[ec2.ISubnet]:
    """The VPC's private subnets with egress; isolated ones for an S3 source when there are none."""
    vpc = cluster_attribute(cluster, "vpc")
    if vpc is None:
        return []
    return list(vpc.private_subnets) or (list(vpc.isolated_subnets) if cfg.source_s3_uri else [])


def _check_environment_size(scope: Construct, construct_id: str, spec: dict[str, Any]) -> None:
    # The cluster name may be a token here; count it at its longest (100 characters).
    sized = {**spec, "ClusterName": "x" * 100}
    size = len(SPEC_ENV) + len(json.dumps(sized)) + len("HELM_BINARY") + len(HELM_BINARY)
    size += len(OWNER_STACK_ENV) + 128  # the stack name, at its longest
    check_environment_size(
        scope,
        construct_id,
        "config.extra_values",
        size,
        what="the release takes",
        fix="set fewer or shorter extra_values",
    )
