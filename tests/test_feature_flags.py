"""cdk.json sets every aws-cdk-lib feature flag on purpose, and a snapshot records what each choice changes.

``tests/snapshots/feature_flag_effects.json`` maps each flag whose value changes the default template
to those changes (the value in cdk.json against the other value: ``not value`` for booleans, the
library default for the rest). The test synthesizes the default app once with every flag flipped and
compares the difference with the union of the snapshot; flags absent from the snapshot change nothing
in the template. After changing a flag or upgrading aws-cdk-lib, regenerate the snapshot (one synth per
group of flags, halving the groups that change something) with::

    .venv/bin/python tests/test_feature_flags.py --update

docs/feature-flags.md says why the two flags that differ from aws-cdk-lib's recommendation do.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SNAPSHOT = REPO / "tests" / "snapshots" / "feature_flag_effects.json"
CDK_JSON = json.loads((REPO / "cdk.json").read_text())
CONTEXT: dict[str, Any] = CDK_JSON["context"]
FLAGS = sorted(key for key in CONTEXT if key.startswith("@aws-cdk"))
# Paths are compared down to Resources/<id>/Properties/<key>: deeper detail only adds noise.
DEPTH = 4


def flipped(context: Mapping[str, Any], flags: Sequence[str]) -> dict[str, Any]:
    """``context`` with each of ``flags`` at its other value (non-booleans: left unset)."""
    result = dict(context)
    for flag in flags:
        if isinstance(result[flag], bool):
            result[flag] = not result[flag]
        else:
            del result[flag]
    return result


def template_changes(before: Any, after: Any, path: str = "", depth: int = DEPTH) -> list[str]:
    """``+ path (Type)``, ``- path (Type)`` and ``~ path`` lines, sorted."""
    if before == after:
        return []
    if depth == 0 or not (isinstance(before, dict) and isinstance(after, dict)):
        return [f"~ {path}"]
    changes: list[str] = []
    for key in sorted(set(before) | set(after)):
        where = f"{path}/{key}" if path else str(key)
        if key not in before or key not in after:
            value = after.get(key) if key in after else before.get(key)
            kind = f" ({value['Type']})" if isinstance(value, dict) and "Type" in value else ""
            changes.append(f"{'+' if key in after else '-'} {where}{kind}")
        else:
            changes += template_changes(before[key], after[key], where, depth - 1)
    return sorted(changes)


def synth_template(context: Mapping[str, Any]) -> dict[str, Any]:
    """The default app's template under ``context`` (no cdk-nag, no built-in validation: neither changes it)."""
    import aws_cdk as cdk

    from hyperpod_cdk.config import load_config
    from infra.app_builder import add_platform

    with tempfile.TemporaryDirectory() as outdir:
        app = cdk.App(outdir=outdir, context=dict(context), builtin_cloud_formation_validation=False)
        stack = add_platform(app, load_config(REPO / "hyperpod.yaml"), nag=False)
        return app.synth().get_stack_by_name(stack.stack_name).template


def flag_report(outdir: Path) -> dict[str, dict[str, Any]]:
    """aws-cdk-lib's feature-flag report from a cloud assembly (recommended and unconfigured values)."""
    manifest = json.loads((outdir / "manifest.json").read_text())
    return manifest["artifacts"]["aws-cdk-lib/feature-flag-report"]["properties"]["flags"]


def test_every_flag_whose_default_is_not_the_recommendation_is_set(platform) -> None:
    report = flag_report(platform.outdir)
    unset = sorted(
        flag
        for flag, info in report.items()
        if info.get("recommendedValue") != (info.get("unconfiguredBehavesLike") or {}).get("v2", False)
        and flag not in CONTEXT
    )
    assert not unset, f"set these aws-cdk-lib feature flags in cdk.json (and run this file with --update): {unset}"
    unknown = sorted(set(FLAGS) - set(report))
    assert not unknown, f"cdk.json sets flags this aws-cdk-lib does not have: {unknown}"


def test_flag_effects_match_the_snapshot(platform) -> None:
    snapshot: dict[str, list[str]] = json.loads(SNAPSHOT.read_text())
    assert set(snapshot) <= set(FLAGS), f"the snapshot names flags cdk.json does not set: {set(snapshot) - set(FLAGS)}"
    changed = template_changes(platform.template, synth_template(flipped(CONTEXT, FLAGS)))
    expected = sorted({line for lines in snapshot.values() for line in lines})
    assert changed == expected, (
        "flipping the feature flags changes the template differently from "
        f"{SNAPSHOT.relative_to(REPO)}: run `.venv/bin/python tests/test_feature_flags.py --update` and review"
    )


def attribute(flags: Sequence[str], baseline: dict[str, Any]) -> dict[str, list[str]]:
    """Per flag, what flipping it changes; flags whose group changes nothing are skipped in one synth."""
    changes = template_changes(baseline, synth_template(flipped(CONTEXT, flags)))
    if not changes:
        return {}
    if len(flags) == 1:
        return {flags[0]: changes}
    middle = len(flags) // 2
    return {**attribute(flags[:middle], baseline), **attribute(flags[middle:], baseline)}


def main(argv: Sequence[str]) -> int:
    if "--update" not in argv:
        print(__doc__)
        return 2
    node = Path(sys.executable).with_name("node")
    if node.exists():
        os.environ.setdefault("JSII_NODE", str(node))
    sys.path.insert(0, str(REPO))
    effects = attribute(FLAGS, synth_template(CONTEXT))
    SNAPSHOT.parent.mkdir(exist_ok=True)
    SNAPSHOT.write_text(json.dumps(dict(sorted(effects.items())), indent=2) + "\n")
    print(f"{SNAPSHOT.relative_to(REPO)}: {len(effects)} flag(s) change the template: {', '.join(effects) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
