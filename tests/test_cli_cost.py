"""``hyperpod-cdk cost``: offline from a sourced, dated price table; the AWS Price List API (Stubber)
when credentials exist; preflight's one-line estimate."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.cli import cost
from hyperpod_cdk.cli.main import main
from hyperpod_cdk.config import load_config
from hyperpod_cdk.specs import prices

_spec = importlib.util.spec_from_file_location("cli_fixtures_cost", Path(__file__).with_name("cli_fixtures.py"))
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO / "hyperpod.yaml"
OBSERVED = REPO / "examples" / "eks-observed.yaml"
# Test prices: made-up numbers in a test table, never shipped (the bundled table holds only sourced ones).
SOURCE = "test fixture, not a real price"


def table(tmp_path: Path, entries: dict[str, float], region: str = "us-west-2") -> Path:
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps(
            {
                "entries": [
                    {
                        "region": region,
                        "instance_type": t,
                        "usd_per_hour": p,
                        "source": SOURCE,
                        "retrieved": "2026-12-01",
                    }
                    for t, p in entries.items()
                ]
            }
        )
    )
    return path


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch):
    fx.set_fake_aws_env(monkeypatch)


def test_bundled_table_has_only_sourced_dated_entries():
    data = json.loads(prices.BUNDLED_TABLE.read_text())
    assert "about" in data and "2026-12-06" in data["about"]
    prices.load_table()  # raises on any entry without source and date


def test_default_config_offline_lists_every_group_and_says_what_is_unpriced(capsys):
    code = main(["cost", "--config", str(DEFAULT), "--offline", "--json"])
    report = json.loads(capsys.readouterr().out)
    config = load_config(DEFAULT)
    assert code == 0
    assert [g["group"] for g in report["groups"]] == [g.name for g in config.hyperpod.instance_groups]
    bundled = prices.load_table()
    for group in report["groups"]:
        key = (config.region, group["instance_types"][0])
        assert (group["usd_per_hour"] is None) == (key not in bundled)
    assert report["complete"] == all(g["usd_per_hour"] is not None for g in report["groups"])


def test_offline_prices_per_hour_and_month_from_a_dated_table(tmp_path, capsys):
    path = table(tmp_path, {"ml.m5.2xlarge": 0.5, "ml.g5.8xlarge": 3.0})
    code = main(["cost", "--config", str(OBSERVED), "--offline", "--price-table", str(path), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["complete"]
    by_group = {g["group"]: g for g in report["groups"]}
    assert by_group["gpu"]["nodes"] == 2 and by_group["gpu"]["usd_per_hour"] == 6.0
    assert by_group["gpu"]["usd_per_month"] == 6.0 * 730
    assert by_group["system"]["source"] == SOURCE and by_group["system"]["retrieved"] == "2026-12-01"
    assert report["usd_per_hour"] == 6.5 and report["usd_per_month"] == 6.5 * 730
    assert report["budget_usd"] == 20000


def test_table_output_names_the_source_and_the_total(tmp_path, capsys):
    path = table(tmp_path, {"ml.m5.2xlarge": 0.5, "ml.g5.8xlarge": 3.0})
    main(["cost", "--config", str(OBSERVED), "--offline", "--price-table", str(path)])
    out = capsys.readouterr().out
    assert "Cost estimate: $6.50/h, $4,745/month" in out and "budget $20,000/month" in out
    assert "test fixture" in out


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        (
            {"region": "us-west-2", "instance_type": "ml.m5.2xlarge", "usd_per_hour": 1.0, "retrieved": "2026-12-01"},
            "missing source",
        ),
        (
            {
                "region": "us-west-2",
                "instance_type": "ml.m5.2xlarge",
                "usd_per_hour": 1.0,
                "source": SOURCE,
                "retrieved": "last week",
            },
            "retrieved: expected a date",
        ),
        (
            {
                "region": "us-west-2",
                "instance_type": "ml.m5.2xlarge",
                "usd_per_hour": -1,
                "source": SOURCE,
                "retrieved": "2026-12-01",
            },
            "usd_per_hour",
        ),
    ],
)
def test_bad_price_table_is_one_line_exit_2(tmp_path, capsys, entry, words):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"entries": [entry]}))
    code = main(["cost", "--config", str(DEFAULT), "--offline", "--price-table", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and words in err and "entries[0]" in err and err.count("\n") == 1


def product(usagetype: str, usd: str, *, instance: str = "ml.g5.8xlarge", component: str = "") -> str:
    return json.dumps(
        {
            "product": {
                "attributes": {
                    "usagetype": usagetype,
                    "instanceName": instance,
                    "regionCode": "us-west-2",
                    "component": component,
                }
            },
            "terms": {"OnDemand": {"T": {"priceDimensions": {"D": {"unit": "Hrs", "pricePerUnit": {"USD": usd}}}}}},
        }
    )


def stub_pricing(answers: dict[str, list[str]]) -> Any:
    client, stub = fx.stubbed("pricing", region="us-east-1")
    for instance_type, items in answers.items():
        stub.add_response(
            "get_products",
            {"PriceList": items, "FormatVersion": "aws_v1"},
            {
                "ServiceCode": "AmazonSageMaker",
                "MaxResults": 100,
                "Filters": [
                    {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "us-west-2"},
                    {"Type": "TERM_MATCH", "Field": "instanceName", "Value": instance_type},
                ],
            },
        )
    return client


def test_price_list_api_is_used_with_credentials_and_only_hyperpod_products_count(tmp_path, capsys):
    pricing = stub_pricing(
        {
            "ml.m5.2xlarge": [
                product("USW2-Train:ml.m5.2xlarge", "0.46", instance="ml.m5.2xlarge"),
                product("USW2-Cluster:ml.m5.2xlarge", "0.55", instance="ml.m5.2xlarge"),
            ],
            "ml.g5.8xlarge": [
                product("USW2-Hosting:ml.g5.8xlarge", "2.9"),
                product("USW2-X", "3.3", component="HyperPod"),
            ],
        }
    )
    written = tmp_path / "written.json"
    code = main(
        ["cost", "--config", str(OBSERVED), "--json", "--write-table", str(written)],
        clients_factory=fx.factory({"pricing": pricing}),
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["complete"]
    by_group = {g["group"]: g for g in report["groups"]}
    assert by_group["system"]["usd_per_node_hour"] == 0.55 and by_group["gpu"]["usd_per_node_hour"] == 3.3
    assert by_group["gpu"]["source"].startswith("AWS Price List API")
    assert set(prices.load_table(written)) == {("us-west-2", "ml.m5.2xlarge"), ("us-west-2", "ml.g5.8xlarge")}


def test_ambiguous_or_missing_price_list_answers_are_unpriced_not_guessed(capsys):
    pricing = stub_pricing(
        {
            "ml.m5.2xlarge": [
                product("USW2-Cluster:a", "0.5", instance="ml.m5.2xlarge"),
                product("USW2-Cluster:b", "0.6", instance="ml.m5.2xlarge"),
            ],
            "ml.g5.8xlarge": [product("USW2-Train:ml.g5.8xlarge", "2.0")],
        }
    )
    main(["cost", "--config", str(OBSERVED), "--json"], clients_factory=fx.factory({"pricing": pricing}))
    report = json.loads(capsys.readouterr().out)
    reasons = {u["group"]: u["reason"] for u in report["unpriced"]}
    assert "2 different HyperPod prices" in reasons["system"]
    assert "no HyperPod on-demand price" in reasons["gpu"]
    assert report["usd_per_hour"] == 0


def test_price_list_errors_fall_back_to_the_table(tmp_path, capsys):
    client, stub = fx.stubbed("pricing", region="us-east-1")
    fx.deny(stub, "get_products")
    fx.deny(stub, "get_products")
    path = table(tmp_path, {"ml.m5.2xlarge": 0.5, "ml.g5.8xlarge": 3.0})
    main(
        ["cost", "--config", str(OBSERVED), "--price-table", str(path), "--json"],
        clients_factory=fx.factory({"pricing": client}),
    )
    report = json.loads(capsys.readouterr().out)
    assert report["complete"] and report["usd_per_hour"] == 6.5
    assert any("Price List API unavailable" in n for n in report["notes"])


def test_summary_line_for_preflight():
    config = load_config(OBSERVED)
    line = cost.summary_line(cost.estimate(config, region="us-west-2", table={}))
    assert line.startswith("Cost estimate: no sourced price")
    table_ = {("us-west-2", "ml.m5.2xlarge"): prices.Price("us-west-2", "ml.m5.2xlarge", 1.0, SOURCE, "2026-12-01")}
    line = cost.summary_line(cost.estimate(config, region="us-west-2", table=table_))
    assert line.startswith("Cost estimate: $1.00/h, $730/month") and "unpriced: gpu" in line


# --- review round 8 (tools), L3: the price table is read within caps; a bad --write-table is one line ---


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),  # was a RecursionError traceback, exit 1
        ("{not json", "not a JSON price table"),
        (None, "cannot read a JSON price table"),  # a directory
    ],
    ids=["deep", "invalid", "directory"],
)
def test_unreadable_price_table_is_one_line_exit_2(tmp_path, capsys, content, words):
    path = tmp_path / "prices.json"
    if content is None:
        path.mkdir()
    else:
        path.write_text(content)
    code = main(["cost", "--config", str(DEFAULT), "--offline", "--price-table", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and words in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_price_table_over_the_size_cap_is_refused(tmp_path, capsys, monkeypatch):
    path = table(tmp_path, {"ml.g5.8xlarge": 1.0})
    monkeypatch.setattr(prices, "PRICE_TABLE_LIMITS", prices.Limits(max_bytes=64, max_nodes=100, max_depth=8))
    code = main(["cost", "--config", str(DEFAULT), "--offline", "--price-table", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and "cannot read a JSON price table" in err and err.count("\n") == 1, err


def test_write_table_to_a_directory_is_one_line_exit_2(tmp_path, capsys):
    code = main(["cost", "--config", str(DEFAULT), "--offline", "--write-table", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "cannot write the price table" in err and err.count("\n") == 1, err
