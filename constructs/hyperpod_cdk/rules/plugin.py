"""HyperPodChecks: the rule catalogue as a CDK policy-validation plugin (like cdk-nag v3 packs)."""

from __future__ import annotations

from collections.abc import Iterable

import aws_cdk as cdk
import jsii

from hyperpod_cdk.rules.catalog import RULES, RULES_BY_ID, check_files

PLUGIN_NAME = "HyperPodChecks"
PLUGIN_VERSION = "1.0.0"


@jsii.implements(cdk.IPolicyValidationPlugin)
class HyperPodChecks:
    """Checks the synthesized templates of any CDK app for HyperPod-on-EKS settings.

    Usage::

        cdk.Validations.of(app).add_plugins(HyperPodChecks())

    Every finding is an error: synth fails (``ValidationFailed``) until the template is fixed or
    the finding is acknowledged on the construct (or a scope above it), with a reason::

        cdk.Validations.of(construct).acknowledge(
            cdk.Acknowledgment(id="HyperPodChecks::HyperPod-EKS1", reason="..."))

    Args:
        exclude: rule ids not to run at all (prefer acknowledgments, which are visible per construct).
    """

    def __init__(self, *, exclude: Iterable[str] = ()) -> None:
        self._exclude = frozenset(exclude)
        unknown = self._exclude - set(RULES_BY_ID)
        if unknown:
            raise ValueError(f"exclude: unknown HyperPod rule ids {sorted(unknown)}; known: {sorted(RULES_BY_ID)}")

    @property
    def name(self) -> str:
        return PLUGIN_NAME

    @property
    def version(self) -> str:
        return PLUGIN_VERSION

    @property
    def rule_ids(self) -> list[str]:
        return [rule.id for rule in RULES if rule.id not in self._exclude]

    def validate(self, context: cdk.IPolicyValidationContext) -> cdk.PolicyValidationPluginReport:
        findings = check_files(context.template_paths, exclude=self._exclude)
        violations = []
        for finding in findings:
            rule = RULES_BY_ID[finding.rule_id]
            violations.append(
                cdk.PolicyViolation(
                    rule_name=rule.id,
                    description=f"{rule.title}: {finding.detail}. {rule.description}",
                    fix=rule.fix,
                    severity=rule.severity,
                    violating_resources=[
                        cdk.PolicyViolatingResource(
                            resource_logical_id=finding.logical_id,
                            template_path=finding.template_path,
                            locations=list(finding.locations) or ["Properties"],
                        )
                    ],
                )
            )
        return cdk.PolicyValidationPluginReport(
            success=not any(RULES_BY_ID[f.rule_id].severity == "error" for f in findings),
            violations=violations,
            plugin_version=PLUGIN_VERSION,
        )
