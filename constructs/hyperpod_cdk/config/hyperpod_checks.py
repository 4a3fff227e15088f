"""HyperPod's service rules on a platform config, kept together in one place.

Moved out of the models unchanged (issue 21): the Karpenter prerequisites, the orchestrator-specific
keys, the customer managed EBS key needing Continuous provisioning, the groups that can host system
pods, and the instance types HyperPod offers in a region. The models call these functions from
their validators.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from hyperpod_cdk.config.slurm_checks import check_slurm_settings
from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.specs.offerings import offered_in
from hyperpod_cdk.specs.service_rules import SYS1, ClusterFacts, check_cluster
from hyperpod_cdk.specs.slurm import slurm_layout

if TYPE_CHECKING:
    from hyperpod_cdk.config.hyperpod import HyperPodConfig, InstanceGroup
    from hyperpod_cdk.config.platform import PlatformConfig

# The config field for each subject of specs/service_rules.py.
_CONFIG_FIELDS = {
    "node_provisioning_mode": "hyperpod.node_provisioning_mode",
    "node_recovery": "hyperpod.node_recovery",
    "cluster_role": "hyperpod.autoscaler",
    "orchestrator": "orchestrator",
    "volume_key": "hyperpod.ebs_kms_key",
    "accounting_database": "slurm.accounting",
    "autoscaler": "hyperpod.autoscaler",
    "tiered_storage_memory_percent": "hyperpod.tiered_storage_memory_percent",
}
# https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-autoscaling-nodeclass.html
MAX_AUTOSCALED_GROUPS = 10
# Keys that only an EKS-orchestrated cluster can use (HyperPod documents them for EKS only, or this
# library's Slurm lifecycle scripts would clash with them).
EKS_ONLY_GROUP_KEYS = (
    "instance_types",
    "min_instance_count",
    "capacity_type",
    "autoscale",
    "image_release_version",
    "fsx_mounts",
)


def check_autoscaling(hyperpod: HyperPodConfig) -> None:
    """Karpenter autoscaling prerequisites on the ``hyperpod`` section."""
    # Prerequisites: https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-autoscaling.html
    scaled = [(i, g) for i, g in enumerate(hyperpod.instance_groups) if g.autoscale]
    if hyperpod.autoscaler is None:
        if scaled:
            index, group = scaled[0]
            raise HyperPodConfigError(
                f"hyperpod.instance_groups[{index}]({group.name}).autoscale",
                "needs hyperpod.autoscaler: Karpenter",
            )
        return
    if not scaled:
        raise HyperPodConfigError(
            "hyperpod.autoscaler", "no instance group has autoscale: true; mark the groups Karpenter may scale"
        )
    if len(scaled) > MAX_AUTOSCALED_GROUPS:
        raise HyperPodConfigError(
            "hyperpod.autoscaler",
            f"{len(scaled)} autoscale groups; a HyperpodNodeClass takes at most {MAX_AUTOSCALED_GROUPS}",
        )
    # HyperPod's own rules, from the one table (specs/service_rules.py); the platform creates the role.
    for violation in check_cluster(
        ClusterFacts(
            node_provisioning_mode=hyperpod.node_provisioning_mode,
            node_recovery=hyperpod.node_recovery,
            autoscaler=hyperpod.autoscaler,
            has_cluster_role=True,
        )
    ):
        raise HyperPodConfigError(_CONFIG_FIELDS[violation.subject], violation.line(_CONFIG_FIELDS))


def check_orchestrator_sections(config: PlatformConfig) -> None:
    """Sections and keys that only one orchestrator uses, and the EKS-only service rules."""
    if config.orchestrator == "eks":
        _check_eks_sections(config)
    else:
        _check_slurm_sections(config)


def _check_eks_sections(config: PlatformConfig) -> None:
    """check_orchestrator_sections for orchestrator: eks."""
    groups = config.hyperpod.instance_groups
    if config.eks is None:
        raise HyperPodConfigError("eks", "required key is missing (orchestrator is eks)")
    if "slurm" in config.model_fields_set:
        raise HyperPodConfigError("slurm", "only used with orchestrator: slurm; remove it for an EKS cluster")
    for index, group in enumerate(groups):
        for key in ("slurm_node_type", "partition"):
            if getattr(group, key) is not None:
                raise HyperPodConfigError(
                    f"hyperpod.instance_groups[{index}]({group.name}).{key}",
                    "only used with orchestrator: slurm",
                )
    for index, group in enumerate(groups):
        where = f"hyperpod.instance_groups[{index}]({group.name})"
        for key in ("capacity_type", "min_instance_count"):
            if getattr(group, key) is not None and config.hyperpod.node_provisioning_mode != "Continuous":
                raise HyperPodConfigError(f"{where}.{key}", "needs hyperpod.node_provisioning_mode: Continuous")
        if any(m.uses_platform_fsx for m in group.fsx_mounts) and config.storage.fsx is None:
            raise HyperPodConfigError(
                f"{where}.fsx_mounts",
                "a mount without dns_name mounts storage.fsx; add storage.fsx or " "give dns_name and mount_name",
            )
    if config.storage.fsx is not None and config.kubernetes.fsx is not None:
        raise HyperPodConfigError(
            "kubernetes.fsx",
            "storage.fsx already gives every team namespace the fsx-claim volume; remove one of the two",
        )
    for violation in check_cluster(
        ClusterFacts(
            node_provisioning_mode=config.hyperpod.node_provisioning_mode,
            orchestrator="eks",
            customer_managed_key=config.hyperpod.ebs_kms_key == "customer-managed",
        )
    ):
        raise HyperPodConfigError(_CONFIG_FIELDS[violation.subject], violation.line(_CONFIG_FIELDS))
    if not system_pod_groups(groups):
        raise HyperPodConfigError("hyperpod.instance_groups", f"{SYS1.message}; {SYS1.fix}")


def _check_slurm_sections(config: PlatformConfig) -> None:
    """check_orchestrator_sections for orchestrator: slurm."""
    groups = config.hyperpod.instance_groups
    if config.eks is not None:
        raise HyperPodConfigError("eks", "only used with orchestrator: eks; remove it for a Slurm cluster")
    if "kubernetes" in config.model_fields_set:
        raise HyperPodConfigError("kubernetes", "only used with orchestrator: eks; remove it for a Slurm cluster")
    check_slurm_settings(config)
    for index, group in enumerate(groups):
        if group.labels or group.taints:
            key = "labels" if group.labels else "taints"
            raise HyperPodConfigError(
                f"hyperpod.instance_groups[{index}]({group.name}).{key}",
                "Kubernetes labels and taints only apply with orchestrator: eks",
            )
        for key in (*EKS_ONLY_GROUP_KEYS, "lifecycle_hook"):
            if key in group.model_fields_set and getattr(group, key) not in (None, False, [], "OnCreate"):
                raise HyperPodConfigError(
                    f"hyperpod.instance_groups[{index}]({group.name}).{key}",
                    "only used with orchestrator: eks (HyperPod documents it for EKS clusters; on Slurm this "
                    "library's lifecycle scripts configure the node)",
                )
    for key in ("autoscaler", "tiered_storage_memory_percent"):
        if getattr(config.hyperpod, key) is not None:
            raise HyperPodConfigError(f"hyperpod.{key}", "only used with orchestrator: eks")
    slurm_layout(groups)  # raises HyperPodConfigError naming the group and field


# Effects that keep pods without a matching toleration off a node (PreferNoSchedule does not).
_REPELLING_EFFECTS = ("NoSchedule", "NoExecute")


def system_pod_groups(groups: Sequence[InstanceGroup]) -> list[str]:
    """Groups whose nodes can run coredns, cert-manager and the operators as soon as they join.

    A group qualifies when it has at least one instance, runs no deep health checks and carries no
    NoSchedule/NoExecute taint. HyperPod taints a node ``sagemaker.amazonaws.com/node-health-status=
    Unschedulable:NoSchedule`` while its deep health checks run (and custom taints are refused on such
    groups), so accelerated groups with checks on are unschedulable for system pods during the first
    boot (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-resiliency-node-labels.html).
    """
    return [
        group.name
        for group in groups
        if group.instance_count >= 1
        and not group.effective_deep_health_checks
        and not any(taint.effect in _REPELLING_EFFECTS for taint in group.taints)
    ]


def check_offered(region: str, group: InstanceGroup, field: str) -> None:
    """Raise naming ``field`` when HyperPod does not offer the group's type in ``region``.

    Regions missing from the vendored list are not checked; a type with ``ips_per_node`` set is
    taken as newer than the list.
    """
    offered = offered_in(region)
    if offered is None or group.ips_per_node is not None:
        return
    for instance_type in group.candidate_types:
        if instance_type not in offered:
            raise HyperPodConfigError(
                field,
                f"{instance_type} is not offered by SageMaker HyperPod in {region}; pick another type or "
                "region (list: hyperpod_cdk/specs/data/hyperpod_instance_types.json)",
            )
