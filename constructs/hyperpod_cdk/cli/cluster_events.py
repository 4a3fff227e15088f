"""Recent HyperPod cluster events for ``diagnose``: ListClusterEvents, grouped by instance group and node.

ListClusterEvents works only for clusters with ``NodeProvisioningMode: Continuous``
(https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ListClusterEvents.html, checked
2026-12-06); for others ``diagnose`` says why there are no events instead of calling it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console

from hyperpod_cdk.cli.output import escape, simple_table

WINDOW = timedelta(hours=24)
PAGE_SIZE = 100  # the API's maximum
MAX_PAGES = 3
SHOWN = 30


def list_events(sagemaker: Any, cluster: str, *, now: datetime | None = None) -> tuple[list[dict[str, Any]], bool]:
    """Events of the last :data:`WINDOW`, newest first, and whether there were more than fit."""
    after = (now or datetime.now(UTC)) - WINDOW
    request: dict[str, Any] = {
        "ClusterName": cluster,
        "EventTimeAfter": after,
        "SortBy": "EventTime",
        "SortOrder": "Descending",
        "MaxResults": PAGE_SIZE,
    }
    found: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES):
        page = sagemaker.list_cluster_events(**request)
        for event in page.get("Events", []):
            time = event.get("EventTime")
            found.append(
                {
                    "time": time.isoformat() if isinstance(time, datetime) else time,
                    "level": event.get("EventLevel"),
                    "resource_type": event.get("ResourceType"),
                    "instance_group": event.get("InstanceGroupName"),
                    "instance_id": event.get("InstanceId"),
                    "description": event.get("Description") or "",
                    "event_id": event.get("EventId"),
                }
            )
        token = page.get("NextToken")
        if not token:
            return found, False
        request["NextToken"] = token
    return found, True


def collect(
    attempt: Callable[[str, Callable[[], Any], Any], Any], sagemaker: Any, cluster: str, provisioning_mode: str | None
) -> dict[str, Any]:
    """The ``events`` section of the diagnose report; ``attempt`` turns AWS errors into "unchecked" lines."""
    if provisioning_mode != "Continuous":
        return {
            "available": False,
            "note": "cluster events need NodeProvisioningMode Continuous; this cluster has "
            f"{provisioning_mode or 'none'}",
            "events": [],
            "more": False,
            "errors_by_node": {},
        }
    if not hasattr(sagemaker, "list_cluster_events"):
        return {
            "available": False,
            "note": "this boto3 has no ListClusterEvents; upgrade boto3",
            "events": [],
            "more": False,
            "errors_by_node": {},
        }
    events, more = attempt("sagemaker", lambda: list_events(sagemaker, cluster), ([], False))
    errors = Counter(
        f"{e['instance_group'] or '-'}/{e['instance_id']}" for e in events if e["level"] == "Error" and e["instance_id"]
    )
    return {"available": True, "note": "", "events": events, "more": more, "errors_by_node": dict(errors)}


def render(console: Console, section: dict[str, Any] | None) -> None:
    if section is None:
        return
    title = f"Cluster events (last {int(WINDOW.total_seconds() // 3600)} h)"
    if not section["available"]:
        console.print(f"\n[bold]{title}[/]: {escape(section['note'])}")
        return
    events = section["events"]
    if not events:
        console.print(f"\n[bold]{title}[/]: none")
        return
    # Per group, then per node, newest first within each: what happened to which node stays together.
    ordered = sorted(events, key=lambda e: e["time"] or "", reverse=True)
    ordered = sorted(ordered, key=lambda e: (e["instance_group"] or "", e["instance_id"] or ""))
    rows = [
        [e["instance_group"] or "(cluster)", e["instance_id"] or "", e["time"], e["level"], e["description"]]
        for e in ordered[:SHOWN]
    ]
    console.print(simple_table(["Group", "Node", "Time", "Level", "Event"], rows, title=title))
    if len(events) > SHOWN or section["more"]:
        console.print(f"  ... more events (first {SHOWN} shown; --json lists all that were read)")
    for node, count in sorted(section["errors_by_node"].items()):
        console.print(f"  [red]{escape(node)}[/]: {count} error event(s)")
