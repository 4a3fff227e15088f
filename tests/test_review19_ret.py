"""Review round 19 (R19R-H1, H2, M1; R19T-M5): RET2 reads only what it knows (another resource's fixed value is
not a generated name), a DeletionPolicy chosen at deploy, linear text reading; RET4 linear in a shared group."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.rules.model import NOT_CHECKED, Templates

_spec = importlib.util.spec_from_file_location("work_limits", Path(__file__).with_name("work_limits.py"))
assert _spec is not None and _spec.loader is not None
work_limits = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(work_limits)

RETAIN = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
_STACK_ID = {"Ref": "AWS::StackId"}


def _logs(name: Any, **resources: Any) -> dict[str, Any]:
    group = {"Type": "AWS::Logs::LogGroup", **RETAIN, "Properties": {"LogGroupName": name}}
    return {"Resources": {"Logs": group, **resources}}


def _ret2(template: dict[str, Any], closed_world: bool = False) -> list[tuple[str, str | None]]:
    findings = work_limits.rule_findings(Templates({"t": template}, closed_world=closed_world), "HyperPod-RET2")
    return [(f.logical_id, f.severity) for f in findings if f.rule_id == "HyperPod-RET2"]


_MAYBE = [("Logs", NOT_CHECKED)]
_FIXED = [("Logs", None)]

_ECS = {"Type": "AWS::ECS::Cluster", "Properties": {"ClusterName": "training"}}
_PROJECT = {"Type": "AWS::CodeBuild::Project", "Properties": {"Name": "image-build"}}
_SSM = {"Type": "AWS::SSM::Parameter", "Properties": {"Type": "String", "Value": "hyperpod"}}
_SUBNET = {"Type": "AWS::EC2::Subnet", "Properties": {"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/24"}}
_CUSTOM = {"Type": "Custom::NameLookup", "Properties": {"ServiceToken": "arn:aws:lambda:us-west-2:1:function:f"}}
_ROLE = {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {}}}


@pytest.mark.parametrize(
    ("name", "resources", "expected"),
    [
        # R19R-H1: each of these is fixed on every deploy, or may be; all were read as generated.
        # R20T-L3: types whose Ref is a name the template gives: a literal one is fixed.
        pytest.param({"Fn::Join": ["/", ["/ecs", {"Ref": "Cluster"}]]}, {"Cluster": _ECS}, _FIXED, id="ECS Ref"),
        pytest.param({"Fn::Sub": "/aws/codebuild/${Project}"}, {"Project": _PROJECT}, _FIXED, id="CodeBuild Sub"),
        pytest.param(
            {"Fn::Sub": "/aws/codebuild/${Project}"},
            {"Project": {"Type": "AWS::CodeBuild::Project", "Properties": {}}},
            [],
            id="generated CodeBuild name",
        ),
        pytest.param(
            {"Fn::Sub": "/hyperpod/sg/${NodeSg}"},
            {"NodeSg": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupName": "hyperpod-nodes"}}},
            [],
            id="security group Ref is its sg- id",
        ),
        pytest.param({"Fn::Sub": "/${Prefix.Value}/jobs"}, {"Prefix": _SSM}, _MAYBE, id="SSM value"),
        pytest.param(
            {"Fn::Join": ["/", ["/fsx", {"Fn::GetAtt": ["Subnet", "AvailabilityZone"]}]]},
            {"Subnet": _SUBNET},
            _MAYBE,
            id="subnet AZ",
        ),
        pytest.param({"Fn::GetAtt": ["Lookup", "Name"]}, {"Lookup": _CUSTOM}, _MAYBE, id="custom resource"),
        pytest.param(
            {"Fn::Join": ["", ["/x", {"Fn::Select": [1, {"Fn::Split": ["0", _STACK_ID]}]}]]},
            {},
            _MAYBE,
            id="split on a digit",
        ),
        # IDs AWS makes for each new resource differ; a generated name differs.
        pytest.param({"Fn::Join": ["/", ["/fsx", {"Ref": "Subnet"}]]}, {"Subnet": _SUBNET}, [], id="subnet id"),
        pytest.param({"Fn::Sub": "/roles/${Role.RoleId}"}, {"Role": _ROLE}, [], id="role id"),
        pytest.param({"Fn::Sub": "/roles/${Role}"}, {"Role": _ROLE}, [], id="generated role name"),
        pytest.param({"Fn::Sub": "/x/${AWS::Region}"}, {}, [("Logs", None)], id="pseudo parameter"),
    ],
)
def test_ret2_reads_another_resource_only_as_far_as_it_knows(name: Any, resources: dict, expected: list) -> None:
    assert _ret2(_logs(name, **resources)) == expected


def test_ret2_in_a_cdk_app_a_value_it_cannot_read_is_a_finding() -> None:
    name = {"Fn::Join": ["/", ["/fsx", {"Fn::GetAtt": ["Subnet", "AvailabilityZone"]}]]}
    assert _ret2(_logs(name, Subnet=_SUBNET), closed_world=True) == [("Logs", None)]


def _bucket(name: Any, policy: Any, default: str | None = None) -> dict[str, Any]:
    parameter: dict[str, Any] = {"Type": "String"}
    if default is not None:
        parameter["Default"] = default
    return {
        "Transform": "AWS::LanguageExtensions",
        "Parameters": {"BucketName": parameter, "Keep": {"Type": "String"}},
        "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Keep"}, "yes"]}},
        "Resources": {
            "Bucket": {
                "Type": "AWS::S3::Bucket",
                "DeletionPolicy": policy,
                "UpdateReplacePolicy": "Retain",
                "Properties": {"BucketName": name},
            }
        },
    }


@pytest.mark.parametrize("policy", [{"Fn::If": ["IsProd", "Retain", "Delete"]}, {"Ref": "Keep"}], ids=["Fn::If", "Ref"])
def test_ret2_a_deletion_policy_chosen_at_deploy_with_a_fixed_name_is_not_checked(policy: Any) -> None:
    """R19R-H2: with AWS::LanguageExtensions, DeletionPolicy may be an intrinsic; it was read as "not kept"."""
    assert _ret2(_bucket("hyperpod-jobs", policy)) == [("Bucket", NOT_CHECKED)]
    assert _ret2(_bucket("hyperpod-jobs", policy), closed_world=True) == [("Bucket", None)]
    assert _ret2(_bucket({"Ref": "AWS::NoValue"}, policy)) == []  # a generated name: nothing to report


def test_ret2_a_name_left_out_by_an_unknown_condition_is_not_checked_not_an_error() -> None:
    """``!If [HasName, !Ref BucketName, !Ref AWS::NoValue]``: the NoValue option leaves the name to CloudFormation."""
    template = _bucket({"Fn::If": ["IsProd", {"Ref": "BucketName"}, {"Ref": "AWS::NoValue"}]}, "Retain")
    assert _ret2(template) == [("Bucket", NOT_CHECKED)]


def _nested_selects(levels: int) -> dict[str, Any]:
    """The reviewer's shape (R19R-M1): LEVELS nested Select/Split/Join over one long Fn::Sub string."""
    value: Any = {"Fn::Join": ["", [{"Fn::Sub": "${!}" * 20_000}, _STACK_ID]]}
    for _ in range(levels):
        value = {"Fn::Select": [0, {"Fn::Split": ["-", {"Fn::Join": ["", [value, "x"]]}]}]}
    return _logs(value)


def test_ret2_reads_the_text_under_nested_parts_once() -> None:
    # Twice the levels over the same 20,000-part string: the string is scanned once either way (it was scanned
    # again by each level, twice: 7.6 MB of aliased text took 228 s), so the work barely grows.
    assert work_limits.rule_call_ratio(_nested_selects, 10, "HyperPod-RET2") < 1.3


def _instances_in_one_group(instances: int, subnets: int = 400) -> dict[str, Any]:
    resources: dict[str, Any] = {
        f"S{i}": {"Type": "AWS::EC2::Subnet", **RETAIN, "Properties": {"VpcId": "vpc-1"}} for i in range(subnets)
    }
    resources["G"] = {
        "Type": "AWS::RDS::DBSubnetGroup",
        **RETAIN,
        "Properties": {"DBSubnetGroupDescription": "d", "SubnetIds": [{"Ref": f"S{i}"} for i in range(subnets)]},
    }
    for j in range(instances):
        resources[f"D{j}"] = {
            "Type": "AWS::RDS::DBInstance",
            "DeletionPolicy": "Retain",
            "Properties": {"DBSubnetGroupName": {"Ref": "G"}},
        }
    return {"Resources": resources}


def test_ret4_costs_instances_plus_subnets_of_a_shared_group() -> None:
    """R19T-M5: 60,000 subnets x 4,000 instances took 118 s: each instance went through every subnet."""
    one, many = (
        work_limits.calls(lambda n=n: work_limits.rule_findings(_instances_in_one_group(n), "HyperPod-RET4"))
        for n in (50, 400)
    )
    assert many / one < 3  # 8x the instances; the 400 subnets are judged once either way


def test_ret4_still_reports_a_deleted_subnet_through_the_group_for_every_instance() -> None:
    template = _instances_in_one_group(3, subnets=2)
    del template["Resources"]["S1"]["DeletionPolicy"]
    findings = work_limits.rule_findings(template, "HyperPod-RET4")
    # The kept group itself uses S1; each kept instance uses it through the group.
    assert sorted(f.logical_id for f in findings) == ["D0", "D1", "D2", "G"]
    assert all("S1 (through G)" in f.detail for f in findings if f.logical_id != "G")


def _circle_with_one_long_name(n: int) -> dict[str, Any]:
    """The reviewer's shape (R19R-M2): answers rise one name per reading, and H, which uses every name and
    holds many literals, was read again after each rise (400 names: 113 s)."""
    uuid = {"Fn::Select": [2, {"Fn::Split": ["/", _STACK_ID]}]}
    resources: dict[str, Any] = {
        "N0": {
            "Type": "AWS::Logs::LogGroup",
            **RETAIN,
            "Properties": {"LogGroupName": {"Fn::Join": ["/", [uuid, {"Ref": "H"}]]}},
        }
    }
    for i in range(1, n):
        name = {"Fn::Select": [{"Ref": "Pick"}, [uuid, {"Ref": f"N{i - 1}"}]]}
        resources[f"N{i}"] = {"Type": "AWS::Logs::LogGroup", **RETAIN, "Properties": {"LogGroupName": name}}
    items = ["a"] * (50 * n) + [{"Ref": f"N{i}"} for i in range(n)]
    resources["H"] = {
        "Type": "AWS::Logs::LogGroup",
        **RETAIN,
        "Properties": {"LogGroupName": {"Fn::Join": ["-", items]}},
    }
    return {"Parameters": {"Pick": {"Type": "Number"}}, "Resources": resources}


def test_ret2_bounds_the_work_on_a_circle_of_names() -> None:
    assert work_limits.rule_call_ratio(_circle_with_one_long_name, 40, "HyperPod-RET2") < 2.6


def test_ret2_an_index_of_thousands_of_digits_is_not_an_internal_error() -> None:
    """R19R-L4: int() of a 5,000-digit index raised ValueError: lint exited 2, "internal error in rule"."""
    name = {"Fn::Join": ["", ["/x", {"Fn::Select": ["1" * 5000, {"Fn::Split": ["/", _STACK_ID]}]}]]}
    assert _ret2(_logs(name)) == _MAYBE


def _adopted(name: Any, default: str | None) -> dict[str, Any]:
    parameter: dict[str, Any] = {"Type": "String"}
    if default is not None:
        parameter["Default"] = default
    group = {
        "Type": "AWS::Logs::LogGroup",
        **RETAIN,
        "Metadata": {"HyperPodAdoptedOnRedeploy": "cdk deploy --import-existing-resources"},
        "Properties": {"LogGroupName": name},
    }
    return {"Parameters": {"ClusterName": parameter}, "Resources": {"ControlPlaneLogs": group}}


@pytest.mark.parametrize(
    ("default", "given"), [("training", {}), (None, {"ClusterName": "training"})], ids=["default", "--parameter"]
)
def test_ret2_adoption_needs_a_name_written_as_a_literal(default: str | None, given: dict[str, str]) -> None:
    """R19R-H3: a name resolved from a parameter looked static; CloudFormation's automatic import takes only
    names written as literals ("Dynamic names (using !Ref or other functions) are not currently supported")."""
    from hyperpod_cdk.rules.inputs import from_cloudformation

    template = _adopted({"Fn::Sub": "/aws/eks/${ClusterName}/cluster"}, default)
    lint_input = from_cloudformation(template, "t.yaml", parameters=given)
    findings = work_limits.rule_findings(lint_input.templates, "HyperPod-RET2")
    assert [(f.logical_id, f.severity) for f in findings] == [("ControlPlaneLogs", None)]
    assert "static (literal) name" in findings[0].detail
    literal = from_cloudformation(_adopted("/aws/eks/training/cluster", default), "t.yaml", parameters=given)
    assert work_limits.rule_findings(literal.templates, "HyperPod-RET2") == []


def test_lint_refuses_a_parameter_no_template_declares(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """R19T-L4: a misspelt --parameter was dropped, and the defaults were checked instead."""
    import json

    from hyperpod_cdk.cli.main import main

    template = tmp_path / "t.json"
    template.write_text(json.dumps(_adopted("/aws/eks/training/cluster", "training")))
    assert main(["lint", str(template), "--parameter", "ClusterNme=x"]) == 2
    err = capsys.readouterr().err
    assert "--parameter ClusterNme" in err and "declares" in err and len(err.strip().splitlines()) == 1
    assert main(["lint", str(template), "--parameter", "ClusterName=x"]) == 0


def test_ret4_a_long_chain_of_subnet_groups_is_no_internal_error() -> None:
    """R20T-L2: RET4 followed a DB subnet group inside another recursively (3,000 of them: RecursionError)."""
    resources: dict[str, Any] = {
        f"G{i}": {"Type": "AWS::RDS::DBSubnetGroup", **RETAIN, "Properties": {"SubnetIds": [{"Ref": f"G{i + 1}"}]}}
        for i in range(3000)
    }
    resources["D"] = {"Type": "AWS::RDS::DBInstance", **RETAIN, "Properties": {"DBSubnetGroupName": {"Ref": "G0"}}}
    assert work_limits.rule_findings({"Resources": resources}, "HyperPod-RET4") == []


def test_ret4_names_a_subnet_a_group_lists_itself_as_direct() -> None:
    """R21T-L4: G7 lists S0 itself, but the error said S0 was reached through G8 (named first in its properties)."""
    resources: dict[str, Any] = {
        "S0": {"Type": "AWS::EC2::Subnet", "Properties": {"VpcId": "vpc-1"}},
        "G8": {"Type": "AWS::RDS::DBSubnetGroup", **RETAIN, "Properties": {"SubnetIds": [{"Ref": "S0"}]}},
        "G7": {
            "Type": "AWS::RDS::DBSubnetGroup",
            **RETAIN,
            "Properties": {"DBSubnetGroupDescription": {"Ref": "G8"}, "SubnetIds": [{"Ref": "S0"}]},
        },
    }
    findings = {f.logical_id: f.detail for f in work_limits.rule_findings({"Resources": resources}, "HyperPod-RET4")}
    assert "uses AWS::EC2::Subnet S0, which" in findings["G7"]
