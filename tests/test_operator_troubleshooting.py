"""The training operator guide's troubleshooting rows: config error, diagnose findings, error table (issue 17)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hyperpod_cdk.cli import errors_table
from hyperpod_cdk.cli.diagnose import operator_findings
from hyperpod_cdk.config import load_config
from hyperpod_cdk.config.messages import error_line
from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.specs.addon_compat import addon_version_key, task_governance_problem

REPO = Path(__file__).resolve().parent.parent
TO = "amazon-sagemaker-hyperpod-training-operator"
TG = "amazon-sagemaker-hyperpod-taskgovernance"


@pytest.mark.parametrize(
    "version, operator, bad",
    [
        ("v1.2.0-eksbuild.1", True, True),
        ("v1.2.9-eksbuild.9", True, True),
        ("v1.3.0-eksbuild.1", True, False),
        ("v1.10.0-eksbuild.1", True, False),  # numeric, not string, order
        ("v1.2.0-eksbuild.1", False, False),
        (None, True, False),
    ],
)
def test_task_governance_problem(version: str | None, operator: bool, bad: bool) -> None:
    assert (task_governance_problem(version, operator) is not None) is bad


def test_version_key_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not an EKS add-on version"):
        addon_version_key("1.3")


def test_old_task_governance_with_training_operator_is_a_config_error(tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / "hyperpod.yaml").read_text())
    data["kubernetes"] = {
        "addons": {
            "task_governance": {"enabled": True, "version": "v1.2.0-eksbuild.1"},
            "training_operator": {"enabled": True},
            "cert_manager": {"enabled": True},
        }
    }
    path = tmp_path / "hyperpod.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(HyperPodConfigError) as caught:
        load_config(path)
    line = error_line(str(path), caught.value)
    assert "task_governance.version: task governance v1.2.0-eksbuild.1 with the training operator" in line
    assert "v1.3.0-eksbuild.1 or newer" in line


def _row(name: str, version: str = "v1.0.0-eksbuild.1", issues: tuple[str, ...] = ()) -> dict:
    return {
        "name": name,
        "present": True,
        "status": "ACTIVE",
        "optional": True,
        "version": version,
        "issues": list(issues),
    }


def test_diagnose_names_the_guides_install_failures() -> None:
    found = {
        k.key: evidence
        for k, evidence in operator_findings(
            [
                _row(TO, issues=("ConfigurationConflict: pod identity association for hp-training-operator missing",)),
                _row(TG, version="v1.2.0-eksbuild.1"),
            ]
        )
    }
    assert found["cert-manager-missing"] == f"{TO} is installed, cert-manager is not"
    assert found["task-governance-version"] == f"{TG} v1.2.0-eksbuild.1"
    assert "operator-pod-identity" in found


def test_healthy_operator_has_no_findings() -> None:
    assert operator_findings([_row(TO), _row("cert-manager"), _row(TG, version="v1.3.0-eksbuild.1")]) == []


@pytest.mark.parametrize(
    "text, key",
    [
        ('exec: "hyperpodrun": executable file not found in $PATH', "elastic-agent-missing"),
        ("Incompatible HyperPod AMI: update the cluster software", "operator-ami"),
    ],
)
def test_error_table_matches_the_guides_messages(text: str, key: str) -> None:
    assert [k.key for k, _ in errors_table.match_messages([("pod", text)])] == [key]
