"""The SageMaker HyperPod training operator (HPTO) EKS add-on with its pod identity."""

from __future__ import annotations

from aws_cdk import aws_iam as iam

from hyperpod_cdk.config.addons import TrainingOperatorConfig
from hyperpod_cdk.kubernetes.addons.base import (
    CERT_MANAGER,
    POD_IDENTITY_AGENT,
    PodIdentityAddon,
    add_managed_policy,
)

# Sources: https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-eks-operator-install.html (needs
# cert-manager and the pod identity agent; the managed policy); the service account and namespace as
# AWS's Terraform associates them (awslabs/awsome-distributed-ai 1.architectures/7.sagemaker-hyperpod-eks/
# terraform-modules/hyperpod-eks-tf/modules/hyperpod_training_operator/main.tf); v1.2.1-eksbuild.1
# reports requiresIamPermissions=false and refuses inline pod identity (awslabs/awsome-distributed-ai#1075,
# fixed by #1076 with a standalone association created first).
ADDON_NAME = TrainingOperatorConfig.ADDON_NAME  # the config section names the add-on
NAMESPACE = "aws-hyperpod"
SERVICE_ACCOUNT = "hp-training-operator-controller-manager"
MANAGED_POLICY = "AmazonSageMakerHyperPodTrainingOperatorAccess"


class HyperPodTrainingOperatorAddon(PodIdentityAddon):
    """``amazon-sagemaker-hyperpod-training-operator``: runs HyperPodPyTorchJob workloads.

    Requires cert-manager and the EKS pod identity agent (construction fails without them).
    Resources, created in this order:

    1. an IAM role for service account ``aws-hyperpod/hp-training-operator-controller-manager``
       (trust ``pods.eks.amazonaws.com``, ``sts:AssumeRole`` + ``sts:TagSession``) with the AWS
       managed policy ``AmazonSageMakerHyperPodTrainingOperatorAccess``;
    2. a standalone ``AWS::EKS::PodIdentityAssociation`` for that service account, after the pod
       identity agent and cert-manager;
    3. the add-on, after the association (add-on versions from v1.2.1 refuse inline pod identity
       associations).

    The managed policy conditions on the HyperPod cluster's ``SageMaker=true`` tag, which
    :class:`~hyperpod_cdk.cluster.hyperpod.HyperPodCluster` always sets.
    """

    ADDON_NAME = ADDON_NAME
    REQUIRES = (POD_IDENTITY_AGENT, CERT_MANAGER)
    CONFIG_FIELD = "kubernetes.addons.training_operator"
    NAMESPACE = NAMESPACE
    SERVICE_ACCOUNT = SERVICE_ACCOUNT
    ROLE_DESCRIPTION = "SageMaker HyperPod training operator (EKS Pod Identity)"
    SAGEMAKER_TAG = True

    def _grant(self, role: iam.Role) -> None:
        add_managed_policy(
            role,
            MANAGED_POLICY,
            "AWS publishes AmazonSageMakerHyperPodTrainingOperatorAccess as the training operator's "
            "permission set and updates it with the operator; the role is usable only by the "
            "operator's service account on this cluster",
        )
