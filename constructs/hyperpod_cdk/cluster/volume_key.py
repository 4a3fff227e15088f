"""Key policy of a customer managed KMS key that encrypts HyperPod instance-group EBS volumes.

What HyperPod needs, from https://docs.aws.amazon.com/sagemaker/latest/dg/smcluster-cmk.html:

- the key is accepted only for clusters in Continuous node provisioning mode (the cluster
  constructs refuse it elsewhere), and it cannot be changed later (the replacement guard blocks a
  change of ``VolumeKmsKeyId``);
- the execution role may ``kms:CreateGrant`` (only through SageMaker, only for AWS resources) and
  ``kms:DescribeKey`` (only through SageMaker) on the key: HyperPod creates grants with it to
  launch, scale out, replace and patch nodes;
- no statement may require a KMS encryption context, because HyperPod passes none.

The execution role's own IAM grants are :class:`~hyperpod_cdk.cluster.execution_role.HyperPodExecutionRole`'s.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms


def allow_hyperpod_volume_encryption(key: kms.IKey, execution_role_arn: str) -> bool:
    """Add the CMK page's key-policy statements for ``execution_role_arn`` to ``key``.

    Returns False for an imported key (its policy is not in this app): add the same two
    statements to it yourself.
    """
    via_sagemaker = {"kms:ViaService": f"sagemaker.{Stack.of(key).region}.amazonaws.com"}
    principal = iam.ArnPrincipal(execution_role_arn)
    create_grant = key.add_to_resource_policy(
        iam.PolicyStatement(
            principals=[principal],
            actions=["kms:CreateGrant"],
            resources=["*"],  # in a key policy, "*" is this key
            conditions={"StringEquals": via_sagemaker, "Bool": {"kms:GrantIsForAWSResource": "true"}},
        )
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(
            principals=[principal],
            actions=["kms:DescribeKey"],
            resources=["*"],
            conditions={"StringEquals": via_sagemaker},
        )
    )
    return bool(create_grant.statement_added)
