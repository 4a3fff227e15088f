"""Review round 8 (tools): rule findings that were silent on intrinsic shapes or trusted the template.

* M2: HyperPod-EFA1 said nothing when ``SecurityGroupIds`` is one intrinsic (a ``List<>`` parameter,
  ``Fn::Split``, ``Fn::If``), in ``lint`` and in the synth-time plugin (``check_files``).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from hyperpod_cdk.rules import Templates, check, check_files
from hyperpod_cdk.rules.inputs import load
from hyperpod_cdk.rules.model import NOT_CHECKED

REGION = "us-west-2"
ROLE = "arn:aws:iam::123456789012:role/r"
LCS = {"SourceS3Uri": "s3://b/p", "OnCreate": "on_create.sh"}


def _cluster_template() -> dict[str, Any]:
    """One HyperPod cluster (system + GPU group) whose security groups come from its parameters."""
    return {
        "Parameters": {
            "Groups": {"Type": "List<AWS::EC2::SecurityGroup::Id>"},
            "G": {"Type": "String"},
            "Csv": {"Type": "String"},
            "Subnets": {"Type": "List<AWS::EC2::Subnet::Id>"},
        },
        "Conditions": {"C": {"Fn::Equals": [{"Ref": "G"}, "x"]}},
        "Resources": {
            "Cluster": {
                "Type": "AWS::SageMaker::Cluster",
                "Properties": {
                    "ClusterName": "c",
                    "NodeRecovery": "Automatic",
                    "Orchestrator": {"Eks": {"ClusterArn": "arn:aws:eks:us-west-2:123456789012:cluster/x"}},
                    "VpcConfig": {"SecurityGroupIds": ["sg-0123456789abcdef0"], "Subnets": {"Ref": "Subnets"}},
                    "InstanceGroups": [
                        {
                            "InstanceGroupName": "sys",
                            "InstanceType": "ml.m5.xlarge",
                            "InstanceCount": 1,
                            "ExecutionRole": ROLE,
                            "LifeCycleConfig": LCS,
                        },
                        {
                            "InstanceGroupName": "gpu",
                            "InstanceType": "ml.p5.48xlarge",
                            "InstanceCount": 2,
                            "ExecutionRole": ROLE,
                            "OnStartDeepHealthChecks": ["InstanceStress"],
                            "LifeCycleConfig": LCS,
                        },
                    ],
                },
            }
        },
    }


WHOLE_LISTS = {
    "Ref List parameter": {"Ref": "Groups"},
    "Fn::Split of a parameter": {"Fn::Split": [",", {"Ref": "Csv"}]},
    "Fn::If whole list": {"Fn::If": ["C", ["sg-0123456789abcdef0"], ["sg-0fedcba9876543210"]]},
}


def _efa1(findings: list) -> list:
    return [f for f in findings if f.rule_id == "HyperPod-EFA1"]


@pytest.mark.parametrize("where", ["cluster", "override"])
@pytest.mark.parametrize("shape", sorted(WHOLE_LISTS))
def test_efa1_reports_a_whole_list_intrinsic(tmp_path, shape, where):
    template = _cluster_template()
    props = template["Resources"]["Cluster"]["Properties"]
    if where == "cluster":
        props["VpcConfig"]["SecurityGroupIds"] = WHOLE_LISTS[shape]
        location = "Properties/VpcConfig/SecurityGroupIds"
    else:
        props["InstanceGroups"][1]["OverrideVpcConfig"] = {
            "SecurityGroupIds": WHOLE_LISTS[shape],
            "Subnets": ["subnet-1"],
        }
        location = "Properties/InstanceGroups/1/OverrideVpcConfig/SecurityGroupIds"
    path = tmp_path / "t.json"
    path.write_text(json.dumps(template))

    # lint (open world, the template evaluated with its defaults): not checked, never silent.
    lint_input = load(path, region=REGION)
    [finding] = [f for f in _efa1(check(lint_input.templates, include_not_checked=True)) if location in f.locations]
    assert finding.severity == NOT_CHECKED
    assert "not a literal list" in finding.detail

    # The synth-time plugin (closed world): a finding that needs an acknowledgment.
    posture = [f for f in _efa1(check_files([path])) if location in f.locations]
    assert posture and posture[0].severity is None, posture
    assert "cannot verify" in posture[0].detail


def test_efa1_still_checks_a_literal_list():
    template = _cluster_template()
    findings = _efa1(check(Templates({"t": copy.deepcopy(template)}, closed_world=False), include_not_checked=True))
    assert [f.locations for f in findings] == [("Properties/VpcConfig/SecurityGroupIds/0",)]
    assert "not a literal list" not in findings[0].detail

