"""HyperPod rule pack: synth-time checks that cdk-nag's AwsSolutions pack and checkov miss.

Use it in any CDK app, like a cdk-nag v3 pack::

    from hyperpod_cdk.rules import HyperPodChecks
    cdk.Validations.of(app).add_plugins(HyperPodChecks())

or without CDK, on templates already synthesized::

    from hyperpod_cdk.rules import check_files
    findings = check_files(Path("cdk.out").glob("*.template.json"))

The rules read the synthesized CloudFormation templates only, so they see whatever the app
produced, from any construct library. ``RULES`` lists them, each with a cited ``source`` and a
``kind``: ``deploy`` rules (a definition that fails at deploy; ``docs/lint.md``) and ``posture`` rules
(``docs/security-posture.md``). ``hyperpod-cdk lint`` runs the same table on CloudFormation, CreateCluster
JSON, cdk.out and Terraform JSON (:mod:`hyperpod_cdk.rules.inputs`), and ``rules/cfn_lint/`` wraps it for
``cfn-lint --append-rules``. Importing this package does not start jsii: :class:`HyperPodChecks` (which needs
``aws_cdk``) is loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hyperpod_cdk.rules.catalog import RULES, RULES_BY_ID, check, check_files
from hyperpod_cdk.rules.model import Finding, Rule, Templates

if TYPE_CHECKING:
    from hyperpod_cdk.rules.plugin import HyperPodChecks

__all__ = ["RULES", "RULES_BY_ID", "Finding", "HyperPodChecks", "Rule", "Templates", "check", "check_files"]


def __getattr__(name: str) -> Any:
    if name == "HyperPodChecks":
        from hyperpod_cdk.rules.plugin import HyperPodChecks

        return HyperPodChecks
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
