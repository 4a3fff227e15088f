"""R30P-H1, preflight: on an existing EKS cluster, a team namespace the stack would create that is already
there, not made by hyperpod-cdk, fails a row naming the team's field (the manifests handler refuses it at
deploy, and the deploy rolls back). The row runs against the fake HTTPS Kubernetes API (tests/fake_kube.py,
which checks the EKS token), as the Helm release row does."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml

from hyperpod_cdk.cli import preflight, preflight_namespaces
from hyperpod_cdk.config import parse_config
from hyperpod_cdk.kubernetes.handlers.shared.manifest_sets import set_label_value
from hyperpod_cdk.kubernetes.manifests import PRUNE_LABEL


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"{name}_r30_ns", Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fx = _load("cli_fixtures")
fk = _load("fake_kube")
EKS_NAME = "team-eks"
NAMESPACES = "/api/v1/namespaces"


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch) -> None:
    fx.set_fake_aws_env(monkeypatch)


def _rows(tmp_path: Path, existing: dict[str, dict[str, str]], status: int = 200) -> list[Any]:
    """examples/existing-vpc-and-eks.yaml (eks.existing: team-eks) with teams research (namespace ml-research)
    and train (hyperpod-ns-train); ``existing``: namespace -> labels."""
    data = yaml.safe_load((fx.REPO / "examples" / "existing-vpc-and-eks.yaml").read_text())
    data.setdefault("kubernetes", {})["teams"] = [{"name": "research", "namespace": "ml-research"}, {"name": "train"}]
    cfg = parse_config(data)
    with fk.serve(tmp_path) as (state, port, ca):
        items = [{"metadata": {"name": n, "labels": labels}} for n, labels in existing.items()]
        state.routes[NAMESPACES] = lambda method, query, body: (status, {"kind": "NamespaceList", "items": items})
        eks, stub = fx.stubbed("eks")
        cluster = {"name": EKS_NAME, "endpoint": f"https://127.0.0.1:{port}", "certificateAuthority": {"data": ca}}
        stub.add_response("describe_cluster", {"cluster": cluster}, {"name": EKS_NAME})
        ctx = preflight.Context(
            config=cfg,
            clients=fx.clients({"eks": eks}),
            region=fx.REGION,
            options=preflight.PreflightOptions(existing_eks_cluster=EKS_NAME),
        )
        rows = preflight.guarded("team namespaces", "eks", ctx, lambda: preflight_namespaces.check_team_namespaces(ctx))
        assert [p for _, p, _ in state.requests] == [NAMESPACES]
    return rows


def test_a_namespace_someone_else_made_fails_naming_the_teams_field(tmp_path: Path) -> None:
    research, train = _rows(tmp_path, {"ml-research": {"owner": "data-team"}, "kube-system": {}})
    assert (research.check, research.status) == ("namespace ml-research", "fail")
    assert "kubernetes.teams[0](research).namespace" in research.reason and "roll back" in research.reason
    assert (train.check, train.status) == ("namespace hyperpod-ns-train", "pass")


def test_only_this_stacks_set_label_passes(tmp_path: Path) -> None:
    """R31T-L1: any hyperpod-cdk label passed, but the handler accepts only its own set's value: a namespace
    another hyperpod-cdk stack made fails the deploy. The row computes this stack's value."""
    own = set_label_value("team-a-platform/Default/Manifests", "OperatorChart")
    rows = _rows(tmp_path, {"ml-research": {PRUNE_LABEL: own}, "hyperpod-ns-train": {PRUNE_LABEL: "1" * 32}})
    # The second has task governance's name but another platform's label: refused, not adopted (R32P-M1).
    assert [row.status for row in rows] == ["pass", "fail"]
    (tmp_path / "other").mkdir()
    (research, _) = _rows(tmp_path / "other", {"ml-research": {PRUNE_LABEL: "0" * 32}})
    assert research.status == "fail" and "not made by this stack" in research.reason


def test_a_denied_list_warns(tmp_path: Path) -> None:
    (row,) = _rows(tmp_path, {}, status=403)
    assert row.status == "warn" and "kubectl get namespace ml-research hyperpod-ns-train" in row.fix


def test_the_label_is_the_handlers() -> None:
    assert preflight_namespaces.SET_LABEL == PRUNE_LABEL


def test_a_namespace_named_as_task_governance_names_it_is_adopted(tmp_path: Path) -> None:
    """R31P-M1: hyperpod-ns-<team> made by SageMaker (a quota team's) is adopted by the stack, not refused."""
    research, train = _rows(tmp_path, {"hyperpod-ns-train": {"sagemaker": "x"}})
    assert (train.status, research.status) == ("pass", "pass") and "adopts it" in train.reason
