"""Review round 17 (R17T-H1, R17T-L1): RET2 reads only the ``Fn::If`` branch a known condition takes, says
"not checked" when the condition is not known and one branch is fixed, and reads a chain of names to its end."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.rules.inputs import from_cloudformation
from hyperpod_cdk.rules.model import NOT_CHECKED

_spec = importlib.util.spec_from_file_location("work_limits", Path(__file__).with_name("work_limits.py"))
assert _spec is not None and _spec.loader is not None
work_limits = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(work_limits)
run = work_limits.rule_findings

_STACK_PART = {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}


def _retained_bucket_named(name: Any, default: str | None = "prod") -> dict[str, Any]:
    """The reviewer's shape: a fixed name in prod, a per-deployment one elsewhere, next to an unknown AccountId."""
    parameter: dict[str, Any] = {"Type": "String", "AllowedValues": ["prod", "dev"]}
    if default is not None:
        parameter["Default"] = default
    return {
        "Parameters": {"Environment": parameter},
        "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Environment"}, "prod"]}},
        "Resources": {
            "Checkpoints": {
                "Type": "AWS::S3::Bucket",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {"BucketName": name},
            }
        },
    }


_JOINED = {"Fn::Join": ["-", [{"Ref": "AWS::AccountId"}, {"Fn::If": ["IsProd", "checkpoints", _STACK_PART]}]]}
_SUBSTITUTED = {
    "Fn::Sub": ["/hyperpod/${AWS::AccountId}/${Suffix}", {"Suffix": {"Fn::If": ["IsProd", "training", _STACK_PART]}}]
}


def _ret2(template: dict[str, Any], **parameters: str) -> list[Any]:
    lint_input = from_cloudformation(template, "t.yaml", parameters=parameters)
    return [f for f in run(lint_input.templates, "HyperPod-RET2") if f.rule_id == "HyperPod-RET2"]


@pytest.mark.parametrize("name", [_JOINED, _SUBSTITUTED], ids=["join", "sub"])
def test_ret2_a_fixed_name_chosen_by_the_default_of_a_condition_is_an_error(name: Any) -> None:
    findings = _ret2(_retained_bucket_named(name))
    assert [(f.logical_id, f.severity) for f in findings] == [("Checkpoints", None)]
    assert "AlreadyExists" in findings[0].detail


@pytest.mark.parametrize("name", [_JOINED, _SUBSTITUTED], ids=["join", "sub"])
def test_ret2_follows_the_condition_a_parameter_gives(name: Any) -> None:
    assert [f.severity for f in _ret2(_retained_bucket_named(name, default=None), Environment="prod")] == [None]
    # The branch taken holds the stack id: the name differs per deployment.
    assert _ret2(_retained_bucket_named(name), Environment="dev") == []


@pytest.mark.parametrize("name", [_JOINED, _SUBSTITUTED], ids=["join", "sub"])
def test_ret2_an_unknown_condition_with_a_fixed_branch_is_not_checked(name: Any) -> None:
    findings = _ret2(_retained_bucket_named(name, default=None))
    assert [(f.logical_id, f.severity) for f in findings] == [("Checkpoints", NOT_CHECKED)]
    assert "--parameter" in findings[0].detail


def test_ret2_an_unknown_condition_is_settled_when_both_branches_agree() -> None:
    differ = {"Fn::Join": ["-", [{"Ref": "AWS::AccountId"}, {"Fn::If": ["IsProd", _STACK_PART, _STACK_PART]}]]}
    assert _ret2(_retained_bucket_named(differ, default=None)) == []
    fixed = {"Fn::Join": ["-", [{"Ref": "AWS::AccountId"}, {"Fn::If": ["IsProd", "a", "b"]}]]}
    assert [f.severity for f in _ret2(_retained_bucket_named(fixed, default=None))] == [None]


def _chain(n: int) -> dict[str, Any]:
    """N0..N(n-1) retained log groups, each name joining the next one's; the last names a bucket with the stack id."""
    resources: dict[str, Any] = {
        f"N{n}": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": {"Fn::Join": ["-", ["b", _STACK_PART]]}}}
    }
    for i in range(n):
        resources[f"N{i}"] = {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Retain",
            "Properties": {"LogGroupName": {"Fn::Join": ["-", ["g", {"Ref": f"N{i + 1}"}]]}},
        }
    return {"Resources": resources}


def test_ret2_reads_a_chain_of_names_to_its_end_in_either_order() -> None:
    # Every name differs per deployment. R17T-L1: a JSON-depth cap cut the walk from N0 before the stack id and
    # reported N0..N7; round 18 (R18T-L2) replaced the cap with an order of names (no cap, so no false errors).
    assert run(_chain(10), "HyperPod-RET2") == []
    from_the_end = _chain(10)
    from_the_end["Resources"] = dict(reversed(list(from_the_end["Resources"].items())))
    assert run(from_the_end, "HyperPod-RET2") == []
    # Far deeper than Python's recursion limit: names are ordered without recursion.
    assert run(_chain(3000), "HyperPod-RET2") == []


def _selected_name(default: str | None) -> dict[str, Any]:
    """Review round 18 (R18T-H1): the name is an item of an ``Fn::Select`` whose index is a parameter."""
    template = _retained_bucket_named(
        {
            "Fn::Join": [
                "-",
                [{"Ref": "AWS::AccountId"}, {"Fn::Select": [{"Ref": "Pick"}, ["checkpoints", _STACK_PART]]}],
            ]
        }
    )
    template["Parameters"] = {"Pick": {"Type": "Number"} | ({"Default": default} if default is not None else {})}
    return template


def test_ret2_a_fixed_item_chosen_by_a_known_index_is_an_error() -> None:
    assert [(f.logical_id, f.severity) for f in _ret2(_selected_name("0"))] == [("Checkpoints", None)]
    assert [(f.logical_id, f.severity) for f in _ret2(_selected_name(None), Pick="0")] == [("Checkpoints", None)]
    assert _ret2(_selected_name("1")) == []


def test_ret2_an_unknown_index_with_a_fixed_item_is_not_checked() -> None:
    findings = _ret2(_selected_name(None))
    assert [(f.logical_id, f.severity) for f in findings] == [("Checkpoints", NOT_CHECKED)]
    assert "Fn::Select" in findings[0].detail


def test_ret2_in_a_cdk_app_a_choice_made_at_deploy_is_a_finding() -> None:
    """R18T-M1: the synth-time plugin (closed world) dropped not-checked lines, so such a name passed synth."""
    from hyperpod_cdk.rules.model import Templates

    template = _retained_bucket_named({"Fn::If": ["IsProd", "checkpoints", _STACK_PART]}, default=None)
    findings = run(Templates({"t": template}, closed_world=True), "HyperPod-RET2")
    assert [(f.rule_id, f.severity) for f in findings] == [("HyperPod-RET2", None)]
