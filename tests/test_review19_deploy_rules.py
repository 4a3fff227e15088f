"""Review round 19 (tools): IP1 pools subnets as sets (R19T-H2) in linear work (R19T-M4), HELM1 counts only
what installs the HyperPod chart (R19T-H3), and rules say "not checked" where the value they dispatch on is
known only at deploy (R19T-M3).

Each case runs the rules as ``hyperpod-cdk lint`` does: the template through the CloudFormation loader
(parameters, ``Fn::Select``) into the open-world rule run.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from hyperpod_cdk.rules import deploy
from hyperpod_cdk.rules.catalog import check
from hyperpod_cdk.rules.inputs import from_cloudformation
from hyperpod_cdk.rules.model import NOT_CHECKED, Finding, Templates
from hyperpod_cdk.rules.sagemaker import deep_health_checks

ROLE = "arn:aws:iam::111111111111:role/x"
LIFECYCLE = {"SourceS3Uri": "s3://b/p", "OnCreate": "on_create.sh"}


def lint(template: dict[str, Any]) -> list[Finding]:
    loaded = from_cloudformation(template, "t.yaml", region="us-west-2")
    return list(check(loaded.templates, kinds=("deploy", "posture"), include_not_checked=True))


def of(findings: list[Finding], rule: str, severity: str | None = "any") -> list[Finding]:
    return [f for f in findings if f.rule_id == rule and (severity == "any" or f.severity == severity)]


def group(name: str, count: int, instance_type: str = "ml.g5.8xlarge", **extra: Any) -> dict[str, Any]:
    return {
        "InstanceGroupName": name,
        "InstanceType": instance_type,
        "InstanceCount": count,
        "ExecutionRole": ROLE,
        "LifeCycleConfig": dict(LIFECYCLE),
        **extra,
    }


def hyperpod(groups: list[Any], subnets: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    props = {
        "ClusterName": "hp",
        "NodeRecovery": "Automatic",
        "Orchestrator": {"Eks": {"ClusterArn": "arn:aws:eks:us-west-2:111111111111:cluster/x"}},
        "VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": subnets or [{"Ref": "S1"}, {"Ref": "S2"}]},
        "InstanceGroups": groups,
        **extra,
    }
    return {"Type": "AWS::SageMaker::Cluster", "Properties": props}


def subnets_template(cluster: dict[str, Any]) -> dict[str, Any]:
    """Two /24 subnets: 2 x (256 - 5) = 502 usable addresses. An ml.g5.8xlarge node takes 30 on EKS."""
    return {
        "Resources": {
            "S1": {"Type": "AWS::EC2::Subnet", "Properties": {"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/24"}},
            "S2": {"Type": "AWS::EC2::Subnet", "Properties": {"VpcId": "vpc-1", "CidrBlock": "10.0.1.0/24"}},
            "HP": cluster,
        }
    }


# --------------------------------------------------------------------------- R19T-H2: IP1 on sets


@pytest.mark.parametrize("order", [["S1", "S2"], ["S2", "S1"]])
def test_ip1_pools_a_group_listing_the_cluster_subnets_in_any_order(order: list[str]) -> None:
    """600 addresses wanted of 502: an error whatever order the override lists the same two subnets in
    (before: [S2, S1] was a separate copy of the same addresses, "no findings")."""
    override = {"SecurityGroupIds": ["sg-1"], "Subnets": [{"Ref": s} for s in order]}
    cluster = hyperpod([group("a", 10), group("b", 10, OverrideVpcConfig=override)])
    (finding,) = of(lint(subnets_template(cluster)), "HyperPod-IP1")
    assert finding.severity is None  # an error
    assert "subnets 10.0.0.0/24, 10.0.1.0/24 have 502 usable addresses but the groups need 600" in finding.detail


def test_ip1_pools_overlapping_subnet_sets_against_their_union() -> None:
    """'a' on S1+S2 (300) and 'b' on S1 only (240): 540 wanted from the 502 the two hold (before: only 'b'
    against S1, a warning)."""
    override = {"SecurityGroupIds": ["sg-1"], "Subnets": [{"Ref": "S1"}]}
    cluster = hyperpod([group("a", 10), group("b", 8, OverrideVpcConfig=override)])
    (finding,) = of(lint(subnets_template(cluster)), "HyperPod-IP1")
    assert finding.severity is None
    assert "have 502 usable addresses but the groups need 540 ('a' 10 x ml.g5.8xlarge x 30 IPs, 'b' 8" in finding.detail


def test_ip1_still_checks_the_groups_confined_to_one_subnet_of_a_pool() -> None:
    """The pool fits (270 of 502) but the 9 nodes confined to S1 need 270 of its 251: an error on S1."""
    override = {"SecurityGroupIds": ["sg-1"], "Subnets": [{"Ref": "S1"}]}
    cluster = hyperpod([group("a", 0), group("b", 9, OverrideVpcConfig=override)])
    (finding,) = of(lint(subnets_template(cluster)), "HyperPod-IP1")
    assert finding.severity is None and "subnets 10.0.0.0/24 have 251 usable addresses" in finding.detail


def test_ip1_counts_a_subnet_listed_twice_once() -> None:
    """[S1, S1] is one subnet's 251 addresses, not 502."""
    cluster = hyperpod([group("a", 9)], subnets=[{"Ref": "S1"}, {"Fn::GetAtt": ["S1", "SubnetId"]}])
    (finding,) = of(lint(subnets_template(cluster)), "HyperPod-IP1")
    assert finding.severity is None and "have 251 usable addresses but the groups need 270" in finding.detail


def test_ip1_separate_subnets_stay_separate_pools() -> None:
    override = {"SecurityGroupIds": ["sg-1"], "Subnets": [{"Ref": "S2"}]}
    cluster = hyperpod([group("a", 8), group("b", 8, OverrideVpcConfig=override)], subnets=[{"Ref": "S1"}])
    found = of(lint(subnets_template(cluster)), "HyperPod-IP1")
    # 240 of 251 in each subnet: two warnings (under 25% headroom), no error from adding them together.
    assert [f.severity for f in found] == ["warning", "warning"]
    assert {f.detail.split(" have")[0] for f in found} == {"subnets 10.0.0.0/24", "subnets 10.0.1.0/24"}


# --------------------------------------------------------------------------- R19T-M4: IP1 is linear


def _reference_keys(monkeypatch: pytest.MonkeyPatch, groups: int, subnets: int) -> int:
    template = {
        "Resources": {
            "HP": hyperpod(
                [group(f"g{i}", 1, "ml.c5.xlarge") for i in range(groups)],
                subnets=[f"subnet-{i}" for i in range(subnets)],
            )
        }
    }
    counted = [0]
    original = Templates.reference_key

    def counting(self: Templates, *args: Any, **kwargs: Any) -> tuple[str, ...]:
        counted[0] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Templates, "reference_key", counting)
    list(deploy.subnet_ip_capacity(Templates({"t": template}, closed_world=False)))
    monkeypatch.setattr(Templates, "reference_key", original)
    return counted[0]


def test_ip1_keys_the_cluster_subnets_once_not_once_per_group(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: groups x subnets reference keys (200 x 500 = 100,000; a 1.36 MB template ran over 300 s)."""
    small = _reference_keys(monkeypatch, 200, 500)
    large = _reference_keys(monkeypatch, 400, 500)
    # Each subnet is keyed for the set and for its CIDR: a cost per subnet, none per group.
    assert small <= 3 * 500 and large == small, (small, large)


# --------------------------------------------------------------------------- R19T-H3: HELM1


def _helm_template(depends_on: list[str] | None, **more: Any) -> dict[str, Any]:
    cluster = hyperpod([group("sys", 1, "ml.m5.xlarge")], subnets=["subnet-1"])
    if depends_on is not None:
        cluster["DependsOn"] = depends_on
    return {
        "Resources": {
            "HelmInstallerRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {"AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []}},
            },
            "HelmInstallerFunction": {"Type": "AWS::Lambda::Function", "Properties": {"Handler": "x"}},
            "HyperPodChart": {
                "Type": "Custom::HyperPodHelmDependencies",
                "Properties": {"ServiceToken": "arn:x", "RoleArn": {"Fn::GetAtt": ["HelmInstallerRole", "Arn"]}},
            },
            "HP": cluster,
            **more,
        }
    }


@pytest.mark.parametrize("depends_on", [["HelmInstallerRole"], ["HelmInstallerFunction"], None])
def test_helm1_is_not_satisfied_by_a_resource_merely_named_like_helm(depends_on: list[str] | None) -> None:
    """The installer's role or function is not the chart (before: a cluster depending on either passed, and
    the message named them as charts)."""
    (finding,) = of(lint(_helm_template(depends_on)), "HyperPod-HELM1")
    assert finding.severity is None
    assert "does not depend on the HyperPod Helm chart (HyperPodChart);" in finding.detail


def test_helm1_passes_a_cluster_that_depends_on_the_chart() -> None:
    assert not of(lint(_helm_template(["HyperPodChart"])), "HyperPod-HELM1")


@pytest.mark.parametrize(
    ("logical_id", "body"),
    [
        ("Chart", {"Type": "Custom::AWSCDK-EKS-HelmChart", "Properties": {"Chart": "hyperpod-dependencies"}}),
        ("Release", {"Type": "Custom::HelmRelease", "Properties": {"Name": "hyperpod-dependencies"}}),
        ("Installer", {"Type": "Custom::Installer", "Properties": {"Chart": "helm_chart/HyperPodHelmChart"}}),
        (
            "HelmChartStack",
            {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": "https://b/helm-chart-template.yaml"}},
        ),
    ],
)
def test_helm1_knows_the_other_ways_to_install_the_chart(logical_id: str, body: dict[str, Any]) -> None:
    template = _helm_template(None)
    del template["Resources"]["HyperPodChart"]
    template["Resources"][logical_id] = body
    (finding,) = of(lint(template), "HyperPod-HELM1")
    assert f"the HyperPod Helm chart ({logical_id})" in finding.detail
    template["Resources"]["HP"]["DependsOn"] = [logical_id]
    assert not of(lint(template), "HyperPod-HELM1")


@pytest.mark.parametrize(
    "body",
    [
        {"Type": "Custom::AWSCDK-EKS-HelmChart", "Properties": {"Chart": "cert-manager"}},  # another chart
        {"Type": "Custom::AWSCDK-EKS-HelmChart", "Properties": {"Chart": "hyperpod-inference-operator"}},
        {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "helm"}},
    ],
)
def test_helm1_ignores_what_does_not_install_the_hyperpod_chart(body: dict[str, Any]) -> None:
    template = _helm_template(None)
    del template["Resources"]["HyperPodChart"]
    template["Resources"]["HelmThing"] = body
    assert not of(lint(template), "HyperPod-HELM1")


# --------------------------------------------------------------------------- R19T-M3: not-checked lines

UNKNOWN = {"Ref": "Unknown"}  # a parameter without a default


def _select(value: Any) -> dict[str, Any]:
    """An ``Fn::Select`` whose index is known only at deploy, between two copies of ``value``."""
    return {"Fn::Select": [UNKNOWN, [copy.deepcopy(value), copy.deepcopy(value)]]}


def _addons_template() -> dict[str, Any]:
    eks = "arn:aws:eks:us-west-2:111111111111:cluster/x"
    return {
        "Parameters": {"Unknown": {"Type": "String"}},
        "Resources": {
            "Operator": {
                "Type": "AWS::EKS::Addon",
                "Properties": {
                    "ClusterName": eks,
                    "AddonName": "amazon-sagemaker-hyperpod-training-operator",
                    "PodIdentityAssociations": [{"RoleArn": ROLE, "ServiceAccount": "sa"}],
                },
            },
            "TaskGov": {
                "Type": "AWS::EKS::Addon",
                "Properties": {
                    "ClusterName": eks,
                    "AddonName": "amazon-sagemaker-hyperpod-taskgovernance",
                    "AddonVersion": "v1.2.0-eksbuild.1",
                },
            },
            "S1": {"Type": "AWS::EC2::Subnet", "Properties": {"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/28"}},
            "Fsx": {
                "Type": "AWS::FSx::FileSystem",
                "Properties": {"FileSystemType": "LUSTRE", "StorageCapacity": 1200, "SecurityGroupIds": ["sg-fsx"]},
            },
            "HP": hyperpod(
                [
                    group(
                        "gpu",
                        4,
                        "ml.p5.48xlarge",
                        LifeCycleConfig={"SourceS3Uri": "s3://b/p", "OnCreate": "/abs/on_create.sh"},
                        InstanceStorageConfigs=[
                            {"EbsVolumeConfig": {"VolumeSizeInGB": 500, "VolumeKmsKeyId": "arn:aws:kms:k"}}
                        ],
                    ),
                    group("scale", 0, OnStartDeepHealthChecks=["InstanceStress"]),
                    group("bad", 1, "ml.nonexistent.xlarge"),
                ],
                subnets=[{"Ref": "S1"}],
                AutoScaling={"Mode": "Enable", "AutoScalerType": "Karpenter"},
            ),
        },
    }


def _set(path: str, make: Callable[[Any], Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(template: dict[str, Any]) -> None:
        node: Any = template["Resources"]
        *parents, last = (int(p) if p.isdigit() else p for p in path.split("/"))
        for key in parents:
            node = node[key]
        node[last] = make(node[last])

    return mutate


def _unknown(_value: Any) -> Any:
    return UNKNOWN


M3_CASES = [
    ("HyperPod-TOP1", "Operator", "Operator/Properties/AddonName", _unknown),
    ("HyperPod-ADD1", "Operator", "Operator/Properties/AddonName", _unknown),
    ("HyperPod-TG1", "TaskGov", "TaskGov/Properties/AddonName", _unknown),
    ("HyperPod-ADD1", "TaskGov", "TaskGov/Properties/AddonName", _select),
    ("HyperPod-FSX1", "Fsx", "Fsx/Properties/FileSystemType", _unknown),
    ("HyperPod-LCS1", "HP", "HP/Properties/InstanceGroups/0/LifeCycleConfig/OnCreate", _unknown),
    ("HyperPod-LCS1", "HP", "HP/Properties/InstanceGroups/0/LifeCycleConfig", _select),
    ("HyperPod-LCS1", "HP", "HP/Properties/InstanceGroups/0", _select),
    ("HyperPod-KMS1", "HP", "HP/Properties/InstanceGroups/0/InstanceStorageConfigs/0/EbsVolumeConfig", _select),
    ("HyperPod-KMS1", "HP", "HP/Properties/InstanceGroups/0/InstanceStorageConfigs", _select),
    ("HyperPod-KMS1", "HP", "HP/Properties/InstanceGroups/0", _select),
    ("HyperPod-KAR1", "HP", "HP/Properties/AutoScaling", _select),
    ("HyperPod-KAR1", "HP", "HP/Properties/InstanceGroups/1", _select),
    ("HyperPod-TYPE1", "HP", "HP/Properties/InstanceGroups/2", _select),
    ("HyperPod-SM1", "HP", "HP/Properties/InstanceGroups/0", _select),
    ("HyperPod-SM1", "HP", "HP/Properties/InstanceGroups", _select),
    ("HyperPod-IP1", "HP", "HP/Properties/VpcConfig/Subnets", _unknown),
    ("HyperPod-HELM1", "HP", "HP/Properties/Orchestrator", _unknown),
]


@pytest.mark.parametrize(("rule", "resource", "path", "make"), M3_CASES, ids=[f"{c[0]}:{c[2]}" for c in M3_CASES])
def test_a_value_known_only_at_deploy_is_a_not_checked_line(
    rule: str, resource: str, path: str, make: Callable[[Any], Any]
) -> None:
    """The base template breaks each rule; with the value left to deploy the rule says not checked (before:
    nothing at all, "no findings")."""
    template = _addons_template()
    template["Resources"]["Chart"] = {"Type": "Custom::HyperPodHelmDependencies", "Properties": {}}
    assert of(lint(template), rule), f"the base template must break {rule}"
    _set(path, make)(template)
    found = [f for f in of(lint(template), rule) if f.logical_id == resource]
    where = path.split("/", 1)[1]
    assert any(f.severity == NOT_CHECKED and "not known offline" in f.detail for f in found), found
    # Nothing under the value left to deploy is judged as if it were known.
    assert not [f for f in found if f.severity != NOT_CHECKED and any(loc.startswith(where) for loc in f.locations)]


def test_a_group_chosen_at_deploy_is_no_false_error() -> None:
    """A group that is one ``Fn::Select`` was read as an empty group: SYS1 said no group hosts system pods and,
    on Slurm, LCS1 said the group has no LifeCycleConfig. Both are not checked now."""
    template = {
        "Parameters": {"Unknown": {"Type": "String"}},
        "Resources": {"HP": hyperpod([_select(group("sys", 1, "ml.m5.xlarge"))], subnets=["subnet-1"])},
    }
    found = lint(template)
    assert of(found, "HyperPod-SYS1") and all(f.severity == NOT_CHECKED for f in of(found, "HyperPod-SYS1"))
    template["Resources"]["HP"]["Properties"]["Orchestrator"] = {"Slurm": {}}
    found = lint(template)
    assert of(found, "HyperPod-LCS1") and all(f.severity == NOT_CHECKED for f in of(found, "HyperPod-LCS1"))


def test_the_plugin_still_reports_an_unreadable_group_as_a_finding() -> None:
    """Closed world (a CDK app): SM1 keeps reporting what it cannot read as a finding."""
    template = {"Resources": {"HP": hyperpod([_select(group("gpu", 1, "ml.p5.48xlarge"))], subnets=["subnet-1"])}}
    found = list(deep_health_checks(Templates({"t": template})))
    assert (
        found and all(f.severity is None for f in found) and "InstanceGroups/0 is not known offline" in found[0].detail
    )


def test_task_governance_next_to_an_add_on_of_unknown_name_is_not_checked() -> None:
    """Without a known training operator, an old task governance next to an add-on whose name comes at deploy
    is not checked (it may be the operator); with neither it is skipped as before."""
    template = _addons_template()
    template["Resources"]["Operator"]["Properties"]["AddonName"] = UNKNOWN
    tg1 = [f for f in of(lint(template), "HyperPod-TG1") if f.logical_id == "TaskGov"]
    assert tg1 and all(f.severity == NOT_CHECKED for f in tg1)
    del template["Resources"]["Operator"]
    assert not of(lint(template), "HyperPod-TG1")
