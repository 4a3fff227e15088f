"""Round 30 tools LOWs: R30T-L2 (``lint --live`` ignored ``AWS_REGION``), R30T-L3 (a resource ``Type`` that is a
list crashed the plugin's worlds and the guard), R30T-L9 (a kubeconfig whose ``clusters`` is not a list was a
traceback)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.cli import lint_live
from hyperpod_cdk.cli.access import AccessError, merge_kubeconfig
from hyperpod_cdk.guard.__main__ import main as guard_main
from hyperpod_cdk.rules.catalog import check_files
from hyperpod_cdk.rules.inputs import load_data


def test_lint_live_reads_aws_region_for_a_template_of_no_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-north-1")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    asked: list[str | None] = []

    def factory(region: str | None) -> Any:
        asked.append(region)
        raise ValueError("stop here")

    lint_input = load_data({"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}, "t.json")
    lint_live.enrich_by_region(lint_input, factory)
    assert asked == ["eu-north-1"]


def _typed(kind: Any) -> dict[str, Any]:
    return {
        "Parameters": {"P": {"Type": "String"}},
        "Conditions": {"C": {"Fn::Equals": [{"Ref": "P"}, "x"]}},
        "Resources": {"T": {"Type": "AWS::SNS::Topic", "Condition": "C"}, "Odd": {"Type": kind, "Properties": {}}},
    }


@pytest.mark.parametrize("kind", [["AWS::SNS::Topic"], {"a": 1}], ids=["list", "map"])
def test_a_type_that_is_not_text_crashes_nothing(tmp_path: Path, kind: Any, capsys: pytest.CaptureFixture) -> None:
    new = tmp_path / "new.json"
    new.write_text(json.dumps(_typed(kind)))
    check_files([new], region="us-west-2")  # the worlds pass resolves stack properties: no TypeError
    old = tmp_path / "old.json"
    old.write_text(json.dumps(_typed("AWS::SNS::Topic")))
    assert guard_main(["--old", str(old), "--new", str(new)]) == 2
    assert "has resource Odd whose Type is not text" in capsys.readouterr().err


def test_a_kubeconfig_whose_clusters_is_not_a_list_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("apiVersion: v1\nclusters: 5\n")
    entry = {"cluster": {"name": "c"}, "user": {"name": "u"}, "context": {"name": "x"}}
    with pytest.raises(AccessError, match="clusters is not a list"):
        merge_kubeconfig(path, entry)


def test_a_parameter_only_nested_stacks_declare_and_are_passed_is_refused(tmp_path: Path, capsys) -> None:
    """R30T-L8: ``--parameter Stage=...`` for a nested stack's parameter its parent passes was accepted and then
    overridden by the passed value; it is exit 2 naming what the parent passes."""
    import importlib.util

    from hyperpod_cdk.cli.main import main

    spec = importlib.util.spec_from_file_location(
        "r24_l8", Path(__file__).with_name("test_review24_nested_parameters.py")
    )
    assert spec is not None and spec.loader is not None
    r24 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(r24)
    parent, child = r24._staging_app({"Type": "String"}, twins=False)
    out = r24._cdk_out(tmp_path / "out", parent, child)
    assert main(["lint", str(out.parent), "--parameter", "Stage=staging"]) == 2
    assert 'only nested stacks declare it, and their stack resources pass it (N passes {"Ref":"Env"})' in (
        capsys.readouterr().err
    )
    assert main(["lint", str(out.parent), "--parameter", "Env=staging"]) == 1  # the parent's: EFA1 at Env=staging
