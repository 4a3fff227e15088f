"""HyperPodSlurmCluster: an ``AWS::SageMaker::Cluster`` orchestrated by Slurm.

How Slurm is provisioned: lifecycle scripts + ``provisioning_parameters.json``
-----------------------------------------------------------------------------
HyperPod documents two ways to tell a Slurm cluster which instance group is the controller,
which is the login group and which partition each compute group joins:

1. API-driven: ``Orchestrator.Slurm`` on the cluster and ``SlurmConfig {NodeType, PartitionNames}``
   on each instance group; HyperPod sets up Slurm and mounts FSx itself, and the lifecycle
   scripts keep only custom steps
   (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-slurm-api-config-migration.html).
2. Lifecycle scripts: no ``Orchestrator``, and a ``provisioning_parameters.json`` next to the
   scripts. HyperPod's cluster agent reads it and writes ``slurm.conf`` on the controller; every
   node runs Slurm configless (``slurmd --conf-server``), as AWS's own base configuration does
   (awslabs/awsome-distributed-ai ``1.architectures/5.sagemaker-hyperpod/LifecycleScripts/base-config``).

This construct uses (2), for these reasons (docs/slurm.md has the long form):

- (2) is the path AWS's Slurm templates and base scripts run; the scripts here do what those do
  (the controller waits for the agent's ``slurm.conf``, compute and login nodes fetch it), and a
  fake node that models what HyperPod provides per node type tests them offline.
- (1) needs a HyperPod AMI from January 2026 or later, cannot express multi-head controllers, and
  a cluster moved to it cannot move back.
- (1) is what Continuous provisioning needs on Slurm, and Continuous is the only mode that accepts
  a customer managed EBS key (https://docs.aws.amazon.com/sagemaker/latest/dg/smcluster-cmk.html);
  but no AWS source shows a customer managed key on a Slurm cluster, so (1) would not safely buy
  one. Slurm volumes use the AWS owned key; ``volume_key`` is refused.

The two are alternatives: with (1), ``provisioning_parameters.json`` must not be in the prefix
(CreateCluster fails otherwise). Switching later is a property change on this construct (the
layout is already computed) plus dropping the parameters file and the Slurm steps of the scripts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct, IConstruct

from hyperpod_cdk._cdk_util import depend_on
from hyperpod_cdk.cluster.hyperpod import NodeRecovery
from hyperpod_cdk.cluster.instance_groups import (
    DEFAULT_IP_HEADROOM_PERCENT,
    acknowledge_region_offerings,
    as_instance_group,
    check_cluster_props,
    check_deploy_inputs,
    cluster_tags,
    instance_group_property,
)
from hyperpod_cdk.config import InstanceGroup
from hyperpod_cdk.errors import HyperPodConfigError, checked_props
from hyperpod_cdk.specs.instance_types import Orchestrator
from hyperpod_cdk.specs.slurm import LustreAttributes, SlurmLayout, provisioning_parameters, slurm_layout


class HyperPodSlurmCluster(Construct):
    """A SageMaker HyperPod cluster whose nodes run Slurm, configured by lifecycle scripts.

    Node recovery is ``Automatic`` by default, the EBS volumes use an AWS owned key (HyperPod
    accepts a customer managed key only in Continuous provisioning mode, which needs API-driven
    Slurm), and deep health checks follow :attr:`InstanceGroup.effective_deep_health_checks`.

    Each :class:`InstanceGroup` says its Slurm role with ``slurm_node_type`` (``Controller``: one
    group of one instance; ``Login``: at most one group; ``Compute``: the default) and, for compute
    groups, its ``partition`` (default: the group name). :attr:`layout` is the checked result and
    :meth:`provisioning_parameters` the ``provisioning_parameters.json`` for it; upload that next to
    the scripts (``HyperPodLifecycleScripts(json_files=...)``). Passing the uploaded document as
    ``provisioning_parameters`` makes synth fail if it names other groups or partitions.

    Args:
        cluster_name: 1-63 letters, digits and hyphens.
        instance_groups: validated models with Slurm roles.
        subnets_by_az_id / default_az_id: as for :class:`~hyperpod_cdk.cluster.hyperpod.HyperPodCluster`.
        security_group: HyperPod node security group (also the FSx file system's group).
        execution_role_arn: instance execution role (no EKS grant needed).
        lifecycle_source_s3_uri / on_create: where the Slurm lifecycle scripts are.
        volume_key: must stay None (AWS owned key): HyperPod rejects a customer managed key outside
            Continuous provisioning mode, and this construct's lifecycle-script Slurm cannot use it.
        provisioning_parameters: the uploaded parameters document, checked against the groups.
        node_recovery: "Automatic" (default) or "None".
        tags: extra tags; ``SageMaker=true`` is always set.
        ip_headroom_percent: spare IPs each known subnet must keep above the nodes' (0-400).
            Default 25 (``network.ip_headroom_percent``).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster_name: str,
        instance_groups: Sequence[InstanceGroup | Mapping[str, Any]],
        subnets_by_az_id: Mapping[str, ec2.ISubnet],
        default_az_id: str,
        security_group: ec2.ISecurityGroup,
        execution_role_arn: str,
        lifecycle_source_s3_uri: str,
        volume_key: kms.IKey | None = None,
        on_create: str = "on_create.sh",
        provisioning_parameters: Mapping[str, Any] | None = None,
        node_recovery: NodeRecovery = "Automatic",
        tags: Mapping[str, str] | None = None,
        ip_headroom_percent: int = DEFAULT_IP_HEADROOM_PERCENT,
    ) -> None:
        with checked_props(scope, construct_id):
            groups = [as_instance_group(g, f"instance_groups[{i}]") for i, g in enumerate(instance_groups)]
            check_cluster_props(
                scope, cluster_name=cluster_name, groups=groups, subnets_by_az_id=subnets_by_az_id,
                default_az_id=default_az_id, node_recovery=node_recovery, orchestrator=Orchestrator.SLURM,
                ip_headroom_percent=ip_headroom_percent,
            )
            check_deploy_inputs(security_group, execution_role_arn, lifecycle_source_s3_uri)
            layout = slurm_layout(groups, field="instance_groups")
            if volume_key is not None:
                # https://docs.aws.amazon.com/sagemaker/latest/dg/smcluster-cmk.html: Continuous mode
                # only, which needs API-driven SlurmConfig; this construct uses lifecycle scripts.
                raise HyperPodConfigError(
                    "volume_key",
                    "HyperPod accepts a customer managed EBS key only in Continuous node provisioning mode, which "
                    "a lifecycle-script Slurm cluster cannot use; leave volume_key out (AWS owned key)",
                )
            if provisioning_parameters is not None:
                if not isinstance(provisioning_parameters, Mapping):
                    raise HyperPodConfigError(
                        "provisioning_parameters",
                        "expected the document (a mapping) HyperPodSlurmCluster.parameters_for gives",
                    )
                _check_parameters(provisioning_parameters, layout)
        super().__init__(scope, construct_id)
        self.layout: SlurmLayout = layout
        instance_groups = groups
        self.instance_groups = tuple(instance_groups)
        sg_ids = [security_group.security_group_id]

        def group_property(group: InstanceGroup) -> sagemaker.CfnCluster.ClusterInstanceGroupProperty:
            return instance_group_property(
                group,
                default_az_id=default_az_id, subnets_by_az_id=subnets_by_az_id, security_group_ids=sg_ids,
                execution_role_arn=execution_role_arn, lifecycle_source_s3_uri=lifecycle_source_s3_uri,
                on_create=on_create, volume_key=volume_key, kubernetes=False,
            )

        self.resource = sagemaker.CfnCluster(
            self, "Resource",
            cluster_name=cluster_name,
            # No Orchestrator: the lifecycle-script path (see the module docstring).
            vpc_config=sagemaker.CfnCluster.VpcConfigProperty(
                security_group_ids=sg_ids, subnets=[subnets_by_az_id[default_az_id].subnet_id]
            ),
            instance_groups=[group_property(g) for g in instance_groups],
            node_recovery=node_recovery,
            tags=cluster_tags(tags),
        )
        acknowledge_region_offerings(self.resource)

    def provisioning_parameters(self, fsx: LustreAttributes | None = None) -> dict[str, Any]:
        """``provisioning_parameters.json`` for this cluster's groups (and FSx file system)."""
        return provisioning_parameters(self.layout, fsx)

    @staticmethod
    def parameters_for(
        instance_groups: Sequence[InstanceGroup | Mapping[str, Any]], fsx: LustreAttributes | None = None
    ) -> dict[str, Any]:
        """The same document before the cluster exists (the scripts are uploaded first)."""
        groups = [as_instance_group(g, f"instance_groups[{i}]") for i, g in enumerate(instance_groups)]
        return provisioning_parameters(slurm_layout(groups, field="instance_groups"), fsx)

    def wait_for(self, *dependencies: IConstruct) -> None:
        """Create the cluster only after ``dependencies`` (the file system, the role policy, ...)."""
        depend_on(self.resource, dependencies)

    @property
    def cluster_arn(self) -> str:
        return self.resource.attr_cluster_arn

    @property
    def cluster_name(self) -> str:
        return self.resource.ref


def _check_parameters(document: Mapping[str, Any], layout: SlurmLayout) -> None:
    expected = provisioning_parameters(layout)
    for key in ("controller_group", "login_group", "worker_groups"):
        if document.get(key) != expected.get(key):
            raise HyperPodConfigError(
                f"provisioning_parameters.{key}",
                f"{document.get(key)!r} does not match the instance groups ({expected.get(key)!r}); "
                "generate the file with HyperPodSlurmCluster.parameters_for",
            )
