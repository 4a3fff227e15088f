"""Security posture of the synthesized app with third-party scanners: checkov and cfn-lint -c I.

- checkov (CloudFormation) on every template of the default app: no failure unless the template
  skips the check with a reason (``Metadata.checkov.skip``). A canary template in the same run
  proves checkov really evaluates checks.
- checkov (Kubernetes) on the rendered manifests, when the project can render them.
- cfn-lint with informational rules: I3011 (stateful resource without explicit
  DeletionPolicy/UpdateReplacePolicy) must not fire.

docs/security-posture.md lists every skip with its reason and the measured counts.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
CHECKOV = BIN / "checkov"
CFN_LINT = BIN / "cfn-lint"
REPO = Path(__file__).resolve().parent.parent
MIN_REASON = 20

CANARY = {
    "Resources": {
        "CanaryCluster": {
            "Type": "AWS::EKS::Cluster",
            "Properties": {
                "RoleArn": "arn:aws:iam::111111111111:role/eks",
                "ResourcesVpcConfig": {"SubnetIds": ["subnet-1", "subnet-2"]},
            },
        }
    }
}


def _checkov(args: list[str]) -> list[dict]:
    result = subprocess.run(
        [str(CHECKOV), *args, "--compact", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr[-3000:]
    reports = json.loads(result.stdout)
    return reports if isinstance(reports, list) else [reports]


@pytest.fixture(scope="module")
def templates(platform) -> list[Path]:
    found = sorted(platform.outdir.glob("*.template.json"))
    assert found, "synth produced no templates"
    return found


@pytest.fixture(scope="module")
def checkov_cfn(templates, tmp_path_factory) -> dict[str, dict[str, list[dict]]]:
    """One checkov run over every template plus the canary: results per file, per outcome."""
    canary = tmp_path_factory.mktemp("checkov") / "canary.template.json"
    canary.write_text(json.dumps(CANARY))
    files = [*templates, canary]
    args = [arg for f in files for arg in ("-f", str(f))] + ["--framework", "cloudformation"]
    by_file: dict[str, dict[str, list[dict]]] = {str(f): {"failed": [], "passed": [], "skipped": []} for f in files}
    for report in _checkov(args):
        results = report.get("results", {})
        for outcome in ("failed", "passed", "skipped"):
            for check in results.get(f"{outcome}_checks", []):
                by_file.setdefault(check["file_abs_path"], {"failed": [], "passed": [], "skipped": []})
                by_file[check["file_abs_path"]][outcome].append(check)
    by_file["__canary__"] = by_file.pop(str(canary))
    return by_file


def _app_results(checkov_cfn, outcome: str) -> list[dict]:
    return [c for path, res in checkov_cfn.items() if path != "__canary__" for c in res[outcome]]


def _describe(checks: list[dict]) -> str:
    return "\n".join(f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in checks)


def test_checkov_is_live(checkov_cfn):
    """Guard against a silently broken scan: the canary's unencrypted EKS secrets must fail CKV_AWS_58."""
    assert "CKV_AWS_58" in {c["check_id"] for c in checkov_cfn["__canary__"]["failed"]}
    assert _app_results(checkov_cfn, "passed"), "checkov evaluated nothing on the app templates"


def test_checkov_reports_no_failures(checkov_cfn):
    """0 failures: each finding is fixed or skipped in the template next to its cause, with a reason."""
    failed = _app_results(checkov_cfn, "failed")
    assert not failed, (
        "checkov failures; fix them, or skip with hyperpod_cdk.rules.suppress.skip_checkov and a reason:\n"
        + _describe(failed)
    )


def test_checkov_skips_give_reasons(checkov_cfn):
    for check in _app_results(checkov_cfn, "skipped"):
        comment = (check.get("check_result") or {}).get("suppress_comment") or ""
        assert len(comment.strip()) >= MIN_REASON, f"{check['check_id']} on {check['resource']}: skip without reason"


def test_efa_all_traffic_self_rules_pass_checkov(checkov_cfn):
    """checkov's CloudFormation checks have no all-protocol rule check, so the EFA rules need no skip."""
    rules = [
        c
        for c in _app_results(checkov_cfn, "failed") + _app_results(checkov_cfn, "skipped")
        if c["resource"].startswith(("AWS::EC2::SecurityGroupIngress.", "AWS::EC2::SecurityGroupEgress."))
    ]
    assert rules == []


# --- cfn-lint informational rules ------------------------------------------------------------


def test_cfn_lint_i3011_finds_no_unretained_stateful_resource(templates, tmp_path):
    canary = tmp_path / "canary.template.json"
    canary.write_text(json.dumps({"Resources": {"CanaryLogs": {"Type": "AWS::Logs::LogGroup", "Properties": {}}}}))
    result = subprocess.run(
        [
            str(CFN_LINT),
            "-c",
            "I",
            "--format",
            "json",
            "--regions",
            "us-west-2",
            "--",
            *map(str, templates),
            str(canary),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    findings = json.loads(result.stdout or "[]")
    i3011 = [f for f in findings if f["Rule"]["Id"] == "I3011"]
    in_canary = [f for f in i3011 if Path(f["Filename"]).name == canary.name]
    assert in_canary, "cfn-lint -c I did not run I3011 (canary log group without policies not reported)"
    in_app = [f for f in i3011 if f not in in_canary]
    assert in_app == [], json.dumps(in_app, indent=1)[:3000]


# --- Kubernetes manifests --------------------------------------------------------------------


def _manifest_dir(tmp_path: Path) -> Path | None:
    """Fresh manifests from the project's chart writer (its documented CLI), else a built dist/, else None."""
    if importlib.util.find_spec("hyperpod_cdk.kubernetes.charts.dist") is not None:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "hyperpod_cdk.kubernetes.charts.dist",
                "--config",
                str(REPO / "hyperpod.yaml"),
                "--out",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"the chart writer failed:\n{result.stderr[-3000:]}"
        return tmp_path
    dist = REPO / "dist"
    if dist.is_dir() and any(dist.rglob("*.y*ml")):
        return dist
    return None


def test_checkov_on_kubernetes_manifests(tmp_path):
    directory = _manifest_dir(tmp_path)
    if directory is None:
        pytest.skip(
            "no Kubernetes manifests to scan: there is no hyperpod_cdk.kubernetes.charts.dist chart writer and "
            "dist/ holds "
            "no YAML (checkov --framework kubernetes runs once either exists)"
        )
    assert any(directory.rglob("*.y*ml")), f"the chart writer put no YAML into {directory}"
    reports = _checkov(["-d", str(directory), "--framework", "kubernetes"])
    failed = [c for r in reports for c in r.get("results", {}).get("failed_checks", [])]
    skipped = [c for r in reports for c in r.get("results", {}).get("skipped_checks", [])]
    assert not failed, _describe(failed)
    for check in skipped:
        comment = (check.get("check_result") or {}).get("suppress_comment") or ""
        assert len(comment.strip()) >= MIN_REASON, f"{check['check_id']} on {check['resource']}: skip without reason"


def test_checkov_fails_nothing_on_an_existing_cluster(synth, tmp_path):
    """R19Q-L2: with an existing EKS cluster the Helm release spec is a literal string, and checkov's CKV_AWS_45
    read the pinned sha256 digests in it as secrets; every other config hides it in an intrinsic."""
    out = synth(REPO / "examples" / "existing-vpc-and-eks.yaml", tmp_path / "out", nag=False)
    files = sorted(out.outdir.glob("*.template.json"))
    args = [arg for f in files for arg in ("-f", str(f))] + ["--framework", "cloudformation"]
    failed = [c for report in _checkov(args) for c in report.get("results", {}).get("failed_checks", [])]
    assert not failed, _describe(failed)
