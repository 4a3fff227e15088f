"""HyperPodCluster: the ``AWS::SageMaker::Cluster`` orchestrated by EKS."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Literal, Unpack

import jsii
from aws_cdk import Annotations, Aspects, CfnResource, IAspect
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct, IConstruct

__all__ = ["HyperPodCluster", "IHyperPodCluster", "ImportedHyperPodCluster"]

from hyperpod_cdk._cdk_util import HELM_DEPENDENCIES_RESOURCE_TYPE
from hyperpod_cdk.cluster.cluster_base import (
    SHARED_CLUSTER_DEFAULTS,
    CreatedHyperPodCluster,
    IHyperPodCluster,
    ImportedHyperPodCluster,
    SharedClusterProps,
)
from hyperpod_cdk.cluster.cluster_base import (
    NodeRecovery as NodeRecovery,  # re-exported: it was defined here
)
from hyperpod_cdk.cluster.volume_key import allow_hyperpod_volume_encryption
from hyperpod_cdk.config import InstanceGroup
from hyperpod_cdk.errors import prop_error, typed_props
from hyperpod_cdk.specs.instance_types import Orchestrator
from hyperpod_cdk.specs.service_rules import ClusterFacts, check_cluster
from hyperpod_cdk.storage.fsx_lustre import IHyperPodFileSystem, LustreMount

NodeProvisioningMode = Literal["Continuous"]
Autoscaler = Literal["Karpenter"]
#: Warning id a user can acknowledge (``Annotations.of(cluster).acknowledge_warning(...)``).
HELM_WARNING_ID = "hyperpod-cdk:no-helm-dependencies"


@typed_props(defaults=SHARED_CLUSTER_DEFAULTS)
class HyperPodCluster(CreatedHyperPodCluster):
    """A SageMaker HyperPod cluster on an EKS control plane.

    Node recovery is ``Automatic`` and provisioning ``Continuous`` by default, every instance
    group's secondary EBS volume is encrypted with ``volume_key`` when one is given (HyperPod
    accepts a customer managed key only in Continuous mode; its key policy gets the statements
    of :mod:`hyperpod_cdk.cluster.volume_key`), and deep health checks follow
    :attr:`InstanceGroup.effective_deep_health_checks` (on for accelerated types).

    Checked before anything is created (:class:`~hyperpod_cdk.errors.HyperPodConfigError` naming
    this construct's path and the prop): names, AZs, that HyperPod offers every instance type in
    the stack's region (when the region is known), and that every subnet whose CIDR is known holds
    its groups' nodes at the IPs per node of HyperPod on EKS (81 per ``ml.p5.48xlarge``).

    The cluster waits for everything passed to :meth:`wait_for`: the EKS add-ons and the HyperPod
    Helm dependencies (HyperPod rejects a cluster whose EKS side is missing them: "missing required
    dependencies"). A cluster that waits for no ``HyperPodHelmDependencies`` gets a synth warning
    unless ``assume_helm_installed=True`` says they were installed another way.

    Args:
        cluster_name, instance_groups, subnets_by_az_id, default_az_id, security_group, execution_role,
            lifecycle_scripts, volume_key, on_create, node_recovery, ip_headroom_percent: the props both
            cluster constructs take, :class:`~hyperpod_cdk.cluster.cluster_base.SharedClusterProps`.
        eks_cluster: the orchestrator (``eks.ICluster``). ``eks_cluster_arn`` (a string) is its
            deprecated form, kept for one release.
        node_provisioning_mode: Default ``"Continuous"``; None for the classic mode.
        tags: extra tags; ``SageMaker=true`` is always set. Default none.
        assume_helm_installed: the HyperPod Helm chart was installed outside this app. Default False.
        autoscaler: ``"Karpenter"`` turns on HyperPod's managed Karpenter (``AutoScaling``) for the
            ``autoscale`` groups; needs ``cluster_role_arn``, Continuous provisioning and Automatic
            node recovery. Default None (no autoscaling).
        cluster_role: the role the autoscaler assumes (:class:`HyperPodAutoscalingRole` ``.role``);
            the cluster waits for it. ``cluster_role_arn`` is its deprecated string form.
        tiered_storage_memory_percent: turn on managed tiered checkpointing with this share of
            node memory (20-100). Default None (off).
        fsx: the file system (``IHyperPodFileSystem`` or ``LustreMount``) of ``fsx_mounts`` entries
            without their own mount. Default none. ``platform_fsx`` (DNS name, mount name) is its
            deprecated form.
    """

    ORCHESTRATOR = Orchestrator.EKS
    DEPRECATED_FORMS = (
        *CreatedHyperPodCluster.DEPRECATED_FORMS,
        ("eks_cluster", "eks_cluster_arn"),
        ("cluster_role", "cluster_role_arn"),
        ("fsx", "platform_fsx"),
    )

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        eks_cluster: eks.ICluster | None = None,
        cluster_role: iam.IRole | None = None,
        fsx: IHyperPodFileSystem | LustreMount | None = None,
        eks_cluster_arn: str | None = None,
        node_provisioning_mode: NodeProvisioningMode | None = "Continuous",
        tags: Mapping[str, str] | None = None,
        assume_helm_installed: bool = False,
        autoscaler: Autoscaler | None = None,
        cluster_role_arn: str | None = None,
        tiered_storage_memory_percent: int | None = None,
        platform_fsx: tuple[str, str] | None = None,
        **shared: Unpack[SharedClusterProps],
    ) -> None:
        props = self._check_props(scope, construct_id, shared, locals())  # locals(): still the arguments only
        node_recovery, volume_key = props.node_recovery, props.volume_key
        # The typed props, or their deprecated string forms (both at once: refused by _check_props).
        eks_cluster_arn = eks_cluster.cluster_arn if eks_cluster is not None else eks_cluster_arn
        if eks_cluster_arn is None:
            raise prop_error(scope, construct_id, "eks_cluster", "required (the EKS cluster HyperPod orchestrates)")
        cluster_role_arn = cluster_role.role_arn if cluster_role is not None else cluster_role_arn
        if fsx is not None:
            if not hasattr(fsx, "dns_name") or not hasattr(fsx, "mount_name"):
                raise prop_error(scope, construct_id, "fsx", "expected an IHyperPodFileSystem or a LustreMount")
            platform_fsx = (fsx.dns_name, fsx.mount_name)
        if node_provisioning_mode not in ("Continuous", None):
            raise prop_error(scope, construct_id, "node_provisioning_mode", "must be 'Continuous' or None")
        check_scaling = functools.partial(
            _check_scaling_props,
            scope,
            construct_id,
            autoscaler=autoscaler,
            cluster_role_arn=cluster_role_arn,
            node_provisioning_mode=node_provisioning_mode,
            node_recovery=node_recovery,
            tiered_storage_memory_percent=tiered_storage_memory_percent,
        )
        check_scaling(groups=props.groups)
        for violation in check_cluster(
            ClusterFacts(
                node_provisioning_mode=node_provisioning_mode,
                node_recovery=node_recovery,
                orchestrator="eks",
                customer_managed_key=volume_key is not None,
            )
        ):
            raise prop_error(scope, construct_id, _PROPS[violation.subject], violation.line(_PROPS))
        super().__init__(scope, construct_id)
        self._create_resource(
            scope,
            construct_id,
            props,
            render=lambda group: props.group_property(group, platform_fsx=platform_fsx),
            check=lambda groups: check_scaling(groups=groups),
            tags=tags,
            orchestrator=sagemaker.CfnCluster.OrchestratorProperty(
                eks=sagemaker.CfnCluster.ClusterOrchestratorEksConfigProperty(cluster_arn=eks_cluster_arn)
            ),
            node_provisioning_mode=node_provisioning_mode,
            # https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-autoscaling-cluster.html
            auto_scaling=sagemaker.CfnCluster.ClusterAutoScalingConfigProperty(
                mode="Enable", auto_scaler_type=autoscaler
            )
            if autoscaler
            else None,
            cluster_role=cluster_role_arn if autoscaler else None,
            # Managed tiered checkpointing: HyperPod runs a memory daemon on every node.
            # https://docs.aws.amazon.com/sagemaker/latest/dg/managed-tier-checkpointing-setup.html
            tiered_storage_config=sagemaker.CfnCluster.TieredStorageConfigProperty(
                mode="Enable", instance_memory_allocation_percentage=tiered_storage_memory_percent
            )
            if tiered_storage_memory_percent is not None
            else None,
        )
        self.autoscaler = autoscaler
        self.assume_helm_installed = assume_helm_installed
        #: The customer managed key of the EBS volumes (None: AWS owned key). Fixed at creation.
        self.volume_key = volume_key
        if volume_key is not None:
            allow_hyperpod_volume_encryption(volume_key, props.deploy.execution_role_arn)
        Aspects.of(self).add(_HelmDependenciesCheck(self))
        if cluster_role is not None:
            self.wait_for(cluster_role)


def _check_scaling_props(
    scope: Construct,
    construct_id: str,
    *,
    groups: Sequence[InstanceGroup],
    autoscaler: str | None,
    cluster_role_arn: str | None,
    node_provisioning_mode: str | None,
    node_recovery: str,
    tiered_storage_memory_percent: int | None,
) -> None:
    """The autoscaling and tiered-storage props, as the HyperPod docs require them (one line naming the prop)."""
    scaled = [(i, g) for i, g in enumerate(groups) if g.autoscale]
    if autoscaler is None:
        if scaled:
            index, group = scaled[0]
            raise prop_error(
                scope, construct_id, f"instance_groups[{index}]({group.name}).autoscale", "needs autoscaler='Karpenter'"
            )
        if cluster_role_arn is not None:
            raise prop_error(scope, construct_id, "cluster_role_arn", "only used with autoscaler='Karpenter'")
    elif autoscaler != "Karpenter":
        raise prop_error(scope, construct_id, "autoscaler", f"'{autoscaler}' must be 'Karpenter' or None")
    # HyperPod's own rules (Karpenter prerequisites, tiered storage): specs/service_rules.py.
    for violation in check_cluster(
        ClusterFacts(
            node_provisioning_mode=node_provisioning_mode,
            node_recovery=node_recovery,
            orchestrator="eks",
            autoscaler=autoscaler,
            has_cluster_role=bool(cluster_role_arn),
            tiered_storage_memory_percent=tiered_storage_memory_percent,
        )
    ):
        raise prop_error(scope, construct_id, _PROPS[violation.subject], violation.line(_PROPS))


# The construct's prop for each subject of specs/service_rules.py.
_PROPS = {
    "node_provisioning_mode": "node_provisioning_mode",
    "node_recovery": "node_recovery",
    "cluster_role": "cluster_role_arn",
    "orchestrator": "autoscaler",
    "volume_key": "volume_key",
    "accounting_database": "accounting_database",
    "autoscaler": "autoscaler",
    "tiered_storage_memory_percent": "tiered_storage_memory_percent",
}


@jsii.implements(IAspect)
class _HelmDependenciesCheck:
    """At synth: warn when an EKS HyperPod cluster waits for no HyperPod Helm dependencies."""

    def __init__(self, cluster: HyperPodCluster) -> None:
        self.cluster = cluster

    def visit(self, node: IConstruct) -> None:
        if node.node.path != self.cluster.node.path or self.cluster.assume_helm_installed:
            return
        for dependency in self.cluster.resource.node.dependencies:
            for child in dependency.node.find_all():
                if isinstance(child, CfnResource) and (
                    getattr(child, "cfn_resource_type", None) == HELM_DEPENDENCIES_RESOURCE_TYPE
                ):
                    return
        Annotations.of(self.cluster).add_warning_v2(
            HELM_WARNING_ID,
            "this HyperPod cluster waits for no HyperPodHelmDependencies: HyperPod refuses an EKS cluster "
            "without the HyperPod Helm chart ('missing required dependencies'). Pass the installer to "
            "wait_for(), or set assume_helm_installed=True if the chart is installed another way.",
        )
