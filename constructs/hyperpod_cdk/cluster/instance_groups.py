"""Instance groups of an ``AWS::SageMaker::Cluster``: checks and rendering shared by EKS and Slurm."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Acknowledgment, Stack, Token, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker

from hyperpod_cdk.config import HYPERPOD_NAME_PATTERN, InstanceGroup, ScheduledUpdate, check_offered, group_demands
from hyperpod_cdk.errors import HyperPodConfigError, shown
from hyperpod_cdk.specs.instance_types import Orchestrator
from hyperpod_cdk.specs.network_plan import plan_existing_subnets

MAX_INSTANCE_GROUPS = 100
# The config's bound for network.ip_headroom_percent (NetworkConfig).
MAX_IP_HEADROOM_PERCENT = 400
# The config's default: constructs used on their own plan IPs the way the config file does.
DEFAULT_IP_HEADROOM_PERCENT = 25


def as_instance_group(value: InstanceGroup | Mapping[str, Any], field: str) -> InstanceGroup:
    """An :class:`InstanceGroup` from a model or a plain mapping (``{"name": ..., ...}``)."""
    if isinstance(value, InstanceGroup):
        return value
    if isinstance(value, Mapping):
        try:
            return InstanceGroup(**value)
        except HyperPodConfigError as error:
            raise HyperPodConfigError(f"{field}.{error.field.removeprefix('InstanceGroup.')}", error.message) from None
    raise HyperPodConfigError(field, f"expected an InstanceGroup or a mapping, got {type(value).__name__}")


def subnet_cidr(subnet: Any) -> ipaddress.IPv4Network | None:
    """The subnet's IPv4 CIDR when synth knows it: None for a token or an import without one."""
    try:
        text = subnet.ipv4_cidr_block
    except Exception:  # jsii: an imported subnet without ipv4_cidr_block raises when asked for it
        return None
    if not isinstance(text, str) or Token.is_unresolved(text):
        return None
    return ipaddress.IPv4Network(text)


def _check_names(cluster_name: str, groups: Sequence[InstanceGroup]) -> None:
    """The cluster name, the number of groups and unique group names (check_cluster_props, in this order)."""
    if not isinstance(cluster_name, str) or (
        not Token.is_unresolved(cluster_name) and not re.fullmatch(HYPERPOD_NAME_PATTERN, cluster_name)
    ):
        raise HyperPodConfigError("cluster_name", f"'{cluster_name}' must be 1-63 letters, digits and hyphens")
    if not 1 <= len(groups) <= MAX_INSTANCE_GROUPS:
        raise HyperPodConfigError(
            "instance_groups", f"need 1 to {MAX_INSTANCE_GROUPS} instance groups, got {len(groups)}"
        )
    names = [g.name for g in groups]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise HyperPodConfigError(
            "instance_groups", f"group name '{duplicates[0]}' is used twice; names must be unique"
        )


def _check_placement(
    groups: Sequence[InstanceGroup], subnets_by_az_id: Mapping[str, Any], default_az_id: str, orchestrator: Orchestrator
) -> None:
    """Every subnet is an ec2.ISubnet and every group's AZ has one; labels and taints only on EKS."""
    for az_id, subnet in subnets_by_az_id.items():
        if not hasattr(subnet, "subnet_id"):
            raise HyperPodConfigError(
                f"subnets_by_az_id.{az_id}", f"expected an ec2.ISubnet, got {type(subnet).__name__}"
            )
    if default_az_id not in subnets_by_az_id:
        raise HyperPodConfigError(
            "default_az_id", f"'{default_az_id}' has no subnet in subnets_by_az_id {sorted(subnets_by_az_id)}"
        )
    for index, group in enumerate(groups):
        az_id = group.availability_zone_id or default_az_id
        if az_id not in subnets_by_az_id:
            raise HyperPodConfigError(
                f"instance_groups[{index}]({group.name}).availability_zone_id", f"'{az_id}' has no HyperPod subnet"
            )
        if orchestrator is Orchestrator.SLURM and (group.labels or group.taints):
            raise HyperPodConfigError(
                f"instance_groups[{index}]({group.name}).labels",
                "Kubernetes labels and taints only apply to EKS-orchestrated clusters",
            )


def check_cluster_props(
    scope: Any,
    *,
    cluster_name: str,
    groups: Sequence[InstanceGroup],
    subnets_by_az_id: Mapping[str, Any],
    default_az_id: str,
    node_recovery: str,
    orchestrator: Orchestrator,
    ip_headroom_percent: int = 0,
) -> None:
    """What both cluster constructs check before anything is created.

    Names and group counts follow the ``AWS::SageMaker::Cluster`` schema; the instance types must
    be offered in the stack's region (when it is known); and every subnet whose CIDR is known must
    hold its groups' nodes at the orchestrator's IPs per node (``hyperpod_cdk.specs.instance_types``)
    plus ``ip_headroom_percent`` (the config's ``network.ip_headroom_percent``: the same plan the
    config file gets). Raises :class:`HyperPodConfigError` naming the prop; wrap the call in ``checked_props``.
    """
    _check_names(cluster_name, groups)
    _check_placement(groups, subnets_by_az_id, default_az_id, orchestrator)
    if node_recovery not in ("Automatic", "None"):
        raise HyperPodConfigError("node_recovery", f"'{node_recovery}' must be Automatic or None")
    region = Stack.of(scope).region
    if not Token.is_unresolved(region):
        for index, group in enumerate(groups):
            key = "instance_type" if group.instance_type else "instance_types"
            check_offered(region, group, f"instance_groups[{index}]({group.name}).{key}")
    if (
        isinstance(ip_headroom_percent, bool)
        or not isinstance(ip_headroom_percent, int)
        or not (0 <= ip_headroom_percent <= MAX_IP_HEADROOM_PERCENT)
    ):
        raise HyperPodConfigError(
            "ip_headroom_percent", f"must be a whole number 0-{MAX_IP_HEADROOM_PERCENT}, got {ip_headroom_percent!r}"
        )
    # Known CIDRs only (a token CIDR is checked by EC2 at deploy), with the same headroom as the config.
    cidrs = {az: cidr for az, subnet in subnets_by_az_id.items() if (cidr := subnet_cidr(subnet)) is not None}
    demands = group_demands(groups, orchestrator.value, default_az_id)
    plan_existing_subnets(
        cidrs,
        {az: d for az, d in demands.items() if az in cidrs},
        ip_headroom_percent,
        orchestrator,
        "subnets_by_az_id",
    )


# A role ARN and where lifecycle scripts may live (the AWS::SageMaker::Cluster schema's patterns,
# LifeCycleConfig.SourceS3Uri and ExecutionRole), for literal values; tokens are checked by CloudFormation.
ROLE_ARN_PATTERN = r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$"
SOURCE_S3_URI_PATTERN = r"^(https|s3)://([^/]+)/?(.*)$"


def check_deploy_inputs(execution_role_arn: Any, lifecycle_source_s3_uri: Any) -> None:
    """The string props both cluster constructs pass to CloudFormation as they are (their typed props are
    checked from the constructors' annotations: ``typed_props``)."""
    for prop, value, pattern, example in (
        ("execution_role_arn", execution_role_arn, ROLE_ARN_PATTERN, "arn:aws:iam::123456789012:role/HyperPodExec"),
        ("lifecycle_source_s3_uri", lifecycle_source_s3_uri, SOURCE_S3_URI_PATTERN, "s3://my-bucket/lifecycle/"),
    ):
        if not isinstance(value, str):
            raise HyperPodConfigError(prop, f"expected a string such as {example}, got {type(value).__name__}")
        if not Token.is_unresolved(value) and not re.fullmatch(pattern, value):
            raise HyperPodConfigError(prop, f"{shown(value)} is not a value like {example}")


def acknowledge_region_offerings(resource: Any) -> None:
    """Acknowledge the built-in validator's instance-type finding (E3644) where this library checked them.

    :func:`check_cluster_props` checked every type against cfn-lint's per-region HyperPod list
    (``hyperpod_cdk/specs/data``, refreshed with cfn-lint), which is newer than the list bundled in
    aws-cdk-lib's CloudFormation validator: that one still rejects types HyperPod offers today (such as
    ``ml.i3en.12xlarge`` in us-west-2). Only done when the stack's region is known, i.e. when the
    library's own check ran; an environment-agnostic stack keeps the validator's finding.
    """
    if not Token.is_unresolved(Stack.of(resource).region):
        Validations.of(resource).acknowledge(
            Acknowledgment(
                id="CloudFormation-Validate::E3644",
                reason="instance types were checked against cfn-lint's newer per-region HyperPod list at synth",
            )
        )


def cluster_tags(tags: Mapping[str, str] | None) -> list[dict[str, str]]:
    """Cluster tags; ``SageMaker=true`` always, since the HyperPod managed policies condition on it."""
    return [{"key": k, "value": v} for k, v in sorted({**(tags or {}), "SageMaker": "true"}.items())]


#: Node label on every autoscale group: lets pods (and the replacement guard) tell Karpenter-owned groups apart.
AUTOSCALER_LABEL = "hyperpod-cdk/autoscaler"


def _capacity_size(percent: int | None, count: int | None) -> sagemaker.CfnCluster.CapacitySizeConfigProperty | None:
    if percent is not None:
        return sagemaker.CfnCluster.CapacitySizeConfigProperty(type="CAPACITY_PERCENTAGE", value=percent)
    if count is not None:
        return sagemaker.CfnCluster.CapacitySizeConfigProperty(type="INSTANCE_COUNT", value=count)
    return None


def scheduled_update_property(update: ScheduledUpdate) -> sagemaker.CfnCluster.ScheduledUpdateConfigProperty:
    """``ScheduledUpdateConfig`` with its ``DeploymentConfig`` (rolling batches, wait, alarm rollback).

    https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-sagemaker-cluster-scheduledupdateconfig.html
    """
    batch = _capacity_size(update.max_batch_percent, update.max_batch_count)
    assert batch is not None  # ScheduledUpdate requires one of the two
    return sagemaker.CfnCluster.ScheduledUpdateConfigProperty(
        schedule_expression=update.schedule,
        deployment_config=sagemaker.CfnCluster.DeploymentConfigProperty(
            rolling_update_policy=sagemaker.CfnCluster.RollingUpdatePolicyProperty(
                maximum_batch_size=batch,
                rollback_maximum_batch_size=_capacity_size(update.rollback_batch_percent, update.rollback_batch_count),
            ),
            wait_interval_in_seconds=update.wait_seconds,
            auto_rollback_configuration=[
                sagemaker.CfnCluster.AlarmDetailsProperty(alarm_name=name) for name in update.rollback_alarms
            ]
            or None,
        ),
    )


def instance_group_property(
    group: InstanceGroup,
    *,
    default_az_id: str,
    subnets_by_az_id: Mapping[str, ec2.ISubnet],
    security_group_ids: list[str],
    execution_role_arn: str,
    lifecycle_source_s3_uri: str,
    on_create: str,
    volume_key: kms.IKey | None,
    kubernetes: bool,
    platform_fsx: tuple[str, str] | None = None,
    slurm_config: sagemaker.CfnCluster.ClusterSlurmConfigProperty | None = None,
    extra_storage: Sequence[sagemaker.CfnCluster.ClusterInstanceStorageConfigProperty] = (),
) -> sagemaker.CfnCluster.ClusterInstanceGroupProperty:
    """One ``InstanceGroups`` entry, shared by the EKS and Slurm cluster constructs.

    A group pinned to another AZ than the cluster's gets ``OverrideVpcConfig`` with that AZ's
    subnet; labels and taints render only for EKS (``kubernetes=True``). ``volume_key`` None leaves
    ``VolumeKmsKeyId`` out (HyperPod then encrypts with an AWS owned key). ``platform_fsx`` is the
    (DNS name, mount name) of the platform's file system, for ``fsx_mounts`` entries without their own.
    ``slurm_config`` (API-driven Slurm) and ``extra_storage`` (its FSx mount) are added as given.
    """
    az_id = group.availability_zone_id or default_az_id
    override = None
    if az_id != default_az_id:
        override = sagemaker.CfnCluster.VpcConfigProperty(
            security_group_ids=security_group_ids, subnets=[subnets_by_az_id[az_id].subnet_id]
        )
    labels = dict(group.labels)
    if group.autoscale:
        labels[AUTOSCALER_LABEL] = "karpenter"
    kubernetes_config = None
    if kubernetes and (labels or group.taints):
        kubernetes_config = sagemaker.CfnCluster.ClusterKubernetesConfigProperty(
            labels=labels or None,
            taints=[
                sagemaker.CfnCluster.ClusterKubernetesTaintProperty(key=t.key, value=t.value, effect=t.effect)
                for t in group.taints
            ]
            or None,
        )
    storage = [
        sagemaker.CfnCluster.ClusterInstanceStorageConfigProperty(
            ebs_volume_config=sagemaker.CfnCluster.ClusterEbsVolumeConfigProperty(
                volume_size_in_gb=group.ebs_volume_size_gb,
                volume_kms_key_id=volume_key.key_arn if volume_key is not None else None,
            )
        )
    ]
    for mount in group.fsx_mounts:
        dns_name, mount_name = (
            (mount.dns_name, mount.mount_name) if not mount.uses_platform_fsx else (platform_fsx or (None, None))
        )
        if dns_name is None or mount_name is None:
            raise HyperPodConfigError(
                f"instance_groups({group.name}).fsx_mounts", "a mount without dns_name needs the platform's FSx"
            )
        # HyperPod mounts the file system on every node of the group at MountPath:
        # https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-sagemaker-cluster-clusterfsxlustreconfig.html
        storage.append(
            sagemaker.CfnCluster.ClusterInstanceStorageConfigProperty(
                fsx_lustre_config=sagemaker.CfnCluster.ClusterFsxLustreConfigProperty(
                    dns_name=dns_name, mount_name=mount_name, mount_path=mount.mount_path
                )
            )
        )
    storage.extend(extra_storage)
    # LifeCycleConfig: SourceS3Uri + OnCreate replaces HyperPod's node setup (customer-managed mode);
    # SourceS3Uri + OnInitComplete runs after it (extended mode). The two are exclusive (CFN schema).
    hook = {"on_init_complete" if group.lifecycle_hook == "OnInitComplete" else "on_create": on_create}
    capacity = None
    if group.capacity_type is not None:
        # The option objects are empty by design: {Spot: {}} or {OnDemand: {}}.
        # https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-spot.html
        capacity = sagemaker.CfnCluster.ClusterCapacityRequirementsProperty(
            **{"spot" if group.capacity_type == "Spot" else "on_demand": {}}
        )
    return sagemaker.CfnCluster.ClusterInstanceGroupProperty(
        instance_group_name=group.name,
        instance_type=group.instance_type,
        instance_requirements=sagemaker.CfnCluster.InstanceRequirementsProperty(
            instance_types=list(group.instance_types)
        )
        if group.instance_types
        else None,
        # Autoscale groups stay at 0: Karpenter drives the live count with BatchAddClusterNodes.
        instance_count=group.instance_count,
        min_instance_count=group.min_instance_count,
        capacity_requirements=capacity,
        execution_role=execution_role_arn,
        threads_per_core=group.threads_per_core,
        life_cycle_config=sagemaker.CfnCluster.ClusterLifeCycleConfigProperty(
            source_s3_uri=lifecycle_source_s3_uri, **hook
        ),
        instance_storage_configs=storage,
        on_start_deep_health_checks=group.effective_deep_health_checks or None,
        override_vpc_config=override,
        kubernetes_config=kubernetes_config,
        slurm_config=slurm_config,
        training_plan_arn=group.training_plan_arn,
        image_id=group.image_id,
        image_release_version=group.image_release_version,
        network_interface=sagemaker.CfnCluster.ClusterNetworkInterfaceProperty(interface_type=group.network_interface)
        if group.network_interface
        else None,
        scheduled_update_config=scheduled_update_property(group.scheduled_update) if group.scheduled_update else None,
        auto_patch_config=sagemaker.CfnCluster.AutoPatchConfigProperty(patching_strategy=group.auto_patch)
        if group.auto_patch
        else None,
    )
