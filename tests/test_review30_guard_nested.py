"""R30T-L5: the guard reads top-level templates only. A NestedStack renamed (every resource in it deleted) was
"no replacing changes", exit 0, and nothing said the nested templates were not compared."""

from __future__ import annotations

import json
from pathlib import Path

from hyperpod_cdk.guard import compare_templates
from hyperpod_cdk.guard.__main__ import main as guard_main


def _parent(logical_id: str) -> dict:
    stack = {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": "https://x/n.json"}}
    return {"Resources": {logical_id: stack}}


def test_a_renamed_nested_stack_is_a_replacement() -> None:
    report = compare_templates(_parent("N"), _parent("PlatformNested"))
    assert [(f.logical_id, f.resource_type, f.effect) for f in report.findings] == [
        ("N", "AWS::CloudFormation::Stack", "replacement")
    ]


def test_the_output_says_nested_templates_were_not_compared(tmp_path: Path, capsys) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(_parent("N")))
    new.write_text(json.dumps(_parent("N")))
    assert guard_main(["--old", str(old), "--new", str(new)]) == 0
    out = capsys.readouterr().out
    assert "no replacing changes" in out and "not compared: the templates of 1 nested stack(s)" in out
