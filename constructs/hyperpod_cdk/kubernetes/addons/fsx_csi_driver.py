"""The Amazon FSx for Lustre CSI driver EKS add-on: static volumes, and optionally dynamic provisioning."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Unpack

from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from constructs import Construct

from hyperpod_cdk.config.addons import FsxCsiDriverConfig
from hyperpod_cdk.kubernetes.addons.base import (
    POD_IDENTITY_AGENT,
    AddonSettings,
    PodIdentityAddon,
    add_managed_policy,
)

ADDON_NAME = FsxCsiDriverConfig.ADDON_NAME  # the config section names the add-on
NAMESPACE = "kube-system"
# The controller's service account, as the driver's install guide and AWS's HyperPod Terraform
# module name it (github.com/kubernetes-sigs/aws-fsx-csi-driver, docs/install.md).
SERVICE_ACCOUNT = "fsx-csi-controller-sa"
CSI_DRIVER = "fsx.csi.aws.com"
DYNAMIC_POLICY = "AmazonFSxFullAccess"


class FsxCsiDriverAddon(PodIdentityAddon):
    """``aws-fsx-csi-driver`` with an EKS Pod Identity role for its controller.

    Resources, in this order: an IAM role for ``kube-system/fsx-csi-controller-sa`` (trust
    ``pods.eks.amazonaws.com``, ``sts:AssumeRole`` + ``sts:TagSession``, limited to that service
    account of this cluster), a standalone ``AWS::EKS::PodIdentityAssociation`` after the pod
    identity agent (required), then the add-on.

    Static provisioning (the default) needs almost nothing: the PersistentVolumes name an existing
    file system (``volumeHandle`` = its id) and are ``Retain``, so the controller's CreateVolume
    and DeleteVolume never run for them, and the node plugin mounts with the Lustre client
    (network, no AWS API). The role gets ``fsx:DescribeFileSystems`` on ``file_system_arns`` only,
    so a mistaken StorageClass cannot create, resize or delete file systems.

    ``dynamic_provisioning=True`` is for a StorageClass whose claims create file systems: the role
    then gets the AWS managed ``AmazonFSxFullAccess``, the policy AWS's EKS guide attaches to this
    driver's role (https://docs.aws.amazon.com/eks/latest/userguide/fsx-csi-create.html) and AWS's
    HyperPod templates use; CreateFileSystem also creates FSx's service-linked role, which that
    policy covers.

    Args:
        cluster: the EKS cluster.
        file_system_arns: the file systems the driver may describe (statically provisioned ones).
        dynamic_provisioning: let the driver create and delete file systems for claims.
    """

    ADDON_NAME = ADDON_NAME
    REQUIRES = (POD_IDENTITY_AGENT,)
    CONFIG_FIELD = "storage.fsx"
    NAMESPACE = NAMESPACE
    SERVICE_ACCOUNT = SERVICE_ACCOUNT
    ROLE_DESCRIPTION = "FSx for Lustre CSI driver controller (EKS Pod Identity)"

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.ICluster,
        file_system_arns: Sequence[str] = (),
        dynamic_provisioning: bool = False,
        **settings: Unpack[AddonSettings],
    ) -> None:
        self.file_system_arns = list(file_system_arns)
        self.dynamic_provisioning = dynamic_provisioning
        super().__init__(scope, construct_id, cluster=cluster, **settings)

    def _grant(self, role: iam.Role) -> None:
        if self.file_system_arns:
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="DescribeStaticVolumes",
                    actions=["fsx:DescribeFileSystems"],
                    resources=self.file_system_arns,
                )
            )
        if self.dynamic_provisioning:
            add_managed_policy(
                role,
                DYNAMIC_POLICY,
                "dynamic provisioning creates and deletes file systems whose ids are unknown until a claim "
                "exists; AWS's EKS guide gives this driver AmazonFSxFullAccess, and only the controller's "
                "service account on this cluster can use the role",
            )
