"""R23T-L2: HyperPod's "for cluster usage" quotas are per account and region, so the clusters of one region
share them. QUOTA1 counted each cluster alone: two clusters of 3 x ml.p5.48xlarge passed a quota of 4."""

from __future__ import annotations

from typing import Any

from hyperpod_cdk.rules import Templates, check

P5 = "ml.p5.48xlarge"
ROLE = "arn:aws:iam::111111111111:role/exec"


def _cluster(count: int) -> dict[str, Any]:
    group = {"InstanceGroupName": "gpu", "InstanceType": P5, "InstanceCount": count, "ExecutionRole": ROLE}
    return {"Type": "AWS::SageMaker::Cluster", "Properties": {"InstanceGroups": [group]}}


def _quota_findings(templates: dict[str, dict[str, Any]], regions: dict[str, str], quota: int) -> list[str]:
    first = next(iter(templates))
    templates[first]["Resources"]["Quota"] = {
        "Type": "HyperPod::Live::Quota",
        "Properties": {"InstanceType": P5, "Value": quota},
    }
    loaded = Templates(templates, regions=regions, closed_world=False)
    loaded.live.add((first, "Quota"))
    return sorted(f"{f.logical_id}: {f.detail}" for f in check(loaded) if f.rule_id == "HyperPod-QUOTA1")


def test_clusters_of_one_region_share_the_quota() -> None:
    found = _quota_findings({"t": {"Resources": {"A": _cluster(3), "B": _cluster(3)}}}, {"t": "us-west-2"}, 4)
    assert found == [
        f"A: 3 x {P5} (6 with the region's other clusters in this definition) but the account's "
        f"'{P5} for cluster usage' quota is 4",
        f"B: 3 x {P5} (6 with the region's other clusters in this definition) but the account's "
        f"'{P5} for cluster usage' quota is 4",
    ]


def test_within_the_quota_together_or_in_other_regions_is_no_finding() -> None:
    assert _quota_findings({"t": {"Resources": {"A": _cluster(2), "B": _cluster(2)}}}, {"t": "us-west-2"}, 4) == []
    apart = {"t": {"Resources": {"A": _cluster(3)}}, "u": {"Resources": {"B": _cluster(3)}}}
    # The quota was read for t's region only: u's cluster in us-east-1 is not counted against it.
    assert _quota_findings(apart, {"t": "us-west-2", "u": "us-east-1"}, 4) == []


def test_one_cluster_over_the_quota_says_so_alone() -> None:
    found = _quota_findings({"t": {"Resources": {"A": _cluster(5)}}}, {"t": "us-west-2"}, 4)
    assert found == [f"A: 5 x {P5} but the account's '{P5} for cluster usage' quota is 4"]
