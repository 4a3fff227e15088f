"""HyperPodCluster: the ``AWS::SageMaker::Cluster`` orchestrated by EKS."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from aws_cdk import Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct, IConstruct

from hyperpod_cdk.config import HYPERPOD_NAME_PATTERN, InstanceGroup
from hyperpod_cdk.errors import HyperPodConfigError


class HyperPodCluster(Construct):
    """A SageMaker HyperPod cluster on an EKS control plane.

    Node recovery is ``Automatic`` and provisioning ``Continuous`` by default, every instance
    group's secondary EBS volume is encrypted with ``volume_key``, and deep health checks follow
    :attr:`InstanceGroup.effective_deep_health_checks` (on for accelerated types).

    The cluster waits for everything passed to :meth:`wait_for`: the EKS add-ons now, and the
    HyperPod Helm dependencies when they are installed (HyperPod rejects a cluster whose EKS side
    is missing them).

    Args:
        cluster_name: 1-63 letters, digits and hyphens.
        eks_cluster_arn: the orchestrator.
        instance_groups: validated :class:`InstanceGroup` models (names unique).
        subnets_by_az_id: HyperPod subnets keyed by AZ ID; groups pinned to an AZ other than
            ``default_az_id`` get an ``OverrideVpcConfig`` with that AZ's subnet.
        default_az_id: the AZ ID of the cluster-level ``VpcConfig`` subnet.
        security_group: HyperPod node security group.
        execution_role_arn: instance execution role.
        lifecycle_source_s3_uri / on_create: where the lifecycle scripts are.
        volume_key: KMS key for the instance groups' EBS volumes.
        node_recovery: "Automatic" (default) or "None".
        node_provisioning_mode: "Continuous" (default) or None.
        tags: extra tags; ``SageMaker=true`` is always set.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster_name: str,
        eks_cluster_arn: str,
        instance_groups: Sequence[InstanceGroup],
        subnets_by_az_id: Mapping[str, ec2.ISubnet],
        default_az_id: str,
        security_group: ec2.ISecurityGroup,
        execution_role_arn: str,
        lifecycle_source_s3_uri: str,
        volume_key: kms.IKey,
        on_create: str = "on_create.sh",
        node_recovery: str = "Automatic",
        node_provisioning_mode: str | None = "Continuous",
        tags: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        validate_cluster_props(cluster_name, instance_groups, subnets_by_az_id, default_az_id, node_recovery)
        sg_ids = [security_group.security_group_id]

        def group_property(group: InstanceGroup) -> sagemaker.CfnCluster.ClusterInstanceGroupProperty:
            return instance_group_property(
                group,
                default_az_id=default_az_id, subnets_by_az_id=subnets_by_az_id, security_group_ids=sg_ids,
                execution_role_arn=execution_role_arn, lifecycle_source_s3_uri=lifecycle_source_s3_uri,
                on_create=on_create, volume_key=volume_key, kubernetes=True,
            )

        self.resource = sagemaker.CfnCluster(
            self, "Resource",
            cluster_name=cluster_name,
            orchestrator=sagemaker.CfnCluster.OrchestratorProperty(
                eks=sagemaker.CfnCluster.ClusterOrchestratorEksConfigProperty(cluster_arn=eks_cluster_arn)
            ),
            vpc_config=sagemaker.CfnCluster.VpcConfigProperty(
                security_group_ids=sg_ids, subnets=[subnets_by_az_id[default_az_id].subnet_id]
            ),
            instance_groups=[group_property(g) for g in instance_groups],
            node_recovery=node_recovery,
            node_provisioning_mode=node_provisioning_mode,
            tags=cluster_tags(tags),
        )

    def wait_for(self, *dependencies: IConstruct) -> None:
        """Create the cluster only after ``dependencies`` (add-ons, Helm charts, ...) exist."""
        for dependency in dependencies:
            self.resource.node.add_dependency(dependency)

    @property
    def cluster_arn(self) -> str:
        return self.resource.attr_cluster_arn

    @property
    def cluster_name(self) -> str:
        return self.resource.ref


def cluster_tags(tags: Mapping[str, str] | None) -> list[dict[str, str]]:
    """Cluster tags; ``SageMaker=true`` always, since the HyperPod managed policies condition on it."""
    return [{"key": k, "value": v} for k, v in sorted({**(tags or {}), "SageMaker": "true"}.items())]


def instance_group_property(
    group: InstanceGroup,
    *,
    default_az_id: str,
    subnets_by_az_id: Mapping[str, ec2.ISubnet],
    security_group_ids: list[str],
    execution_role_arn: str,
    lifecycle_source_s3_uri: str,
    on_create: str,
    volume_key: kms.IKey,
    kubernetes: bool,
) -> sagemaker.CfnCluster.ClusterInstanceGroupProperty:
    """One ``InstanceGroups`` entry, shared by the EKS and Slurm cluster constructs.

    A group pinned to another AZ than the cluster's gets ``OverrideVpcConfig`` with that AZ's
    subnet; labels and taints render only for EKS (``kubernetes=True``).
    """
    az_id = group.availability_zone_id or default_az_id
    override = None
    if az_id != default_az_id:
        override = sagemaker.CfnCluster.VpcConfigProperty(
            security_group_ids=security_group_ids, subnets=[subnets_by_az_id[az_id].subnet_id]
        )
    kubernetes_config = None
    if kubernetes and (group.labels or group.taints):
        kubernetes_config = sagemaker.CfnCluster.ClusterKubernetesConfigProperty(
            labels=dict(group.labels) or None,
            taints=[
                sagemaker.CfnCluster.ClusterKubernetesTaintProperty(key=t.key, value=t.value, effect=t.effect)
                for t in group.taints
            ] or None,
        )
    return sagemaker.CfnCluster.ClusterInstanceGroupProperty(
        instance_group_name=group.name,
        instance_type=group.instance_type,
        instance_count=group.instance_count,
        execution_role=execution_role_arn,
        threads_per_core=group.threads_per_core,
        life_cycle_config=sagemaker.CfnCluster.ClusterLifeCycleConfigProperty(
            source_s3_uri=lifecycle_source_s3_uri, on_create=on_create
        ),
        instance_storage_configs=[
            sagemaker.CfnCluster.ClusterInstanceStorageConfigProperty(
                ebs_volume_config=sagemaker.CfnCluster.ClusterEbsVolumeConfigProperty(
                    volume_size_in_gb=group.ebs_volume_size_gb, volume_kms_key_id=volume_key.key_arn
                )
            )
        ],
        on_start_deep_health_checks=group.effective_deep_health_checks or None,
        override_vpc_config=override,
        kubernetes_config=kubernetes_config,
        training_plan_arn=group.training_plan_arn,
        image_id=group.image_id,
    )


def validate_cluster_props(
    cluster_name: str,
    groups: Sequence[InstanceGroup],
    subnets_by_az_id: Mapping[str, ec2.ISubnet],
    default_az_id: str,
    node_recovery: str,
) -> None:
    if not Token.is_unresolved(cluster_name) and not re.fullmatch(HYPERPOD_NAME_PATTERN, cluster_name):
        raise HyperPodConfigError("cluster_name", f"'{cluster_name}' must be 1-63 letters, digits and hyphens")
    if not 1 <= len(groups) <= 100:
        raise HyperPodConfigError("instance_groups", f"need 1 to 100 instance groups, got {len(groups)}")
    names = [g.name for g in groups]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise HyperPodConfigError("instance_groups", f"duplicate group names {duplicates}")
    if default_az_id not in subnets_by_az_id:
        raise HyperPodConfigError("default_az_id", f"'{default_az_id}' has no subnet in subnets_by_az_id")
    for group in groups:
        az_id = group.availability_zone_id or default_az_id
        if az_id not in subnets_by_az_id:
            raise HyperPodConfigError(
                f"instance_groups[{group.name}].availability_zone_id", f"'{az_id}' has no HyperPod subnet"
            )
    if node_recovery not in ("Automatic", "None"):
        raise HyperPodConfigError("node_recovery", f"'{node_recovery}' must be Automatic or None")
