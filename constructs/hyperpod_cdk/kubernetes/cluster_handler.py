"""What the Kubernetes layer's kubectl and helm handlers share: where they run and how they reach the cluster.

Each runs in the cluster's VPC with the cluster security group, like aws_eks_v2's own kubectl
handler, so that it reaches a private-only endpoint, and authenticates to Kubernetes as its Lambda
role (``eks:DescribeCluster`` for the endpoint and CA, then an EKS bearer token). The constructs that
own such handlers (manifests, readiness gates, the Helm installer) take the same props
(:class:`ClusterHandlerProps`) and start the same way (:class:`ClusterHandlerConstruct`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Required, TypedDict, Unpack

from aws_cdk import Size
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from hyperpod_cdk._cdk_util import cluster_attribute
from hyperpod_cdk._handler_functions import (
    MAX_HANDLER_TIMEOUT,
    InVpc,
    function_role,
    handler_code,
    handler_function,
    retained_log_group,
)
from hyperpod_cdk.cluster.kubectl import kubectl_layer as kubectl_layer_for
from hyperpod_cdk.errors import prop_error, typed_props
from hyperpod_cdk.specs.kubernetes_versions import DEFAULT_VERSION

NO_SUBNETS_FIX = "list private subnets that reach the cluster endpoint"


def in_cluster_vpc(
    scope: Construct,
    construct_id: str,
    cluster: eks.ICluster,
    subnets: Sequence[ec2.ISubnet],
    *,
    handler: str,
    no_subnets_fix: str = NO_SUBNETS_FIX,
) -> InVpc:
    """The cluster's VPC and security group with ``subnets``; a prop error names what is missing."""
    vpc, security_group = required_cluster_attributes(
        scope,
        construct_id,
        cluster,
        ("vpc", "cluster_security_group"),
        prop="cluster",
        fix=f"import the cluster with vpc= and cluster_security_group_id=: the {handler} runs in its VPC",
    )
    if not subnets:
        raise prop_error(scope, construct_id, "subnets", no_subnets_fix)
    return InVpc(vpc=vpc, subnets=list(subnets), security_group=security_group)


def required_cluster_attributes(
    scope: Construct,
    construct_id: str,
    cluster: eks.ICluster,
    names: Sequence[str],
    *,
    prop: str,
    fix: str,
) -> list[Any]:
    """The cluster's attributes ``names``; a prop error (``prop``: ``fix``) when an imported cluster was
    given any of them not (aws_eks_v2's imported clusters have only what they were imported with)."""
    values = [cluster_attribute(cluster, name) for name in names]
    if any(value is None for value in values):
        raise prop_error(scope, construct_id, prop, fix)
    return values


def describe_cluster(cluster: eks.ICluster) -> iam.PolicyStatement:
    """What a handler needs to write its kubeconfig: the endpoint and CA of this one cluster."""
    return iam.PolicyStatement(actions=["eks:DescribeCluster"], resources=[cluster.cluster_arn])


def cluster_admin_access_entry(scope: Construct, cluster: eks.ICluster, role: iam.IRole) -> eks.AccessEntry:
    """An access entry (``AccessEntry``) giving ``role`` ``AmazonEKSClusterAdminPolicy`` at cluster scope.

    Cluster scope: what these handlers apply creates Namespaces, ClusterRoles, ClusterRoleBindings and
    CRDs, and no namespace-scoped access policy (AmazonEKSAdminPolicy included) allows those.
    https://docs.aws.amazon.com/eks/latest/userguide/access-policy-permissions.html
    """
    return eks.AccessEntry(
        scope,
        "AccessEntry",
        cluster=cluster,
        principal=role.role_arn,
        access_policies=[
            eks.AccessPolicy.from_access_policy_name(
                "AmazonEKSClusterAdminPolicy", access_scope_type=eks.AccessScopeType.CLUSTER
            )
        ],
    )


class ClusterHandlerProps(TypedDict, total=False):
    """The props of a construct whose handler runs kubectl or helm in the cluster's VPC.

    Keys:
        cluster: the EKS cluster (it provides the VPC and the cluster security group). Required.
        subnets: private subnets that reach the cluster endpoint (and S3). Required unless the
            construct says otherwise.
        kubectl_layer: kubectl (``/opt/kubectl/kubectl``) and helm (``/opt/helm/helm``) for the
            cluster's version. Default: a new ``KubectlLayer`` for ``kubernetes_version``.
        kubernetes_version: the cluster's version, for the default kubectl layer. Default: the
            library's default version.
        log_key: KMS key for the handler's log group. Default: a new key.
        log_retention: of the handler's log group. Default: one year.
    """

    cluster: Required[eks.ICluster]
    subnets: Sequence[ec2.ISubnet] | None
    kubectl_layer: lambda_.ILayerVersion | None
    kubernetes_version: str
    log_key: kms.IKey | None
    log_retention: logs.RetentionDays


#: The non-None defaults of :class:`ClusterHandlerProps` (for ``typed_props(defaults=...)`` and the base).
CLUSTER_HANDLER_DEFAULTS: Mapping[str, Any] = {
    "kubernetes_version": DEFAULT_VERSION,
    "log_retention": logs.RetentionDays.ONE_YEAR,
}


class ClusterHandlerConstruct(Construct):
    """Base of the constructs whose handler runs in the cluster's VPC (:class:`ClusterHandlerProps`).

    Before the construct exists, the cluster's VPC and security group and the subnets are checked
    (a prop error names what is missing); then the handler's log group is created (:attr:`log_key`,
    :attr:`log_group`). A subclass names its handler and log group in the class attributes, and one
    that makes its role a cluster admin sets :attr:`HANDLER_DIR` and :attr:`PURPOSE_TAG` and calls
    :meth:`_cluster_admin_handler`.
    """

    #: What the handler is called in a prop error ("the <handler> runs in its VPC").
    HANDLER_NAME: ClassVar[str]
    #: The fix a prop error on empty ``subnets`` gives.
    NO_SUBNETS_FIX: ClassVar[str] = NO_SUBNETS_FIX
    #: The handler's log group: construct id, purpose (the last part of its name), key description.
    LOGS: ClassVar[tuple[str, str, str]]
    #: The cluster-admin handler's code folder (with the shared modules it imports).
    HANDLER_DIR: ClassVar[Path]
    #: Tag on the cluster-admin handler, for SCPs or permission boundaries that deny invoking it.
    PURPOSE_TAG: ClassVar[tuple[str, str]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Every subclass's constructor checks its unpacked props before anything exists: a missing
        # ``cluster`` or a misspelt key is one line naming it, not a KeyError or a silently dropped prop.
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            typed_props(defaults=CLUSTER_HANDLER_DEFAULTS)(cls)

    def __init__(self, scope: Construct, construct_id: str, **props: Unpack[ClusterHandlerProps]) -> None:
        cluster = props["cluster"]
        in_vpc = in_cluster_vpc(
            scope,
            construct_id,
            cluster,
            props.get("subnets") or (),
            handler=self.HANDLER_NAME,
            no_subnets_fix=self.NO_SUBNETS_FIX,
        )
        super().__init__(scope, construct_id)
        self.cluster = cluster
        self.in_vpc = in_vpc
        self.log_retention = props.get("log_retention", CLUSTER_HANDLER_DEFAULTS["log_retention"])
        self._kubectl_layer = props.get("kubectl_layer")
        self._kubernetes_version = props.get("kubernetes_version", CLUSTER_HANDLER_DEFAULTS["kubernetes_version"])
        log_id, purpose, description = self.LOGS
        self.log_key, self.log_group = retained_log_group(
            self, log_id, purpose, description=description, key=props.get("log_key"), retention=self.log_retention
        )

    @property
    def kubectl_layer(self) -> lambda_.ILayerVersion:
        """The kubectl layer given, or a new ``KubectlLayer`` (created on first use) for the version given."""
        if self._kubectl_layer is None:
            self._kubectl_layer = kubectl_layer_for(self, "KubectlLayer", self._kubernetes_version)
        return self._kubectl_layer

    def _cluster_admin_handler(
        self,
        *,
        description: str,
        memory_size: int,
        environment: Mapping[str, str],
        environment_reason: str,
        managed_policies_reason: str,
        statements: Sequence[iam.PolicyStatement] = (),
        ephemeral_storage_size: Size | None = None,
    ) -> tuple[lambda_.Function, eks.AccessEntry]:
        """The handler that applies to the cluster what was fixed at synth, as a cluster admin.

        The function ``Handler`` runs for up to Lambda's 15 minutes in the cluster's VPC with
        :attr:`kubectl_layer`, may describe this cluster (plus ``statements``) and carries
        :attr:`PURPOSE_TAG`; the access entry ``AccessEntry`` makes its role a cluster admin.
        """
        layer = self.kubectl_layer
        function = handler_function(
            self,
            "Handler",
            description=description,
            code=handler_code(self.HANDLER_DIR),  # with the shared modules it imports
            timeout=MAX_HANDLER_TIMEOUT,
            memory_size=memory_size,
            ephemeral_storage_size=ephemeral_storage_size,
            layers=[layer],
            in_vpc=self.in_vpc,
            environment=environment,
            log_group=self.log_group,
            purpose_tag=self.PURPOSE_TAG,
            environment_reason=environment_reason,
            statements=[describe_cluster(self.cluster), *statements],
            managed_policies_reason=managed_policies_reason,
        )
        return function, cluster_admin_access_entry(self, self.cluster, function_role(function))
