"""HyperPodSlurmCluster: an ``AWS::SageMaker::Cluster`` orchestrated by Slurm.

How Slurm is provisioned
------------------------
HyperPod documents two ways to tell a Slurm cluster which instance group is the controller,
which is the login group and which partition each compute group joins
(https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-ref.html#sagemaker-hyperpod-ref-slurm-configuration):

1. API-driven (``configuration="api"``, the default; AWS recommends it for new clusters):
   ``Orchestrator.Slurm.SlurmConfigStrategy`` on the cluster, ``SlurmConfig {NodeType,
   PartitionNames}`` on each instance group and the FSx file system as ``FsxLustreConfig`` in each
   group's ``InstanceStorageConfigs`` (``MountPath`` ``/fsx``). HyperPod writes ``slurm.conf`` and
   mounts FSx; the lifecycle scripts keep only custom steps, and ``provisioning_parameters.json``
   must not be in the prefix
   (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-slurm-api-config-migration.html).
2. Legacy (``configuration="provisioning-parameters"``): no ``Orchestrator``, and a
   ``provisioning_parameters.json`` next to the scripts that HyperPod's agent reads; every node
   runs Slurm configless as AWS's base configuration does (awslabs/awsome-distributed-ai
   ``1.architectures/5.sagemaker-hyperpod/LifecycleScripts/base-config``). Kept for clusters
   deployed that way: ``Orchestrator`` is create-only in ``AWS::SageMaker::Cluster`` (cfn-lint's
   schema), so switching a running cluster in CloudFormation replaces it.

Only (1) takes ``node_provisioning_mode="Continuous"`` (for new clusters; AWS cannot move an
existing cluster to it: https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-scaling-slurm.html),
which in turn allows a customer managed EBS key (https://docs.aws.amazon.com/sagemaker/latest/dg/smcluster-cmk.html)
and an external accounting database
(https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-external-accounting-db-slurm.html).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Unpack

from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from hyperpod_cdk.cluster.cluster_base import (
    SHARED_CLUSTER_DEFAULTS,
    CreatedHyperPodCluster,
    SharedClusterProps,
)
from hyperpod_cdk.cluster.instance_groups import (
    as_instance_group,
)
from hyperpod_cdk.config import InstanceGroup
from hyperpod_cdk.errors import HyperPodConfigError, checked_props, typed_props
from hyperpod_cdk.specs.instance_types import Orchestrator
from hyperpod_cdk.specs.service_rules import SUBJECTS, ClusterFacts, check_cluster
from hyperpod_cdk.specs.slurm import (
    CONTROLLER,
    SLURM_NODES_FILE,
    LustreAttributes,
    SlurmLayout,
    provisioning_parameters,
    slurm_layout,
    slurm_nodes,
)

SlurmConfiguration = Literal["api", "provisioning-parameters"]
SlurmConfigStrategy = Literal["Managed", "Overwrite", "Merge"]
CONFIGURATIONS = ("api", "provisioning-parameters")
CONFIG_STRATEGIES = ("Managed", "Overwrite", "Merge")
#: Where HyperPod mounts a Lustre file system when ``MountPath`` is left out; set explicitly so the
#: scripts, the sbatch examples and the docs all say /fsx (sagemaker-hyperpod-ref, "FsxLustreConfig").
FSX_MOUNT_PATH = "/fsx"


@dataclass(frozen=True)
class AccountingDatabase:
    """``Orchestrator.Slurm.AccountingDatabase``: the MySQL-compatible database slurmdbd uses.

    ``secret_arn`` names a Secrets Manager secret with ``username`` and ``password``; ``name``
    (schema) and ``port`` may stay None (HyperPod: ``slurm_acct_db_<cluster id>``; the engine's port).
    """

    endpoint: str
    secret_arn: str
    name: str | None = None
    port: int | float | None = None


def _check_mode_props(
    scope: Construct,
    construct_id: str,
    *,
    configuration: Any,
    config_strategy: Any,
    fsx: Any,
    node_provisioning_mode: Any,
    volume_key: Any,
    accounting_database: Any,
    provisioning_parameters: Any,
    **_other_props: Any,
) -> None:
    """The orchestration props (typed_props hands every prop over before the constructor runs)."""
    with checked_props(scope, construct_id):
        if configuration not in CONFIGURATIONS:
            raise HyperPodConfigError("configuration", f"{configuration!r} must be one of {list(CONFIGURATIONS)}")
        if config_strategy not in CONFIG_STRATEGIES:
            raise HyperPodConfigError(
                "config_strategy", f"{config_strategy!r} must be one of {list(CONFIG_STRATEGIES)}"
            )
        if node_provisioning_mode not in (None, "Continuous"):
            raise HyperPodConfigError(
                "node_provisioning_mode", f"{node_provisioning_mode!r} must be 'Continuous' or None"
            )
        if accounting_database is not None and not isinstance(accounting_database, AccountingDatabase):
            raise HyperPodConfigError(
                "accounting_database", "expected an AccountingDatabase(endpoint, secret_arn, ...)"
            )
        if configuration == "api":
            if provisioning_parameters is not None:
                # https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-slurm-api-config-migration.html
                raise HyperPodConfigError(
                    "provisioning_parameters",
                    "API-driven Slurm takes the layout from SlurmConfig; leave it out, or set "
                    "configuration='provisioning-parameters'",
                )
        else:
            for name, value in (
                ("fsx", fsx),
                ("node_provisioning_mode", node_provisioning_mode),
                ("accounting_database", accounting_database),
            ):
                if value is not None:
                    raise HyperPodConfigError(
                        name,
                        "only with configuration='api' (the legacy provisioning-parameters path has no "
                        "Orchestrator.Slurm, and its scripts mount FSx)",
                    )
            if config_strategy != "Managed":
                raise HyperPodConfigError("config_strategy", "only with configuration='api'")
        # HyperPod's own rules (customer managed key, accounting database): specs/service_rules.py.
        for violation in check_cluster(
            ClusterFacts(
                node_provisioning_mode=node_provisioning_mode,
                orchestrator="slurm",
                customer_managed_key=volume_key is not None,
                external_accounting=accounting_database is not None,
            )
        ):
            raise HyperPodConfigError(violation.subject, violation.line({s: s for s in SUBJECTS}))
        if provisioning_parameters is not None and not isinstance(provisioning_parameters, Mapping):
            raise HyperPodConfigError(
                "provisioning_parameters", "expected the document (a mapping) HyperPodSlurmCluster.parameters_for gives"
            )


@typed_props(check=_check_mode_props, defaults=SHARED_CLUSTER_DEFAULTS)
class HyperPodSlurmCluster(CreatedHyperPodCluster):
    """A SageMaker HyperPod cluster whose nodes run Slurm, API-driven by default.

    Node recovery is ``Automatic`` by default and deep health checks follow
    :attr:`InstanceGroup.effective_deep_health_checks`. EBS volumes use an AWS owned key unless
    ``volume_key`` is given, which HyperPod accepts only in Continuous provisioning mode.

    Each :class:`InstanceGroup` says its Slurm role with ``slurm_node_type`` (``Controller``: one
    group of one instance; ``Login``: at most one group; ``Compute``: the default) and, for compute
    groups, its ``partition`` (default: the group name). :attr:`layout` is the checked result. With
    ``configuration="api"`` it becomes each group's ``SlurmConfig``; with
    ``"provisioning-parameters"`` :meth:`provisioning_parameters` is the file to upload next to the
    scripts (``HyperPodLifecycleScripts(json_files=...)``), and passing the uploaded document as
    ``provisioning_parameters`` makes synth fail if it names other groups or partitions.

    Args:
        cluster_name, instance_groups, subnets_by_az_id, default_az_id, security_group, execution_role,
            lifecycle_scripts, volume_key, on_create, node_recovery, ip_headroom_percent: the props both
            cluster constructs take, :class:`~hyperpod_cdk.cluster.cluster_base.SharedClusterProps`. Here
            the instance groups carry Slurm roles, the security group is also the FSx file system's, the
            execution role needs no EKS grant, and ``volume_key`` needs ``node_provisioning_mode="Continuous"``.
        configuration: "api" (default) or "provisioning-parameters" (module docstring).
        config_strategy: "Managed" (default, AWS's default), "Overwrite" or "Merge"; api only.
        fsx: the file system every group mounts at /fsx (api only; the legacy scripts mount it).
        node_provisioning_mode: "Continuous" or None (default); api only.
        accounting_database: external accounting database; needs Continuous.
        controller_execution_role: the Controller group's own execution role (``iam.IRole``), e.g. the
            one that may read the accounting database secret, so login and compute nodes cannot. The
            cluster waits for it and its policies. Default: None (the Controller group uses
            ``execution_role`` like every group).
        provisioning_parameters: the uploaded parameters document (legacy only), checked against the groups.
        tags: extra tags; ``SageMaker=true`` is always set.
    """

    ORCHESTRATOR = Orchestrator.SLURM

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        configuration: SlurmConfiguration = "api",
        config_strategy: SlurmConfigStrategy = "Managed",
        fsx: LustreAttributes | None = None,
        node_provisioning_mode: str | None = None,
        accounting_database: AccountingDatabase | None = None,
        provisioning_parameters: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        controller_execution_role: iam.IRole | None = None,
        **shared: Unpack[SharedClusterProps],
    ) -> None:
        props = self._check_props(scope, construct_id, shared, locals())  # locals(): still the arguments only
        lifecycle_scripts = shared.get("lifecycle_scripts")
        with checked_props(scope, construct_id):
            layout = slurm_layout(props.groups, field="instance_groups")
            if provisioning_parameters is not None:
                _check_parameters(provisioning_parameters, layout)
            _check_nodes_file(lifecycle_scripts, layout, configuration == "api")
        super().__init__(scope, construct_id)
        self.layout: SlurmLayout = layout
        self.configuration: SlurmConfiguration = configuration
        api = configuration == "api"
        fsx_storage = (
            [
                # HyperPod mounts it on every node of the group (sagemaker-hyperpod-ref, "FSx configuration
                # via InstanceStorageConfigs"); all groups get it, as every node mounted /fsx before.
                sagemaker.CfnCluster.ClusterInstanceStorageConfigProperty(
                    fsx_lustre_config=sagemaker.CfnCluster.ClusterFsxLustreConfigProperty(
                        dns_name=fsx.dns_name, mount_name=fsx.mount_name, mount_path=FSX_MOUNT_PATH
                    )
                )
            ]
            if api and fsx is not None
            else []
        )

        def group_property(group: InstanceGroup) -> sagemaker.CfnCluster.ClusterInstanceGroupProperty:
            layout = self.layout
            slurm_config = None
            if api:
                node_type = layout.node_type(group.name)
                partition = dict(layout.workers).get(group.name)
                # PartitionNames: required for Compute, refused for Controller and Login, at most one.
                slurm_config = sagemaker.CfnCluster.ClusterSlurmConfigProperty(
                    node_type=node_type, partition_names=[partition] if partition else None
                )
            # ExecutionRole is per instance group (required in ClusterInstanceGroup, not create-only):
            # https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-sagemaker-cluster-clusterinstancegroup.html
            role_arn = None
            if controller_execution_role is not None and layout.node_type(group.name) == CONTROLLER:
                role_arn = controller_execution_role.role_arn
            return props.group_property(
                group, execution_role_arn=role_arn, slurm_config=slurm_config, extra_storage=fsx_storage
            )

        def check_groups(new_groups: list[InstanceGroup]) -> None:
            # A new group changes the Slurm layout (a partition, or a second login group to refuse).
            new_layout = slurm_layout(new_groups, field="instance_groups")
            _check_nodes_file(lifecycle_scripts, new_layout, api)
            if provisioning_parameters is not None:
                raise HyperPodConfigError(
                    "provisioning_parameters",
                    "the uploaded document names the groups; regenerate it with HyperPodSlurmCluster.parameters_for "
                    "and pass every group to the constructor",
                )
            self.layout = new_layout

        self._create_resource(
            scope,
            construct_id,
            props,
            render=group_property,
            check=check_groups,
            tags=tags,
            # None on the legacy path: the agent reads provisioning_parameters.json instead.
            orchestrator=_slurm_orchestrator(config_strategy, accounting_database) if api else None,
            node_provisioning_mode=node_provisioning_mode,
        )
        if controller_execution_role is not None:
            self.wait_for(controller_execution_role)

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


def _slurm_orchestrator(
    config_strategy: str, accounting_database: AccountingDatabase | None
) -> sagemaker.CfnCluster.OrchestratorProperty:
    """``Orchestrator.Slurm`` of an API-driven cluster: its config strategy and accounting database."""
    accounting = None
    if accounting_database is not None:
        accounting = sagemaker.CfnCluster.ClusterAccountingDatabaseProperty(
            endpoint=accounting_database.endpoint,
            secret_arn=accounting_database.secret_arn,
            name=accounting_database.name,
            port=accounting_database.port,
        )
    return sagemaker.CfnCluster.OrchestratorProperty(
        slurm=sagemaker.CfnCluster.ClusterOrchestratorSlurmConfigProperty(
            slurm_config_strategy=config_strategy, accounting_database=accounting
        )
    )


def _check_nodes_file(scripts: Any, layout: SlurmLayout, api: bool) -> None:
    """The scripts' ``slurm_nodes.json`` must name every group: ``node_role.py`` stops a node whose group
    it does not list (lifecycle_scripts/slurm_api/node_role.py), and the file is fixed when the scripts
    are created (their S3 prefix is a hash of it)."""
    document = getattr(scripts, "json_files", {}).get(SLURM_NODES_FILE) if api and scripts is not None else None
    if not isinstance(document, Mapping):
        return
    listed = set(document.get("groups") or {})
    missing = [g for g in slurm_nodes(layout)["groups"] if g not in listed]
    if missing:
        raise HyperPodConfigError(
            "instance_groups",
            f"{missing} not in the lifecycle scripts' {SLURM_NODES_FILE} ({sorted(listed)}), so their nodes would "
            "fail on_create; add the group to the config (hyperpod.instance_groups) or generate the file with "
            "slurm_nodes() for every group before creating HyperPodLifecycleScripts",
        )


def _check_parameters(document: Mapping[str, Any], layout: SlurmLayout) -> None:
    expected = provisioning_parameters(layout)
    for key in ("controller_group", "login_group", "worker_groups"):
        if document.get(key) != expected.get(key):
            raise HyperPodConfigError(
                f"provisioning_parameters.{key}",
                f"{document.get(key)!r} does not match the instance groups ({expected.get(key)!r}); "
                "generate the file with HyperPodSlurmCluster.parameters_for",
            )
