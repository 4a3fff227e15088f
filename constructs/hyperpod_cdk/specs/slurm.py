"""The Slurm layout of a HyperPod cluster and its ``provisioning_parameters.json`` (pure Python).

HyperPod's Slurm lifecycle scripts learn the cluster's shape from ``provisioning_parameters.json``
next to ``on_create.sh`` in the lifecycle-script prefix: which instance group is the controller
(slurmctld), which one is the login group, and which partition each worker group joins, plus the
FSx for Lustre file system every node mounts. The format is the one AWS's Slurm base
configuration and the official cluster-setup templates write::

    {"version": "1.0.0", "workload_manager": "slurm",
     "controller_group": "controller", "login_group": "login",
     "worker_groups": [{"instance_group_name": "gpu", "partition_name": "gpu"}],
     "fsx_dns_name": "fs-0123456789abcdef0.fsx.us-west-2.amazonaws.com", "fsx_mountname": "abcdefgh"}

This module derives it from the same typed instance groups that become the
``AWS::SageMaker::Cluster`` instance groups, so group names and partitions cannot drift between
the cluster and the scripts. Values may be CDK tokens (the file is uploaded with
``Source.json_data``, which substitutes them at deploy time).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from hyperpod_cdk.errors import HyperPodConfigError

__all__ = [
    "CONTROLLER",
    "COMPUTE",
    "INSTANCE_METADATA_FILE",
    "LOGIN",
    "PARTITION_PATTERN",
    "PROVISIONING_PARAMETERS_FILE",
    "SLURM_NODES_FILE",
    "SlurmLayout",
    "instance_metadata_files",
    "provisioning_parameters",
    "slurm_layout",
    "slurm_nodes",
]

PROVISIONING_PARAMETERS_FILE = "provisioning_parameters.json"
CONTROLLER: Literal["Controller"] = "Controller"
LOGIN: Literal["Login"] = "Login"
COMPUTE: Literal["Compute"] = "Compute"
NODE_TYPES = (CONTROLLER, LOGIN, COMPUTE)
# Same pattern as ClusterSlurmConfig.PartitionNames in the AWS::SageMaker::Cluster schema.
PARTITION_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$"
PARTITION_HINT = "a Slurm partition name: letters, digits and hyphens, starting and ending with a letter or digit"


class SlurmGroup(Protocol):
    """What the layout needs from an instance group (config.InstanceGroup satisfies it)."""

    @property
    def name(self) -> str: ...

    @property
    def instance_count(self) -> int: ...

    @property
    def slurm_node_type(self) -> str | None: ...

    @property
    def partition(self) -> str | None: ...


class LustreAttributes(Protocol):
    @property
    def dns_name(self) -> str: ...

    @property
    def mount_name(self) -> str: ...


@dataclass(frozen=True)
class SlurmLayout:
    """Which instance group plays which Slurm role.

    ``workers`` pairs each compute group with its partition, in instance-group order. A group
    without ``slurm_node_type`` is a compute group; a compute group without ``partition`` gets a
    partition named after itself.
    """

    controller: str
    login: str | None
    workers: tuple[tuple[str, str], ...]

    @property
    def partitions(self) -> dict[str, list[str]]:
        """Partition name -> compute groups in it (several groups may share a partition)."""
        result: dict[str, list[str]] = {}
        for group, partition in self.workers:
            result.setdefault(partition, []).append(group)
        return result

    def node_type(self, group: str) -> str:
        if group == self.controller:
            return CONTROLLER
        if group == self.login:
            return LOGIN
        if any(group == name for name, _ in self.workers):
            return COMPUTE
        raise KeyError(group)


def _label(prefix: str, index: int, name: str) -> str:
    return f"{prefix}[{index}]({name})"


def slurm_layout(groups: Sequence[SlurmGroup], field: str = "hyperpod.instance_groups") -> SlurmLayout:
    """Check the groups form a Slurm cluster HyperPod can build; raise one error naming the field.

    Rules: exactly one Controller group, with exactly one instance (HyperPod runs a single slurmctld
    head node; its address is what every slurm.conf names); at most one Login group (the
    parameters file has one ``login_group``); at least one Compute group; ``partition`` only on
    Compute groups.
    """
    controllers: list[tuple[int, SlurmGroup]] = []
    logins: list[tuple[int, SlurmGroup]] = []
    workers: list[tuple[str, str]] = []
    for index, group in enumerate(groups):
        node_type = group.slurm_node_type or COMPUTE
        where = _label(field, index, group.name)
        if node_type not in NODE_TYPES:
            raise HyperPodConfigError(f"{where}.slurm_node_type", f"'{node_type}' must be one of {list(NODE_TYPES)}")
        if node_type != COMPUTE and group.partition is not None:
            raise HyperPodConfigError(
                f"{where}.partition",
                f"only Compute groups join a partition; '{group.name}' is a {node_type} group",
            )
        if group.partition is not None and not re.fullmatch(PARTITION_PATTERN, group.partition):
            raise HyperPodConfigError(f"{where}.partition", f"'{group.partition}' is not {PARTITION_HINT}")
        if node_type == CONTROLLER:
            if controllers:
                first = controllers[0][1].name
                raise HyperPodConfigError(
                    f"{where}.slurm_node_type",
                    f"'{group.name}' is a second Controller group ('{first}' is already the controller); "
                    "a HyperPod Slurm cluster has exactly one controller group",
                )
            controllers.append((index, group))
        elif node_type == LOGIN:
            if logins:
                raise HyperPodConfigError(
                    f"{where}.slurm_node_type",
                    f"'{group.name}' is a second Login group ('{logins[0][1].name}' is already the login "
                    "group); provisioning_parameters.json has a single login_group",
                )
            logins.append((index, group))
        else:
            workers.append((group.name, group.partition or group.name))
    if not controllers:
        names = [g.name for g in groups]
        raise HyperPodConfigError(
            field,
            f"a Slurm cluster needs one instance group with slurm_node_type: Controller (the slurmctld "
            f"head node); none of {names} has it",
        )
    index, controller = controllers[0]
    if controller.instance_count != 1:
        raise HyperPodConfigError(
            f"{_label(field, index, controller.name)}.instance_count",
            "the Controller group runs the one slurmctld and needs exactly 1 instance, "
            f"got {controller.instance_count}",
        )
    if not workers:
        raise HyperPodConfigError(
            field, "a Slurm cluster needs at least one Compute group (a group without slurm_node_type is one)"
        )
    return SlurmLayout(
        controller=controller.name,
        login=logins[0][1].name if logins else None,
        workers=tuple(workers),
    )


def provisioning_parameters(layout: SlurmLayout, fsx: LustreAttributes | None = None) -> dict[str, Any]:
    """The ``provisioning_parameters.json`` document for ``layout`` (and the FSx file system, if any)."""
    document: dict[str, Any] = {
        "version": "1.0.0",
        "workload_manager": "slurm",
        "controller_group": layout.controller,
    }
    if layout.login is not None:
        document["login_group"] = layout.login
    document["worker_groups"] = [
        {"instance_group_name": group, "partition_name": partition} for group, partition in layout.workers
    ]
    if fsx is not None:
        document["fsx_dns_name"] = fsx.dns_name
        document["fsx_mountname"] = fsx.mount_name
    return document


def describe(document: Mapping[str, Any]) -> str:
    """One line for logs and docs: ``controller=c login=l partitions=gpu:[gpu],cpu:[cpu]``."""
    partitions: dict[str, list[str]] = {}
    for worker in document.get("worker_groups", []):
        partitions.setdefault(worker["partition_name"], []).append(worker["instance_group_name"])
    parts = ",".join(f"{p}:[{','.join(g)}]" for p, g in partitions.items())
    return f"controller={document['controller_group']} login={document.get('login_group', '-')} partitions={parts}"


#: Written next to the API-driven Slurm scripts (lifecycle_scripts/slurm_api): each group's role for
#: the custom steps. HyperPod does not read it; SlurmConfig on the cluster is the source of truth.
SLURM_NODES_FILE = "slurm_nodes.json"


def slurm_nodes(
    layout: SlurmLayout,
    fsx_mount_path: str | None = None,
    users: Sequence[Mapping[str, Any]] = (),
    containers: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``slurm_nodes.json``: group -> ``{node_type, partition}`` as in the cluster's ``SlurmConfig``,
    and the POSIX ``users`` (``{name, uid, ssh_public_key}``) the script creates on every node."""
    groups: dict[str, dict[str, Any]] = {layout.controller: {"node_type": CONTROLLER}}
    if layout.login is not None:
        groups[layout.login] = {"node_type": LOGIN}
    for group, partition in layout.workers:
        groups[group] = {"node_type": COMPUTE, "partition": partition}
    document: dict[str, Any] = {"version": 1, "groups": groups}
    if fsx_mount_path is not None:
        document["fsx_mount_path"] = fsx_mount_path
    if users:
        document["users"] = [{k: v for k, v in dict(u).items() if v is not None} for u in users]
    if containers and any(containers.values()):
        # Flags, and the pinned enroot .deb checksums (file name -> sha256).
        document["containers"] = {k: dict(v) if isinstance(v, Mapping) else bool(v) for k, v in containers.items()}
    return document


#: Written next to either Slurm script set only with ``slurm.instance_metadata: root_only``: the
#: scripts then install a systemd unit whose iptables owner rule lets only root reach IMDS.
INSTANCE_METADATA_FILE = "instance_metadata.json"


def instance_metadata_files(access: str) -> dict[str, dict[str, Any]]:
    """``{INSTANCE_METADATA_FILE: ...}`` for ``root_only``; nothing for ``all_users`` (the default,
    so a default config's script prefix is unchanged)."""
    if access == "all_users":
        return {}
    return {INSTANCE_METADATA_FILE: {"version": 1, "access": access}}
