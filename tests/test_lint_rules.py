"""The deploy rules of the catalogue: a passing and a failing case per rule (no jsii, no AWS).

Each case starts from ``base()``, a small EKS HyperPod definition every deploy rule accepts, applies
one mutation, and checks the deploy rules through the same path ``hyperpod-cdk lint`` uses
(open-world templates with a region). The posture rules are covered in test_rules.py.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from hyperpod_cdk.rules import RULES, RULES_BY_ID, Templates, check
from hyperpod_cdk.rules.catalog import rules_of
from hyperpod_cdk.rules.model import KINDS, NOT_CHECKED, SEVERITIES
from hyperpod_cdk.specs import kubernetes_versions as kv

REGION = "us-west-2"
TODAY = dt.date(2026, 12, 6)
SG = {"Fn::GetAtt": ["NodeSg", "GroupId"]}


@pytest.fixture(autouse=True)
def _pin_today(monkeypatch):
    monkeypatch.setattr(kv, "today", lambda: TODAY)


def _group(name: str, instance_type: str, count: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "InstanceGroupName": name,
        "InstanceType": instance_type,
        "InstanceCount": count,
        "ExecutionRole": "arn:aws:iam::111122223333:role/exec",
        "LifeCycleConfig": {"SourceS3Uri": "s3://sagemaker-lcs/scripts/", "OnCreate": "on_create.sh"},
        **extra,
    }


def base() -> dict[str, Any]:
    return {
        "Resources": {
            "Subnet": {"Type": "AWS::EC2::Subnet", "Properties": {"CidrBlock": "10.1.0.0/20", "VpcId": "vpc-1"}},
            "NodeSg": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "n", "VpcId": "vpc-1"}},
            "SelfIn": {
                "Type": "AWS::EC2::SecurityGroupIngress",
                "Properties": {"GroupId": SG, "IpProtocol": "-1", "SourceSecurityGroupId": SG},
            },
            "SelfOut": {
                "Type": "AWS::EC2::SecurityGroupEgress",
                "Properties": {"GroupId": SG, "IpProtocol": "-1", "DestinationSecurityGroupId": SG},
            },
            "FsxSg": {
                "Type": "AWS::EC2::SecurityGroup",
                "Properties": {
                    "GroupDescription": "f",
                    "VpcId": "vpc-1",
                    "SecurityGroupIngress": [
                        {"IpProtocol": "tcp", "FromPort": 988, "ToPort": 988, "SourceSecurityGroupId": SG},
                        {"IpProtocol": "tcp", "FromPort": 1018, "ToPort": 1023, "SourceSecurityGroupId": SG},
                    ],
                },
            },
            "Fsx": {
                "Type": "AWS::FSx::FileSystem",
                "Properties": {"FileSystemType": "LUSTRE", "SecurityGroupIds": [{"Ref": "FsxSg"}]},
            },
            "Eks": {
                "Type": "AWS::EKS::Cluster",
                "Properties": {"Version": "1.35", "AccessConfig": {"AuthenticationMode": "API_AND_CONFIG_MAP"}},
            },
            "CoreDns": {
                "Type": "AWS::EKS::Addon",
                "Properties": {"AddonName": "coredns", "ClusterName": {"Ref": "Eks"}, "ResolveConflicts": "OVERWRITE"},
            },
            "Operator": {
                "Type": "AWS::EKS::Addon",
                "DependsOn": ["OperatorIdentity"],
                "Properties": {
                    "AddonName": "amazon-sagemaker-hyperpod-training-operator",
                    "ClusterName": {"Ref": "Eks"},
                    "ResolveConflicts": "OVERWRITE",
                },
            },
            "OperatorIdentity": {
                "Type": "AWS::EKS::PodIdentityAssociation",
                "Properties": {
                    "ClusterName": {"Ref": "Eks"},
                    "Namespace": "aws-hyperpod",
                    "ServiceAccount": "hp-training-operator-controller-manager",
                    "RoleArn": "arn:aws:iam::1:role/op",
                },
            },
            "Governance": {
                "Type": "AWS::EKS::Addon",
                "Properties": {
                    "AddonName": "amazon-sagemaker-hyperpod-taskgovernance",
                    "AddonVersion": "v1.3.0-eksbuild.1",
                    "ClusterName": {"Ref": "Eks"},
                    "ResolveConflicts": "OVERWRITE",
                },
            },
            "HelmChart": {"Type": "Custom::HyperPodHelmDependencies", "Properties": {"ServiceToken": "arn:x"}},
            "HyperPod": {
                "Type": "AWS::SageMaker::Cluster",
                "DependsOn": ["HelmChart"],
                "Properties": {
                    "ClusterName": "hp",
                    "Orchestrator": {"Eks": {"ClusterArn": {"Fn::GetAtt": ["Eks", "Arn"]}}},
                    "VpcConfig": {"SecurityGroupIds": [SG], "Subnets": [{"Ref": "Subnet"}]},
                    "NodeRecovery": "Automatic",
                    "NodeProvisioningMode": "Continuous",
                    "InstanceGroups": [
                        _group(
                            "system",
                            "ml.m5.xlarge",
                            InstanceStorageConfigs=[
                                {"EbsVolumeConfig": {"VolumeSizeInGB": 100, "VolumeKmsKeyId": "k"}}
                            ],
                        ),
                        _group("gpu", "ml.p5.48xlarge", 2, OnStartDeepHealthChecks=["InstanceStress"]),
                    ],
                },
            },
        }
    }


def _props(t: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return t["Resources"][logical_id]["Properties"]


def _groups(t: dict[str, Any]) -> list[dict[str, Any]]:
    return _props(t, "HyperPod")["InstanceGroups"]


def _karpenter(t: dict[str, Any]) -> None:
    hp = _props(t, "HyperPod")
    hp["AutoScaling"] = {"Mode": "Enable", "AutoScalerType": "Karpenter"}
    hp["ClusterRole"] = "arn:aws:iam::111122223333:role/karpenter"
    _groups(t).append(_group("scaled", "ml.g5.8xlarge", 0))


def _run(t: dict[str, Any], region: str | None = REGION) -> list:
    templates = Templates({"t": t}, region=region, closed_world=False)
    # The HyperPod::Live::* resources of a case stand for what `lint --live` read (it records them).
    templates.live.update(("t", k) for k, r in t["Resources"].items() if r["Type"].startswith("HyperPod::Live::"))
    return check(templates, kinds=("deploy",), include_not_checked=True)


Mutation = Callable[[dict[str, Any]], Any]

# (rule, case, mutation) that the rule must accept
PASSING: list[tuple[str, str, Mutation]] = [
    (
        "HyperPod-RET2",
        "a retained log group CloudFormation names",
        lambda t: t["Resources"].update(
            Logs={
                "Type": "AWS::Logs::LogGroup",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {"RetentionInDays": 30},
            }
        ),
    ),
    (
        "HyperPod-KMS1",
        "no key without Continuous",
        lambda t: (
            _props(t, "HyperPod").pop("NodeProvisioningMode"),
            _groups(t)[0]["InstanceStorageConfigs"][0]["EbsVolumeConfig"].pop("VolumeKmsKeyId"),
        ),
    ),
    ("HyperPod-KAR1", "Karpenter with its prerequisites", _karpenter),
    (
        "HyperPod-KAR1",
        "a Spot group at 0 (examples/eks-scaling.yaml)",
        lambda t: (_karpenter(t), _groups(t)[2].update(CapacityRequirements={"Spot": {}})),
    ),
    (
        "HyperPod-SYS1",
        "GPU groups only, but a tainted-for-GPU group is PreferNoSchedule",
        lambda t: _groups(t)[0].update(KubernetesConfig={"Taints": [{"Key": "a", "Effect": "PreferNoSchedule"}]}),
    ),
    ("HyperPod-TYPE1", "offered type", lambda t: _groups(t)[1].update(InstanceType="ml.g5.8xlarge")),
    ("HyperPod-K8S1", "version left to EKS's default", lambda t: _props(t, "Eks").pop("Version")),
    ("HyperPod-IP1", "a /20 holds 1 + 2 x p5 nodes with headroom", lambda t: None),
    (
        "HyperPod-FSX1",
        "Lustre ports inside one TCP range",
        lambda t: _props(t, "FsxSg").update(
            SecurityGroupIngress=[{"IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535, "SourceSecurityGroupId": SG}]
        ),
    ),
    (
        "HyperPod-FSX1",
        "Lustre ports as a standalone all-traffic rule",
        lambda t: (
            _props(t, "FsxSg").pop("SecurityGroupIngress"),
            t["Resources"].update(
                FsxIn={
                    "Type": "AWS::EC2::SecurityGroupIngress",
                    "Properties": {
                        "GroupId": {"Fn::GetAtt": ["FsxSg", "GroupId"]},
                        "IpProtocol": "-1",
                        "SourceSecurityGroupId": SG,
                    },
                }
            ),
        ),
    ),
    (
        "HyperPod-HELM1",
        "depends on the chart through a Ref",
        lambda t: (
            t["Resources"]["HyperPod"].pop("DependsOn"),
            _props(t, "HyperPod").update(Tags=[{"Key": "chart", "Value": {"Ref": "HelmChart"}}]),
        ),
    ),
    ("HyperPod-TOP1", "no training operator at all", lambda t: t["Resources"].pop("Operator")),
    (
        "HyperPod-ADD1",
        "an add-on this rule has no policy for",
        lambda t: _props(t, "CoreDns").update(AddonName="some-partner-addon", ResolveConflicts="NONE"),
    ),
    (
        "HyperPod-TG1",
        "a later task governance",
        lambda t: _props(t, "Governance").update(AddonVersion="v1.4.2-eksbuild.3"),
    ),
    (
        "HyperPod-LCS1",
        "an https script location",
        lambda t: _groups(t)[0]["LifeCycleConfig"].update(SourceS3Uri="https://bucket.s3.amazonaws.com/scripts/"),
    ),
    ("HyperPod-EKS4", "API", lambda t: _props(t, "Eks")["AccessConfig"].update(AuthenticationMode="API")),
    (
        "HyperPod-EFA1",
        "imported group (open world): not a finding",
        lambda t: _props(t, "HyperPod")["VpcConfig"].update(SecurityGroupIds=["sg-0123"]),
    ),
    (
        "HyperPod-QUOTA1",
        "quota covers the groups",
        lambda t: t["Resources"].update(
            Quota={"Type": "HyperPod::Live::Quota", "Properties": {"InstanceType": "ml.p5.48xlarge", "Value": 2}}
        ),
    ),
]

# (rule, case, mutation, text in the finding, severity)
FAILING: list[tuple[str, str, Mutation, str, str]] = [
    (
        "HyperPod-RET2",
        "a retained log group with a fixed name",
        lambda t: t["Resources"].update(
            Logs={
                "Type": "AWS::Logs::LogGroup",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {"LogGroupName": "/hp/installer", "RetentionInDays": 30},
            }
        ),
        "/hp/installer",
        "error",
    ),
    (
        "HyperPod-KMS1",
        "key without Continuous",
        lambda t: _props(t, "HyperPod").pop("NodeProvisioningMode"),
        "'system' has a VolumeKmsKeyId but NodeProvisioningMode is unset",
        "error",
    ),
    (
        "HyperPod-KAR1",
        "Karpenter without Continuous",
        lambda t: (
            _karpenter(t),
            _props(t, "HyperPod").pop("NodeProvisioningMode"),
            _groups(t)[0]["InstanceStorageConfigs"][0]["EbsVolumeConfig"].pop("VolumeKmsKeyId"),
        ),
        "needs NodeProvisioningMode: Continuous",
        "error",
    ),
    (
        "HyperPod-KAR1",
        "Karpenter without a ClusterRole",
        lambda t: (_karpenter(t), _props(t, "HyperPod").pop("ClusterRole")),
        "needs a ClusterRole",
        "error",
    ),
    (
        "HyperPod-KAR1",
        "Karpenter with node recovery off",
        lambda t: (_karpenter(t), _props(t, "HyperPod").update(NodeRecovery="None")),
        "NodeRecovery: Automatic",
        "error",
    ),
    (
        "HyperPod-KAR1",
        "a group at 0 with deep health checks",
        lambda t: (_karpenter(t), _groups(t)[2].update(OnStartDeepHealthChecks=["InstanceStress"])),
        "'scaled' starts at 0 for Karpenter but runs deep health checks",
        "error",
    ),
    (
        "HyperPod-KAR1",
        "a group at 0 on a training plan",
        lambda t: (
            _karpenter(t),
            _groups(t)[2].update(TrainingPlanArn="arn:aws:sagemaker:us-west-2:1:training-plan/p"),
        ),
        "uses a training plan",
        "error",
    ),
    (
        "HyperPod-SYS1",
        "every group runs deep health checks",
        lambda t: _groups(t)[0].update(OnStartDeepHealthChecks=["InstanceConnectivity"]),
        "no instance group can host system pods",
        "warning",
    ),
    (
        "HyperPod-SYS1",
        "the CPU group is tainted NoSchedule",
        lambda t: _groups(t)[0].update(
            KubernetesConfig={"Taints": [{"Key": "a", "Value": "b", "Effect": "NoSchedule"}]}
        ),
        "no instance group can host system pods",
        "warning",
    ),
    (
        "HyperPod-TYPE1",
        "type not offered in the region",
        lambda t: _groups(t)[1].update(InstanceType="ml.p6e-gb200.36xlarge"),
        "is not offered by SageMaker HyperPod in us-west-2",
        "error",
    ),
    ("HyperPod-K8S1", "past extended support", lambda t: _props(t, "Eks").update(Version="1.29"), "1.29", "error"),
    (
        "HyperPod-K8S1",
        "in extended support",
        lambda t: _props(t, "Eks").update(Version="1.32"),
        "extended support",
        "warning",
    ),
    (
        "HyperPod-IP1",
        "subnet too small",
        lambda t: _props(t, "Subnet").update(CidrBlock="10.1.0.0/26"),
        "usable addresses but the groups need",
        "error",
    ),
    (
        "HyperPod-IP1",
        "no headroom (5 x 15 + 2 x 81 = 237 of 251)",
        lambda t: (_props(t, "Subnet").update(CidrBlock="10.1.0.0/24"), _groups(t)[0].update(InstanceCount=5)),
        "less than 25% headroom",
        "warning",
    ),
    (
        "HyperPod-FSX1",
        "the Lustre group misses 1018-1023",
        lambda t: _props(t, "FsxSg")["SecurityGroupIngress"].pop(),
        "allows no inbound TCP 1018-1023",
        "error",
    ),
    (
        "HyperPod-FSX1",
        "the Lustre group has no rules",
        lambda t: _props(t, "FsxSg").pop("SecurityGroupIngress"),
        "988 and 1018-1023",
        "error",
    ),
    (
        "HyperPod-HELM1",
        "cluster not ordered after the chart",
        lambda t: t["Resources"]["HyperPod"].pop("DependsOn"),
        "does not depend on the HyperPod Helm chart (HelmChart)",
        "error",
    ),
    (
        "HyperPod-TOP1",
        "inline pod identity association",
        lambda t: _props(t, "Operator").update(PodIdentityAssociations=[{"RoleArn": "r", "ServiceAccount": "s"}]),
        "inline PodIdentityAssociations",
        "error",
    ),
    (
        "HyperPod-TOP1",
        "no association at all",
        lambda t: t["Resources"].pop("OperatorIdentity"),
        "no AWS::EKS::PodIdentityAssociation",
        "warning",
    ),
    (
        "HyperPod-ADD1",
        "coredns without OVERWRITE",
        lambda t: _props(t, "CoreDns").pop("ResolveConflicts"),
        "coredns: ResolveConflicts is unset (NONE)",
        "warning",
    ),
    (
        "HyperPod-TG1",
        "task governance before v1.3.0",
        lambda t: _props(t, "Governance").update(AddonVersion="v1.2.0-eksbuild.1"),
        "v1.2.0-eksbuild.1 next to the training operator",
        "error",
    ),
    (
        "HyperPod-LCS1",
        "not a URI",
        lambda t: _groups(t)[1]["LifeCycleConfig"].update(SourceS3Uri="sagemaker-lcs/x"),
        "is not s3://bucket",
        "error",
    ),
    (
        "HyperPod-LCS1",
        "absolute script path",
        lambda t: _groups(t)[1]["LifeCycleConfig"].update(OnCreate="/on_create.sh"),
        "must be a file name relative to SourceS3Uri",
        "error",
    ),
    (
        "HyperPod-LCS1",
        "script missing in S3 (read with --live)",
        lambda t: t["Resources"].update(
            Script={
                "Type": "HyperPod::Live::S3Object",
                "Properties": {"Uri": "s3://sagemaker-lcs/scripts/on_create.sh", "Exists": False},
            }
        ),
        "does not exist",
        "error",
    ),
    (
        "HyperPod-EKS4",
        "CONFIG_MAP",
        lambda t: _props(t, "Eks")["AccessConfig"].update(AuthenticationMode="CONFIG_MAP"),
        "'CONFIG_MAP'",
        "error",
    ),
    (
        "HyperPod-EFA1",
        "no self egress",
        lambda t: t["Resources"].pop("SelfOut"),
        "no all-traffic egress to itself",
        "error",
    ),
    (
        "HyperPod-QUOTA1",
        "quota below the groups",
        lambda t: t["Resources"].update(
            Quota={"Type": "HyperPod::Live::Quota", "Properties": {"InstanceType": "ml.p5.48xlarge", "Value": 1}}
        ),
        "quota is 1",
        "error",
    ),
]


def test_base_passes_every_deploy_rule():
    assert _run(base()) == []


#: Rules that speak only in a CDK app (lint prints the same through the resolver's not-checked lines):
#: their cases are in tests/test_review20_plugin.py.
CLOSED_WORLD_ONLY = {"HyperPod-CFN1"}


def test_every_deploy_rule_has_passing_and_failing_cases():
    deploy = {rule.id for rule in rules_of(("deploy",))} - CLOSED_WORLD_ONLY
    assert {c[0] for c in PASSING} == deploy
    assert {c[0] for c in FAILING} == deploy


def test_every_rule_is_complete():
    """Id, severity, kind and a cited https source on every rule of the one catalogue."""
    ids = [rule.id for rule in RULES]
    assert len(ids) == len(set(ids))
    for rule in RULES:
        assert rule.severity in SEVERITIES[:3] and rule.kind in KINDS, rule.id
        assert rule.source.startswith("https://"), rule.id
        assert rule.title and rule.description and rule.fix, rule.id


@pytest.mark.parametrize(("rule_id", "case", "mutate"), PASSING, ids=[f"{c[0]}:{c[1]}" for c in PASSING])
def test_passing(rule_id, case, mutate):
    template = base()
    mutate(template)
    assert [f for f in _run(template) if f.rule_id == rule_id and f.severity != NOT_CHECKED] == []


@pytest.mark.parametrize(
    ("rule_id", "case", "mutate", "text", "severity"), FAILING, ids=[f"{c[0]}:{c[1]}" for c in FAILING]
)
def test_failing(rule_id, case, mutate, text, severity):
    template = base()
    mutate(template)
    findings = [f for f in _run(template) if f.severity != NOT_CHECKED]
    assert {f.rule_id for f in findings} == {rule_id}, findings
    assert any(text in f.detail for f in findings), findings
    assert {RULES_BY_ID[rule_id].severity_of(f) for f in findings} == {severity}


# --- not checked, never guessed -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule_id", "mutate"),
    [
        ("HyperPod-KMS1", lambda t: _props(t, "HyperPod").update(NodeProvisioningMode={"Ref": "Mode"})),
        ("HyperPod-TYPE1", lambda t: _groups(t)[1].update(InstanceType={"Ref": "GpuType"})),
        ("HyperPod-K8S1", lambda t: _props(t, "Eks").update(Version={"Ref": "K8s"})),
        ("HyperPod-LCS1", lambda t: _groups(t)[1]["LifeCycleConfig"].update(SourceS3Uri={"Fn::Sub": "s3://${B}"})),
        ("HyperPod-ADD1", lambda t: _props(t, "CoreDns").update(ResolveConflicts={"Ref": "Mode"})),
        ("HyperPod-SYS1", lambda t: [g.update(InstanceCount={"Ref": "N"}) for g in _groups(t)]),
        ("HyperPod-EFA1", lambda t: _props(t, "HyperPod")["VpcConfig"].update(SecurityGroupIds=[{"Ref": "SgParam"}])),
    ],
)
def test_unknown_values_are_not_checked(rule_id, mutate):
    template = base()
    mutate(template)
    findings = [f for f in _run(template) if f.rule_id == rule_id]
    assert findings and {f.severity for f in findings} == {NOT_CHECKED}, findings


def test_region_rules_say_not_checked_without_a_region():
    """Without a region TYPE1 cannot decide: one not-checked line per cluster, not silence (R20T-M2)."""
    template = base()
    _groups(template)[1]["InstanceType"] = "ml.p6e-gb200.36xlarge"
    (finding,) = (f for f in _run(template, region=None) if f.rule_id == "HyperPod-TYPE1")
    assert finding.severity == NOT_CHECKED and "region of its stack is not known" in finding.detail
    (finding,) = (f for f in _run(template, region="me-south-1") if f.rule_id == "HyperPod-TYPE1")
    assert finding.severity == NOT_CHECKED and "does not cover me-south-1" in finding.detail


def test_closed_world_reports_imported_groups_as_findings():
    """The CDK plugin (closed world) keeps asking for an acknowledgment on an imported group."""
    template = base()
    _props(template, "HyperPod")["VpcConfig"]["SecurityGroupIds"] = ["sg-0123"]
    findings = check(Templates({"t": copy.deepcopy(template)}, region=REGION), kinds=("deploy",))
    assert [f.rule_id for f in findings] == ["HyperPod-EFA1"]
