"""R23T-L3: an UpdateCluster request lists only what changes. One that leaves out ``NodeProvisioningMode``,
``NodeRecovery`` or ``ClusterRole`` keeps the cluster's current value, which the request does not say: KMS1 and
KAR1 judged it as CreateCluster's default (false errors). Now each is a not-checked line naming the request."""

from __future__ import annotations

from typing import Any

from hyperpod_cdk.rules.catalog import check
from hyperpod_cdk.rules.inputs import CREATE_CLUSTER, UPDATE_CLUSTER, load_data
from hyperpod_cdk.rules.model import NOT_CHECKED

KEPT = "is not in this UpdateCluster request (the cluster keeps its current value)"


def _group(**extra: Any) -> dict[str, Any]:
    return {
        "InstanceGroupName": "gpu",
        "InstanceType": "ml.g5.8xlarge",
        "InstanceCount": 2,
        "ExecutionRole": "arn:aws:iam::111111111111:role/x",
        "OnStartDeepHealthChecks": ["InstanceStress"],
        **extra,
    }


def _lines(request: dict[str, Any], kind: str) -> list[tuple[str, str | None, str]]:
    lint_input = load_data(request, "request.json", region="us-west-2")
    assert lint_input.kind == kind
    found = check(lint_input.templates, kinds=("deploy",), include_not_checked=True)
    return sorted(
        ((f.rule_id, f.severity, f.detail) for f in found if f.rule_id in ("HyperPod-KMS1", "HyperPod-KAR1")),
        key=lambda line: (line[0], line[2]),
    )


def test_an_update_request_without_the_mode_does_not_fail_kms1() -> None:
    key = {"InstanceStorageConfigs": [{"EbsVolumeConfig": {"VolumeSizeInGB": 500, "VolumeKmsKeyId": "alias/k"}}]}
    request = {"ClusterName": "c", "InstanceGroups": [_group(**key)]}
    assert _lines(request, UPDATE_CLUSTER) == [
        ("HyperPod-KMS1", NOT_CHECKED, f"NodeProvisioningMode {KEPT}; group 'gpu' has a VolumeKmsKeyId")
    ]
    # Named in the request, it is judged; and a CreateCluster request without it is still an error.
    assert [s for _, s, _ in _lines({**request, "NodeProvisioningMode": "Continuous"}, UPDATE_CLUSTER)] == []
    create = {**request, "Orchestrator": {"Eks": {"ClusterArn": "arn:aws:eks:us-west-2:111111111111:cluster/e"}}}
    create["VpcConfig"] = {"SecurityGroupIds": ["sg-0123456789abcdef0"], "Subnets": ["subnet-1"]}
    assert [s for _, s, _ in _lines(create, CREATE_CLUSTER)] == [None]


def test_an_update_request_that_enables_autoscaling_is_not_judged_by_create_defaults() -> None:
    request = {"ClusterName": "c", "AutoScaling": {"Mode": "Enable"}, "InstanceGroups": [_group()]}
    found = _lines(request, UPDATE_CLUSTER)
    assert [(rule, severity) for rule, severity, _ in found] == [("HyperPod-KAR1", NOT_CHECKED)] * 2
    assert all(KEPT in detail for _, _, detail in found), found
    request["NodeRecovery"] = "None"  # named: judged
    assert ("HyperPod-KAR1", None, "Karpenter autoscaling needs NodeRecovery: Automatic") in _lines(
        request, UPDATE_CLUSTER
    )
