"""In-template checkov skips, written next to the resource they excuse.

checkov reads ``Metadata.checkov.skip: [{id, comment}]`` on a CloudFormation resource and reports
the check as SKIPPED with that comment. ``CfnResource.add_metadata`` replaces the whole key, so
two skips on one resource must be merged; :func:`skip_checkov` does that and, like
:func:`hyperpod_cdk.rules.acknowledge.acknowledge`, refuses a skip without a specific reason.
"""

from __future__ import annotations

from typing import Any

from constructs import IConstruct

MIN_REASON = 20


def skip_checkov(scope: IConstruct, check_id: str, comment: str) -> None:
    """Skip checkov ``check_id`` on ``scope`` (a CfnResource, or an L2 whose default child is one)."""
    from aws_cdk import CfnResource

    if len(comment.strip()) < MIN_REASON:
        raise ValueError(f"checkov skip of {check_id} needs a specific reason, got {comment!r}")
    resource = scope if isinstance(scope, CfnResource) else scope.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{scope.node.path} is not a CloudFormation resource and has none as its default child")
    existing: dict[str, Any] = dict(resource.get_metadata("checkov") or {})
    skips = [s for s in existing.get("skip", []) if s.get("id") != check_id]
    skips.append({"id": check_id, "comment": comment})
    resource.add_metadata("checkov", {**existing, "skip": skips})


def skip_handler_checks(function: IConstruct, *, outside_vpc_reason: str | None = None) -> None:
    """Skip checkov's Lambda hygiene checks on a CloudFormation custom-resource handler.

    For functions aws-cdk-lib creates for itself (kubectl handler, provider framework,
    lifecycle upload): CloudFormation is their only caller, a few times per deployment, and their
    properties are not user-modifiable. ``outside_vpc_reason`` also skips CKV_AWS_117 (function not
    in a VPC), for a handler that has nothing to reach inside it.
    """
    skip_checkov(
        function,
        "CKV_AWS_115",
        "custom-resource handler invoked by CloudFormation a few times per deployment; reserved "
        "concurrency would only take capacity from the account's unreserved pool",
    )
    skip_checkov(
        function,
        "CKV_AWS_116",
        "custom-resource handler: CloudFormation is its only caller and records every failure in stack "
        "events; a DLQ would keep stale CloudFormation requests that must never be replayed",
    )
    skip_checkov(
        function,
        "CKV_AWS_173",
        "the aws-cdk-lib handler's environment holds no secrets (endpoint mode, a function ARN, a CA "
        "bundle path); Lambda encrypts it at rest with an AWS managed key",
    )
    if outside_vpc_reason is not None:
        skip_checkov(function, "CKV_AWS_117", outside_vpc_reason)
