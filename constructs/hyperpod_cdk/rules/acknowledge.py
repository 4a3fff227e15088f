"""Acknowledging cdk-nag (v3) findings next to their cause.

cdk-nag v3 reports IAM4/IAM5 per finding ("granular" ids such as
``AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:...:instance/*]``) and a plain
``AwsSolutions-IAM5`` acknowledgment does not cover them. :func:`acknowledge_wildcards` builds
those ids from the same values the policy uses, so an acknowledgment can never drift from the
statement it excuses, and an unexpected new wildcard still fails synth.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import IConstruct

from hyperpod_cdk.specs.fn_sub import substitute

# aws-cdk-lib's built-in template validation (@aws-cdk/core:validateAgainstDefaultRules) reports resource
# types newer than its bundled schemas as F3006 ("Unknown resource type" / "does not exist in <region>").
BUILTIN_UNKNOWN_TYPE = "CloudFormation-Validate::F3006"
OLD_BUILTIN_SCHEMAS = (
    "the type is newer than the schemas of aws-cdk-lib's built-in validator; cfn-lint 1.58, run on every "
    "synthesized template by the test suite, has its registry schema and checks it"
)


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one finding on ``scope`` and everything below it, with a specific reason."""
    if len(reason.strip()) < 20:
        raise ValueError(f"acknowledgment of {rule_id} needs a specific reason, got {reason!r}")
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def managed_policy_finding(policy_name: str) -> str:
    """The granular AwsSolutions-IAM4 id for an AWS managed policy (``service-role/X`` or ``X``)."""
    return f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{policy_name}]"


def nag_string(scope: IConstruct, value: Any) -> str:
    """Render a (possibly tokenized) value the way cdk-nag prints it in finding ids."""
    return _render(Stack.of(scope).resolve(value))


def _render(resolved: Any) -> str:
    def flatten(node: Any) -> str:
        if isinstance(node, str):
            return node
        if isinstance(node, dict) and len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return f"<{arg}>"
            if key == "Fn::GetAtt":
                return f"<{arg[0]}.{arg[1]}>"
            if key == "Fn::Join":
                return str(arg[0].join(flatten(part) for part in arg[1]))
            if key == "Fn::Sub" and isinstance(arg, str):
                return substitute(arg, lambda part: f"<{part.body}>" if part.body else "${}")
        # Conditions (Fn::If ...) are printed as compact JSON.
        return json.dumps(node, separators=(",", ":"))

    return flatten(resolved)


def acknowledge_wildcards(
    scope: IConstruct,
    reason: str,
    *,
    resources: Iterable[Any] = (),
    actions: Iterable[str] = (),
) -> None:
    """Acknowledge AwsSolutions-IAM5 for exactly these wildcard resources and actions."""
    for resource in resources:
        acknowledge(scope, f"AwsSolutions-IAM5[Resource::{nag_string(scope, resource)}]", reason)
    for action in actions:
        acknowledge(scope, f"AwsSolutions-IAM5[Action::{action}]", reason)


def acknowledge_managed_policies(scope: IConstruct, reason: str) -> None:
    """Acknowledge AwsSolutions-IAM4 for each managed policy on the roles under ``scope``.

    For roles that aws-cdk-lib creates internally (kubectl handler, provider framework), whose
    policies this project cannot change; the ids are read from the roles themselves.
    """
    for child in scope.node.find_all():
        if isinstance(child, iam.CfnRole):
            for arn in Stack.of(child).resolve(child.managed_policy_arns) or []:
                acknowledge(child, f"AwsSolutions-IAM4[Policy::{_render(arn)}]", reason)
