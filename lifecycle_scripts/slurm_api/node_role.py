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
USER_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
SSH_KEY = re.compile(r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,3}( [^\t\n]*)?$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


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


def users(nodes_path: str) -> list[tuple[str, int, str]]:
    """``(name, uid, ssh_public_key or "")`` of slurm_nodes.json's users, each value checked."""
    out = []
    for index, user in enumerate(load(nodes_path, "slurm_nodes.json").get("users") or []):
        name, uid, key = user.get("name"), user.get("uid"), user.get("ssh_public_key") or ""
        if not isinstance(name, str) or not USER_NAME.match(name):
            raise InputError(f"slurm_nodes.json users[{index}]: bad name {name!r}")
        if not isinstance(uid, int) or isinstance(uid, bool) or not 2000 <= uid <= 60000:
            raise InputError(f"slurm_nodes.json users[{index}] ({name}): bad uid {uid!r}")
        if key and not SSH_KEY.match(key):
            raise InputError(f"slurm_nodes.json users[{index}] ({name}): ssh_public_key is not one OpenSSH public key")
        out.append((name, uid, key))
    return out


# What the platform writes (monitoring/slurm_observability.py): AMP's remote-write URL, whose form
# is https://aps-workspaces.<region>.amazonaws.com/workspaces/<id>/api/v1/remote_write
# (https://docs.aws.amazon.com/prometheus/latest/userguide/AMP-onboard-ingest-metrics-remote-write.html).
REMOTE_WRITE = re.compile(
    r"^https://aps-workspaces\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?/workspaces/ws-[0-9a-zA-Z-]+/api/v1/remote_write$"
)


def observability(path: str) -> tuple[str, str]:
    """(remote-write URL, region) from slurm_observability.json, both checked."""
    data = load(path, "slurm_observability.json")
    url, region = data.get("remote_write_url"), data.get("region")
    match = REMOTE_WRITE.match(url) if isinstance(url, str) else None
    if match is None:
        raise InputError(f"slurm_observability.json: remote_write_url {url!r} is not an AMP remote-write URL")
    if region != match.group(1):
        raise InputError(f"slurm_observability.json: region {region!r} is not the workspace's ({match.group(1)})")
    return url, region


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "command",
        nargs="?",
        choices=["node-env", "users", "containers", "observability", "enroot-sha256"],
        default="node-env",
    )
    parser.add_argument("--nodes", required=True)
    parser.add_argument("--observability", help="slurm_observability.json (command observability)")
    parser.add_argument("--resource-config")
    parser.add_argument("--local-ips")
    parser.add_argument("--name", help="enroot-sha256: the .deb file name")
    args = parser.parse_args(argv)
    try:
        if args.command == "containers":
            wanted = load(args.nodes, "slurm_nodes.json").get("containers") or {}
            print(" ".join(k for k in ("enroot_pyxis", "docker", "docker_users_are_root") if wanted.get(k) is True))
            return 0
        if args.command == "enroot-sha256":
            pinned = (load(args.nodes, "slurm_nodes.json").get("containers") or {}).get("enroot_deb_sha256") or {}
            want = pinned.get(args.name) if isinstance(pinned, dict) else None
            print(want if isinstance(want, str) and SHA256.match(want) else "")
            return 0
        if args.command == "observability":
            if args.observability is None:
                raise InputError("observability needs --observability")
            print("\t".join(observability(args.observability)))
            return 0
        if args.command == "users":
            for name, uid, key in users(args.nodes):
                print(f"{name}\t{uid}\t{key}")
            return 0
        if args.resource_config is None or args.local_ips is None:
            raise InputError("node-env needs --resource-config and --local-ips")
        env = node_env(args.nodes, args.resource_config, args.local_ips)
    except InputError as exc:
        print(f"node_role.py: {exc}", file=sys.stderr)
        return 2
    for key, value in env.items():
        print(f"{key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
