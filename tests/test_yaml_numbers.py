"""Review round 15 (tools), M3: YAML numbers PyYAML would build at a cost, refused before they are built.

A YAML 1.1 sexagesimal integer (``1:0:0:...``) was built part by part on a growing big integer (n^2 steps)
before the digit cap refused it: lint took 40 s on 1 MB, a 1 MB hyperpod.yaml 89 s. A sexagesimal float of
200 parts overflowed PyYAML's arithmetic into a raw ``OverflowError`` traceback.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.cli.main import main as cli_main
from hyperpod_cdk.config.loading import load_config
from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.input_limits import CONFIG_LIMITS, TEMPLATE_LIMITS, BoundedSafeLoader, InputLimitError, load_yaml

_spec = importlib.util.spec_from_file_location("work_limits", Path(__file__).with_name("work_limits.py"))
assert _spec and _spec.loader
work_limits = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(work_limits)

MB = 1024 * 1024


def _sexagesimal(chars: int) -> str:
    return "1" + ":0" * (chars // 2)


def _template(number: str) -> str:
    return f"Resources:\n  T:\n    Type: AWS::SNS::Topic\n    Properties:\n      DisplayName: {number}\n"


@pytest.mark.parametrize("size", [MB, 2 * MB])
def test_a_sexagesimal_integer_template_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], size: int
) -> None:
    """The reviewer's 1 MB template and one twice as large (40 s and about 160 s before)."""
    path = tmp_path / "t.yaml"
    path.write_text(_template(_sexagesimal(size)))
    with work_limits.guard(30):
        assert cli_main(["lint", str(path)]) == 2
    captured = capsys.readouterr()
    message = (captured.out + captured.err).strip()
    assert "a number is too long: more than 4300 digits (line 5)" in message
    assert "Traceback" not in captured.err and len(message.splitlines()) == 1, message


def test_a_sexagesimal_integer_config_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "hyperpod.yaml"
    path.write_text("name: demo\nregion: us-west-2\nx: " + _sexagesimal(CONFIG_LIMITS.max_bytes - 100) + "\n")
    with work_limits.guard(30), pytest.raises(HyperPodConfigError) as caught:
        load_config(path)
    assert "a number is too long: more than 4300 digits (line 3)" in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "number",
    [
        _sexagesimal,
        lambda n: "0x" + "f" * n,
        lambda n: "0b" + "1" * n,
        lambda n: "0" + "7" * n,
        lambda n: "!!int " + "9" * n,
        lambda n: "-" + "1_2" * (n // 2),
    ],
    ids=["sexagesimal", "hex", "binary", "octal", "tagged", "underscored"],
)
def test_long_integers_are_refused_with_linear_work(number: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Calls at n and 2n (not wall-clock): reading the text, never building the number (PyYAML's int
    constructor is not called)."""
    built: list[Any] = []
    monkeypatch.setitem(
        BoundedSafeLoader.yaml_constructors, "tag:yaml.org,2002:int", lambda _, node: built.append(node)
    )
    work = []
    for n in (50_000, 100_000):
        text = f"a: x\nb: {number(n)}\n"

        def load(text: str = text) -> None:
            with pytest.raises(InputLimitError, match=r"too long: more than 4300 digits \(line 2\)"):
                load_yaml(text, TEMPLATE_LIMITS)

        with work_limits.guard(20):
            work.append(work_limits.calls(load))
    assert work[1] <= 2.2 * work[0], work
    assert built == []


def test_numbers_within_the_cap_still_read() -> None:
    limit = 4300
    text = (
        "a: 1:30\nb: 0x1F\nc: 1_000\nd: 0o7\ne: 017\n"
        f"f: -{'9' * limit}\ng: {'1_' * (limit - 1)}1\nh: 1:30.5\ni: 2001-12-14t21:59:43.10-05:00\n"
        f"j: 1.0e+{'9' * 10_000}\nk: {'1' * 10_000}.5\n"
    )
    data = load_yaml(text, TEMPLATE_LIMITS)
    assert data["a"] == 90 and data["b"] == 31 and data["c"] == 1000 and data["e"] == 15
    assert data["f"] == -(10**limit - 1) and data["g"] == int("1" * limit)
    assert data["h"] == 90.5 and data["i"].year == 2001
    assert data["j"] == float("inf") and data["k"] > 1e300
    with pytest.raises(InputLimitError, match=r"more than 4300 digits \(line 1\)"):
        load_yaml("x: " + "9" * (limit + 1), TEMPLATE_LIMITS)


@pytest.mark.parametrize("where", ["lint", "config"])
def test_a_sexagesimal_float_too_large_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    """PyYAML multiplies a float by a base it keeps as an int: past 173 parts, OverflowError (a traceback)."""
    number = "1" + ":0" * 300 + ".5"
    path = tmp_path / "in.yaml"
    if where == "lint":
        path.write_text(_template(number))
        assert cli_main(["lint", str(path)]) == 2
        captured = capsys.readouterr()
        assert "a number is too large (line 5)" in captured.out + captured.err
        assert "Traceback" not in captured.err
    else:
        path.write_text(f"name: demo\nregion: us-west-2\nx: {number}\n")
        with pytest.raises(HyperPodConfigError, match=r"a number is too large \(line 3\)"):
            load_config(path)
