"""Replacement guard: review round 9 (tools) M1, M2, L1, L2 (instance-group names and autoscaling)."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk import input_limits
from hyperpod_cdk.guard import compare_templates, main
from hyperpod_cdk.guard.__main__ import parse_template
from hyperpod_cdk.guard.group_names import (
    MAX_WRITTEN_SIZE,
    GroupNameTooLargeError,
    resolve_name,
    with_resolved_names,
)

# Loaded by path (tests use --import-mode=importlib), like cli_fixtures.py.
_spec = importlib.util.spec_from_file_location("work_limits", Path(__file__).with_name("work_limits.py"))
assert _spec and _spec.loader
work_limits = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(work_limits)


def _group(name: Any, count: Any = 4, **extra: Any) -> dict[str, Any]:
    return {"InstanceGroupName": name, "InstanceType": "ml.p5.48xlarge", "InstanceCount": count, **extra}


def _template(props: dict[str, Any], **sections: Any) -> dict[str, Any]:
    base = {"ClusterName": "c", "Orchestrator": {"Eks": {"ClusterArn": "arn:aws:eks:us-west-2:1:cluster/e"}}}
    return {**sections, "Resources": {"Cluster": {"Type": "AWS::SageMaker::Cluster", "Properties": {**base, **props}}}}


CONDITIONS = {"Big": {"Fn::Equals": ["a", "a"]}}
ENABLE = {"Mode": "Enable", "AutoScalerType": "Karpenter"}

# (AutoScaling, group extras, template sections, reported): the Karpenter group 'gpu' (count 0) is removed.
AUTOSCALING = {
    "Mode Ref, default Enable": (
        {"Mode": {"Ref": "M"}},
        {},
        {"Parameters": {"M": {"Type": "String", "Default": "Enable"}}},
        True,
    ),
    "Mode Ref, no default": ({"Mode": {"Ref": "M"}}, {}, {"Parameters": {"M": {"Type": "String"}}}, True),
    "Mode FindInMap": (
        {"Mode": {"Fn::FindInMap": ["S", "k", "m"]}},
        {},
        {"Mappings": {"S": {"k": {"m": "Enable"}}}},
        True,
    ),
    "AutoScaling Fn::If": ({"Fn::If": ["Big", ENABLE, {"Ref": "AWS::NoValue"}]}, {}, {"Conditions": CONDITIONS}, True),
    "Mode Fn::If": ({"Mode": {"Fn::If": ["Big", "Enable", "Disable"]}}, {}, {"Conditions": CONDITIONS}, True),
    "Labels Fn::If": (
        None,
        {"KubernetesConfig": {"Labels": {"Fn::If": ["Big", {"a": "b"}, {"Ref": "AWS::NoValue"}]}}},
        {"Conditions": CONDITIONS},
        True,
    ),
    "KubernetesConfig Ref": (None, {"KubernetesConfig": {"Ref": "K"}}, {"Parameters": {"K": {"Type": "String"}}}, True),
    # Provably off: the count 0 is the group's node count.
    "Mode Ref, default Disable": (
        {"Mode": {"Ref": "M"}},
        {},
        {"Parameters": {"M": {"Type": "String", "Default": "Disable"}}},
        False,
    ),
    "no AutoScaling, literal Labels": (None, {"KubernetesConfig": {"Labels": {"a": "b"}}}, {}, False),
}


@pytest.mark.parametrize("case", AUTOSCALING, ids=list(AUTOSCALING))
def test_removing_a_group_of_count_0_is_reported_unless_autoscaling_is_provably_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    """Round 9 (tools), M1: AutoScaling/Mode/Labels through Ref or Fn::If left the removal unreported (exit 0)."""
    scaling, extra, sections, reported = AUTOSCALING[case]
    props: dict[str, Any] = {"InstanceGroups": [_group("gpu", 0, **extra), _group("cpu")]}
    if scaling is not None:
        props["AutoScaling"] = scaling
    old = _template(props, **sections)
    new = copy.deepcopy(old)
    new["Resources"]["Cluster"]["Properties"]["InstanceGroups"] = [_group("cpu")]
    (tmp_path / "old.json").write_text(json.dumps(old))
    (tmp_path / "new.json").write_text(json.dumps(new))
    code = main(["--old", str(tmp_path / "old.json"), "--new", str(tmp_path / "new.json")])
    out = capsys.readouterr().out
    if reported:
        assert code == 1 and "instance group 'gpu' is removed" in out and "Karpenter" in out
    else:
        assert code == 0, out


def _alias_web(path: Path, strlen: int, refs: int) -> None:
    """The reviewer's shape: a group name ``!If [C, gpu, *l2]``, l2 = refs aliases of refs aliases of a string."""
    lines = [
        "Parameters:",
        "  P: {Type: String}",
        "Conditions:",
        "  C: !Equals [!Ref P, x]",
        "Mappings:",
        "  Pad:",
        f"    s: {{v: &s {'x' * strlen}}}",
        "    l1: {v: &l1 [" + ", ".join(["*s"] * refs) + "]}",
        "    l2: {v: &l2 [" + ", ".join(["*l1"] * refs) + "]}",
        "Resources:",
        "  Cluster:",
        "    Type: AWS::SageMaker::Cluster",
        "    Properties:",
        "      ClusterName: c",
        "      InstanceGroups:",
        "        - InstanceGroupName: !If [C, gpu, *l2]",
        "          InstanceType: ml.p5.48xlarge",
        "          InstanceCount: 2",
    ]
    path.write_text("\n".join(lines) + "\n")


def test_an_alias_web_group_name_is_refused_in_one_line_with_bounded_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Round 9 (tools), M2: a 5.9 KB YAML template whose unresolved name expands to ~40 MB of JSON took
    1 GB of memory (9 KB: a MemoryError trace, exit 1). The size is counted on the node graph, once per
    aliased list, so the work grows with the file, not with what its aliases expand to.

    Since round 14 the reader refuses the file first (36 MB of expanded text); the name check is still
    tested, behind a raised text cap, because templates built in Python (a CDK app) never pass the reader."""
    template = tmp_path / "web.yaml"
    _alias_web(template, 100, 600)
    assert template.stat().st_size < 6_000
    with work_limits.guard(10):
        assert main(["--old", str(template), "--new", str(template)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "too large once YAML aliases are expanded: more than 32 MiB of text" in err
    monkeypatch.setattr(input_limits, "EXPANDED_TEXT_FACTOR", 1_000)
    with work_limits.guard(10):
        assert main(["--old", str(template), "--new", str(template)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not resolve" in err and f"over {MAX_WRITTEN_SIZE:,}" in err
    parsed = parse_template(template.read_text(), str(template))
    props = parsed["Resources"]["Cluster"]["Properties"]

    def label() -> None:
        with pytest.raises(GroupNameTooLargeError):
            with_resolved_names("AWS::SageMaker::Cluster", props, parsed)

    work = work_limits.calls(label)
    assert work < 20_000, work  # the file has ~1,300 values; expanded, the name has 360,000 strings


def test_a_long_unresolved_name_is_labelled_by_a_short_form_and_a_digest() -> None:
    """Round 9 (tools), M2: the label of a name that does not resolve is small, whatever the name's size;
    two such names that differ only past the cut are still told apart."""
    long = ["x" * 5_000]
    old = _template({"InstanceGroups": [_group({"Fn::If": ["Big", "gpu", {"Fn::Join": ["", long + ["a"]]}]})]})
    new = _template({"InstanceGroups": [_group({"Fn::If": ["Big", "gpu", {"Fn::Join": ["", long + ["b"]]}]})]})
    for template in (old, new):
        template["Conditions"] = CONDITIONS
    report = compare_templates(old, new)
    assert report.findings, "a name edited past the cut is another name"
    assert all(len(finding.property) < 200 for finding in report.findings)
    assert not compare_templates(old, copy.deepcopy(old)).findings


def test_a_self_referencing_parameter_default_leaves_the_name_unresolved() -> None:
    """Round 9 (tools), L2: ``P: {Default: !Sub "${P}"}`` raised RecursionError (a trace, exit 1)."""
    template = {"Parameters": {"P": {"Type": "String", "Default": {"Fn::Sub": "${P}"}}}}
    assert resolve_name({"Ref": "P"}, template) is None
    chain = {f"P{i}": {"Type": "String", "Default": {"Ref": f"P{i + 1}"}} for i in range(400)}
    chain["P400"] = {"Type": "String", "Default": "gpu"}
    assert resolve_name({"Ref": "P0"}, {"Parameters": chain}) is None  # deeper than a name may nest
    assert resolve_name({"Ref": "P390"}, {"Parameters": chain}) == "gpu"


def _with_resource(logical_id: str, resource: dict[str, Any], name: Any) -> dict[str, Any]:
    template = _template({"InstanceGroups": [_group(name), _group("cpu")]})
    template["Resources"][logical_id] = resource
    return template


def test_a_name_read_from_a_changed_resource_may_be_a_rename() -> None:
    """Round 9 (tools), L1: a name read through GetAtt of a resource whose properties change was "the same group"."""
    ssm = {"Type": "AWS::SSM::Parameter", "Properties": {"Type": "String", "Name": "/hp/gpu", "Value": "gpu"}}
    renamed = copy.deepcopy(ssm)
    renamed["Properties"]["Value"] = "gpu2"
    name = {"Fn::GetAtt": ["GroupName", "Value"]}
    report = compare_templates(_with_resource("GroupName", ssm, name), _with_resource("GroupName", renamed, name))
    assert any("cannot be ruled out" in (f.cause or "") for f in report.findings)
    same = compare_templates(
        _with_resource("GroupName", ssm, name), _with_resource("GroupName", copy.deepcopy(ssm), name)
    )
    assert not same.findings
