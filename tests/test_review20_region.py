"""Review round 20, R20T-M2: a region per template.

An app whose stacks name two regions (a us-east-1 certificate stack next to the cluster's) gave no region at
all, so TYPE1 was skipped silently in ``lint cdk.out`` and in the synth-time plugin (``check_files``). Each
template now has its stack's region (its manifest artifact's ``aws://account/region``; a nested stack its
parent's), falling back to the run's ``--region``; where there is none TYPE1 says it could not check.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hyperpod_cdk.cli.main import main as cli_main
from hyperpod_cdk.rules import Templates, check, check_files
from hyperpod_cdk.rules.cdk_out import read_cdk_out
from hyperpod_cdk.rules.inputs import load
from hyperpod_cdk.rules.model import NOT_CHECKED
from hyperpod_cdk.specs.offerings import offered_in

ROLE = "arn:aws:iam::111111111111:role/exec"
# Offered in us-west-2, not in eu-west-1 (the vendored table, as cfn-lint's E3644 data).
TYPE = "ml.g6.12xlarge"


def _cluster(instance_type: str) -> dict[str, Any]:
    group = {"InstanceGroupName": "gpu", "InstanceType": instance_type, "InstanceCount": 1, "ExecutionRole": ROLE}
    return {"Type": "AWS::SageMaker::Cluster", "Properties": {"InstanceGroups": [group]}}


def _stack(name: str, region: str, template_file: str | None = None, assets: str | None = None) -> dict[str, Any]:
    artifact: dict[str, Any] = {
        "type": "aws:cloudformation:stack",
        "environment": f"aws://111111111111/{region}",
        "properties": {"templateFile": template_file or f"{name}.template.json"},
    }
    if assets:
        artifact["dependencies"] = [assets]
    return artifact


def _two_region_cdk_out(folder: Path) -> dict[str, Path]:
    """Stack West (us-west-2) and stack Dublin (eu-west-1), each with a cluster of ml.g6.12xlarge; Dublin's
    cluster in a nested stack listed by Dublin's asset manifest, as a CDK NestedStack is."""
    folder.mkdir(parents=True)
    paths = {name: folder / f"{name}.template.json" for name in ("West", "Dublin", "DublinInnerABC.nested")}
    paths["West"].write_text(json.dumps({"Resources": {"Hp": _cluster(TYPE)}}))
    paths["Dublin"].write_text(json.dumps({"Resources": {"Hp": _cluster(TYPE)}}))
    paths["DublinInnerABC.nested"].write_text(json.dumps({"Resources": {"Inner": _cluster(TYPE)}}))
    nested = {"files": {"abc": {"source": {"path": paths["DublinInnerABC.nested"].name, "packaging": "file"}}}}
    (folder / "Dublin.assets.json").write_text(json.dumps(nested))
    artifacts = {
        "West": _stack("West", "us-west-2"),
        "Dublin.assets": {"type": "cdk:asset-manifest", "properties": {"file": "Dublin.assets.json"}},
        "Dublin": _stack("Dublin", "eu-west-1", assets="Dublin.assets"),
        "Tree": {"type": "cdk:tree", "properties": {"file": "tree.json"}},
    }
    (folder / "manifest.json").write_text(json.dumps({"version": "48.0.0", "artifacts": artifacts}))
    return paths


def _type1(findings: Any) -> list[tuple[str, str, str | None]]:
    return sorted(
        (Path(f.template_path).name, f.logical_id, f.severity) for f in findings if f.rule_id == "HyperPod-TYPE1"
    )


def test_the_vendored_table_is_what_the_cases_assume():
    west, dublin = offered_in("us-west-2"), offered_in("eu-west-1")
    assert west is not None and dublin is not None and TYPE in west and TYPE not in dublin


def test_each_template_gets_its_stacks_region(tmp_path):
    paths = _two_region_cdk_out(tmp_path / "cdk.out")
    regions = read_cdk_out(tmp_path / "cdk.out", None).regions
    assert {Path(p).name: r for p, r in regions.items()} == {
        "West.template.json": "us-west-2",
        "Dublin.template.json": "eu-west-1",
        "DublinInnerABC.nested.template.json": "eu-west-1",  # the nested stack deploys with its parent
    }
    # A run's region is the fallback only: the stacks' own regions win.
    regions = read_cdk_out(tmp_path / "cdk.out", "us-east-1").regions
    assert regions[str(paths["Dublin"])] == "eu-west-1"


def test_lint_cdk_out_reports_type1_for_the_stack_in_the_other_region(tmp_path, capsys):
    """Before: ``lint cdk.out`` of a two-region app printed no TYPE1 (exit 0); now the Dublin stacks' errors."""
    _two_region_cdk_out(tmp_path / "cdk.out")
    lint_input = load(tmp_path / "cdk.out")
    assert lint_input.templates.region is None  # no one region for the whole input
    found = check(lint_input.templates, kinds=("deploy",), include_not_checked=True)
    assert _type1(found) == [
        ("Dublin.template.json", "Hp", None),
        ("DublinInnerABC.nested.template.json", "Inner", None),
    ]
    type1 = [f for f in found if f.rule_id == "HyperPod-TYPE1"]
    assert all(f"{TYPE} is not offered by SageMaker HyperPod in eu-west-1" in f.detail for f in type1)
    assert cli_main(["lint", str(tmp_path / "cdk.out")]) == 1
    out = capsys.readouterr().out
    type1_lines = [line for line in out.splitlines() if "HyperPod-TYPE1" in line]
    assert len(type1_lines) == 2 and all("Dublin" in line and line.startswith("error:") for line in type1_lines)


def test_check_files_reports_type1_for_the_stack_in_the_other_region(tmp_path):
    """The plugin's path (the files of the app being synthesized): the same TYPE1 errors, West passes."""
    paths = _two_region_cdk_out(tmp_path / "cdk.out")
    found = check_files(list(paths.values()), kinds=["deploy"])
    assert _type1(found) == [
        ("Dublin.template.json", "Hp", None),
        ("DublinInnerABC.nested.template.json", "Inner", None),
    ]
    # Only the West stack: passes (its region offers the type), though the assembly names two regions.
    assert _type1(check_files([paths["West"]], kinds=["deploy"])) == []


def test_a_stack_without_a_region_is_said_so(tmp_path):
    """An environment-agnostic stack among regional ones: lint prints not-checked for its cluster; in the
    closed world (check_files, the plugin) that is a finding asking for a region or an acknowledgment."""
    folder = tmp_path / "cdk.out"
    paths = _two_region_cdk_out(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["artifacts"]["West"]["environment"] = "aws://unknown-account/unknown-region"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    lint_input = load(folder)
    found = check(lint_input.templates, kinds=("deploy",), include_not_checked=True)
    west = [f for f in found if f.rule_id == "HyperPod-TYPE1" and f.template_path == str(paths["West"])]
    assert [f.severity for f in west] == [NOT_CHECKED] and "region of its stack is not known" in west[0].detail
    plugin = [f for f in check_files(list(paths.values()), kinds=["deploy"]) if f.template_path == str(paths["West"])]
    assert [f.severity for f in plugin if f.rule_id == "HyperPod-TYPE1"] == [None]  # an error, not a skip
    assert any("HyperPodChecks::HyperPod-TYPE1" in f.detail for f in plugin)
    # The run's region fills in for the environment-agnostic stack only.
    assert _type1(check_files(list(paths.values()), kinds=["deploy"], region="us-west-2")) == [
        ("Dublin.template.json", "Hp", None),
        ("DublinInnerABC.nested.template.json", "Inner", None),
    ]


def test_one_region_for_callers_that_pass_one():
    """``Templates(region=...)`` (lint of a template file with --region) still gives every template that region."""
    templates = Templates({"a": {"Resources": {"Hp": _cluster(TYPE)}}, "b": {}}, region="eu-west-1")
    assert templates.region == "eu-west-1" and templates.region_of("a") == templates.region_of("b") == "eu-west-1"
    assert _type1(check(templates, kinds=("deploy",))) == [("a", "Hp", None)]
    mixed = Templates({"a": {}, "b": {}}, regions={"a": "eu-west-1", "b": "us-west-2"})
    assert mixed.region is None and mixed.region_of("b") == "us-west-2"


def test_a_manifest_cannot_send_the_reader_elsewhere(tmp_path):
    """Only plain file names next to the manifest are read (an asset manifest) or matched (templates)."""
    folder = tmp_path / "cdk.out"
    paths = _two_region_cdk_out(folder)
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({"files": {"x": {"source": {"path": "West.template.json"}}}}))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["artifacts"]["Dublin.assets"]["properties"]["file"] = "../outside.json"
    manifest["artifacts"]["West"]["properties"]["templateFile"] = "../cdk.out/West.template.json"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    regions = read_cdk_out(folder, None).regions
    # West and the nested template are named by no artifact; the assembly names two regions: unknown.
    assert regions[str(paths["West"])] is None and regions[str(paths["DublinInnerABC.nested"])] is None
    assert regions[str(paths["Dublin"])] == "eu-west-1"
