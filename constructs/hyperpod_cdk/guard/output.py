"""The guard's report as text (one block per resource) or JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from hyperpod_cdk.guard.values import canonical, render_value
from hyperpod_cdk.input_limits import bounded_json

if TYPE_CHECKING:
    from hyperpod_cdk.guard.findings import Finding, GuardReport

# The most characters of one name or value the report shows (round 7g, M4): a resource's CDK path or
# an instance group's name can be as long as the template allows, and each finding would repeat it.
# Logical IDs are at most 255 (comparable.py), so a cause naming at most 5 of them stays short.
SHOWN_WIDTH = 300


def _cut(text: str | None, width: int = SHOWN_WIDTH) -> str | None:
    return text if text is None or len(text) <= width else text[: width - 3] + "..."


def _shown(finding: Finding) -> dict[str, Any]:
    """``finding`` for --json, each name and value cut to what the text report would show of it."""
    data = finding.to_dict()
    for key in ("cdk_path", "property", "cause"):
        data[key] = _cut(data[key], SHOWN_WIDTH if key != "cause" else 5 * SHOWN_WIDTH)
    for key in ("old", "new"):
        # Only as much as decides the cut (review round 14, tools, M1: the whole aliased value was written).
        text = bounded_json(data[key], SHOWN_WIDTH + 1)
        if len(text) > SHOWN_WIDTH:
            data[key] = render_value(data[key], SHOWN_WIDTH)
    return data


def _group(findings: Iterable[Finding]) -> dict[str, list[Finding]]:
    grouped: dict[str, list[Finding]] = {}
    for finding in findings:
        grouped.setdefault(finding.logical_id, []).append(finding)
    return grouped


def format_text(report: GuardReport, *, old_label: str, new_label: str, allowed: bool = False) -> str:
    lines: list[str] = []
    if not report.findings:
        lines.append(f"no replacing changes ({old_label} -> {new_label})")
    else:
        count = len(report.findings)
        lines.append(
            f"{count} replacing or disruptive change{'s' if count != 1 else ''} "
            f"({old_label} -> {new_label}; schemas: {report.schema_region})"
        )
        for logical_id, items in _group(report.findings).items():
            first = items[0]
            where = f"  {_cut(first.cdk_path)}" if first.cdk_path else ""
            lines.append("")
            lines.append(f"{logical_id} ({first.resource_type}){where}")
            for finding in items:
                head = f"  [{finding.effect.upper()}] {_cut(finding.property)}: "
                if finding.cause and canonical(finding.old) == canonical(finding.new):
                    lines.append(f"{head}{render_value(finding.new)} (unchanged in the template)")
                else:
                    lines.append(f"{head}{render_value(finding.old)} -> {render_value(finding.new)}")
                for extra in (_cut(finding.cause, 5 * SHOWN_WIDTH), finding.reason, finding.note, finding.doc_url):
                    if extra:
                        lines.append(f"      {extra}")
    if report.other_replacements:
        counts: dict[str, int] = {}
        for finding in report.other_replacements:
            counts[finding.resource_type] = counts.get(finding.resource_type, 0) + 1
        summary = ", ".join(f"{n} x {t}" for t, n in sorted(counts.items()))
        lines.append("")
        lines.append(f"also replaced (types the guard does not protect): {summary}")
    if report.nested_stacks:
        lines.append("")
        lines.append(
            f"not compared: the templates of {report.nested_stacks} nested stack(s) (AWS::CloudFormation::Stack); "
            "pass their .nested.template.json files as --old/--new to compare them"
        )
    if report.findings:
        lines.append("")
        if allowed:
            lines.append("allowed by --allow-replacement: deploy only if losing the resources above is intended")
        else:
            lines.append("refusing: review the changes above, then rerun with --allow-replacement to accept them")
    return "\n".join(lines)


def to_json(report: GuardReport, *, old_label: str, new_label: str, allowed: bool = False) -> str:
    data = {
        "old": old_label,
        "new": new_label,
        "schema_region": report.schema_region,
        "nested_stacks_not_compared": report.nested_stacks,
        "blocking": report.blocking and not allowed,
        "allowed": allowed and report.blocking,
        "findings": [_shown(f) for f in report.findings],
        "other_replacements": [_shown(f) for f in report.other_replacements],
    }
    return json.dumps(data, indent=2, default=str)
