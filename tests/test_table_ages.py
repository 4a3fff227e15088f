"""Dated tables warn, naming their refresh command, once older than MAX_TABLE_AGE_DAYS (fixed clock)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from hyperpod_cdk.cli import preflight
from hyperpod_cdk.cli.main import main
from hyperpod_cdk.specs import kubernetes_versions, neuron, table_ages

REPO = Path(__file__).resolve().parent.parent
NEURON_DATE = dt.date.fromisoformat(neuron.table_date())


def pin(monkeypatch: pytest.MonkeyPatch, day: dt.date) -> None:
    monkeypatch.setattr(kubernetes_versions, "today", lambda: day)


def test_every_dated_table_is_registered_with_a_refresh_command():
    names = " ".join(t.name for t in table_ages.tables())
    for table in (
        "Neuron",
        "instance types per region",
        "instance specifications",
        "Kubernetes versions",
        "add-on versions",
    ):
        assert table in names
    assert all(t.refresh and t.checked <= dt.date(2026, 12, 6) for t in table_ages.tables())
    assert "\ninstance-types:" in (REPO / "Makefile").read_text()  # the command the instance tables name


def test_tables_older_than_the_limit_warn_with_the_refresh_command(monkeypatch: pytest.MonkeyPatch):
    limit = table_ages.MAX_TABLE_AGE_DAYS
    pin(monkeypatch, NEURON_DATE + dt.timedelta(days=limit))
    assert table_ages.stale() == []
    assert [r.status for r in preflight.check_table_ages()] == ["pass"]
    pin(monkeypatch, NEURON_DATE + dt.timedelta(days=limit + 1))
    ((table, age),) = table_ages.stale()
    assert table.name.startswith("Neuron") and age == limit + 1
    (row,) = preflight.check_table_ages()
    assert row.status == "warn" and row.check == "table age: Neuron architectures"
    assert f"{limit + 1} days ago" in row.reason and "hyperpod-cdk neuron check" in row.fix
    pin(monkeypatch, dt.date(2027, 6, 1))
    rows = preflight.check_table_ages()
    assert len(rows) == len(table_ages.tables()) and all(r.status == "warn" for r in rows)
    fixes = " ".join(r.fix for r in rows)
    assert "make instance-types" in fixes and "aws eks describe-addon-versions" in fixes


def test_preflight_runs_the_table_check_last():
    from importlib.util import module_from_spec, spec_from_file_location

    spec = spec_from_file_location("cli_fixtures_ages", Path(__file__).with_name("cli_fixtures.py"))
    fx = module_from_spec(spec)
    spec.loader.exec_module(fx)
    from hyperpod_cdk.config import parse_config

    ctx = preflight.Context(config=parse_config(fx.base_config()), clients=fx.clients(), region=fx.REGION)
    assert [name for name, _, _ in preflight.plan_checks(ctx)][-1] == "table ages"


def test_neuron_check_warns_when_its_table_is_old(monkeypatch: pytest.MonkeyPatch, capsys):
    pin(monkeypatch, NEURON_DATE + dt.timedelta(days=table_ages.MAX_TABLE_AGE_DAYS + 30))
    assert main(["neuron", "check", "qwen3", "--json"]) == 0
    warning = json.loads(capsys.readouterr().out)["table_warning"]
    assert "Neuron architectures" in warning and "refresh:" in warning
    assert main(["neuron", "check", "qwen3"]) == 0
    assert "warning" in capsys.readouterr().out
    pin(monkeypatch, NEURON_DATE)
    assert main(["neuron", "check", "qwen3", "--json"]) == 0
    assert "table_warning" not in json.loads(capsys.readouterr().out)
