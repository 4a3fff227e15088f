"""``hyperpod-cdk kubeconfig`` and ``hyperpod-cdk access list|grant|revoke``.

kubeconfig
    Writes the context ``hyp set-cluster-context`` selects: it runs ``aws eks update-kubeconfig``
    (context, cluster and user all named after the EKS cluster ARN) and then makes that ARN the
    current context (aws/sagemaker-hyperpod-cli ``src/sagemaker/hyperpod/common/utils.py``,
    ``set_cluster_context``). So ``kubectl`` and ``hyp`` (job commands read the current context)
    both work. The user authenticates with ``aws eks get-token``, as update-kubeconfig writes it.

    With a private-only endpoint the server becomes ``https://127.0.0.1:<port>`` with
    ``tls-server-name`` set to the endpoint's host name, so kubectl still checks the cluster's
    certificate, and the command starts an SSM port-forwarding session
    (``AWS-StartPortForwardingSessionToRemoteHost``) through the instance tagged
    ``hyperpod-cdk:access-tunnel=<EKS cluster>`` (``eks.access_tunnel``). Running
    ``hyp set-cluster-context`` afterwards would put the private endpoint back as the server; run
    this command again then.

access
    Adds and removes EKS access entries (https://docs.aws.amazon.com/eks/latest/userguide/access-entries.html)
    for people on day 2, without a redeploy: ``--admin`` associates AmazonEKSClusterAdminPolicy
    cluster-wide; ``--team T`` maps the principal to the team's Kubernetes group, as the stack does
    for ``submitter_role_arn``. Entries made here live outside the stack: CloudFormation neither
    shows nor deletes them, and deleting the cluster deletes them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import yaml
from botocore.exceptions import ClientError

from hyperpod_cdk import input_limits
from hyperpod_cdk.cli import aws_errors, output
from hyperpod_cdk.cli.arguments import (
    DEFAULT_LOCAL_PORT,
    CommandError,
    add_cluster,
    add_command,
    add_group,
    add_switches,
    add_tunnel_port,
    matching,
)
from hyperpod_cdk.cli.clients import Clients
from hyperpod_cdk.config import IAM_PRINCIPAL_PATTERN, PlatformConfig
from hyperpod_cdk.config.charts import TEAM_GROUP_PREFIX

__all__ = ["TUNNEL_DOCUMENT", "AccessError", "add_parsers", "kubeconfig_entry", "tunnel_command"]

TUNNEL_TAG = "hyperpod-cdk:access-tunnel"  # = hyperpod_cdk.cluster.access_tunnel.TUNNEL_TAG (no CDK import here)
TUNNEL_DOCUMENT = "AWS-StartPortForwardingSessionToRemoteHost"
ADMIN_POLICY = "arn:{partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
# What `aws eks update-kubeconfig` writes for the user (exec credential plugin v1beta1).
EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"


class AccessError(CommandError):
    """A problem the user can fix; ``code`` is the exit status."""


_FORCE = ("--force", "also revoke the HyperPod cluster's own execution role (its nodes then cannot join)")
_principal = matching(IAM_PRINCIPAL_PATTERN, "an IAM role or user ARN (arn:aws:iam::123456789012:role/Name)")


def add_parsers(
    commands: Any,
    parents: Sequence[argparse.ArgumentParser],
    *,
    kubeconfig_handler: Callable[..., int],
    access_handler: Callable[..., int],
) -> None:
    kc = add_command(
        commands,
        "kubeconfig",
        parents,
        kubeconfig_handler,
        help="write the kubeconfig context for the cluster (the one `hyp set-cluster-context` uses); "
        "start the SSM tunnel when the endpoint is private",
        description="Writes a context named after the EKS cluster ARN and makes it current. With a private "
        "endpoint it points kubectl at 127.0.0.1:PORT and runs `aws ssm start-session` through the access tunnel "
        "instance until you stop it (Ctrl-C); --no-tunnel only prints that command.",
    )
    add_cluster(kc)
    kc.add_argument(
        "--kubeconfig", metavar="FILE", help="file to update (default: first KUBECONFIG entry, " "else ~/.kube/config)"
    )
    kc.add_argument("--namespace", metavar="NS", help="context namespace (default: the examples' team namespace)")
    add_tunnel_port(kc, "--local-port", f"local end of the tunnel (default {DEFAULT_LOCAL_PORT})")
    kc.add_argument("--no-tunnel", action="store_true", help="write the kubeconfig and print the tunnel command")

    actions = add_group(
        commands,
        "access",
        "list, grant or revoke people's EKS access entries (day 2, outside the stack)",
        "access_command",
    )
    listing = add_command(actions, "list", parents, access_handler, help="access entries and their policies/groups")
    add_cluster(listing, help=None)
    listing.set_defaults(access_action="list")
    for action, text in (("grant", "create an access entry"), ("revoke", "delete an access entry")):
        sub = add_command(actions, action, parents, access_handler, help=text + " (lives outside the stack)")
        sub.add_argument("principal", type=_principal, metavar="PRINCIPAL_ARN")
        if action == "grant":
            who = sub.add_mutually_exclusive_group(required=True)
            who.add_argument("--admin", action="store_true", help="cluster-admin (AmazonEKSClusterAdminPolicy)")
            who.add_argument(
                "--team", metavar="TEAM", help="the team's Kubernetes group (submit jobs in its namespace)"
            )
        add_cluster(sub, option=True, help="HyperPod cluster (default: the config's)")
        if action == "revoke":
            add_switches(sub, [_FORCE])
        sub.set_defaults(access_action=action)


# ----------------------------------------------------------------------------- cluster lookup


EXECUTION_ROLES_KEY = "hyperpodExecutionRoles"


def eks_of(clients: Clients, cluster: str) -> dict[str, Any]:
    """``eks:DescribeCluster``'s cluster of a HyperPod cluster (plus ``arn`` always set)."""
    try:
        described = clients("sagemaker").describe_cluster(ClusterName=cluster)
    except ClientError as exc:
        if aws_errors.is_not_found(exc):
            raise AccessError(f"HyperPod cluster '{cluster}' not found in {clients.region}", 1) from None
        raise
    eks_arn = ((described.get("Orchestrator") or {}).get("Eks") or {}).get("ClusterArn")
    if not eks_arn:
        raise AccessError(f"{cluster} is orchestrated by Slurm: it has no Kubernetes API (use `hyperpod-cdk ssh`)", 2)
    eks_cluster = dict(clients("eks").describe_cluster(name=eks_arn.rsplit("/", 1)[-1])["cluster"])
    eks_cluster.setdefault("arn", eks_arn)
    # The roles HyperPod's nodes join with: `access revoke` refuses them unless --force.
    eks_cluster[EXECUTION_ROLES_KEY] = sorted(
        {str(group["ExecutionRole"]) for group in described.get("InstanceGroups") or [] if group.get("ExecutionRole")}
    )
    return eks_cluster


def api_endpoint(eks_cluster: Mapping[str, Any]) -> tuple[str, str]:
    """The EKS cluster's API endpoint and CA data; one line (exit 1) while it has none: "The API server endpoint
    and certificate authority data aren't available until the cluster reaches the ACTIVE state"
    (https://docs.aws.amazon.com/eks/latest/APIReference/API_DescribeCluster.html; R31T-M2: a KeyError)."""
    endpoint = eks_cluster.get("endpoint")
    ca = (eks_cluster.get("certificateAuthority") or {}).get("data")
    if not (isinstance(endpoint, str) and endpoint and isinstance(ca, str) and ca):
        status = eks_cluster.get("status") or "not ACTIVE"
        raise AccessError(
            f"EKS cluster {eks_cluster.get('name', '?')} is {status}: it has no API endpoint yet (EKS gives one once "
            "it is ACTIVE); rerun then",
            1,
        )
    return endpoint, ca


def tunnel_instance(clients: Clients, eks_name: str, vpc_id: str) -> str | None:
    """The running access-tunnel instance of ``eks_name`` in the cluster's VPC (newest first), or None.

    The tag alone is not enough: anyone allowed to run a tagged instance elsewhere in the account
    would become the next user's tunnel (fifth review, L2). The tunnel sits in the cluster's VPC
    (cluster/access_tunnel.py), which DescribeCluster names in ``resourcesVpcConfig.vpcId``.
    """
    pages = (
        clients("ec2")
        .get_paginator("describe_instances")
        .paginate(
            Filters=[
                {"Name": f"tag:{TUNNEL_TAG}", "Values": [eks_name]},
                {"Name": "instance-state-name", "Values": ["running"]},
                {"Name": "vpc-id", "Values": [vpc_id]},
            ]
        )
    )
    instances = [i for page in pages for r in page.get("Reservations", []) for i in r.get("Instances", [])]
    instances.sort(key=lambda i: str(i.get("LaunchTime", "")), reverse=True)
    return instances[0]["InstanceId"] if instances else None


# ----------------------------------------------------------------------------- kubeconfig


def kubeconfig_entry(
    eks_cluster: dict[str, Any],
    region: str,
    *,
    namespace: str,
    local_port: int | None,
    profile: str | None = None,
) -> dict[str, Any]:
    """The cluster, user and context entries (all named after the EKS ARN) for one cluster."""
    arn = eks_cluster["arn"]
    endpoint, ca = api_endpoint(eks_cluster)
    cluster: dict[str, Any] = {"certificate-authority-data": ca}
    if local_port is None:
        cluster["server"] = endpoint
    else:
        # TLS still verifies the cluster's certificate against its real host name.
        cluster["server"] = f"https://127.0.0.1:{local_port}"
        cluster["tls-server-name"] = _host(endpoint)
    args = ["--region", region, "eks", "get-token", "--cluster-name", eks_cluster["name"], "--output", "json"]
    user: dict[str, Any] = {"exec": {"apiVersion": EXEC_API_VERSION, "command": "aws", "args": args}}
    if profile:
        user["exec"]["env"] = [{"name": "AWS_PROFILE", "value": profile}]
    return {
        "cluster": {"name": arn, "cluster": cluster},
        "user": {"name": arn, "user": user},
        "context": {"name": arn, "context": {"cluster": arn, "user": arn, "namespace": namespace}},
    }


def _host(endpoint: str) -> str:
    return endpoint.removeprefix("https://").split("/", 1)[0].split(":", 1)[0]


# A kubeconfig holding many clusters with embedded certificates can pass hyperpod.yaml's 1 MiB.
KUBECONFIG_LIMITS = input_limits.Limits(max_bytes=16 * 1024 * 1024, max_nodes=1_000_000, max_depth=64)


def merge_kubeconfig(path: Path, entry: dict[str, Any]) -> None:
    """Replace (or add) the entries of the same name in ``path`` and make the context current."""
    data: dict[str, Any] = {}
    # A path that exists must be a regular file (or a link to one); a bad file is one line, exit 2
    # (fifth review, L3).
    try:
        exists, regular = path.exists(), path.is_file()
    except OSError as exc:  # a name over 255 bytes ... (review round 19, R19T-L1)
        raise AccessError(
            f"cannot read kubeconfig {str(path)[:200]}: {exc.strerror or exc}; pass --kubeconfig FILE", 2
        ) from None
    if exists and not regular:
        raise AccessError(f"{path} exists and is not a regular file; pass --kubeconfig FILE", 2)
    if regular:
        try:
            # Capped (size, aliases, depth): 5,000-deep nesting was a RecursionError trace (seventh review, L1).
            text = input_limits.read_input_text(path, KUBECONFIG_LIMITS)
            data = input_limits.load_yaml(text, KUBECONFIG_LIMITS) or {}
        except (ValueError, yaml.YAMLError) as exc:  # UnreadableInputError, InputLimitError
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise AccessError(f"cannot read kubeconfig {path}: {reason}; fix it or pass --kubeconfig FILE", 2) from None
        if not isinstance(data, dict):
            raise AccessError(f"{path} is not a kubeconfig (a YAML mapping); pass --kubeconfig FILE", 2)
        for key in ("clusters", "users", "contexts"):
            if data.get(key) is not None and not isinstance(data[key], list):  # kubectl refuses it too (R30T-L9)
                raise AccessError(f"{path} is not a kubeconfig ({key} is not a list); pass --kubeconfig FILE", 2)
    data.setdefault("apiVersion", "v1")
    data.setdefault("kind", "Config")
    data.setdefault("preferences", {})
    for key, item in (("clusters", entry["cluster"]), ("users", entry["user"]), ("contexts", entry["context"])):
        kept = [e for e in (data.get(key) or []) if isinstance(e, dict) and e.get("name") != item["name"]]
        data[key] = [*kept, item]
    data["current-context"] = entry["context"]["name"]
    text = yaml.safe_dump(data, sort_keys=False)
    try:
        _write_owner_only(path, text)
    except OSError as exc:
        raise AccessError(f"cannot write kubeconfig {path}: {exc.strerror or exc}; pass --kubeconfig FILE", 2) from None


def _write_owner_only(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Owner-only (it names credentials) and atomic: a new 0600 file next to it, then rename over it. An
    # existing file keeps no looser mode, a symlink at the path is replaced rather than written through,
    # and an interrupted write leaves the old kubeconfig whole.
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temporary).replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(temporary).unlink()
        raise


def default_kubeconfig_path() -> Path:
    first = (os.environ.get("KUBECONFIG") or "").split(os.pathsep)[0]
    return Path(first).expanduser() if first else Path.home() / ".kube" / "config"


def tunnel_command(instance_id: str, endpoint: str, region: str, local_port: int, profile: str | None) -> list[str]:
    """The ``aws ssm start-session`` port-forwarding command to the endpoint's private address."""
    parameters = f'{{"host":["{_host(endpoint)}"],"portNumber":["443"],"localPortNumber":["{local_port}"]}}'
    command = [
        "aws",
        "ssm",
        "start-session",
        "--region",
        region,
        "--target",
        instance_id,
        "--document-name",
        TUNNEL_DOCUMENT,
        "--parameters",
        parameters,
    ]
    if profile:
        command += ["--profile", profile]
    return command


def _namespace(config: PlatformConfig | None, explicit: str | None) -> str:
    if explicit:
        return explicit
    if config is None or config.orchestrator != "eks":
        return "default"
    k8s = config.kubernetes
    return k8s.team(k8s.examples.team).effective_namespace


def run_kubeconfig(
    args: argparse.Namespace,
    cluster: str,
    clients: Clients,
    config: PlatformConfig | None,
    *,
    runner: Callable[[list[str]], int] | None = None,
) -> int:
    try:
        eks_cluster = eks_of(clients, cluster)
        api_endpoint(eks_cluster)  # before the tunnel lookup and the file
        region = clients.region
        vpc = eks_cluster.get("resourcesVpcConfig") or {}
        private = not vpc.get("endpointPublicAccess", True)
        instance: str | None = None
        if private:
            vpc_id = vpc.get("vpcId")
            if not vpc_id:
                raise AccessError(f"DescribeCluster gave no resourcesVpcConfig.vpcId for {eks_cluster['name']}")
            instance = tunnel_instance(clients, eks_cluster["name"], vpc_id)
            if instance is None:
                raise AccessError(
                    f"{eks_cluster['name']} has a private-only endpoint and no running access tunnel: set "
                    "eks.access_tunnel: true and deploy, or list your CIDRs in eks.public_access_cidrs"
                )
        path = Path(args.kubeconfig).expanduser() if args.kubeconfig else default_kubeconfig_path()
        entry = kubeconfig_entry(
            eks_cluster,
            region,
            namespace=_namespace(config, args.namespace),
            local_port=args.local_port if private else None,
            profile=args.profile,
        )
        merge_kubeconfig(path, entry)
    except AccessError as exc:
        output.error(str(exc), code=exc.code)
        return exc.code
    result: dict[str, Any] = {"kubeconfig": str(path), "context": eks_cluster["arn"], "private": private}
    command = (
        tunnel_command(instance, eks_cluster["endpoint"], region, args.local_port, args.profile) if instance else None
    )
    if command:
        result |= {"tunnel_instance": instance, "tunnel_command": command}
    if args.json:
        output.print_json(result)
    else:
        print(f"Wrote context {eks_cluster['arn']} to {path} (current context; `hyp` job commands use it too).")
        if command:
            print(f"Private endpoint: kubectl goes through 127.0.0.1:{args.local_port} and the SSM tunnel {instance}.")
    if not command:
        return 0
    printable = " ".join(c if c[:1] != "{" else f"'{c}'" for c in command)
    if args.no_tunnel:
        if not args.json:
            print(f"Start the tunnel (keep it open while you use kubectl):\n  {printable}")
        return 0
    if runner is None:
        missing = [tool for tool in ("aws", "session-manager-plugin") if shutil.which(tool) is None]
        if missing:
            output.error(
                f"{' and '.join(missing)} not found: install the AWS CLI and the Session Manager plugin "
                "(https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with"
                f"-install-plugin.html), or run it elsewhere: {printable}",
                code=1,
            )
            return 1
        runner = _run_foreground
    print("Tunnel open; leave this running and use kubectl in another terminal (Ctrl-C closes it).", flush=True)
    return runner(command)


def _run_foreground(command: list[str]) -> int:
    try:
        return subprocess.call(command)  # noqa: S603 - fixed argv, no shell
    except KeyboardInterrupt:
        return 0


# ----------------------------------------------------------------------------- access entries


def run_access(
    args: argparse.Namespace,
    cluster: str,
    clients: Clients,
    config: PlatformConfig | None,
    *,
    stdout: TextIO | None = None,
) -> int:
    try:
        eks_cluster = eks_of(clients, cluster)
        name = eks_cluster["name"]
        eks = clients("eks")
        if args.access_action == "list":
            return _list(eks, name, args.json)
        if args.access_action == "revoke":
            if args.principal in eks_cluster.get(EXECUTION_ROLES_KEY, []) and not getattr(args, "force", False):
                raise AccessError(
                    f"{args.principal} is the execution role of {cluster}'s instance groups: without its access "
                    "entry HyperPod nodes cannot join the EKS cluster; pass --force to revoke it anyway",
                    2,
                )
            eks.delete_access_entry(clusterName=name, principalArn=args.principal)
            _say(
                args.json,
                {"revoked": args.principal, "cluster": name},
                f"Deleted the access entry of {args.principal} on {name}.",
            )
            return 0
        return _grant(args, eks, name, eks_cluster["arn"], config)
    except AccessError as exc:
        output.error(str(exc), code=exc.code)
        return exc.code
    except ClientError as exc:
        if aws_errors.code(exc) == "ResourceNotFoundException" and args.access_action == "revoke":
            output.error(f"{args.principal} has no access entry on this cluster", code=1)
            return 1
        if aws_errors.code(exc) == "ResourceInUseException":
            output.error(f"{args.principal} already has an access entry: revoke it first, or use it as it is", code=1)
            return 1
        raise


def _grant(args: argparse.Namespace, eks: Any, name: str, eks_arn: str, config: PlatformConfig | None) -> int:
    partition = eks_arn.split(":", 2)[1]
    if args.admin:
        eks.create_access_entry(clusterName=name, principalArn=args.principal, type="STANDARD")
        eks.associate_access_policy(
            clusterName=name,
            principalArn=args.principal,
            policyArn=ADMIN_POLICY.format(partition=partition),
            accessScope={"type": "cluster"},
        )
        what = "cluster-admin"
    else:
        if config is not None and config.orchestrator == "eks":
            teams = [t.name for t in config.kubernetes.teams]
            if args.team not in teams:
                raise AccessError(f"--team: '{args.team}' is not a team of the config ({', '.join(teams)})", 2)
        group = f"{TEAM_GROUP_PREFIX}{args.team}"
        eks.create_access_entry(
            clusterName=name, principalArn=args.principal, type="STANDARD", kubernetesGroups=[group]
        )
        what = f"team {args.team} (Kubernetes group {group})"
    _say(
        args.json,
        {"granted": args.principal, "cluster": name, "access": what},
        f"{args.principal} now has {what} on {name}. This entry lives outside the stack: CloudFormation does "
        "not show or remove it; `hyperpod-cdk access revoke` does.",
    )
    return 0


def _list(eks: Any, name: str, as_json: bool) -> int:
    rows = []
    for page in eks.get_paginator("list_access_entries").paginate(clusterName=name):
        for arn in page.get("accessEntries", []):
            entry = eks.describe_access_entry(clusterName=name, principalArn=arn)["accessEntry"]
            policies = [
                p["policyArn"].rsplit("/", 1)[-1]
                for p in eks.list_associated_access_policies(clusterName=name, principalArn=arn).get(
                    "associatedAccessPolicies", []
                )
            ]
            rows.append(
                {
                    "principal": arn,
                    "type": entry.get("type", ""),
                    "groups": entry.get("kubernetesGroups", []),
                    "policies": policies,
                }
            )
    if as_json:
        output.print_json(rows)
    else:
        output.console().print(
            output.simple_table(
                ("Principal", "Type", "Kubernetes groups", "Access policies"),
                [(r["principal"], r["type"], ", ".join(r["groups"]), ", ".join(r["policies"])) for r in rows],
                title=f"Access entries of {name}",
            )
        )
    return 0


def _say(as_json: bool, data: dict[str, Any], text: str) -> None:
    if as_json:
        output.print_json(data)
    else:
        print(text)
