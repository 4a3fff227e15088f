"""Kubernetes versions: what HyperPod accepts, the EKS support calendar, the default and the synth warning."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
from pathlib import Path

import pytest

from hyperpod_cdk.specs import kubernetes_versions as kv

TODAY = dt.date(2026, 11, 30)
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def on_2026_11_30(monkeypatch: pytest.MonkeyPatch) -> dt.date:
    monkeypatch.setattr(kv, "today", lambda: TODAY)
    return TODAY


def test_hyperpod_accepts_1_30_to_1_35() -> None:
    assert kv.SUPPORTED_VERSIONS == ("1.30", "1.31", "1.32", "1.33", "1.34", "1.35")
    assert all(kv.EKS_VERSIONS[v].hyperpod for v in kv.SUPPORTED_VERSIONS)
    assert not kv.EKS_VERSIONS["1.36"].hyperpod


def test_calendar_is_fourteen_months_standard_then_twelve_extended() -> None:
    for row in kv.EKS_VERSIONS.values():
        assert row.eks_release < row.end_of_standard_support < row.end_of_extended_support
        assert (row.end_of_extended_support - row.end_of_standard_support).days in range(365, 367)


def test_default_is_the_newest_version_in_standard_support(on_2026_11_30: dt.date) -> None:
    # 1.34 is still in standard support today but leaves it in two days; 1.35 runs until 2027-03-27.
    assert kv.DEFAULT_VERSION == "1.35" == kv.newest_in_standard_support(TODAY)
    assert kv.support_status("1.35").level == "standard"


@pytest.mark.parametrize(
    ("version", "level", "words"),
    [
        ("1.30", "ended", "left EKS extended support on 2026-07-23"),
        ("1.31", "ended", "left EKS extended support on 2026-11-26"),
        ("1.32", "extended", "$0.60 per cluster-hour (about $438 a month)"),
        ("1.33", "extended", "six times as much, until 2027-07-29; upgrade to 1.35"),
        ("1.34", "ending", "leaves EKS standard support on 2026-12-02 (in 2 days)"),
        ("1.35", "standard", "until 2027-03-27"),
    ],
)
def test_status_on_2026_11_30(on_2026_11_30: dt.date, version: str, level: str, words: str) -> None:
    status = kv.support_status(version)
    assert (status.level, status.usable) == (level, level != "ended")
    assert words in status.message


def test_status_moves_with_the_date() -> None:
    assert kv.support_status("1.34", dt.date(2026, 12, 3)).level == "extended"
    assert kv.support_status("1.35", dt.date(2028, 3, 28)).level == "ended"
    assert kv.newest_in_standard_support(dt.date(2027, 3, 28)) is None


def test_ended_version_is_a_config_error_naming_the_field(on_2026_11_30: dt.date) -> None:
    from hyperpod_cdk.config import load_config
    from hyperpod_cdk.errors import HyperPodConfigError

    data = (REPO / "hyperpod.yaml").read_text().replace('kubernetes_version: "1.35"', 'kubernetes_version: "1.31"')
    path = REPO / "tests" / "_tmp_k8s_1_31.yaml"
    try:
        path.write_text(data)
        with pytest.raises(HyperPodConfigError) as caught:
            load_config(path)
    finally:
        path.unlink(missing_ok=True)
    assert caught.value.field == "eks.kubernetes_version"
    assert "left EKS extended support on 2026-11-26" in caught.value.message
    assert "\n" not in str(caught.value)


def test_kubectl_layer_package_per_version() -> None:
    assert kv.kubectl_layer_package("1.34") == (
        "aws-cdk.lambda-layer-kubectl-v34",
        "aws_cdk.lambda_layer_kubectl_v34",
        "KubectlV34Layer",
    )


@pytest.mark.parametrize("version", ["1.32", "1.33", "1.34", "1.35"])
def test_every_usable_version_has_its_layer_pinned_and_installed(version: str) -> None:
    distribution, module, _ = kv.kubectl_layer_package(version)
    assert importlib.util.find_spec(module) is not None, f"{distribution} is not installed"
    lock = (REPO / "requirements.lock").read_text().splitlines()
    assert any(line.startswith(f"{distribution}==") for line in lock)


def test_default_layer_is_a_dependency_and_the_others_an_extra() -> None:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    default = kv.kubectl_layer_package(kv.DEFAULT_VERSION)[0]
    assert any(dep.startswith(default) for dep in project["dependencies"])
    extra = project["optional-dependencies"]["kubectl-all"]
    assert sorted(d.split(">")[0] for d in extra) == [kv.kubectl_layer_package(v)[0] for v in ("1.32", "1.33", "1.34")]


# ---------------------------------------------------------------- 1.34 on EKS, synthesized


@pytest.fixture(scope="module")
def eks_1_34(tmp_path_factory: pytest.TempPathFactory):
    """A small stack: a 1.34 HyperPodEksCluster, synthesized with today pinned to 2026-11-30."""
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2

    from hyperpod_cdk.cluster.eks import HyperPodEksCluster

    patch = pytest.MonkeyPatch()
    patch.setattr(kv, "today", lambda: TODAY)
    try:
        app = cdk.App(outdir=str(tmp_path_factory.mktemp("eks134")))
        stack = cdk.Stack(app, "Eks134", env=cdk.Environment(account="123456789012", region="us-west-2"))
        vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=1)
        HyperPodEksCluster(
            stack,
            "Eks",
            vpc=vpc,
            control_plane_subnets=vpc.private_subnets,
            security_group=ec2.SecurityGroup(stack, "Sg", vpc=vpc),
            cluster_name="k134",
            kubernetes_version="1.34",
        )
        assembly = app.synth()
    finally:
        patch.undo()
    return assembly.get_stack_by_name("Eks134")


def test_1_34_synthesizes_with_the_1_34_kubectl_layer(eks_1_34) -> None:
    resources = eks_1_34.template["Resources"]
    (cluster,) = (r for r in resources.values() if r["Type"] == "AWS::EKS::Cluster")
    assert cluster["Properties"]["Version"] == "1.34"
    layers = [r["Properties"]["Description"] for r in resources.values() if r["Type"] == "AWS::Lambda::LayerVersion"]
    assert any(d.startswith("/opt/kubectl/kubectl 1.34.") for d in layers), layers


def test_1_34_warns_with_the_price(eks_1_34) -> None:
    warnings = [entry.data for entry in eks_1_34.find_metadata_by_type("aws:cdk:warning")]
    text = json.dumps(warnings)
    assert "leaves EKS standard support on 2026-12-02" in text
    assert "$0.60 per cluster-hour" in text and "hyperpod-cdk:kubernetes-extended-support" in text
