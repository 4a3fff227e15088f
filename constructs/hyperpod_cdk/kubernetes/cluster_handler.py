"""What the Kubernetes layer's kubectl and helm handlers share: where they run and how they reach the cluster.

Each runs in the cluster's VPC with the cluster security group, like aws_eks_v2's own kubectl
handler, so that it reaches a private-only endpoint, and authenticates to Kubernetes as its Lambda
role (``eks:DescribeCluster`` for the endpoint and CA, then an EKS bearer token).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from constructs import Construct

from hyperpod_cdk._cdk_util import cluster_attribute
from hyperpod_cdk._handler_functions import InVpc
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
