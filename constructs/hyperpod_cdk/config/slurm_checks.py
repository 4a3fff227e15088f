"""Checks of a Slurm platform config that span sections (``slurm:`` against ``hyperpod:``).

Sources for each rule:

- Continuous provisioning on Slurm is optional and off by default, for clusters created with it;
  existing clusters cannot be migrated to it
  (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-scaling-slurm.html). The
  legacy ``provisioning-parameters`` configuration exists here for clusters deployed before, so it
  never gets Continuous; new clusters use ``api``.
- A customer managed EBS key needs Continuous provisioning
  (https://docs.aws.amazon.com/sagemaker/latest/dg/smcluster-cmk.html).
- An external accounting database needs Continuous provisioning
  (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-external-accounting-db-slurm.html;
  aws-cdk-lib 2.275 ``ClusterAccountingDatabaseProperty``: "Supported only with Continuous node
  provisioning") and lives in ``Orchestrator.Slurm``, which only the API-driven configuration sets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.specs.regions import GRAFANA_REGIONS
from hyperpod_cdk.specs.service_rules import ClusterFacts, check_cluster

if TYPE_CHECKING:
    from hyperpod_cdk.config.platform import PlatformConfig

__all__ = ["check_slurm_settings", "slurm_provisioning_mode"]


def slurm_provisioning_mode(config: PlatformConfig) -> str | None:
    """``NodeProvisioningMode`` of a Slurm cluster: only when set explicitly (AWS's default is off)."""
    if "node_provisioning_mode" not in config.hyperpod.model_fields_set:
        return None
    return config.hyperpod.node_provisioning_mode


def check_slurm_settings(config: PlatformConfig) -> None:
    """Raise one :class:`HyperPodConfigError` naming the field when the Slurm settings cannot deploy."""
    slurm = config.slurm
    mode = slurm_provisioning_mode(config)
    if not slurm.api_driven:
        if mode is not None:
            raise HyperPodConfigError(
                "hyperpod.node_provisioning_mode",
                "Continuous provisioning is for new Slurm clusters (AWS cannot move an existing cluster to it), and "
                "slurm.configuration: provisioning-parameters is kept for existing ones; use slurm.configuration: api "
                "for a new cluster, or remove node_provisioning_mode",
            )
        for key in ("config_strategy", "accounting", "users", "containers", "observability"):
            if key in slurm.model_fields_set:
                raise HyperPodConfigError(
                    f"slurm.{key}",
                    "only used with slurm.configuration: api (it is part of Orchestrator.Slurm); remove it",
                )
    _check_users(config)
    containers = slurm.containers
    if containers.docker and slurm.users and not containers.docker_users_are_root:
        # The docker group is root on the node (https://docs.docker.com/engine/security/#docker-daemon-attack-surface).
        raise HyperPodConfigError(
            "slurm.containers.docker_users_are_root",
            "slurm.containers.docker adds every slurm.users entry to the docker group, which is root on every node; "
            "set slurm.containers.docker_users_are_root: true to accept that, or turn docker off (enroot_pyxis "
            "runs containers as the user)",
        )
    if containers.docker_users_are_root and not containers.docker:
        raise HyperPodConfigError(
            "slurm.containers.docker_users_are_root", "only used with slurm.containers.docker: true; remove it"
        )
    if (containers.enroot_pyxis or containers.docker) and config.network.closed:
        raise HyperPodConfigError(
            "slurm.containers",
            "the nodes download enroot/pyxis (github.com) and Docker (the Ubuntu archive), which a closed network "
            "cannot reach; turn it off, or bake them into a custom AMI (instance_groups[].image_id)",
        )
    _check_observability(config)
    # HyperPod's own rules, from the one table (specs/service_rules.py).
    for violation in check_cluster(
        ClusterFacts(
            node_provisioning_mode=mode,
            orchestrator="slurm",
            customer_managed_key=config.hyperpod.ebs_kms_key == "customer-managed",
            external_accounting=slurm.accounting.active,
        )
    ):
        fields = {
            "volume_key": "hyperpod.ebs_kms_key",
            "accounting_database": "slurm.accounting",
            "node_provisioning_mode": "hyperpod.node_provisioning_mode",
        }
        raise HyperPodConfigError(fields[violation.subject], violation.line(fields))


def _check_users(config: PlatformConfig) -> None:
    from hyperpod_cdk.config.slurm import RESERVED_USERS

    names: dict[str, int] = {}
    uids: dict[int, str] = {}
    for index, user in enumerate(config.slurm.users):
        where = f"slurm.users[{index}]({user.name})"
        if user.name in RESERVED_USERS:
            raise HyperPodConfigError(f"{where}.name", f"'{user.name}' already exists on HyperPod nodes; pick another")
        if user.name in names:
            raise HyperPodConfigError(
                f"{where}.name", f"'{user.name}' is listed twice (also users[{names[user.name]}])"
            )
        if user.uid in uids:
            raise HyperPodConfigError(f"{where}.uid", f"{user.uid} is already {uids[user.uid]}'s UID; UIDs must differ")
        names[user.name] = index
        uids[user.uid] = user.name


def _check_observability(config: PlatformConfig) -> None:
    """Where Slurm metrics can deploy.

    - The nodes run the exporters and the collector as Docker containers, as AWS's scripts do
      (awslabs/awsome-distributed-ai base-config/observability/install_*.sh), and AWS installs Docker
      from download.docker.com (base-config/utils/install_docker.sh); this library's script installs
      the Ubuntu archive's docker.io. Neither is reachable from a closed network.
    - Amazon Managed Grafana exists in the regions of AWS's Slurm observability template
      (aws/sagemaker-hyperpod-cluster-setup slurm/cloudformation/slurm-observability-template.yaml
      AMGRegionMapping), the same nine as on EKS.
    """
    observability = config.slurm.observability
    if not observability.enabled:
        return
    if config.network.closed:
        raise HyperPodConfigError(
            "slurm.observability",
            "the nodes install Docker from the Ubuntu archive to run the exporters, which a closed network cannot "
            "reach; turn it off, or use a network with a NAT gateway",
        )
    if observability.grafana and config.region not in GRAFANA_REGIONS:
        raise HyperPodConfigError(
            "slurm.observability.grafana",
            f"Amazon Managed Grafana is not offered in {config.region} (only {', '.join(sorted(GRAFANA_REGIONS))}); "
            "set grafana: false and read the AMP workspace from a Grafana elsewhere",
        )
