"""R23T-L1: a group named as ``Fn::Sub "${Sg}"`` is the group ``Ref Sg`` names. reference_key read any
``Fn::Sub`` as an expression, so the EFA self ingress written that way was a false EFA1 error."""

from __future__ import annotations

from typing import Any

import pytest

from hyperpod_cdk.rules import Templates, check

ROLE = "arn:aws:iam::111111111111:role/exec"


def _template(group_id: Any) -> dict[str, Any]:
    group = {"InstanceGroupName": "gpu", "InstanceType": "ml.p5.48xlarge", "InstanceCount": 1, "ExecutionRole": ROLE}
    sg = {"Ref": "Sg"}
    return {
        "Resources": {
            "Sg": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "hp", "VpcId": "vpc-1"}},
            "In": {
                "Type": "AWS::EC2::SecurityGroupIngress",
                "Properties": {"GroupId": group_id, "IpProtocol": "-1", "SourceSecurityGroupId": sg},
            },
            "Out": {
                "Type": "AWS::EC2::SecurityGroupEgress",
                "Properties": {"GroupId": sg, "IpProtocol": "-1", "DestinationSecurityGroupId": sg},
            },
            "HP": {
                "Type": "AWS::SageMaker::Cluster",
                "Properties": {
                    "InstanceGroups": [group],
                    "VpcConfig": {"SecurityGroupIds": [sg], "Subnets": ["subnet-1"]},
                },
            },
        }
    }


def _efa1(group_id: Any) -> list[str]:
    templates = Templates({"t": _template(group_id)}, region="us-west-2", closed_world=False)
    return [f.detail for f in check(templates) if f.rule_id == "HyperPod-EFA1"]


@pytest.mark.parametrize(
    "group_id",
    [
        {"Ref": "Sg"},
        {"Fn::Sub": "${Sg}"},
        {"Fn::Sub": ["${Sg}", {}]},
        {"Fn::Sub": "${Sg.GroupId}"},
        {"Fn::Sub": ["${G}", {"G": {"Fn::GetAtt": ["Sg", "GroupId"]}}]},
    ],
    ids=["Ref", "Sub", "Sub with no variables", "Sub of GroupId", "Sub of its own variable"],
)
def test_a_sub_that_is_one_reference_names_the_group(group_id: Any) -> None:
    assert _efa1(group_id) == []


@pytest.mark.parametrize(
    "group_id",
    [{"Fn::Sub": "sg-${Sg}"}, {"Fn::Sub": "${!Sg}"}, {"Fn::Sub": ["${G}", {"G": "sg-0123456789abcdef0"}]}],
    ids=["more text", "an escaped literal", "a variable naming another group"],
)
def test_any_other_sub_is_not_the_group(group_id: Any) -> None:
    assert len(_efa1(group_id)) == 1
