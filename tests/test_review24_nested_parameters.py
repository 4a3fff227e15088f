"""Review round 23 (R23U-H1, L5): a nested stack's parameters read as its parent passes them.

CloudFormation gives a nested stack's parameter the value its ``AWS::CloudFormation::Stack`` resource passes,
and uses the ``Default`` only where nothing is passed. The rules read each template alone: a nested Default won
over the passed value (a cluster type not offered in the region passed synth), and a passed literal was "not
known at synth". A nested stack whose resource the parent drops is not deployed, so it is not read.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.rules.catalog import check_files

_spec = importlib.util.spec_from_file_location(
    "round23_nested", Path(__file__).with_name("test_review23_nested_plugin.py")
)
assert _spec is not None and _spec.loader is not None
_round23 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_round23)

ACCOUNT = "111111111111"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/exec"
NOT_IN_DUBLIN = "ml.g6.12xlarge"
IN_DUBLIN = "ml.g5.8xlarge"
NESTED = "S.N.nested.template.json"


def _cluster(instance_type: Any, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    group = {"InstanceGroupName": "gpu", "InstanceType": instance_type, "InstanceCount": 1, "ExecutionRole": ROLE}
    return {"Type": "AWS::SageMaker::Cluster", "Properties": {"InstanceGroups": [group], **(extra or {})}}


def _cdk_out(folder: Path, parent: dict[str, Any], child: dict[str, Any]) -> Path:
    """A cdk.out as `cdk synth` writes it: stack S in eu-west-1, its nested template listed as an asset
    (round 23's builder)."""
    folder.mkdir()
    (folder / NESTED).write_text(json.dumps(child))
    return _round23._cdk_out(folder, [NESTED], parent_template=parent)


def _stack(passed: dict[str, Any], condition: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Type": "AWS::CloudFormation::Stack",
        "Properties": {"TemplateURL": "https://x/y.json", "Parameters": passed},
        "Metadata": {"aws:asset:path": NESTED},
    }
    if condition:
        body["Condition"] = condition
    return body


def _type1(path: Path) -> list[str]:
    return [f.detail for f in check_files([path]) if f.rule_id == "HyperPod-TYPE1"]


@pytest.mark.parametrize("default", [IN_DUBLIN, None], ids=["default offered", "no default"])
def test_the_value_the_parent_passes_wins_over_the_default(tmp_path: Path, default: str | None) -> None:
    parameter: dict[str, Any] = {"Type": "String"}
    if default:
        parameter["Default"] = default
    child = {"Parameters": {"GpuType": parameter}, "Resources": {"HP": _cluster({"Ref": "GpuType"})}}
    path = _cdk_out(tmp_path / "out", {"Resources": {"N": _stack({"GpuType": NOT_IN_DUBLIN})}}, child)
    (detail,) = _type1(path)
    assert f"{NOT_IN_DUBLIN} is not offered" in detail, detail


def test_a_passed_literal_is_known_at_synth(tmp_path: Path) -> None:
    """It was "InstanceType is not known offline ... give the value at synth (a CfnParameter default)"."""
    child = {"Parameters": {"GpuType": {"Type": "String"}}, "Resources": {"HP": _cluster({"Ref": "GpuType"})}}
    path = _cdk_out(tmp_path / "out", {"Resources": {"N": _stack({"GpuType": IN_DUBLIN})}}, child)
    assert _type1(path) == []


def test_a_value_passed_but_unknown_at_synth_hides_no_default(tmp_path: Path) -> None:
    """The parent passes its own parameter (no default): the nested Default is not what deploys."""
    child = {
        "Parameters": {"GpuType": {"Type": "String", "Default": IN_DUBLIN}},
        "Resources": {"HP": _cluster({"Ref": "GpuType"})},
    }
    parent = {"Parameters": {"Gpu": {"Type": "String"}}, "Resources": {"N": _stack({"GpuType": {"Ref": "Gpu"}})}}
    (detail,) = _type1(_cdk_out(tmp_path / "out", parent, child))
    assert "not known" in detail, detail


def test_a_nested_condition_reads_the_passed_value(tmp_path: Path) -> None:
    """The EFA self-ingress rule under a nested condition the parent turns off (its Default turns it on)."""
    child = {
        "Parameters": {"SelfIngress": {"Type": "String", "AllowedValues": ["true", "false"], "Default": "true"}},
        "Conditions": {"WithIngress": {"Fn::Equals": [{"Ref": "SelfIngress"}, "true"]}},
        "Resources": {
            "Sg": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "hp", "VpcId": "vpc-1"}},
            "In": {
                "Type": "AWS::EC2::SecurityGroupIngress",
                "Condition": "WithIngress",
                "Properties": {"GroupId": {"Ref": "Sg"}, "IpProtocol": "-1", "SourceSecurityGroupId": {"Ref": "Sg"}},
            },
            "Out": {
                "Type": "AWS::EC2::SecurityGroupEgress",
                "Properties": {
                    "GroupId": {"Ref": "Sg"},
                    "IpProtocol": "-1",
                    "DestinationSecurityGroupId": {"Ref": "Sg"},
                },
            },
            "HP": _cluster(IN_DUBLIN, {"VpcConfig": {"SecurityGroupIds": [{"Ref": "Sg"}], "Subnets": ["subnet-1"]}}),
        },
    }
    path = _cdk_out(tmp_path / "out", {"Resources": {"N": _stack({"SelfIngress": "false"})}}, child)
    assert [f.rule_id for f in check_files([path]) if f.rule_id == "HyperPod-EFA1"] == ["HyperPod-EFA1"]


def test_a_nested_stack_the_parent_does_not_deploy_is_not_read(tmp_path: Path) -> None:
    """R23U-L5: the parent's stack resource under a condition false at synth gave the nested cluster a TYPE1
    error although that stack is never created."""
    child = {"Resources": {"HP": _cluster(NOT_IN_DUBLIN)}}
    parent = {
        "Parameters": {"Deploy": {"Type": "String", "Default": "no"}},
        "Conditions": {"On": {"Fn::Equals": [{"Ref": "Deploy"}, "yes"]}},
        "Resources": {"N": _stack({}, condition="On")},
    }
    path = _cdk_out(tmp_path / "out", parent, child)
    assert _type1(path) == []
    assert main_lint(tmp_path / "out") == 0


def main_lint(folder: Path) -> int:
    from hyperpod_cdk.cli.main import main

    return main(["lint", str(folder)])


def test_a_group_made_in_a_network_nested_stack_is_read_through_its_outputs(tmp_path: Path) -> None:
    """R23U-L6: the node group in a "network" NestedStack, the clusters in the parent and in a sibling
    NestedStack: the group's id crosses as ``Fn::GetAtt [Net, Outputs.X]``, which was unknown (a false EFA1
    error failed synth). The group without its self ingress is still the one error."""
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_sagemaker as sm

    from hyperpod_cdk.rules import HyperPodChecks

    app = cdk.App(outdir=str(tmp_path / "out"))
    parent = cdk.Stack(app, "S", env=cdk.Environment(account=ACCOUNT, region="us-west-2"))
    lifecycle = sm.CfnCluster.ClusterLifeCycleConfigProperty(source_s3_uri="s3://b/p/", on_create="on_create.sh")
    for name, self_ingress, scope in (("Good", True, "sibling"), ("Bad", False, "parent")):
        net = cdk.NestedStack(parent, f"{name}Net")
        sg = ec2.CfnSecurityGroup(net, "Sg", group_description="hp", vpc_id="vpc-1")
        ec2.CfnSecurityGroupEgress(
            net, "Out", group_id=sg.attr_group_id, ip_protocol="-1", destination_security_group_id=sg.attr_group_id
        )
        if self_ingress:
            ec2.CfnSecurityGroupIngress(
                net, "In", group_id=sg.attr_group_id, ip_protocol="-1", source_security_group_id=sg.attr_group_id
            )
        sm.CfnCluster(
            cdk.NestedStack(parent, f"{name}Train") if scope == "sibling" else parent,
            f"{name}HP",
            cluster_name=name.lower(),
            node_recovery="Automatic",
            vpc_config=sm.CfnCluster.VpcConfigProperty(security_group_ids=[sg.attr_group_id], subnets=["subnet-1"]),
            instance_groups=[
                sm.CfnCluster.ClusterInstanceGroupProperty(
                    instance_group_name="gpu",
                    instance_type=IN_DUBLIN,
                    instance_count=1,
                    execution_role=ROLE,
                    life_cycle_config=lifecycle,
                    on_start_deep_health_checks=["InstanceStress", "InstanceConnectivity"],
                )
            ],
        )
    cdk.Validations.of(app).add_plugins(HyperPodChecks(kinds=["deploy"]))
    with pytest.raises(RuntimeError):
        app.synth()
    report = json.loads((tmp_path / "out" / "validation-report.json").read_text())
    ours = [r for r in report["pluginReports"] if r["pluginName"] == "HyperPodChecks"]
    found = [
        (v["ruleName"], c["constructPath"]) for r in ours for v in r["violations"] for c in v["violatingConstructs"]
    ]
    assert found == [("HyperPod-EFA1", "S/BadHP")], found


def test_a_nested_condition_on_a_passed_parent_parameter_is_tried_with_its_values(tmp_path: Path) -> None:
    """R25T-H1: the parent's Env (no default) is passed to a NestedStack whose cluster is under Env == staging;
    the parent's own condition names only prod. Staging was never tried, so the world with the cluster and
    without its group's self ingress (under Env == prod in the parent) was never read."""
    parent, child = _staging_app({"Type": "String"}, twins=False)
    found = [f.detail for f in check_files([_cdk_out(tmp_path / "out", parent, child)]) if f.rule_id == "HyperPod-EFA1"]
    assert any("Env=staging" in detail for detail in found), found  # the nested literal is tried for Env


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        (NOT_IN_DUBLIN, NOT_IN_DUBLIN, "is not offered"),
        (IN_DUBLIN, NOT_IN_DUBLIN, "not known"),
        (IN_DUBLIN, IN_DUBLIN, None),
    ],
    ids=["both pass a type not offered", "they differ", "both pass an offered type"],
)
def test_a_template_two_stack_resources_deploy_takes_what_they_both_pass(
    tmp_path: Path, first: str, second: str, expected: str | None
) -> None:
    """R25T-H2: twin NestedStacks of one class share a template file (without the CDK CLI's asset metadata
    both name one asset); with no single parent, the template took its Default (offered) and TYPE1 passed."""
    child = {
        "Parameters": {"GpuType": {"Type": "String", "Default": IN_DUBLIN}},
        "Resources": {"HP": _cluster({"Ref": "GpuType"})},
    }
    parent = {"Resources": {"A": _stack({"GpuType": first}), "B": _stack({"GpuType": second})}}
    found = _type1(_cdk_out(tmp_path / "out", parent, child))
    assert (found == []) if expected is None else (len(found) == 1 and expected in found[0]), found


def _staging_app(parameter: dict[str, Any], twins: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The parent's Env passed to a NestedStack (twice for twins) whose cluster is under Env == staging; the
    group's self ingress is the parent's, under Env == prod."""
    rule = {"GroupId": "sg-0123456789abcdef0", "IpProtocol": "-1"}
    parent = {
        "Parameters": {"Env": parameter},
        "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]}},
        "Resources": {
            "In": {
                "Type": "AWS::EC2::SecurityGroupIngress",
                "Condition": "IsProd",
                "Properties": {**rule, "SourceSecurityGroupId": "sg-0123456789abcdef0"},
            },
            "Out": {
                "Type": "AWS::EC2::SecurityGroupEgress",
                "Properties": {**rule, "DestinationSecurityGroupId": "sg-0123456789abcdef0"},
            },
            **{name: _stack({"Stage": {"Ref": "Env"}}) for name in (["A", "B"] if twins else ["N"])},
        },
    }
    cluster = _cluster(
        IN_DUBLIN, {"VpcConfig": {"SecurityGroupIds": ["sg-0123456789abcdef0"], "Subnets": ["subnet-1"]}}
    )
    child = {
        "Parameters": {"Stage": {"Type": "String"}},
        "Conditions": {"IsStaging": {"Fn::Equals": [{"Ref": "Stage"}, "staging"]}},
        "Resources": {"HP": {**cluster, "Condition": "IsStaging"}},
    }
    return parent, child


@pytest.mark.parametrize(
    ("parameter", "twins"),
    [
        ({"Type": "String"}, True),
        ({"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/platform/env"}, False),
    ],
    ids=["twin nested stacks", "an SSM parameter"],
)
def test_a_nested_condition_reaches_the_parent_parameter_through_twins_and_ssm(
    tmp_path: Path, parameter: dict[str, Any], twins: bool
) -> None:
    """R26-H1, H2: the R25T-H1 fix stopped at twin NestedStacks (no single parent) and at an SSM parameter
    (its Default names the SSM parameter; the value is known only at deploy)."""
    parent, child = _staging_app(parameter, twins)
    found = [f.detail for f in check_files([_cdk_out(tmp_path / "out", parent, child)]) if f.rule_id == "HyperPod-EFA1"]
    assert any("Env=staging" in detail for detail in found), found  # the nested literal is tried for Env


def test_nested_values_given_to_a_parent_parameter_keep_to_its_allowed_values(tmp_path: Path) -> None:
    """R26-L1: a nested condition's values ("qa", "other") were merged into a parent parameter with
    AllowedValues [prod, staging], worlds CloudFormation refuses: a false EFA1 error although each allowed
    value has its self ingress."""
    parent, _ = _staging_app({"Type": "String", "AllowedValues": ["prod", "staging"]}, twins=False)
    parent["Conditions"]["IsStaging"] = {"Fn::Equals": [{"Ref": "Env"}, "staging"]}
    parent["Resources"]["InStaging"] = {**parent["Resources"]["In"], "Condition": "IsStaging"}
    vpc = {"SecurityGroupIds": ["sg-0123456789abcdef0"], "Subnets": ["subnet-1"]}
    parent["Resources"]["HP"] = _cluster(IN_DUBLIN, {"VpcConfig": vpc})
    child = {
        "Parameters": {"Stage": {"Type": "String"}},
        "Conditions": {"IsQa": {"Fn::Equals": [{"Ref": "Stage"}, "qa"]}},
        "Resources": {"T": {"Type": "AWS::SNS::Topic", "Condition": "IsQa"}},
    }
    found = [f.detail for f in check_files([_cdk_out(tmp_path / "out", parent, child)]) if f.rule_id == "HyperPod-EFA1"]
    assert found == [], found


def test_a_parameter_read_another_way_anywhere_in_the_chain_is_tried_true_and_false(tmp_path: Path) -> None:
    """R27T-H1: the parent reads Env through Fn::Select (so its condition is tried true and false), but a
    NestedStack comparing the passed Env with "staging" gave Env values, and the parent's condition was then
    false in every world: the cluster under it, without its self ingress, passed."""
    parent, _ = _staging_app({"Type": "String"}, twins=False)
    parent["Parameters"]["Rules"] = {"Type": "String"}
    parent["Conditions"] = {
        "IsProd": {"Fn::Equals": [{"Fn::Select": [0, {"Fn::Split": ["-", {"Ref": "Env"}]}]}, "prod"]},
        "RulesOn": {"Fn::Equals": [{"Ref": "Rules"}, "on"]},
    }
    parent["Resources"]["In"]["Condition"] = "RulesOn"
    vpc = {"SecurityGroupIds": ["sg-0123456789abcdef0"], "Subnets": ["subnet-1"]}
    parent["Resources"]["HP"] = {**_cluster(IN_DUBLIN, {"VpcConfig": vpc}), "Condition": "IsProd"}
    child = {
        "Parameters": {"Stage": {"Type": "String"}},
        "Conditions": {"IsStaging": {"Fn::Equals": [{"Ref": "Stage"}, "staging"]}},
        "Resources": {"T": {"Type": "AWS::SNS::Topic", "Condition": "IsStaging"}},
    }
    found = [f.detail for f in check_files([_cdk_out(tmp_path / "out", parent, child)]) if f.rule_id == "HyperPod-EFA1"]
    assert any("condition IsProd true" in detail for detail in found), found


def test_chains_of_twin_nested_stacks_are_followed_once_per_parameter(tmp_path: Path) -> None:
    """R27T-M1: following twin parents had no memo: one call per path, 75 twins on each of 4 levels took 80 s
    in the plugin's worlds (K**D paths)."""
    import importlib.util as util

    spec = util.spec_from_file_location("work_limits_r27", Path(__file__).with_name("work_limits.py"))
    assert spec is not None and spec.loader is not None
    work_limits = util.module_from_spec(spec)
    spec.loader.exec_module(work_limits)
    leaf = {
        "Parameters": {"P": {"Type": "String"}},
        "Conditions": {"IsStaging": {"Fn::Equals": [{"Ref": "P"}, "staging"]}},
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Condition": "IsStaging"}},
    }
    (tmp_path / "L0.template.json").write_text(json.dumps(leaf))
    for level in range(1, 5):
        stacks = {
            f"S{i}": {
                "Type": "AWS::CloudFormation::Stack",
                "Metadata": {"aws:asset:path": f"L{level - 1}.template.json"},
                "Properties": {"TemplateURL": "https://x/y.json", "Parameters": {"P": {"Ref": "P"}}},
            }
            for i in range(75)
        }
        template = {"Parameters": {"P": {"Type": "String"}}, "Resources": stacks}
        (tmp_path / f"L{level}.template.json").write_text(json.dumps(template))
    with work_limits.guard(20):
        check_files([tmp_path / "L4.template.json"], region="us-west-2", kinds=["deploy"])


def test_a_parameter_passed_through_an_expression_is_tried_true_and_false(tmp_path: Path) -> None:
    """R28-H1: the parent passes Stage = Select(0, Split("-", Env)) and compares Env with "prod" itself:
    Env took only prod and another value, so Stage was never "staging" and the cluster under it never read."""
    parent, child = _staging_app({"Type": "String"}, twins=False)
    parent["Parameters"]["Rules"] = {"Type": "String"}
    parent["Conditions"]["RulesOn"] = {"Fn::Equals": [{"Ref": "Rules"}, "on"]}
    parent["Resources"]["In"]["Condition"] = "RulesOn"
    parent["Resources"]["ProdTopic"] = {"Type": "AWS::SNS::Topic", "Condition": "IsProd"}
    parent["Resources"]["N"]["Properties"]["Parameters"] = {
        "Stage": {"Fn::Select": [0, {"Fn::Split": ["-", {"Ref": "Env"}]}]}
    }
    found = [f.detail for f in check_files([_cdk_out(tmp_path / "out", parent, child)]) if f.rule_id == "HyperPod-EFA1"]
    assert found, "the cluster under Stage == staging was never read present"


@pytest.mark.parametrize(
    ("passed", "world"),
    [
        ({"Ref": "Env"}, "Env=staging"),
        ({"Fn::Select": [0, {"Fn::Split": ["-", {"Ref": "Env"}]}]}, "condition IsStaging true"),
    ],
    ids=["Ref of the parent's parameter", "an expression"],
)
def test_a_nested_default_never_decides_a_condition_on_a_passed_parameter(
    tmp_path: Path, passed: dict[str, Any], world: str
) -> None:
    """Round 30: with a Default on the nested Stage, its condition IsStaging was decided by that Default (the
    Ref case gave Env no "staging"; the expression case's world with IsStaging true was refused as
    contradicting the Default), so the cluster under it, without its group's self ingress, passed. A nested
    condition not known at synth is now tried true and false."""
    parent, child = _staging_app({"Type": "String"}, twins=False)
    child["Parameters"]["Stage"]["Default"] = "prod"
    parent["Resources"]["N"]["Properties"]["Parameters"] = {"Stage": passed}
    found = [f.detail for f in check_files([_cdk_out(tmp_path / "out", parent, child)]) if f.rule_id == "HyperPod-EFA1"]
    assert any(world in detail for detail in found), found


def test_a_nested_condition_decided_by_a_passed_literal_makes_no_world(tmp_path: Path) -> None:
    """The other side: a literal the parent passes decides the nested condition at synth, so the cluster
    under Stage == staging with Stage passed "prod" is never read and no world is tried for it."""
    parent, child = _staging_app({"Type": "String", "Default": "prod"}, twins=False)
    parent["Resources"]["N"]["Properties"]["Parameters"] = {"Stage": "prod"}
    assert [f for f in check_files([_cdk_out(tmp_path / "out", parent, child)]) if f.rule_id == "HyperPod-EFA1"] == []
