"""Helpers shared by the CLI tests (loaded by path: tests/ is not a package).

Nothing here talks to the network: moto intercepts the calls it implements and botocore's
Stubber answers the rest with responses it validates against the service models.
"""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import moto  # noqa: F401 - must be imported before any botocore session exists, so moto can intercept
import yaml
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from hyperpod_cdk.cli.clients import Clients

REPO = Path(__file__).resolve().parent.parent
REGION = "us-west-2"
ACCOUNT = "123456789012"  # moto's default account
NOW = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)

FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",  # no test needs AMIs; loading them is most of moto's EC2 start-up
}


# One botocore session for every test client: service models are parsed once, not per test.
_BOTOCORE = botocore.session.get_session()


def session(region: str = REGION) -> boto3.Session:
    return boto3.Session(botocore_session=_BOTOCORE, region_name=region)


def set_fake_aws_env(monkeypatch: Any) -> None:
    for key in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_ENDPOINT_URL",
    ):
        monkeypatch.delenv(key, raising=False)
    for key, value in FAKE_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")


def base_config() -> dict[str, Any]:
    """The repository's default hyperpod.yaml as a dict."""
    return yaml.safe_load((REPO / "hyperpod.yaml").read_text())


def write_config(tmp_path: Path, mutate: Any = None, name: str = "hyperpod.yaml") -> Path:
    """Write a config derived from hyperpod.yaml; ``mutate(dict)`` edits it first."""
    data = copy.deepcopy(base_config())
    if mutate is not None:
        mutate(data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def stubbed(service: str, region: str = REGION) -> tuple[Any, Stubber]:
    """A real client for ``service`` with an active Stubber (every call must be queued)."""
    client = session(region).client(service)
    stub = Stubber(client)
    stub.activate()
    return client, stub


def deny(stub: Stubber, method: str, code: str = "AccessDeniedException", status: int = 403) -> None:
    stub.add_client_error(
        method,
        service_error_code=code,
        service_message=f"User: arn:aws:iam::{ACCOUNT}:user/ci is not authorized to perform this action",
        http_status_code=status,
    )


class Split:
    """Routes attribute access: named methods to one client, the rest to another.

    Lets one service use moto for what moto implements and a Stubber for the rest.
    """

    def __init__(self, default: Any, **routes: Any) -> None:
        self._default = default
        self._routes = routes

    def __getattr__(self, name: str) -> Any:
        return getattr(self._routes.get(name, self._default), name)


class NoStacks:
    """CloudFormation in an account with no stacks: what every call answers there (ValidationError '... does
    not exist'). The default for tests that give no CloudFormation client: moto's needs extras this repo does
    not install (openapi-spec-validator), and preflight asks for the stack's status on every run."""

    def _missing(self, operation: str, name: str) -> ClientError:
        error = {"Code": "ValidationError", "Message": f"Stack with id {name} does not exist"}
        return ClientError({"Error": error}, operation)

    def describe_stacks(self, StackName: str) -> Any:  # noqa: N803 - boto3's keyword
        raise self._missing("DescribeStacks", StackName)

    def describe_stack_resources(self, PhysicalResourceId: str) -> Any:  # noqa: N803
        error = {"Code": "ValidationError", "Message": f"Stack for {PhysicalResourceId} does not exist"}
        raise ClientError({"Error": error}, "DescribeStackResources")

    def get_paginator(self, operation: str) -> Any:
        owner = self

        class _Pages:
            def paginate(self, StackName: str) -> Any:  # noqa: N803
                raise owner._missing("ListStackResources", StackName)

        return _Pages()


def _with_cloudformation(overrides: dict[str, Any] | None) -> dict[str, Any]:
    return {"cloudformation": NoStacks(), **(overrides or {})}


def clients(overrides: dict[str, Any] | None = None, region: str = REGION) -> Clients:
    return Clients(session(region), region=region, overrides=_with_cloudformation(overrides))


def factory(overrides: dict[str, Any] | None = None):
    """A clients_factory for main(): honours --region like the real one."""

    def make(region: str | None) -> Clients:
        return Clients(session(region or REGION), region=region, overrides=_with_cloudformation(overrides))

    return make


def cloudformation_holding(
    stack: str,
    *physical_ids: str,
    owners: dict[str, str | None] | None = None,
    status: str = "CREATE_COMPLETE",
) -> Any:
    """A CloudFormation client (Stubber) for preflight_ownership: ``stack`` holds ``physical_ids`` in
    ``status`` (none: the stack does not exist, CloudFormation's ValidationError), and ``owners`` answers
    DescribeStackResources for a physical ID with the stack that holds it (None: no stack does)."""
    cfn, stub = stubbed("cloudformation")
    if physical_ids:
        summaries = [
            {
                "LogicalResourceId": f"Resource{i}",
                "PhysicalResourceId": pid,
                "ResourceType": "AWS::EKS::Addon" if "|" in pid else "AWS::EC2::Subnet",
                "LastUpdatedTimestamp": "2026-12-01T00:00:00Z",
                "ResourceStatus": status,
            }
            for i, pid in enumerate(physical_ids)
        ]
        stub.add_response("list_stack_resources", {"StackResourceSummaries": summaries}, {"StackName": stack})
    else:
        stub.add_client_error("list_stack_resources", "ValidationError", f"Stack with id {stack} does not exist", 400)
    for pid, owner in (owners or {}).items():
        if owner is None:
            stub.add_client_error("describe_stack_resources", "ValidationError", f"Stack for {pid} does not exist", 400)
            continue
        resource = {
            "StackName": owner,
            "LogicalResourceId": "Addon",
            "PhysicalResourceId": pid,
            "ResourceType": "AWS::EKS::Addon",
            "Timestamp": "2026-12-01T00:00:00Z",
            "ResourceStatus": "UPDATE_COMPLETE",
        }
        stub.add_response("describe_stack_resources", {"StackResources": [resource]}, {"PhysicalResourceId": pid})
    return cfn
