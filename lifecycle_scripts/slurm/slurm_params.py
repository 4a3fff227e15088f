#!/usr/bin/env python3
"""Read provisioning_parameters.json and HyperPod's resource_config.json for on_create.sh.

Standard library only (the HyperPod Slurm AMI ships python3, not jq). One command:

``node-env``
    Prints ``KEY=VALUE`` lines describing this node: its instance group and Slurm role, the
    controller's name and address, the FSx file system. on_create.sh reads them with a whitelist
    (no eval); values are checked here to contain no blanks or shell metacharacters.

slurm.conf itself is HyperPod's: its cluster agent writes it on the controller from the same
provisioning_parameters.json, and compute and login nodes fetch it configless.

resource_config.json is the file HyperPod writes on every node of a cluster (default
``/opt/ml/config/resource_config.json``, or ``$SAGEMAKER_RESOURCE_CONFIG_PATH``)::

    {"ClusterConfig": {"ClusterArn": "...", "ClusterName": "..."},
     "InstanceGroups": [{"Name": "controller", "InstanceType": "ml.m5.2xlarge",
                         "Instances": [{"InstanceName": "controller-1", "InstanceId": "i-...",
                                        "CustomerIpAddress": "10.1.0.10", "AgentIpAddress": "..."}]}]}

A node finds its own group by matching its IPv4 addresses against ``CustomerIpAddress`` (the
address in the customer VPC); HyperPod Slurm node names are ``ip-<a>-<b>-<c>-<d>`` of that address.
These keys are the ones AWS's own HyperPod lifecycle scripts and tools read
(github.com/aws-samples/awsome-distributed-training, ``1.architectures/5.sagemaker-hyperpod``);
no AWS documentation page describing the file's schema was found, so the parser checks every key
it uses and fails with the file's name when one is missing.

Exit codes: 0 ok, 2 bad input (the message names the file and the problem).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import sys
from pathlib import Path
from typing import Any

NAME = re.compile(r"^[A-Za-z0-9](-*[A-Za-z0-9])*$")
SAFE_VALUE = re.compile(r"^[A-Za-z0-9._:/@-]*$")
DNS_NAME = re.compile(r"^[A-Za-z0-9.-]+$")
MOUNT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,8}$")


class InputError(Exception):
    pass


def load_json(path: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{what} not found at {path}") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{what} at {path} is not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{what} at {path} must be a JSON object")
    return data


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise InputError(f"{where}: {value!r} is not an instance group or partition name")
    return value


def parse_params(params: dict[str, Any]) -> dict[str, Any]:
    """Check provisioning_parameters.json; return controller, login, workers [(group, partition)], fsx."""
    if params.get("workload_manager", "slurm") != "slurm":
        raise InputError(f"provisioning_parameters.json: workload_manager is {params['workload_manager']!r}, not slurm")
    controller = _name(params.get("controller_group"), "provisioning_parameters.json controller_group")
    login = params.get("login_group")
    if login is not None:
        login = _name(login, "provisioning_parameters.json login_group")
    workers_raw = params.get("worker_groups")
    if not isinstance(workers_raw, list) or not workers_raw:
        raise InputError("provisioning_parameters.json: worker_groups must be a non-empty list")
    workers = []
    for index, worker in enumerate(workers_raw):
        where = f"provisioning_parameters.json worker_groups[{index}]"
        if not isinstance(worker, dict):
            raise InputError(f"{where} must be an object")
        workers.append(
            (
                _name(worker.get("instance_group_name"), f"{where}.instance_group_name"),
                _name(worker.get("partition_name"), f"{where}.partition_name"),
            )
        )
    dns, mount = params.get("fsx_dns_name"), params.get("fsx_mountname")
    if (dns is None) != (mount is None):
        raise InputError("provisioning_parameters.json: fsx_dns_name and fsx_mountname go together")
    if dns is not None and (not isinstance(dns, str) or not DNS_NAME.match(dns)):
        raise InputError(f"provisioning_parameters.json fsx_dns_name: {dns!r} is not a DNS name")
    if mount is not None and (not isinstance(mount, str) or not MOUNT_NAME.match(mount)):
        raise InputError(f"provisioning_parameters.json fsx_mountname: {mount!r} is not a Lustre mount name")
    return {"controller": controller, "login": login, "workers": workers, "fsx": (dns, mount) if dns else None}


def node_name(ip: str) -> str:
    return "ip-" + ip.replace(".", "-")


def instances_by_group(resource_config: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    groups = resource_config.get("InstanceGroups")
    if not isinstance(groups, list):
        raise InputError("resource_config.json has no InstanceGroups list")
    result: dict[str, list[dict[str, Any]]] = {}
    for group in groups:
        name = group.get("Name") if isinstance(group, dict) else None
        instances = group.get("Instances") if isinstance(group, dict) else None
        if not isinstance(name, str) or not isinstance(instances, list):
            raise InputError("resource_config.json: every instance group needs Name and Instances")
        checked = []
        for instance in instances:
            ip = instance.get("CustomerIpAddress") if isinstance(instance, dict) else None
            try:
                ipaddress.IPv4Address(ip)
            except ValueError:
                raise InputError(
                    f"resource_config.json: group {name} has an instance without a valid " f"CustomerIpAddress ({ip!r})"
                ) from None
            checked.append(instance)
        result[name] = checked
    return result


def node_env(params: dict[str, Any], resource_config: dict[str, Any], local_ips: list[str]) -> dict[str, str]:
    layout = parse_params(params)
    groups = instances_by_group(resource_config)
    mine = None
    for group, instances in groups.items():
        for instance in instances:
            if instance["CustomerIpAddress"] in local_ips:
                mine = (group, instance)
                break
        if mine:
            break
    if mine is None:
        raise InputError(
            f"none of this node's addresses {local_ips} is a CustomerIpAddress in resource_config.json; "
            "is this a node of the cluster?"
        )
    group, instance = mine
    partition = ""
    if group == layout["controller"]:
        node_type = "controller"
    elif group == layout["login"]:
        node_type = "login"
    else:
        partitions = [p for g, p in layout["workers"] if g == group]
        if not partitions:
            raise InputError(
                f"instance group {group} is not in provisioning_parameters.json (controller_group, login_group "
                "or worker_groups); the parameters do not belong to this cluster"
            )
        node_type, partition = "compute", partitions[0]
    controllers = groups.get(layout["controller"])
    if not controllers:
        raise InputError(f"resource_config.json has no instance in the controller group {layout['controller']}")
    controller_ip = controllers[0]["CustomerIpAddress"]
    fsx = layout["fsx"] or ("", "")
    env = {
        "NODE_TYPE": node_type,
        "NODE_GROUP": group,
        "NODE_PARTITION": partition,
        "NODE_IP": instance["CustomerIpAddress"],
        "NODE_NAME": node_name(instance["CustomerIpAddress"]),
        "CONTROLLER_NAME": node_name(controller_ip),
        "CONTROLLER_IP": controller_ip,
        "CLUSTER_NAME": str(resource_config.get("ClusterConfig", {}).get("ClusterName", "")),
        "FSX_DNS_NAME": fsx[0],
        "FSX_MOUNTNAME": fsx[1],
    }
    for key, value in env.items():
        if not SAFE_VALUE.match(value):
            raise InputError(f"{key} value {value!r} has characters this script does not accept")
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("node-env")
    p.add_argument("--params", required=True)
    p.add_argument("--resource-config", required=True)
    p.add_argument("--local-ips", required=True, help="this node's IPv4 addresses, blank-separated")
    args = parser.parse_args(argv)
    try:
        params = load_json(args.params, "provisioning_parameters.json")
        resource_config = load_json(args.resource_config, "resource_config.json")
        for key, value in node_env(params, resource_config, args.local_ips.split()).items():
            print(f"{key}={value}")
    except InputError as exc:
        print(f"slurm_params.py: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
