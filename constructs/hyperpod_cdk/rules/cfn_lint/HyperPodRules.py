"""The HyperPod deploy rules as cfn-lint custom rules.

Use them with the cfn-lint your CI already runs (hyperpod-cdk installed in the same environment)::

    cfn-lint --append-rules "$(hyperpod-cdk lint --cfn-lint-rules)" -- template.yaml

Two cfn-lint rules per catalogue rule of kind ``deploy`` (:data:`hyperpod_cdk.rules.RULES`): ``E91nn``
reports its findings at error level and ``W91nn`` those at warning level (a rule such as TOP1, IP1 or K8S1
gives both; R30T-L4: every finding was reported at the rule's own level, so a warning failed cfn-lint);
:data:`NUMBERS` keeps each number stable, and a rule added to the catalogue later gets the next free one. The
template is read as ``hyperpod-cdk lint`` reads it: parameter defaults, conditions evaluated where
known, the first region cfn-lint checks. A value known only at deploy is not reported (cfn-lint has
no "not checked" level; ``hyperpod-cdk lint`` lists those).

cfn-lint instantiates every ``CloudFormationLintRule`` subclass it finds in this module, so the
classes are built by a function and no base class sits at module level.
"""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from hyperpod_cdk.rules.catalog import rules_of
from hyperpod_cdk.rules.cfn_template import resolve_template
from hyperpod_cdk.rules.model import NOT_CHECKED, Rule, Templates

NUMBERS = {
    "HyperPod-KMS1": 9101,
    "HyperPod-KAR1": 9102,
    "HyperPod-SYS1": 9103,
    "HyperPod-TYPE1": 9104,
    "HyperPod-K8S1": 9105,
    "HyperPod-IP1": 9106,
    "HyperPod-FSX1": 9107,
    "HyperPod-HELM1": 9108,
    "HyperPod-TOP1": 9109,
    "HyperPod-ADD1": 9110,
    "HyperPod-TG1": 9111,
    "HyperPod-LCS1": 9112,
    "HyperPod-EKS4": 9113,
    "HyperPod-EFA1": 9114,
    "HyperPod-QUOTA1": 9115,
}
# catalogue rule id -> cfn-lint rule id of the rule's own severity (the letter is the severity).
CFN_LINT_IDS: dict[str, str] = {}
_LETTERS = {"error": "E", "warning": "W"}


def cfn_lint_id(rule_id: str, severity: str | None = None) -> str:
    """The cfn-lint rule id a finding of ``rule_id`` at ``severity`` (None: the rule's own) is reported under."""
    own = CFN_LINT_IDS[rule_id]
    return own if severity is None else _LETTERS.get(severity, own[0]) + own[1:]


def _rule_class(rule: Rule, number: int, severity: str) -> type:
    cfn_lint_id = f"{_LETTERS[severity]}{number}"

    def match(self: Any, cfn: Any) -> list[Any]:
        region = cfn.regions[0] if getattr(cfn, "regions", None) else None
        path = getattr(cfn, "filename", None) or "template"
        resolved = resolve_template(cfn.template, {}, region).template
        templates = Templates({path: resolved}, region=region, closed_world=False)
        matches = []
        for finding in rule.check(templates):
            if finding.severity == NOT_CHECKED or (finding.severity or rule.severity) != severity:
                continue
            location = finding.locations[0].split("/") if finding.locations else []
            steps: list[Any] = [int(p) if p.isdigit() else p for p in location if p]
            matches.append(
                RuleMatch(["Resources", finding.logical_id, *steps], f"{rule.id}: {finding.detail}. Fix: {rule.fix}")
            )
        return matches

    return type(
        "HyperPod" + rule.id.split("-", 1)[1] + ("" if severity == "error" else "Warning"),
        (CloudFormationLintRule,),
        {
            "id": cfn_lint_id,
            "shortdesc": f"{rule.id}: {rule.title}",
            "description": rule.description,
            "source_url": rule.source,
            "tags": ["resources", "sagemaker", "hyperpod"],
            "match": match,
            "__module__": __name__,
        },
    )


_next = max(NUMBERS.values()) + 1
for _rule in rules_of(("deploy",)):
    if _rule.id not in NUMBERS:
        NUMBERS[_rule.id], _next = _next, _next + 1
    CFN_LINT_IDS[_rule.id] = f"{_LETTERS[_rule.severity]}{NUMBERS[_rule.id]}"
    for _severity in _LETTERS:
        _class = _rule_class(_rule, NUMBERS[_rule.id], _severity)
        globals()[_class.__name__] = _class
del _class  # one module attribute per class: cfn-lint instantiates every class it finds
