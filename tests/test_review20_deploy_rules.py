"""Review round 20 (tools): HELM1 says "not checked" for a Helm chart it cannot name instead of ignoring it
(R20T-H2), and IP1 charges each subnet set of a pool the groups on its subsets (R20T-M1).

Lint runs the template through the CloudFormation loader into the open-world rule run; the plugin path
(``check_files``) reads written template files in the closed world, where a not-checked line is a finding.
"""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.rules import deploy_network
from hyperpod_cdk.rules.catalog import check, check_files
from hyperpod_cdk.rules.deploy_addons import MAX_MAYBE_CHARTS
from hyperpod_cdk.rules.inputs import from_cloudformation
from hyperpod_cdk.rules.model import NOT_CHECKED, Finding

_spec = importlib.util.spec_from_file_location("work_limits", Path(__file__).with_name("work_limits.py"))
assert _spec and _spec.loader
work_limits = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(work_limits)

ROLE = "arn:aws:iam::111111111111:role/x"
LIFECYCLE = {"SourceS3Uri": "s3://b/p", "OnCreate": "on_create.sh"}
HELM1, IP1 = "HyperPod-HELM1", "HyperPod-IP1"


def lint(template: dict[str, Any]) -> list[Finding]:
    loaded = from_cloudformation(template, "t.yaml", region="us-west-2")
    return list(check(loaded.templates, kinds=("deploy", "posture"), include_not_checked=True))


def of(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule_id == rule]


def group(name: str, count: int, subnets: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "InstanceGroupName": name,
        "InstanceType": "ml.g5.8xlarge",  # 30 IPs a node on EKS
        "InstanceCount": count,
        "ExecutionRole": ROLE,
        "LifeCycleConfig": dict(LIFECYCLE),
    }
    if subnets is not None:
        body["OverrideVpcConfig"] = {"SecurityGroupIds": ["sg-1"], "Subnets": [{"Ref": s} for s in subnets]}
    return body


def hyperpod(groups: list[Any], subnets: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    props = {
        "ClusterName": "hp",
        "NodeRecovery": "Automatic",
        "Orchestrator": {"Eks": {"ClusterArn": "arn:aws:eks:us-west-2:111111111111:cluster/x"}},
        "VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": subnets or ["subnet-1"]},
        "InstanceGroups": groups,
    }
    return {"Type": "AWS::SageMaker::Cluster", "Properties": props, **extra}


# --------------------------------------------------------------------------- R20T-H2: HELM1


CDK_ASSET_URL = {
    "Fn::Join": [
        "",
        [
            "https://s3.",
            {"Ref": "AWS::Region"},
            ".",
            {"Ref": "AWS::URLSuffix"},
            "/",
            {"Fn::Sub": "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}"},
            "/" + "4f1c" * 16 + ".json",
        ],
    ]
}
REVIEWER_NESTED_URL = {
    "Fn::Join": [
        "",
        ["https://s3.us-west-2.", {"Ref": "AWS::URLSuffix"}, "/cdk-hnb659fds-assets-1-us-west-2/4a1b2c3d4e5f.json"],
    ]
}


def _chart(**props: Any) -> dict[str, Any]:
    base = {
        "ServiceToken": "arn:aws:lambda:us-west-2:111111111111:function:kubectl-provider",
        "ClusterName": "x",
        "RoleArn": {"Fn::GetAtt": ["HelmInstallerRole", "Arn"]},
        "Namespace": "kube-system",
    }
    return {"Type": "Custom::AWSCDK-EKS-HelmChart", "Properties": {**base, **props}}


# The reviewer's shapes (/work/review/round20t/helm): logical id -> the resource that may install the chart.
SHAPES: dict[str, tuple[str, dict[str, Any]]] = {
    "asset": ("DepsChart", _chart(Release="training-deps", ChartAssetURL="s3://cdk-assets-1-us-west-2/4f1c.zip")),
    "param": ("DepsChart", _chart(Release={"Ref": "ReleaseName"}, Chart={"Ref": "ChartRef"})),
    "nested": (
        "HelmChartNestedStackResource",
        {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": REVIEWER_NESTED_URL}},
    ),
    "cdk-nested": (
        "AddonsNestedStackAddonsNestedStackResource1A2B3C4D",
        {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": CDK_ASSET_URL}},
    ),
    "unknown-name": ("DepsChart", _chart(Chart="training-deps", Repository="oci://123.dkr.ecr/charts")),
}


def _helm_template(shape: str, depends_on: list[str] | None = None) -> dict[str, Any]:
    logical_id, body = SHAPES[shape]
    role = {
        "Type": "AWS::IAM::Role",
        "Properties": {"AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []}},
    }
    extra = {"DependsOn": depends_on} if depends_on else {}
    return {
        "Parameters": {"ChartRef": {"Type": "String"}, "ReleaseName": {"Type": "String"}},
        "Resources": {
            "HelmInstallerRole": role,
            logical_id: copy.deepcopy(body),
            "HP": hyperpod([group("sys", 1)], **extra),
        },
    }


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_helm1_a_chart_it_cannot_name_is_not_checked_not_ignored(shape: str) -> None:
    """Before (fbb966c): no HELM1 line at all, "no findings" (78c1a33 gave the HELM1 error)."""
    logical_id = SHAPES[shape][0]
    (finding,) = of(lint(_helm_template(shape)), HELM1)
    assert finding.severity == NOT_CHECKED and finding.logical_id == "HP"
    assert finding.detail.startswith(f"cannot tell whether {logical_id} installs the HyperPod chart")
    assert finding.detail.endswith("if it does, the cluster must depend on it")


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_helm1_passes_a_cluster_that_depends_on_the_chart_it_cannot_name(shape: str) -> None:
    assert not of(lint(_helm_template(shape, [SHAPES[shape][0]])), HELM1)


def test_helm1_a_role_named_like_helm_still_does_not_count_as_the_chart() -> None:
    """R19T-H3 stays fixed: depending on the installer's role is not depending on the chart."""
    (finding,) = of(lint(_helm_template("asset", ["HelmInstallerRole"])), HELM1)
    assert finding.severity == NOT_CHECKED and "cannot tell whether DepsChart installs" in finding.detail


def test_helm1_a_chart_named_in_the_definition_outranks_one_it_cannot_name() -> None:
    """With the HyperPod chart named, the unnamed one is another chart: the error is about the named one."""
    template = _helm_template("asset")
    template["Resources"]["HyperPodChart"] = _chart(Chart="hyperpod-dependencies")
    (finding,) = of(lint(template), HELM1)
    assert finding.severity is None and "the HyperPod Helm chart (HyperPodChart)" in finding.detail
    template["Resources"]["HP"]["DependsOn"] = ["HyperPodChart"]
    assert not of(lint(template), HELM1)


@pytest.mark.parametrize(
    "body",
    [
        _chart(Chart="aws-load-balancer-controller", Repository="https://aws.github.io/eks-charts"),
        _chart(Chart="oci://public.ecr.aws/karpenter/karpenter"),
        {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": "https://b/vpc-stack.yaml"}},
        {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": CDK_ASSET_URL}},  # id below
    ],
)
def test_helm1_stays_silent_on_what_is_known_not_to_be_the_chart(body: dict[str, Any]) -> None:
    """A known other chart, a nested stack whose template file names something else, and aws-cdk-lib's
    own EKS provider stacks (Lambda functions) install no HyperPod chart."""
    template = _helm_template("asset", ["DepsChart"])
    logical_id = "awscdkawseksKubectlProviderNestedStackawscdkawseksKubectlProviderNestedStackResourceA7AEBA6B"
    template["Resources"][logical_id] = body
    assert not of(lint(template), HELM1)


def test_helm1_names_every_chart_it_cannot_name_the_cluster_does_not_depend_on() -> None:
    template = _helm_template("asset", ["DepsChart"])
    template["Resources"]["Other"] = _chart(Release="more", ChartAssetURL="s3://b/2.zip")
    template["Resources"]["Third"] = _chart(Release="third", ChartAssetURL="s3://b/3.zip")
    (finding,) = of(lint(template), HELM1)
    assert finding.detail.startswith("cannot tell whether Other or Third installs the HyperPod chart")


def test_helm1_many_charts_it_cannot_name_are_one_line_without_a_walk_each() -> None:
    template = _helm_template("asset", ["DepsChart"])
    for i in range(MAX_MAYBE_CHARTS):
        template["Resources"][f"C{i}"] = _chart(Release=f"r{i}", ChartAssetURL=f"s3://b/{i}.zip")
    (finding,) = of(lint(template), HELM1)
    assert finding.severity == NOT_CHECKED
    said = f"cannot tell which of {MAX_MAYBE_CHARTS + 1} Helm charts or nested stacks (DepsChart, ...)"
    assert said in finding.detail


def _write(folder: Path, template: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "S.template.json"
    path.write_text(json.dumps(template))
    return path


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_helm1_in_a_cdk_app_a_chart_it_cannot_name_is_a_finding(tmp_path: Path, shape: str) -> None:
    """The plugin path (closed world): the not-checked line is a finding to fix or acknowledge (before:
    only EFA1, nothing from HELM1)."""
    found = of(check_files([_write(tmp_path, _helm_template(shape))], region="us-west-2"), HELM1)
    (finding,) = found
    assert finding.severity is None and f"cannot tell whether {SHAPES[shape][0]} installs" in finding.detail
    assert "acknowledge HyperPodChecks::HyperPod-HELM1" in finding.detail
    fixed = _write(tmp_path / "fixed", _helm_template(shape, [SHAPES[shape][0]]))
    assert not of(check_files([fixed], region="us-west-2"), HELM1)


# --------------------------------------------------------------------------- R20T-M1: IP1 on subsets


def _subnets(count: int, prefix: int = 24) -> dict[str, Any]:
    """``count`` subnets S1.. of a /``prefix`` each (a /24: 256 - 5 = 251 usable addresses)."""
    return {
        f"S{i + 1}": {
            "Type": "AWS::EC2::Subnet",
            "Properties": {"VpcId": "vpc-1", "CidrBlock": f"10.{i // 256}.{i % 256}.0/{prefix}"},
        }
        for i in range(count)
    }


def _hall(*groups: dict[str, Any]) -> dict[str, Any]:
    """The reviewer's hall.yaml: three /24 subnets, the cluster's default subnets all three."""
    cluster = hyperpod(list(groups), subnets=[{"Ref": s} for s in ("S1", "S2", "S3")])
    return {"Resources": {**_subnets(3), "HP": cluster}}


def test_ip1_a_group_on_wider_subnets_does_not_hide_the_error_of_a_narrower_set() -> None:
    """'a' 8 nodes on S1 and 'b' 9 on S1+S2 need 510 of the 502 addresses S1+S2 hold. Adding 'c' (1 node) on
    the cluster's S1+S2+S3 made the pool 753 addresses (before: a warning on S1 only, exit 0)."""
    template = _hall(group("a", 8, ["S1"]), group("b", 9, ["S1", "S2"]), group("c", 1))
    (finding,) = of(lint(template), IP1)
    assert finding.severity is None  # an error
    assert finding.detail.startswith(
        "subnets 10.0.0.0/24, 10.0.1.0/24 have 502 usable addresses but the groups need 510 "
        "('a' 8 x ml.g5.8xlarge x 30 IPs, 'b' 9 x ml.g5.8xlarge x 30 IPs)"
    )


def test_ip1_the_same_error_without_the_wider_group() -> None:
    (finding,) = of(lint(_hall(group("a", 8, ["S1"]), group("b", 9, ["S1", "S2"]))), IP1)
    assert finding.severity is None and "have 502 usable addresses but the groups need 510" in finding.detail


def test_ip1_groups_on_subsets_that_fit_are_no_error() -> None:
    """'a' 4 on S1 and 'b' 4 on S1+S2 (240 of 502) plus 'c' on all three: fits with headroom."""
    assert not of(lint(_hall(group("a", 4, ["S1"]), group("b", 4, ["S1", "S2"]), group("c", 1))), IP1)


def _nested_sets(sets: int, groups_per_set: int) -> dict[str, Any]:
    """A chain of ``sets`` nested subnet sets ([S1], [S1, S2], ...), ``groups_per_set`` groups on each."""
    groups = [
        group(f"g{i}-{j}", 1, [f"S{k + 1}" for k in range(i + 1)]) for i in range(sets) for j in range(groups_per_set)
    ]
    return {"Resources": {**_subnets(sets), "HP": hyperpod(groups, subnets=[{"Ref": "S1"}])}}


def _star_sets(sets: int) -> dict[str, Any]:
    """``sets`` distinct sets [S1, S2], [S1, S3], ...: one pool (all share S1), one 1-node group on each."""
    groups = [group(f"g{i}", 1, ["S1", f"S{i + 2}"]) for i in range(sets)]
    return {"Resources": {**_subnets(sets + 1, 28), "HP": hyperpod(groups, subnets=[{"Ref": "S1"}])}}


def test_ip1_past_the_cap_checks_the_union_and_exact_sets_and_says_so() -> None:
    cap = deploy_network.MAX_SUBNET_SETS_PER_POOL
    found = of(work_limits.rule_findings(_star_sets(cap + 1), IP1), IP1)
    lines = [f for f in found if f.severity == NOT_CHECKED]
    assert len(lines) == 1
    assert lines[0].detail.startswith(f"{cap + 1} distinct subnet sets share subnets (more than {cap})")
    assert not [f for f in of(work_limits.rule_findings(_star_sets(cap), IP1), IP1) if f.severity == NOT_CHECKED]


def test_ip1_stays_linear_in_groups_on_a_pool_of_sets() -> None:
    """Groups double on the same 20 nested sets: the work doubles (each set sums the groups on its subsets)."""
    ratio = work_limits.rule_call_ratio(lambda n: _nested_sets(20, n), 10, IP1)
    assert ratio < 2.5, ratio


def test_ip1_stays_linear_past_the_set_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """300 then 600 distinct sets in one pool: past the cap no set is compared with every other."""
    ratio = work_limits.rule_call_ratio(_star_sets, 300, IP1)
    assert ratio < 2.5, ratio
    # Without the cap the pool's one flow (R22T-M2) checks every family of the 600 sets, still linear here
    # (each set's two edges), and no not-checked line is left.
    monkeypatch.setattr(deploy_network, "MAX_SUBNET_SETS_PER_POOL", 10**6)
    assert work_limits.rule_call_ratio(_star_sets, 300, IP1) < 2.5
    assert not [f for f in of(work_limits.rule_findings(_star_sets(600), IP1), IP1) if f.severity == NOT_CHECKED]
