"""Review round 17 (tools, L2): a keyed item's label is cut, with a digest, when its name is long, so the labels
under it stay short (a 60,000-character group name over 20,000 storage configs built 2.4 GB of labels)."""

from __future__ import annotations

import copy
from typing import Any

from hyperpod_cdk.guard.diff import compare_templates
from hyperpod_cdk.guard.values import ITEM_LABEL_WIDTH, extract, item_label


def _cluster(name: str, storage_configs: int = 1, instance_type: str = "ml.m5.xlarge") -> dict[str, Any]:
    group = {
        "InstanceGroupName": name,
        "InstanceType": instance_type,
        "InstanceCount": 1,
        "ExecutionRole": "arn:aws:iam::111122223333:role/r",
        "LifeCycleConfig": {"SourceS3Uri": "s3://b/p", "OnCreate": "a.sh"},
        "InstanceStorageConfigs": [{"EbsVolumeConfig": {"VolumeSizeInGB": 1}}] * storage_configs,
    }
    return {"Resources": {"C": {"Type": "AWS::SageMaker::Cluster", "Properties": {"InstanceGroups": [group]}}}}


def test_a_long_item_name_is_cut_with_a_digest_and_a_short_one_is_kept() -> None:
    assert item_label("gpu") == "gpu"
    long_a, long_b = "g" * 200 + "a", "g" * 200 + "b"
    assert len(item_label(long_a)) < ITEM_LABEL_WIDTH + 40
    assert item_label(long_a) != item_label(long_b)  # same start, different names: different labels
    assert item_label(long_a) == item_label("g" * 200 + "a")


def test_labels_under_a_long_named_item_do_not_repeat_its_name() -> None:
    properties = _cluster("g" * 60_000, storage_configs=2_000)["Resources"]["C"]["Properties"]
    values, _, _ = extract("AWS::SageMaker::Cluster", properties, "InstanceGroups[*].InstanceStorageConfigs[*]")
    assert len(values) == 2_000
    assert sum(map(len, values)) < 2_000 * 200  # was 2,000 x 60,000 characters


def test_a_change_under_a_long_named_item_is_still_reported() -> None:
    old = _cluster("g" * 5_000)
    new = copy.deepcopy(old)
    new["Resources"]["C"]["Properties"]["InstanceGroups"][0]["InstanceType"] = "ml.p5.48xlarge"
    findings = compare_templates(old, new).findings
    assert [f.property for f in findings if "InstanceType" in f.property] == [
        f"InstanceGroups[{item_label('g' * 5_000)}].InstanceType"
    ]
