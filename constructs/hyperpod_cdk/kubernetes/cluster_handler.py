"""What the Kubernetes layer's kubectl and helm handlers share: where they run and how they reach the cluster.

Each runs in the cluster's VPC with the cluster security group, like aws_eks_v2's own kubectl
handler, so that it reaches a private-only endpoint, and authenticates to Kubernetes as its Lambda
role (``eks:DescribeCluster`` for the endpoint and CA, then an EKS bearer token).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from aws_cdk import Size
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from hyperpod_cdk._cdk_util import cluster_attribute
from hyperpod_cdk._handler_functions import MAX_HANDLER_TIMEOUT, InVpc, function_role, handler_code, handler_function
from hyperpod_cdk.cluster.kubectl import kubectl_layer as kubectl_layer_for
from hyperpod_cdk.errors import prop_error

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
    vpc = cluster_attribute(cluster, "vpc")
    security_group = cluster_attribute(cluster, "cluster_security_group")
    if vpc is None or security_group is None:
        raise prop_error(
            scope,
            construct_id,
            "cluster",
            f"import the cluster with vpc= and cluster_security_group_id=: the {handler} runs in its VPC",
        )
    if not subnets:
        raise prop_error(scope, construct_id, "subnets", no_subnets_fix)
    return InVpc(vpc=vpc, subnets=list(subnets), security_group=security_group)


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


def cluster_admin_handler(
    scope: Construct,
    cluster: eks.ICluster,
    in_vpc: InVpc,
    *,
    description: str,
    handler_dir: Path,
    log_group: logs.ILogGroup,
    kubectl_layer: lambda_.ILayerVersion | None,
    kubernetes_version: str,
    memory_size: int,
    environment: Mapping[str, str],
    purpose_tag: tuple[str, str],
    environment_reason: str,
    managed_policies_reason: str,
    statements: Sequence[iam.PolicyStatement] = (),
    ephemeral_storage_size: Size | None = None,
) -> tuple[lambda_.Function, eks.AccessEntry]:
    """A handler that applies to the cluster what was fixed at synth, as a cluster admin.

    The function ``Handler`` runs for up to Lambda's 15 minutes in ``in_vpc`` with the kubectl layer
    (``/opt/kubectl/kubectl``, ``/opt/helm/helm``; default: a new ``KubectlLayer`` for
    ``kubernetes_version``), may describe this cluster (plus ``statements``) and carries
    ``purpose_tag``; the access entry ``AccessEntry`` makes its role a cluster admin.
    """
    layer = kubectl_layer or kubectl_layer_for(scope, "KubectlLayer", kubernetes_version)
    function = handler_function(
        scope,
        "Handler",
        description=description,
        code=handler_code(handler_dir),  # with the shared modules it imports
        timeout=MAX_HANDLER_TIMEOUT,
        memory_size=memory_size,
        ephemeral_storage_size=ephemeral_storage_size,
        layers=[layer],
        in_vpc=in_vpc,
        environment=environment,
        log_group=log_group,
        purpose_tag=purpose_tag,
        environment_reason=environment_reason,
        statements=[describe_cluster(cluster), *statements],
        managed_policies_reason=managed_policies_reason,
    )
    return function, cluster_admin_access_entry(scope, cluster, function_role(function))
