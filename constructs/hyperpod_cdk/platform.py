"""HyperPodPlatform: the whole HyperPod platform, EKS- or Slurm-orchestrated, from one config."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import cdk8s
import jsii
from aws_cdk import Annotations, CfnResource, Duration, RemovalPolicy, Stack, Tags, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct, IConstruct

from hyperpod_cdk._cdk_util import cluster_attribute, new_logs_key
from hyperpod_cdk.cluster.access_tunnel import EksAccessTunnel
from hyperpod_cdk.cluster.autoscaling_role import HyperPodAutoscalingRole
from hyperpod_cdk.cluster.eks import HyperPodEksCluster
from hyperpod_cdk.cluster.execution_role import HyperPodExecutionRole
from hyperpod_cdk.cluster.hyperpod import HyperPodCluster
from hyperpod_cdk.cluster.imported_eks import ImportedEksCluster, warn_unverifiable_cluster
from hyperpod_cdk.cluster.instance_groups import subnet_cidr
from hyperpod_cdk.cluster.kubectl import kubectl_layer, warn_about_support
from hyperpod_cdk.cluster.slurm import FSX_MOUNT_PATH, AccountingDatabase, HyperPodSlurmCluster
from hyperpod_cdk.config import PlatformConfig, group_demands, plan_for_config
from hyperpod_cdk.config.charts import FsxVolume
from hyperpod_cdk.config.signals import COST_TAG_KEY
from hyperpod_cdk.errors import HyperPodConfigError, check_prop_types, checked_props, prop_error
from hyperpod_cdk.kubernetes.addons.base import POD_IDENTITY_AGENT
from hyperpod_cdk.kubernetes.addons.fsx_csi_driver import FsxCsiDriverAddon
from hyperpod_cdk.kubernetes.addons.kubernetes_addons import HyperPodKubernetesAddons
from hyperpod_cdk.kubernetes.charts.cert_manager_chart import CertManagerIssuersChart
from hyperpod_cdk.kubernetes.charts.example_jobs import FSDP_REPOSITORY
from hyperpod_cdk.kubernetes.charts.karpenter_chart import NODE_CLASS_CRD, KarpenterChart
from hyperpod_cdk.kubernetes.charts.operator_chart import HyperPodOperatorChart
from hyperpod_cdk.kubernetes.charts.storage_class_chart import FsxStorageClassChart
from hyperpod_cdk.kubernetes.helm_dependencies import HyperPodHelmDependencies
from hyperpod_cdk.kubernetes.manifests import HyperPodManifests
from hyperpod_cdk.kubernetes.readiness import HyperPodReadiness
from hyperpod_cdk.kubernetes.task_governance import HyperPodTaskGovernance
from hyperpod_cdk.lifecycle.lifecycle_scripts import FSX_LUSTRE_FILE, HyperPodLifecycleScripts, bundled_scripts
from hyperpod_cdk.monitoring.grafana_dashboards import HyperPodGrafanaDashboards
from hyperpod_cdk.monitoring.signals import HyperPodSignals
from hyperpod_cdk.monitoring.slurm_observability import slurm_observability_files, slurm_observability_for
from hyperpod_cdk.network.endpoints import HyperPodEndpoints
from hyperpod_cdk.network.security_group import HyperPodSecurityGroup
from hyperpod_cdk.network.subnets import HyperPodEgress, HyperPodSubnets
from hyperpod_cdk.network.vpc import HyperPodNetwork
from hyperpod_cdk.specs.instance_types import Orchestrator
from hyperpod_cdk.specs.network_plan import plan_existing_subnets
from hyperpod_cdk.specs.slurm import (
    PROVISIONING_PARAMETERS_FILE,
    SLURM_NODES_FILE,
    provisioning_parameters,
    slurm_nodes,
)
from hyperpod_cdk.storage.accounting_database import SlurmAccountingDatabase
from hyperpod_cdk.storage.fsx_lustre import HyperPodFsxLustre
from hyperpod_cdk.storage.training_image_repository import TrainingImageRepository


@jsii.implements(ec2.IConnectable)
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
    """

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
        eks_cluster: eks.ICluster | None = None,
    ) -> None:
        _check_platform_props(
            scope, construct_id, config=config, vpc=vpc, hyperpod_subnets=hyperpod_subnets,
            control_plane_subnets=control_plane_subnets, hyperpod_egress=hyperpod_egress, eks_cluster=eks_cluster,
        )
        super().__init__(scope, construct_id)
        self.config = config
        hp = config.hyperpod
        for key, value in config.tags.items():
            Tags.of(self).add(key, value)

        # One key for every CloudWatch log group the platform owns (flow logs, EKS, installer); each
        # of them adds a key-policy statement for its own group, so no other group can use the key.
        self.logs_key = new_logs_key(self, f"HyperPod {hp.cluster_name}: CloudWatch Logs")
        self._resolve_network(vpc, hyperpod_subnets, control_plane_subnets, hyperpod_egress)
        closed = config.network.closed
        self.node_security_group = HyperPodSecurityGroup(
            self, "NodeSecurityGroup", vpc=self.vpc, allow_internet_egress=not closed
        )
        #: Interface endpoints of a closed network (``network.closed``), else None.
        self.endpoints: HyperPodEndpoints | None = None
        self._network_ready: list[IConstruct] = []
        if closed:
            self._add_endpoints()
        #: The HyperPod node security group (also on the EKS control-plane ENIs and FSx).
        self.security_group: ec2.ISecurityGroup = self.node_security_group.security_group
        # One key for the data HyperPod nodes touch: lifecycle scripts and instance EBS volumes.
        self.data_key = kms.Key(
            self, "DataKey",
            description=f"HyperPod {hp.cluster_name}: lifecycle bucket and EBS volumes",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        #: The EBS volumes' customer managed key, or None for an AWS owned key: HyperPod accepts a
        #: customer managed key only in Continuous provisioning mode (config.customer_managed_ebs_key).
        self.volume_key: kms.IKey | None = self.data_key if config.customer_managed_ebs_key else None
        self.fsx = self._add_fsx()
        self.eks: HyperPodEksCluster | None = None
        #: The SSM port-forwarding instance to the private EKS endpoint (``eks.access_tunnel``), else None.
        self.access_tunnel: EksAccessTunnel | None = None
        #: EKS: the ECR repository for the training image (``kubernetes.examples.image_repository``), else None.
        self.image_repository: TrainingImageRepository | None = None
        self.eks_cluster: eks.ICluster | None = None
        self.helm_dependencies: HyperPodHelmDependencies | None = None
        self.addons: HyperPodKubernetesAddons | None = None
        self.fsx_csi_driver: FsxCsiDriverAddon | None = None
        #: EKS: the readiness gates (None on Slurm, where CloudFormation waits for InService nodes).
        self.readiness: HyperPodReadiness | None = None
        self.node_gate: IConstruct | None = None
        self.cert_manager_gate: IConstruct | None = None
        self.retained_for_file_system: list[CfnResource] = []
        self.task_governance: HyperPodTaskGovernance | None = None
        if config.orchestrator == "slurm":
            self._build_slurm()
        else:
            self._build_eks(eks_cluster)
        self.signals = self._add_signals()

    def _add_signals(self) -> HyperPodSignals | None:
        """Grafana dashboards; alerts topic, event rules, alarms, AMP alert rules and budget (config.alerts/cost)."""
        config = self.config
        if config.cost is not None:
            # The budget filters on this tag once it is activated for billing (docs/cost.md).
            Tags.of(self).add(COST_TAG_KEY, config.name)
        #: The HyperPod dashboards installed in the Grafana workspace (observability grafana: true), else None.
        self.grafana_dashboards: HyperPodGrafanaDashboards | None = None
        addons = self.addons
        if addons is not None and addons.grafana_workspace is not None and addons.prometheus_workspace is not None:
            self.grafana_dashboards = HyperPodGrafanaDashboards(
                self, "GrafanaDashboards", grafana_workspace=addons.grafana_workspace,
                prometheus_workspace=addons.prometheus_workspace, log_key=self.logs_key,
            )
        if config.alerts is None:
            return None
        created_fsx = self.fsx is not None and self.fsx.resource is not None
        signals = HyperPodSignals(
            self, "Signals",
            config=config,
            cluster_name=config.hyperpod.cluster_name,
            fsx_file_system_id=self.fsx.file_system_id if self.fsx is not None and created_fsx else None,
            fsx_storage_capacity_gib=self.fsx.storage_capacity_gib if self.fsx is not None and created_fsx else None,
            prometheus_workspace=self.addons.prometheus_workspace if self.addons is not None else None,
        )
        slurm_observability = getattr(self, "slurm_observability", None)
        if slurm_observability is not None:
            # Slurm alert rules and the alert manager route to the same topic (issue 20 item 6).
            slurm_observability.add_alert_rules(signals.alerts.topic)
        return signals

    # -- what a user needs next -------------------------------------------------------------

    @property
    def connections(self) -> ec2.Connections:
        """The node security group's connections (``ec2.IConnectable``).

        A property, not an attribute: aws-cdk-lib's own ``Connections`` calls read it from
        JavaScript through jsii, which sees properties only.
        """
        return self.node_security_group.connections

    @property
    def cluster_arn(self) -> str:
        """ARN of the ``AWS::SageMaker::Cluster``."""
        return self.cluster.cluster_arn

    @property
    def cluster_name(self) -> str:
        """Name of the ``AWS::SageMaker::Cluster``."""
        return self.cluster.cluster_name

    @property
    def execution_role(self) -> iam.IRole:
        """The role HyperPod instances assume."""
        return self.execution_role_construct.role

    @property
    def lifecycle_bucket(self) -> s3.IBucket:
        """The bucket holding the lifecycle scripts (retained on delete)."""
        return self.lifecycle.bucket

    # -- network ----------------------------------------------------------------------------

    def _resolve_network(
        self,
        vpc: ec2.IVpc | None,
        hyperpod_subnets: Mapping[str, ec2.ISubnet] | None,
        control_plane_subnets: Sequence[ec2.ISubnet] | None,
        hyperpod_egress: HyperPodEgress | None,
    ) -> None:
        config = self.config
        net = config.network
        existing = net.existing
        self.network: HyperPodNetwork | None = None
        #: The HyperPod subnets this platform created (None when they already existed).
        self.created_hyperpod_subnets: HyperPodSubnets | None = None
        if vpc is None and existing is None:
            self.network = HyperPodNetwork.from_config(self, "Network", config, log_key=self.logs_key)
            self.vpc: ec2.IVpc = self.network.vpc
            self.hyperpod_subnets: dict[str, ec2.ISubnet] = dict(self.network.hyperpod_subnets)
            self.control_plane_subnets: list[ec2.ISubnet] = list(self.network.control_plane_subnets)
            self.created_hyperpod_subnets = self.network.hyperpod
            return
        if vpc is None:
            assert existing is not None
            # fromVpcAttributes wants AZs only to group the subnet IDs it is given; every subnet is
            # imported on its own below, so the configured AZ IDs stand in and no lookup is needed.
            vpc = ec2.Vpc.from_vpc_attributes(
                self, "Vpc", vpc_id=existing.vpc_id, vpc_cidr_block=str(existing.vpc_cidr),
                availability_zones=list(net.availability_zone_ids),
            )
            control_plane_subnets = [
                ec2.Subnet.from_subnet_id(self, f"ControlPlaneSubnet{i}", subnet_id)
                for i, subnet_id in enumerate(existing.control_plane_subnet_ids)
            ]
            if existing.hyperpod_subnets:
                hyperpod_subnets = {
                    az_id: ec2.Subnet.from_subnet_attributes(
                        self, f"HyperPodSubnet{az_id.replace('-', '')}",
                        subnet_id=subnet.subnet_id, ipv4_cidr_block=str(subnet.cidr),
                    )
                    for az_id, subnet in existing.hyperpod_subnets.items()
                }
            else:
                hyperpod_egress = HyperPodEgress(
                    nat_gateway_id=existing.nat_gateway_id, route_table_id=existing.route_table_id
                )
        self.vpc = vpc
        self.control_plane_subnets = list(control_plane_subnets) if control_plane_subnets is not None else list(
            vpc.private_subnets
        )
        if hyperpod_subnets is not None:
            self.hyperpod_subnets = {az: hyperpod_subnets[az] for az in net.availability_zone_ids}
            return
        assert hyperpod_egress is not None  # checked in _check_platform_props
        primary = str(existing.vpc_cidr) if existing is not None else None
        with checked_props(self, "Network"):
            subnets = HyperPodSubnets(
                self, "Network",
                vpc=vpc, subnet_plans=plan_for_config(config), hyperpod_cidr=str(net.hyperpod_cidr),
                egress=hyperpod_egress, vpc_cidr=primary,
            )
        self.hyperpod_subnets = dict(subnets.subnets)
        self.created_hyperpod_subnets = subnets

    def _add_endpoints(self) -> None:
        """A closed network: interface endpoints, and node egress to them and to S3 only (no 0.0.0.0/0)."""
        net = self.config.network
        self.endpoints = HyperPodEndpoints.for_config(
            self, "Endpoints", self.config, vpc=self.vpc, subnets=self.control_plane_subnets
        )
        sg = self.node_security_group
        rules: list[IConstruct] = [self.endpoints]
        rules.append(sg.allow_https_egress(
            "EndpointEgressPrimary", cidr=str(net.vpc_cidr), description="HTTPS to the VPC endpoints (primary CIDR)"
        ))
        if net.hyperpod_cidr_is_secondary:
            rules.append(sg.allow_https_egress(
                "EndpointEgressHyperPod", cidr=str(net.hyperpod_cidr),
                description="HTTPS inside the HyperPod CIDR (endpoints and services there)",
            ))
        rules.append(sg.allow_https_egress(
            "S3GatewayEgress", prefix_list_id=self.endpoints.s3_prefix_list_id,
            description="HTTPS to S3 through the gateway endpoint (lifecycle scripts, image layers)",
        ))
        # Everything that calls AWS from inside the VPC at deploy time waits for these.
        self._network_ready = rules

    @property
    def default_hyperpod_subnet(self) -> ec2.ISubnet:
        """The subnet of the first AZ ID: the cluster-level ``VpcConfig`` and FSx live there."""
        return self.hyperpod_subnets[self.config.network.availability_zone_ids[0]]

    # -- shared pieces ----------------------------------------------------------------------

    def _add_fsx(self) -> HyperPodFsxLustre | None:
        """The shared file system: created next to the nodes of the default AZ, or imported."""
        cfg = self.config.storage.fsx
        if cfg is None:
            return None
        if cfg.imported:
            assert cfg.file_system_id and cfg.dns_name and cfg.mount_name
            return HyperPodFsxLustre.from_attributes(
                self, "Fsx", file_system_id=cfg.file_system_id, dns_name=cfg.dns_name, mount_name=cfg.mount_name
            )
        file_system = HyperPodFsxLustre(
            self, "Fsx",
            subnet=self.default_hyperpod_subnet,
            security_group=self.security_group,
            storage_capacity_gib=cfg.storage_capacity_gib,
            per_unit_storage_throughput=cfg.per_unit_storage_throughput,
            data_compression_type=cfg.data_compression_type,
            file_system_type_version=cfg.file_system_type_version,
            automatic_backup_retention_days=cfg.automatic_backup_retention_days,
            retain=cfg.retain_on_delete,
        )
        if cfg.retain_on_delete:
            self._retain_network_of_file_system()
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
        #: Resources kept on stack delete because the retained file system's ENIs pin them.
        self.retained_for_file_system = retained

    def _fsx_lustre_file(self) -> dict[str, Any]:
        """fsx_lustre.json next to the scripts: it tells on_create.sh to get the Lustre client ready
        (EFA, modules). In a closed network it also turns off the EFA client setup's download from
        docs.aws.amazon.com, which has no route there (Lustre then runs over TCP)."""
        if self.fsx is None:
            return {}
        return {FSX_LUSTRE_FILE: {
            "file_system_id": self.fsx.file_system_id,
            "dns_name": self.fsx.dns_name,
            "mount_name": self.fsx.mount_name,
            "efa_client_download": not self.config.network.closed,
            # The setup zip runs as root: only the one whose digest the config pins (else Lustre uses TCP).
            "efa_client_sha256": self.config.storage.fsx.efa_client_sha256 if self.config.storage.fsx else None,
        }}

    def _execution_role(self, *, eks_cluster_arn: str | None) -> HyperPodExecutionRole:
        return HyperPodExecutionRole(
            self, "ExecutionRole",
            vpc=self.vpc,
            subnets=list(self.hyperpod_subnets.values()),
            security_group=self.security_group,
            lifecycle_bucket=self.lifecycle.bucket,
            eks_cluster_arn=eks_cluster_arn,
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
            "execution_role_arn": self.execution_role_construct.role_arn,
            "lifecycle_source_s3_uri": self.lifecycle.source_s3_uri,
            "on_create": self.lifecycle.on_create,
            "volume_key": self.volume_key,
            "node_recovery": hp.node_recovery,
            "tags": self.config.tags,
            "ip_headroom_percent": self.config.network.ip_headroom_percent,
        }

    # -- Slurm ------------------------------------------------------------------------------

    def _build_slurm(self) -> None:
        """Slurm scripts, role, accounting database and cluster; API-driven unless the config says legacy."""
        settings = self.config.slurm
        layout = self.config.slurm_layout
        parameters: dict[str, Any] | None = None
        #: Slurm metrics (slurm.observability: AMP workspace, Grafana), else None.
        self.slurm_observability = slurm_observability_for(self, self.config)
        if settings.api_driven:
            # HyperPod mounts FSx (InstanceStorageConfigs) and writes slurm.conf (SlurmConfig); the prefix
            # holds the custom steps and slurm_nodes.json, never provisioning_parameters.json.
            self.lifecycle = HyperPodLifecycleScripts(
                self, "LifecycleScripts",
                source_dir=bundled_scripts("slurm_api"),
                shared_dirs=[bundled_scripts("common")],
                encryption_key=self.data_key,
                log_key=self.logs_key,
                json_files={SLURM_NODES_FILE: slurm_nodes(
                    layout, FSX_MOUNT_PATH if self.fsx else None, [u.model_dump() for u in settings.users],
                    settings.containers.model_dump(),
                ), **slurm_observability_files(self.slurm_observability)},
            )
        else:
            parameters = provisioning_parameters(layout, self.fsx.mount if self.fsx else None)
            self.lifecycle = HyperPodLifecycleScripts(
                self, "LifecycleScripts",
                source_dir=bundled_scripts("slurm"),
                shared_dirs=[bundled_scripts("common")],
                encryption_key=self.data_key,
                log_key=self.logs_key,
                json_files={PROVISIONING_PARAMETERS_FILE: parameters, **self._fsx_lustre_file()},
            )
        # No eks-auth grant (no EKS).
        self.execution_role_construct = self._execution_role(eks_cluster_arn=None)
        if self.fsx is not None:
            self.execution_role_construct.allow_lustre_client()
        if self.slurm_observability is not None:
            self.slurm_observability.grant_remote_write(self.execution_role_construct.role)
        accounting = self._slurm_accounting()
        mode_props: dict[str, Any] = {"configuration": settings.configuration}
        if settings.api_driven:
            mode_props.update(
                config_strategy=settings.config_strategy,
                fsx=self.fsx.mount if self.fsx else None,
                node_provisioning_mode=self.config.node_provisioning_mode,
                accounting_database=accounting,
            )
        else:
            mode_props["provisioning_parameters"] = parameters
        self.cluster: HyperPodCluster | HyperPodSlurmCluster = HyperPodSlurmCluster(
            self, "HyperPod", **mode_props, **self._cluster_props()
        )
        # Nodes use every policy of the role from their first boot (ENIs, the lifecycle bucket and
        # its key, the Lustre checks): the cluster waits for all of them, and mounts the file system.
        self.cluster.wait_for(self.execution_role_construct, *self._network_ready)
        if self.fsx is not None and self.fsx.resource is not None:
            self.cluster.wait_for(self.fsx.resource)
        if self.accounting_database is not None:
            # slurmdbd on the controller connects at first boot.
            self.cluster.wait_for(self.accounting_database.resource)

    def _slurm_accounting(self) -> AccountingDatabase | None:
        """Create (``slurm.accounting.enabled``) or import the external accounting database."""
        #: The created accounting database (None when imported or not configured).
        self.accounting_database: SlurmAccountingDatabase | None = None
        cfg = self.config.slurm.accounting
        if cfg.enabled:
            azs = {s.availability_zone for s in self.control_plane_subnets}
            subnets = self.control_plane_subnets if len(azs) >= 2 else list(self.hyperpod_subnets.values())
            self.accounting_database = SlurmAccountingDatabase(
                self, "SlurmAccounting",
                vpc=self.vpc, subnets=subnets, node_security_group=self.security_group,
                encryption_key=self.data_key, instance_type=cfg.instance_type,
                allocated_storage_gib=cfg.allocated_storage_gib, backup_retention_days=cfg.backup_retention_days,
            )
            for ready in self._network_ready:
                self.accounting_database.node.add_dependency(ready)
            self.accounting_database.grant_read_secret(self.execution_role_construct.role)
            return AccountingDatabase(
                endpoint=self.accounting_database.endpoint, secret_arn=self.accounting_database.secret_arn,
                name=cfg.name, port=self.accounting_database.port,
            )
        if cfg.endpoint is not None and cfg.secret_arn is not None:
            self.execution_role_construct.role.add_to_principal_policy(iam.PolicyStatement(
                actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                resources=[cfg.secret_arn],
            ))
            return AccountingDatabase(endpoint=cfg.endpoint, secret_arn=cfg.secret_arn, name=cfg.name, port=cfg.port)
        return None

    # -- EKS --------------------------------------------------------------------------------

    def _build_eks(self, eks_cluster: eks.ICluster | None) -> None:
        cfg = self.config.eks_config
        base_addons: list[IConstruct] = []
        if eks_cluster is None and cfg.existing is None:
            self.eks = HyperPodEksCluster.from_config(
                self, "Eks", self.config,
                vpc=self.vpc,
                control_plane_subnets=self.control_plane_subnets,
                security_group=self.security_group,
                log_key=self.logs_key,
            )
            # jsii's generated ICluster protocol lags the class (mypy only); the object is a Cluster.
            cluster = cast(eks.ICluster, self.eks.cluster)
            layer = self.eks.kubectl_layer
            base_addons = list(self.eks.addons)
            if self.config.network.closed:
                # aws_eks_v2 warns that isolated subnets have no internet: in a closed network that is
                # the design, and the interface endpoints it asks for (STS, EKS, ECR, S3, ...) exist.
                Annotations.of(self.eks.cluster).acknowledge_warning(
                    "@aws-cdk/aws-eks:isolatedSubnetsForKubectlPrivateSubnets",
                    "closed network: the kubectl handler reaches AWS through the VPC endpoints of HyperPodEndpoints",
                )
            # Its kubectl provider runs in the VPC and calls EKS and Lambda: the endpoints come first.
            for ready in self._network_ready:
                self.eks.cluster.node.add_dependency(ready)
            if cfg.access_tunnel:
                self.access_tunnel = EksAccessTunnel(
                    self, "AccessTunnel", vpc=self.vpc, subnets=self.control_plane_subnets,
                    endpoint_security_group=self.security_group, cluster_name=cfg.cluster_name,
                    vpc_cidr=self.vpc.vpc_cidr_block, internet_egress=not self.config.network.closed,
                )
        elif eks_cluster is None:
            assert cfg.existing is not None
            imported = ImportedEksCluster(
                self, "Eks",
                cluster_name=cfg.cluster_name,
                cluster_security_group_id=cfg.existing.cluster_security_group_id,
                vpc=self.vpc,
                subnets=self.control_plane_subnets,
                kubernetes_version=cfg.kubernetes_version,
            )
            cluster, layer = imported.cluster, imported.kubectl_layer
        else:
            cluster = eks_cluster
            with checked_props(self, "Eks"):
                layer = kubectl_layer(self, "KubectlLayer", cfg.kubernetes_version)
            warn_unverifiable_cluster(self, cfg.cluster_name)
            warn_about_support(self, cfg.kubernetes_version)
        if self.eks is None:
            # Created elsewhere: connect the nodes and the control plane both ways.
            self.node_security_group.allow_eks_control_plane(cluster_attribute(cluster, "cluster_security_group"))
        self.eks_cluster = cluster
        self.kubectl_layer = layer

        self.lifecycle = HyperPodLifecycleScripts(
            self, "LifecycleScripts", source_dir=bundled_scripts("eks"), encryption_key=self.data_key,
            shared_dirs=[bundled_scripts("common")], json_files=self._fsx_lustre_file(), log_key=self.logs_key,
        )
        self.execution_role_construct = self._execution_role(eks_cluster_arn=cluster.cluster_arn)
        if self.fsx is not None:
            self.execution_role_construct.allow_lustre_client()
        helm_enabled = self.config.kubernetes.helm_dependencies.enabled
        hp = self.config.hyperpod
        self.autoscaling_role: HyperPodAutoscalingRole | None = None
        if hp.autoscaler is not None:
            self.autoscaling_role = HyperPodAutoscalingRole(self, "AutoscalingRole", volume_key=self.data_key)
        platform_fsx = (self.fsx.dns_name, self.fsx.mount_name) if self.fsx is not None else None
        self.cluster = HyperPodCluster(
            self, "HyperPod",
            eks_cluster_arn=cluster.cluster_arn,
            node_provisioning_mode=self.config.node_provisioning_mode,  # type: ignore[arg-type]
            assume_helm_installed=not helm_enabled,
            autoscaler=hp.autoscaler,
            cluster_role_arn=self.autoscaling_role.role_arn if self.autoscaling_role else None,
            tiered_storage_memory_percent=hp.tiered_storage_memory_percent,
            platform_fsx=platform_fsx,
            **self._cluster_props(),
        )
        # HyperPod validates the EKS side at creation: add-ons first. Nodes use every policy of the
        # execution role from their first boot (ENIs, pod identity, the lifecycle bucket and its
        # key), so the cluster waits for the whole role construct, default policy included.
        self.cluster.wait_for(*base_addons, self.execution_role_construct, *self._network_ready)
        self._add_kubernetes_side(cluster, created_here=self.eks is not None)
        if self.config.kubernetes.examples.image_repository:
            self.image_repository = TrainingImageRepository(
                self, "TrainingImages", repository_name=f"{self.config.name}/{FSDP_REPOSITORY}"
            )

    def _add_kubernetes_side(
        self, cluster: eks.ICluster, *, created_here: bool
    ) -> None:
        """Helm dependencies before HyperPod; readiness gates, add-ons and this project's charts after it."""
        k8s = self.config.kubernetes
        if k8s.helm_dependencies.enabled:
            self.helm_dependencies = HyperPodHelmDependencies(
                self, "HelmDependencies",
                cluster=cluster,
                subnets=self.control_plane_subnets,
                config=k8s.helm_dependencies,
                kubectl_layer=self.kubectl_layer,
                log_key=self.logs_key,
            )
            # HyperPod rejects a cluster whose EKS side lacks these ("missing required dependencies").
            self.cluster.wait_for(self.helm_dependencies.resource)
            self.helm_dependencies.wait_for(*self._network_ready)

        # The platform's manifests and kubectl waits, through a handler that applies only what was
        # synthesized (aws-cdk-lib's kubectl provider would apply any manifest an event carries).
        self.manifests = HyperPodManifests(
            self, "Manifests",
            cluster=cluster,
            subnets=self.control_plane_subnets,
            kubectl_layer=self.kubectl_layer,
            log_key=self.logs_key,
        )
        for ready in self._network_ready:
            self.manifests.access_entry.node.add_dependency(ready)

        # In Continuous mode the HyperPod cluster is created before any node exists, and add-ons count
        # as created while DEGRADED: the readiness gate waits for a node that can host system pods and
        # the pod identity agent before any add-on (see HyperPodReadiness).
        self.readiness = HyperPodReadiness(
            self, "Readiness",
            cluster=cluster,
            subnets=self.control_plane_subnets,
            kubectl_layer=self.kubectl_layer,
            log_key=self.logs_key,
            manifests=self.manifests,
        )
        self.node_gate = self.readiness.add_node_gate(
            hyperpod_cluster_name=self.config.hyperpod.cluster_name,
            instance_groups=self.config.system_instance_groups,
            after=[self.cluster.resource],
        )

        # An existing cluster brings its own pod identity agent (preflight checks it).
        assume = () if created_here else (POD_IDENTITY_AGENT,)
        kubernetes_version = self.config.eks_config.kubernetes_version
        fsx_cfg = self.config.storage.fsx
        driver_cfg = k8s.addons.fsx_csi_driver
        if self.fsx is not None or driver_cfg.enabled:
            # Defined before the other add-ons: the inference operator requires it.
            self.fsx_csi_driver = FsxCsiDriverAddon(
                self, "FsxCsiDriver",
                cluster=cluster,
                file_system_arns=[self.fsx.file_system_arn()] if self.fsx is not None else [],
                dynamic_provisioning=driver_cfg.storage_class is not None,
                version=driver_cfg.version or (fsx_cfg.csi_driver_version if fsx_cfg is not None else None),
                configuration_values=driver_cfg.configuration_values,
                assume_installed=assume,
                kubernetes_version=kubernetes_version,
            )
        self.addons = HyperPodKubernetesAddons(
            self, "KubernetesAddons",
            cluster=cluster,
            config=k8s.addons,
            assume_installed=assume,
            kubernetes_version=kubernetes_version,
            hyperpod_cluster_arn=self.cluster.cluster_arn,
            encryption_key=self.data_key,
            fsx_csi_driver=self.fsx_csi_driver,
            manifests=self.manifests,
        )
        # The add-ons' pods need a Ready HyperPod node (the FSx CSI driver above included).
        self.addons.install_after(self.node_gate)
        self.cert_manager_gate = None
        if self.addons.cert_manager is not None:
            # cert-manager's deployments Available and its webhook answering, before the issuers and
            # every add-on that needs cert-manager (the training and inference operators).
            self.cert_manager_gate = self.readiness.add_cert_manager_gate(after=[self.addons.cert_manager])
            self.addons.wait_for_cert_manager(self.cert_manager_gate)

        if self.fsx is not None:
            assert fsx_cfg is not None
            # A static PV + PVC fsx-claim per team namespace, naming this file system (deploy-time tokens).
            capacity = self.fsx.storage_capacity_gib or fsx_cfg.storage_capacity_gib
            k8s = k8s.model_copy(update={"fsx": FsxVolume(
                file_system_id=self.fsx.file_system_id,
                dns_name=self.fsx.dns_name,
                mount_name=self.fsx.mount_name,
                storage_capacity=f"{capacity}Gi",
            )})

        # Task governance: the scheduler config and team quotas, after Kueue runs. SageMaker makes the
        # quota teams' namespaces and queues; the operator chart's Roles for them wait for the namespaces.
        if self.addons.task_governance is not None:
            self.task_governance = HyperPodTaskGovernance(
                self, "TaskGovernance",
                cluster=cluster,
                hyperpod_cluster_arn=self.cluster.cluster_arn,
                hyperpod_cluster_name=self.config.hyperpod.cluster_name,
                settings=k8s,
                after=[self.addons.task_governance.ready],
                log_key=self.logs_key,
                manifests=self.manifests,
            )

        # Namespaces, team RBAC, priority classes (and the FSx claim when set).
        operator_chart = HyperPodOperatorChart.from_settings(cdk8s.App(), "operator", k8s)
        operator_manifest = self.manifests.add_chart("OperatorChart", operator_chart)
        if self.task_governance is not None:
            operator_manifest.node.add_dependency(*self.task_governance.ready)
        operator_manifest.node.add_dependency(self.cluster.resource)
        # Each team's IAM principal is mapped to the Kubernetes group its Role is bound to.
        for index, (principal_arn, group) in enumerate(operator_chart.submitter_access):
            eks.CfnAccessEntry(
                self, f"TeamAccess{index}",
                cluster_name=cluster.cluster_name,
                principal_arn=principal_arn,
                kubernetes_groups=[group],
                type="STANDARD",
            )

        self._add_karpenter_objects()

        if self.cert_manager_gate is not None:
            issuers = CertManagerIssuersChart(cdk8s.App(), "cert-manager", namespace=k8s.cert_manager_namespace)
            issuers_manifest = self.manifests.add_chart("CertManagerIssuersChart", issuers)
            # Issuers are cert-manager CRs the webhook admits: only once the gate saw it answer.
            issuers_manifest.node.add_dependency(self.cert_manager_gate)

        storage_class = driver_cfg.storage_class
        if storage_class is not None:
            assert self.fsx_csi_driver is not None
            # New file systems go next to the nodes of the default AZ, with the node security group
            # (which allows Lustre's ports 988 and 1018-1023 within itself).
            chart = FsxStorageClassChart(
                cdk8s.App(), "fsx-storage-class",
                config=storage_class,
                subnet_id=self.default_hyperpod_subnet.subnet_id,
                security_group_id=self.security_group.security_group_id,
            )
            storage_manifest = self.manifests.add_chart("FsxStorageClassChart", chart)
            storage_manifest.node.add_dependency(self.fsx_csi_driver)

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

    def _add_karpenter_objects(self) -> None:
        """The HyperpodNodeClass and NodePool, once HyperPod has installed Karpenter's CRDs."""
        hp = self.config.hyperpod
        if hp.autoscaler is None:
            self.karpenter_manifest = None
            return
        # HyperPod installs the CRDs when AutoScaling reaches InService, which can trail the cluster
        # resource (Spot page: apply the NodeClass only after AutoScaling.Status is InService). The
        # kubectl handler polls `kubectl get` every 10 s while the object is NotFound; 12 minutes stays
        # inside the handler's 15-minute Lambda timeout.
        crd_ready = self.manifests.add_wait(
            "KarpenterCrdReady",
            object_type="customresourcedefinition", object_names=[NODE_CLASS_CRD],
            json_path=".metadata.name", timeout=Duration.minutes(12),
        )
        crd_ready.node.add_dependency(self.cluster.resource)
        chart = KarpenterChart(
            cdk8s.App(), "karpenter", instance_groups=[g.name for g in hp.instance_groups if g.autoscale]
        )
        self.karpenter_manifest = self.manifests.add_chart("KarpenterChart", chart)
        self.karpenter_manifest.node.add_dependency(crd_ready)


def _check_platform_props(
    scope: Construct,
    construct_id: str,
    *,
    config: Any,
    vpc: Any,
    hyperpod_subnets: Mapping[str, Any] | None,
    control_plane_subnets: Sequence[Any] | None,
    hyperpod_egress: Any,
    eks_cluster: Any,
) -> None:
    """Every prop combination problem, as one line naming the prop, before anything is created."""

    def fail(prop: str, message: str) -> HyperPodConfigError:
        return prop_error(scope, construct_id, prop, message)

    if not isinstance(config, PlatformConfig):
        raise fail("config", "pass a PlatformConfig: load_config('hyperpod.yaml') or parse_config({...})")
    region = Stack.of(scope).region
    if not Token.is_unresolved(region) and region != config.region:
        raise fail("config.region", f"'{config.region}' but the stack deploys to {region}; make them the same")
    account = Stack.of(scope).account
    if config.account is not None and not Token.is_unresolved(account) and account != config.account:
        raise fail("config.account", f"'{config.account}' but the stack deploys to {account}; make them the same")
    net = config.network
    check_prop_types(
        scope, construct_id, vpc=("ec2.IVpc?", vpc), control_plane_subnets=("ec2.ISubnet[]?", control_plane_subnets),
        eks_cluster=("eks.ICluster?", eks_cluster),
    )
    if hyperpod_subnets is not None and not isinstance(hyperpod_subnets, Mapping):
        raise fail("hyperpod_subnets", f"expected a mapping {{az_id: subnet}}, got {type(hyperpod_subnets).__name__}")
    if vpc is None and eks_cluster is not None and net.existing is not None:
        pass  # the cluster's VPC comes from config network.existing
    elif vpc is None:
        for prop, value in (("hyperpod_subnets", hyperpod_subnets), ("control_plane_subnets", control_plane_subnets),
                            ("hyperpod_egress", hyperpod_egress)):
            if value is not None:
                raise fail(prop, "only used with vpc= (an existing VPC)")
    else:
        if not hasattr(vpc, "vpc_id"):
            raise fail("vpc", f"expected an ec2.IVpc, got {type(vpc).__name__}")
        if net.existing is not None:
            raise fail("vpc", "config.network.existing describes a VPC too; give the VPC one way")
        if hyperpod_subnets is None and hyperpod_egress is None:
            raise fail(
                "hyperpod_subnets",
                "with vpc=, give hyperpod_subnets={az_id: subnet} or hyperpod_egress=HyperPodEgress.nat_gateway(...) "
                "/ .route_table(...) so the platform can add them",
            )
        if hyperpod_subnets is not None and hyperpod_egress is not None:
            raise fail("hyperpod_egress", "only used when the platform adds the HyperPod subnets; drop one of the two")
        if hyperpod_egress is not None and not isinstance(hyperpod_egress, HyperPodEgress):
            raise fail("hyperpod_egress", "expected HyperPodEgress.nat_gateway(id) or HyperPodEgress.route_table(id)")
        if hyperpod_egress is not None and net.hyperpod_cidr_is_secondary:
            cidr = _vpc_cidr(vpc)
            if cidr is None:
                raise fail(
                    "vpc", "its primary CIDR is not known at synth: import it with vpc_cidr_block (decides whether "
                    "network.hyperpod_cidr is added as a secondary block)",
                )
    if hyperpod_subnets is not None:
        _check_subnets(fail, config, hyperpod_subnets)
    if config.orchestrator == "slurm":
        if eks_cluster is not None:
            raise fail("eks_cluster", "only used with orchestrator: eks")
        return
    cp = control_plane_subnets if control_plane_subnets is not None else (
        vpc.private_subnets if vpc is not None else None
    )
    if eks_cluster is not None:
        if config.eks_config.existing is not None:
            raise fail("eks_cluster", "config.eks.existing describes a cluster too; give the cluster one way")
        if cluster_attribute(eks_cluster, "cluster_security_group") is None:
            raise fail("eks_cluster", "import it with cluster_security_group_id= (the nodes get rules to it)")
        if cluster_attribute(eks_cluster, "vpc") is None:
            raise fail("eks_cluster", "import it with vpc= (the installers run in its VPC)")
        name = eks_cluster.cluster_name
        if not Token.is_unresolved(name) and name != config.eks_config.cluster_name:
            raise fail(
                "eks_cluster",
                f"is {name} but config eks.cluster_name is {config.eks_config.cluster_name}; make them match",
            )
        if vpc is None and net.existing is None:
            raise fail(
                "vpc",
                "with eks_cluster=, pass the cluster's VPC as vpc= (or describe it in config network.existing): the "
                "HyperPod subnets live there",
            )
        if cp is not None and not cp:
            raise fail("control_plane_subnets", "list a private subnet that reaches the cluster endpoint (installers)")
    elif vpc is not None and (cp is None or len(cp) < 2):
        raise fail(
            "control_plane_subnets",
            "EKS needs private subnets in at least two AZs: pass control_plane_subnets= (or a VPC whose "
            "private_subnets has two)",
        )


def _vpc_cidr(vpc: Any) -> str | None:
    """The VPC's primary CIDR when synth knows it (imported VPCs raise through jsii without one)."""
    try:
        value = vpc.vpc_cidr_block
    except Exception:
        return None
    return None if Token.is_unresolved(value) else str(value)


def _check_subnets(fail: Any, config: PlatformConfig, hyperpod_subnets: Mapping[str, Any]) -> None:
    net = config.network
    if set(hyperpod_subnets) != set(net.availability_zone_ids):
        raise fail(
            "hyperpod_subnets",
            f"keys {sorted(hyperpod_subnets)} must be the AZ IDs of config network.availability_zone_ids "
            f"{net.availability_zone_ids}",
        )
    for az_id, subnet in hyperpod_subnets.items():
        if not hasattr(subnet, "subnet_id"):
            raise fail(f"hyperpod_subnets.{az_id}", f"expected an ec2.ISubnet, got {type(subnet).__name__}")
    # The plan against every subnet whose CIDR is known, with the configured headroom.
    cidrs = {az: cidr for az, subnet in hyperpod_subnets.items() if (cidr := subnet_cidr(subnet)) is not None}
    demands = group_demands(config.hyperpod.instance_groups, config.orchestrator, net.availability_zone_ids[0])
    try:
        plan_existing_subnets(
            cidrs, {az: d for az, d in demands.items() if az in cidrs}, net.ip_headroom_percent,
            Orchestrator(config.orchestrator), "hyperpod_subnets",
        )
    except HyperPodConfigError as error:
        raise fail(error.field, error.message) from None
