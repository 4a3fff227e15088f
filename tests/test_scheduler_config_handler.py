"""The scheduler-config custom resource handler against a fake SageMaker client (no AWS, no jsii)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

HANDLER = Path(__file__).resolve().parents[1] / "constructs/hyperpod_cdk/cluster/handlers/scheduler_config/index.py"
_spec = importlib.util.spec_from_file_location("scheduler_config_handler", HANDLER)
handler = sys.modules.setdefault("scheduler_config_handler", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(handler)

CLUSTER = "arn:aws:sagemaker:us-west-2:123456789012:cluster/abcdef123456"
PROPS = {
    "Name": "demo-scheduler",
    "ClusterArn": CLUSTER,
    "Description": "policy",
    # CloudFormation passes every scalar of a custom resource as a string.
    "SchedulerConfig": {
        "FairShare": "Enabled",
        "IdleResourceSharing": "Disabled",
        "PriorityClasses": [{"Name": "training", "Weight": "60"}],
    },
}


class NotFoundError(Exception):
    def __init__(self) -> None:
        super().__init__("ResourceNotFound")
        self.response = {"Error": {"Code": "ResourceNotFound"}}


OWNER = "demo-platform/c8aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
SPEC = handler.Spec(PROPS, OWNER)
ARN = "arn:aws:sagemaker:us-west-2:123456789012:cluster-scheduler-config/abc123abc123"


class FakeSageMaker:
    """Statuses advance one step per describe call, like SageMaker's asynchronous policy."""

    def __init__(
        self,
        *,
        final: str = "Created",
        owner: str | None = OWNER,
        cluster: str = CLUSTER,
        existing: list[dict] | None = None,
    ) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.statuses: list[str] = []
        self.final = final
        self.version = 1
        self.deleted = False
        self.owner = owner
        self.cluster = cluster
        self.existing = existing or []

    def list_tags(self, **kwargs: Any) -> dict:
        self.calls.append(("list_tags", kwargs))
        return {"Tags": [] if self.owner is None else [{"Key": "hyperpod-cdk:owner", "Value": self.owner}]}

    def list_cluster_scheduler_configs(self, **kwargs: Any) -> dict:
        self.calls.append(("list", kwargs))
        return {"ClusterSchedulerConfigSummaries": self.existing}

    def create_cluster_scheduler_config(self, **kwargs: Any) -> dict:
        self.calls.append(("create", kwargs))
        self.statuses = ["Creating", self.final]
        return {
            "ClusterSchedulerConfigArn": "arn:aws:sagemaker:us-west-2:123456789012:cluster-scheduler-config/"
            "abc123abc123",
            "ClusterSchedulerConfigId": "abc123abc123",
        }

    def update_cluster_scheduler_config(self, **kwargs: Any) -> dict:
        self.calls.append(("update", kwargs))
        self.statuses = ["Updating", "Updated"]
        return {}

    def delete_cluster_scheduler_config(self, **kwargs: Any) -> dict:
        self.calls.append(("delete", kwargs))
        self.statuses = ["Deleting"]
        self.deleted = True
        return {}

    def describe_cluster_scheduler_config(self, **kwargs: Any) -> dict:
        self.calls.append(("describe", kwargs))
        if self.deleted and not self.statuses:
            raise NotFoundError()
        status = self.statuses.pop(0) if self.statuses else "Created"
        return {
            "Status": status,
            "ClusterSchedulerConfigVersion": self.version,
            "FailureReason": "quota clash",
            "ClusterArn": self.cluster,
            "ClusterSchedulerConfigArn": ARN,
        }


class Context:
    def get_remaining_time_in_millis(self) -> int:
        return 600_000


def run(event: dict, client: FakeSageMaker, spec: Any = SPEC) -> tuple[str, dict]:
    return handler.process(event, client, handler.Deadline(Context()), sleep=lambda _s: None, spec=spec)


def kinds(client: FakeSageMaker) -> list[str]:
    return [k for k, _ in client.calls]


def test_create_sends_the_api_shape_and_waits_for_created() -> None:
    client = FakeSageMaker()
    physical, data = run({"RequestType": "Create", "ResourceProperties": PROPS}, client)
    assert physical == "abc123abc123"
    assert data["ClusterSchedulerConfigId"] == "abc123abc123"
    (_, listed), (kind, request), *polls = client.calls
    assert listed == {"ClusterArn": CLUSTER, "NameContains": "demo-scheduler"}
    assert kind == "create"
    assert request == {
        "Name": "demo-scheduler",
        "ClusterArn": CLUSTER,
        "Description": "policy",
        "SchedulerConfig": {
            "FairShare": "Enabled",
            "IdleResourceSharing": "Disabled",
            "PriorityClasses": [{"Name": "training", "Weight": 60}],
        },
        "Tags": [{"Key": "hyperpod-cdk:owner", "Value": OWNER}],
    }
    assert [k for k, _ in polls] == ["describe", "describe"]  # Creating, then Created


def test_a_failed_status_fails_the_resource_with_the_reason() -> None:
    with pytest.raises(handler.HandlerError, match="CreateFailed: quota clash"):
        run({"RequestType": "Create", "ResourceProperties": PROPS}, FakeSageMaker(final="CreateFailed"))


def test_update_in_place_names_the_current_version() -> None:
    client = FakeSageMaker()
    client.version = 7
    new = {**PROPS, "SchedulerConfig": {**PROPS["SchedulerConfig"], "FairShare": "Disabled"}}
    physical, _ = run(
        {
            "RequestType": "Update",
            "PhysicalResourceId": "abc123abc123",
            "ResourceProperties": new,
            "OldResourceProperties": PROPS,
        },
        client,
        handler.Spec(new, OWNER),
    )
    assert physical == "abc123abc123"
    ((_, update),) = (c for c in client.calls if c[0] == "update")
    assert update["TargetVersion"] == 7 and update["SchedulerConfig"]["FairShare"] == "Disabled"


@pytest.mark.parametrize("key, value", [("Name", "renamed"), ("ClusterArn", CLUSTER.replace("abcdef", "fedcba"))])
def test_a_new_name_or_cluster_creates_a_new_policy(key: str, value: str) -> None:
    client = FakeSageMaker()
    new = {**PROPS, key: value}
    run(
        {
            "RequestType": "Update",
            "PhysicalResourceId": "abc123abc123",
            "ResourceProperties": new,
            "OldResourceProperties": PROPS,
        },
        client,
        handler.Spec(new, OWNER),
    )
    assert kinds(client)[:2] == ["list", "create"]


def test_delete_waits_until_gone_and_skips_ids_sagemaker_never_gave() -> None:
    client = FakeSageMaker()
    assert run({"RequestType": "Delete", "PhysicalResourceId": "abc123abc123"}, client) == ("abc123abc123", {})
    assert kinds(client) == ["describe", "list_tags", "delete", "describe", "describe"]
    untouched = FakeSageMaker()
    run({"RequestType": "Delete", "PhysicalResourceId": "failed-request-1"}, untouched)
    assert untouched.calls == []


def test_bad_properties_are_reported_not_sent() -> None:
    client = FakeSageMaker()
    bad = {**PROPS, "SchedulerConfig": {"FairShare": "On"}}
    with pytest.raises(handler.HandlerError, match="FairShare must be Enabled or Disabled"):
        run({"RequestType": "Create", "ResourceProperties": bad}, client, handler.Spec(bad, OWNER))
    with pytest.raises(handler.HandlerError, match="weight of training must be an integer"):
        handler.scheduler_config({"SchedulerConfig": {"PriorityClasses": [{"Name": "training", "Weight": "x"}]}})
    assert client.calls == []


def test_every_outcome_is_sent_to_cloudformation(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[dict] = []
    monkeypatch.setattr(
        handler,
        "respond",
        lambda event, status, physical, data, reason: sent.append(
            {"status": status, "physical": physical, "reason": reason}
        ),
    )
    monkeypatch.setattr(handler, "POLL_SECONDS", 0)  # the handler's own sleep, between polls
    monkeypatch.setenv("SCHEDULER_CONFIG_SPEC", json.dumps({"Properties": PROPS, "Owner": OWNER}))
    fake = FakeSageMaker(final="CreateFailed")
    monkeypatch.setitem(sys.modules, "boto3", type("B", (), {"client": staticmethod(lambda _name: fake)}))
    event = {
        "RequestType": "Create",
        "ResourceProperties": PROPS,
        "RequestId": "r1",
        "StackId": "s",
        "LogicalResourceId": "L",
        "ResponseURL": "https://cloudformation-custom-resource-response-uswest2.s3.us-west-2.amazonaws.com/r",
    }
    handler.handler(event, Context())
    # Issue 18 item 10: the real id, not a made-up one, so the rollback's Delete removes the failed policy.
    assert sent == [{"status": "FAILED", "physical": "abc123abc123", "reason": sent[0]["reason"]}]
    assert "quota clash" in sent[0]["reason"]
    json.dumps(sent)
    fake.calls.clear()
    run({"RequestType": "Delete", "PhysicalResourceId": "abc123abc123", "ResourceProperties": PROPS}, fake)
    assert "delete" in kinds(fake)


# ------------------------------------------------------------------ issue 18 item 10: fixed at synth


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_properties_other_than_the_synthesized_ones_are_refused(request_type) -> None:
    client = FakeSageMaker()
    forged = {**PROPS, "SchedulerConfig": {"FairShare": "Disabled"}}
    with pytest.raises(handler.HandlerError, match="refused"):
        run(
            {
                "RequestType": request_type,
                "PhysicalResourceId": "abc123abc123",
                "ResourceProperties": forged,
                "OldResourceProperties": {**PROPS, "Name": "x"},
            },
            client,
        )
    assert client.calls == []


@pytest.mark.parametrize("request_type", ["Update", "Delete"])
@pytest.mark.parametrize(
    "policy", [{"owner": "another-stack/c8bbbb"}, {"cluster": CLUSTER.replace("abcdef", "999999")}]
)
def test_update_and_delete_touch_only_policies_this_resource_created(request_type, policy) -> None:
    client = FakeSageMaker(**policy)
    with pytest.raises(handler.HandlerError, match="refused"):
        run(
            {
                "RequestType": request_type,
                "PhysicalResourceId": "fff000fff000",
                "ResourceProperties": PROPS,
                "OldResourceProperties": PROPS,
            },
            client,
        )
    assert not {"update", "delete"} & set(kinds(client))


def test_an_untagged_policy_of_this_cluster_can_still_be_deleted() -> None:
    client = FakeSageMaker(owner=None)  # created before the owner tag existed
    run({"RequestType": "Delete", "PhysicalResourceId": "abc123abc123"}, client)
    assert "delete" in kinds(client)


def test_a_retried_create_adopts_the_policy_it_made() -> None:
    client = FakeSageMaker(
        existing=[
            {
                "Name": "demo-scheduler",
                "Status": "Created",
                "ClusterSchedulerConfigId": "abc123abc123",
                "ClusterSchedulerConfigArn": ARN,
            },
        ]
    )
    physical, _ = run({"RequestType": "Create", "ResourceProperties": PROPS}, client)
    assert physical == "abc123abc123" and "create" not in kinds(client)
    stranger = FakeSageMaker(owner="someone-else", existing=client.existing)
    run({"RequestType": "Create", "ResourceProperties": PROPS}, stranger)
    assert "create" in kinds(stranger)


def test_a_stack_rollback_update_leaves_the_policy_alone() -> None:
    client = FakeSageMaker()
    older = {**PROPS, "SchedulerConfig": {"FairShare": "Disabled"}}
    physical, _ = run(
        {
            "RequestType": "Update",
            "PhysicalResourceId": "abc123abc123",
            "ResourceProperties": older,
            "OldResourceProperties": PROPS,
        },
        client,
    )
    assert physical == "abc123abc123" and client.calls == []


def test_the_response_upload_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-west-2")  # the function's own Region: its response bucket's
    attempts = []

    class Response:
        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    def opener(request, timeout):
        attempts.append(1)
        if len(attempts) < 3:
            raise OSError("reset")
        return Response()

    monkeypatch.setattr(handler, "_opener", opener)
    monkeypatch.setattr(handler, "_sleep", lambda s: None)
    handler.respond(
        {
            "StackId": "s",
            "RequestId": "r",
            "LogicalResourceId": "L",
            "ResponseURL": "https://cloudformation-custom-resource-response-uswest2.s3.us-west-2.amazonaws.com/r",
        },
        "SUCCESS",
        "abc123abc123",
        {},
        "",
    )
    assert len(attempts) == 3
