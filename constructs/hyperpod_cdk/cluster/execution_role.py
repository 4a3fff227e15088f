"""HyperPodExecutionRole: the IAM role HyperPod instances assume."""

from __future__ import annotations

from typing import Unpack

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from hyperpod_cdk._cdk_util import service_role
from hyperpod_cdk.cluster.cluster_base import deprecated_forms
from hyperpod_cdk.errors import typed_props
from hyperpod_cdk.network.placement import VpcPlacementProps
from hyperpod_cdk.rules.acknowledge import acknowledge_wildcards

INSTANCE_ROLE_POLICY = "AmazonSageMakerClusterInstanceRolePolicy"

# Actions on existing ENIs whose network-interface resource carries the ec2:Vpc condition key
# (Service Authorization Reference, Amazon EC2:
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html).
# The VPC CNI on HyperPod nodes calls all of them (aws/amazon-vpc-cni-k8s pkg/awsutils/awsutils.go:
# AllocENI, FreeENI, RefreshSGIDs, AllocIPAddresses, DeallocIPAddresses); HyperPod itself creates
# node ENIs and shares them with its instances (CreateNetworkInterfacePermission).
ENI_ACTIONS_IN_VPC: tuple[str, ...] = (
    "ec2:DeleteNetworkInterface",
    "ec2:AttachNetworkInterface",
    "ec2:DetachNetworkInterface",
    "ec2:ModifyNetworkInterfaceAttribute",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
    "ec2:CreateNetworkInterfacePermission",
)
# Actions that also authorize an instance resource (required for Attach/Detach, optional for Modify).
ENI_ACTIONS_ON_INSTANCES: tuple[str, ...] = (
    "ec2:AttachNetworkInterface",
    "ec2:DetachNetworkInterface",
    "ec2:ModifyNetworkInterfaceAttribute",
)


@typed_props
class HyperPodExecutionRole(Construct):
    """Execution role for HyperPod instance groups on EKS.

    On top of ``AmazonSageMakerClusterInstanceRolePolicy`` (logs, metrics, SSM, and S3 read on
    ``sagemaker-*`` buckets only), HyperPod-on-EKS nodes need what the VPC CNI and the node
    agent do with this role (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-prerequisites.html,
    "IAM role for SageMaker HyperPod"):

    - ENI lifecycle in the HyperPod VPC. ``CreateNetworkInterface`` is scoped to the HyperPod
      subnet and security-group ARNs; the actions on existing ENIs carry an ``ec2:Vpc`` condition
      (see :data:`ENI_ACTIONS_IN_VPC`); tags on new ENIs need ``ec2:CreateAction``;
      ``Describe*`` calls support no resource scoping.
    - ECR pulls (add-on and health-agent images live in AWS-owned accounts, so any account).
    - ``eks-auth:AssumeRoleForPodIdentity`` on the cluster, for pod identity on HyperPod nodes.
    - ``cloudwatch:DescribeAlarms``, which rolling software updates use for auto-rollback.
    - Read on the lifecycle-script bucket, which the managed policy does not cover.

    Args:
        vpc, subnets: :class:`~hyperpod_cdk.network.placement.VpcPlacementProps`: the VPC and subnets of the
            HyperPod nodes. ENI actions are limited to ENIs in that VPC, and ENI creation to those subnets.
        security_group: HyperPod security group.
        eks_cluster: the EKS cluster, for pod identity; None leaves the grant out (Slurm).
        eks_cluster_arn: deprecated string form of ``eks_cluster`` (its ARN).
        lifecycle_bucket: bucket holding the lifecycle scripts.
        volume_key: KMS key of the instance groups' EBS volumes.
        role_name: physical name. Default: generated. A fixed name makes a later rename replace
            the role and, with it, every instance group (ExecutionRole is create-only).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        security_group: ec2.ISecurityGroup,
        lifecycle_bucket: s3.IBucket,
        eks_cluster: eks.ICluster | None = None,
        volume_key: kms.IKey | None = None,
        role_name: str | None = None,
        eks_cluster_arn: str | None = None,
        **placement: Unpack[VpcPlacementProps],
    ) -> None:
        vpc, subnets = placement["vpc"], placement["subnets"]
        # typed_props: at least one subnet, else the ENI statement names none and nodes cannot create
        # their ENIs at deploy.
        deprecated_forms(
            scope,
            construct_id,
            type(self).__name__,
            ("eks_cluster", eks_cluster, "eks_cluster_arn", eks_cluster_arn),
        )
        if eks_cluster is not None:
            eks_cluster_arn = eks_cluster.cluster_arn
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.role = service_role(
            self,
            service="sagemaker.amazonaws.com",
            managed_policy=INSTANCE_ROLE_POLICY,
            description="SageMaker HyperPod instance execution role",
            why_managed_policy="HyperPod requires this AWS managed policy on every execution role; it grants only "
            "HyperPod log/metric/SSM access and S3 read on sagemaker-* buckets",
            role_name=role_name,
        )

        def arn(resource: str) -> str:
            return stack.format_arn(service="ec2", resource=resource, resource_name="*")

        any_eni, any_instance = arn("network-interface"), arn("instance")
        any_repository = stack.format_arn(service="ecr", account="*", resource="repository", resource_name="*")
        any_alarm = stack.format_arn(
            service="cloudwatch", resource="alarm", resource_name="*", arn_format=ArnFormat.COLON_RESOURCE_NAME
        )

        subnet_arns = [stack.format_arn(service="ec2", resource="subnet", resource_name=s.subnet_id) for s in subnets]
        sg_arn = stack.format_arn(
            service="ec2", resource="security-group", resource_name=security_group.security_group_id
        )
        # ec2:Vpc is an ARN. The account is left open: in a shared VPC (RAM) the owner is another
        # account, and a VPC ID is unique across accounts.
        in_vpc = {
            "ArnLike": {
                "ec2:Vpc": stack.format_arn(service="ec2", account="*", resource="vpc", resource_name=vpc.vpc_id)
            }
        }
        policy = iam.Policy(
            self,
            "Policy",
            statements=[
                iam.PolicyStatement(
                    sid="DescribeNetwork",
                    actions=[
                        "ec2:DescribeNetworkInterfaces",
                        "ec2:DescribeVpcs",
                        "ec2:DescribeSubnets",
                        "ec2:DescribeSecurityGroups",
                        "ec2:DescribeDhcpOptions",
                        "ec2:DescribeInstances",
                        "ec2:DescribeInstanceTypes",
                        "ec2:DescribeTags",
                    ],
                    resources=["*"],
                ),
                # The ENI to be created has no ec2:Vpc key yet; the subnet and group ARNs scope it.
                iam.PolicyStatement(
                    sid="CreateEniInHyperPodSubnets",
                    actions=["ec2:CreateNetworkInterface"],
                    resources=[*subnet_arns, sg_arn, any_eni],
                ),
                # Existing ENIs (and the group ModifyNetworkInterfaceAttribute may name) in the HyperPod VPC only.
                iam.PolicyStatement(
                    sid="ManageEnisInHyperPodVpc",
                    actions=list(ENI_ACTIONS_IN_VPC),
                    resources=[any_eni, sg_arn],
                    conditions=in_vpc,
                ),
                # Attach/Detach/Modify also authorize the instance, whose ARN has no VPC key. Every
                # resource of a request must be allowed, so the ENI side above still confines these
                # calls to ENIs in the HyperPod VPC.
                iam.PolicyStatement(
                    sid="AttachEnisToInstances",
                    actions=list(ENI_ACTIONS_ON_INSTANCES),
                    resources=[any_instance],
                ),
                # network-interface is an optional resource of this action: a request may carry no
                # ENI and so no ec2:Vpc key, and a condition would then deny it. Left unconditioned.
                iam.PolicyStatement(
                    sid="DeleteEniPermissions",
                    actions=["ec2:DeleteNetworkInterfacePermission"],
                    resources=[any_eni],
                ),
                # Tags sent with CreateNetworkInterface (TagSpecifications): the ENI has no ec2:Vpc yet.
                iam.PolicyStatement(
                    sid="TagNewEnis",
                    actions=["ec2:CreateTags"],
                    resources=[any_eni],
                    conditions={"StringEquals": {"ec2:CreateAction": "CreateNetworkInterface"}},
                ),
                # Tags added later: the VPC CNI's TagENI adds missing tags to the ENIs a node already has.
                iam.PolicyStatement(
                    sid="TagEnisInHyperPodVpc",
                    actions=["ec2:CreateTags"],
                    resources=[any_eni],
                    conditions=in_vpc,
                ),
                iam.PolicyStatement(sid="EcrAuth", actions=["ecr:GetAuthorizationToken"], resources=["*"]),
                iam.PolicyStatement(
                    sid="EcrPull",
                    actions=["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                    resources=[any_repository],
                ),
                iam.PolicyStatement(
                    sid="RollingUpdateAlarms",
                    actions=["cloudwatch:DescribeAlarms"],
                    resources=[any_alarm],
                ),
            ],
        )
        if eks_cluster_arn is not None:
            policy.add_statements(
                iam.PolicyStatement(
                    sid="PodIdentity",
                    actions=["eks-auth:AssumeRoleForPodIdentity"],
                    resources=[eks_cluster_arn],
                )
            )
        policy.attach_to_role(self.role)
        self.policy = policy
        lifecycle_bucket.grant_read(self.role)
        if volume_key is not None:
            self.grant_volume_key(volume_key)
        acknowledge_wildcards(
            policy,
            "EC2 Describe* and ecr:GetAuthorizationToken support no resource-level permissions; ENI "
            "actions name ENIs and instances by ID at run time, so network-interface/* is limited by an "
            "ec2:Vpc condition (or ec2:CreateAction for tags on new ENIs) and instance/* by the ENI side "
            "of the same request; ENI creation is scoped to the HyperPod subnets and group; add-on and "
            "health-agent images come from AWS-owned ECR registries in other accounts; DescribeAlarms "
            "reads alarm state only",
            resources=["*", any_eni, any_instance, any_repository, any_alarm],
        )
        acknowledge_wildcards(
            self.role,
            "grant_read on the lifecycle bucket (objects under bucket/*) and decrypt/re-encrypt data "
            "keys of the one KMS key that protects the bucket and EBS volumes; nothing wider",
            resources=[lifecycle_bucket.arn_for_objects("*")],
            actions=["s3:GetBucket*", "s3:GetObject*", "s3:List*", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
        )

    def grant_volume_key(self, key: kms.IKey) -> None:
        """Let HyperPod use ``key`` for the instance groups' EBS volumes.

        Encrypt/decrypt and ``kms:DescribeKey``, plus ``kms:CreateGrant`` only when SageMaker
        creates the grant for an AWS resource (the volumes): ``kms:GrantIsForAWSResource`` and
        ``kms:ViaService``, as the key policy on the HyperPod CMK page
        (https://docs.aws.amazon.com/sagemaker/latest/dg/smcluster-cmk.html) conditions it. The
        grant is what lets HyperPod scale out, add and patch nodes with the key.
        """
        key.grant_encrypt_decrypt(self.role)
        key.grant(self.role, "kms:DescribeKey")
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kms:CreateGrant"],
                resources=[key.key_arn],
                conditions={
                    "Bool": {"kms:GrantIsForAWSResource": "true"},
                    "StringEquals": {"kms:ViaService": f"sagemaker.{Stack.of(self).region}.amazonaws.com"},
                },
            )
        )

    def allow_lustre_client(self) -> None:
        """``fsx:DescribeFileSystems`` for nodes that mount FSx for Lustre.

        The EFA Lustre client setup checks the file system (EFA-enabled, same AZ) before it
        configures EFA; without this permission the check fails quietly and Lustre falls back to TCP
        (awslabs/awsome-distributed-ai#1202 and #1209, which add it to every HyperPod execution role).
        ``ec2:DescribeSubnets``, the other call of that check, is in ``DescribeNetwork``.
        """
        if self.node.try_find_child("LustreClient") is not None:
            return
        policy = iam.Policy(
            self,
            "LustreClient",
            statements=[
                iam.PolicyStatement(
                    sid="LustreClientChecks",
                    actions=["fsx:DescribeFileSystems"],
                    resources=["*"],
                )
            ],
        )
        policy.attach_to_role(self.role)
        acknowledge_wildcards(
            policy,
            "fsx:DescribeFileSystems is read-only and AWS's HyperPod execution roles grant it on * (the EFA "
            "Lustre client check describes the mounted file system); the node sees file-system metadata only",
            resources=["*"],
        )

    @property
    def role_arn(self) -> str:
        return self.role.role_arn
