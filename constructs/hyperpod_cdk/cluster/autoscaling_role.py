"""HyperPodAutoscalingRole: the ``ClusterRole`` HyperPod's managed Karpenter assumes."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from hyperpod_cdk.errors import typed_props
from hyperpod_cdk.rules.acknowledge import acknowledge_wildcards

AUTOSCALING_IAM_DOC = "https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-autoscaling-iam.html"
#: The service that assumes the cluster role (trust policy of the AWS doc above).
HYPERPOD_SERVICE_PRINCIPAL = "hyperpod.sagemaker.amazonaws.com"
SCALING_ACTIONS = ("sagemaker:BatchAddClusterNodes", "sagemaker:BatchDeleteClusterNodes")
# Grant operations the doc allows on the EBS volume key when Karpenter adds nodes.
GRANT_OPERATIONS = (
    "CreateGrant",
    "Decrypt",
    "DescribeKey",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptTo",
    "ReEncryptFrom",
    "RetireGrant",
)


@typed_props
class HyperPodAutoscalingRole(Construct):
    """The IAM role on ``AWS::SageMaker::Cluster`` ``ClusterRole`` for Karpenter autoscaling.

    As AWS's HyperPod autoscaling IAM page describes (``AUTOSCALING_IAM_DOC``): trusted by
    ``hyperpod.sagemaker.amazonaws.com``; allowed ``sagemaker:BatchAddClusterNodes`` and
    ``BatchDeleteClusterNodes`` on clusters (here: of this stack's account and region, tighter than
    the doc's ``*:*`` with an ``aws:ResourceAccount`` condition; the cluster ARN ends in an ID
    assigned at creation, so it cannot be named before the cluster exists without a cycle); and,
    when the instance groups' EBS volumes use a customer managed key, ``kms:CreateGrant`` and
    ``kms:DescribeKey`` on that one key, only through SageMaker and only for AWS resources, as the
    doc's conditions say. HyperPod refuses to change ``ClusterRole`` while autoscaling is on.

    Args:
        volume_key: the instance groups' EBS volume key. Default: none (no KMS statement).
    """

    def __init__(self, scope: Construct, construct_id: str, *, volume_key: kms.IKey | None = None) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        cluster_arns = stack.format_arn(service="sagemaker", resource="cluster", resource_name="*")
        statements = [
            iam.PolicyStatement(actions=list(SCALING_ACTIONS), resources=[cluster_arns]),
        ]
        if volume_key is not None:
            statements.append(
                iam.PolicyStatement(
                    actions=["kms:CreateGrant", "kms:DescribeKey"],
                    resources=[volume_key.key_arn],
                    conditions={
                        "StringLike": {"kms:ViaService": f"sagemaker.{stack.region}.{stack.url_suffix}"},
                        "Bool": {"kms:GrantIsForAWSResource": "true"},
                        "ForAllValues:StringEquals": {"kms:GrantOperations": list(GRANT_OPERATIONS)},
                    },
                )
            )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(HYPERPOD_SERVICE_PRINCIPAL),
            description="HyperPod managed Karpenter: adds and removes cluster nodes",
            inline_policies={"Autoscaling": iam.PolicyDocument(statements=statements)},
        )
        acknowledge_wildcards(
            self.role,
            "a HyperPod cluster ARN ends in an ID assigned at creation and the cluster names this role, so the "
            "scaling actions are scoped to this account's and region's clusters (AWS's doc allows any)",
            resources=[cluster_arns],
        )

    @property
    def role_arn(self) -> str:
        return self.role.role_arn
