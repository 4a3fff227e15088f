"""Replacement guard: instance groups whose name is not a literal string (review round 8, tools, M1).

HyperPod matches groups by ``InstanceGroupName``; a renamed group loses all its nodes. Before the fix only
literal names were compared, so a rename through a parameter default, ``Ref A`` -> ``Ref B`` or an edited
``Fn::Sub`` passed with exit 0.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import time
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.guard import compare_templates, main
from hyperpod_cdk.guard.__main__ import parse_template
from hyperpod_cdk.guard.group_names import resolve_name

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "data" / "lint-corpus"


def _cluster(*names: Any, list_name: str = "InstanceGroups", parameters: dict[str, Any] | None = None) -> dict:
    """A HyperPod cluster whose groups (2 nodes each, the system group first) carry ``names``."""
    groups = [{"InstanceGroupName": "system", "InstanceType": "ml.m5.xlarge", "InstanceCount": 1}]
    groups += [{"InstanceGroupName": name, "InstanceType": "ml.g5.8xlarge", "InstanceCount": 2} for name in names]
    props: dict[str, Any] = {"ClusterName": "hp", list_name: groups}
    if list_name != "InstanceGroups":
        props["InstanceGroups"] = groups[:1]
        props[list_name] = groups[1:]
    return {
        "Parameters": parameters or {},
        "Resources": {"HyperPod": {"Type": "AWS::SageMaker::Cluster", "Properties": props}},
    }


def _param(default: Any = None, kind: str = "String") -> dict[str, Any]:
    return {"Type": kind} if default is None else {"Type": kind, "Default": default}


LISTS = ("InstanceGroups", "RestrictedInstanceGroups")

# (old template, new template) pairs that rename the group 'gpu' to 'gpux'.
RENAMES = {
    "parameter default": (
        lambda ln: _cluster({"Ref": "Name"}, list_name=ln, parameters={"Name": _param("gpu")}),
        lambda ln: _cluster({"Ref": "Name"}, list_name=ln, parameters={"Name": _param("gpux")}),
    ),
    "Ref A -> Ref B": (
        lambda ln: _cluster({"Ref": "A"}, list_name=ln, parameters={"A": _param("gpu")}),
        lambda ln: _cluster({"Ref": "B"}, list_name=ln, parameters={"B": _param("gpux")}),
    ),
    "Fn::Sub edited": (
        lambda ln: _cluster({"Fn::Sub": "${AWS::StackName}-gpu"}, list_name=ln),
        lambda ln: _cluster({"Fn::Sub": "${AWS::StackName}-gpux"}, list_name=ln),
    ),
    "Fn::Sub of a parameter": (
        lambda ln: _cluster({"Fn::Sub": "${Team}-gpu"}, list_name=ln, parameters={"Team": _param("a")}),
        lambda ln: _cluster({"Fn::Sub": "${Team}-gpu"}, list_name=ln, parameters={"Team": _param("b")}),
    ),
}


@pytest.mark.parametrize("list_name", LISTS)
@pytest.mark.parametrize("case", sorted(RENAMES))
def test_a_rename_through_an_intrinsic_is_reported(case, list_name):
    old, new = (make(list_name) for make in RENAMES[case])
    [finding] = compare_templates(old, new).findings
    assert finding.effect == "disruptive"
    assert finding.property.startswith(f"{list_name}[")
    assert "is removed" in (finding.cause or "")
    assert finding.old == {"InstanceType": "ml.g5.8xlarge", "InstanceCount": 2}


def test_the_command_exits_1_on_a_parameter_default_rename(tmp_path, capsys):
    old, new = (make("InstanceGroups") for make in RENAMES["parameter default"])
    (tmp_path / "old.json").write_text(json.dumps(old))
    (tmp_path / "new.json").write_text(json.dumps(new))
    assert main(["--old", str(tmp_path / "old.json"), "--new", str(tmp_path / "new.json")]) == 1
    out = capsys.readouterr().out
    assert "InstanceGroups[gpu]" in out and "gpux" in out


@pytest.mark.parametrize(
    "name",
    [
        {"Ref": "Name"},  # default gpu
        {"Fn::Sub": "${Name}"},
        {"Fn::Sub": ["${Prefix}u", {"Prefix": {"Fn::Join": ["", ["g", "p"]]}}]},
        {"Fn::Join": ["", ["gp", "u"]]},
        {"Fn::FindInMap": ["Groups", {"Ref": "Name"}, "name"]},
    ],
)
def test_a_name_written_another_way_that_resolves_the_same_is_no_change(name):
    parameters = {"Name": _param("gpu")}
    mappings = {"Groups": {"gpu": {"name": "gpu"}}}
    old = _cluster("gpu", parameters=parameters)
    new = _cluster(name, parameters=parameters)
    old["Mappings"] = new["Mappings"] = mappings
    assert compare_templates(old, new).findings == []
    assert compare_templates(new, old).findings == []


def test_other_paths_of_an_unresolved_group_are_matched_by_its_written_name():
    name = {"Fn::GetAtt": ["Names", "Gpu"]}
    old = _cluster(name, "spare")
    new = copy.deepcopy(old)
    groups = new["Resources"]["HyperPod"]["Properties"]["InstanceGroups"]
    groups.reverse()
    assert compare_templates(old, new).findings == []
    next(g for g in groups if g["InstanceGroupName"] == name)["InstanceType"] = "ml.p5.48xlarge"
    [finding] = compare_templates(old, new).findings
    assert finding.property == 'InstanceGroups[{"Fn::GetAtt":["Names","Gpu"]}].InstanceType'


def test_other_paths_of_a_resolved_group_are_matched_by_its_name():
    """Groups are matched by the resolved name, not by position: a reorder is nothing, a type change is named."""
    parameters = {"Name": _param("gpu")}
    old = _cluster({"Ref": "Name"}, "spare", parameters=parameters)
    new = copy.deepcopy(old)
    groups = new["Resources"]["HyperPod"]["Properties"]["InstanceGroups"]
    groups.reverse()
    assert compare_templates(old, new).findings == []
    next(g for g in groups if g["InstanceGroupName"] == {"Ref": "Name"})["InstanceType"] = "ml.p5.48xlarge"
    [finding] = compare_templates(old, new).findings
    assert finding.property == "InstanceGroups[gpu].InstanceType"


@pytest.mark.parametrize(
    ("old_name", "new_name", "parameters"),
    [
        ({"Ref": "NoDefault"}, {"Ref": "Other"}, {"NoDefault": _param(), "Other": _param()}),
        ({"Fn::GetAtt": ["Names", "Gpu"]}, {"Fn::GetAtt": ["Names", "Gpu2"]}, {}),
        ({"Fn::If": ["Prod", "gpu", "gpu-dev"]}, {"Fn::If": ["Prod", "gpu", "gpu-test"]}, {}),
        # An SSM parameter's Default is the key, not the value: its change is a change of the name's input.
        (
            {"Ref": "Ssm"},
            {"Ref": "Ssm"},
            {"Ssm": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/a"}},
        ),
        ("gpu", {"Fn::GetAtt": ["Names", "Gpu"]}, {}),
    ],
    ids=["ref-without-default", "getatt", "fn-if", "ssm-key", "literal-to-getatt"],
)
def test_a_name_that_does_not_resolve_and_changes_is_reported(old_name, new_name, parameters):
    old = _cluster(old_name, parameters=parameters)
    new = _cluster(new_name, parameters=copy.deepcopy(parameters))
    if "Ssm" in parameters:
        new["Parameters"]["Ssm"]["Default"] = "/b"
    [finding] = compare_templates(old, new).findings
    assert finding.effect == "disruptive"
    cause = finding.cause or ""
    assert "does not resolve" in cause, cause


@pytest.mark.parametrize(
    "name",
    [{"Ref": "NoDefault"}, {"Fn::GetAtt": ["Names", "Gpu"]}, {"Fn::If": ["Prod", "gpu", "gpu-dev"]}],
)
def test_a_name_that_does_not_resolve_but_is_written_the_same_is_no_change(name):
    template = _cluster(name, parameters={"NoDefault": _param()})
    assert compare_templates(template, copy.deepcopy(template)).findings == []


def test_a_whole_group_behind_fn_if_is_matched_by_its_written_form():
    template = _cluster("gpu")
    groups = template["Resources"]["HyperPod"]["Properties"]["InstanceGroups"]
    groups[1] = {"Fn::If": ["UseGpu", groups[1], {"Ref": "AWS::NoValue"}]}
    assert compare_templates(template, copy.deepcopy(template)).findings == []
    changed = copy.deepcopy(template)
    changed["Resources"]["HyperPod"]["Properties"]["InstanceGroups"][1]["Fn::If"][1]["InstanceGroupName"] = "gpux"
    findings = compare_templates(template, changed).findings
    assert any("does not resolve" in (f.cause or "") for f in findings), findings


def _corpus_templates() -> list[str]:
    return sorted(
        str(p.relative_to(CORPUS))
        for p in CORPUS.rglob("*")
        if p.suffix in (".yaml", ".json") and "Resources" in p.read_text()
    )


@pytest.mark.parametrize("name", _corpus_templates())
def test_aws_sample_templates_compare_clean_against_themselves(name):
    text = (CORPUS / name).read_text()
    report = compare_templates(parse_template(text, name), parse_template(text, name))
    assert report.findings == [], [f.property for f in report.findings]


def test_aws_sample_group_name_default_change_is_reported():
    """awsome-distributed-ai names its groups with !Ref parameters inside a whole-list Fn::If."""
    name = "awsome-distributed-ai/hyperpod-cluster-stack.yaml"
    old = parse_template((CORPUS / name).read_text(), name)
    new = copy.deepcopy(old)
    new["Parameters"]["AcceleratedInstanceGroupName"]["Default"] = "renamed"
    findings = compare_templates(old, new).findings
    assert any("AcceleratedInstanceGroupName" in (f.cause or "") for f in findings), findings


def test_resolving_a_name_is_bounded():
    """A YAML alias can nest an Fn::Join inside itself: 2**60 parts, refused within the budget."""
    node: Any = "a"
    for _ in range(60):
        node = {"Fn::Join": ["", [node, node]]}
    started = time.monotonic()
    assert resolve_name(node, {}) is None
    assert time.monotonic() - started < 5
    assert resolve_name({"Fn::Join": ["-", ["hp", {"Ref": "AWS::StackName"}]]}, {}) == "hp-${AWS::StackName}"
    assert resolve_name({"Ref": "L"}, {"Parameters": {"L": _param("a,b", "CommaDelimitedList")}}) is None


# --- work: linear in the number of groups ------------------------------------------------------------

_spec = importlib.util.spec_from_file_location("work_limits", Path(__file__).with_name("work_limits.py"))
assert _spec and _spec.loader
work_limits = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(work_limits)


def _named_by(n: int, name: Any, suffix: str = "") -> dict:
    """n groups named by ``name(i)`` (parameters P<i> with a default for the Ref shapes)."""
    template = _cluster(*(name(i) for i in range(n)))
    template["Parameters"] = {f"P{i}": _param(f"g{i}{suffix}") for i in range(n)}
    return template


GROUP_SHAPES = {
    # every name unresolved and written the same: one dict lookup each, not a scan of the others
    "unresolved, unchanged": lambda n: (
        _named_by(n, lambda i: {"Fn::GetAtt": [f"N{i}", "Name"]}),
        _named_by(n, lambda i: {"Fn::GetAtt": [f"N{i}", "Name"]}),
    ),
    # the same unresolved name n times: matched one for one
    "one unresolved name repeated": lambda n: (
        _named_by(n, lambda i: {"Fn::GetAtt": ["N", "Name"]}),
        _named_by(n, lambda i: {"Fn::GetAtt": ["N", "Name"]}),
    ),
    # every group renamed through its parameter default: each cause names at most five new groups
    "all renamed by default": lambda n: (
        _named_by(n, lambda i: {"Ref": f"P{i}"}),
        _named_by(n, lambda i: {"Ref": f"P{i}"}, suffix="x"),
    ),
    # every unresolved name changed: each finding says so once
    "unresolved, all changed": lambda n: (
        _named_by(n, lambda i: {"Fn::GetAtt": [f"N{i}", "Name"]}),
        _named_by(n, lambda i: {"Fn::GetAtt": [f"M{i}", "Name"]}),
    ),
}


@pytest.mark.parametrize("shape", sorted(GROUP_SHAPES))
def test_matching_group_names_does_linear_work(shape):
    small, large = GROUP_SHAPES[shape](300), GROUP_SHAPES[shape](600)
    with work_limits.guard(60):
        ratio = work_limits.calls(lambda: compare_templates(*large)) / work_limits.calls(
            lambda: compare_templates(*small)
        )
    assert ratio < 2.5, f"{shape}: {ratio:.2f}x the calls for 2x the groups"


@pytest.mark.parametrize("count", [False, 0.0, "0"])
def test_a_removed_group_whose_count_is_not_the_integer_0_is_reported(count):
    """Only the integer 0 says the group has no nodes (as the guard's type-preserving comparison)."""
    old = _cluster("gpu")
    old["Resources"]["HyperPod"]["Properties"]["InstanceGroups"][1]["InstanceCount"] = count
    [finding] = compare_templates(old, _cluster()).findings
    assert finding.property == "InstanceGroups[gpu]"


def test_a_removed_group_of_0_nodes_is_not_reported():
    old = _cluster("gpu")
    old["Resources"]["HyperPod"]["Properties"]["InstanceGroups"][1]["InstanceCount"] = 0
    assert compare_templates(old, _cluster()).findings == []
