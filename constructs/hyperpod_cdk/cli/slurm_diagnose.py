"""The Slurm part of ``hyperpod-cdk diagnose``: node states and lifecycle logs per group, accounting DB.

Only what the AWS APIs can tell from outside the cluster (no SSM session, no ``sinfo``):

- node states per instance group, from ListClusterNodes (what HyperPod sees; Slurm's own states
  such as ``drain`` need ``sinfo`` on the login node: ``hyperpod-cdk ssh --group login``);
- lifecycle-script log streams per group. HyperPod writes one stream per node,
  ``LifecycleConfig/<group>/<instance-id>``, in ``/aws/sagemaker/Clusters/<cluster>/<id>``
  (docs/deploy.md); a group with nodes and no stream never ran its script;
- the external accounting database of ``Orchestrator.Slurm.AccountingDatabase`` when there is one:
  the RDS instance behind the endpoint is ``available`` and one of its security groups admits a
  security group of the cluster (``VpcConfig.SecurityGroupIds``) on the database port. AWS: "The
  database must be reachable from the subnets and security groups that you configure for the
  cluster" (API_ClusterAccountingDatabase).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from hyperpod_cdk.cli import aws_errors, errors_table
from hyperpod_cdk.cli.output import escape, simple_table

__all__ = ["ACCOUNTING_UNREACHABLE", "NO_LIFECYCLE_LOG", "analyse", "collect", "render"]

DEFAULT_DB_PORT = 3306

ACCOUNTING_UNREACHABLE = errors_table.KnownError(
    key="slurm-accounting-db",
    patterns=(),
    cause="The Slurm accounting database is not available to the cluster: slurmdbd on the controller cannot "
    "connect, so sacct and fair-share stop.",
    fix="Bring the RDS instance to 'available' and allow TCP <port> from the cluster's security group in the "
    "database's security group (slurm.accounting.enabled creates that rule).",
)
NO_LIFECYCLE_LOG = errors_table.KnownError(
    key="slurm-no-lifecycle-log",
    patterns=(),
    cause="A Slurm instance group has nodes but no lifecycle-script log stream: its on_create.sh never ran "
    "(or cannot write to CloudWatch Logs).",
    fix="Check the group's LifeCycleConfig.SourceS3Uri and that the execution role can read it, and that the "
    "role may write to CloudWatch Logs.",
)


def collect(col: Any, described: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    """The ``slurm`` section of the diagnose report (``col`` is diagnose's collector)."""
    groups = [g["name"] for g in report["instance_groups"]]
    states: dict[str, Counter[str]] = {g: Counter() for g in groups}
    for node in report.get("nodes") or []:
        states.setdefault(node.get("instance_group") or "?", Counter())[node.get("status") or "unknown"] += 1
    streams: dict[str, list[str]] = {g: [] for g in groups}
    for stream in report["logs"]["streams"]:
        parts = stream.split("/")
        if len(parts) >= 3 and parts[0] == "LifecycleConfig":
            streams.setdefault(parts[1], []).append(stream)
    per_group = [
        {
            "name": name,
            "node_states": dict(sorted(states.get(name, Counter()).items())),
            "log_streams": streams.get(name, []),
        }
        for name in sorted(
            set(states) | set(streams), key=lambda g: (g not in groups, groups.index(g) if g in groups else 0, g)
        )
    ]
    slurm = (described.get("Orchestrator") or {}).get("Slurm") or {}
    section: dict[str, Any] = {
        "api_driven": bool(slurm),
        "config_strategy": slurm.get("SlurmConfigStrategy"),
        "groups": per_group,
        "logs_complete": not report["logs"]["more"] and not report["logs"]["note"],
        "accounting": None,
    }
    database = slurm.get("AccountingDatabase")
    if database:
        col.step("Checking the Slurm accounting database")
        security_groups = list((described.get("VpcConfig") or {}).get("SecurityGroupIds") or [])
        section["accounting"] = _accounting(col, database, security_groups)
    return section


def _accounting(col: Any, database: dict[str, Any], cluster_groups: list[str]) -> dict[str, Any]:
    endpoint = database.get("Endpoint") or ""
    port = int(database.get("Port") or DEFAULT_DB_PORT)
    result: dict[str, Any] = {
        "endpoint": endpoint,
        "port": port,
        "secret_arn": database.get("SecretArn"),
        "rds_instance": None,
        "status": None,
        "reachable": None,
        "detail": "",
    }
    try:
        instance = _find_rds_instance(col.clients("rds"), endpoint)
        if instance is None:
            result["detail"] = "not an RDS instance of this account and region: reachability not checked"
            return result
        result["rds_instance"] = instance.get("DBInstanceIdentifier")
        result["status"] = instance.get("DBInstanceStatus")
        db_groups = [
            g["VpcSecurityGroupId"]
            for g in instance.get("VpcSecurityGroups", [])
            if g.get("Status", "active") == "active"
        ]
        described = col.clients("ec2").describe_security_groups(GroupIds=db_groups)["SecurityGroups"]
    except aws_errors.SETUP_ERRORS:
        raise
    except (ClientError, BotoCoreError) as exc:
        service = "rds" if result["rds_instance"] is None else "ec2"
        col.unchecked.append(f"accounting database: {aws_errors.unchecked_note(service, exc)}")
        result["detail"] = "could not check"
        return result
    allowed, cidrs = _ingress(described, cluster_groups, port)
    if result["status"] != "available":
        result["reachable"] = False
        result["detail"] = f"RDS instance {result['rds_instance']} is {result['status']}"
    elif allowed:
        result["reachable"] = True
        result["detail"] = f"{', '.join(allowed)} admits the cluster's security group on TCP {port}"
    elif cidrs:
        result["detail"] = f"TCP {port} is open to {', '.join(cidrs)} (CIDR rules: not checked against node addresses)"
    else:
        result["reachable"] = False
        result["detail"] = (
            f"no rule of {', '.join(db_groups) or 'its security groups'} admits "
            f"{', '.join(cluster_groups) or 'the cluster'} on TCP {port}"
        )
    return result


def _find_rds_instance(rds: Any, endpoint: str) -> dict[str, Any] | None:
    for page in rds.get_paginator("describe_db_instances").paginate():
        for instance in page.get("DBInstances", []):
            if (instance.get("Endpoint") or {}).get("Address", "").lower() == endpoint.lower():
                return dict(instance)
    return None


def _ingress(groups: list[dict[str, Any]], cluster_groups: list[str], port: int) -> tuple[list[str], list[str]]:
    allowed: list[str] = []
    cidrs: list[str] = []
    for group in groups:
        for rule in group.get("IpPermissions", []):
            protocol = rule.get("IpProtocol")
            if protocol not in ("tcp", "-1", "6"):
                continue
            if protocol != "-1" and not rule.get("FromPort", 0) <= port <= rule.get("ToPort", -1):
                continue
            if any(pair.get("GroupId") in cluster_groups for pair in rule.get("UserIdGroupPairs", [])):
                allowed.append(group["GroupId"])
            cidrs += [r["CidrIp"] for r in rule.get("IpRanges", []) if r.get("CidrIp")]
    return allowed, cidrs


def analyse(report: dict[str, Any]) -> list[tuple[errors_table.KnownError, str]]:
    section = report.get("slurm")
    if not section:
        return []
    found: list[tuple[errors_table.KnownError, str]] = []
    accounting = section.get("accounting")
    if accounting and accounting.get("reachable") is False:
        found.append((ACCOUNTING_UNREACHABLE, f"{accounting['endpoint']}:{accounting['port']}: {accounting['detail']}"))
    if section.get("logs_complete"):
        silent = [
            g["name"]
            for g in section["groups"]
            if sum(g["node_states"].values()) and not g["log_streams"] and set(g["node_states"]) - {"Pending"}
        ]
        if silent:
            found.append(
                (NO_LIFECYCLE_LOG, "groups with nodes but no LifecycleConfig/<group>/... stream: " + ", ".join(silent))
            )
    return found


def render(console: Console, report: dict[str, Any]) -> None:
    section = report.get("slurm")
    if not section:
        return
    mode = f"API-driven ({section['config_strategy']})" if section["api_driven"] else "legacy (provisioning_parameters)"
    rows = [
        [
            g["name"],
            ", ".join(f"{k} {v}" for k, v in g["node_states"].items()) or "no nodes",
            str(len(g["log_streams"])),
        ]
        for g in section["groups"]
    ]
    console.print(simple_table(["Group", "Node states", "Log streams"], rows, title=f"Slurm: {mode}"))
    accounting = section.get("accounting")
    if accounting:
        state = {True: "reachable", False: "NOT reachable", None: "unchecked"}[accounting["reachable"]]
        console.print(
            f"Accounting database {escape(accounting['endpoint'])}:{accounting['port']}: {state}"
            + (f" ({escape(accounting['detail'])})" if accounting["detail"] else "")
        )
    console.print(
        "  Slurm's own node states (idle, drain, down): sinfo on the login node (hyperpod-cdk ssh --group login)"
    )
