"""Config error lines (review round 8, tools): a hostile key costs no path resolution, is cut, and
reaches the terminal of ``make synth`` with its control characters escaped (as the CLI does)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from hyperpod_cdk.config.messages import MAX_FIELD_CHARS, error_line
from hyperpod_cdk.errors import HyperPodConfigError

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("work_limits", Path(__file__).with_name("work_limits.py"))
assert _spec and _spec.loader
work_limits = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(work_limits)


def test_a_long_slash_key_is_not_resolved_as_a_path_and_is_cut():
    """L1: ``Path(field).resolve()`` of 520,000 ``a/`` components took 47 s; the 1 MB key was printed."""
    error = HyperPodConfigError("a/" * 300_000, "unknown key; remove it")
    with work_limits.guard(30):
        work = work_limits.calls(lambda: error_line("hyperpod.yaml", error))
    assert work < 200, work
    line = error_line("hyperpod.yaml", error)
    assert len(line) < MAX_FIELD_CHARS + 100
    assert line.endswith("…(cut): unknown key; remove it")


def test_a_field_that_is_the_config_file_still_names_it_once(tmp_path):
    config = tmp_path / "hyperpod.yaml"
    config.write_text("name: x\n")
    error = HyperPodConfigError(str(tmp_path / "." / "hyperpod.yaml"), "must be a YAML mapping")
    assert error_line(config, error) == f"{config}: must be a YAML mapping"


def test_make_synth_escapes_controls_in_a_config_error(tmp_path):
    """L2: app.py printed the key raw: ESC ] 0 ; retitles the terminal, ESC [ 2 J clears it."""
    config = yaml.safe_load((REPO / "hyperpod.yaml").read_text())
    config["x\x1b]0;pwned\x07\x1b[2Jy"] = 1
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [sys.executable, str(REPO / "app.py")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "CDK_CONTEXT_JSON": json.dumps({"config": str(bad)}),
            "CDK_OUTDIR": str(tmp_path / "out"),
        },
    )
    assert result.returncode == 1
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert result.stderr.startswith("error: bad.yaml: x\\x1b]0;pwned\\x07\\x1b[2Jy: ")
