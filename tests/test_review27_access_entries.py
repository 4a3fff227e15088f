"""Review round 27 (R27P-M1): following docs/first-job.md (a day-2 `access grant`, then the same principal in
the config) made the next deploy fail: EKS allows one access entry per principal. Preflight now looks up each
principal the config maps: an entry the stack holds passes, any other fails with the fix."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml

from hyperpod_cdk.cli import preflight, preflight_access_entries
from hyperpod_cdk.config import parse_config

_spec = importlib.util.spec_from_file_location("cli_fixtures_r27", Path(__file__).with_name("cli_fixtures.py"))
assert _spec is not None and _spec.loader is not None
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)

ALICE = "arn:aws:iam::123456789012:role/Alice"
BOB = "arn:aws:iam::123456789012:role/Bob"


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch) -> None:
    fx.set_fake_aws_env(monkeypatch)


def _rows(answers: dict[str, str], held: tuple[str, ...] = ()) -> list[Any]:
    """examples/eks-fsx.yaml with Alice an admin and Bob the first team's role; ``answers``: principal -> "found",
    "missing" or "denied" for eks:DescribeAccessEntry."""
    data = yaml.safe_load((fx.REPO / "examples" / "eks-fsx.yaml").read_text())
    data["eks"]["admin_principal_arns"] = [ALICE]
    data["kubernetes"]["teams"][0]["submitter_role_arn"] = BOB
    cfg = parse_config(data)
    eks, stub = fx.stubbed("eks")
    for arn in (ALICE, BOB):
        expected = {"clusterName": cfg.eks.cluster_name, "principalArn": arn}
        if answers[arn] == "found":
            stub.add_response("describe_access_entry", {"accessEntry": {"principalArn": arn}}, expected)
        elif answers[arn] == "missing":
            stub.add_client_error(
                "describe_access_entry", "ResourceNotFoundException", "none", 404, expected_params=expected
            )
        else:
            stub.add_client_error(
                "describe_access_entry", "AccessDeniedException", "denied", 403, expected_params=expected
            )
    overrides = {"eks": eks, "cloudformation": fx.cloudformation_holding(f"{cfg.name}-platform", *held)}
    ctx = preflight.Context(
        config=cfg, clients=fx.clients(overrides), region=fx.REGION, options=preflight.PreflightOptions()
    )
    rows = preflight_access_entries.check_access_entries(ctx)
    stub.assert_no_pending_responses()
    return rows


def test_an_entry_made_by_hand_fails_with_the_revoke_fix() -> None:
    alice, bob = _rows({ALICE: "missing", BOB: "found"})
    assert alice.status == "pass"
    assert bob.status == "fail" and "kubernetes.teams[0]" in bob.reason and "one per principal" in bob.reason
    assert f"hyperpod-cdk access revoke {BOB}" in bob.fix


def test_an_entry_the_stack_holds_passes() -> None:
    cluster = parse_config(yaml.safe_load((fx.REPO / "examples" / "eks-fsx.yaml").read_text())).eks.cluster_name
    rows = _rows({ALICE: "found", BOB: "found"}, held=(f"{ALICE}|{cluster}", f"{BOB}|{cluster}"))
    assert [row.status for row in rows] == ["pass", "pass"]


def test_a_denied_lookup_warns() -> None:
    rows = _rows({ALICE: "denied", BOB: "missing"})
    assert [row.status for row in rows] == ["warn", "pass"]


def test_a_principal_both_admin_and_team_role_is_a_config_error() -> None:
    """R28-M2: the same ARN in eks.admin_principal_arns and a team's submitter_role_arn made two access
    entries for one principal, which EKS refuses at the first deploy."""
    from hyperpod_cdk.errors import HyperPodConfigError

    data = yaml.safe_load((fx.REPO / "examples" / "eks-fsx.yaml").read_text())
    data["eks"]["admin_principal_arns"] = [ALICE]
    data["kubernetes"]["teams"][0]["submitter_role_arn"] = ALICE
    with pytest.raises(HyperPodConfigError, match=r"teams\[0\]\(training\)\.submitter_role_arn") as caught:
        parse_config(data)
    assert "one access entry per principal" in str(caught.value) and "\n" not in str(caught.value)
