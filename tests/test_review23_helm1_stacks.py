"""Review round 23, R23T-H4: HELM1 looked for the HyperPod Helm chart only in the cluster's own template.

With the chart in the parent stack and the cluster in a CDK ``NestedStack`` that does not depend on it (or the
chart in another top-level stack with no stack dependency), ``lint cdk.out`` said nothing and exited 0, and the
plugin passed synth. HELM1 now walks up the cluster's nested stack chain (``Templates.nested_in``) and requires
the nested stack resource that deploys the cluster to depend on the chart there; a chart in another top-level
stack needs a stack dependency recorded in the assembly's ``manifest.json``, else it is not checked (a finding in
a CDK app). The reviewer's cdk.out layouts (review/round23t/helm_split.py) and real synths with the plugin.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks as eks
from aws_cdk import aws_sagemaker as sm

from hyperpod_cdk.rules import HyperPodChecks, check, check_files, deploy_helm
from hyperpod_cdk.rules.inputs import load_cdk_out
from hyperpod_cdk.rules.model import NOT_CHECKED, Finding, Templates
from hyperpod_cdk.rules.stack_order import MAX_STACK_HOPS, StackOrder, stack_chain

HELM1 = "HyperPod-HELM1"
ACCOUNT = "111122223333"
HASH = "a" * 64
NESTED_FILE = "ParentNestedNested0A1B2C3D.nested.template.json"
ENV = f"aws://{ACCOUNT}/us-west-2"


def _cluster() -> dict[str, Any]:
    return {
        "Type": "AWS::SageMaker::Cluster",
        "Properties": {
            "ClusterName": "hp",
            "Orchestrator": {"Eks": {"ClusterArn": f"arn:aws:eks:us-west-2:{ACCOUNT}:cluster/e"}},
            "VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]},
            "InstanceGroups": [
                {
                    "InstanceGroupName": "cpu",
                    "InstanceType": "ml.m5.xlarge",
                    "InstanceCount": 1,
                    "ExecutionRole": f"arn:aws:iam::{ACCOUNT}:role/r",
                    "LifeCycleConfig": {"SourceS3Uri": "s3://b/p/", "OnCreate": "on_create.sh"},
                }
            ],
        },
    }


CHART = {
    "Type": "Custom::HyperPodHelmDependencies",
    "Properties": {"ServiceToken": f"arn:aws:lambda:us-west-2:{ACCOUNT}:function:f"},
}
UNNAMED_CHART = {
    "Type": "Custom::AWSCDK-EKS-HelmChart",
    "Properties": {"ServiceToken": "arn:aws:lambda:us-west-2:1:function:k", "Release": "deps", "Chart": "deps"},
}


def _nested_stack(depends_on: list[str] | None) -> dict[str, Any]:
    url = {
        "Fn::Join": [
            "",
            [
                "https://s3.us-west-2.",
                {"Ref": "AWS::URLSuffix"},
                f"/cdk-hnb659fds-assets-{ACCOUNT}-us-west-2/{HASH}.json",
            ],
        ]
    }
    body: dict[str, Any] = {
        "Type": "AWS::CloudFormation::Stack",
        "Properties": {"TemplateURL": url},
        "Metadata": {"aws:asset:path": NESTED_FILE},
    }
    if depends_on:
        body["DependsOn"] = depends_on
    return body


def _parent_and_nested(
    folder: Path, parent: dict[str, Any], nested: dict[str, Any], depends_on: list[str] | None
) -> Path:
    """The reviewer's cdk.out: Parent.template.json with the nested stack resource ``Nested``, its template next
    to it, the asset manifest and manifest.json as ``cdk synth`` writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    resources = {**parent, "Nested": _nested_stack(depends_on)}
    (folder / "Parent.template.json").write_text(json.dumps({"Resources": resources}))
    (folder / NESTED_FILE).write_text(json.dumps({"Resources": nested}))
    files = {HASH: {"source": {"path": NESTED_FILE, "packaging": "file"}, "destinations": {}}}
    (folder / "Parent.assets.json").write_text(json.dumps({"version": "36.0.0", "files": files}))
    artifacts = {
        "Parent.assets": {"type": "cdk:asset-manifest", "properties": {"file": "Parent.assets.json"}},
        "Parent": {
            "type": "aws:cloudformation:stack",
            "environment": ENV,
            "properties": {"templateFile": "Parent.template.json"},
            "dependencies": ["Parent.assets"],
        },
    }
    (folder / "manifest.json").write_text(json.dumps({"version": "36.0.0", "artifacts": artifacts}))
    return folder


def _two_stacks(folder: Path, depends: bool, chart: dict[str, Any] = CHART) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Eks.template.json").write_text(json.dumps({"Resources": {"Chart": chart}}))
    (folder / "Hp.template.json").write_text(json.dumps({"Resources": {"HP": _cluster()}}))
    artifacts = {
        "Eks": {
            "type": "aws:cloudformation:stack",
            "environment": ENV,
            "properties": {"templateFile": "Eks.template.json"},
        },
        "Hp": {
            "type": "aws:cloudformation:stack",
            "environment": ENV,
            "properties": {"templateFile": "Hp.template.json"},
            "dependencies": ["Eks"] if depends else [],
        },
    }
    (folder / "manifest.json").write_text(json.dumps({"version": "36.0.0", "artifacts": artifacts}))
    return folder


def _lint(folder: Path) -> list[Finding]:
    """HELM1 as `hyperpod-cdk lint cdk.out` reads the folder (open world: not-checked lines kept)."""
    loaded = load_cdk_out(folder, region="us-west-2")
    return [f for f in check(loaded.templates, include_not_checked=True) if f.rule_id == HELM1]


# --------------------------------------------------------------------------- the reviewer's five layouts


def test_chart_and_cluster_in_one_template_keep_their_message(tmp_path: Path) -> None:
    (finding,) = _lint(_parent_and_nested(tmp_path, {"Chart": CHART, "HP": _cluster()}, SNS, None))
    assert finding.severity is None and finding.locations == ("DependsOn",)
    assert finding.detail.startswith("the cluster does not depend on the HyperPod Helm chart (Chart); HyperPod can")


SNS = {"T": {"Type": "AWS::SNS::Topic"}}


def test_chart_in_parent_cluster_in_a_nested_stack_not_depending_on_it_is_an_error(tmp_path: Path) -> None:
    """Before: no HELM1 line, exit 0."""
    (finding,) = _lint(_parent_and_nested(tmp_path, {"Chart": CHART}, {"HP": _cluster()}, None))
    assert finding.severity is None and finding.logical_id == "HP"
    assert Path(finding.template_path).name == NESTED_FILE
    assert finding.detail.startswith(
        "the nested stack Nested that deploys the cluster (in Parent.template.json) does not depend on the "
        "HyperPod Helm chart (Chart) there"
    )


def test_chart_in_parent_cluster_in_a_nested_stack_depending_on_it_passes(tmp_path: Path) -> None:
    assert not _lint(_parent_and_nested(tmp_path, {"Chart": CHART}, {"HP": _cluster()}, ["Chart"]))


def test_a_dependency_through_another_resource_of_the_parent_counts(tmp_path: Path) -> None:
    parent = {"Chart": CHART, "Wait": {"Type": "AWS::CloudFormation::WaitConditionHandle", "DependsOn": "Chart"}}
    assert not _lint(_parent_and_nested(tmp_path, parent, {"HP": _cluster()}, ["Wait"]))


def test_cluster_in_parent_chart_in_a_nested_stack_is_still_an_error(tmp_path: Path) -> None:
    (finding,) = _lint(_parent_and_nested(tmp_path, {"HP": _cluster()}, {"Chart": CHART}, None))
    assert finding.detail.startswith("the cluster does not depend on the HyperPod Helm chart (Nested)")


def test_chart_in_another_stack_without_a_stack_dependency_is_not_checked(tmp_path: Path) -> None:
    """Before: no HELM1 line, exit 0. Now a not-checked line naming the chart's template."""
    (finding,) = _lint(_two_stacks(tmp_path, depends=False))
    assert finding.severity == NOT_CHECKED and Path(finding.template_path).name == "Hp.template.json"
    assert "the HyperPod Helm chart (Chart) is in another stack's template (Eks.template.json)" in finding.detail
    assert "cluster_stack.add_dependency(chart_stack)" in finding.detail


def test_chart_in_another_stack_with_a_manifest_dependency_passes(tmp_path: Path) -> None:
    assert not _lint(_two_stacks(tmp_path, depends=True))


def test_a_stack_dependency_through_a_third_stack_counts(tmp_path: Path) -> None:
    folder = _two_stacks(tmp_path, depends=False)
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "Mid.template.json").write_text(json.dumps({"Resources": SNS}))
    manifest["artifacts"]["Mid"] = {
        "type": "aws:cloudformation:stack",
        "properties": {"templateFile": "Mid.template.json"},
        "dependencies": ["Eks"],
    }
    manifest["artifacts"]["Hp"]["dependencies"] = ["Mid"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert not _lint(folder)


def test_the_plugin_fails_on_a_chart_in_another_stack_without_a_dependency(tmp_path: Path) -> None:
    """check_files (the plugin's closed world): the not-checked line is an error finding."""
    folder = _two_stacks(tmp_path / "no", depends=False)
    paths = [folder / "Eks.template.json", folder / "Hp.template.json"]
    found = [f for f in check_files(paths, kinds=["deploy"]) if f.rule_id == HELM1]
    assert [(f.logical_id, f.severity) for f in found] == [("HP", None)]
    folder = _two_stacks(tmp_path / "yes", depends=True)
    paths = [folder / "Eks.template.json", folder / "Hp.template.json"]
    assert not [f for f in check_files(paths, kinds=["deploy"]) if f.rule_id == HELM1]


def test_an_unnamed_chart_in_the_parent_is_not_checked_for_the_nested_stack(tmp_path: Path) -> None:
    """A chart the definition does not name, in the parent: as in one template, 'maybe the chart'."""
    (finding,) = _lint(_parent_and_nested(tmp_path, {"Deps": UNNAMED_CHART}, {"HP": _cluster()}, None))
    assert finding.severity == NOT_CHECKED
    assert "if it does, the nested stack Nested that deploys the cluster" in finding.detail
    assert not _lint(_parent_and_nested(tmp_path / "fixed", {"Deps": UNNAMED_CHART}, {"HP": _cluster()}, ["Deps"]))


def test_a_nested_template_read_by_the_loader_is_not_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The nested template `lint cdk.out` read (Templates.nested_in) decides what its stack resource holds:
    HELM1 does not open it (or the asset manifest) again."""

    def refuse(*_: Any) -> None:
        raise AssertionError("HELM1 read a nested template from disk again")

    monkeypatch.setattr(deploy_helm._NestedTemplates, "_load", refuse)
    assert not _lint(_parent_and_nested(tmp_path, {"HP": _cluster()}, SNS, None))  # an SNS stack is not the chart
    (finding,) = _lint(_parent_and_nested(tmp_path / "chart", {"HP": _cluster()}, {"Chart": CHART}, None))
    assert finding.severity is None


# --------------------------------------------------------------------------- bounds


def test_the_stack_chain_is_bounded_and_safe_from_cycles() -> None:
    count = MAX_STACK_HOPS + 10
    templates = Templates({f"t{i}": {"Resources": {}} for i in range(count)})
    templates.nested_in.update({f"t{i}": (f"t{i + 1}", f"S{i}") for i in range(count - 1)})
    assert len(stack_chain(templates, "t0")) == MAX_STACK_HOPS
    templates.nested_in["b"] = ("a", "S")
    templates.nested_in["a"] = ("b", "S")
    assert stack_chain(templates, "a") == [("b", "S")]


def test_a_cycle_of_nested_templates_is_checked_without_looping() -> None:
    a = {"Resources": {"HP": _cluster(), "ToB": {"Type": "AWS::CloudFormation::Stack", "Properties": {}}}}
    b = {"Resources": {"Chart": CHART, "ToA": {"Type": "AWS::CloudFormation::Stack", "Properties": {}}}}
    templates = Templates({"a": a, "b": b}, closed_world=False)
    templates.nested_in.update({"a": ("b", "ToA"), "b": ("a", "ToB")})
    found = [f for f in check(templates, include_not_checked=True) if f.rule_id == HELM1]
    assert [f.logical_id for f in found] == ["HP"]


def test_the_manifest_walk_is_bounded(tmp_path: Path) -> None:
    """A manifest of 600 stacks each depending on every other (within the 8 MiB file cap): asked from every
    stack, the walks stop at the shared budget, in bounded time; past it, no order is assumed."""
    count = 600
    names = [f"S{i}" for i in range(count)]
    artifacts = {
        n: {
            "type": "aws:cloudformation:stack",
            "properties": {"templateFile": f"{n}.template.json"},
            "dependencies": names,
        }
        for n in names
    }
    (tmp_path / "manifest.json").write_text(json.dumps({"artifacts": artifacts}))
    order = StackOrder()
    path = [str(tmp_path / f"{n}.template.json") for n in names]
    assert order.after(path[0], path[1])
    start = time.perf_counter()
    answers = [order.after(path[i], path[0]) for i in range(1, count)]
    assert time.perf_counter() - start < 10
    assert order.work_left <= 0 and not answers[-1]


# --------------------------------------------------------------------------- real synths with the plugin


def _hyperpod(scope: Any, eks_arn: str) -> sm.CfnCluster:
    sg = ec2.CfnSecurityGroup(scope, "NodeSg", group_description="hp", vpc_id="vpc-1")
    for name, kind in (("SelfIn", ec2.CfnSecurityGroupIngress), ("SelfOut", ec2.CfnSecurityGroupEgress)):
        peer = {"source_security_group_id" if name == "SelfIn" else "destination_security_group_id": sg.attr_group_id}
        kind(scope, name, group_id=sg.attr_group_id, ip_protocol="-1", **peer)
    lifecycle = sm.CfnCluster.ClusterLifeCycleConfigProperty(source_s3_uri="s3://b/p/", on_create="on_create.sh")
    return sm.CfnCluster(
        scope,
        "HP",
        cluster_name="hp",
        node_recovery="Automatic",
        orchestrator=sm.CfnCluster.OrchestratorProperty(
            eks=sm.CfnCluster.ClusterOrchestratorEksConfigProperty(cluster_arn=eks_arn)
        ),
        vpc_config=sm.CfnCluster.VpcConfigProperty(security_group_ids=[sg.attr_group_id], subnets=["subnet-1"]),
        instance_groups=[
            sm.CfnCluster.ClusterInstanceGroupProperty(
                instance_group_name="sys",
                instance_type="ml.m5.xlarge",
                instance_count=1,
                execution_role=f"arn:aws:iam::{ACCOUNT}:role/exec",
                life_cycle_config=lifecycle,
            )
        ],
    )


def _eks_and_chart(scope: Any) -> tuple[eks.CfnCluster, cdk.CfnResource]:
    control_plane = eks.CfnCluster(
        scope,
        "Eks",
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/eks",
        version="1.35",
        resources_vpc_config=eks.CfnCluster.ResourcesVpcConfigProperty(
            subnet_ids=["subnet-1"], endpoint_public_access=False, endpoint_private_access=True
        ),
        access_config=eks.CfnCluster.AccessConfigProperty(authentication_mode="API"),
    )
    chart = cdk.CfnResource(
        scope,
        "HyperPodChart",
        type="Custom::HyperPodHelmDependencies",
        properties={"ServiceToken": f"arn:aws:lambda:us-west-2:{ACCOUNT}:function:helm", "Cluster": control_plane.ref},
    )
    return control_plane, chart


def _synth_helm1(outdir: Path, layout: str, fixed: bool) -> list[str]:
    """Synthesize with HyperPodChecks(kinds=["deploy"]); the HELM1 violations' construct paths ([] if synth passed)."""
    app = cdk.App(outdir=str(outdir))
    env = cdk.Environment(account=ACCOUNT, region="us-west-2")
    parent = cdk.Stack(app, "Parent", env=env)
    control_plane, chart = _eks_and_chart(parent)
    if layout == "nested":
        nested = cdk.NestedStack(parent, "Training")
        _hyperpod(nested, control_plane.attr_arn)
        if fixed:
            nested.node.add_dependency(chart)
    else:
        other = cdk.Stack(app, "Training", env=env)
        _hyperpod(other, f"arn:aws:eks:us-west-2:{ACCOUNT}:cluster/e")
        if fixed:
            other.add_stack_dependency(parent)
    cdk.Validations.of(app).add_plugins(HyperPodChecks(kinds=["deploy"]))
    try:
        app.synth()
    except RuntimeError as exc:
        assert "ValidationFailed" in str(exc)
    report = json.loads((outdir / "validation-report.json").read_text())
    ours = next((p for p in report["pluginReports"] if p["pluginName"] == "HyperPodChecks"), {})
    return [
        c["constructPath"]
        for v in ours.get("violations") or []
        if v["ruleName"] == HELM1
        for c in v["violatingConstructs"]
    ] + [f"other:{v['ruleName']}" for v in ours.get("violations") or [] if v["ruleName"] != HELM1]


@pytest.mark.parametrize("layout", ["nested", "stacks"])
def test_a_cdk_app_with_the_chart_outside_the_clusters_stack_fails_synth_until_ordered(
    tmp_path: Path, layout: str
) -> None:
    """Chart in the parent, cluster in a NestedStack (or in another top-level stack): synth fails on HELM1;
    ``nested.node.add_dependency(chart)`` (or ``stack.add_dependency(parent)``) makes it pass."""
    where = "Parent/Training/HP" if layout == "nested" else "Training/HP"
    assert _synth_helm1(tmp_path / "bad", layout, fixed=False) == [where]
    assert _synth_helm1(tmp_path / "good", layout, fixed=True) == []
