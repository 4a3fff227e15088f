"""Review round 18 (R18T-L1, L2, L3): which part of ``AWS::StackId`` is unique, ``${}`` in ``Fn::Sub``, and
a cost linear in the template however names refer to each other."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.rules.model import NOT_CHECKED, Templates
from hyperpod_cdk.rules.name_walk import NameWalk
from hyperpod_cdk.rules.retention import UNIQUE_NAME_PROPERTIES

_spec = importlib.util.spec_from_file_location("work_limits", Path(__file__).with_name("work_limits.py"))
assert _spec is not None and _spec.loader is not None
work_limits = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(work_limits)

_STACK_ID = {"Ref": "AWS::StackId"}


def _split(delimiter: str, value: Any) -> dict[str, Any]:
    return {"Fn::Split": [delimiter, value]}


def _select(index: Any, value: Any) -> dict[str, Any]:
    return {"Fn::Select": [index, value]}


def _retained_log_group(name: Any, **resources: Any) -> dict[str, Any]:
    group = {"Type": "AWS::Logs::LogGroup", "DeletionPolicy": "Retain", "Properties": {"LogGroupName": name}}
    return {
        "Parameters": {"Pick": {"Type": "Number"}, "Suffix": {"Type": "String"}},
        "Resources": {"Logs": group, **resources},
    }


def _ret2(template: dict[str, Any], closed_world: bool = False) -> list[tuple[str, str | None]]:
    findings = work_limits.rule_findings(Templates({"t": template}, closed_world=closed_world), "HyperPod-RET2")
    return [(f.logical_id, f.severity) for f in findings if f.rule_id == "HyperPod-RET2"]


_FIXED = [("Logs", None)]
_MAYBE = [("Logs", NOT_CHECKED)]

# arn:aws:cloudformation:REGION:ACCOUNT:stack/NAME/UUID
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/pseudo-parameter-reference.html)
_STACK_ID_PARTS = [
    pytest.param(_STACK_ID, [], id="the whole stack id"),
    pytest.param(_select(2, _split("/", _STACK_ID)), [], id="the UUID"),
    pytest.param(_select("2", _split("/", _STACK_ID)), [], id="the UUID, index as text"),
    # The shape CDK writes for its own unique suffixes (and this project for its log groups).
    pytest.param(_select(0, _split("-", _select(2, _split("/", _STACK_ID)))), [], id="first block of the UUID"),
    pytest.param(_select(4, _split("-", _select(2, _split("/", _STACK_ID)))), [], id="last block of the UUID"),
    pytest.param(_select(1, _split("/", _STACK_ID)), _FIXED, id="the stack name"),
    pytest.param(_select(0, _split("/", _STACK_ID)), _FIXED, id="the ARN up to stack"),
    pytest.param(_select(3, _split(":", _STACK_ID)), _FIXED, id="the region"),
    pytest.param(_select(1, _split("/", {"Fn::Sub": "${AWS::StackId}"})), _FIXED, id="the stack name, via Fn::Sub"),
    pytest.param(
        _select(1, _split("/", {"Fn::Join": ["", [_STACK_ID, "/x"]]})), _FIXED, id="the stack name, via Fn::Join"
    ),
    # Regions hold hyphens: item 1 of a split on "-" is in the region (or the partition) of every stack.
    pytest.param(_select(1, _split("-", _STACK_ID)), _FIXED, id="item 1 of a split on hyphens"),
    # The partition and the stack name may hold hyphens too: which item 2 is depends on them.
    pytest.param(_select(2, _split("-", _STACK_ID)), _MAYBE, id="item 2 of a split on hyphens"),
    # An index chosen at deploy among fixed and unique parts.
    pytest.param(_select({"Ref": "Pick"}, _split("/", _STACK_ID)), _MAYBE, id="an index not known offline"),
    # A part of a value mixed with something this rule does not evaluate.
    pytest.param(
        _select(1, _split("/", {"Fn::Join": ["", [_STACK_ID, {"Ref": "Suffix"}]]})), _MAYBE, id="a part of a mix"
    ),
]


@pytest.mark.parametrize(("part", "expected"), _STACK_ID_PARTS)
def test_ret2_counts_only_the_unique_part_of_the_stack_id(part: Any, expected: list[Any]) -> None:
    """R18T-L1: any part of AWS::StackId counted as unique, the stack name included (kept by a redeploy)."""
    assert _ret2(_retained_log_group({"Fn::Join": ["/", ["/hyperpod", part]]})) == expected


def test_ret2_in_a_cdk_app_a_part_it_cannot_read_is_a_finding() -> None:
    template = _retained_log_group({"Fn::Join": ["/", ["/hyperpod", _select(2, _split("-", _STACK_ID))]]})
    assert _ret2(template, closed_world=True) == _FIXED


_GENERATED = {"Type": "AWS::S3::Bucket"}
_NAMED = {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "fixed-bucket"}}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param({"Fn::Sub": "/hp/${Gen}"}, [], id="a generated name"),
        pytest.param({"Fn::Sub": "/hp/${Gen.Arn}"}, [], id="an attribute of a generated name"),
        pytest.param({"Fn::Sub": "/hp/${ Gen }"}, [], id="spaces inside the braces"),
        pytest.param({"Fn::Sub": "/hp/${AWS::StackId}"}, [], id="the whole stack id"),
        pytest.param({"Fn::Sub": "/hp/${Named}"}, _FIXED, id="a fixed name"),
        pytest.param({"Fn::Sub": "/hp/${!Gen}"}, _FIXED, id="a literal"),
        pytest.param({"Fn::Sub": ["/hp/${Gen}", {"Gen": "x"}]}, _FIXED, id="a variable of the map hides the resource"),
        pytest.param({"Fn::Sub": ["/hp/${Id}", {"Id": {"Ref": "Gen"}}]}, [], id="a variable naming a generated name"),
        pytest.param({"Fn::Sub": "/hp/${AWS::Region}/${Suffix}"}, _FIXED, id="pseudo parameter and parameter"),
    ],
)
def test_ret2_reads_the_names_in_an_fn_sub_string(name: Any, expected: list[Any]) -> None:
    """R18T-L3: "${Gen}" in an Fn::Sub string was not read, a false error for a generated name."""
    assert _ret2(_retained_log_group(name, Gen=_GENERATED, Named=_NAMED)) == expected


def _dense(n: int) -> dict[str, Any]:
    """The reviewer's shape: retained log groups N0..N(n-1), the name of Ni joining a Ref to every later one."""
    resources = {
        f"N{i}": {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Retain",
            "Properties": {
                "LogGroupName": {"Fn::Join": ["-", [f"g{i}"] + [{"Ref": f"N{j}"} for j in range(i + 1, n)]]}
            },
        }
        for i in range(n)
    }
    return {"Resources": resources}


def test_ret2_is_linear_in_the_template_on_a_dense_graph_of_names() -> None:
    """R18T-L2: 500 such names (2.2 MB) took 40 s: walk calls grew x8 per doubling, the template x4."""
    ratio = work_limits.rule_call_ratio(_dense, 40, "HyperPod-RET2")
    assert ratio < 4.6, ratio  # the template's size grows about x4 from 40 to 80 names
    assert len(_ret2(_dense(300))) == 300  # every name is fixed


def test_ret2_reads_a_name_expression_shared_by_many_resources_once() -> None:
    # As YAML aliases give: one object, many resources.
    shared = {"Fn::Join": ["-", [{"Fn::Join": ["-", ["a", {"Ref": "AWS::Region"}]]}] * 50]}
    resources = {
        f"L{i}": {"Type": "AWS::Logs::LogGroup", "DeletionPolicy": "Retain", "Properties": {"LogGroupName": shared}}
        for i in range(200)
    }
    walk = NameWalk(resources, UNIQUE_NAME_PROPERTIES)
    assert all(walk.differs(shared) is False for _ in range(200))
    # Seven objects (two joins, their argument lists, the list of 50, the inner list and the Ref), read once for
    # 200 resources x 50 uses.
    assert walk.steps == 7


def test_ret2_names_that_use_each_other_in_a_circle_end() -> None:
    # CloudFormation refuses such a template (circular dependency); the rule must still end with an answer.
    circle = {
        f"N{i}": {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Retain",
            "Properties": {"LogGroupName": {"Fn::Join": ["-", ["g", {"Ref": f"N{(i + 1) % 5}"}]]}},
        }
        for i in range(5)
    }
    assert len(_ret2({"Resources": circle})) == 5


def _ring(n: int, unique_at: int) -> dict[str, Any]:
    """N0..N(n-1) in a circle, each name using the next; one of them also uses the stack id."""
    resources = {}
    for i in range(n):
        parts: list[Any] = ["g", {"Ref": f"N{(i + 1) % n}"}]
        if i == unique_at:
            parts.append(_select(2, _split("/", _STACK_ID)))
        resources[f"N{i}"] = {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Retain",
            "Properties": {"LogGroupName": {"Fn::Join": ["-", parts]}},
        }
    return {"Resources": resources}


@pytest.mark.parametrize("unique_at", [0, 1, 19])
def test_ret2_a_circle_of_names_that_reaches_the_stack_id_differs_wherever_it_is_entered(unique_at: int) -> None:
    assert _ret2(_ring(20, unique_at)) == []


def _dense_circle(n: int) -> dict[str, Any]:
    template = _dense(n)
    for i, body in enumerate(template["Resources"].values()):
        body["Properties"]["LogGroupName"]["Fn::Join"][1] += [{"Ref": f"N{j}"} for j in range(i)]
    return template


def test_ret2_is_linear_in_the_template_on_a_dense_circle_of_names() -> None:
    assert work_limits.rule_call_ratio(_dense_circle, 30, "HyperPod-RET2") < 4.6
