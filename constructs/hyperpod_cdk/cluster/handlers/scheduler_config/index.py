"""CloudFormation custom resource: a SageMaker HyperPod cluster scheduler config (task-governance policy).

For regions whose CloudFormation has no ``AWS::SageMaker::ClusterSchedulerConfig`` yet; the calls
are the SageMaker API ones that type's handlers make (CreateClusterSchedulerConfig,
UpdateClusterSchedulerConfig, DeleteClusterSchedulerConfig, DescribeClusterSchedulerConfig).
AWS's own HyperPod CloudFormation creates the policy with a Lambda custom resource too
(aws/sagemaker-hyperpod-cluster-setup eks/cloudformation/task-governance-cluster-policy-template.yaml).

Properties: ``Name``, ``ClusterArn``, ``SchedulerConfig`` ({FairShare, IdleResourceSharing,
PriorityClasses: [{Name, Weight}]}), optional ``Description``. The physical id is the policy id;
``Data`` carries ``ClusterSchedulerConfigArn`` and ``ClusterSchedulerConfigId``.

A change of ``Name`` or ``ClusterArn`` creates a new policy (CloudFormation then deletes the old
one); anything else updates the policy in place at its current version. Every call waits until
SageMaker reports the policy ``Created``/``Updated`` (or gone), and fails on a ``*Failed`` status.
The response always goes to the CloudFormation ResponseURL, with the reason on failure.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

POLL_SECONDS = 10
# Leave time for the response after the last poll.
RESPONSE_RESERVE_MS = 30_000
ID_PATTERN = re.compile(r"^[a-z0-9]{12}$")
REPLACING_KEYS = ("Name", "ClusterArn")


class HandlerError(Exception):
    """A failure reported to CloudFormation as the reason."""


def _int(value: Any, what: str) -> int:
    # CloudFormation hands custom resources every scalar as a string.
    try:
        return int(value)
    except (TypeError, ValueError):
        raise HandlerError(f"{what} must be an integer, got {value!r}") from None


def scheduler_config(props: Mapping[str, Any]) -> dict[str, Any]:
    """The API's SchedulerConfig from the resource properties (weights back to integers)."""
    raw = props.get("SchedulerConfig") or {}
    if not isinstance(raw, Mapping):
        raise HandlerError("SchedulerConfig must be an object")
    out: dict[str, Any] = {}
    for key in ("FairShare", "IdleResourceSharing"):
        if key in raw:
            if raw[key] not in ("Enabled", "Disabled"):
                raise HandlerError(f"SchedulerConfig.{key} must be Enabled or Disabled, got {raw[key]!r}")
            out[key] = raw[key]
    classes = raw.get("PriorityClasses") or []
    if classes:
        out["PriorityClasses"] = [
            {"Name": str(item["Name"]), "Weight": _int(item["Weight"], f"weight of {item.get('Name')}")}
            for item in classes
        ]
    return out


def _required(props: Mapping[str, Any], key: str) -> str:
    value = props.get(key)
    if not isinstance(value, str) or not value:
        raise HandlerError(f"{key} is required")
    return value


class Deadline:
    def __init__(self, context: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        millis = context.get_remaining_time_in_millis() if context is not None else 900_000
        self._end = clock() + max(0, millis - RESPONSE_RESERVE_MS) / 1000

    def expired(self) -> bool:
        return self._clock() >= self._end


def _not_found(error: Exception) -> bool:
    code = getattr(error, "response", {}).get("Error", {}).get("Code", "")
    return code in ("ResourceNotFound", "ResourceNotFoundException", "ValidationException") and (
        code != "ValidationException" or "not found" in str(error).lower() or "does not exist" in str(error).lower()
    )


def wait_for(client: Any, config_id: str, done: set[str], deadline: Deadline, sleep: Callable[[float], None]) -> dict:
    """Poll until the policy reaches a status in ``done``; raise on a failed status or the deadline."""
    while True:
        described = client.describe_cluster_scheduler_config(ClusterSchedulerConfigId=config_id)
        status = described.get("Status", "")
        if status in done:
            return described
        if status.endswith("Failed"):
            reason = described.get("FailureReason") or "no reason given"
            raise HandlerError(f"scheduler config {config_id} is {status}: {reason}")
        if deadline.expired():
            raise HandlerError(f"scheduler config {config_id} still {status or 'unknown'} when time ran out")
        sleep(POLL_SECONDS)


def create(
    client: Any, props: Mapping[str, Any], deadline: Deadline, sleep: Callable[[float], None]
) -> tuple[str, dict]:
    request: dict[str, Any] = {
        "Name": _required(props, "Name"),
        "ClusterArn": _required(props, "ClusterArn"),
        "SchedulerConfig": scheduler_config(props),
    }
    if props.get("Description"):
        request["Description"] = props["Description"]
    created = client.create_cluster_scheduler_config(**request)
    config_id = created["ClusterSchedulerConfigId"]
    wait_for(client, config_id, {"Created"}, deadline, sleep)
    return config_id, {"ClusterSchedulerConfigArn": created["ClusterSchedulerConfigArn"],
                       "ClusterSchedulerConfigId": config_id}


def update(client: Any, config_id: str, props: Mapping[str, Any], deadline: Deadline,
           sleep: Callable[[float], None]) -> tuple[str, dict]:
    current = client.describe_cluster_scheduler_config(ClusterSchedulerConfigId=config_id)
    request: dict[str, Any] = {
        "ClusterSchedulerConfigId": config_id,
        # Optimistic locking: the update names the version it replaces.
        "TargetVersion": current["ClusterSchedulerConfigVersion"],
        "SchedulerConfig": scheduler_config(props),
    }
    if props.get("Description"):
        request["Description"] = props["Description"]
    client.update_cluster_scheduler_config(**request)
    wait_for(client, config_id, {"Updated", "Created"}, deadline, sleep)
    return config_id, {"ClusterSchedulerConfigArn": current["ClusterSchedulerConfigArn"],
                       "ClusterSchedulerConfigId": config_id}


def delete(client: Any, config_id: str, deadline: Deadline, sleep: Callable[[float], None]) -> None:
    if not ID_PATTERN.match(config_id):
        return  # the create failed before SageMaker assigned an id: nothing to delete
    try:
        client.delete_cluster_scheduler_config(ClusterSchedulerConfigId=config_id)
    except Exception as error:  # botocore ClientError
        if _not_found(error):
            return
        raise
    while not deadline.expired():
        try:
            described = client.describe_cluster_scheduler_config(ClusterSchedulerConfigId=config_id)
        except Exception as error:
            if _not_found(error):
                return
            raise
        status = described.get("Status", "")
        if status == "Deleted":
            return
        if status.endswith("Failed"):
            raise HandlerError(f"scheduler config {config_id} is {status}: {described.get('FailureReason', '')}")
        sleep(POLL_SECONDS)
    raise HandlerError(f"scheduler config {config_id} was still being deleted when the handler ran out of time")


def process(event: Mapping[str, Any], client: Any, deadline: Deadline,
            sleep: Callable[[float], None] = time.sleep) -> tuple[str, dict]:
    """Handle one CloudFormation event; return (physical id, data)."""
    kind = event["RequestType"]
    props = event.get("ResourceProperties") or {}
    physical = event.get("PhysicalResourceId", "")
    if kind == "Create":
        return create(client, props, deadline, sleep)
    if kind == "Update":
        old = event.get("OldResourceProperties") or {}
        if any(old.get(key) != props.get(key) for key in REPLACING_KEYS) or not ID_PATTERN.match(physical):
            return create(client, props, deadline, sleep)
        return update(client, physical, props, deadline, sleep)
    if kind == "Delete":
        delete(client, physical, deadline, sleep)
        return physical, {}
    raise HandlerError(f"unknown request type {kind!r}")


def respond(event: Mapping[str, Any], status: str, physical: str, data: Mapping[str, Any], reason: str) -> None:
    body = json.dumps({
        "Status": status,
        "Reason": reason[:3500],
        "PhysicalResourceId": physical,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": dict(data),
    }).encode()
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT",
                                     headers={"Content-Type": "", "Content-Length": str(len(body))})
    with urllib.request.urlopen(request, timeout=30):  # noqa: S310 - the CloudFormation pre-signed URL
        pass


def handler(event: Mapping[str, Any], context: Any) -> None:
    import boto3

    print(json.dumps({key: value for key, value in event.items() if key != "ResponseURL"}, default=str))
    fallback = event.get("PhysicalResourceId") or f"failed-{event.get('RequestId', 'unknown')}"
    try:
        physical, data = process(event, boto3.client("sagemaker"), Deadline(context))
    except Exception as error:  # every failure goes back to CloudFormation, never a timeout
        print(f"FAILED: {error!r}")
        respond(event, "FAILED", fallback, {}, str(error) or type(error).__name__)
        return
    respond(event, "SUCCESS", physical, data, "")
