"""Fifth review L8: the documented kubectl-user policy limits ``ssm:StartSession`` on the access
tunnel to the port-forwarding document, with the session-document access check in every statement
that allows it (https://docs.aws.amazon.com/systems-manager/latest/userguide/getting-started-sessiondocumentaccesscheck.html)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hyperpod_cdk.cli.access import TUNNEL_DOCUMENT, TUNNEL_TAG
from hyperpod_cdk.cluster.access_tunnel import EksAccessTunnel

REPO = Path(__file__).resolve().parents[1]


def _documented_policy() -> dict:
    text = (REPO / "docs" / "cli.md").read_text()
    section = text.split("**Grant `ssm:StartSession` for the port-forwarding document only.**", 1)[1]
    block = re.search(r"```json\n(.*?)```", section, re.S)
    assert block, "docs/cli.md: the IAM example for kubectl users is missing"
    return json.loads(block.group(1))


def _actions(statement: dict) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else action


def test_every_start_session_statement_checks_the_session_document() -> None:
    statements = [s for s in _documented_policy()["Statement"] if "ssm:StartSession" in _actions(s)]
    assert statements
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert statement["Condition"]["BoolIfExists"] == {"ssm:SessionDocumentAccessCheck": "true"}, statement["Sid"]


def test_the_only_document_allowed_is_the_one_the_cli_uses() -> None:
    resources: list[str] = []
    for statement in _documented_policy()["Statement"]:
        if "ssm:StartSession" in _actions(statement):
            value = statement["Resource"]
            resources += [value] if isinstance(value, str) else value
    documents = [r for r in resources if ":document/" in r]
    assert [d.rsplit("/", 1)[1] for d in documents] == [TUNNEL_DOCUMENT]
    assert not any("*" in d for d in documents)
    instances = [r for r in resources if ":instance/" in r]
    assert instances  # and the instance statement is limited to the tunnel's tag:
    tagged = [
        s
        for s in _documented_policy()["Statement"]
        if any(":instance/" in r for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"]))
    ]
    assert all(f"ssm:resourceTag/{TUNNEL_TAG}" in s["Condition"]["StringEquals"] for s in tagged)


def test_construct_docstring_says_so() -> None:
    doc = EksAccessTunnel.__doc__ or ""
    assert TUNNEL_DOCUMENT in doc and "ssm:SessionDocumentAccessCheck" in doc
