"""R17P-L3: preflight did not read the platform stack's status, so in UPDATE_ROLLBACK_FAILED (or DELETE_FAILED, or
mid-operation) every row passed although CloudFormation refuses the deploy at once. A "stack status" row now
reads it (DescribeStacks) and gives the way out."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.cli import preflight, preflight_stack_status
from hyperpod_cdk.config import parse_config

_spec = importlib.util.spec_from_file_location("cli_fixtures_r30", Path(__file__).with_name("cli_fixtures.py"))
assert _spec is not None and _spec.loader is not None
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch) -> None:
    fx.set_fake_aws_env(monkeypatch)


def _row(status: str | None, *, error: str | None = None, stack_name: str | None = None) -> Any:
    cfg = parse_config(fx.base_config())
    stack = stack_name or f"{cfg.name}-platform"
    cfn, stub = fx.stubbed("cloudformation")
    if error is not None:
        stub.add_client_error("describe_stacks", error, "no", 400, expected_params={"StackName": stack})
    elif status is None:
        message = f"Stack with id {stack} does not exist"
        stub.add_client_error("describe_stacks", "ValidationError", message, 400, expected_params={"StackName": stack})
    else:
        answer = {"StackName": stack, "StackStatus": status, "CreationTime": "2026-12-01T00:00:00Z"}
        stub.add_response("describe_stacks", {"Stacks": [answer]}, {"StackName": stack})
    options = preflight.PreflightOptions(stack_name=stack_name) if stack_name else preflight.PreflightOptions()
    ctx = preflight.Context(config=cfg, clients=fx.clients({"cloudformation": cfn}), region=fx.REGION, options=options)
    (row,) = preflight_stack_status.check_stack_status(ctx)
    stub.assert_no_pending_responses()
    return row


@pytest.mark.parametrize(
    ("status", "verdict", "said", "fix"),
    [
        (None, "pass", "yet: the deploy creates it", ""),
        ("UPDATE_COMPLETE", "pass", "is UPDATE_COMPLETE", ""),
        ("UPDATE_ROLLBACK_COMPLETE", "pass", "is UPDATE_ROLLBACK_COMPLETE", ""),
        ("UPDATE_ROLLBACK_FAILED", "fail", "refuses updates", "continue-update-rollback --stack-name"),
        ("DELETE_FAILED", "fail", "can only be deleted again", "cdk destroy"),
        ("UPDATE_IN_PROGRESS", "fail", "one operation at a time", "wait"),
        ("ROLLBACK_COMPLETE", "warn", "deletes it before creating it again", "describe-stack-events"),
    ],
)
def test_the_stacks_status_decides_the_row(status: str | None, verdict: str, said: str, fix: str) -> None:
    row = _row(status)
    assert (row.check, row.status) == ("stack status", verdict)
    assert said in row.reason and fix in row.fix, row


def test_the_stack_named_by_stack_name_is_read() -> None:
    assert "stack MyApp is UPDATE_ROLLBACK_FAILED" in _row("UPDATE_ROLLBACK_FAILED", stack_name="MyApp").reason


def test_a_denied_read_warns_with_the_permission() -> None:
    row = _row(None, error="AccessDenied")
    assert row.status == "warn" and "cloudformation:DescribeStacks" in row.fix, row


def test_it_runs_first_in_every_preflight() -> None:
    ctx = preflight.Context(
        config=parse_config(fx.base_config()),
        clients=fx.clients(),
        region=fx.REGION,
        options=preflight.PreflightOptions(),
    )
    assert preflight.plan_checks(ctx)[0][0] == "stack status"
