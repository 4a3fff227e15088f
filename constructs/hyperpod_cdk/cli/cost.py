"""``hyperpod-cdk cost``: what the config's instance groups cost per hour and per month.

Prices come, in order, from the AWS Price List API when credentials exist (and not ``--offline``),
a table given with ``--price-table``, then the bundled table (:mod:`hyperpod_cdk.specs.prices`).
Every price shown names its source and the date it was read; a group without one is listed as
unpriced, never guessed. Only instance hours are counted (not EBS, FSx, EKS, NAT or data transfer).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hyperpod_cdk.cli import output
from hyperpod_cdk.cli.clients import Clients
from hyperpod_cdk.config import PlatformConfig
from hyperpod_cdk.specs.prices import BUNDLED_TABLE, HOURS_PER_MONTH, Price, PriceTableError, load_table, write_table

# The Price List API answers in us-east-1 (also eu-central-1, ap-south-1) for every region:
# https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/using-price-list-query-api.html (checked 2026-12-06).
PRICING_REGION = "us-east-1"
SERVICE_CODE = "AmazonSageMaker"
PRICE_LIST_SOURCE = "AWS Price List API GetProducts (AmazonSageMaker, OnDemand)"
# SageMaker's price list products (productFamily "ML Instance") carry `regionCode`, `instanceName` and a
# `component` ("Training", "Hosting", ...) naming what the instance is billed for; those attribute names
# are what public scripts over the AmazonSageMaker offer file filter on. The component / usage type of
# HyperPod instances was not checked against a live GetProducts here: only a product whose usagetype or
# component mentions HyperPod or Cluster counts, and when several prices match none is used.
HYPERPOD_MARKERS = ("hyperpod", "cluster")


def group_demand(config: PlatformConfig) -> list[tuple[str, list[str], int]]:
    """(group, instance types, node count) per instance group."""
    found = []
    for group in config.hyperpod.instance_groups:
        types = [group.instance_type] if group.instance_type else list(group.instance_types or [])
        found.append((group.name, types, int(group.instance_count)))
    return found


def _hourly_usd(item: dict[str, Any]) -> float | None:
    for term in (item.get("terms", {}).get("OnDemand") or {}).values():
        for dimension in (term.get("priceDimensions") or {}).values():
            unit = str(dimension.get("unit", "")).lower()
            usd = (dimension.get("pricePerUnit") or {}).get("USD")
            if unit.startswith("hr") and usd is not None:
                value = float(usd)
                if value > 0:
                    return value
    return None


def price_list_price(client: Any, region: str, instance_type: str, today: str) -> tuple[Price | None, str]:
    """The on-demand HyperPod price of one instance type from the Price List API, or (None, why)."""
    response = client.get_products(
        ServiceCode=SERVICE_CODE,
        Filters=[
            {"Type": "TERM_MATCH", "Field": "regionCode", "Value": region},
            {"Type": "TERM_MATCH", "Field": "instanceName", "Value": instance_type},
        ],
        MaxResults=100,
    )
    prices = set()
    for raw in response.get("PriceList", []):
        item = json.loads(raw) if isinstance(raw, str) else raw
        attributes = (item.get("product") or {}).get("attributes") or {}
        text = f"{attributes.get('usagetype', '')} {attributes.get('component', '')}".lower()
        if not any(marker in text for marker in HYPERPOD_MARKERS):
            continue
        hourly = _hourly_usd(item)
        if hourly is not None:
            prices.add(hourly)
    if len(prices) == 1:
        return Price(region, instance_type, prices.pop(), PRICE_LIST_SOURCE, today), ""
    if not prices:
        return None, "the Price List API lists no HyperPod on-demand price for it here"
    return None, f"the Price List API lists {len(prices)} different HyperPod prices for it; none used"


def estimate(
    config: PlatformConfig,
    *,
    region: str,
    table: dict[tuple[str, str], Price],
    lookup: Callable[[str, str], tuple[Price | None, str]] | None = None,
) -> dict[str, Any]:
    """The estimate as a JSON-ready dict. ``lookup(region, type)`` is the Price List API, if any."""
    cache: dict[str, tuple[Price | None, str]] = {}

    def price_of(instance_type: str) -> tuple[Price | None, str]:
        if instance_type not in cache:
            found: tuple[Price | None, str] = (None, "")
            if lookup is not None:
                found = lookup(region, instance_type)
            if found[0] is None and (region, instance_type) in table:
                found = (table[(region, instance_type)], "")
            elif found[0] is None:
                found = (None, found[1] or f"no sourced price for {instance_type} in {region} in the price table")
            cache[instance_type] = found
        return cache[instance_type]

    groups, unpriced = [], []
    for name, types, nodes in group_demand(config):
        priced = [(t, price_of(t)) for t in types]
        known = [(t, p) for t, (p, _) in priced if p is not None]
        row: dict[str, Any] = {"group": name, "instance_types": types, "nodes": nodes}
        if len(known) != len(types) or not known:
            reasons = "; ".join(why for _, (p, why) in priced if p is None)
            unpriced.append({"group": name, "reason": reasons})
            row.update(usd_per_node_hour=None, usd_per_hour=None, usd_per_month=None, source=None, retrieved=None)
        else:
            # A group of several types costs at most its dearest type per node.
            instance_type, price = max(known, key=lambda tp: tp[1].usd_per_hour)
            per_hour = price.usd_per_hour * nodes
            row.update(
                priced_type=instance_type,
                usd_per_node_hour=price.usd_per_hour,
                usd_per_hour=round(per_hour, 4),
                usd_per_month=round(per_hour * HOURS_PER_MONTH, 2),
                source=price.source,
                retrieved=price.retrieved,
            )
        groups.append(row)
    total = sum(g["usd_per_hour"] or 0 for g in groups)
    return {
        "region": region,
        "currency": "USD",
        "hours_per_month": HOURS_PER_MONTH,
        "groups": groups,
        "usd_per_hour": round(total, 4),
        "usd_per_month": round(total * HOURS_PER_MONTH, 2),
        "complete": not unpriced,
        "unpriced": unpriced,
        "budget_usd": config.cost.monthly_budget_usd if config.cost else None,
        "counts": "instance hours only, at instance_count nodes (not EBS, FSx, EKS, NAT or data transfer)",
    }


def summary_line(report: dict[str, Any]) -> str:
    """One line for preflight."""
    if not any(g["usd_per_hour"] is not None for g in report["groups"]):
        return (
            "Cost estimate: no sourced price for these instance types offline; run `hyperpod-cdk cost` "
            "with credentials (AWS Price List API) or --price-table FILE"
        )
    text = f"Cost estimate: ${report['usd_per_hour']:,.2f}/h, ${report['usd_per_month']:,.0f}/month (instance hours)"
    if report["unpriced"]:
        text += f"; unpriced: {', '.join(u['group'] for u in report['unpriced'])}"
    if report["budget_usd"]:
        text += f"; budget ${report['budget_usd']:,.0f}/month"
    return text


def offline_report(config: PlatformConfig, region: str) -> dict[str, Any]:
    """The estimate from the bundled table alone (preflight)."""
    return estimate(config, region=region, table=load_table(BUNDLED_TABLE))


COMMAND = "cost"
HELP = "price the config's instance groups per hour and per month"
DESCRIPTION = (
    "On-demand instance-hour cost of each instance group at its instance_count, from the AWS Price "
    "List API when credentials exist, else a sourced, dated price table. Groups without a sourced price are "
    "listed as unpriced."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--offline", action="store_true", help="do not call the Price List API")
    parser.add_argument(
        "--price-table",
        type=Path,
        metavar="FILE",
        help="a JSON price table (entries with region, instance_type, usd_per_hour, source, retrieved)",
    )
    parser.add_argument(
        "--write-table",
        type=Path,
        metavar="FILE",
        help="write the prices found (with source and date) as a price table",
    )


def _has_credentials(clients: Clients) -> bool:
    try:
        return clients.session.get_credentials() is not None
    except Exception:  # a broken profile: stay offline
        return False


def run(args: argparse.Namespace, config: PlatformConfig, clients: Clients | None, region: str) -> int:
    try:
        table = load_table(BUNDLED_TABLE)
        if args.price_table is not None:
            table.update(load_table(args.price_table))
    except PriceTableError as exc:
        output.error(str(exc), code=2)
        return 2
    lookup = None
    notes: list[str] = []
    if clients is not None and not args.offline and _has_credentials(clients):
        client = clients("pricing", PRICING_REGION)
        today = datetime.now(UTC).date().isoformat()

        def lookup(where: str, instance_type: str) -> tuple[Price | None, str]:
            try:
                return price_list_price(client, where, instance_type, today)
            except (ClientError, BotoCoreError) as exc:
                notes.append(f"Price List API unavailable ({exc}); used the price table")
                return None, ""

    report = estimate(config, region=region, table=table, lookup=lookup)
    report["notes"] = sorted(set(notes))
    if args.write_table is not None:
        found = {
            (g["priced_type"], g["usd_per_node_hour"], g["source"], g["retrieved"])
            for g in report["groups"]
            if g["usd_per_hour"] is not None
        }
        try:
            write_table(
                args.write_table,
                [Price(region, t, p, s, r) for t, p, s, r in found],
                f"Written by hyperpod-cdk cost for {config.name} in {region}",
            )
        except OSError as exc:  # a directory, a missing folder, no permission: one line (round 8, L3)
            output.error(f"{args.write_table}: cannot write the price table ({exc.strerror or exc})", code=2)
            return 2
    if args.json:
        output.print_json(report)
        return 0
    con = output.console()
    rows = [
        [
            g["group"],
            ", ".join(g["instance_types"]),
            g["nodes"],
            "" if g["usd_per_node_hour"] is None else f"{g['usd_per_node_hour']:,.4f}",
            "unpriced" if g["usd_per_hour"] is None else f"{g['usd_per_hour']:,.2f}",
            "" if g["usd_per_month"] is None else f"{g['usd_per_month']:,.0f}",
            "" if g["source"] is None else f"{g['source']} ({g['retrieved']})",
        ]
        for g in report["groups"]
    ]
    con.print(
        output.simple_table(
            ["Group", "Type", "Nodes", "$/node-h", "$/h", "$/month", "Source"],
            rows,
            title=f"Cost: {config.name} in {region}",
        )
    )
    con.print(summary_line(report), markup=False)
    for item in report["unpriced"]:
        con.print(f"unpriced {item['group']}: {item['reason']}", markup=False)
    for note in report["notes"]:
        con.print(note, markup=False)
    con.print(f"Counts {report['counts']}; {HOURS_PER_MONTH} hours a month.", markup=False)
    return 0
