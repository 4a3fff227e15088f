"""R23P-M1, preflight: on an existing EKS cluster with the chart enabled, a ``kube-system/hyperpod-dependencies``
release hyperpod-cdk did not install (AWS's setup page installs it under that name) fails a row naming the fix.

The row runs for real: a Stubber answers eks DescribeCluster (the fake API's endpoint and CA) and
CloudFormation, and the fake HTTPS Kubernetes API (tests/fake_kube.py, which checks the EKS token) holds
Helm's release Secrets.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml

from hyperpod_cdk.cli import preflight, preflight_existing, preflight_helm_release
from hyperpod_cdk.config import parse_config


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"{name}_r23_preflight", Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fx = _load("cli_fixtures")
fk = _load("fake_kube")
EKS_NAME = "team-eks"
SECRETS = "/api/v1/namespaces/kube-system/secrets"
OWNER = "a" * 40


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch) -> None:
    fx.set_fake_aws_env(monkeypatch)


def config(enabled: bool = True) -> Any:
    """examples/existing-vpc-and-eks.yaml (eks.existing: team-eks)."""
    data = yaml.safe_load((fx.REPO / "examples" / "existing-vpc-and-eks.yaml").read_text())
    data.setdefault("kubernetes", {}).setdefault("helm_dependencies", {})["enabled"] = enabled
    return parse_config(data)


def revision(version: int, status: str, **labels: str) -> dict[str, Any]:
    name = "hyperpod-dependencies"
    return {
        "metadata": {
            "name": f"sh.helm.release.v1.{name}.v{version}",
            "namespace": "kube-system",
            "labels": {"name": name, "owner": "helm", "status": status, "version": str(version), **labels},
        },
        "type": "helm.sh/release.v1",
    }


def secrets_route(items: list[dict[str, Any]]) -> Any:
    """Helm's list call: Secrets whose labels match the selector (as the API server filters)."""

    def route(method: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        terms = [t.split("=", 1) for t in query.get("labelSelector", "").split(",") if t]
        picked = [i for i in items if all(i["metadata"]["labels"].get(k) == v for k, v in terms)]
        return 200, {"kind": "SecretList", "items": picked}

    return route


def run_row(tmp_path: Path, route: Any, *, held: tuple[str, ...] = ()) -> list[Any]:
    with fk.serve(tmp_path) as (state, port, ca):
        state.routes[SECRETS] = route
        eks, stub = fx.stubbed("eks")
        cluster = {"name": EKS_NAME, "endpoint": f"https://127.0.0.1:{port}", "certificateAuthority": {"data": ca}}
        stub.add_response("describe_cluster", {"cluster": cluster}, {"name": EKS_NAME})
        cfg = config()
        overrides = {"eks": eks, "cloudformation": fx.cloudformation_holding(f"{cfg.name}-platform", *held)}
        ctx = preflight.Context(
            config=cfg,
            clients=fx.clients(overrides),
            region=fx.REGION,
            options=preflight.PreflightOptions(existing_eks_cluster=EKS_NAME),
        )
        rows = preflight.guarded(
            "helm release", "eks", ctx, lambda: preflight_helm_release.check_existing_helm_release(ctx)
        )
        assert [p for m, p, _ in state.requests] == [SECRETS]
    return rows


def test_a_release_hyperpod_cdk_did_not_install_fails_with_the_fix(tmp_path: Path) -> None:
    items = [revision(1, "superseded"), revision(2, "deployed")]  # the cluster owner's `helm install` + upgrade
    [row] = run_row(tmp_path, secrets_route(items))
    assert row.status == "fail" and row.check == "helm release kube-system/hyperpod-dependencies"
    assert "revision 2, deployed" in row.reason and "not installed by hyperpod-cdk" in row.reason
    assert "kubernetes.helm_dependencies.enabled: false" in row.fix
    assert "helm uninstall hyperpod-dependencies --namespace kube-system" in row.fix


def test_a_release_this_stack_installed_passes(tmp_path: Path) -> None:
    cfg = config()
    owner = preflight_helm_release.owner_label(
        EKS_NAME, cfg.kubernetes.helm_dependencies.chart_path, f"{cfg.name}-platform"
    )
    items = [revision(1, "superseded"), revision(2, "deployed", **{"hyperpod-cdk-owner": owner})]
    [row] = run_row(tmp_path, secrets_route(items))
    assert row.status == "pass" and "installed by this stack" in row.reason


def test_a_release_the_configs_stack_holds_passes_whatever_its_label(tmp_path: Path) -> None:
    """R25P-L1: a library or nested stack, or an earlier label: the stack's own release failed as another
    stack's, and the fix offered (``enabled: false``) would uninstall it."""
    items = [revision(1, "deployed", **{"hyperpod-cdk-owner": OWNER})]
    [row] = run_row(tmp_path, secrets_route(items), held=("kube-system/hyperpod-dependencies",))
    assert row.status == "pass" and "part of this stack" in row.reason


def test_a_release_another_hyperpod_cdk_stack_installed_fails(tmp_path: Path) -> None:
    """R24P-M1: the label named any hyperpod-cdk stack on the cluster, so a second platform's installer took the
    first one's release over (and its rollback or destroy uninstalled it)."""
    items = [revision(1, "deployed", **{"hyperpod-cdk-owner": OWNER})]
    [row] = run_row(tmp_path, secrets_route(items))
    assert row.status == "fail" and "another hyperpod-cdk stack" in row.reason
    assert "kubernetes.helm_dependencies.enabled: false" in row.fix and "--stack-name" in row.fix


def test_no_release_passes(tmp_path: Path) -> None:
    [row] = run_row(tmp_path, secrets_route([]))
    assert row.status == "pass" and "the stack installs it" in row.reason


def test_an_unlabelled_release_the_configs_stack_holds_passes(tmp_path: Path) -> None:
    """Installed by a hyperpod-cdk from before the owner label: the stack's update upgrades (and labels) it."""
    [row] = run_row(tmp_path, secrets_route([revision(1, "deployed")]), held=("kube-system/hyperpod-dependencies",))
    assert row.status == "pass" and "part of this stack" in row.reason


def test_a_denied_read_warns(tmp_path: Path) -> None:
    [row] = run_row(tmp_path, lambda method, query, body: (403, {"kind": "Status", "message": "forbidden"}))
    assert row.status == "warn" and "not checked" in row.reason
    assert "helm status hyperpod-dependencies --namespace kube-system" in row.fix


def test_the_row_runs_for_an_existing_cluster_with_the_chart_enabled() -> None:
    def names(cfg: Any) -> list[str]:
        options = preflight_existing.options_from_config(cfg, preflight.PreflightOptions())
        ctx = preflight.Context(config=cfg, clients=fx.clients(), region=fx.REGION, options=options)
        return [name for name, _, _ in preflight.plan_checks(ctx)]

    assert "helm release" in names(config())  # eks.existing sets existing_eks_cluster
    assert "helm release" not in names(config(enabled=False))
    assert "helm release" not in names(parse_config(fx.base_config()))  # the platform creates the cluster


def test_the_row_names_what_the_app_installs_and_the_installers_label() -> None:
    from hyperpod_cdk.kubernetes import helm_dependencies

    assert preflight_helm_release.RELEASE_NAME == helm_dependencies.RELEASE_NAME
    assert preflight_helm_release.NAMESPACE == helm_dependencies.NAMESPACE
    handler_spec = (helm_dependencies.HANDLER_DIR / "helm_spec.py").read_text()
    assert f'OWNER_LABEL = "{preflight_helm_release.OWNER_LABEL}"' in handler_spec
