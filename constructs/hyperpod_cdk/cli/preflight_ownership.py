"""Preflight: which resources already in the account the config's own platform stack holds.

Preflight also runs before an update (docs/scaling-and-updates.md). Then the add-ons and the
HyperPod CIDR association and subnets the stack created are already there; they are the stack's
own, and an update does not create them again. The rows that look for things in the way ask
CloudFormation which stack holds what, and only when something is in the way:

* the config's stack (``<name>-platform``, the name ``infra/app_builder.stack_id`` gives it, or
  ``preflight --stack-name`` for a stack of the user's own CDK app: review round 17, M1):
  ``ListStackResources`` (paginated; ``DescribeStackResources`` returns only the first 100) lists its
  resources with their physical IDs. A stack that does not exist (a first deploy, or one deleted:
  a deleted stack answers to its name no more) holds nothing. Resources in ``DELETE_COMPLETE`` or
  ``DELETE_SKIPPED`` (kept by a retain policy) are no longer the stack's.
  https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ListStackResources.html
* any other stack: ``DescribeStackResources`` with ``PhysicalResourceId`` alone answers with the stack
  that holds that resource.
  https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStackResources.html

Physical IDs: an ``AWS::EKS::Addon`` is ``<cluster>|<add-on>`` (its ``Ref``, "For example,
``cluster-name|vpc-cni``",
https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-eks-addon.html);
its resource schema sets ``cloudFormationSystemTags: false``, so an add-on carries no
``aws:cloudformation:stack-name`` tag to go by. An ``AWS::EC2::Subnet`` is its subnet ID. An
``AWS::EC2::VPCCidrBlock``'s identifier is its association ID together with the VPC ID, so the parts
of a ``|``-joined ID are matched too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from hyperpod_cdk.cli import aws_errors
from hyperpod_cdk.config import PlatformConfig

if TYPE_CHECKING:  # preflight_context imports the check modules' callers, not this one
    from hyperpod_cdk.cli.preflight_context import Context

PART_OF_THIS_STACK = "part of this stack"
#: Said where something another stack holds is in the way: that stack may be this platform's, named otherwise.
OWN_APP_HINT = "if {stack} is the stack your own CDK app deploys this platform in, rerun with --stack-name {stack}"
_GONE = ("DELETE_COMPLETE", "DELETE_SKIPPED")


def platform_stack_name(config: PlatformConfig) -> str:
    """The CloudFormation stack the app deploys the config as (``infra/app_builder.stack_id``)."""
    return f"{config.name}-platform"


def _stack_missing(exc: ClientError) -> bool:
    """CloudFormation answers a stack name it does not know with ValidationError '... does not exist'."""
    return aws_errors.code(exc) == "ValidationError" and "does not exist" in aws_errors.message(exc)


@dataclass(frozen=True)
class StackHoldings:
    """The physical IDs the config's stack holds, or why CloudFormation would not say."""

    stack_name: str
    physical_ids: frozenset[str] = frozenset()
    unknown: tuple[str, str] | None = None  # (what went wrong, fix) when the lookup failed

    def holds(self, physical_id: str) -> bool:
        return physical_id in self.physical_ids


def stack_holdings(ctx: Context) -> StackHoldings:
    name = ctx.options.stack_name or platform_stack_name(ctx.config)
    ids: set[str] = set()
    try:
        pages = ctx.clients("cloudformation").get_paginator("list_stack_resources").paginate(StackName=name)
        for resource in (r for page in pages for r in page.get("StackResourceSummaries", [])):
            physical = resource.get("PhysicalResourceId")
            if physical and resource.get("ResourceStatus") not in _GONE:
                ids.add(physical)
                ids.update(physical.split("|"))
    except aws_errors.SETUP_ERRORS:
        raise
    except ClientError as exc:
        if _stack_missing(exc):
            return StackHoldings(name)
        return StackHoldings(name, unknown=aws_errors.call_failure("cloudformation", exc, ctx.region))
    except BotoCoreError as exc:
        return StackHoldings(name, unknown=aws_errors.call_failure("cloudformation", exc, ctx.region))
    return StackHoldings(name, frozenset(ids))


@dataclass(frozen=True)
class Owner:
    """Who holds a resource: ``stack`` (None: no stack does), or why CloudFormation would not say."""

    stack: str | None = None
    unknown: tuple[str, str] | None = None  # (what went wrong, fix)


def owning_stack(ctx: Context, physical_id: str) -> Owner:
    """The live stack that holds ``physical_id``. CloudFormation answers one no stack holds with
    ValidationError ('Stack for <id> does not exist')."""
    try:
        found = ctx.clients("cloudformation").describe_stack_resources(PhysicalResourceId=physical_id)
    except aws_errors.SETUP_ERRORS:
        raise
    except ClientError as exc:
        if _stack_missing(exc):
            return Owner()
        return Owner(unknown=aws_errors.call_failure("cloudformation", exc, ctx.region))
    except BotoCoreError as exc:
        return Owner(unknown=aws_errors.call_failure("cloudformation", exc, ctx.region))
    for resource in found.get("StackResources", []):
        if resource.get("ResourceStatus") not in _GONE and resource.get("StackName"):
            return Owner(str(resource["StackName"]))
    return Owner()


def unknown_note(unknown: tuple[str, str] | None, who: str) -> tuple[str, str]:
    """(reason tail, fix head) of a row that cannot tell whether ``who`` (a stack, or "another stack") holds
    what is in the way: the failure, then its fix and the fix that applies if ``who`` does not hold it."""
    failure, fix = unknown or ("", "")
    return (
        f"whether {who} already holds it could not be checked ({failure})",
        f"{fix}; if {who} does not hold it: ",
    )


__all__ = ["PART_OF_THIS_STACK", "Owner", "StackHoldings", "owning_stack", "platform_stack_name", "stack_holdings"]
