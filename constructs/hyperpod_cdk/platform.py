"""HyperPodPlatform: the whole HyperPod platform, EKS- or Slurm-orchestrated, from one config."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jsii
from aws_cdk import Annotations, CfnResource, RemovalPolicy, Tags
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.aws_eks_v2 import ICluster
from aws_cdk.aws_lambda import ILayerVersion
from constructs import Construct, IConstruct

from hyperpod_cdk._cdk_util import new_logs_key
from hyperpod_cdk.cluster.access_tunnel import EksAccessTunnel
from hyperpod_cdk.cluster.autoscaling_role import HyperPodAutoscalingRole
from hyperpod_cdk.cluster.eks import HyperPodEksCluster
from hyperpod_cdk.cluster.execution_role import HyperPodExecutionRole
from hyperpod_cdk.cluster.hyperpod import HyperPodCluster
from hyperpod_cdk.cluster.slurm import HyperPodSlurmCluster
from hyperpod_cdk.config import InstanceGroup, PlatformConfig
from hyperpod_cdk.config.signals import COST_TAG_KEY
from hyperpod_cdk.errors import HyperPodConfigError, typed_props
from hyperpod_cdk.kubernetes.addons.fsx_csi_driver import FsxCsiDriverAddon
from hyperpod_cdk.kubernetes.addons.kubernetes_addons import HyperPodKubernetesAddons
from hyperpod_cdk.kubernetes.helm_dependencies import HyperPodHelmDependencies
from hyperpod_cdk.kubernetes.manifests import HyperPodManifests
from hyperpod_cdk.kubernetes.readiness import HyperPodReadiness
from hyperpod_cdk.kubernetes.task_governance import HyperPodTaskGovernance
from hyperpod_cdk.lifecycle.lifecycle_scripts import FSX_LUSTRE_FILE, HyperPodLifecycleScripts
from hyperpod_cdk.monitoring.grafana_dashboards import HyperPodGrafanaDashboards
from hyperpod_cdk.monitoring.signals import HyperPodSignals
from hyperpod_cdk.monitoring.slurm_observability import HyperPodSlurmObservability
from hyperpod_cdk.network.endpoints import HyperPodEndpoints
from hyperpod_cdk.network.security_group import HyperPodSecurityGroup
from hyperpod_cdk.network.subnets import HyperPodEgress, HyperPodSubnets
from hyperpod_cdk.network.vpc import HyperPodNetwork
from hyperpod_cdk.platform_phases import access as access_phase
from hyperpod_cdk.platform_phases import eks as eks_phase
from hyperpod_cdk.platform_phases import network as network_phase
from hyperpod_cdk.platform_phases import slurm as slurm_phase
from hyperpod_cdk.platform_phases.checks import _check_platform_props, check_added_group
from hyperpod_cdk.storage.accounting_database import SlurmAccountingDatabase
from hyperpod_cdk.storage.fsx_lustre import HyperPodFsxLustre, ImportedFsxLustre
from hyperpod_cdk.storage.training_image_repository import TrainingImageRepository

#: Synth warning: an imported file system with a VPC this stack creates (EKS; on Slurm it is an error).
IMPORTED_FSX_ELSEWHERE_WARNING_ID = "hyperpod-cdk:imported-fsx-in-another-vpc"

# The storage.fsx settings that are HyperPodFsxLustre props of the same names.
_FSX_SETTINGS: set[str] = {
    "storage_capacity_gib",
    "per_unit_storage_throughput",
    "data_compression_type",
    "file_system_type_version",
    "automatic_backup_retention_days",
}


@jsii.implements(ec2.IConnectable)
@typed_props(check=_check_platform_props)
class HyperPodPlatform(Construct):
    """A complete SageMaker HyperPod platform inside your own stack, from a :class:`PlatformConfig`.

    Builds, in dependency order: the network (or uses yours), the node security group, KMS keys,
    an optional FSx for Lustre file system, the lifecycle scripts shipped with this library (at a
    content-hash S3 prefix), the execution role and the HyperPod cluster; on EKS also the control
    plane (or yours), the HyperPod Helm dependencies before the cluster, and the EKS add-ons and
    this library's Kubernetes charts after it. Every value is checked by the config model before
    anything is created (:class:`~hyperpod_cdk.errors.HyperPodConfigError`, one line naming the field).

    Bring your own (each also expressible in the config file as ``network.existing`` / ``eks.existing``):

    - ``vpc`` + ``hyperpod_subnets``: existing HyperPod subnets keyed by AZ ID (the keys must be
      ``config.network.availability_zone_ids``). The IP plan is checked against every subnet
      whose CIDR synth knows, with ``network.ip_headroom_percent``.
    - ``vpc`` + ``hyperpod_egress``: the platform adds the HyperPod subnets from
      ``network.hyperpod_cidr`` (a secondary CIDR block when outside the VPC's), routed out
      through the NAT gateway or route table you name.
    - ``eks_cluster``: an ``aws_eks_v2`` cluster imported with ``vpc`` and
      ``cluster_security_group_id`` (no kubectl provider is needed: the platform applies its
      manifests with its own handler). The node security group and the cluster's get rules to
      each other. Its authentication mode cannot be read at synth: ``hyperpod-cdk preflight`` checks it.

    Args:
        config: the validated platform config (:func:`~hyperpod_cdk.config.load_config`).
        vpc: an existing VPC. Default: a new one (``config.network``).
        hyperpod_subnets: existing HyperPod subnets by AZ ID. Default: created by the platform.
        control_plane_subnets: private subnets for the EKS control plane and the in-VPC
            installers. Default: the new VPC's, or ``vpc.private_subnets``.
        hyperpod_egress: the internet route for HyperPod subnets the platform adds to ``vpc``.
        eks_cluster: an existing EKS cluster (orchestrator eks). Default: a new one (``config.eks``).

    Attributes (every one exists on both orchestrators; "EKS" ones are None on Slurm, "Slurm" ones on EKS):
        config: the config it was built from.
        vpc, hyperpod_subnets (by AZ ID), control_plane_subnets, default_hyperpod_subnet: the network.
        network / created_hyperpod_subnets: what the platform created of it (None when it was yours).
        endpoints: the interface endpoints of a closed network, else None.
        node_security_group / security_group: the HyperPod node group (``connections`` is its IConnectable).
        logs_key, data_key: KMS keys (CloudWatch Logs; lifecycle bucket and EBS). volume_key: the EBS key,
            or None for an AWS owned key.
        fsx: the file system (``HyperPodFsxLustre`` or ``ImportedFsxLustre``, an IConnectable), else None.
        lifecycle (``lifecycle_bucket``), execution_role_construct (``execution_role``): scripts and role.
        cluster: the ``HyperPodCluster`` (EKS) or ``HyperPodSlurmCluster``; ``cluster_arn``, ``cluster_name``.
        accounting_database: Slurm's created accounting database, else None.
        controller_execution_role_construct: Slurm with accounting: the Controller group's own role (the
            only one that may read the database secret), else None.
        slurm_observability: Slurm metrics (AMP workspace, Grafana; ``slurm.observability``), else None.
        eks, eks_cluster, kubectl_layer, access_tunnel, image_repository, autoscaling_role, helm_dependencies,
            manifests, readiness, node_gate, cert_manager_gate, addons, fsx_csi_driver, task_governance,
            karpenter_manifest: EKS only (each None when its feature is off).
        grafana_dashboards, signals: observability and alerts when configured, else None.
        retained_for_file_system: resources kept on delete for a retained file system.

    Grants: :meth:`grant_describe`, :meth:`grant_node_operations` (scoped to the cluster ARN) and
    :meth:`grant_submit` (EKS teams).
    """

    # Every attribute exists on both orchestrators; what one of them has no use for is None there
    # (the class-level None, until a phase sets it).
    config: PlatformConfig
    logs_key: kms.Key
    network: HyperPodNetwork | None
    created_hyperpod_subnets: HyperPodSubnets | None
    vpc: ec2.IVpc
    hyperpod_subnets: dict[str, ec2.ISubnet]
    control_plane_subnets: list[ec2.ISubnet]
    node_security_group: HyperPodSecurityGroup
    #: Interface endpoints of a closed network (``network.closed``), else None.
    endpoints: HyperPodEndpoints | None = None
    #: The HyperPod node security group (also on the EKS control-plane ENIs and FSx).
    security_group: ec2.ISecurityGroup
    data_key: kms.Key
    #: The EBS volumes' customer managed key, or None for an AWS owned key: HyperPod accepts a
    #: customer managed key only in Continuous provisioning mode (config.customer_managed_ebs_key).
    volume_key: kms.IKey | None
    fsx: HyperPodFsxLustre | ImportedFsxLustre | None
    lifecycle: HyperPodLifecycleScripts
    #: The bucket holding the lifecycle scripts (retained on delete).
    lifecycle_bucket: s3.IBucket
    execution_role_construct: HyperPodExecutionRole
    #: The role HyperPod instances assume.
    execution_role: iam.IRole
    cluster: HyperPodCluster | HyperPodSlurmCluster
    #: ARN and name of the ``AWS::SageMaker::Cluster``.
    cluster_arn: str
    cluster_name: str
    accounting_database: SlurmAccountingDatabase | None = None
    controller_execution_role_construct: HyperPodExecutionRole | None = None
    slurm_observability: HyperPodSlurmObservability | None = None
    eks: HyperPodEksCluster | None = None
    eks_cluster: ICluster | None = None
    kubectl_layer: ILayerVersion | None = None
    #: The SSM port-forwarding instance to the private EKS endpoint (``eks.access_tunnel``), else None.
    access_tunnel: EksAccessTunnel | None = None
    #: EKS: the ECR repository for the training image (``kubernetes.examples.image_repository``), else None.
    image_repository: TrainingImageRepository | None = None
    autoscaling_role: HyperPodAutoscalingRole | None = None
    helm_dependencies: HyperPodHelmDependencies | None = None
    manifests: HyperPodManifests | None = None
    #: EKS: the readiness gates (None on Slurm, where CloudFormation waits for InService nodes).
    readiness: HyperPodReadiness | None = None
    node_gate: IConstruct | None = None
    cert_manager_gate: IConstruct | None = None
    addons: HyperPodKubernetesAddons | None = None
    fsx_csi_driver: FsxCsiDriverAddon | None = None
    task_governance: HyperPodTaskGovernance | None = None
    karpenter_manifest: IConstruct | None = None
    #: The HyperPod dashboards installed in the Grafana workspace (observability grafana: true), else None.
    grafana_dashboards: HyperPodGrafanaDashboards | None = None
    signals: HyperPodSignals | None
    #: Resources kept on stack delete because the retained file system's ENIs pin them.
    retained_for_file_system: list[CfnResource]

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        vpc: ec2.IVpc | None = None,
        hyperpod_subnets: Mapping[str, ec2.ISubnet] | None = None,
        control_plane_subnets: Sequence[ec2.ISubnet] | None = None,
        hyperpod_egress: HyperPodEgress | None = None,
        eks_cluster: ICluster | None = None,
    ) -> None:
        # typed_props has checked every prop (_check_platform_props: one line naming it) before this line.
        super().__init__(scope, construct_id)
        self.config = config
        hp = config.hyperpod
        for key, value in config.tags.items():
            Tags.of(self).add(key, value)

        # One key for every CloudWatch log group the platform owns (flow logs, EKS, installer); each
        # of them adds a key-policy statement for its own group, so no other group can use the key.
        self.logs_key = new_logs_key(self, f"HyperPod {hp.cluster_name}: CloudWatch Logs")
        network_phase.resolve_network(self, vpc, hyperpod_subnets, control_plane_subnets, hyperpod_egress)
        closed = config.network.closed
        self.node_security_group = HyperPodSecurityGroup(
            self, "NodeSecurityGroup", vpc=self.vpc, allow_internet_egress=not closed
        )
        self._network_ready: list[IConstruct] = []
        if closed:
            network_phase.add_endpoints(self)
        self.security_group = self.node_security_group.security_group
        # One key for the data HyperPod nodes touch: lifecycle scripts and instance EBS volumes.
        self.data_key = kms.Key(
            self,
            "DataKey",
            description=f"HyperPod {hp.cluster_name}: lifecycle bucket and EBS volumes",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.volume_key = self.data_key if config.customer_managed_ebs_key else None
        self.retained_for_file_system = []
        self.fsx = self._add_fsx()
        if config.orchestrator == "slurm":
            slurm_phase.build_slurm(self)
        else:
            eks_phase.build_eks(self, eks_cluster)
        self.lifecycle_bucket, self.execution_role = self.lifecycle.bucket, self.execution_role_construct.role
        self.cluster_arn, self.cluster_name = self.cluster.cluster_arn, self.cluster.cluster_name
        self.signals = self._add_signals()

    def _add_signals(self) -> HyperPodSignals | None:
        """Grafana dashboards; alerts topic, event rules, alarms, AMP alert rules and budget (config.alerts/cost)."""
        config = self.config
        if config.cost is not None:
            # The budget filters on this tag once it is activated for billing (docs/cost.md).
            Tags.of(self).add(COST_TAG_KEY, config.name)
        # The EKS observability add-on's workspaces (None on Slurm and without it).
        prometheus = self.addons.prometheus_workspace if self.addons is not None else None
        grafana = self.addons.grafana_workspace if self.addons is not None else None
        if grafana is not None and prometheus is not None:
            self.grafana_dashboards = HyperPodGrafanaDashboards(
                self,
                "GrafanaDashboards",
                grafana_workspace=grafana,
                prometheus_workspace=prometheus,
                log_key=self.logs_key,
            )
        if config.alerts is None:
            return None
        # FSx alarms for a file system created here only (an imported one has no resource or capacity here).
        created_fsx = self.fsx if self.fsx is not None and self.fsx.resource is not None else None
        signals = HyperPodSignals(
            self,
            "Signals",
            config=config,
            cluster_name=config.hyperpod.cluster_name,
            fsx_file_system_id=created_fsx.file_system_id if created_fsx is not None else None,
            fsx_storage_capacity_gib=created_fsx.storage_capacity_gib if created_fsx is not None else None,
            prometheus_workspace=prometheus,
        )
        if self.slurm_observability is not None:
            # Slurm alert rules and the alert manager route to the same topic (issue 20 item 6).
            self.slurm_observability.add_alert_rules(signals.alerts.topic)
        return signals

    # -- what a user needs next -------------------------------------------------------------

    @property
    def connections(self) -> ec2.Connections:
        """The node security group's connections (``ec2.IConnectable``).

        A property, not an attribute: aws-cdk-lib's own ``Connections`` calls read it from
        JavaScript through jsii, which sees properties only.
        """
        return self.node_security_group.connections

    def add_instance_group(self, group: InstanceGroup | Mapping[str, Any]) -> InstanceGroup:
        """Add an instance group to the cluster (before synth), checked as the config's groups are.

        EKS: the group joins the cluster. Slurm: it also joins ``slurm_nodes.json`` (legacy:
        ``provisioning_parameters.json``) with its role and partition; the file is rendered at synth into
        the lifecycle prefix every group boots from, so after synth a group is refused in one line.
        """
        return self.cluster.add_instance_group(check_added_group(self, group))

    def grant_describe(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` describe the HyperPod cluster, its nodes and events (cluster ARN only)."""
        return self.cluster.grant_describe(grantee)

    def grant_node_operations(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` list, describe, reboot, replace, update and deep-health-check the nodes,
        scoped to the cluster ARN (what ``hyperpod-cdk nodes`` and ``update-software`` call)."""
        return self.cluster.grant_node_operations(grantee)

    def grant_submit(self, grantee: iam.IRole, team: str) -> iam.Grant:
        """EKS: let ``grantee`` submit jobs as ``team`` (config ``kubernetes.teams``): an access entry to
        the team's Kubernetes group and ``eks:DescribeCluster`` for its kubeconfig."""
        return access_phase.grant_submit(self, grantee, team)

    # -- network ----------------------------------------------------------------------------

    @property
    def default_hyperpod_subnet(self) -> ec2.ISubnet:
        """The subnet of the first AZ ID: the cluster-level ``VpcConfig`` and FSx live there."""
        return self.hyperpod_subnets[self.config.network.availability_zone_ids[0]]

    # -- shared pieces ----------------------------------------------------------------------

    def _add_fsx(self) -> HyperPodFsxLustre | ImportedFsxLustre | None:
        """The shared file system: created next to the nodes of the default AZ, or imported."""
        cfg = self.config.storage.fsx
        if cfg is None:
            return None
        if cfg.imported:
            return self._import_fsx()
        file_system = HyperPodFsxLustre(
            self,
            "Fsx",
            subnet=self.default_hyperpod_subnet,
            security_group=self.security_group,
            retain=cfg.retain_on_delete,
            **cfg.model_dump(include=_FSX_SETTINGS),
        )
        if cfg.retain_on_delete:
            self._retain_network_of_file_system()
        return file_system

    def _import_fsx(self) -> ImportedFsxLustre:
        """An existing file system, opened to the nodes before the cluster is created.

        FSx for Lustre clients need TCP 988 and 1018-1023 open on the file system's security groups
        (https://docs.aws.amazon.com/fsx/latest/LustreGuide/limit-access-security-groups.html), and a file
        system in another VPC is reached only through peering or a transit gateway
        (https://docs.aws.amazon.com/fsx/latest/LustreGuide/mounting-on-premises.html). A VPC this stack
        creates is new, so a file system imported into it is always in another VPC (review round 19,
        R19P-M2: a kept file system imported into a redeploy of the same config).
        """
        cfg = self.config.storage.fsx
        assert cfg is not None and cfg.file_system_id and cfg.dns_name and cfg.mount_name
        if self.network is not None:
            problem = (
                f"{cfg.file_system_id} is in another VPC than the one this stack creates, so nodes cannot reach "
                "it (no peering); deploy into its VPC with network.existing and give storage.fsx.security_group_ids, "
                "or let the platform create the file system (remove file_system_id)"
            )
            # HyperPod mounts it on every Slurm node at creation; a rule naming the node group from another
            # VPC fails to create. On EKS, volumes mount later: peering added after the deploy can serve.
            if self.config.orchestrator == "slurm" or cfg.security_group_ids:
                raise HyperPodConfigError("storage.fsx.file_system_id", problem)
            Annotations.of(self).add_warning_v2(
                IMPORTED_FSX_ELSEWHERE_WARNING_ID, f"storage.fsx.file_system_id: {problem}"
            )
        groups = [
            ec2.SecurityGroup.from_security_group_id(
                self, f"FsxSecurityGroup{index}", group_id, allow_all_outbound=False
            )
            for index, group_id in enumerate(cfg.security_group_ids)
        ]
        file_system = HyperPodFsxLustre.from_attributes(
            self,
            "Fsx",
            file_system_id=cfg.file_system_id,
            dns_name=cfg.dns_name,
            mount_name=cfg.mount_name,
            security_groups=groups,
        )
        if groups:
            for port in (ec2.Port.tcp(988), ec2.Port.tcp_range(1018, 1023)):
                file_system.connections.allow_from(self.security_group, port, "Lustre from the HyperPod nodes")
            self._network_ready.extend(groups)  # the clusters and in-VPC handlers wait for the rules
        return file_system

    def _retain_network_of_file_system(self) -> None:
        """Keep what a retained file system's network interfaces sit in, so ``cdk destroy`` finishes.

        An FSx file system keeps its ENIs in its subnet with its security groups until it is deleted;
        while they exist EC2 refuses to delete that subnet, the security group, the secondary CIDR
        block holding the subnet and the VPC (``DependencyViolation``), and the stack would end in
        DELETE_FAILED. So these are retained with the file system (DeletionPolicy Retain) and
        CloudFormation leaves them in place; everything else is deleted. docs/deploy.md lists what
        stays and how to remove it once the file system is gone. (EC2: a subnet, security group or
        VPC still used by a network interface cannot be deleted,
        https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteSubnet.html and
        https://docs.aws.amazon.com/vpc/latest/userguide/delete-vpc.html.)
        """
        az_id = self.config.network.availability_zone_ids[0]
        retained: list[CfnResource] = []
        created = self.created_hyperpod_subnets
        if created is not None:
            retained.append(created.cfn_subnets[az_id])
            if created.cidr_block is not None:
                retained.append(created.cidr_block)
        # The node group and every rule of it (self traffic, Lustre 988 and 1018-1023): the file
        # system stays reachable from the group's members.
        retained.extend(self.node_security_group.retain())
        if self.network is not None:
            vpc = self.network.vpc.node.default_child
            assert isinstance(vpc, CfnResource)
            retained.append(vpc)
        for resource in retained:
            resource.apply_removal_policy(RemovalPolicy.RETAIN)
        self.retained_for_file_system = retained

    def _fsx_lustre_file(self) -> dict[str, Any]:
        """fsx_lustre.json next to the scripts: it tells on_create.sh to get the Lustre client ready
        (EFA, modules). In a closed network it also turns off the EFA client setup's download from
        docs.aws.amazon.com, which has no route there (Lustre then runs over TCP)."""
        if self.fsx is None:
            return {}
        return {
            FSX_LUSTRE_FILE: {
                "file_system_id": self.fsx.file_system_id,
                "dns_name": self.fsx.dns_name,
                "mount_name": self.fsx.mount_name,
                "efa_client_download": not self.config.network.closed,
                # The setup zip runs as root: only the one whose digest the config pins (else Lustre uses TCP).
                "efa_client_sha256": self.config.storage.fsx.efa_client_sha256 if self.config.storage.fsx else None,
            }
        }

    def _execution_role(
        self, *, eks_cluster: ICluster | None, construct_id: str = "ExecutionRole"
    ) -> HyperPodExecutionRole:
        return HyperPodExecutionRole(
            self,
            construct_id,
            vpc=self.vpc,
            subnets=list(self.hyperpod_subnets.values()),
            security_group=self.security_group,
            lifecycle_bucket=self.lifecycle.bucket,
            eks_cluster=eks_cluster,
            volume_key=self.volume_key,
        )

    def _cluster_props(self) -> dict[str, Any]:
        """What both cluster constructs take from the config and the shared resources."""
        hp = self.config.hyperpod
        return {
            "cluster_name": hp.cluster_name,
            "instance_groups": hp.instance_groups,
            "subnets_by_az_id": self.hyperpod_subnets,
            "default_az_id": self.config.network.availability_zone_ids[0],
            "security_group": self.security_group,
            # Typed: the cluster waits for the role and its policies itself.
            "execution_role": self.execution_role_construct.role,
            "lifecycle_scripts": self.lifecycle,
            "volume_key": self.volume_key,
            "node_recovery": hp.node_recovery,
            "tags": self.config.tags,
            "ip_headroom_percent": self.config.network.ip_headroom_percent,
        }

    # -- ordering behind readiness ----------------------------------------------------------

    def wait_for_nodes(self, *constructs: IConstruct) -> None:
        """Create ``constructs`` once a node that can host system pods is Ready.

        EKS: after the readiness gate (node + pod identity agent). Slurm: after the cluster, which
        CloudFormation reports created only once its nodes are InService.
        """
        gate: IConstruct = self.node_gate if self.node_gate is not None else self.cluster.resource
        for construct in constructs:
            construct.node.add_dependency(gate)

    def wait_for_cert_manager(self, *constructs: IConstruct) -> None:
        """Create ``constructs`` (cert-manager resources, add-ons that use it) once its webhook answers."""
        if self.cert_manager_gate is None:
            raise HyperPodConfigError(
                "kubernetes.addons.cert_manager",
                "the platform installs no cert-manager (EKS with kubernetes.addons.cert_manager.enabled only)",
                construct_path=self.node.path,
            )
        for construct in constructs:
            construct.node.add_dependency(self.cert_manager_gate)
