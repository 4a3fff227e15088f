"""Review round 15 (tools), M2: every ``Fn::Sub`` reader (lint's evaluator and HELM1, the guard's group names
and references) reads ``${...}`` through one linear scanner, specs/fn_sub.py.

Before, each had its own regular expression; ``\\$\\{([^}]+)\\}`` ran from every ``${`` to the end of the
string, so one ``Fn::Sub`` of ``"${" * 80_000`` (160 KB) took lint 88 s and the guard 77 s.
"""

from __future__ import annotations

import importlib.util
import random
import re
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.guard.group_names import resolve_name
from hyperpod_cdk.guard.values import references, sub_variables
from hyperpod_cdk.rules.cfn_template import resolve_template
from hyperpod_cdk.rules.dependencies import _sub_names
from hyperpod_cdk.specs.fn_sub import sub_names, sub_parts, substitute

_spec = importlib.util.spec_from_file_location("work_limits", Path(__file__).with_name("work_limits.py"))
assert _spec and _spec.loader
work_limits = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(work_limits)

# CloudFormation's reading, as a regular expression: fine on short strings, quadratic on "${" * n.
_PART = re.compile(r"\$\{([^}]*)\}")
# The pieces the existing tests write Fn::Sub strings with, plus the characters the scanner looks at.
_PIECES = ["${", "}", "!", " ", "\t", "a", "B1", ".", "Arn", "AWS::Region", "$", "{", "é", "-"]
N = 80_000  # "${" * N is 160 KB: 40 s for the old regex alone


def _random_text(rng: random.Random) -> str:
    return "".join(rng.choice(_PIECES) for _ in range(rng.randrange(16)))


def test_the_scanner_finds_what_the_regex_finds_on_random_strings() -> None:
    rng = random.Random(15)
    found = 0
    for _ in range(20_000):
        text = _random_text(rng)
        expected = [(m.start(), m.end(), m.group(1)) for m in _PART.finditer(text)]
        assert [tuple(part) for part in sub_parts(text)] == expected, text
        assert substitute(text, lambda part: f"<{part.body}>") == _PART.sub(r"<\1>", text), text
        found += len(expected)
    assert found > 2_000


def _old_guard_variables(text: str) -> frozenset[str]:
    """guard/values.py's reading before this change (the R11 spaces rule), kept to compare with."""
    return frozenset(re.findall(r"\$\{\s*([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\s*\}", text))


def _old_helm_bodies(text: str) -> list[str]:
    """What rules/dependencies.py's regex read before this change (it kept each body's part before a dot)."""
    return re.findall(r"\$\{([^}!]+)\}", text)


def _comparable(text: str) -> bool:
    """No ``${`` inside another part's braces and no ``!`` past a body's first character: where the old
    per-site regexes and CloudFormation agree (the old ones restarted inside ``${!x ${y}`` and ``${a${b}``,
    and HELM1 skipped ``${a!b}``, which names no logical id either way)."""
    return all("${" not in part.body and "!" not in part.body[1:] for part in sub_parts(text))


def test_each_site_reads_as_before_where_the_old_readings_were_right() -> None:
    """On random strings where the old readings were right, the guard's references and HELM1's names are what
    the old regexes gave (HELM1 now also drops the spaces inside the braces, as CloudFormation does)."""
    rng = random.Random(1515)
    compared = 0
    for _ in range(20_000):
        text = _random_text(rng)
        if not _comparable(text):
            continue
        compared += 1
        sub_variables.cache_clear()
        assert sub_variables(text) == _old_guard_variables(text), text
        helm = {body.strip().split(".", 1)[0] for body in _old_helm_bodies(text)} - {""}
        assert _sub_names.__wrapped__(text) == helm, text
    assert compared > 5_000


def test_every_site_agrees_on_the_cloudformation_corner_cases() -> None:
    template = {"Parameters": {"P": {"Type": "String", "Default": "pv"}}}
    cases = {
        "${ P }-x": "pv-x",  # spaces inside the braces are dropped
        "${!P}": "${P}",  # a literal
    }
    for text, expected in cases.items():
        assert resolve_name({"Fn::Sub": text}, template) == expected
        resolved = resolve_template(
            {**template, "Resources": {"R": {"Type": "T", "Properties": {"V": {"Fn::Sub": text}}}}}
        )
        assert resolved.template["Resources"]["R"]["Properties"]["V"] == expected
    # A part runs to the first "}": "${!x ${Bucket}" is one literal, "${a${Bucket}" one (unknown) name.
    for text in ("${!x ${Bucket}", "${a${Bucket}"):
        assert sub_variables(text) == frozenset()
        assert "Bucket" not in _sub_names.__wrapped__(text)
    assert sub_variables("${ Bucket.Arn }") == {"Bucket"} == _sub_names.__wrapped__("${ Bucket.Arn }")
    assert list(sub_names("${AWS::Region}${!x}${}${ y }")) == ["AWS::Region", "y"]


class _CountingText(str):
    """A string whose ``find`` adds up how many characters it read."""

    read = 0

    def find(self, sub: str, start: Any = None, end: Any = None) -> int:  # type: ignore[override]
        found = super().find(sub, start, end)
        _CountingText.read += (found + len(sub) if found >= 0 else len(self)) - (start or 0)
        return found


@pytest.mark.parametrize("unit", ["${", "${a}", "${!", "${}", "}${"])
def test_the_scanner_reads_each_character_a_bounded_number_of_times(unit: str) -> None:
    """Characters read at n and 2n (not wall-clock): linear, at most twice the string."""
    read = []
    for n in (N, 2 * N):
        text = _CountingText(unit * n)
        _CountingText.read = 0
        list(sub_parts(text))
        assert _CountingText.read <= 2 * len(text) + 2, (unit, n, _CountingText.read)
        read.append(_CountingText.read)
    assert read[1] <= 2 * read[0] + 2


def _lint(value: str) -> Any:
    template = {
        "Resources": {"C": {"Type": "AWS::SageMaker::Cluster", "Properties": {"ClusterName": {"Fn::Sub": value}}}}
    }
    return resolve_template(template)


@pytest.mark.parametrize(
    "site",
    [
        lambda text: _lint(text),
        lambda text: resolve_name({"Fn::Sub": text}, {}),
        lambda text: references({"Fn::Sub": text}),
        lambda text: _sub_names.__wrapped__(text),
    ],
    ids=["lint-evaluator", "guard-group-name", "guard-references", "helm1-names"],
)
def test_160_kb_of_unclosed_subs_is_read_in_linear_work(site: Any) -> None:
    """The reviewer's input (``"${" * 80_000``, 160 KB) and the same doubled: bounded calls (at n and 2n),
    under a hang guard (the old regexes took 40 s on it alone)."""
    with work_limits.guard(20):
        work = [work_limits.calls(lambda n=n: site("${" * n)) for n in (N, 2 * N)]
    assert work[1] <= 2 * work[0] + 100, work
    closed = [work_limits.calls(lambda n=n: site("${a}" * n)) for n in (N // 8, N // 4)]
    assert closed[1] <= 2 * closed[0] + 100, closed
