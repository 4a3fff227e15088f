"""Preflight: is the platform stack in a state a deploy can start from (R17P-L3)?

Preflight also runs before an update. A stack CloudFormation will not update makes `cdk deploy` fail at once,
whatever every other row says:

- ``UPDATE_ROLLBACK_FAILED``: CloudFormation refuses updates until the rollback is continued
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-continueupdaterollback.html);
- ``DELETE_FAILED``: the stack can only be deleted again
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/troubleshooting.html#troubleshooting-errors-delete-stack-fails);
- an operation in progress (``*_IN_PROGRESS``): a second one is refused until it ends;
- ``ROLLBACK_COMPLETE`` / ``ROLLBACK_FAILED`` (a failed first create): the CDK CLI deletes the stack before it
  creates it again (aws/aws-cdk-cli, ``packages/@aws-cdk/toolkit-lib/lib/api/deployments/deploy-stack.ts``:
  ``stackStatus.isCreationFailure``), so a warning: what the failed create kept on delete stays.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from hyperpod_cdk.cli import aws_errors, preflight_ownership
from hyperpod_cdk.cli.output import Check
from hyperpod_cdk.cli.preflight_context import Context

CHECK = "stack status"
_CONTINUE_ROLLBACK = (
    "aws cloudformation continue-update-rollback --stack-name {stack} (add --resources-to-skip for a resource "
    "that cannot roll back), wait for UPDATE_ROLLBACK_COMPLETE, then deploy"
)
_DELETE_AGAIN = (
    "run `cdk destroy` again (or aws cloudformation delete-stack --stack-name {stack} --retain-resources "
    "<the resource that failed>), then deploy; docs/deploy.md lists what a destroy keeps"
)


def check_stack_status(ctx: Context) -> list[Check]:
    stack = ctx.options.stack_name or preflight_ownership.platform_stack_name(ctx.config)
    try:
        found = ctx.clients("cloudformation").describe_stacks(StackName=stack).get("Stacks", [])
    except aws_errors.SETUP_ERRORS:
        raise
    except ClientError as exc:
        if aws_errors.code(exc) == "ValidationError" and "does not exist" in aws_errors.message(exc):
            return [Check("pass", CHECK, f"no stack {stack} yet: the deploy creates it")]
        return [_not_checked(exc, ctx)]
    except BotoCoreError as exc:
        return [_not_checked(exc, ctx)]
    status = str(found[0].get("StackStatus", "")) if found else ""
    return [_row(stack, status)]


def _row(stack: str, status: str) -> Check:
    said = f"stack {stack} is {status}"
    if status == "UPDATE_ROLLBACK_FAILED":
        return Check("fail", CHECK, f"{said}: CloudFormation refuses updates", _CONTINUE_ROLLBACK.format(stack=stack))
    if status == "DELETE_FAILED":
        return Check("fail", CHECK, f"{said}: it can only be deleted again", _DELETE_AGAIN.format(stack=stack))
    if status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
        return Check("fail", CHECK, f"{said}: CloudFormation runs one operation at a time", "wait until it ends")
    if status in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED"):
        return Check(
            "warn",
            CHECK,
            f"{said} (its first create failed): cdk deploy deletes it before creating it again",
            f"read why it failed first: aws cloudformation describe-stack-events --stack-name {stack}",
        )
    return Check("pass", CHECK, said)


def _not_checked(exc: ClientError | BotoCoreError, ctx: Context) -> Check:
    what, fix = aws_errors.call_failure("cloudformation", exc, ctx.region)
    return Check("warn", CHECK, f"not checked: {what}", fix)
