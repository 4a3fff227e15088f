"""HyperPodEksCluster: an EKS control plane HyperPod can attach to."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, cast

from aws_cdk import Annotations, RemovalPolicy, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct, IConstruct

from hyperpod_cdk._cdk_util import logs_key, mark_adopted_on_redeploy, resolve_conflicts, retention
from hyperpod_cdk.cluster.kubectl import kubectl_layer, kubernetes_version_problem, warn_about_support
from hyperpod_cdk.config import EKS_NAME_PATTERN, IAM_PRINCIPAL_PATTERN, PlatformConfig
from hyperpod_cdk.errors import checked_props, prop_error, typed_props
from hyperpod_cdk.rules.acknowledge import (
    acknowledge,
    acknowledge_managed_policies,
    acknowledge_wildcards,
    managed_policy_finding,
)
from hyperpod_cdk.rules.suppress import skip_handler_checks
from hyperpod_cdk.specs.addon_conflicts import POD_IDENTITY_AGENT
from hyperpod_cdk.specs.kubernetes_versions import DEFAULT_VERSION
from hyperpod_cdk.specs.network_policy import VPC_CNI_NETWORK_POLICY_CONFIGURATION

# HyperPod creates the HYPERPOD_LINUX access entry for the execution role itself, so the
# cluster must accept access entries; API_AND_CONFIG_MAP also keeps aws-auth working for
# tools that still write it. https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-prerequisites.html
AUTHENTICATION_MODE = "API_AND_CONFIG_MAP"
# HyperPod nodes need these add-ons before they join; the pod identity agent comes from
# cluster.eks_pod_identity_agent so there is exactly one of it (a second one is E3019).
BASE_ADDONS = ("vpc-cni", "kube-proxy", "coredns")
# The VPC CNI enforces the team namespaces' NetworkPolicies (specs/network_policy.py has the sources).
BASE_ADDON_CONFIGURATION = {"vpc-cni": VPC_CNI_NETWORK_POLICY_CONFIGURATION}
NO_ADMIN_WARNING_ID = "hyperpod-cdk:noClusterAdmin"
NO_ADMIN_WARNING = (
    "nobody can use kubectl on this cluster: set eks.admin_principal_arn (or eks.admin_principal_arns) to your "
    "IAM role ARN, e.g. arn:aws:iam::123456789012:role/Admin; the deployer gets no access by default "
    "(BootstrapClusterCreatorAdminPermissions is false). Day 2: hyperpod-cdk access grant ARN --admin"
)
ALL_LOG_TYPES = (
    eks.ClusterLoggingTypes.API,
    eks.ClusterLoggingTypes.AUDIT,
    eks.ClusterLoggingTypes.AUTHENTICATOR,
    eks.ClusterLoggingTypes.CONTROLLER_MANAGER,
    eks.ClusterLoggingTypes.SCHEDULER,
)


def _check_eks_props(
    scope: Construct,
    construct_id: str,
    *,
    control_plane_subnets: Sequence[ec2.ISubnet],
    cluster_name: str,
    kubernetes_version: str,
    public_access_cidrs: Sequence[str],
    admin_principal_arn: str | None,
    admin_principal_arns: Sequence[str],
    **_other_props: Any,
) -> None:
    """What the annotations cannot say (typed_props hands every prop over before the constructor runs)."""

    def fail(prop: str, message: str) -> None:
        raise prop_error(scope, construct_id, prop, message)

    if len(control_plane_subnets) < 2:
        fail("control_plane_subnets", "EKS needs subnets in at least two AZs")
    if not isinstance(cluster_name, str) or Token.is_unresolved(cluster_name):
        fail("cluster_name", "pass a literal name; the control-plane log group is named after it")
    if not re.fullmatch(EKS_NAME_PATTERN, cluster_name):
        fail("cluster_name", f"'{cluster_name}' must start with a letter or digit: letters, digits, - and _ (1-100)")
    problem = kubernetes_version_problem(kubernetes_version)
    if problem:
        fail("kubernetes_version", problem)
    if any(cidr.endswith("/0") for cidr in public_access_cidrs):
        fail("public_access_cidrs", "0.0.0.0/0 opens the API endpoint to the internet; list your own CIDRs")
    if admin_principal_arn is not None:
        _check_principal(scope, construct_id, "admin_principal_arn", admin_principal_arn)
    for index, arn in enumerate(admin_principal_arns):
        _check_principal(scope, construct_id, f"admin_principal_arns[{index}]", arn)


def _check_principal(scope: Construct, construct_id: str, prop: str, arn: object) -> None:
    if isinstance(arn, str) and Token.is_unresolved(arn):
        return
    if not isinstance(arn, str) or not re.fullmatch(IAM_PRINCIPAL_PATTERN, arn):
        raise prop_error(
            scope, construct_id, prop, f"'{arn}' is not an IAM role or user ARN (arn:aws:iam::123456789012:role/Name)"
        )


@typed_props(check=_check_eks_props)
class HyperPodEksCluster(Construct):
    """EKS cluster configured for HyperPod orchestration.

    - Authentication mode ``API_AND_CONFIG_MAP`` (set on the L1: ``aws_eks_v2`` hard-codes ``API``).
    - Add-ons vpc-cni, kube-proxy, coredns and eks-pod-identity-agent with ``ResolveConflicts:
      OVERWRITE`` (:data:`~hyperpod_cdk.specs.addon_conflicts.RESOLVE_CONFLICTS`); :attr:`addons`
      lists them so the HyperPod cluster can wait for all of them. vpc-cni has NetworkPolicy
      enforcement on (``enableNetworkPolicy``), which the team namespaces' policies rely on.
    - All five control-plane log types into a pre-created, retained log group.
    - Secrets envelope-encrypted with a rotating, retained KMS key (create-only on EKS: it
      cannot be added later without replacing the cluster).
    - Private endpoint; the public endpoint is on only when ``public_access_cidrs`` is given,
      and then only for those CIDRs.
    - Tag ``SageMaker=true``: the HyperPod managed policies condition on it.
    - No aws-cdk-lib kubectl provider: its handler has cluster-admin and applies whatever manifest
      an event carries. The platform applies its manifests with ``HyperPodManifests`` (fixed at
      synth); :attr:`kubectl_layer` (kubectl and helm of the cluster's version) is for such handlers.
    - No access entry for the HyperPod execution role: HyperPod creates that one itself and a
      duplicate makes cluster creation fail.

    Args:
        vpc: the VPC.
        control_plane_subnets: private subnets in at least two AZs.
        security_group: attached to the control-plane ENIs (the HyperPod node group, so nodes
            and API server reach each other through its self-referencing rules).
        cluster_name: physical name (needed up front for the log group and the HyperPod ARN).
        kubernetes_version: one HyperPod accepts (``hyperpod_cdk.specs.kubernetes_versions``).
            Default: :data:`~hyperpod_cdk.specs.kubernetes_versions.DEFAULT_VERSION`. The kubectl
            layer of the same version is used.
        public_access_cidrs: Default none (private endpoint only).
        admin_principal_arn: IAM principal that gets AmazonEKSClusterAdminPolicy.
        admin_principal_arns: more principals that get it (one access entry each). Default none.
            With no admin principal at all, synth warns (:data:`NO_ADMIN_WARNING_ID`): the cluster
            creator gets no access either, so nobody could run kubectl.
        log_retention: control-plane log retention. Default one year.
        secrets_key: KMS key for secrets. Default: a new key.
        log_key: KMS key for the control-plane log group. Default: a new key.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        control_plane_subnets: Sequence[ec2.ISubnet],
        security_group: ec2.ISecurityGroup,
        cluster_name: str,
        kubernetes_version: str = DEFAULT_VERSION,
        public_access_cidrs: Sequence[str] = (),
        admin_principal_arn: str | None = None,
        admin_principal_arns: Sequence[str] = (),
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
        secrets_key: kms.IKey | None = None,
        log_key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.secrets_key = secrets_key or kms.Key(
            self,
            "SecretsKey",
            description=f"EKS secrets encryption for {cluster_name}",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # EKS writes control-plane logs to /aws/eks/<cluster>/cluster and would create that group
        # itself with no expiry and never delete it
        # (https://docs.aws.amazon.com/eks/latest/userguide/control-plane-logs.html); owning it lets
        # us set retention and a key, and keep it on stack delete. The name cannot change, so the
        # next deploy of the same cluster name adopts the retained group instead of failing with
        # AlreadyExists: `cdk deploy --import-existing-resources` (make deploy passes it) imports a
        # retained resource with a static name
        # (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/import-resources-automatically.html).
        log_group_name = f"/aws/eks/{cluster_name}/cluster"
        self.log_key = logs_key(self, log_key, f"EKS control-plane logs of {cluster_name}", log_group_name)
        self.log_group = logs.LogGroup(
            self,
            "ControlPlaneLogs",
            log_group_name=log_group_name,
            encryption_key=self.log_key,
            retention=log_retention,
            removal_policy=RemovalPolicy.RETAIN,
        )
        mark_adopted_on_redeploy(
            self.log_group,
            "EKS names this group after the cluster; cdk deploy --import-existing-resources "
            "(make deploy) imports the group a destroyed stack retained",
        )
        # kubectl and helm of the cluster's version: shared with anything else that talks to this
        # cluster (the Helm installer, readiness checks).
        with checked_props(scope, construct_id):
            self.kubectl_layer = kubectl_layer(self, "KubectlLayer", kubernetes_version)
        warn_about_support(self, kubernetes_version)
        endpoint = (
            eks.EndpointAccess.PUBLIC_AND_PRIVATE.only_from(*public_access_cidrs)
            if public_access_cidrs
            else eks.EndpointAccess.PRIVATE
        )
        self.cluster = eks.Cluster(
            self,
            "Cluster",
            cluster_name=cluster_name,
            version=eks.KubernetesVersion.of(kubernetes_version),
            vpc=vpc,
            vpc_subnets=[ec2.SubnetSelection(subnets=list(control_plane_subnets))],
            security_group=security_group,
            endpoint_access=endpoint,
            cluster_logging=list(ALL_LOG_TYPES),
            secrets_encryption_key=self.secrets_key,
            default_capacity_type=eks.DefaultCapacityType.NODEGROUP,
            default_capacity=0,
            # Only the explicit admin entry below gets cluster-admin, not whoever ran CloudFormation.
            bootstrap_cluster_creator_admin_permissions=False,
            tags={"SageMaker": "true"},
        )
        self.cluster.node.add_dependency(self.log_group)
        cfn_cluster = self.cluster.node.default_child
        assert isinstance(cfn_cluster, eks.CfnCluster)
        cfn_cluster.add_property_override("AccessConfig.AuthenticationMode", AUTHENTICATION_MODE)

        # jsii's generated ICluster protocol lags the class (mypy only); the object is a Cluster.
        cluster_ref = cast(eks.ICluster, self.cluster)
        self.addons: list[IConstruct] = [
            eks.Addon(
                self,
                _addon_id(name),
                cluster=cluster_ref,
                addon_name=name,
                configuration_values=BASE_ADDON_CONFIGURATION.get(name),
            )
            for name in BASE_ADDONS
        ]
        pod_identity_agent = self.cluster.eks_pod_identity_agent
        assert pod_identity_agent is not None  # created on first access
        self.addons.append(pod_identity_agent)
        for addon, name in zip(self.addons, (*BASE_ADDONS, POD_IDENTITY_AGENT), strict=True):
            resolve_conflicts(addon, name)

        if admin_principal_arn:
            self.cluster.grant_cluster_admin("AdminAccess", admin_principal_arn)
        # Further admins get their own IDs so adding one never replaces the first entry.
        for index, arn in enumerate(a for a in dict.fromkeys(admin_principal_arns) if a != admin_principal_arn):
            self.cluster.grant_cluster_admin(f"AdminAccess{index + 1}", arn)
        #: The principals with cluster-admin through this construct's access entries.
        self.admin_principals: list[str] = list(
            dict.fromkeys([*([admin_principal_arn] if admin_principal_arn else []), *admin_principal_arns])
        )
        if not self.admin_principals:
            Annotations.of(self).add_warning_v2(NO_ADMIN_WARNING_ID, NO_ADMIN_WARNING)
        self._acknowledge_handler_findings()

    def _acknowledge_handler_findings(self) -> None:
        acknowledge(
            self.cluster.role,
            managed_policy_finding("AmazonEKSClusterPolicy"),
            "EKS requires AmazonEKSClusterPolicy on the cluster service role; AWS maintains it as "
            "the API surface EKS needs",
        )
        provider = self.cluster.kubectl_provider
        if provider is not None:
            acknowledge_kubectl_provider(provider)

    @property
    def cluster_arn(self) -> str:
        return self.cluster.cluster_arn

    @classmethod
    def from_config(
        cls,
        scope: Construct,
        construct_id: str,
        config: PlatformConfig,
        *,
        vpc: ec2.IVpc,
        control_plane_subnets: Sequence[ec2.ISubnet],
        security_group: ec2.ISecurityGroup,
        log_key: kms.IKey | None = None,
    ) -> HyperPodEksCluster:
        cfg = config.eks_config
        return cls(
            scope,
            construct_id,
            vpc=vpc,
            control_plane_subnets=control_plane_subnets,
            security_group=security_group,
            cluster_name=cfg.cluster_name,
            kubernetes_version=cfg.kubernetes_version,
            public_access_cidrs=[str(cidr) for cidr in cfg.public_access_cidrs],
            admin_principal_arn=cfg.admin_principal_arn,
            admin_principal_arns=list(cfg.admin_principal_arns),
            log_retention=retention(cfg.log_retention_days),
            log_key=log_key,
        )


def _addon_id(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-")) + "Addon"


def acknowledge_kubectl_provider(provider: IConstruct) -> None:
    """Acknowledge (cdk-nag) and skip (checkov) what aws_eks_v2's own kubectl provider is flagged for."""
    acknowledge_managed_policies(
        provider,
        "aws_eks_v2 creates the kubectl handler and provider-framework roles with AWS managed "
        "Lambda basic/VPC execution and ECR read-only policies (logs, VPC ENIs, kubectl image "
        "layer); the roles are internal to aws-cdk-lib and not user-modifiable",
    )
    handler = provider.node.find_child("Handler")
    assert isinstance(handler, lambda_.Function)
    on_event = provider.node.find_child("Provider").node.find_child("framework-onEvent")
    for function in (handler, on_event):
        skip_handler_checks(function)
    acknowledge_wildcards(
        provider,
        "the provider framework may invoke any version of its own kubectl handler "
        "(<handler arn>:*); the wildcard covers only that one function",
        resources=[f"{handler.function_arn}:*"],
    )
    acknowledge(
        handler,
        "AwsSolutions-L1",
        "aws_eks_v2 pins the kubectl handler's Python runtime to the one its handler code and "
        "the kubectl layer are tested with; it moves with aws-cdk-lib",
    )
