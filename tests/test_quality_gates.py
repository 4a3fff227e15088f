"""Real tools on the synthesized app: cfn-lint on every template, cdk-nag, built-in validation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CFN_LINT = Path(sys.executable).with_name("cfn-lint")
# W3005 ("dependency already enforced by a Ref/GetAtt") comes from DependsOn that aws-cdk-lib's
# EKS and Lambda constructs add themselves; it is redundant, not wrong.
IGNORED = ["W3005"]


def cfn_lint(template: Path, region: str) -> list[dict]:
    result = subprocess.run(
        [str(CFN_LINT), "--format", "json", "--regions", region, "--ignore-checks", *IGNORED, "--", str(template)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode in (0, 2, 4, 6, 8, 10, 12, 14), result.stderr
    return json.loads(result.stdout or "[]")


def test_every_template_passes_cfn_lint(platform):
    templates = sorted(platform.outdir.glob("*.template.json"))
    assert templates, "synth produced no templates"
    for template in templates:
        findings = cfn_lint(template, "us-west-2")
        assert findings == [], json.dumps(findings, indent=1)[:3000]


def test_cfn_lint_really_runs_and_catches_a_bad_instance_type(platform, tmp_path):
    """Guard against a silently broken lint step: a bogus instance type must be reported (E3644)."""
    template = json.loads(json.dumps(platform.template))
    cluster = next(v for v in template["Resources"].values() if v["Type"] == "AWS::SageMaker::Cluster")
    cluster["Properties"]["InstanceGroups"][0]["InstanceType"] = "ml.p5.49xlarge"
    broken = tmp_path / "broken.template.json"
    broken.write_text(json.dumps(template))
    rules = {f["Rule"]["Id"] for f in cfn_lint(broken, "us-west-2")}
    assert "E3644" in rules


def test_cdk_nag_and_builtin_validation_pass(platform):
    """The fixture synthesized with AwsSolutionsChecks and strict built-in validation; both passed."""
    report = json.loads((platform.outdir / "validation-report.json").read_text())
    for plugin in report["pluginReports"]:
        assert plugin["conclusion"] == "success", plugin
        # The one expected finding: hyperpod.yaml names no cluster admin until the user sets theirs (issue 17).
        violations = [
            v for v in plugin.get("violations", []) if v["ruleName"] != "Annotation::hyperpod-cdk:noClusterAdmin"
        ]
        assert not violations, violations


def test_cdk_nag_flags_an_unacknowledged_wildcard():
    """The nag pack is live: a fresh wildcard policy without an acknowledgment is a violation."""
    import aws_cdk as cdk
    from aws_cdk import aws_iam as iam
    from cdk_nag import AwsSolutionsChecks

    app = cdk.App()
    stack = cdk.Stack(app, "Probe")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["*"]))
    report = AwsSolutionsChecks().validate_scope(app)
    assert not report.success
    assert any(v.rule_name.startswith("AwsSolutions-IAM5") for v in report.violations)


def test_every_acknowledgment_has_a_specific_reason(platform):
    from hyperpod_cdk.rules.acknowledge import acknowledge

    with pytest.raises(ValueError, match="specific reason"):
        acknowledge(platform.stack, "AwsSolutions-IAM5", "ok")
