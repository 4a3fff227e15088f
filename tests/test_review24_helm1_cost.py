"""Review round 24 (R24T-M1): past MAX_MAYBE_CHARTS unnamed charts, HELM1 walked each cluster's dependencies
afresh: 30 clusters sharing one dependency with 1M references took 80 s. Each resource's references are now
walked once per template (which charts it depends on, as bits)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.rules.deploy_helm import MAX_MAYBE_CHARTS, helm_chart_before_cluster
from hyperpod_cdk.rules.model import Templates, as_map

_spec = importlib.util.spec_from_file_location("work_limits", Path(__file__).with_name("work_limits.py"))
assert _spec is not None and _spec.loader is not None
work_limits = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(work_limits)

CHARTS = MAX_MAYBE_CHARTS + 1
EKS = {"Eks": {"ClusterArn": "arn:aws:eks:us-west-2:111122223333:cluster/e"}}


def _template(clusters: int, references: int, depends: list[str] | None = None) -> dict[str, Any]:
    resources: dict[str, Any] = {
        "R1": {"Type": "AWS::SNS::Topic"},
        "R0": {"Type": "AWS::SNS::Topic", "Properties": {"Tags": [{"Ref": "R1"}] * references}},
    }
    for index in range(CHARTS):
        chart = {"ServiceToken": "x", "Chart": f"team-chart-{index}"}
        resources[f"Chart{index}"] = {"Type": "Custom::AWSCDK-EKS-HelmChart", "Properties": chart}
    for index in range(clusters):
        resources[f"HP{index}"] = {
            "Type": "AWS::SageMaker::Cluster",
            "DependsOn": depends or ["R0"],
            "Properties": {"Orchestrator": EKS, "InstanceGroups": []},
        }
    return {"Resources": resources}


def _lines(template: dict[str, Any]) -> list[str]:
    return [f.logical_id for f in helm_chart_before_cluster(Templates({"t": template}, closed_world=False))]


def test_many_clusters_sharing_a_large_dependency_walk_it_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from hyperpod_cdk.rules import deploy_helm

    walked: list[int] = []
    original = deploy_helm._direct_dependencies

    def counting(body: Any, walk: Any) -> set[str]:
        walked.append(len(as_map(body.get("Properties")).get("Tags") or []))
        return original(body, walk)

    monkeypatch.setattr(deploy_helm, "_direct_dependencies", counting)
    template = _template(clusters=60, references=200_000)
    with work_limits.guard(30):
        found = _lines(template)
    assert sorted(found) == sorted(f"HP{i}" for i in range(60))  # each: cannot tell which chart it is
    assert walked.count(200_000) == 1  # R0's 200,000 references: once, not once per cluster


def test_a_cluster_depending_on_every_unnamed_chart_through_another_resource_has_no_line() -> None:
    template = _template(clusters=2, references=10, depends=["Gate"])
    template["Resources"]["Gate"] = {
        "Type": "AWS::CloudFormation::WaitConditionHandle",
        "DependsOn": [f"Chart{i}" for i in range(CHARTS)],
    }
    assert _lines(template) == []
    template["Resources"]["Gate"]["DependsOn"].pop()  # one chart it may come before
    assert sorted(_lines(template)) == ["HP0", "HP1"]
