"""The replacement guard after review round 15 (tools): R15T-M1, M7, M9 and L1.

Work is measured by counting function calls at n and 2n (tests/work_limits.py), never by wall-clock time.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.guard.conditions import MAX_LISTED_INPUTS, InputMemo, evaluate_condition
from hyperpod_cdk.guard.diff import compare_templates

# Loaded by path (tests use --import-mode=importlib), like tests/test_guard_limits.py.
_spec = importlib.util.spec_from_file_location("work_limits", Path(__file__).with_name("work_limits.py"))
assert _spec and _spec.loader
work_limits = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(work_limits)
calls = work_limits.calls


def linear(build: Any, size: int) -> float:
    """Calls for 2 x ``size`` over calls for ``size`` (about 2 when linear, 4 when quadratic)."""
    small, large = build(size), build(2 * size)
    with work_limits.guard(120):
        return float(calls(lambda: compare_templates(*large)) / calls(lambda: compare_templates(*small)))


# ------------------------------------------------------------------ R15T-M1: one condition chain, many values


def _group_chain(count: int, default: str = "x") -> dict[str, Any]:
    """``count`` instance groups, group i's InstanceType an Fn::If on C_i, where C_i = Not C_{i-1} (the
    reviewer's m1/gen_chain.py): each value names a different link of one chain."""
    conditions: dict[str, Any] = {"C0": {"Fn::Equals": [{"Ref": "P"}, "x"]}}
    conditions.update({f"C{i}": {"Fn::Not": [{"Condition": f"C{i - 1}"}]} for i in range(1, count)})
    groups = [
        {
            "InstanceGroupName": f"g{i}",
            "InstanceType": {"Fn::If": [f"C{i}", "ml.c5.large", "ml.c5.xlarge"]},
            "InstanceCount": 1,
            "ExecutionRole": "arn:aws:iam::1:role/r",
        }
        for i in range(count)
    ]
    return {
        "Parameters": {"P": {"Type": "String", "Default": default}},
        "Conditions": conditions,
        "Resources": {
            "Cluster": {"Type": "AWS::SageMaker::Cluster", "Properties": {"ClusterName": "c", "InstanceGroups": groups}}
        },
    }


def test_values_naming_links_of_one_chain_cost_linear_work() -> None:
    """Each value walked (and stored) its link's whole chain: n^2/2 (987 KB: 91 s, 1.3 GB)."""
    ratio = linear(lambda n: (_group_chain(n), _group_chain(n)), 300)
    assert ratio < 2.5, f"{ratio:.2f}x the calls for 2x the groups"


def test_each_condition_of_the_chain_is_read_once_per_template() -> None:
    template = _group_chain(400)
    memo = InputMemo(template, template)
    for i in range(400):
        assert memo.changed({"Fn::If": [f"C{i}", 1, 2]}, {"Fn::If": [f"C{i}", 1, 2]}) == []
    assert memo.condition_reads == 2 * 400


def test_a_change_at_the_end_of_the_chain_is_still_reported_for_every_value() -> None:
    report = compare_templates(_group_chain(40), _group_chain(40, default="y"))
    assert len(report.findings) == 40
    assert {f.cause for f in report.findings} == {
        'the value is written the same but resolves differently: parameter P (Default): "x" -> "y"'
    }


def test_a_cause_lists_at_most_the_first_inputs_then_says_more() -> None:
    count = MAX_LISTED_INPUTS + 5
    old = {
        "Parameters": {f"P{i:02}": {"Type": "String", "Default": "x"} for i in range(count)},
        "Conditions": {"C": {"Fn::And": [{"Fn::Equals": [{"Ref": f"P{i:02}"}, "x"]} for i in range(count)]}},
    }
    new = {**old, "Parameters": {f"P{i:02}": {"Type": "String", "Default": "y"} for i in range(count)}}
    lines = InputMemo(old, new).changed({"Fn::If": ["C", 1, 2]}, {"Fn::If": ["C", 1, 2]})
    assert lines[:2] == ['parameter P00 (Default): "x" -> "y"', 'parameter P01 (Default): "x" -> "y"']
    assert len(lines) == MAX_LISTED_INPUTS + 1 and lines[-1] == "and more"


def test_a_condition_cycle_reaches_the_changes_of_all_its_members() -> None:
    """A cycle is one unit: each member's closure holds what every other member reads."""
    conditions = {
        "A": {"Fn::And": [{"Condition": "B"}, {"Fn::Equals": [{"Ref": "P"}, "x"]}]},
        "B": {"Fn::Or": [{"Condition": "A"}, {"Fn::Equals": [{"Ref": "Q"}, "x"]}]},
    }
    old = {"Parameters": {"P": {"Default": "x"}, "Q": {"Default": "x"}}, "Conditions": conditions}
    new = {**old, "Parameters": {"P": {"Default": "x"}, "Q": {"Default": "z"}}}
    memo = InputMemo(old, new)
    assert memo.changed({"Fn::If": ["A", 1, 2]}, {"Fn::If": ["A", 1, 2]}) == ['parameter Q (Default): "x" -> "z"']
    assert memo.changed({"Fn::If": ["B", 1, 2]}, {"Fn::If": ["B", 1, 2]}) == ['parameter Q (Default): "x" -> "z"']


# ------------------------------------------------------------------ R15T-M7: conditions valued once per template


def _buckets_gain_big(count: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """``count`` buckets gain ``Condition: Big``, Big = And of ``count`` conditions (cond/gen_cond.py, K = N)."""
    conditions: dict[str, Any] = {f"C{j}": {"Fn::Equals": ["a", "a"]} for j in range(count)}
    conditions["Big"] = {"Fn::And": [{"Condition": f"C{j}"} for j in range(count)]}
    old = {"Resources": {f"B{i}": {"Type": "AWS::S3::Bucket"} for i in range(count)}}
    new = {
        "Conditions": conditions,
        "Resources": {f"B{i}": {"Type": "AWS::S3::Bucket", "Condition": "Big"} for i in range(count)},
    }
    return old, new


def test_a_condition_named_by_many_resources_is_valued_once() -> None:
    """Every resource valued Big's whole graph again: N x K (1,000 x 15,000: 76.8 s)."""
    ratio = linear(_buckets_gain_big, 300)
    assert ratio < 2.5, f"{ratio:.2f}x the calls for 2x the buckets and conditions"
    report = compare_templates(*_buckets_gain_big(20))
    assert len(report.findings) == 20
    assert {f.reason for f in report.findings} == {
        "It is true with the parameter defaults, but a deploy with other parameter values deletes the resource."
    }


def test_a_condition_value_does_not_depend_on_which_condition_was_asked_first() -> None:
    """C_i = Not C_{i-1}: C_100 is known (100 hops), C_200 is not (past the 128-hop cap), in either order."""
    conditions: dict[str, Any] = {"C0": {"Fn::Equals": ["a", "a"]}}
    conditions.update({f"C{i}": {"Fn::Not": [{"Condition": f"C{i - 1}"}]} for i in range(1, 201)})
    template = {"Conditions": conditions}
    first = InputMemo(template, template)
    assert (first.condition_value("C200"), first.condition_value("C100")) == (None, True)
    second = InputMemo(template, template)
    assert (second.condition_value("C100"), second.condition_value("C200")) == (True, None)
    assert evaluate_condition("Missing", template) is None


# ------------------------------------------------------------------ R15T-M9: _narrow once per node


def _deep_change(depth: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """EKS EncryptionConfig: ``depth`` nested {"a": ...} around {"big": [...], "leaf": 1 | 2} (narrow/gen_narrow.py)."""

    def template(leaf: str) -> dict[str, Any]:
        value: dict[str, Any] = {"big": ["a"] * (depth * 5), "leaf": leaf}
        for _ in range(depth):
            value = {"a": value}
        properties = {
            "Name": "e",
            "RoleArn": "arn:aws:iam::1:role/r",
            "ResourcesVpcConfig": {"SubnetIds": ["subnet-1"]},
            "EncryptionConfig": [value],
        }
        return {"Resources": {"Eks": {"Type": "AWS::EKS::Cluster", "Properties": properties}}}

    return template("1"), template("2")


def test_narrowing_a_deep_change_costs_linear_work() -> None:
    """Each level canonicalised the whole subtree below it again: depth x size."""
    ratio = linear(_deep_change, 40)
    assert ratio < 2.5, f"{ratio:.2f}x the calls for 2x the depth and size"


def test_a_deep_change_is_still_named_at_its_leaf() -> None:
    (finding,) = compare_templates(*_deep_change(5)).findings
    assert finding.property == "EncryptionConfig[0]" + ".a" * 5 + ".leaf"
    assert (finding.old, finding.new, finding.effect) == ("1", "2", "replacement")


def _deep_reference(depth: int) -> dict[str, Any]:
    """``depth`` nested {"a": ...} around {"big": [...], "sg": {"Ref": "SG"}}."""
    value: dict[str, Any] = {"big": [{"Ref": "Other"}] * (depth * 5), "sg": {"Ref": "SG"}}
    for _ in range(depth):
        value = {"a": value, "b": "x"}
    return value


def test_locating_a_deep_reference_costs_linear_work() -> None:
    """``_locate`` asked ``references`` of each part at each level: depth x size (the same shape as _narrow)."""
    from hyperpod_cdk.guard import diff

    small, large = _deep_reference(40), _deep_reference(80)
    ratio = calls(lambda: diff._locate("V", large, {"SG"})) / calls(lambda: diff._locate("V", small, {"SG"}))
    assert ratio < 2.5, f"{ratio:.2f}x the calls for 2x the depth and size"
    path, value = diff._locate("V", _deep_reference(3), {"SG"})
    assert (path, value) == ("V.a.a.a.sg", {"Ref": "SG"})
    assert diff._locate("V", _deep_reference(3), {"Other", "SG"})[0] == "V.a.a.a"  # two parts: stop above them


# ------------------------------------------------------------------ R15T-L1: SSM parameter types


def _named_cluster(parameter_type: str) -> dict[str, Any]:
    """The reviewer's sg/ptype_*.json: ClusterName is !Ref Name."""
    group = {"InstanceGroupName": "g", "InstanceType": "ml.c5.large", "InstanceCount": 1, "ExecutionRole": "r"}
    return {
        "Parameters": {"Name": {"Type": parameter_type, "Default": "/hyperpod/cluster-name"}},
        "Resources": {
            "Cluster": {
                "Type": "AWS::SageMaker::Cluster",
                "Properties": {"ClusterName": {"Ref": "Name"}, "InstanceGroups": [group]},
            }
        },
    }


def test_a_parameter_turning_into_an_ssm_parameter_type_is_a_change() -> None:
    """Same Default, but the value is now the SSM parameter's, fetched at deploy: "no replacing changes" before."""
    report = compare_templates(_named_cluster("String"), _named_cluster("AWS::SSM::Parameter::Value<String>"))
    (finding,) = report.findings
    assert (finding.property, finding.effect) == ("ClusterName", "replacement")
    assert finding.cause == (
        "the value is written the same but resolves differently: parameter Name (Default): "
        '"/hyperpod/cluster-name" -> SSM parameter "/hyperpod/cluster-name"'
    )


def test_an_unchanged_ssm_parameter_is_not_a_change() -> None:
    """As a parameter without a default: the values a deploy resolves are not known (docs/replacement-guard.md)."""
    ssm = _named_cluster("AWS::SSM::Parameter::Value<String>")
    assert compare_templates(ssm, ssm).findings == []
    # The parameter *name* type is the name itself: resolvable, so a same-Default switch is no change.
    assert compare_templates(_named_cluster("String"), _named_cluster("AWS::SSM::Parameter::Name")).findings == []


@pytest.mark.parametrize(
    "kind", ["AWS::SSM::Parameter::Value<String>", "AWS::SSM::Parameter::Value<AWS::EC2::VPC::Id>"]
)
def test_a_condition_on_an_ssm_parameter_is_unknown(kind: str) -> None:
    template = {
        "Parameters": {"P": {"Type": kind, "Default": "/x"}},
        "Conditions": {"C": {"Fn::Equals": [{"Ref": "P"}, "/x"]}},
    }
    assert evaluate_condition("C", template) is None
    template["Parameters"]["P"]["Type"] = "String"
    assert evaluate_condition("C", template) is True
