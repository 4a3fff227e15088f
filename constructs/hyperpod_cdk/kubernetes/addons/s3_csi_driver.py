"""Mountpoint for Amazon S3 CSI driver EKS add-on, with an EKS Pod Identity role scoped to named buckets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Unpack

from aws_cdk import Stack, Token
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from constructs import Construct

from hyperpod_cdk.config.addons import S3CsiDriverConfig
from hyperpod_cdk.errors import prop_error
from hyperpod_cdk.kubernetes.addons.base import (
    POD_IDENTITY_AGENT,
    AddonSettings,
    PodIdentityAddon,
)
from hyperpod_cdk.rules.acknowledge import acknowledge_wildcards

ADDON_NAME = S3CsiDriverConfig.ADDON_NAME  # the config section names the add-on
NAMESPACE = "kube-system"
# "When you deploy the plugin ... it creates and is configured to use a service account named
# s3-csi-driver-sa" (EKS user guide, storage/s3-csi-create); EKS Pod Identity for that service
# account is the driver's recommended credential source (awslabs/mountpoint-s3-csi-driver
# docs/CONFIGURATION.md @57c6bedb).
SERVICE_ACCOUNT = "s3-csi-driver-sa"
CSI_DRIVER = "s3.csi.aws.com"
# The node plugin must run on every node that mounts a bucket, including tainted HyperPod nodes;
# the add-on's `node.tolerateAllTaints` exists from v1.8.0 (EKS user guide, s3-csi-create).
DEFAULT_CONFIGURATION: dict[str, Any] = {"node": {"tolerateAllTaints": True}}
# The EKS user guide's least-privilege policy for the driver (AmazonS3CSIDriverPolicy example).
READ_OBJECT_ACTIONS = ("s3:GetObject",)
WRITE_OBJECT_ACTIONS = ("s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject")


class S3CsiDriverAddon(PodIdentityAddon):
    """``aws-mountpoint-s3-csi-driver``: mount S3 buckets as volumes (``s3.csi.aws.com``).

    Resources, in this order: an IAM role for ``kube-system/s3-csi-driver-sa`` (EKS Pod Identity
    trust) allowed ``s3:ListBucket`` on ``bucket_names`` and ``s3:GetObject`` (plus ``PutObject``,
    ``AbortMultipartUpload`` and ``DeleteObject`` unless ``read_only``) on their objects; a
    standalone ``AWS::EKS::PodIdentityAssociation`` after the pod identity agent (required); the
    add-on, after the association and the role's policy.

    Args:
        cluster: the EKS cluster.
        bucket_names: the buckets volumes may mount (at least one).
        read_only: grant reads only.
        configuration_values: deep-merged over :data:`DEFAULT_CONFIGURATION`.
    """

    ADDON_NAME = ADDON_NAME
    REQUIRES = (POD_IDENTITY_AGENT,)
    CONFIG_FIELD = "kubernetes.addons.s3_csi_driver"
    NAMESPACE = NAMESPACE
    SERVICE_ACCOUNT = SERVICE_ACCOUNT
    ROLE_DESCRIPTION = "Mountpoint for Amazon S3 CSI driver (EKS Pod Identity)"
    DEFAULT_CONFIGURATION = DEFAULT_CONFIGURATION

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.ICluster,
        bucket_names: Sequence[str],
        read_only: bool = False,
        **settings: Unpack[AddonSettings],
    ) -> None:
        if not bucket_names:
            raise prop_error(scope, construct_id, "bucket_names", "list the buckets the driver may mount")
        for name in bucket_names:
            if not Token.is_unresolved(name) and ("/" in name or name.startswith("arn:")):
                raise prop_error(scope, construct_id, "bucket_names", f"'{name}' is not a bucket name")
        self.bucket_names = list(bucket_names)
        self.read_only = read_only
        super().__init__(scope, construct_id, cluster=cluster, **settings)

    def _grant(self, role: iam.Role) -> None:
        partition = Stack.of(self).partition
        buckets = [f"arn:{partition}:s3:::{name}" for name in self.bucket_names]
        objects = [f"{bucket}/*" for bucket in buckets]
        role.add_to_policy(iam.PolicyStatement(sid="ListBuckets", actions=["s3:ListBucket"], resources=buckets))
        actions = list(READ_OBJECT_ACTIONS) + ([] if self.read_only else list(WRITE_OBJECT_ACTIONS))
        role.add_to_policy(iam.PolicyStatement(sid="BucketObjects", actions=actions, resources=objects))
        acknowledge_wildcards(
            role,
            "object keys under the named buckets are chosen by the workloads that mount them; the role reaches "
            "only these buckets",
            resources=objects,
        )
