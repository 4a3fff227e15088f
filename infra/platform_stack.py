"""HyperPodPlatformStack: the whole HyperPod platform (EKS- or Slurm-orchestrated) from one config."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import cdk8s
from aws_cdk import CfnOutput, Environment, RemovalPolicy, Stack, Tags
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_kms as kms
from constructs import Construct

from hyperpod_cdk._cdk_util import logs_key
from hyperpod_cdk.addons.fsx_csi_driver import FsxCsiDriverAddon
from hyperpod_cdk.addons.kubernetes_addons import HyperPodKubernetesAddons
from hyperpod_cdk.config import PlatformConfig
from hyperpod_cdk.eks_cluster import HyperPodEksCluster
from hyperpod_cdk.execution_role import HyperPodExecutionRole
from hyperpod_cdk.fsx_lustre import HyperPodFsxLustre
from hyperpod_cdk.helm_dependencies import HyperPodHelmDependencies
from hyperpod_cdk.hyperpod_cluster import HyperPodCluster
from hyperpod_cdk.k8s.cert_manager_chart import CertManagerIssuersChart
from hyperpod_cdk.k8s.operator_chart import HyperPodOperatorChart
from hyperpod_cdk.k8s.settings import FsxVolume
from hyperpod_cdk.lifecycle_scripts import HyperPodLifecycleScripts
from hyperpod_cdk.network import HyperPodNetwork
from hyperpod_cdk.security_group import HyperPodSecurityGroup
from hyperpod_cdk.slurm_cluster import HyperPodSlurmCluster
from hyperpod_cdk.slurm_provisioning import PROVISIONING_PARAMETERS_FILE, provisioning_parameters

LIFECYCLE_SCRIPTS = Path(__file__).resolve().parent.parent / "lifecycle_scripts" / "eks"
SLURM_LIFECYCLE_SCRIPTS = LIFECYCLE_SCRIPTS.parent / "slurm"
# lcs_common.sh, which both lib.sh files source; deployed into each orchestrator's prefix.
COMMON_LIFECYCLE_SCRIPTS = LIFECYCLE_SCRIPTS.parent / "common"


class HyperPodPlatformStack(Stack):
    """Network, security group, optional FSx for Lustre, lifecycle scripts, execution role and the
    HyperPod cluster, orchestrated by EKS (with its add-ons and charts) or by Slurm."""

    def __init__(self, scope: Construct, construct_id: str, *, config: PlatformConfig) -> None:
        orchestrated_by = "EKS" if config.orchestrator == "eks" else "Slurm"
        super().__init__(
            scope, construct_id,
            env=Environment(account=config.account, region=config.region),
            description=f"SageMaker HyperPod on {orchestrated_by}: {config.hyperpod.cluster_name} (hyperpod-cdk)",
        )
        self.config = config
        for key, value in config.tags.items():
            Tags.of(self).add(key, value)

        # One key for every CloudWatch log group the stack owns (flow logs, EKS, installer).
        self.logs_key = logs_key(self, None, f"HyperPod {config.hyperpod.cluster_name}: CloudWatch Logs")
        self.network = HyperPodNetwork.from_config(self, "Network", config, log_key=self.logs_key)
        self.security_group = HyperPodSecurityGroup(self, "NodeSecurityGroup", vpc=self.network.vpc)
        # One key for the data HyperPod nodes touch: lifecycle scripts and instance EBS volumes.
        self.data_key = kms.Key(
            self, "DataKey",
            description=f"HyperPod {config.hyperpod.cluster_name}: lifecycle bucket and EBS volumes",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.fsx = self._add_fsx(config)
        if config.orchestrator == "slurm":
            self._build_slurm(config)
        else:
            self._build_eks(config)
        CfnOutput(self, "HyperPodClusterArn", value=self.hyperpod.cluster_arn)
        CfnOutput(self, "LifecycleScriptsUri", value=self.lifecycle.source_s3_uri)
        CfnOutput(self, "ExecutionRoleArn", value=self.execution_role.role_arn)
        if self.fsx is not None:
            CfnOutput(self, "FsxFileSystemId", value=self.fsx.file_system_id)
            CfnOutput(self, "FsxDnsName", value=self.fsx.dns_name)
            CfnOutput(self, "FsxMountName", value=self.fsx.mount_name)

    def _add_fsx(self, config: PlatformConfig) -> HyperPodFsxLustre | None:
        """The shared file system: created next to the nodes of the default AZ, or imported."""
        cfg = config.storage.fsx
        if cfg is None:
            return None
        if cfg.imported:
            assert cfg.file_system_id and cfg.dns_name and cfg.mount_name
            return HyperPodFsxLustre.from_attributes(
                self, "Fsx", file_system_id=cfg.file_system_id, dns_name=cfg.dns_name, mount_name=cfg.mount_name
            )
        return HyperPodFsxLustre(
            self, "Fsx",
            subnet=self.network.default_hyperpod_subnet,
            security_group=self.security_group.security_group,
            storage_capacity_gib=cfg.storage_capacity_gib,
            per_unit_storage_throughput=cfg.per_unit_storage_throughput,
            data_compression_type=cfg.data_compression_type,
            file_system_type_version=cfg.file_system_type_version,
            automatic_backup_retention_days=cfg.automatic_backup_retention_days,
            retain=cfg.retain_on_delete,
        )

    def _build_slurm(self, config: PlatformConfig) -> None:
        """Slurm scripts with the generated provisioning_parameters.json, role, cluster."""
        parameters = provisioning_parameters(config.slurm_layout, self.fsx.mount if self.fsx else None)
        self.lifecycle = HyperPodLifecycleScripts(
            self, "LifecycleScripts",
            source_dir=SLURM_LIFECYCLE_SCRIPTS,
            shared_dirs=[COMMON_LIFECYCLE_SCRIPTS],
            encryption_key=self.data_key,
            json_files={PROVISIONING_PARAMETERS_FILE: parameters},
        )
        # No eks-auth grant (no EKS); mounting Lustre needs no IAM permission either.
        self.execution_role = self._execution_role(eks_cluster_arn=None)
        self.hyperpod: HyperPodCluster | HyperPodSlurmCluster = HyperPodSlurmCluster(
            self, "HyperPod", provisioning_parameters=parameters, **self._cluster_props(config)
        )
        # Nodes create ENIs with the role's policy and mount the file system in on_create.sh.
        self.hyperpod.wait_for(self.execution_role.policy)
        if self.fsx is not None and self.fsx.resource is not None:
            self.hyperpod.wait_for(self.fsx.resource)

    def _execution_role(self, *, eks_cluster_arn: str | None) -> HyperPodExecutionRole:
        return HyperPodExecutionRole(
            self, "ExecutionRole",
            subnets=list(self.network.hyperpod_subnets.values()),
            security_group=self.security_group.security_group,
            lifecycle_bucket=self.lifecycle.bucket,
            eks_cluster_arn=eks_cluster_arn,
            volume_key=self.data_key,
        )

    def _cluster_props(self, config: PlatformConfig) -> dict[str, Any]:
        """What both cluster constructs take from the config and the shared resources."""
        hp = config.hyperpod
        return {
            "cluster_name": hp.cluster_name,
            "instance_groups": hp.instance_groups,
            "subnets_by_az_id": self.network.hyperpod_subnets,
            "default_az_id": config.network.availability_zone_ids[0],
            "security_group": self.security_group.security_group,
            "execution_role_arn": self.execution_role.role_arn,
            "lifecycle_source_s3_uri": self.lifecycle.source_s3_uri,
            "on_create": self.lifecycle.on_create,
            "volume_key": self.data_key,
            "node_recovery": hp.node_recovery,
            "tags": config.tags,
        }

    def _build_eks(self, config: PlatformConfig) -> None:
        self.eks = HyperPodEksCluster.from_config(
            self, "Eks", config,
            vpc=self.network.vpc,
            control_plane_subnets=self.network.control_plane_subnets,
            security_group=self.security_group.security_group,
            log_key=self.logs_key,
        )
        self.lifecycle = HyperPodLifecycleScripts(
            self, "LifecycleScripts", source_dir=LIFECYCLE_SCRIPTS, encryption_key=self.data_key,
            shared_dirs=[COMMON_LIFECYCLE_SCRIPTS],
        )
        self.execution_role = self._execution_role(eks_cluster_arn=self.eks.cluster_arn)
        self.hyperpod = HyperPodCluster(
            self, "HyperPod",
            eks_cluster_arn=self.eks.cluster_arn,
            node_provisioning_mode=config.node_provisioning_mode,
            **self._cluster_props(config),
        )
        # HyperPod validates the EKS side at creation: add-ons first; the execution role's
        # policy must exist before nodes try to create ENIs.
        self.hyperpod.wait_for(*self.eks.addons, self.execution_role.policy)
        self._add_kubernetes_side(config)
        CfnOutput(self, "EksClusterName", value=self.eks.cluster.cluster_name)

    def _add_kubernetes_side(self, config: PlatformConfig) -> None:
        """Helm dependencies before HyperPod; add-ons and this project's charts after it."""
        k8s = config.kubernetes
        cluster = self.eks.cluster
        # jsii's generated ICluster protocol lags the class (mypy only); the object is a Cluster.
        cluster_ref = cast(eks.ICluster, cluster)
        self.helm_dependencies: HyperPodHelmDependencies | None = None
        if k8s.helm_dependencies.enabled:
            self.helm_dependencies = HyperPodHelmDependencies(
                self, "HelmDependencies",
                cluster=cluster_ref,
                subnets=self.network.control_plane_subnets,
                config=k8s.helm_dependencies,
                kubectl_layer=self.eks.kubectl_layer,
                log_key=self.logs_key,
            )
            # HyperPod rejects a cluster whose EKS side lacks these ("missing required dependencies").
            self.hyperpod.wait_for(self.helm_dependencies.resource)

        self.addons = HyperPodKubernetesAddons(self, "KubernetesAddons", cluster=cluster_ref, config=k8s.addons)
        self.addons.install_after(self.hyperpod.resource)

        self.fsx_csi_driver: FsxCsiDriverAddon | None = None
        if self.fsx is not None:
            fsx_cfg = config.storage.fsx
            assert fsx_cfg is not None
            self.fsx_csi_driver = FsxCsiDriverAddon(
                self, "FsxCsiDriver",
                cluster=cluster_ref,
                file_system_arns=[self.fsx.file_system_arn()],
                version=fsx_cfg.csi_driver_version,
            )
            # The driver's controller and node pods need the HyperPod nodes.
            self.fsx_csi_driver.addon.node.add_dependency(self.hyperpod.resource)
            # A static PV + PVC fsx-claim per team namespace, naming this file system (deploy-time tokens).
            capacity = self.fsx.storage_capacity_gib or fsx_cfg.storage_capacity_gib
            k8s = k8s.model_copy(update={"fsx": FsxVolume(
                file_system_id=self.fsx.file_system_id,
                dns_name=self.fsx.dns_name,
                mount_name=self.fsx.mount_name,
                storage_capacity=f"{capacity}Gi",
            )})

        # Namespaces, team RBAC, priority classes (and Kueue queues and the FSx claim when set).
        operator_chart = HyperPodOperatorChart.from_settings(cdk8s.App(), "operator", k8s)
        operator_manifest = cluster.add_cdk8s_chart("OperatorChart", operator_chart)
        if self.addons.task_governance is not None:
            operator_manifest.node.add_dependency(self.addons.task_governance)
        operator_manifest.node.add_dependency(self.hyperpod.resource)
        # Each team's IAM principal is mapped to the Kubernetes group its Role is bound to.
        for index, (principal_arn, group) in enumerate(operator_chart.submitter_access):
            eks.CfnAccessEntry(
                self, f"TeamAccess{index}",
                cluster_name=cluster.cluster_name,
                principal_arn=principal_arn,
                kubernetes_groups=[group],
                type="STANDARD",
            )

        if self.addons.cert_manager is not None:
            issuers = CertManagerIssuersChart(cdk8s.App(), "cert-manager", namespace=k8s.cert_manager_namespace)
            issuers_manifest = cluster.add_cdk8s_chart("CertManagerIssuersChart", issuers)
            # Issuers are cert-manager CRs: the add-on (CRDs and webhook) must be running first.
            issuers_manifest.node.add_dependency(self.addons.cert_manager)
