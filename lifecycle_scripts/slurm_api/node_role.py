#!/usr/bin/env python3
"""This node's instance group and Slurm role, for on_create.sh (API-driven Slurm).

Standard library only. Reads ``slurm_nodes.json`` (written by hyperpod-cdk next to the scripts
from the same instance groups that carry ``SlurmConfig`` in the cluster) and HyperPod's
``resource_config.json``; matches this node's IPv4 addresses against
``InstanceGroups[].Instances[].CustomerIpAddress`` and prints whitelisted ``KEY=VALUE`` lines.

``slurm_nodes.json`` is not ``provisioning_parameters.json``: HyperPod reads nothing from it. With
API-driven configuration the cluster's own ``SlurmConfig`` is the source of truth and
``provisioning_parameters.json`` must not be in the prefix
(https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-slurm-api-config-migration.html).

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
NODE_TYPES = {"Controller": "controller", "Login": "login", "Compute": "compute"}


class InputError(Exception):
    pass


def load(path: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{what} not found at {path}") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{what} at {path} is not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{what} at {path} must be a JSON object")
    return data


def node_env(nodes_path: str, resource_path: str, local_ips: str) -> dict[str, str]:
    nodes = load(nodes_path, "slurm_nodes.json")
    resource = load(resource_path, "resource_config.json")
    groups = nodes.get("groups")
    if not isinstance(groups, dict) or not groups:
        raise InputError(f"slurm_nodes.json at {nodes_path} has no 'groups' object")
    mine = set()
    for raw in local_ips.split():
        try:
            if ipaddress.ip_address(raw).version == 4:
                mine.add(raw)
        except ValueError:
            continue
    for group in resource.get("InstanceGroups") or []:
        for instance in group.get("Instances") or []:
            ip = instance.get("CustomerIpAddress")
            if ip in mine:
                name = group.get("Name")
                if not isinstance(name, str) or not NAME.match(name):
                    raise InputError(f"resource_config.json at {resource_path}: bad group name {name!r}")
                role = groups.get(name)
                if not isinstance(role, dict) or role.get("node_type") not in NODE_TYPES:
                    raise InputError(
                        f"instance group '{name}' is not in slurm_nodes.json at {nodes_path}; the scripts were "
                        "uploaded for other groups (redeploy so the prefix matches the cluster)"
                    )
                partition = role.get("partition") or ""
                if partition and not NAME.match(partition):
                    raise InputError(f"slurm_nodes.json at {nodes_path}: bad partition {partition!r}")
                return {
                    "NODE_TYPE": NODE_TYPES[role["node_type"]],
                    "NODE_GROUP": name,
                    "NODE_PARTITION": partition,
                    "NODE_IP": ip,
                    "NODE_NAME": "ip-" + ip.replace(".", "-"),
                }
    raise InputError(
        f"none of this node's addresses ({' '.join(sorted(mine)) or 'none'}) is a CustomerIpAddress in "
        f"resource_config.json at {resource_path}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", required=True)
    parser.add_argument("--resource-config", required=True)
    parser.add_argument("--local-ips", required=True)
    args = parser.parse_args(argv)
    try:
        env = node_env(args.nodes, args.resource_config, args.local_ips)
    except InputError as exc:
        print(f"node_role.py: {exc}", file=sys.stderr)
        return 2
    for key, value in env.items():
        print(f"{key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
