"""Round 30, the tools half (R30T-L1): fe05d2d tried every nested condition true and false, even where the
parent's value decides it; a correct app failed synth. A nested stack's parameter is now what its parent passes
in each world: exact where the parent's parameter takes a value from an exhaustive list or one a condition
names (the nested conditions' literals are tried for a parameter passed as ``Ref``), unknown (so its
conditions are tried both ways) where it rests on a stand-in the nested conditions may tell apart."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.rules.catalog import check_files

_spec = importlib.util.spec_from_file_location(
    "round24_nested", Path(__file__).with_name("test_review24_nested_parameters.py")
)
assert _spec is not None and _spec.loader is not None
_r24 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_r24)

SG = "sg-0123456789abcdef0"


def _rule(kind: str, condition: str | None = None) -> dict[str, Any]:
    """The group's self ingress or egress (EFA1 needs both)."""
    peer = "SourceSecurityGroupId" if kind == "Ingress" else "DestinationSecurityGroupId"
    body: dict[str, Any] = {
        "Type": f"AWS::EC2::SecurityGroup{kind}",
        "Properties": {"GroupId": SG, "IpProtocol": "-1", peer: SG},
    }
    return {**body, "Condition": condition} if condition else body


def _cluster(condition: str) -> dict[str, Any]:
    vpc = {"SecurityGroupIds": [SG], "Subnets": ["subnet-1"]}
    return {**_r24._cluster(_r24.IN_DUBLIN, {"VpcConfig": vpc}), "Condition": condition}


def _app(tmp_path: Path, parameter: dict[str, Any], parent_literal: str, nested_literal: str) -> list[str]:
    """The parent's self ingress under Env == ``parent_literal``; the nested cluster under Stage ==
    ``nested_literal``, Stage = Ref Env. EFA1's details."""
    parent = {
        "Parameters": {"Env": parameter},
        "Conditions": {"Gate": {"Fn::Equals": [{"Ref": "Env"}, parent_literal]}},
        "Resources": {
            "In": _rule("Ingress", "Gate"),
            "Out": _rule("Egress"),
            "N": _r24._stack({"Stage": {"Ref": "Env"}}),
        },
    }
    child = {
        "Parameters": {"Stage": {"Type": "String"}},
        "Conditions": {"Nested": {"Fn::Equals": [{"Ref": "Stage"}, nested_literal]}},
        "Resources": {"HP": _cluster("Nested")},
    }
    out = _r24._cdk_out(tmp_path / "out", parent, child)
    return [f.detail for f in check_files([out]) if f.rule_id in ("HyperPod-EFA1", "HyperPod-CFN1")]


@pytest.mark.parametrize(
    "parameter",
    [{"Type": "String"}, {"Type": "String", "AllowedValues": ["prod", "dev"]}],
    ids=["any value", "short AllowedValues"],
)
def test_one_gate_in_parent_and_nested_is_no_finding(tmp_path: Path, parameter: dict[str, Any]) -> None:
    """R30T-L1 (a): no deploy has the cluster (Stage == prod) without the ingress (Env == prod)."""
    assert _app(tmp_path, parameter, "prod", "prod") == []


def test_a_nested_literal_a_long_allowed_values_list_holds_is_tried(tmp_path: Path) -> None:
    """Env's 7 allowed values are not all tried: the one the nested condition names is, so Env = c (cluster
    present, ingress absent) is read."""
    parameter = {"Type": "String", "AllowedValues": ["a", "b", "c", "d", "e", "f", "g"]}
    found = _app(tmp_path, parameter, "a", "c")
    assert len(found) == 1 and "Env=c" in found[0], found


def test_five_nested_conditions_on_one_passed_parameter_make_no_cfn1(tmp_path: Path) -> None:
    """R30T-L1 (b): 32 combinations of five nested conditions before; their literals are Env's values now."""
    parent = {"Parameters": {"Env": {"Type": "String"}}, "Resources": {"N": _r24._stack({"Stage": {"Ref": "Env"}})}}
    child = {
        "Parameters": {"Stage": {"Type": "String"}},
        "Conditions": {f"C{i}": {"Fn::Equals": [{"Ref": "Stage"}, v]} for i, v in enumerate("vwxyz")},
        "Resources": {f"T{i}": {"Type": "AWS::SNS::Topic", "Condition": f"C{i}"} for i in range(5)},
    }
    out = _r24._cdk_out(tmp_path / "out", parent, child)
    assert [f for f in check_files([out]) if f.rule_id == "HyperPod-CFN1"] == []


def test_cfn1_names_the_template_of_the_resource_it_names(tmp_path: Path) -> None:
    """R30T-L1 (c): the finding named the parent template with a nested logical id, so no acknowledgment on
    the stack matched it. Here the passed value is an expression, so the five conditions stay undecided."""
    passed = {"Stage": {"Fn::Join": ["-", [{"Ref": "Env"}, "x"]]}}
    parent = {"Parameters": {"Env": {"Type": "String"}}, "Resources": {"N": _r24._stack(passed)}}
    child = {
        "Parameters": {"Stage": {"Type": "String"}},
        "Conditions": {f"C{i}": {"Fn::Equals": [{"Ref": "Stage"}, v]} for i, v in enumerate("vwxyz")},
        "Resources": {f"T{i}": {"Type": "AWS::SNS::Topic", "Condition": f"C{i}"} for i in range(5)},
    }
    out = _r24._cdk_out(tmp_path / "out", parent, child)
    (finding,) = (f for f in check_files([out]) if f.rule_id == "HyperPod-CFN1")
    assert (Path(finding.template_path).name, finding.logical_id) == (_r24.NESTED, "T0")


def test_a_value_passed_on_to_a_grandchild_is_unknown_on_a_stand_in(tmp_path: Path) -> None:
    """Stage passed on as Ref to a third template, whose cluster is under Deep == staging: Env's stand-in must
    not decide it (its literal is not one Env tries), so that condition is tried true and false."""
    parent = {
        "Parameters": {"Env": {"Type": "String"}},
        "Conditions": {"Gate": {"Fn::Equals": [{"Ref": "Env"}, "prod"]}},
        "Resources": {
            "In": _rule("Ingress", "Gate"),
            "Out": _rule("Egress"),
            "N": _r24._stack({"Stage": {"Ref": "Env"}}),
        },
    }
    grandchild_file = "S.N.G.nested.template.json"
    child = {
        "Parameters": {"Stage": {"Type": "String"}},
        "Resources": {
            "G": {
                "Type": "AWS::CloudFormation::Stack",
                "Properties": {"TemplateURL": "https://x/g.json", "Parameters": {"Deep": {"Ref": "Stage"}}},
                "Metadata": {"aws:asset:path": grandchild_file},
            }
        },
    }
    grandchild = {
        "Parameters": {"Deep": {"Type": "String"}},
        "Conditions": {"IsStaging": {"Fn::Equals": [{"Ref": "Deep"}, "staging"]}},
        "Resources": {"HP": _cluster("IsStaging")},
    }
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / _r24.NESTED).write_text(json.dumps(child))
    (folder / grandchild_file).write_text(json.dumps(grandchild))
    out = _r24._round23._cdk_out(folder, [_r24.NESTED, grandchild_file], parent_template=parent)
    found = [f.detail for f in check_files([out]) if f.rule_id == "HyperPod-EFA1"]
    assert any("condition IsStaging true" in detail for detail in found), found
