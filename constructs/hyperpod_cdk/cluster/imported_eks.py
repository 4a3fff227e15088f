"""ImportedEksCluster: an existing EKS cluster, imported so the platform can install into it."""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import Annotations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from constructs import Construct

from hyperpod_cdk.cluster.kubectl import kubectl_layer, kubernetes_version_problem, warn_about_support
from hyperpod_cdk.config import EKS_NAME_PATTERN
from hyperpod_cdk.errors import checked_props, prop_error, typed_props

#: Warning id for the authentication mode synth cannot see.
AUTH_MODE_WARNING_ID = "hyperpod-cdk:existing-eks-auth-mode"


@typed_props
class ImportedEksCluster(Construct):
    """An EKS cluster created outside this app, imported with its VPC and cluster security group.

    No aws-cdk-lib kubectl provider is created (its handler applies whatever manifest an event
    carries, with cluster-admin): the platform's handlers (``HyperPodManifests``, readiness, Helm
    installer) run in ``subnets`` with the kubectl layer of ``kubernetes_version``
    (:attr:`kubectl_layer`) and apply only what was synthesized.

    The cluster's authentication mode cannot be read at synth. HyperPod needs ``API`` or
    ``API_AND_CONFIG_MAP`` (access entries): a synth warning says so and ``hyperpod-cdk preflight``
    checks it, with the base add-ons HyperPod needs.

    Args:
        cluster_name: the existing cluster's name.
        cluster_security_group_id: the cluster security group EKS created for it.
        vpc: the cluster's VPC.
        subnets: private subnets that reach the cluster endpoint, for the platform's handlers.
        kubernetes_version: the cluster's version (selects the kubectl layer).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster_name: str,
        cluster_security_group_id: str,
        vpc: ec2.IVpc,
        subnets: Sequence[ec2.ISubnet],
        kubernetes_version: str,
    ) -> None:
        if not re.fullmatch(EKS_NAME_PATTERN, cluster_name):
            raise prop_error(scope, construct_id, "cluster_name", f"'{cluster_name}' is not an EKS cluster name")
        problem = kubernetes_version_problem(kubernetes_version)
        if problem:
            raise prop_error(scope, construct_id, "kubernetes_version", problem)
        super().__init__(scope, construct_id)
        with checked_props(scope, construct_id):
            self.kubectl_layer = kubectl_layer(self, "KubectlLayer", kubernetes_version)
        # An existing cluster on an old version pays the extended-support price too.
        warn_about_support(self, kubernetes_version)
        self.subnets = list(subnets)
        self.cluster = eks.Cluster.from_cluster_attributes(
            self,
            "Cluster",
            cluster_name=cluster_name,
            cluster_security_group_id=cluster_security_group_id,
            vpc=vpc,
        )
        warn_unverifiable_cluster(self, cluster_name)


def warn_unverifiable_cluster(scope: Construct, cluster_name: str) -> None:
    """A synth warning: what HyperPod needs of an existing cluster that synth cannot read."""
    Annotations.of(scope).add_warning_v2(
        AUTH_MODE_WARNING_ID,
        f"the authentication mode of the existing EKS cluster {cluster_name} cannot be read at synth; "
        "HyperPod needs API or API_AND_CONFIG_MAP and the vpc-cni, kube-proxy, coredns and "
        "eks-pod-identity-agent add-ons: run `hyperpod-cdk preflight` before deploying",
    )
