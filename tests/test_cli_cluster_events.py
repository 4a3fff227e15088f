"""``diagnose`` reads ListClusterEvents (Continuous clusters) and shows them per group and node.

SageMaker is a botocore Stubber (moto has no ListClusterEvents); CloudWatch Logs is moto.
"""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import ANY
from moto import mock_aws

from hyperpod_cdk.cli import cluster_events
from hyperpod_cdk.cli.main import main

_spec = importlib.util.spec_from_file_location("cli_fixtures_events", Path(__file__).with_name("cli_fixtures.py"))
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)

CLUSTER = "demo"
CLUSTER_ARN = f"arn:aws:sagemaker:{fx.REGION}:{fx.ACCOUNT}:cluster/abcdef123456"
T0 = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch):
    fx.set_fake_aws_env(monkeypatch)
    with mock_aws():
        yield


def event(n: int, level: str, group: str | None, instance: str | None, text: str, kind: str = "Instance") -> dict:
    found: dict[str, Any] = {
        "EventId": f"83ea0bb5-be77-45e8-a458-0a87f778a2{n:02d}",
        "ClusterArn": CLUSTER_ARN,
        "ClusterName": CLUSTER,
        "ResourceType": kind,
        "EventTime": T0 - timedelta(minutes=n),
        "EventLevel": level,
        "Description": text,
    }
    if group:
        found["InstanceGroupName"] = group
    if instance:
        found["InstanceId"] = instance
    return found


def stub_sagemaker(mode: str | None, pages: list[list[dict]] | None = None, deny_events: bool = False) -> Any:
    sm, stub = fx.stubbed("sagemaker")
    described: dict[str, Any] = {
        "ClusterArn": CLUSTER_ARN,
        "ClusterName": CLUSTER,
        "ClusterStatus": "InService",
        "CreationTime": fx.NOW,
        "InstanceGroups": [
            {
                "InstanceGroupName": "gpu",
                "InstanceType": "ml.g5.8xlarge",
                "CurrentCount": 2,
                "TargetCount": 2,
                "ExecutionRole": f"arn:aws:iam::{fx.ACCOUNT}:role/x",
                "ThreadsPerCore": 1,
                "Status": "InService",
            }
        ],
        "NodeRecovery": "Automatic",
    }
    if mode:
        described["NodeProvisioningMode"] = mode
    stub.add_response("describe_cluster", described, {"ClusterName": CLUSTER})
    stub.add_response(
        "list_cluster_nodes", {"ClusterNodeSummaries": []}, {"ClusterName": CLUSTER, "IncludeNodeLogicalIds": True}
    )
    if deny_events:
        fx.deny(stub, "list_cluster_events")
    for index, page in enumerate(pages or []):
        expected = {
            "ClusterName": CLUSTER,
            "EventTimeAfter": ANY,
            "SortBy": "EventTime",
            "SortOrder": "Descending",
            "MaxResults": 100,
        }
        response: dict[str, Any] = {"Events": page}
        if index < len(pages) - 1:
            response["NextToken"] = f"t{index + 1}"
        if index:
            expected["NextToken"] = f"t{index}"
        stub.add_response("list_cluster_events", response, expected)
    return sm


PAGES = [
    [
        event(1, "Error", "gpu", "i-0391f86fa0fe0d465", "Instance i-0391f86fa0fe0d465 failed health checks; replacing"),
        event(2, "Info", "gpu", None, "Scaling instance group gpu from 1 to 2", kind="InstanceGroup"),
    ],
    [
        event(3, "Error", "gpu", "i-0391f86fa0fe0d465", "Instance creation in InstanceGroup gpu failed: capacity"),
        event(4, "Info", None, None, "Cluster demo is InService", kind="Cluster"),
    ],
]


def test_diagnose_json_lists_every_event_page_and_errors_per_node(capsys):
    sm = stub_sagemaker("Continuous", PAGES)
    code = main(["diagnose", CLUSTER, "--json"], clients_factory=fx.factory({"sagemaker": sm}))
    report = json.loads(capsys.readouterr().out)
    events = report["events"]
    assert events["available"] is True and events["more"] is False
    assert [e["description"][:30] for e in events["events"]] == [
        "Instance i-0391f86fa0fe0d465 f",
        "Scaling instance group gpu fro",
        "Instance creation in InstanceG",
        "Cluster demo is InService",
    ]
    assert events["errors_by_node"] == {"gpu/i-0391f86fa0fe0d465": 2}
    assert events["events"][0]["time"].startswith("2026-12-06T02:59")
    assert code == 0  # events are shown, not findings: the cluster is InService


def test_diagnose_table_shows_events_grouped_by_group_and_node(capsys):
    sm = stub_sagemaker("Continuous", PAGES)
    main(["diagnose", CLUSTER], clients_factory=fx.factory({"sagemaker": sm}))
    out = capsys.readouterr().out
    assert "Cluster events (last 24 h)" in out
    assert "(cluster)" in out and "Cluster demo is InService" in out
    assert out.index("(cluster)") < out.index("i-0391f86fa0fe0d465")  # the cluster row, then group gpu
    assert "gpu/i-0391f86fa0fe0d465: 2 error event(s)" in out


def test_not_continuous_says_why_and_does_not_call(capsys):
    sm = stub_sagemaker(None)  # the Stubber fails any unqueued call, so no ListClusterEvents happened
    main(["diagnose", CLUSTER], clients_factory=fx.factory({"sagemaker": sm}))
    out = capsys.readouterr().out
    assert "cluster events need NodeProvisioningMode Continuous" in out


def test_access_denied_is_unchecked_not_a_crash(capsys):
    sm = stub_sagemaker("Continuous", deny_events=True)
    code = main(["diagnose", CLUSTER, "--json"], clients_factory=fx.factory({"sagemaker": sm}))
    report = json.loads(capsys.readouterr().out)
    assert report["events"]["events"] == []
    assert any(
        "ListClusterEvents" in line or "list_cluster_events" in line.lower() or "sagemaker" in line.lower()
        for line in report["unchecked"]
    ), report["unchecked"]
    assert code == 0


def test_paging_stops_after_the_page_limit():
    class Endless:
        calls = 0

        def list_cluster_events(self, **kwargs: Any) -> dict:
            Endless.calls += 1
            return {"Events": [event(1, "Info", None, None, "x", kind="Cluster")], "NextToken": "again"}

    events, more = cluster_events.list_events(Endless(), CLUSTER, now=T0)
    assert more is True and Endless.calls == cluster_events.MAX_PAGES and len(events) == cluster_events.MAX_PAGES
