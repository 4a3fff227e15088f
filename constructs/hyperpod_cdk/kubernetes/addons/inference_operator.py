"""The SageMaker HyperPod inference operator EKS add-on with its IAM roles and TLS bucket.

What AWS's setup guide has the console's "Quick Install" create, each made here in CloudFormation
(https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-model-deployment-setup.html):
the execution role, the JumpStart gated-model role, the roles of the bundled AWS Load Balancer
Controller and KEDA, the TLS certificate bucket, and the dependency add-ons (cert-manager, the
S3 and FSx CSI drivers, metrics-server: required here, created by their own constructs).

The roles use IAM roles for service accounts (the cluster's IAM OIDC provider), as AWS's guide,
its CloudFormation (aws/sagemaker-hyperpod-cluster-setup eks/cloudformation/
inference-addon-iam-roles-template.yaml @3bee9044) and its Terraform
(awslabs/awsome-distributed-ai modules/hyperpod_inference_operator/iam_roles.tf) all do; none of
them uses EKS Pod Identity for this add-on, and whether it accepts pod identity associations is
not documented.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Unpack

from aws_cdk import CfnJson, Stack
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from hyperpod_cdk._cdk_util import cluster_attribute, private_bucket
from hyperpod_cdk.config.addons import InferenceOperatorConfig
from hyperpod_cdk.kubernetes.addons.base import CERT_MANAGER, AddonSettings, HyperPodAddon, add_managed_policy
from hyperpod_cdk.kubernetes.addons.fsx_csi_driver import ADDON_NAME as FSX_CSI_DRIVER
from hyperpod_cdk.kubernetes.addons.load_balancer_policy import (
    load_balancer_controller_statements,
    wildcard_resources,
)
from hyperpod_cdk.kubernetes.addons.metrics_server import ADDON_NAME as METRICS_SERVER
from hyperpod_cdk.kubernetes.addons.s3_csi_driver import ADDON_NAME as S3_CSI_DRIVER
from hyperpod_cdk.kubernetes.addons.task_governance import ADDON_NAME as TASK_GOVERNANCE
from hyperpod_cdk.kubernetes.cluster_handler import required_cluster_attributes
from hyperpod_cdk.rules.acknowledge import acknowledge_wildcards
from hyperpod_cdk.rules.suppress import skip_checkov, skip_handler_checks

ADDON_NAME = InferenceOperatorConfig.ADDON_NAME  # the config section names the add-on
# sagemaker-hyperpod 3.12.0, sagemaker/hyperpod/inference/config/constants.py OPERATOR_NAMESPACE.
NAMESPACE = "hyperpod-inference-system"
# Service accounts the roles trust (AWS's CloudFormation and Terraform above; the add-on's controller
# account is hyperpod-inference-controller-manager, the Helm chart's was
# hyperpod-inference-operator-controller-manager: aws/sagemaker-hyperpod-cli helm_to_addon.sh).
CONTROLLER_SERVICE_ACCOUNT = "hyperpod-inference-controller-manager"
GATED_MODEL_SERVICE_ACCOUNTS = "hyperpod-inference-service-account*"  # in any namespace
LOAD_BALANCER_SERVICE_ACCOUNT = "aws-load-balancer-controller"
KEDA_SERVICE_ACCOUNT = "keda-operator"
EXECUTION_POLICY = "AmazonSageMakerHyperPodInferenceAccess"
GATED_MODEL_POLICY = "AmazonSageMakerHyperPodGatedModelAccess"
# What the operator does with certificates in the TLS bucket: helm_to_addon.sh's TLSBucketsAccess,
# and the tagging permissions the inference 3.0 release notes add
# (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-inference-release-notes.html).
TLS_OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObject")
# KEDA's scalers read CloudWatch and AMP metrics (AWS's CloudFormation and Terraform KEDA role).
KEDA_ACTIONS = (
    "cloudwatch:GetMetricData",
    "cloudwatch:GetMetricStatistics",
    "cloudwatch:ListMetrics",
    "aps:QueryMetrics",
    "aps:GetLabels",
    "aps:GetSeries",
    "aps:GetMetricMetadata",
)
SAGEMAKER = "sagemaker.amazonaws.com"
ISSUER_URL = "cluster_open_id_connect_issuer_url"


class HyperPodInferenceOperatorAddon(HyperPodAddon):
    """``amazon-sagemaker-hyperpod-inference``: InferenceEndpointConfig and JumpStartModel endpoints.

    Requires cert-manager, ``aws-mountpoint-s3-csi-driver``, ``aws-fsx-csi-driver`` and
    ``metrics-server`` on the cluster (construction fails without them) and is created after task
    governance when that exists (AWS's Terraform orders it so).

    Resources:

    - the TLS certificate bucket (KMS-encrypted with ``encryption_key``, public access blocked,
      TLS-only, versioned, retained on delete);
    - the execution role (``executionRoleArn``): trusted by ``sagemaker.amazonaws.com`` and by the
      controller's service account through the OIDC provider, with the AWS managed
      ``AmazonSageMakerHyperPodInferenceAccess`` plus the TLS bucket's objects and key and
      ``acm:AddTagsToCertificate``;
    - the JumpStart gated-model role (``jumpstartGatedModelDownloadRoleArn``): sagemaker and the
      ``hyperpod-inference-service-account*`` service accounts, ``AmazonSageMakerHyperPodGatedModelAccess``;
    - with ``load_balancer_controller``, the controller's role with its published policy;
    - with ``keda``, KEDA's role reading CloudWatch and AMP metrics;
    - the add-on with ``executionRoleArn``, ``tlsCertificateS3Bucket``, ``hyperpodClusterArn``,
      ``jumpstartGatedModelDownloadRoleArn``, ``alb`` and ``keda``, the configuration keys AWS's
      templates write; ``configuration_values`` are deep-merged over them.

    Args:
        cluster: the EKS cluster.
        oidc_provider: the cluster's IAM OIDC provider. Default: a new ``AWS::IAM::OIDCProvider``
            for the cluster's issuer (required for an imported cluster, which has no issuer URL).
        hyperpod_cluster_arn: the ``AWS::SageMaker::Cluster`` the endpoints run on.
        encryption_key: the KMS key of the TLS bucket.
        load_balancer_controller / keda: the bundled controllers. Default: both on.
    """

    ADDON_NAME = ADDON_NAME
    REQUIRES = (CERT_MANAGER, S3_CSI_DRIVER, FSX_CSI_DRIVER, METRICS_SERVER)
    AFTER = (TASK_GOVERNANCE,)
    CONFIG_FIELD = "kubernetes.addons.inference_operator"
    SAGEMAKER_TAG = True

    oidc_provider: iam.IOpenIdConnectProvider
    execution_role: iam.Role
    gated_model_role: iam.Role
    load_balancer_role: iam.Role | None
    keda_role: iam.Role | None

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.ICluster,
        hyperpod_cluster_arn: str,
        encryption_key: kms.IKey,
        load_balancer_controller: bool = True,
        keda: bool = True,
        oidc_provider: iam.IOpenIdConnectProvider | None = None,
        **settings: Unpack[AddonSettings],
    ) -> None:
        if oidc_provider is None:
            required_cluster_attributes(
                scope,
                construct_id,
                cluster,
                [ISSUER_URL],
                prop="oidc_provider",
                fix="the operator's roles trust the cluster's IAM OIDC provider: pass oidc_provider= for an imported "
                "cluster",
            )
        self._given_oidc_provider = oidc_provider
        self.hyperpod_cluster_arn = hyperpod_cluster_arn
        self.encryption_key = encryption_key
        self._load_balancer_controller = load_balancer_controller
        self._keda = keda
        super().__init__(scope, construct_id, cluster=cluster, **settings)

    def _build(self) -> Mapping[str, Any]:
        """The OIDC provider, the TLS bucket and the roles; the settings that name them."""
        # AWS::IAM::OIDCProvider for the cluster's issuer (a cluster has one issuer, so one provider
        # per account: pass an existing one as oidc_provider instead of creating a second).
        self.oidc_provider = self._given_oidc_provider or eks.OidcProviderNative(
            self, "OidcProvider", url=cluster_attribute(self.cluster, ISSUER_URL)
        )
        self.tls_bucket = private_bucket(
            self,
            "TlsBucket",
            self.encryption_key,
            "holds only the TLS certificates the inference operator writes and reads with its own role; "
            "its API calls are in CloudTrail",
        )
        self.execution_role = self._add_execution_role()
        self.gated_model_role = self._role(
            "GatedModelRole",
            "SageMaker HyperPod inference: JumpStart gated model download",
            ("GatedModels", f"*:{GATED_MODEL_SERVICE_ACCOUNTS}"),
            sagemaker=True,
            like=True,
        )
        add_managed_policy(
            self.gated_model_role,
            GATED_MODEL_POLICY,
            "AWS publishes AmazonSageMakerHyperPodGatedModelAccess for downloading JumpStart gated models and "
            "names it in the inference setup guide",
        )
        self.load_balancer_role = self._add_load_balancer_role() if self._load_balancer_controller else None
        alb: dict[str, Any] = {"enabled": False}
        if self.load_balancer_role is not None:
            alb = {"enabled": True, "serviceAccount": {"create": True, "roleArn": self.load_balancer_role.role_arn}}
        self.keda_role = None
        keda_values: dict[str, Any] = {"enabled": False}
        if self._keda:
            self.keda_role = self._role(
                "KedaRole",
                "KEDA of the HyperPod inference operator (reads scaling metrics)",
                ("Keda", f"{NAMESPACE}:{KEDA_SERVICE_ACCOUNT}"),
            )
            self.keda_role.add_to_policy(iam.PolicyStatement(actions=list(KEDA_ACTIONS), resources=["*"]))
            acknowledge_wildcards(
                self.keda_role,
                "KEDA reads the CloudWatch metrics and AMP workspaces named in each endpoint's scaling rules, "
                "which users choose at run time; all actions are reads",
                resources=["*"],
            )
            keda_values = {
                "enabled": True,
                "auth": {"aws": {"irsa": {"enabled": True, "roleArn": self.keda_role.role_arn}}},
            }
        return {
            "executionRoleArn": self.execution_role.role_arn,
            "tlsCertificateS3Bucket": self.tls_bucket.bucket_name,
            "hyperpodClusterArn": self.hyperpod_cluster_arn,
            "jumpstartGatedModelDownloadRoleArn": self.gated_model_role.role_arn,
            "alb": alb,
            "keda": keda_values,
        }

    def _roles(self) -> Sequence[iam.IRole | None]:
        # Every role's policy exists before the operator first assumes it.
        return (self.execution_role, self.load_balancer_role, self.keda_role)

    def _add_execution_role(self) -> iam.Role:
        """``executionRoleArn``: the operator's own permissions, the TLS bucket and ACM tagging."""
        role = self._role(
            "ExecutionRole",
            "SageMaker HyperPod inference operator (executionRoleArn)",
            ("Controller", f"{NAMESPACE}:{CONTROLLER_SERVICE_ACCOUNT}"),
            sagemaker=True,
        )
        add_managed_policy(
            role,
            EXECUTION_POLICY,
            "AWS publishes AmazonSageMakerHyperPodInferenceAccess as the inference operator's permission set "
            "and updates it with the operator",
        )
        tls_objects = self.tls_bucket.arn_for_objects("*")
        certificates = Stack.of(self).format_arn(service="acm", resource="certificate", resource_name="*")
        for sid, actions, resource in (
            ("TlsCertificates", list(TLS_OBJECT_ACTIONS), tls_objects),
            ("TlsBucketKey", ["kms:Decrypt", "kms:GenerateDataKey"], self.encryption_key.key_arn),
            ("TagCertificates", ["acm:AddTagsToCertificate"], certificates),
        ):
            role.add_to_policy(iam.PolicyStatement(sid=sid, actions=actions, resources=[resource]))
        acknowledge_wildcards(
            role,
            "the operator names its certificate objects and imports ACM certificates at run time; the role "
            "reaches only the TLS bucket and this account's ACM certificates in this region",
            resources=[tls_objects, certificates],
        )
        return role

    def _add_load_balancer_role(self) -> iam.Role:
        """The bundled AWS Load Balancer Controller's role, with the controller's published policy."""
        role = self._role(
            "LoadBalancerControllerRole",
            "AWS Load Balancer Controller of the HyperPod inference operator",
            ("LoadBalancer", f"{NAMESPACE}:{LOAD_BALANCER_SERVICE_ACCOUNT}"),
        )
        for statement in load_balancer_controller_statements(self):
            role.add_to_policy(statement)
        lb_policy = role.node.find_child("DefaultPolicy").node.default_child
        assert lb_policy is not None
        skip_checkov(
            lb_policy,
            "CKV_AWS_111",
            "the AWS Load Balancer Controller's published policy: security-group rules, listeners and rules "
            "are written on resources created at run time; most deletes and modifications carry the "
            "controller's elbv2.k8s.aws/cluster tag conditions, security-group ingress edits do not (as published)",
        )
        acknowledge_wildcards(
            role,
            "the AWS Load Balancer Controller's published policy: describe calls have no resource scope, "
            "and load balancers, target groups and security groups are created at run time, mostly limited by "
            "the controller's elbv2.k8s.aws/cluster tag conditions; security-group ingress and listener/rule "
            "edits stay on * as published, because the controller edits node security groups it did not create",
            resources=wildcard_resources(self),
        )
        return role

    def _role(
        self,
        construct_id: str,
        description: str,
        service_accounts: tuple[str, str],
        *,
        sagemaker: bool = False,
        like: bool = False,
    ) -> iam.Role:
        """A role for the service accounts ``(condition id, subject)`` (see :meth:`_service_account_principal`),
        and with ``sagemaker`` for ``sagemaker.amazonaws.com`` too."""
        principal = self._service_account_principal(*service_accounts, like=like)
        if sagemaker:
            principal = iam.CompositePrincipal(iam.ServicePrincipal(SAGEMAKER), principal)
        return iam.Role(self, construct_id, assumed_by=principal, description=description)

    def _service_account_principal(self, construct_id: str, subject: str, *, like: bool = False) -> iam.IPrincipal:
        """``sts:AssumeRoleWithWebIdentity`` for ``system:serviceaccount:<subject>`` of this cluster.

        The condition keys start with the provider's issuer, a deploy-time value, hence CfnJson.
        """
        issuer = self.oidc_provider.open_id_connect_provider_issuer
        sub = {f"{issuer}:sub": f"system:serviceaccount:{subject}"}
        aud = {f"{issuer}:aud": "sts.amazonaws.com"}
        self._skip_cfn_json_handler_checks()
        if like:
            return iam.OpenIdConnectPrincipal(
                self.oidc_provider,
                {
                    "StringLike": CfnJson(self, f"{construct_id}Subject", value=sub),
                    "StringEquals": CfnJson(self, f"{construct_id}Audience", value=aud),
                },
            )
        return iam.OpenIdConnectPrincipal(
            self.oidc_provider,
            {
                "StringEquals": CfnJson(self, f"{construct_id}Conditions", value={**sub, **aud}),
            },
        )

    def _skip_cfn_json_handler_checks(self) -> None:
        """checkov skips on the stack-wide handler aws-cdk-lib creates for CfnJson (created on first use)."""
        provider = Stack.of(self).node.try_find_child("AWSCDKCfnUtilsProviderCustomResourceProvider")
        handler = provider.node.try_find_child("Handler") if provider is not None else None
        if handler is not None:
            skip_handler_checks(
                handler,
                outside_vpc_reason="aws-cdk-lib's CfnJson handler only turns a template value into JSON; it calls "
                "no AWS API and reaches nothing in the VPC",
            )
