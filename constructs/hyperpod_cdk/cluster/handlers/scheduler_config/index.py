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
The response always goes to the CloudFormation ResponseURL (retried), with the reason on failure.

**Fixed at synth.** The properties are also in the function's environment
(``SCHEDULER_CONFIG_SPEC``, with an owner tag value unique to the construct); a Create or Update
whose properties differ is refused, so invoking the function cannot create or reshape another
policy. Update and Delete act only on a policy of this spec's cluster that carries this owner tag
(or no owner tag: policies created before the tag existed), so a forged event cannot touch another
cluster's policy or one another stack created. Create is idempotent: a policy of the same name on
the cluster with this owner tag (a retried invocation after a lost response) is adopted, not
created twice. A Create whose policy ends ``CreateFailed`` answers FAILED with the real id, so the
rollback's Delete removes it. An Update back to other properties while the old ones match the
environment is a stack rollback: answered SUCCESS, the policy left as it is.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

# In the Lambda the shared cfn_response.py sits next to this file (copied in at synth by
# hyperpod_cdk._handler_functions); loaded from the source tree (tests), the shared folder is added.
# (.parent, not parents[3]: /var/task/index.py has only three parents.)
_SHARED = Path(__file__).resolve().parent.parent.parent.parent / "kubernetes" / "handlers" / "shared"
if _SHARED.is_dir() and str(_SHARED) not in sys.path:
    sys.path.append(str(_SHARED))

from cfn_response import CFN_PROPERTIES, Outcome, canonical, send_response  # noqa: E402

POLL_SECONDS = 10
# Leave time for the response after the last poll.
RESPONSE_RESERVE_MS = 30_000
ID_PATTERN = re.compile(r"^[a-z0-9]{12}$")
REPLACING_KEYS = ("Name", "ClusterArn")
SPEC_ENV = "SCHEDULER_CONFIG_SPEC"
OWNER_TAG = "hyperpod-cdk:owner"
#: Physical id of a Create that failed before SageMaker assigned an id (Delete is then a no-op).
NOT_CREATED = "not-created"
GONE_STATUSES = frozenset({"Deleting", "Deleted", "DeleteFailed", "CreateFailed"})
# How the response is sent (tests replace them).
_opener: Callable[..., Any] = urllib.request.urlopen
_sleep: Callable[[float], None] = time.sleep


class HandlerError(Exception):
    """A failure reported to CloudFormation as the reason (with the real id when one exists)."""

    def __init__(self, message: str, physical_id: str | None = None) -> None:
        super().__init__(message)
        self.physical_id = physical_id


class Spec:
    """What this function may create: the properties and owner tag fixed at synth."""

    def __init__(self, properties: Mapping[str, Any], owner: str) -> None:
        self.properties = dict(properties)
        self.owner = owner

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Spec:
        raw = json.loads(environ[SPEC_ENV])
        return cls(raw["Properties"], str(raw["Owner"]))

    def matches(self, properties: Any) -> bool:
        # CloudFormation's own keys are left out at every depth; None stays "None" (as str() gives it).
        return isinstance(properties, Mapping) and canonical(properties, ignore=CFN_PROPERTIES) == canonical(
            self.properties, ignore=CFN_PROPERTIES
        )


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


def wait_for(
    client: Any, config_id: str, done: set[str], deadline: Deadline, sleep: Callable[[float], None]
) -> dict[str, Any]:
    """Poll until the policy reaches a status in ``done``; raise on a failed status or the deadline."""
    while True:
        described: dict[str, Any] = client.describe_cluster_scheduler_config(ClusterSchedulerConfigId=config_id)
        status = described.get("Status", "")
        if status in done:
            return described
        if status.endswith("Failed"):
            reason = described.get("FailureReason") or "no reason given"
            raise HandlerError(f"scheduler config {config_id} is {status}: {reason}")
        if deadline.expired():
            raise HandlerError(f"scheduler config {config_id} still {status or 'unknown'} when time ran out")
        sleep(POLL_SECONDS)


def _owner_of(client: Any, arn: str) -> str | None:
    tags = client.list_tags(ResourceArn=arn).get("Tags", [])
    return next((str(t.get("Value")) for t in tags if t.get("Key") == OWNER_TAG), None)


def check_owned(client: Any, config_id: str, spec: Spec) -> dict[str, Any] | None:
    """The policy if this resource may act on it (this spec's cluster, this owner tag or none); None if gone."""
    try:
        described: dict[str, Any] = client.describe_cluster_scheduler_config(ClusterSchedulerConfigId=config_id)
    except Exception as error:  # botocore ClientError
        if _not_found(error):
            return None
        raise
    if described.get("ClusterArn") and described["ClusterArn"] != spec.properties.get("ClusterArn"):
        raise HandlerError(f"refused: scheduler config {config_id} belongs to another cluster; nothing was done")
    owner = _owner_of(client, described["ClusterSchedulerConfigArn"])
    if owner is not None and owner != spec.owner:
        raise HandlerError(f"refused: scheduler config {config_id} was created by another resource; nothing was done")
    return described


def _adoptable(client: Any, props: Mapping[str, Any], spec: Spec) -> dict[str, Any] | None:
    """A policy of this name and owner on the cluster: a retried Create after a lost response."""
    listed = client.list_cluster_scheduler_configs(ClusterArn=props["ClusterArn"], NameContains=props["Name"])
    for summary in listed.get("ClusterSchedulerConfigSummaries", []):
        if summary.get("Name") != props["Name"] or summary.get("Status") in GONE_STATUSES:
            continue
        if _owner_of(client, summary["ClusterSchedulerConfigArn"]) == spec.owner:
            return dict(summary)
    return None


def create(
    client: Any, props: Mapping[str, Any], deadline: Deadline, sleep: Callable[[float], None], spec: Spec
) -> tuple[str, dict[str, Any]]:
    request: dict[str, Any] = {
        "Name": _required(props, "Name"),
        "ClusterArn": _required(props, "ClusterArn"),
        "SchedulerConfig": scheduler_config(props),
        "Tags": [{"Key": OWNER_TAG, "Value": spec.owner}],
    }
    if props.get("Description"):
        request["Description"] = props["Description"]
    existing = _adoptable(client, props, spec)
    if existing is not None:
        config_id, arn = existing["ClusterSchedulerConfigId"], existing["ClusterSchedulerConfigArn"]
    else:
        created = client.create_cluster_scheduler_config(**request)
        config_id, arn = created["ClusterSchedulerConfigId"], created["ClusterSchedulerConfigArn"]
    try:
        wait_for(client, config_id, {"Created", "Updated"}, deadline, sleep)
    except HandlerError as error:
        # The real id: the stack rollback's Delete then removes the failed policy.
        raise HandlerError(str(error), physical_id=config_id) from None
    return config_id, {"ClusterSchedulerConfigArn": arn, "ClusterSchedulerConfigId": config_id}


def update(
    client: Any, config_id: str, props: Mapping[str, Any], deadline: Deadline, sleep: Callable[[float], None]
) -> tuple[str, dict[str, Any]]:
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
    return config_id, {
        "ClusterSchedulerConfigArn": current["ClusterSchedulerConfigArn"],
        "ClusterSchedulerConfigId": config_id,
    }


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
            described: dict[str, Any] = client.describe_cluster_scheduler_config(ClusterSchedulerConfigId=config_id)
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


def process(
    event: Mapping[str, Any],
    client: Any,
    deadline: Deadline,
    sleep: Callable[[float], None] = time.sleep,
    *,
    spec: Spec,
) -> tuple[str, dict[str, Any]]:
    """Handle one CloudFormation event; return (physical id, data)."""
    kind = event["RequestType"]
    props = event.get("ResourceProperties") or {}
    physical = event.get("PhysicalResourceId", "")
    if kind in ("Create", "Update") and not spec.matches(props):
        if kind == "Update" and spec.matches(event.get("OldResourceProperties")):
            print("update away from this function's properties (a stack rollback); left the policy as it is")
            return physical, {}
        raise HandlerError(
            "refused: the properties differ from the ones fixed in this function at synth; " "nothing was done",
            physical_id=physical or NOT_CREATED,
        )
    if kind == "Create":
        return create(client, spec.properties, deadline, sleep, spec)
    if kind == "Update":
        old = event.get("OldResourceProperties") or {}
        if any(old.get(key) != props.get(key) for key in REPLACING_KEYS) or not ID_PATTERN.match(physical):
            return create(client, spec.properties, deadline, sleep, spec)
        if check_owned(client, physical, spec) is None:
            raise HandlerError(f"scheduler config {physical} no longer exists", physical_id=physical)
        return update(client, physical, spec.properties, deadline, sleep)
    if kind == "Delete":
        if ID_PATTERN.match(physical) and check_owned(client, physical, spec) is not None:
            delete(client, physical, deadline, sleep)
        return physical, {}
    raise HandlerError(f"unknown request type {kind!r}")


def respond(event: Mapping[str, Any], status: str, physical: str, data: Mapping[str, Any], reason: str) -> None:
    # A lost response would make Lambda retry the whole invocation (a second Create): the upload is retried.
    send_response(event, Outcome(status, physical, reason, dict(data)), opener=_opener, sleep=_sleep)


def handler(event: Mapping[str, Any], context: Any) -> None:
    import boto3

    print(json.dumps({key: value for key, value in event.items() if key != "ResponseURL"}, default=str))
    fallback = event.get("PhysicalResourceId") or NOT_CREATED
    try:
        spec = Spec.from_environment()
        physical, data = process(event, boto3.client("sagemaker"), Deadline(context), spec=spec)
    except Exception as error:  # every failure goes back to CloudFormation, never a timeout
        print(f"FAILED: {error!r}")
        physical = getattr(error, "physical_id", None) or fallback
        respond(event, "FAILED", physical, {}, str(error) or type(error).__name__)
        return
    respond(event, "SUCCESS", physical, data, "")
