"""The replacement guard after review round 16 (tools): R16T-M3 and R16T-M4.

Work is measured by counting function calls (or output size) at n and 2n (tests/work_limits.py), never by
wall-clock time.
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path
from typing import Any

from hyperpod_cdk.guard.diff import compare_templates
from hyperpod_cdk.guard.findings import LOGICAL_ID_PROPERTY

# Loaded by path (tests use --import-mode=importlib), like tests/test_guard_limits.py.
_spec = importlib.util.spec_from_file_location("work_limits", Path(__file__).with_name("work_limits.py"))
assert _spec and _spec.loader
work_limits = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(work_limits)
calls = work_limits.calls


# ------------------------------------------------------------------ R16T-M3: a removed ID's candidates


def _buckets(prefix: str, count: int) -> dict[str, Any]:
    return {"Resources": {f"{prefix}{i:05d}": {"Type": "AWS::S3::Bucket"} for i in range(count)}}


def test_removed_logical_id_names_at_most_five_new_ids_and_the_count() -> None:
    report = compare_templates(_buckets("Old", 3), _buckets("New", 9))
    removed = [f for f in report.findings if f.property == LOGICAL_ID_PROPERTY]
    assert [f.logical_id for f in removed] == ["Old00000", "Old00001", "Old00002"]
    for finding in removed:
        assert finding.effect == "removed"  # the finding and its severity are unchanged
        assert finding.reason.endswith(
            "New AWS::S3::Bucket logical IDs: New00000, New00001, New00002, New00003, New00004 and 4 more."
        )
        assert "New00005" not in finding.reason


def test_removed_logical_id_lists_a_few_new_ids_in_full() -> None:
    report = compare_templates(_buckets("Old", 2), _buckets("New", 3))
    reasons = {f.reason for f in report.findings if f.property == LOGICAL_ID_PROPERTY}
    assert reasons == {
        "The resource is no longer in the template: it is deleted. "
        "New AWS::S3::Bucket logical IDs: New00000, New00001, New00002."
    }


def test_removed_logical_id_reasons_grow_linearly() -> None:
    """G gone and G + 1 new IDs of one type: G reasons each named all G + 1 (quadratic text, 1 GB at 2,000)."""

    def text(count: int) -> tuple[int, int]:
        old, new = _buckets("Old", count), _buckets("New", count + 1)
        report = compare_templates(old, new)
        size = sum(len(f.reason) for f in report.findings)
        return size, calls(lambda: compare_templates(old, new))

    (small_size, small_calls), (large_size, large_calls) = text(300), text(600)
    assert large_size / small_size < 2.2
    assert large_calls / small_calls < 2.5


# ------------------------------------------------------------------ R16T-M4: one memo per comparison


def _clusters(count: int, items: int) -> dict[str, Any]:
    """``count`` clusters whose one group is named ``Fn::GetAtt R.TopicName``; R holds ``items`` strings (the
    reviewer's gname/gen_gname.py)."""
    resources: dict[str, Any] = {
        "R": {"Type": "AWS::SNS::Topic", "Metadata": {"x": [f"item-{i}" for i in range(items)]}, "Properties": {}}
    }
    for i in range(count):
        resources[f"C{i}"] = {
            "Type": "AWS::SageMaker::Cluster",
            "Properties": {
                "InstanceGroups": [
                    {
                        "InstanceGroupName": {"Fn::GetAtt": ["R", "TopicName"]},
                        "InstanceType": "ml.m5.xlarge",
                        "InstanceCount": 1,
                        "ExecutionRole": "arn:aws:iam::123456789012:role/r",
                        "LifeCycleConfig": {"SourceS3Uri": "s3://b/p", "OnCreate": "x.sh"},
                    }
                ]
            },
        }
    return {"Resources": resources}


def test_resource_read_by_unresolved_group_names_is_digested_once_per_comparison() -> None:
    """N clusters reading R of N x 100 items: each cluster digested R again (N^2), now R is digested once."""

    def work(count: int) -> int:
        old = _clusters(count, 100 * count)
        new = copy.deepcopy(old)  # other objects, the same text: nothing changes
        assert compare_templates(old, new).findings == []
        return calls(lambda: compare_templates(old, new))

    with work_limits.guard(120):
        ratio = work(80) / work(40)
    assert ratio < 2.5


def test_changed_resource_read_by_group_names_still_reports_every_cluster() -> None:
    old = _clusters(3, 10)
    new = copy.deepcopy(old)
    new["Resources"]["R"]["Metadata"]["x"][4] = "edited"
    found = compare_templates(old, new).findings
    assert sorted(f.logical_id for f in found) == ["C0", "C1", "C2"]
    assert all("does not resolve from the template" in (f.cause or "") for f in found)
    # Only the resource that was read counts: an edit elsewhere leaves the names matched.
    other = copy.deepcopy(old)
    other["Resources"]["Other"] = {"Type": "AWS::SNS::Topic", "Properties": {}}
    unchanged = copy.deepcopy(other)
    unchanged["Resources"]["Other"]["Properties"] = {"TopicName": "x"}
    assert compare_templates(other, unchanged).findings == []
