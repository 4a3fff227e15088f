"""Review round 20 (R20T-H1): in a CDK app the plugin reports what lint reports as not-checked at the template
level: a resource whose Condition is not known at synth may be absent at deploy, and a Transform or an
Fn::ForEach key makes resources no rule read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.rules.catalog import check_files


def _efa_template(condition: str | None) -> dict[str, Any]:
    """An EKS HyperPod cluster whose node group lets EFA traffic in from itself only if ``condition`` holds."""
    self_in: dict[str, Any] = {
        "Type": "AWS::EC2::SecurityGroupIngress",
        "Properties": {"GroupId": {"Ref": "NodeSg"}, "IpProtocol": "-1", "SourceSecurityGroupId": {"Ref": "NodeSg"}},
    }
    if condition is not None:
        self_in["Condition"] = condition
    return {
        "Parameters": {"EnableEfa": {"Type": "String"}},
        "Conditions": {"EfaOn": {"Fn::Equals": [{"Ref": "EnableEfa"}, "yes"]}},
        "Resources": {
            "NodeSg": {
                "Type": "AWS::EC2::SecurityGroup",
                "Properties": {"GroupDescription": "nodes", "VpcId": "vpc-1"},
            },
            "SelfIn": self_in,
            "SelfOut": {
                "Type": "AWS::EC2::SecurityGroupEgress",
                "Properties": {
                    "GroupId": {"Ref": "NodeSg"},
                    "IpProtocol": "-1",
                    "DestinationSecurityGroupId": {"Ref": "NodeSg"},
                },
            },
            "HP": {
                "Type": "AWS::SageMaker::Cluster",
                "Properties": {
                    "ClusterName": "hp",
                    "Orchestrator": {"Eks": {"ClusterArn": "arn:aws:eks:us-west-2:111122223333:cluster/e"}},
                    "VpcConfig": {"SecurityGroupIds": [{"Ref": "NodeSg"}], "Subnets": ["subnet-1"]},
                    "InstanceGroups": [
                        {
                            "InstanceGroupName": "gpu",
                            "InstanceType": "ml.p5.48xlarge",
                            "InstanceCount": 1,
                            "ExecutionRole": "arn:aws:iam::111122223333:role/r",
                            "LifeCycleConfig": {"SourceS3Uri": "s3://b/p/", "OnCreate": "on_create.sh"},
                            "OnStartDeepHealthChecks": ["InstanceStress", "InstanceConnectivity"],
                        }
                    ],
                },
            },
        },
    }


def _efa1(tmp_path: Path, template: dict[str, Any]) -> list[str]:
    path = tmp_path / "S.template.json"
    path.write_text(json.dumps(template))
    return [f.detail for f in check_files([path], region="us-west-2") if f.rule_id == "HyperPod-EFA1"]


def test_a_rule_under_an_unknown_condition_is_read_both_ways(tmp_path: Path) -> None:
    assert _efa1(tmp_path, _efa_template(None)) == []
    (detail,) = _efa1(tmp_path, _efa_template("EfaOn"))
    assert "at deploy with EnableEfa=(another value)" in detail and "not known at synth" in detail


def test_each_combination_of_unknown_conditions_is_read(tmp_path: Path) -> None:
    """R21T-H1: the cluster under one unknown condition and its EFA rule under another failed only in a mixed
    world (cluster yes, EFA no), which dropping every conditional resource at once never built."""
    template = _efa_template("EfaOn")
    template["Parameters"]["DeployCluster"] = {"Type": "String"}
    template["Conditions"]["HpOn"] = {"Fn::Equals": [{"Ref": "DeployCluster"}, "yes"]}
    template["Resources"]["HP"]["Condition"] = "HpOn"
    (detail,) = _efa1(tmp_path, template)
    assert "DeployCluster=yes" in detail and "EnableEfa=(another value)" in detail


def test_conditions_that_exclude_each_other_build_no_impossible_world(tmp_path: Path) -> None:
    """R21T-L2: the same rule under EfaOn and under Fn::Not [EfaOn] exists in every deploy; leaving both out
    at once was a false EFA1 error."""
    template = _efa_template("EfaOn")
    template["Conditions"]["EfaOff"] = {"Fn::Not": [{"Condition": "EfaOn"}]}
    template["Resources"]["SelfInB"] = {**template["Resources"]["SelfIn"], "Condition": "EfaOff"}
    assert _efa1(tmp_path, template) == []


def test_too_many_combinations_are_one_cfn1_finding(tmp_path: Path) -> None:
    template = _efa_template("EfaOn")
    for index in range(5):  # 2^5 = 32 worlds with EnableEfa's
        template["Parameters"][f"P{index}"] = {"Type": "String"}
        template["Conditions"][f"C{index}"] = {"Fn::Equals": [{"Ref": f"P{index}"}, "on"]}
    template["Conditions"]["EfaOn"] = {"Fn::And": [{"Condition": f"C{i}"} for i in range(5)]}
    path = tmp_path / "S.template.json"
    path.write_text(json.dumps(template))
    found = [f for f in check_files([path], region="us-west-2") if f.rule_id == "HyperPod-CFN1"]
    assert len(found) == 1 and "combinations" in found[0].detail


@pytest.mark.parametrize("shape", ["transform", "foreach"])
def test_a_transform_or_a_loop_is_a_finding_in_a_cdk_app(tmp_path: Path, shape: str) -> None:
    template = _efa_template(None)
    if shape == "transform":
        template["Transform"] = "AWS::Serverless-2016-10-31"
    else:
        template["Transform"] = "AWS::LanguageExtensions"
        template["Resources"]["Fn::ForEach::Groups"] = ["G", ["a", "b"], {"Sg${G}": template["Resources"]["NodeSg"]}]
    path = tmp_path / "S.template.json"
    path.write_text(json.dumps(template))
    found = [(f.rule_id, f.logical_id) for f in check_files([path], region="us-west-2") if f.rule_id == "HyperPod-CFN1"]
    assert ("HyperPod-CFN1", "NodeSg") in found
    assert (shape == "foreach") == (("HyperPod-CFN1", "Fn::ForEach::Groups") in found)


def test_the_plugin_fails_synth_on_a_transform_and_an_acknowledgment_passes_it(tmp_path: Path) -> None:
    import aws_cdk as cdk

    from hyperpod_cdk.rules.plugin import HyperPodChecks

    def synth(acknowledge: bool) -> None:
        app = cdk.App(outdir=str(tmp_path / f"out{acknowledge}"), policy_validation_beta1=[HyperPodChecks()])
        stack = cdk.Stack(app, "S", env=cdk.Environment(account="111122223333", region="us-west-2"))
        stack.add_transform("AWS::Serverless-2016-10-31")
        cdk.CfnResource(stack, "Topic", type="AWS::SNS::Topic")
        if acknowledge:
            cdk.Validations.of(stack).acknowledge(
                cdk.Acknowledgment(id="HyperPodChecks::HyperPod-CFN1", reason="the processed template was linted")
            )
        app.synth()

    with pytest.raises(Exception, match="ValidationFailed|Validation failed"):
        synth(False)
    synth(True)


@pytest.mark.parametrize("count", ["0", {"Ref": "GpuCount"}], ids=["text 0", "parameter"])
def test_sm1_does_not_ask_a_karpenter_group_of_count_zero_or_unknown_for_checks(count: Any) -> None:
    """R20T-L1: SM1 skipped only the number 0, telling the user to add checks KAR1 forbids (KAR1 itself says
    not-checked for a count known only at deploy)."""
    from hyperpod_cdk.rules.catalog import RULES_BY_ID, check
    from hyperpod_cdk.rules.model import Templates

    template = _efa_template(None)
    cluster = template["Resources"]["HP"]["Properties"]
    cluster["AutoScaling"] = {"Mode": "Enable", "AutoScalerType": "Karpenter"}
    group = cluster["InstanceGroups"][0]
    group["InstanceCount"] = count
    del group["OnStartDeepHealthChecks"]
    template["Parameters"]["GpuCount"] = {"Type": "Number"}
    found = check(
        Templates({"t": template}, closed_world=False),
        exclude=set(RULES_BY_ID) - {"HyperPod-SM1"},
        include_not_checked=True,
    )
    # R21T-L3: a count known only at deploy is said, not skipped in silence.
    assert [f.severity for f in found] == ([] if count == "0" else ["not-checked"])


def test_a_condition_through_a_mapping_is_tried_with_the_mapping_keys(tmp_path: Path) -> None:
    """R22T-H1: Fn::FindInMap [EnvMap, Ref Env, deploy] was tried only with a value no entry has, so the
    cluster's condition was never true in any world and the mixed world was never read."""
    template = _efa_template("EfaOn")
    template["Parameters"]["Env"] = {"Type": "String"}
    template["Mappings"] = {"EnvMap": {"prod": {"deploy": "yes"}, "dev": {"deploy": "no"}}}
    template["Conditions"]["HpOn"] = {"Fn::Equals": [{"Fn::FindInMap": ["EnvMap", {"Ref": "Env"}, "deploy"]}, "yes"]}
    template["Resources"]["HP"]["Condition"] = "HpOn"
    (detail,) = _efa1(tmp_path, template)
    assert "Env=prod" in detail


def test_a_long_allowed_values_list_is_tried_only_with_values_it_allows() -> None:
    """R22T-L1: with more than 6 AllowedValues the worlds tried a value CloudFormation refuses."""
    from hyperpod_cdk.rules.condition_worlds import OTHER_VALUE, unknown_parameters

    template = {
        "Parameters": {"Stage": {"Type": "String", "AllowedValues": [f"s{i}" for i in range(10)]}},
        "Conditions": {"Prod": {"Fn::Equals": [{"Ref": "Stage"}, "s3"]}},
    }
    (values,) = unknown_parameters(template, {}, ["Prod"]).values()
    assert values == ["s3", "s0"] and OTHER_VALUE not in values


def _cluster_under(tmp_path: Path, condition: dict[str, Any], parameters: dict[str, Any]) -> list[str]:
    """EFA1 details for the cluster under HpOn = ``condition`` and its EFA self-ingress under EfaOn."""
    template = _efa_template("EfaOn")
    template["Parameters"].update(parameters)
    template["Conditions"]["HpOn"] = condition
    template["Resources"]["HP"]["Condition"] = "HpOn"
    return _efa1(tmp_path, template)


@pytest.mark.parametrize(
    ("condition", "parameters"),
    [
        ({"Fn::Equals": [{"Ref": "AWS::StackName"}, "prod"]}, {}),
        (
            {"Fn::Equals": [{"Fn::Select": [0, {"Ref": "Features"}]}, "cluster"]},
            {"Features": {"Type": "CommaDelimitedList"}},
        ),
        (
            {"Fn::Equals": [{"Ref": "Stage"}, {"Ref": "ClusterStage"}]},
            {"Stage": {"Type": "String"}, "ClusterStage": {"Type": "String"}},
        ),
        (
            # Read directly and through a Select: the literal "a" alone never makes the Select true.
            {
                "Fn::Or": [
                    {"Fn::Equals": [{"Ref": "Mode"}, "a"]},
                    {"Fn::Equals": [{"Fn::Select": [1, {"Fn::Split": ["-", {"Ref": "Mode"}]}]}, "gpu"]},
                ]
            },
            {"Mode": {"Type": "String"}},
        ),
    ],
    ids=["pseudo parameter", "select of a list", "two parameters", "direct and indirect"],
)
def test_a_condition_no_parameter_value_decides_is_tried_true_and_false(
    tmp_path: Path, condition: dict[str, Any], parameters: dict[str, Any]
) -> None:
    """R22T-H1: a cluster condition on AWS::StackName, on an Fn::Select of a list parameter or comparing two
    parameters was decided the same way in every world (or not at all), so the world with the cluster present
    and its EFA rule absent was never read and synth passed."""
    (detail,) = _cluster_under(tmp_path, condition, parameters)
    assert "condition HpOn true" in detail and "EnableEfa=(another value)" in detail, detail


def test_undecided_conditions_that_exclude_each_other_build_no_impossible_world(tmp_path: Path) -> None:
    """Tried true and false, EfaOn on the stack name and EfaOff = Fn::Not [EfaOn] are never both false."""
    template = _efa_template("EfaOn")
    template["Conditions"]["EfaOn"] = {"Fn::Equals": [{"Ref": "AWS::StackName"}, "prod"]}
    template["Conditions"]["EfaOff"] = {"Fn::Not": [{"Condition": "EfaOn"}]}
    template["Resources"]["SelfInB"] = {**template["Resources"]["SelfIn"], "Condition": "EfaOff"}
    assert _efa1(tmp_path, template) == []
    del template["Resources"]["SelfInB"]
    (detail,) = _efa1(tmp_path, template)
    assert "condition EfaOn false" in detail


def test_too_many_undecided_conditions_are_one_cfn1_finding(tmp_path: Path) -> None:
    template = _efa_template("EfaOn")
    template["Conditions"]["EfaOn"] = {"Fn::Equals": [{"Ref": "AWS::StackName"}, "prod"]}
    for index in range(4):  # with EfaOn, 2^5 = 32 truth combinations
        template["Conditions"][f"C{index}"] = {"Fn::Equals": [{"Ref": "AWS::StackName"}, f"s{index}"]}
        template["Resources"][f"Topic{index}"] = {"Type": "AWS::SNS::Topic", "Condition": f"C{index}"}
    path = tmp_path / "S.template.json"
    path.write_text(json.dumps(template))
    (found,) = (f for f in check_files([path], region="us-west-2") if f.rule_id == "HyperPod-CFN1")
    assert "32 combinations" in found.detail and "C0, C1, C2, C3, EfaOn" in found.detail
