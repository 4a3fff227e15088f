"""HyperPodPlatform, Slurm phase: scripts, execution role, accounting database and the Slurm cluster."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from aws_cdk import aws_iam as iam
from constructs import Construct

from hyperpod_cdk.cluster.slurm import FSX_MOUNT_PATH, AccountingDatabase, HyperPodSlurmCluster
from hyperpod_cdk.config import InstanceGroup
from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.lifecycle.lifecycle_scripts import HyperPodLifecycleScripts, bundled_scripts
from hyperpod_cdk.monitoring.slurm_observability import slurm_observability_files, slurm_observability_for
from hyperpod_cdk.specs.slurm import (
    PROVISIONING_PARAMETERS_FILE,
    SLURM_NODES_FILE,
    instance_metadata_files,
    slurm_nodes,
)
from hyperpod_cdk.storage.accounting_database import SlurmAccountingDatabase

if TYPE_CHECKING:
    from hyperpod_cdk.cluster.execution_role import HyperPodExecutionRole
    from hyperpod_cdk.platform import HyperPodPlatform


def build_slurm(platform: HyperPodPlatform) -> None:
    """Slurm scripts, role, accounting database and cluster; API-driven unless the config says legacy."""
    settings = platform.config.slurm
    # Slurm metrics (slurm.observability: AMP workspace, Grafana), else None; its remote-write URL goes
    # into the scripts' prefix, so it comes first.
    platform.slurm_observability = slurm_observability_for(platform, platform.config)
    json_files: dict[str, Any]
    scripts: Literal["slurm", "slurm_api"]
    if settings.api_driven:
        # HyperPod mounts FSx (InstanceStorageConfigs) and writes slurm.conf (SlurmConfig); the prefix
        # holds the custom steps and slurm_nodes.json, never provisioning_parameters.json. The file is
        # rendered at synth from the cluster's final layout, so a group from
        # platform.add_instance_group is in the file and in the prefix every group boots from.
        scripts = "slurm_api"
        json_files = {
            SLURM_NODES_FILE: lambda: _slurm_nodes_file(platform),
            **slurm_observability_files(platform.slurm_observability),
            **instance_metadata_files(settings.instance_metadata),
        }
    else:
        # Rendered at synth as slurm_nodes.json is (the cluster takes no copy to check against).
        scripts = "slurm"
        json_files = {
            PROVISIONING_PARAMETERS_FILE: lambda: _slurm_cluster(platform).provisioning_parameters(
                platform.fsx.mount if platform.fsx else None
            ),
            **platform._fsx_lustre_file(),
            **instance_metadata_files(settings.instance_metadata),
        }
    platform.lifecycle = HyperPodLifecycleScripts(
        platform,
        "LifecycleScripts",
        source_dir=bundled_scripts(scripts),
        shared_dirs=[bundled_scripts("common")],
        encryption_key=platform.data_key,
        log_key=platform.logs_key,
        json_files=json_files,
    )
    # No eks-auth grant (no EKS).
    platform.execution_role_construct = platform._execution_role(eks_cluster=None)
    _grant_node_access(platform, platform.execution_role_construct)
    accounting = _slurm_accounting(platform)
    mode_props: dict[str, Any] = {"configuration": settings.configuration}
    if settings.api_driven:
        mode_props.update(
            config_strategy=settings.config_strategy,
            fsx=platform.fsx.mount if platform.fsx else None,
            node_provisioning_mode=platform.config.node_provisioning_mode,
            accounting_database=accounting,
        )
    controller_role = platform.controller_execution_role_construct
    platform.cluster = _PlatformSlurmCluster(
        platform,
        "HyperPod",
        **mode_props,
        **platform._cluster_props(),
        controller_execution_role=controller_role.role if controller_role is not None else None,
    )
    # Nodes use every policy of the role from their first boot (ENIs, the lifecycle bucket and
    # its key, the Lustre checks): the cluster waits for all of them, and mounts the file system.
    platform.cluster.wait_for(platform.execution_role_construct, *platform._network_ready)
    if controller_role is not None:
        platform.cluster.wait_for(controller_role)
    if platform.fsx is not None and platform.fsx.resource is not None:
        platform.cluster.wait_for(platform.fsx.resource)
    if platform.accounting_database is not None:
        # slurmdbd on the controller connects at first boot.
        platform.cluster.wait_for(platform.accounting_database.resource)


class _PlatformSlurmCluster(HyperPodSlurmCluster):
    """The platform's Slurm cluster: its groups are also in the lifecycle scripts' generated file
    (``slurm_nodes.json``, or ``provisioning_parameters.json`` on the legacy path), rendered once at
    synth into the prefix every group boots from, so a group comes only before that."""

    def __init__(
        self, scope: Construct, construct_id: str, *, lifecycle_scripts: HyperPodLifecycleScripts, **props: Any
    ) -> None:
        super().__init__(scope, construct_id, lifecycle_scripts=lifecycle_scripts, **props)
        self._scripts = lifecycle_scripts

    def check_instance_group(self, group: InstanceGroup | Mapping[str, Any]) -> InstanceGroup:
        if self._scripts.frozen:
            raise HyperPodConfigError(
                "instance_groups",
                "the lifecycle scripts' generated files and S3 prefix were fixed at synth; add the group "
                "before app.synth(), or to hyperpod.instance_groups",
                construct_path=self.node.path,
            )
        return super().check_instance_group(group)


def _slurm_cluster(platform: HyperPodPlatform) -> HyperPodSlurmCluster:
    cluster = platform.cluster
    assert isinstance(cluster, HyperPodSlurmCluster)
    return cluster


def _slurm_nodes_file(platform: HyperPodPlatform) -> dict[str, Any]:
    """``slurm_nodes.json`` for the cluster's groups as they are at synth (config and added ones)."""
    settings = platform.config.slurm
    return slurm_nodes(
        _slurm_cluster(platform).layout,
        FSX_MOUNT_PATH if platform.fsx else None,
        [u.model_dump() for u in settings.users],
        settings.containers.model_dump(),
    )


def _grant_node_access(platform: HyperPodPlatform, role: HyperPodExecutionRole) -> None:
    """What every Slurm node's role needs beyond HyperPodExecutionRole's own: Lustre and metrics."""
    if platform.fsx is not None:
        role.allow_lustre_client()
    if platform.slurm_observability is not None:
        platform.slurm_observability.grant_remote_write(role.role)


def _controller_role(platform: HyperPodPlatform) -> HyperPodExecutionRole:
    """The Controller group's own role: the shared one's policies plus, from the caller, the database secret.

    slurmdbd, on the controller, is what connects to the accounting database
    (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ClusterAccountingDatabase.html;
    https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-external-accounting-db-slurm.html).
    Instance credentials are readable by any local user through IMDS, so a secret grant on the role
    every group shares would give the password to anyone on a login or compute node (review M4).
    """
    role = platform._execution_role(eks_cluster=None, construct_id="ControllerExecutionRole")
    _grant_node_access(platform, role)
    platform.controller_execution_role_construct = role
    return role


def _slurm_accounting(platform: HyperPodPlatform) -> AccountingDatabase | None:
    """Create (``slurm.accounting.enabled``) or import the external accounting database.

    Only the Controller group's own role may read its secret (:func:`_controller_role`).
    """
    #: The created accounting database (None when imported or not configured).
    platform.accounting_database = None
    cfg = platform.config.slurm.accounting
    if cfg.enabled:
        azs = {s.availability_zone for s in platform.control_plane_subnets}
        subnets = platform.control_plane_subnets if len(azs) >= 2 else list(platform.hyperpod_subnets.values())
        platform.accounting_database = SlurmAccountingDatabase(
            platform,
            "SlurmAccounting",
            vpc=platform.vpc,
            subnets=subnets,
            node_security_group=platform.security_group,
            encryption_key=platform.data_key,
            instance_type=cfg.instance_type,
            allocated_storage_gib=cfg.allocated_storage_gib,
            backup_retention_days=cfg.backup_retention_days,
        )
        for ready in platform._network_ready:
            platform.accounting_database.node.add_dependency(ready)
        platform.accounting_database.grant_read_secret(_controller_role(platform).role)
        return AccountingDatabase(
            endpoint=platform.accounting_database.endpoint,
            secret_arn=platform.accounting_database.secret_arn,
            name=cfg.name,
            port=platform.accounting_database.port,
        )
    if cfg.endpoint is not None and cfg.secret_arn is not None:
        _controller_role(platform).role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                resources=[cfg.secret_arn],
            )
        )
        return AccountingDatabase(endpoint=cfg.endpoint, secret_arn=cfg.secret_arn, name=cfg.name, port=cfg.port)
    return None
