"""``hyperpod-cdk lint PATH...``: this project's HyperPod rules on any cluster definition.

Inputs (:mod:`hyperpod_cdk.rules.inputs`): CloudFormation templates (JSON/YAML), CreateCluster /
UpdateCluster request JSON, cdk.out directories and ``terraform show -json`` output. The rules are the
catalogue's (:data:`hyperpod_cdk.rules.RULES`): the ``deploy`` rules by default, the ``posture`` rules
too with ``--posture``. Output: one line per finding (severity, rule id, file, resource, message, fix,
source), ``--json`` or ``--sarif`` (SARIF 2.1.0 for code-scanning UIs). Exit 1 on any error-severity
finding, else 0; 2 for bad arguments or an input that cannot be read.

``--live`` resolves what the definition only references (subnet CIDRs and free IPs, security-group
rules, the EKS cluster and its add-ons, the lifecycle script in S3, HyperPod quotas) with the same AWS
clients the other commands use (:mod:`hyperpod_cdk.cli.lint_live`), in each template's region (a cdk.out
stack's from ``manifest.json``, else ``--region``, else the SDK's default region).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hyperpod_cdk.cli import output
from hyperpod_cdk.input_limits import escape_controls
from hyperpod_cdk.rules.catalog import RULES_BY_ID, RuleFailedError, check, rules_of
from hyperpod_cdk.rules.inputs import LintInput, LintInputError, load
from hyperpod_cdk.rules.model import NOT_CHECKED, SEVERITIES, Finding, as_map, shown

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_LEVELS = {"error": "error", "warning": "warning", "info": "note", NOT_CHECKED: "none"}
PARAMETER = re.compile(r"^([A-Za-z0-9]+)=(.*)$", re.DOTALL)
# The rule id of a loader's "not checked" line (a condition or value unknown offline).
UNRESOLVED = "unresolved"
plain = escape_controls  # text output: a template's names and values never drive the terminal


def cfn_lint_rules_dir() -> Path:
    """The directory to pass to ``cfn-lint --append-rules``."""
    return Path(__file__).resolve().parent.parent / "rules" / "cfn_lint"


def _parameter(value: str) -> tuple[str, str]:
    match = PARAMETER.fullmatch(value)
    if not match:
        raise argparse.ArgumentTypeError(f"'{value}' is not KEY=VALUE (a template parameter name, '=', its value)")
    return match.group(1), match.group(2)


def add_parser(commands: Any, parents: Sequence[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        "lint",
        parents=list(parents),
        help="check any HyperPod cluster definition (template, CreateCluster JSON, cdk.out, terraform JSON)",
        description="Run this project's HyperPod rules on CloudFormation templates (JSON/YAML), CreateCluster/"
        "UpdateCluster request JSON, cdk.out directories or `terraform show -json` output. Exit 1 on any "
        "error-severity finding. Values known only at deploy are reported as not checked, never guessed.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files or cdk.out directories to lint")
    parser.add_argument(
        "--parameter",
        type=_parameter,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a template parameter value (repeatable; default: the parameter's Default)",
    )
    parser.add_argument(
        "--live", action="store_true", help="also read from AWS what the definition only references (needs credentials)"
    )
    parser.add_argument(
        "--posture",
        action="store_true",
        help="also run the posture rules (this project's security/resilience opinions)",
    )
    parser.add_argument("--sarif", action="store_true", help="print SARIF 2.1.0 (for code-scanning UIs)")
    parser.add_argument(
        "--cfn-lint-rules",
        action="store_true",
        help="print the directory to pass to `cfn-lint --append-rules` and exit",
    )
    parser.set_defaults(handler=_cmd_lint)
    return parser


def _undeclared(parameters: dict[str, str], inputs: list[LintInput]) -> list[str]:
    """The given parameter names no template of the inputs declares (a request or plan declares none)."""
    declared: set[str] = set()
    for lint_input in inputs:
        for template in lint_input.templates.templates.values():
            section = template.get("Parameters")
            if isinstance(section, Mapping):
                declared.update(str(name) for name in section)
    return [name for name in parameters if name not in declared]


def _passed_by_parents(parameters: dict[str, str], inputs: list[LintInput]) -> str | None:
    """Why a given name would be ignored: only nested templates declare it, and the stack resource deploying
    each passes it, so CloudFormation uses the passed value (R30T-L8: accepted, then overridden)."""
    for name in parameters:
        passes = _passes_of(name, inputs)
        if passes:
            return (
                f"--parameter {name}: only nested stacks declare it, and their stack resources pass it "
                f"({'; '.join(passes[:3])}), so a value given for it is not used; give the parent's parameter"
            )
    return None


def _passes_of(name: str, inputs: list[LintInput]) -> list[str]:
    """What the stack resources pass for ``name`` where every template declaring it is a nested one passed
    it; [] where a top-level template declares it or one is not passed it."""
    passes: list[str] = []
    for lint_input in inputs:
        templates = lint_input.templates
        for path, template in templates.templates.items():
            if name not in as_map(template.get("Parameters")):
                continue
            parents = [link] if (link := templates.nested_in.get(path)) else templates.shared_in.get(path, [])
            if not parents:
                return []
            for parent, logical_id in parents:
                stack = templates.resource(parent, logical_id)
                value = as_map(stack.properties.get("Parameters")).get(name) if stack is not None else None
                if value is None:
                    return []
                passes.append(f"{logical_id} passes {shown(value)}")
    return passes


def _cmd_lint(args: argparse.Namespace, factory: Any, io: Any) -> int:
    if args.cfn_lint_rules:
        print(cfn_lint_rules_dir())
        return 0
    if not args.paths:
        output.error(
            "hyperpod-cdk lint: give at least one PATH (a template, request JSON, cdk.out or "
            "terraform JSON), or --cfn-lint-rules",
            code=2,
        )
        return 2
    parameters = dict(args.parameter)
    inputs: list[LintInput] = []
    for path in args.paths:
        try:
            inputs.append(load(path, parameters=parameters, region=args.region))
        except LintInputError as exc:
            output.error(plain(str(exc)), code=2)  # names a file or key from the input
            return 2
        except OSError as exc:  # a probe of the path itself (a name over 255 bytes ...), review round 19, R19T-L1
            output.error(plain(f"{path[:200]}: cannot read it ({exc.strerror or exc})"), code=2)
            return 2
    undeclared = _undeclared(parameters, inputs)
    if undeclared:
        # A misspelt name was dropped silently and the defaults checked instead (review round 19, R19T-L4).
        output.error(
            plain(f"--parameter {undeclared[0]}: no template given declares a parameter of that name"),
            code=2,
        )
        return 2
    ignored = _passed_by_parents(parameters, inputs)
    if ignored is not None:
        output.error(plain(ignored), code=2)
        return 2
    kinds = ("deploy", "posture") if args.posture else ("deploy",)
    results: list[tuple[LintInput, Finding]] = []
    for lint_input in inputs:
        if args.live:
            from hyperpod_cdk.cli.lint_live import enrich_by_region

            # Each template's region as the rules read it (a cdk.out stack's from manifest.json, else --region),
            # with clients of that region: review round 23, R23T-H3.
            enrich_by_region(lint_input, factory)
        try:
            found = check(lint_input.templates, kinds=kinds, include_not_checked=True)
        except RuleFailedError as exc:  # a bug in a rule: one line naming it, not a traceback (seventh review, M3)
            output.error(plain(f"{lint_input.source}: {exc}"), code=2)
            return 2
        results.extend((lint_input, finding) for finding in found)
        for template_path, where, why in lint_input.unresolved:
            parts = where.split("/")
            results.append(
                (
                    lint_input,
                    Finding(
                        UNRESOLVED,
                        template_path,
                        parts[1] if len(parts) > 1 else where,
                        f"not checked: {why}",
                        ("/".join(parts[2:]),),
                        NOT_CHECKED,
                    ),
                )
            )
    results.sort(key=lambda r: (SEVERITIES.index(_severity(r[1])), r[1].template_path, r[1].logical_id))
    if args.sarif:
        print(json.dumps(to_sarif(results, kinds), indent=2))
    elif args.json:
        output.print_json(to_json(inputs, results))
    else:
        _print_lines(inputs, results)
    return 1 if any(_severity(f) == "error" for _, f in results) else 0


def _severity(finding: Finding) -> str:
    rule = RULES_BY_ID.get(finding.rule_id)
    return rule.severity_of(finding) if rule else (finding.severity or "info")


def _row(finding: Finding) -> dict[str, Any]:
    rule = RULES_BY_ID.get(finding.rule_id)
    return {
        "rule_id": finding.rule_id,
        "severity": _severity(finding),
        "file": finding.template_path,
        "resource": finding.logical_id,
        "location": finding.locations[0] if finding.locations else "",
        "message": finding.detail,
        "title": rule.title if rule else "a value the definition leaves to deploy time",
        "fix": rule.fix if rule else "give the value (--parameter KEY=VALUE) to check it",
        "source": rule.source if rule else "",
    }


def to_json(inputs: Sequence[LintInput], results: Sequence[tuple[LintInput, Finding]]) -> dict[str, Any]:
    rows = [_row(f) for _, f in results]
    counts = {s: sum(1 for r in rows if r["severity"] == s) for s in SEVERITIES}
    return {
        "inputs": [{"path": i.source, "kind": i.kind, "region": i.templates.region} for i in inputs],
        "findings": rows,
        "summary": counts,
    }


def _print_lines(inputs: Sequence[LintInput], results: Sequence[tuple[LintInput, Finding]]) -> None:
    out = sys.stdout
    for _, finding in results:
        row = _row(finding)
        where = f"{row['resource']}" + (f" {row['location']}" if row["location"] else "")
        source = f" [{row['source']}]" if row["source"] else ""
        out.write(
            plain(f"{row['severity']}: {row['rule_id']} {row['file']}: {where}: {row['message']}. Fix: {row['fix']}")
            + f"{source}\n"
        )
    counts = {s: sum(1 for _, f in results if _severity(f) == s) for s in SEVERITIES}
    shown = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no findings"
    kinds = ", ".join(sorted({i.kind for i in inputs}))
    out.write(f"{len(inputs)} input(s) ({kinds}): {shown}\n")


def to_sarif(results: Sequence[tuple[LintInput, Finding]], kinds: Sequence[str]) -> dict[str, Any]:
    rules = [
        {
            "id": rule.id,
            "name": rule.id.replace("-", ""),
            "shortDescription": {"text": rule.title},
            "fullDescription": {"text": rule.description},
            "help": {"text": rule.fix},
            "helpUri": rule.source or None,
            "defaultConfiguration": {"level": SARIF_LEVELS[rule.severity]},
            "properties": {"kind": rule.kind},
        }
        for rule in rules_of(kinds)
    ]
    rules.append(
        {
            "id": UNRESOLVED,
            "name": "Unresolved",
            "shortDescription": {"text": "A value the definition leaves to deploy time"},
            "fullDescription": {
                "text": "A condition or value that decides what the definition contains is not "
                "known offline, so the rules did not check what depends on it."
            },
            "help": {"text": "Give the value with --parameter KEY=VALUE, or lint with --live."},
            "defaultConfiguration": {"level": "none"},
        }
    )
    sarif_results = []
    for _, finding in results:
        row = _row(finding)
        sarif_results.append(
            {
                "ruleId": row["rule_id"],
                "level": SARIF_LEVELS[row["severity"]],
                "kind": "review" if row["severity"] == NOT_CHECKED else "fail",
                "message": {"text": f"{row['message']}. Fix: {row['fix']}"},
                "locations": [
                    {
                        "physicalLocation": {"artifactLocation": {"uri": Path(row["file"]).as_posix()}},
                        "logicalLocations": [
                            {
                                "name": row["resource"],
                                "fullyQualifiedName": "/".join(p for p in (row["resource"], row["location"]) if p),
                                "kind": "resource",
                            }
                        ],
                    }
                ],
            }
        )
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "hyperpod-cdk lint",
                        "informationUri": "https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod.html",
                        "rules": [{k: v for k, v in r.items() if v is not None} for r in rules],
                    }
                },
                "results": sarif_results,
            }
        ],
    }
