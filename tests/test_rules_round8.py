"""Review round 8 (tools): rule findings that were silent on intrinsic shapes or trusted the template.

* M2: HyperPod-EFA1 said nothing when ``SecurityGroupIds`` is one intrinsic (a ``List<>`` parameter,
  ``Fn::Split``, ``Fn::If``), in ``lint`` and in the synth-time plugin (``check_files``).
* L5: SM1 counted ``{Ref: AWS::NoValue}`` (and an ``Fn::If`` with it) as deep health checks set.
* L6: EKS1 passed a public endpoint open to the whole IPv4 internet written as two /1 ranges.
* L7: a template's own ``hyperpod-cdk:live`` metadata (or HyperPod::Live::* resource) switched rules off.
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


# --- L5: SM1 and AWS::NoValue --------------------------------------------------------------------

NO_VALUE = {"Ref": "AWS::NoValue"}


@pytest.mark.parametrize(
    ("checks", "closed", "expected"),
    [
        (NO_VALUE, True, "has no OnStartDeepHealthChecks"),
        (NO_VALUE, False, "has no OnStartDeepHealthChecks"),
        ({"Fn::If": ["C", [], NO_VALUE]}, True, "has no OnStartDeepHealthChecks"),
        ({"Fn::If": ["C", ["InstanceStress"], NO_VALUE]}, True, "absent when a condition is"),
        ({"Fn::If": ["C", ["InstanceStress"], NO_VALUE]}, False, "depends on a condition"),
        ({"Fn::If": ["C", {"Fn::If": ["D", NO_VALUE, ["InstanceStress"]]}, ["InstanceStress"]]}, True, "absent"),
        ({"Fn::If": ["C", ["InstanceStress"], {"Fn::Split": [",", {"Ref": "G"}]}]}, True, None),
        ({"Fn::Split": [",", {"Ref": "G"}]}, True, None),
        (["InstanceConnectivity"], True, None),
    ],
)
def test_sm1_counts_no_value_as_absent(checks, closed, expected):
    template = _cluster_template()
    template["Resources"]["Cluster"]["Properties"]["InstanceGroups"][1]["OnStartDeepHealthChecks"] = checks
    found = [
        f
        for f in check(Templates({"t": template}, closed_world=closed), include_not_checked=True)
        if f.rule_id == "HyperPod-SM1"
    ]
    if expected is None:
        assert found == []
        return
    [finding] = found
    assert expected in finding.detail
    assert finding.severity == (None if closed or "depends" not in expected else NOT_CHECKED)


def test_sm1_no_value_is_a_finding_in_the_plugin_files(tmp_path):
    template = _cluster_template()
    template["Resources"]["Cluster"]["Properties"]["InstanceGroups"][1]["OnStartDeepHealthChecks"] = NO_VALUE
    path = tmp_path / "t.json"
    path.write_text(json.dumps(template))
    assert [f.rule_id for f in check_files([path]) if f.rule_id == "HyperPod-SM1"] == ["HyperPod-SM1"]


# --- L6: EKS1 judges the addresses the CIDRs cover together ---------------------------------------


def _eks(cidrs: list[str]) -> dict[str, Any]:
    vpc = {"SubnetIds": ["subnet-1"], "EndpointPublicAccess": True, "PublicAccessCidrs": cidrs}
    return {"Resources": {"Eks": {"Type": "AWS::EKS::Cluster", "Properties": {"ResourcesVpcConfig": vpc}}}}


@pytest.mark.parametrize(
    ("cidrs", "open_to"),
    [
        (["0.0.0.0/0"], "0.0.0.0/0"),
        (["0.0.0.0/1", "128.0.0.0/1"], "0.0.0.0/1, 128.0.0.0/1"),
        (["10.0.0.0/8", "0.0.0.0/0"], "0.0.0.0/0"),
        (["1.0.0.0/7"], "1.0.0.0/7"),
        (["11.0.0.0/8", "12.0.0.0/8"], "11.0.0.0/8, 12.0.0.0/8"),
        (["::/1", "8000::/1"], "::/1, 8000::/1"),
        (["203.0.113.0/24", "198.51.100.0/24"], None),
        (["44.0.0.0/8"], None),
        (["2001:db8::/32"], None),
    ],
)
def test_eks1_judges_the_union_of_the_public_cidrs(cidrs, open_to):
    found = [f for f in check(Templates({"t": _eks(cidrs)})) if f.rule_id == "HyperPod-EKS1"]
    if open_to is None:
        assert found == []
    else:
        [finding] = found
        assert f"open to {open_to} " in finding.detail, finding.detail


# --- L7: only what lint --live read counts as live ------------------------------------------------


def _addons(meta: dict[str, Any]) -> dict[str, Any]:
    coredns = {"AddonName": "coredns", "ClusterName": "e", "ResolveConflicts": "NONE"}
    operator = {
        "AddonName": "amazon-sagemaker-hyperpod-training-operator",
        "ClusterName": "e",
        "PodIdentityAssociations": [{"RoleArn": "r", "ServiceAccount": "s"}],
    }
    return {
        "Resources": {
            "CoreDns": {"Type": "AWS::EKS::Addon", "Properties": coredns, "Metadata": meta},
            "Operator": {"Type": "AWS::EKS::Addon", "Properties": operator, "Metadata": meta},
        }
    }


@pytest.mark.parametrize("meta", [{}, {"hyperpod-cdk:live": True}], ids=["plain", "self-marked-live"])
def test_a_templates_own_live_mark_does_not_switch_rules_off(meta):
    templates = Templates({"t": _addons(meta)}, closed_world=False)
    rules = sorted(f.rule_id for f in check(templates, include_not_checked=True))
    assert {"HyperPod-ADD1", "HyperPod-TOP1"} <= set(rules), rules
    # What lint --live added and recorded is past its creation: these rules leave it alone.
    templates.live.update({("t", "CoreDns"), ("t", "Operator")})
    rules = sorted(f.rule_id for f in check(templates, include_not_checked=True))
    assert not {"HyperPod-ADD1", "HyperPod-TOP1"} & set(rules), rules


def test_a_templates_own_live_quota_is_not_read_as_the_accounts():
    """A HyperPod::Live::Quota written in the template is not what AWS answered: QUOTA1 does not use it."""
    template = _cluster_template()
    template["Resources"]["Quota"] = {
        "Type": "HyperPod::Live::Quota",
        "Properties": {"InstanceType": "ml.p5.48xlarge", "Value": 0},
    }
    templates = Templates({"t": template}, region=REGION, closed_world=False)
    assert [f for f in check(templates, include_not_checked=True) if f.rule_id == "HyperPod-QUOTA1"] == []
    templates.live.add(("t", "Quota"))
    assert [f.rule_id for f in check(templates, include_not_checked=True) if f.rule_id == "HyperPod-QUOTA1"]


def _gpu_only(meta: dict[str, Any]) -> dict[str, Any]:
    template = _cluster_template()
    cluster = template["Resources"]["Cluster"]
    cluster["Properties"]["InstanceGroups"] = cluster["Properties"]["InstanceGroups"][1:]
    cluster["Metadata"] = meta
    return template


@pytest.mark.parametrize("meta", [{}, {"hyperpod-cdk:partial": True}], ids=["plain", "self-marked-partial"])
def test_a_templates_own_partial_mark_does_not_switch_sys1_off(meta):
    """SYS1 (no group can host the system pods) skips only what the loader read from an UpdateCluster request."""
    templates = Templates({"t": _gpu_only(meta)}, closed_world=False)
    assert "HyperPod-SYS1" in {f.rule_id for f in check(templates, include_not_checked=True)}
    templates.partial.add(("t", "Cluster"))
    assert "HyperPod-SYS1" not in {f.rule_id for f in check(templates, include_not_checked=True)}


def test_an_update_cluster_request_is_recorded_as_partial(tmp_path):
    request = {
        "ClusterName": "c",
        "InstanceGroups": _gpu_only({})["Resources"]["Cluster"]["Properties"]["InstanceGroups"],
    }
    path = tmp_path / "update.json"
    path.write_text(json.dumps(request))
    lint_input = load(path, region=REGION)
    assert lint_input.templates.partial == {(lint_input.source, "c")}
    assert "HyperPod-SYS1" not in {f.rule_id for f in check(lint_input.templates, include_not_checked=True)}
