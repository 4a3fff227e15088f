"""Preflight for issue 11's features: Spot capacity and quotas, Karpenter autoscaling, rollback alarms.

moto answers CloudWatch alarms; Stubber answers EC2 GetSpotPlacementScores, the SageMaker service
quotas and DescribeCluster with autoscaling fields, which moto does not implement.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml
from moto import mock_aws

from hyperpod_cdk.cli import preflight
from hyperpod_cdk.config import PlatformConfig, parse_config

_spec = importlib.util.spec_from_file_location("cli_fixtures_scaling", Path(__file__).with_name("cli_fixtures.py"))
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "eks-scaling.yaml"


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch):
    fx.set_fake_aws_env(monkeypatch)
    with mock_aws():
        yield


def config() -> PlatformConfig:
    return parse_config(yaml.safe_load(EXAMPLE.read_text()))


def context(overrides: dict[str, Any] | None = None) -> preflight.Context:
    return preflight.Context(config=config(), clients=fx.clients(overrides), region=fx.REGION)


def run(ctx: preflight.Context, check: Any, service: str) -> list:
    return preflight.guarded("check", service, ctx, lambda: check(ctx))


def quotas(*entries: tuple[str, float, str]) -> Any:
    client, stub = fx.stubbed("service-quotas")
    stub.add_response(
        "list_service_quotas",
        {
            "Quotas": [
                {"QuotaName": name, "Value": value, "QuotaCode": code, "ServiceCode": "sagemaker"}
                for name, value, code in entries
            ]
        },
        {"ServiceCode": "sagemaker"},
    )
    return client


def spot_scores(*scores: tuple[str, int]) -> Any:
    client, stub = fx.stubbed("ec2")
    stub.add_response(
        "get_spot_placement_scores",
        {
            "SpotPlacementScores": [
                {"Region": fx.REGION, "AvailabilityZoneId": az, "Score": score} for az, score in scores
            ]
        },
        {
            "InstanceTypes": ["g6e.12xlarge", "g6e.24xlarge"],
            "TargetCapacity": 8,
            "TargetCapacityUnitType": "units",
            "SingleAvailabilityZone": True,
            "RegionNames": [fx.REGION],
        },
    )
    return client


def test_plan_runs_the_new_checks_only_when_configured() -> None:
    names = [name for name, _, _ in preflight.plan_checks(context())]
    assert {"spot capacity", "autoscaling", "rollback alarms"} <= set(names)
    default = preflight.Context(config=parse_config(fx.base_config()), clients=fx.clients(), region=fx.REGION)
    assert not {"spot capacity", "autoscaling", "rollback alarms"} & {n for n, _, _ in preflight.plan_checks(default)}


def test_spot_good_score_and_no_spot_quota_pass() -> None:
    ctx = context(
        {
            "service-quotas": quotas(("ml.g6e.12xlarge for cluster usage", 16, "L-1")),
            "ec2": spot_scores(("usw2-az2", 8), ("usw2-az1", 3)),
        }
    )
    rows = run(ctx, preflight.check_spot, "ec2")
    assert [r.status for r in rows] == ["pass", "pass"]
    assert "no Spot-specific quota listed" in rows[0].reason
    assert "score 8 of 10" in rows[1].reason


def test_spot_low_score_warns_and_names_a_better_az() -> None:
    ctx = context({"service-quotas": quotas(), "ec2": spot_scores(("usw2-az2", 2), ("usw2-az1", 9))})
    row = run(ctx, preflight.check_spot, "ec2")[-1]
    assert row.status == "warn" and "score 2 of 10" in row.reason
    assert "availability_zone_id: usw2-az1" in row.fix


def test_spot_specific_quota_too_low_fails() -> None:
    ctx = context(
        {
            "service-quotas": quotas(("ml.g6e.12xlarge for spot cluster usage", 4, "L-SPOT")),
            "ec2": spot_scores(("usw2-az2", 9)),
        }
    )
    row = run(ctx, preflight.check_spot, "ec2")[0]
    assert row.status == "fail" and "may run 8 Spot nodes" in row.reason
    assert "--quota-code L-SPOT --desired-value 8" in row.fix


def test_spot_scores_denied_is_a_warn() -> None:
    client, stub = fx.stubbed("ec2")
    fx.deny(stub, "get_spot_placement_scores", code="UnauthorizedOperation")
    ctx = context({"service-quotas": quotas(), "ec2": client})
    rows = run(ctx, preflight.check_spot, "ec2")
    assert [r.status for r in rows] == ["warn"]


def describe(response: dict[str, Any] | None) -> Any:
    client, stub = fx.stubbed("sagemaker")
    if response is None:
        stub.add_client_error(
            "describe_cluster",
            service_error_code="ResourceNotFound",
            service_message="Cluster hyperpod-scaling not found",
        )
    else:
        base = {
            "ClusterArn": f"arn:aws:sagemaker:{fx.REGION}:{fx.ACCOUNT}:cluster/abc123",
            "ClusterName": "hyperpod-scaling",
            "ClusterStatus": "InService",
            "InstanceGroups": [],
            "VpcConfig": {"SecurityGroupIds": ["sg-12345678"], "Subnets": ["subnet-12345678"]},
        }
        stub.add_response("describe_cluster", {**base, **response}, {"ClusterName": "hyperpod-scaling"})
    return client


def group(name: str, count: int) -> dict[str, Any]:
    return {
        "InstanceGroupName": name,
        "CurrentCount": count,
        "TargetCount": count,
        "InstanceType": "ml.g6e.12xlarge",
        "ExecutionRole": f"arn:aws:iam::{fx.ACCOUNT}:role/x",
        "ThreadsPerCore": 1,
        "LifeCycleConfig": {"SourceS3Uri": "s3://b/p", "OnCreate": "on_create.sh"},
    }


def test_autoscaling_new_cluster_passes() -> None:
    (row,) = run(context({"sagemaker": describe(None)}), preflight.check_autoscaling, "sagemaker")
    assert row.status == "pass" and "spot-g6e, ondemand-g6e" in row.reason


def test_autoscaling_failed_status_fails() -> None:
    auto = {"Mode": "Enable", "AutoScalerType": "Karpenter", "Status": "Failed", "FailureMessage": "role not assumable"}
    ctx = context({"sagemaker": describe({"AutoScaling": auto})})
    (row,) = run(ctx, preflight.check_autoscaling, "sagemaker")
    assert row.status == "fail" and "role not assumable" in row.reason


def test_autoscaling_warns_before_karpenter_empties_busy_groups() -> None:
    ctx = context({"sagemaker": describe({"InstanceGroups": [group("spot-g6e", 3), group("ondemand-g6e", 0)]})})
    (row,) = run(ctx, preflight.check_autoscaling, "sagemaker")
    assert row.status == "warn" and "spot-g6e (3 nodes)" in row.reason and "ondemand" not in row.reason


def test_autoscaling_enabled_names_the_role() -> None:
    role = f"arn:aws:iam::{fx.ACCOUNT}:role/karpenter"
    ctx = context(
        {"sagemaker": describe({"AutoScaling": {"Mode": "Enable", "Status": "InService"}, "ClusterRole": role})}
    )
    (row,) = run(ctx, preflight.check_autoscaling, "sagemaker")
    assert row.status == "pass" and role in row.reason


def _alarm(name: str) -> None:
    fx.session().client("cloudwatch").put_metric_alarm(
        AlarmName=name,
        MetricName="cluster_failed_node_count",
        Namespace="ContainerInsights",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=5,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
    )


def test_missing_rollback_alarm_fails() -> None:
    (row,) = run(context(), preflight.check_rollback_alarms, "cloudwatch")
    assert row.status == "fail" and "hyperpod-scaling-train-unhealthy" in row.reason and "train" in row.reason


def test_existing_rollback_alarm_passes() -> None:
    _alarm("hyperpod-scaling-train-unhealthy")
    (row,) = run(context(), preflight.check_rollback_alarms, "cloudwatch")
    assert row.status == "pass"


def test_alarm_already_firing_warns() -> None:
    _alarm("hyperpod-scaling-train-unhealthy")
    fx.session().client("cloudwatch").set_alarm_state(
        AlarmName="hyperpod-scaling-train-unhealthy", StateValue="ALARM", StateReason="test"
    )
    (row,) = run(context(), preflight.check_rollback_alarms, "cloudwatch")
    assert row.status == "warn" and "roll back at once" in row.reason
