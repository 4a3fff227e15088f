"""``hyperpod-cdk clusters list``: the HyperPod clusters of a region, with status and orchestrator.

ListClusters gives name, status and creation time but not the orchestrator; DescribeCluster says
it (``Orchestrator.Eks.ClusterArn`` or ``Orchestrator.Slurm``). A cluster whose description has no
``Orchestrator`` is a Slurm cluster: the field came with EKS support, and CreateCluster without it
builds a Slurm cluster (API reference, CreateCluster ``Orchestrator``:
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateCluster.html).
"""

from __future__ import annotations

import argparse
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hyperpod_cdk.cli import aws_errors, output


def orchestrator_of(described: dict[str, Any]) -> tuple[str, str]:
    """(``EKS`` or ``Slurm``, the EKS cluster name or "") from a DescribeCluster response."""
    orchestrator = described.get("Orchestrator") or {}
    eks_arn = (orchestrator.get("Eks") or {}).get("ClusterArn") or ""
    if eks_arn:
        return "EKS", eks_arn.rsplit("/", 1)[-1]
    return "Slurm", ""


def list_clusters(sagemaker: Any, name_contains: str | None = None) -> list[dict[str, Any]]:
    """Every cluster (ListClusters, all pages), each described once for its orchestrator and nodes.

    A description AWS refuses (access denied, a cluster deleted in between) leaves the orchestrator
    ``unknown`` with the reason, instead of failing the whole list.
    """
    kwargs: dict[str, Any] = {"SortBy": "CREATION_TIME", "SortOrder": "Descending"}
    if name_contains:
        kwargs["NameContains"] = name_contains
    rows: list[dict[str, Any]] = []
    for page in sagemaker.get_paginator("list_clusters").paginate(**kwargs):
        for summary in page.get("ClusterSummaries", []):
            row: dict[str, Any] = {
                "name": summary.get("ClusterName"),
                "status": summary.get("ClusterStatus"),
                "orchestrator": "unknown",
                "eks_cluster": "",
                "nodes": None,
                "created": summary.get("CreationTime"),
                "arn": summary.get("ClusterArn"),
                "note": "",
            }
            try:
                described = sagemaker.describe_cluster(ClusterName=summary["ClusterArn"] or summary["ClusterName"])
            except aws_errors.SETUP_ERRORS:
                raise
            except (ClientError, BotoCoreError) as exc:
                row["note"] = aws_errors.unchecked_note("sagemaker", exc)
            else:
                row["orchestrator"], row["eks_cluster"] = orchestrator_of(described)
                row["nodes"] = sum(int(g.get("CurrentCount") or 0) for g in described.get("InstanceGroups", []))
                if described.get("FailureMessage"):
                    row["note"] = described["FailureMessage"]
            rows.append(row)
    return rows


GROUP_HELP = "HyperPod clusters in the region"
COMMAND = "list"
HELP = "list the region's HyperPod clusters with status and orchestrator"
DESCRIPTION = (
    "ListClusters (all pages) and DescribeCluster per cluster: name, status, orchestrator "
    "(EKS with its cluster, or Slurm), node count, creation time. Exit 0 (also when there are none)."
)


def add_arguments(listing: argparse.ArgumentParser) -> None:
    listing.add_argument("--name-contains", metavar="TEXT", help="only clusters whose name contains TEXT")


def run(args: argparse.Namespace, clients: Any) -> int:
    region = clients.region
    with output.spinner(f"Listing HyperPod clusters in {region}", enabled=not args.json):
        rows = list_clusters(clients("sagemaker"), args.name_contains)
    if args.json:
        output.print_json({"region": region, "clusters": rows})
        return 0
    con = output.console()
    if not rows:
        con.print(f"No HyperPod clusters in {region}.")
        return 0
    con.print(
        output.simple_table(
            ["Name", "Status", "Orchestrator", "Nodes", "Created", "Note"],
            [
                [
                    r["name"],
                    r["status"],
                    r["orchestrator"] + (f" ({r['eks_cluster']})" if r["eks_cluster"] else ""),
                    "" if r["nodes"] is None else r["nodes"],
                    r["created"].isoformat(timespec="minutes")
                    if hasattr(r["created"], "isoformat")
                    else r["created"] or "",
                    r["note"],
                ]
                for r in rows
            ],
            title=f"HyperPod clusters in {region}",
        )
    )
    return 0


__all__ = ["add_arguments", "list_clusters", "orchestrator_of", "run"]
