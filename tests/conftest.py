"""Shared fixtures: synthesize the platform once per test session (jsii start-up is slow)."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

# jsii must run on the venv's Node 24 (the system Node 20 is end-of-life for jsii).
_node = Path(sys.executable).with_name("node")
if _node.exists():
    os.environ.setdefault("JSII_NODE", str(_node))

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CDK_CONTEXT = json.loads((REPO / "cdk.json").read_text())["context"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="also run long property-based runs")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="long run: pass --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@dataclass
class Synthesized:
    """One synthesized app: the stack object, its template dict and the cloud assembly dir."""

    stack: object
    template: dict
    outdir: Path

    def resources(self, cfn_type: str) -> dict[str, dict]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == cfn_type}

    def one(self, cfn_type: str) -> tuple[str, dict]:
        found = self.resources(cfn_type)
        assert len(found) == 1, f"expected one {cfn_type}, found {sorted(found)}"
        return next(iter(found.items()))


def synth_platform(config_path: Path, outdir: Path, *, nag: bool = True) -> Synthesized:
    import aws_cdk as cdk

    from hyperpod_cdk.config import load_config
    from infra.app_builder import add_platform

    app = cdk.App(outdir=str(outdir), context=dict(CDK_CONTEXT))
    stack = add_platform(app, load_config(config_path), nag=nag)
    assembly = app.synth()
    artifact = assembly.get_stack_by_name(stack.stack_name)
    return Synthesized(stack, artifact.template, outdir)


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The default app (hyperpod.yaml), synthesized with cdk-nag and strict built-in validation."""
    return synth_platform(REPO / "hyperpod.yaml", tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def synth():
    """The synth function, for tests that need another config (keep their number small)."""
    return synth_platform


@pytest.fixture(scope="session")
def eks_fsx(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """examples/eks-fsx.yaml with cdk-nag and strict validation: the one EKS + FSx synth of the session."""
    return synth_platform(REPO / "examples" / "eks-fsx.yaml", tmp_path_factory.mktemp("eks-fsx.out"))


@pytest.fixture(scope="session")
def slurm_app(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """examples/slurm.yaml (Slurm + FSx) with cdk-nag and strict validation: the one Slurm synth of the session."""
    return synth_platform(REPO / "examples" / "slurm.yaml", tmp_path_factory.mktemp("slurm.out"))


@pytest.fixture(scope="session")
def slurm_accounting(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """examples/slurm.yaml with Continuous provisioning, the customer managed EBS key and a created
    accounting database (RDS), with cdk-nag and strict validation: the one such synth of the session."""
    import yaml

    data = yaml.safe_load((REPO / "examples" / "slurm.yaml").read_text())
    data["hyperpod"].update(node_provisioning_mode="Continuous", ebs_kms_key="customer-managed")
    data["slurm"] = {"accounting": {"enabled": True, "name": "slurm_acct_db_hyperpod"}}
    work = tmp_path_factory.mktemp("slurm-accounting")
    config = work / "slurm-accounting.yaml"
    config.write_text(yaml.safe_dump(data))
    return synth_platform(config, work / "cdk.out")


@pytest.fixture(scope="session")
def eks_governed(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """examples/eks-governed.yaml (task governance, observability with AMP and Grafana) with cdk-nag and
    strict validation: the one synth of it in the session."""
    return synth_platform(REPO / "examples" / "eks-governed.yaml", tmp_path_factory.mktemp("governed.out"))
