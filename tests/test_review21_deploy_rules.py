"""Review round 21 (tools): IP1 checks overlapping subnet sets together (R21T-M1; since round 22 with one flow
per pool), and HELM1 counts as "maybe the HyperPod chart" only what could be it (R21T-L1)."""

from __future__ import annotations

import importlib.util
import json
import time
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

IP1 = "HyperPod-IP1"


def lint(template: dict[str, Any]) -> list[Finding]:
    loaded = from_cloudformation(template, "t.yaml", region="us-west-2")
    return [f for f in check(loaded.templates, kinds=("deploy",), include_not_checked=True) if f.rule_id == IP1]


# The instance group of the round-20 cases (ml.g5.8xlarge: 30 IPs a node on EKS), one definition for both.
_round20_spec = importlib.util.spec_from_file_location(
    "review20_deploy_rules", Path(__file__).with_name("test_review20_deploy_rules.py")
)
assert _round20_spec and _round20_spec.loader
_round20 = importlib.util.module_from_spec(_round20_spec)
_round20_spec.loader.exec_module(_round20)
group = _round20.group


def cross(*groups: dict[str, Any], default: tuple[str, ...] = ("S1", "S2", "S3", "S4")) -> dict[str, Any]:
    """The reviewer's ip1/cross.yaml: S1-S3 /24 (251 usable each), S4 /23."""
    cidrs = {"S1": "10.0.0.0/24", "S2": "10.0.1.0/24", "S3": "10.0.2.0/24", "S4": "10.0.4.0/23"}
    subnets = {
        name: {"Type": "AWS::EC2::Subnet", "Properties": {"VpcId": "vpc-1", "CidrBlock": cidr}}
        for name, cidr in cidrs.items()
    }
    cluster = {
        "Type": "AWS::SageMaker::Cluster",
        "Properties": {
            "ClusterName": "hp",
            "NodeRecovery": "Automatic",
            "Orchestrator": {"Eks": {"ClusterArn": "arn:aws:eks:us-west-2:111111111111:cluster/x"}},
            "VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": [{"Ref": s} for s in default]},
            "InstanceGroups": list(groups),
        },
    }
    return {"Resources": {**subnets, "HP": cluster}}


def test_ip1_two_overlapping_sets_are_checked_together_beside_a_wider_group() -> None:
    """'a' 13 on S1+S2 and 'b' 13 on S2+S3 need 780 of the 753 addresses of S1-S3; a 1-node group on the
    cluster's S1-S4 made the pool 1,263 addresses (before: no IP1 finding at all, exit 0)."""
    (finding,) = lint(cross(group("a", 13, ["S1", "S2"]), group("b", 13, ["S2", "S3"]), group("c", 1)))
    assert finding.severity is None  # an error
    assert finding.detail.startswith(
        "subnets 10.0.0.0/24, 10.0.1.0/24, 10.0.2.0/24 have 753 usable addresses but the groups need 780 "
        "('a' 13 x ml.g5.8xlarge x 30 IPs, 'b' 13 x ml.g5.8xlarge x 30 IPs)"
    )


def test_ip1_the_same_error_when_the_pool_is_exactly_the_two_sets() -> None:
    (finding,) = lint(cross(group("a", 13, ["S1", "S2"]), group("b", 13, ["S2", "S3"]), default=("S1", "S2", "S3")))
    assert finding.severity is None and "have 753 usable addresses but the groups need 780" in finding.detail


def test_ip1_overlapping_sets_that_fit_are_no_error() -> None:
    """'a' 6 and 'b' 6 (360 of 753) with 'c' on S1-S4: fits with headroom."""
    assert not lint(cross(group("a", 6, ["S1", "S2"]), group("b", 6, ["S2", "S3"]), group("c", 1)))


def test_ip1_disjoint_sets_are_not_pooled_into_one_union() -> None:
    """'a' on S1 and 'b' on S3 share no subnet: S1+S3 is not a candidate, each fits on its own (240 of 251
    would warn: 8 nodes; use 6, 180 of 251 with headroom)."""
    found = lint(cross(group("a", 6, ["S1"]), group("b", 6, ["S3"]), group("c", 1)))
    assert not found


def _star_sets(sets: int) -> dict[str, Any]:
    """``sets`` distinct sets [S1, S2], [S1, S3], ...: one pool, every pair overlapping (on S1)."""
    subnets = {
        f"S{i + 1}": {
            "Type": "AWS::EC2::Subnet",
            "Properties": {"VpcId": "vpc-1", "CidrBlock": f"10.{i // 256}.{i % 256}.0/28"},
        }
        for i in range(sets + 1)
    }
    template = cross(*[group(f"g{i}", 1, ["S1", f"S{i + 2}"]) for i in range(sets)], default=("S1",))
    template["Resources"] = {**subnets, "HP": template["Resources"]["HP"]}
    return template


def test_ip1_pairwise_unions_at_the_set_cap_stay_bounded() -> None:
    """At the cap every pair of 200 sets overlaps (19,900 unions): checked in bounded time, no not-checked line."""
    cap = deploy_network.MAX_SUBNET_SETS_PER_POOL
    start = time.perf_counter()
    found = work_limits.rule_findings(_star_sets(cap), IP1)
    elapsed = time.perf_counter() - start
    assert not [f for f in found if f.rule_id == IP1 and f.severity == NOT_CHECKED]
    assert elapsed < 30, elapsed


# --------------------------------------------------------------------------- R21T-L1: HELM1 "maybe the chart"

HELM1 = "HyperPod-HELM1"
ASSET_HASH = "66471a97f7407b25d35f33f571da78a1717a0ec7e74c362196b9ec32502c4bc1"
NESTED_ID = "AlertsNestedStackAlertsNestedStackResource77835435"


def _chart(**props: Any) -> dict[str, Any]:
    base = {"ServiceToken": "arn:aws:lambda:us-west-2:111111111111:function:kubectl", "ClusterName": "x"}
    return {"Type": "Custom::AWSCDK-EKS-HelmChart", "Properties": {**base, **props}}


def _eks_cluster(resources: dict[str, Any], depends_on: list[str] | None = None) -> dict[str, Any]:
    template = cross(group("sys", 1), default=("S1",))
    if depends_on:
        template["Resources"]["HP"]["DependsOn"] = depends_on
    template["Resources"].update(resources)
    return template


def _cdk_out(folder: Path, nested_resources: dict[str, Any] | None, depends_on: list[str] | None = None) -> Path:
    """A cdk.out as CDK writes it: the parent template, the nested one next to it, and the asset manifest
    naming the nested file by the hash in TemplateURL (the reviewer's nest/out-nested)."""
    url = {
        "Fn::Join": [
            "",
            [
                "https://s3.us-west-2.",
                {"Ref": "AWS::URLSuffix"},
                f"/cdk-hnb659fds-assets-1-us-west-2/{ASSET_HASH}.json",
            ],
        ]
    }
    stack = {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": url}}
    folder.mkdir(parents=True, exist_ok=True)
    parent = folder / "S.template.json"
    parent.write_text(json.dumps(_eks_cluster({NESTED_ID: stack}, depends_on)))
    if nested_resources is not None:
        (folder / "SAlerts43011F19.nested.template.json").write_text(json.dumps({"Resources": nested_resources}))
        manifest = {"files": {ASSET_HASH: {"source": {"path": "SAlerts43011F19.nested.template.json"}}}}
        (folder / "S.assets.json").write_text(json.dumps(manifest))
    return parent


def _helm1(path: Path) -> list[Finding]:
    return [f for f in check_files([path], region="us-west-2", kinds=["deploy"]) if f.rule_id == HELM1]


SNS_TOPIC = {"AlertTopic": {"Type": "AWS::SNS::Topic"}}


def test_helm1_a_nested_stack_holding_an_sns_topic_is_not_the_chart(tmp_path: Path) -> None:
    """The reviewer's nest/app.py 'nested' (before: HELM1 'cannot tell whether AlertsNestedStack... installs
    the HyperPod chart', synth failed with the plugin)."""
    assert not _helm1(_cdk_out(tmp_path, SNS_TOPIC))


def test_helm1_a_nested_stack_whose_template_is_not_found_stays_maybe(tmp_path: Path) -> None:
    (finding,) = _helm1(_cdk_out(tmp_path, None))
    assert finding.severity is None and finding.detail.startswith(f"cannot tell whether {NESTED_ID} installs")


def test_helm1_a_nested_stack_holding_an_unnamed_chart_stays_maybe(tmp_path: Path) -> None:
    nested = {"Deps": _chart(Release="deps", ChartAssetURL="s3://b/1.zip")}
    (finding,) = _helm1(_cdk_out(tmp_path, nested))
    assert f"cannot tell whether {NESTED_ID} installs" in finding.detail
    assert not _helm1(_cdk_out(tmp_path / "fixed", nested, [NESTED_ID]))


def test_helm1_a_nested_stack_holding_the_hyperpod_chart_is_the_chart(tmp_path: Path) -> None:
    nested = {"HyperPodDeps": _chart(Chart="hyperpod-dependencies")}
    (finding,) = _helm1(_cdk_out(tmp_path, nested))
    assert finding.severity is None and f"does not depend on the HyperPod Helm chart ({NESTED_ID})" in finding.detail
    assert not _helm1(_cdk_out(tmp_path / "fixed", nested, [NESTED_ID]))


def test_helm1_an_unreadable_nested_template_stays_maybe(tmp_path: Path) -> None:
    path = _cdk_out(tmp_path, SNS_TOPIC)
    (tmp_path / "SAlerts43011F19.nested.template.json").write_text("{not json")
    assert len(_helm1(path)) == 1


def _helm1_open(template: dict[str, Any]) -> list[Finding]:
    """HELM1 as ``hyperpod-cdk lint`` reads a template (open world: not-checked lines kept)."""
    loaded = from_cloudformation(template, "t.yaml", region="us-west-2")
    return [f for f in check(loaded.templates, include_not_checked=True) if f.rule_id == HELM1]


@pytest.mark.parametrize("chart", ["aws-efs-csi-driver", "oci://public.ecr.aws/x/aws-fsx-csi-driver", "keda"])
def test_helm1_a_chart_clearly_of_something_else_is_not_the_chart(chart: str) -> None:
    """The reviewer's nest/otherchart with aws-efs-csi-driver (before: 'cannot tell whether OtherChart ...')."""
    assert not _helm1_open(_eks_cluster({"OtherChart": _chart(Chart=chart)}))


def test_helm1_an_unknown_chart_name_stays_maybe() -> None:
    """R20T-H2 stays fixed: a name no rule knows may be the chart."""
    found = _helm1_open(_eks_cluster({"DepsChart": _chart(Chart="training-deps")}))
    assert [f.severity for f in found] == [NOT_CHECKED]


def _charts(count: int) -> dict[str, Any]:
    return {f"Chart{i}": _chart(Release=f"r{i}", ChartAssetURL=f"s3://b/{i}.zip") for i in range(count)}


def test_helm1_past_the_cap_a_cluster_depending_on_every_maybe_chart_passes() -> None:
    """The reviewer's nest/ninecharts (before: 'cannot tell which of 9 Helm charts ...', though the cluster
    depends on all nine)."""
    count = MAX_MAYBE_CHARTS + 1
    names = [f"Chart{i}" for i in range(count)]
    assert not _helm1_open(_eks_cluster(_charts(count), names))
    (finding,) = _helm1_open(_eks_cluster(_charts(count), names[:-1]))
    assert finding.detail.startswith(f"cannot tell which of {count} Helm charts or nested stacks")


def test_helm1_past_the_cap_a_dependency_through_another_resource_counts() -> None:
    """The cluster depends on a wait condition that depends on all nine charts: one walk of its own
    dependencies finds them."""
    count = MAX_MAYBE_CHARTS + 1
    resources = _charts(count)
    resources["AfterCharts"] = {
        "Type": "AWS::CloudFormation::WaitConditionHandle",
        "DependsOn": [f"Chart{i}" for i in range(count)],
    }
    assert not _helm1_open(_eks_cluster(resources, ["AfterCharts"]))


def test_ip1_wide_overlapping_sets_at_the_cap_are_checked_whole_in_bounded_time() -> None:
    """R22T-M3: 200 groups on overlapping windows took 92 s and 1.4 GB with the pair unions of R21T-M1 (and a
    work budget then left pairs unchecked). One flow per pool checks them all (R22T-M2): the star of 200 sets
    at the cap, each group short of its two /28s, is one error on the subnets most short, no not-checked line."""
    found = work_limits.rule_findings(_star_sets(deploy_network.MAX_SUBNET_SETS_PER_POOL), IP1, seconds=30)
    assert [f.severity for f in found if f.rule_id == IP1] == [None]


@pytest.mark.parametrize("shape", ["fifo", "device link", "too large"])
def test_helm1_reads_nested_files_of_a_cdk_out_as_untrusted_input(tmp_path: Path, shape: str) -> None:
    """R22T-M1: an asset manifest that is a FIFO hung lint, one linked to /dev/zero took 1.9 GB, and a nested
    template over the 8 MiB cap was read whole. They are read as the cdk.out's templates are: regular files
    only, without following a link, within the caps; one that cannot be read leaves the stack "maybe"."""
    import os

    from hyperpod_cdk.input_limits import TEMPLATE_LIMITS
    from hyperpod_cdk.rules.inputs import load_cdk_out

    parent = _cdk_out(tmp_path, SNS_TOPIC)
    nested = tmp_path / "SAlerts43011F19.nested.template.json"
    if shape == "fifo":
        (tmp_path / "S.assets.json").unlink()
        os.mkfifo(tmp_path / "S.assets.json")
    elif shape == "device link":
        (tmp_path / "S.assets.json").unlink()
        os.symlink("/dev/zero", tmp_path / "S.assets.json")
    else:
        nested.write_text(json.dumps({"Resources": SNS_TOPIC, "Pad": "x" * (TEMPLATE_LIMITS.max_bytes + 1)}))
    with work_limits.guard(30):
        found = _helm1(parent)
    assert [f.severity for f in found] == [None]  # "maybe the chart", a finding in a CDK app
    if shape != "too large":  # a *.template.json over the cap stops `lint cdk.out` itself, in one line
        with work_limits.guard(30):
            assert load_cdk_out(tmp_path, region="us-west-2").templates is not None
