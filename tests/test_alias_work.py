"""A YAML alias repeats one object for a few bytes: lint and the guard must not redo work per repeat.

Sixth review, M4: one 4 MB `Fn::Sub` string aliased N times cost N full scans in HELM1's dependency
walk (lint) and N JSON copies when the guard sorted a set-valued property.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from hyperpod_cdk.guard import values
from hyperpod_cdk.rules import dependencies

BIG = "${a}-" * 20_000
SETS = frozenset({"SecurityGroupIds"})  # a path the schema would mark insertionOrder false


def aliased(n: int) -> list[dict[str, Any]]:
    return [{"Fn::Sub": BIG} for _ in range(n)]  # one string object, as a YAML alias gives


def test_lint_scans_an_aliased_sub_string_once() -> None:
    dependencies._sub_names.cache_clear()
    found = dependencies.references({"Properties": {"Names": aliased(200)}})
    assert found == {"a"}
    assert dependencies._sub_names.cache_info().misses == 1


def test_the_guard_scans_an_aliased_sub_string_once() -> None:
    values.sub_variables.cache_clear()
    assert values.references({"Names": aliased(200)}) == {"a"}
    assert values.sub_variables.cache_info().misses == 1


def test_sorting_a_set_valued_property_builds_no_json_per_item(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = json.dumps
    monkeypatch.setattr(values.json, "dumps", lambda *a, **k: calls.append(1) or real(*a, **k))
    ordered = values.canonical(
        [*aliased(300), "sg-2", "sg-1", {"Ref": "B"}, {"Ref": "A"}], "SecurityGroupIds", unordered=SETS
    )
    assert calls == []
    # The same order JSON text gives: strings, then objects; each group in text order.
    assert ordered == ["sg-1", "sg-2", *aliased(300), {"Ref": "A"}, {"Ref": "B"}]


def test_the_sort_still_makes_reordered_sets_equal() -> None:
    old = ["sg-1", {"Ref": "A"}, {"Fn::GetAtt": ["B", "GroupId"]}, "sg-0"]
    new = list(reversed(old))
    assert values.canonical(old, "SecurityGroupIds", unordered=SETS) == values.canonical(
        new, "SecurityGroupIds", unordered=SETS
    )
    assert values.canonical(old, "Other", unordered=SETS) != values.canonical(new, "Other", unordered=SETS)
