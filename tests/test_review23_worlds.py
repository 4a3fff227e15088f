"""Review round 23 (R23T-H1, H2, M1): the condition worlds of the CDK plugin.

- A parameter belongs to one template: two stacks that declare ``Env`` take their own values in each world.
- A literal is compared in CloudFormation's text (``true``), and ``${P}`` in an ``Fn::Sub`` is a read of P.
- CDK's own ``AWS::CDK::Metadata`` (under ``CDKMetadataAvailable`` in a stack without a region) makes no world,
  and too many worlds are one CFN1 finding with the real count.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.rules.catalog import check_files

_spec = importlib.util.spec_from_file_location("round20_plugin", Path(__file__).with_name("test_review20_plugin.py"))
assert _spec is not None and _spec.loader is not None
_round20 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_round20)
_efa_template = _round20._efa_template

WATCHED = ("HyperPod-EFA1", "HyperPod-CFN1")


def _findings(folder: Path, **templates: dict[str, Any]) -> list[tuple[str, str]]:
    paths = []
    for name, template in templates.items():
        path = folder / f"{name}.template.json"
        path.write_text(json.dumps(template))
        paths.append(path)
    return [(f.rule_id, f.detail) for f in check_files(paths, region="us-west-2") if f.rule_id in WATCHED]


def _cluster_under(condition: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    template = _efa_template("EfaOn")
    template["Parameters"].update(parameters)
    template["Conditions"]["HpOn"] = condition
    template["Resources"]["HP"]["Condition"] = "HpOn"
    return template


def _topic_under(parameter: str, literal: str) -> dict[str, Any]:
    return {
        "Parameters": {parameter: {"Type": "String"}},
        "Conditions": {"TopicOn": {"Fn::Equals": [{"Ref": parameter}, literal]}},
        "Resources": {"T": {"Type": "AWS::SNS::Topic", "Condition": "TopicOn"}},
    }


@pytest.mark.parametrize("other_literal", ["prod", "dev"])
def test_a_parameter_of_the_same_name_in_another_stack_keeps_its_own_values(tmp_path: Path, other_literal: str) -> None:
    """R23T-H1: stack B comparing its own ``Env`` with "dev" replaced A's "prod", so A's cluster was never
    present in any world and its missing EFA rule passed."""
    a = _cluster_under({"Fn::Equals": [{"Ref": "Env"}, "prod"]}, {"Env": {"Type": "String"}})
    ((rule, detail),) = _findings(tmp_path, A=a, B=_topic_under("Env", other_literal))
    assert rule == "HyperPod-EFA1" and "A:Env=prod" in detail, detail


def test_two_stacks_parameters_of_one_name_take_different_values_in_a_world(tmp_path: Path) -> None:
    """R23T-H1: the cluster in A under A's Env=prod and its EFA rule in B under B's Env=prod were always
    present together; at deploy each stack has its own Env."""
    full = _efa_template("EfaOn")
    b = {
        "Parameters": {"Env": {"Type": "String"}},
        "Conditions": {"EfaOn": {"Fn::Equals": [{"Ref": "Env"}, "prod"]}},
        "Resources": {k: full["Resources"][k] for k in ("NodeSg", "SelfIn", "SelfOut")},
        "Outputs": {"Sg": {"Value": {"Ref": "NodeSg"}, "Export": {"Name": "node-sg"}}},
    }
    cluster = full["Resources"]["HP"]
    cluster["Properties"]["VpcConfig"]["SecurityGroupIds"] = [{"Fn::ImportValue": "node-sg"}]
    cluster["Condition"] = "HpOn"
    a = {
        "Parameters": {"Env": {"Type": "String"}},
        "Conditions": {"HpOn": {"Fn::Equals": [{"Ref": "Env"}, "prod"]}},
        "Resources": {"HP": cluster},
    }
    details = [detail for rule, detail in _findings(tmp_path, A=a, B=b) if rule == "HyperPod-EFA1"]
    assert any("A:Env=prod" in d and "B:Env=(another value)" in d for d in details), details


@pytest.mark.parametrize(
    ("literal", "allowed"),
    [(True, None), (True, [True, False]), ("true", None)],
    ids=["boolean", "boolean allowed values", "text"],
)
def test_a_boolean_literal_is_tried_as_cloudformation_compares_it(tmp_path: Path, literal: Any, allowed: Any) -> None:
    """R23T-H2 (b): ``Fn::Equals [Ref P, true]`` (AWS's awsome-distributed-ai stack writes it) was tried with
    "True", which CloudFormation's "true" never equals: the cluster was never present."""
    parameter: dict[str, Any] = {"Type": "String"}
    if allowed is not None:
        parameter["AllowedValues"] = allowed
    a = _cluster_under({"Fn::Equals": [{"Ref": "DeployCluster"}, literal]}, {"DeployCluster": parameter})
    ((rule, detail),) = _findings(tmp_path, A=a)
    assert rule == "HyperPod-EFA1" and "DeployCluster=true" in detail, detail


def test_a_parameter_read_in_an_fn_sub_is_left_to_the_true_and_false_worlds(tmp_path: Path) -> None:
    """R23T-H2 (a): ``${Mode}`` in an Fn::Sub did not count as a read, so Mode took only the literal its
    ``Ref`` is compared with ("a") and the Fn::Sub condition was false in every world."""
    a = _cluster_under({"Fn::Equals": [{"Fn::Sub": "${Mode}"}, "gpu"]}, {"Mode": {"Type": "String"}})
    a["Conditions"]["IsA"] = {"Fn::Equals": [{"Ref": "Mode"}, "a"]}
    a["Resources"]["T"] = {"Type": "AWS::SNS::Topic", "Condition": "IsA"}
    ((rule, detail),) = _findings(tmp_path, A=a)
    assert rule == "HyperPod-EFA1" and "condition HpOn true" in detail, detail


def _agnostic_stack() -> dict[str, Any]:
    """A stack without a region as ``cdk synth`` writes it: CDKMetadata under CDKMetadataAvailable."""
    regions = ["af-south-1", "ap-east-1", "us-east-1", "us-west-2"]
    return {
        "Conditions": {
            "CDKMetadataAvailable": {"Fn::Or": [{"Fn::Equals": [{"Ref": "AWS::Region"}, r]} for r in regions]}
        },
        "Resources": {
            "Topic": {"Type": "AWS::SNS::Topic"},
            "CDKMetadata": {
                "Type": "AWS::CDK::Metadata",
                "Properties": {"Analytics": "v2:deflate64:x"},
                "Condition": "CDKMetadataAvailable",
            },
        },
    }


def test_cdk_metadata_of_stacks_without_a_region_makes_no_world(tmp_path: Path) -> None:
    """R23T-M1: five environment-agnostic stacks made 32 truth worlds of CDKMetadataAvailable: a CFN1 error
    for an app with no HyperPod resource."""
    paths = []
    for index in range(6):
        path = tmp_path / f"S{index}.template.json"
        path.write_text(json.dumps(_agnostic_stack()))
        paths.append(path)
    assert [f.rule_id for f in check_files(paths) if f.rule_id in WATCHED] == []


def test_too_many_worlds_are_one_finding_with_the_real_count(tmp_path: Path) -> None:
    """R23T-M1: 9 parameter worlds each added its own CFN1 finding saying "2 combinations"."""
    a = _cluster_under({"Fn::Equals": [{"Ref": "AWS::StackName"}, "prod"]}, {})
    for name in ("P", "Q"):
        a["Parameters"][name] = {"Type": "String", "AllowedValues": ["x", "y", "z"]}
        a["Conditions"][f"{name}On"] = {"Fn::Equals": [{"Ref": name}, "x"]}
        a["Resources"][f"T{name}"] = {"Type": "AWS::SNS::Topic", "Condition": f"{name}On"}
    del a["Parameters"]["EnableEfa"]  # EfaOn on no parameter either: HpOn and EfaOn are tried true and false
    a["Conditions"]["EfaOn"] = {"Fn::Equals": [{"Ref": "AWS::StackName"}, "efa"]}
    found = [detail for rule, detail in _findings(tmp_path, A=a) if rule == "HyperPod-CFN1"]
    assert len(found) == 1 and found[0].startswith("36 combinations"), found


def test_a_resource_type_that_is_not_text_is_no_crash(tmp_path: Path) -> None:
    """R24T-L5: a list-valued Type beside an unknown condition raised TypeError (unhashable) in the plugin."""
    template = _cluster_under({"Fn::Equals": [{"Ref": "AWS::StackName"}, "prod"]}, {})
    template["Resources"]["Odd"] = {"Type": ["AWS::SNS::Topic"], "Condition": "HpOn"}
    assert [rule for rule, _ in _findings(tmp_path, A=template)] == ["HyperPod-EFA1"]


def test_large_templates_read_fewer_worlds_and_say_so(tmp_path: Path) -> None:
    """R25T-M1: each world is a whole check, so 16 worlds of a 6.5 MB template took 128 s on the plugin path.
    The worlds are capped by the templates' size; past the cap, one CFN1 finding says so."""
    from hyperpod_cdk.rules.deploy_worlds import MAX_WORLD_TEXT, MAX_WORLDS

    template = _cluster_under({"Fn::Equals": [{"Ref": "DeployCluster"}, "yes"]}, {"DeployCluster": {"Type": "String"}})
    filler = "x" * 1000
    per_world = MAX_WORLD_TEXT // (MAX_WORLDS // 2)  # room for 8 worlds; the two parameters make 4
    for index in range(per_world // 1000):
        template["Resources"][f"Pad{index}"] = {"Type": "AWS::SNS::Topic", "Metadata": {"x": filler}}
    assert [rule for rule, _ in _findings(tmp_path, A=template)] == ["HyperPod-EFA1"]
    for index in range(3):  # 4 x 8 = 32 worlds, more than the 7 or 8 a template this size gets
        template["Parameters"][f"P{index}"] = {"Type": "String"}
        template["Conditions"][f"On{index}"] = {"Fn::Equals": [{"Ref": f"P{index}"}, "on"]}
        template["Resources"][f"Topic{index}"] = {"Type": "AWS::SNS::Topic", "Condition": f"On{index}"}
    (cfn1,) = (detail for rule, detail in _findings(tmp_path, A=template) if rule == "HyperPod-CFN1")
    assert cfn1.startswith("32 combinations") and "for templates of this size" in cfn1, cfn1
