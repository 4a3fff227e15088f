"""HyperPodChecks: the rule catalogue as a CDK policy-validation plugin (like cdk-nag v3 packs)."""

from __future__ import annotations

from collections.abc import Iterable

import aws_cdk as cdk
import jsii

from hyperpod_cdk.rules.catalog import RULES_BY_ID, check_files, rules_of
from hyperpod_cdk.rules.model import KINDS

PLUGIN_NAME = "HyperPodChecks"
PLUGIN_VERSION = "1.0.0"


@jsii.implements(cdk.IPolicyValidationPlugin)
class HyperPodChecks:
    """Checks the synthesized templates of any CDK app against the HyperPod rule catalogue.

    Both kinds of rules run by default: ``deploy`` rules (what fails at deploy: a customer managed key
    without Continuous, Karpenter prerequisites, the Helm chart before the cluster, ...) and
    ``posture`` rules (this project's security and resilience opinions). ``kinds=["deploy"]`` runs
    only the former, for an app that keeps its own posture rules.

    Usage::

        cdk.Validations.of(app).add_plugins(HyperPodChecks())

    A finding of error severity fails synth (``ValidationFailed``) until the template is fixed or
    the finding is acknowledged on the construct (or a scope above it), with a reason::

        cdk.Validations.of(construct).acknowledge(
            cdk.Acknowledgment(id="HyperPodChecks::HyperPod-EKS1", reason="..."))

    The templates are read as ``hyperpod-cdk lint cdk.out`` reads them (``CfnParameter`` defaults,
    conditions, the region of the assembly's manifest), with the templates of the app's ``NestedStack``s,
    which CDK does not hand a plugin (review round 22, R22T-H2). An app is a closed world: a value a rule
    needs that is still known only at deploy is a finding of that rule (not a pass), fixed by giving the
    value at synth or acknowledged with the reason it is safe (review round 19, R19T-H1).

    Args:
        exclude: rule ids not to run at all (prefer acknowledgments, which are visible per construct).
        kinds: which kinds of rules run (default: ``deploy`` and ``posture``).
    """

    def __init__(self, *, exclude: Iterable[str] = (), kinds: Iterable[str] = KINDS) -> None:
        self._kinds = tuple(kinds)
        rules_of(self._kinds)  # raises on an unknown kind
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
        return [rule.id for rule in rules_of(self._kinds) if rule.id not in self._exclude]

    def validate(self, context: cdk.IPolicyValidationContext) -> cdk.PolicyValidationPluginReport:
        findings = check_files(context.template_paths, exclude=self._exclude, kinds=self._kinds)
        violations = []
        for finding in findings:
            rule = RULES_BY_ID[finding.rule_id]
            violations.append(
                cdk.PolicyViolation(
                    rule_name=rule.id,
                    description=f"{rule.title}: {finding.detail}. {rule.description} ({rule.source})",
                    fix=rule.fix,
                    severity=rule.severity_of(finding),
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
            success=not any(RULES_BY_ID[f.rule_id].severity_of(f) == "error" for f in findings),
            violations=violations,
            plugin_version=PLUGIN_VERSION,
        )
