"""Dated, sourced on-demand prices of HyperPod instances (``specs/data/hyperpod_prices.json``).

Every entry is ``{region, instance_type, usd_per_hour, source, retrieved}``: a price nobody can trace
to a source and a date is not used. The bundled table is empty until a sourced price is added
(see its ``about``); ``hyperpod-cdk cost`` also reads a table given with ``--price-table`` and the
AWS Price List API.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

from hyperpod_cdk.input_limits import Limits, UnreadableInputError, load_json, read_input_text

BUNDLED_TABLE = Path(__file__).parent / "data" / "hyperpod_prices.json"
# A table holds one entry per region and instance type: a few hundred KB at most.
PRICE_TABLE_LIMITS = Limits(max_bytes=4 * 1024 * 1024, max_nodes=200_000, max_depth=8)
HOURS_PER_MONTH = 730  # AWS's monthly-cost convention (24 x 365 / 12), as in the AWS Pricing Calculator
INSTANCE_PATTERN = re.compile(r"^ml\.[a-z0-9-]+\.[a-z0-9-]+$")


class PriceTableError(ValueError):
    """A price table entry without a source, a date, or a sane price (one line naming the entry)."""


@dataclass(frozen=True)
class Price:
    region: str
    instance_type: str
    usd_per_hour: float
    source: str
    retrieved: str  # ISO date the source was read

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _entry(where: str, raw: Any) -> Price:
    if not isinstance(raw, dict):
        raise PriceTableError(f"{where}: expected an object")
    missing = [k for k in ("region", "instance_type", "usd_per_hour", "source", "retrieved") if k not in raw]
    if missing:
        raise PriceTableError(f"{where}: missing {', '.join(missing)} (every price needs its source and date)")
    value = raw["usd_per_hour"]
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 10_000:
        raise PriceTableError(f"{where}.usd_per_hour: expected a positive number of US dollars, got {value!r}")
    if not INSTANCE_PATTERN.match(str(raw["instance_type"])):
        raise PriceTableError(f"{where}.instance_type: expected ml.<family>.<size>, got {raw['instance_type']!r}")
    try:
        date.fromisoformat(str(raw["retrieved"]))
    except ValueError:
        raise PriceTableError(f"{where}.retrieved: expected a date such as 2026-12-06") from None
    if len(str(raw["source"]).strip()) < 10:
        raise PriceTableError(f"{where}.source: name the page or API the price was read from")
    return Price(str(raw["region"]), str(raw["instance_type"]), float(value), str(raw["source"]), str(raw["retrieved"]))


def _first_line(exc: Exception) -> str:
    line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return line if len(line) <= 200 else line[:200] + "…"


def load_table(path: Path = BUNDLED_TABLE) -> dict[tuple[str, str], Price]:
    """Prices by (region, instance type); raises :class:`PriceTableError` naming a bad entry."""
    # Read within PRICE_TABLE_LIMITS (review round 8, tools, L3: a 100,000-deep list was a RecursionError
    # traceback, and the read had no size cap).
    try:
        data = load_json(read_input_text(Path(path), PRICE_TABLE_LIMITS), PRICE_TABLE_LIMITS)
    except UnreadableInputError as exc:
        raise PriceTableError(f"{path}: cannot read a JSON price table ({exc.reason})") from None
    except ValueError as exc:  # invalid JSON, or past a limit (InputLimitError)
        raise PriceTableError(f"{path}: not a JSON price table ({_first_line(exc)})") from None
    entries = data.get("entries") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise PriceTableError(f"{path}: expected an object with an 'entries' list")
    table: dict[tuple[str, str], Price] = {}
    for index, raw in enumerate(entries):
        price = _entry(f"{Path(path).name} entries[{index}]", raw)
        table[(price.region, price.instance_type)] = price
    return table


def write_table(path: Path, prices: list[Price], about: str) -> None:
    body = {
        "about": about,
        "currency": "USD",
        "entries": [p.to_dict() for p in sorted(prices, key=lambda p: (p.region, p.instance_type))],
    }
    Path(path).write_text(json.dumps(body, indent=2) + "\n")
