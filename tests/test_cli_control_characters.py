"""Fifth review L1: strings the cluster supplies reach the terminal without control characters.

A job condition, event or node message, or a cluster FailureMessage, may carry ESC sequences (OSC-8
links, ``ESC[2J``). rich's markup escape leaves them; ``output.escape`` / ``output.plain`` strip
C0/C1 controls except TAB and newline, and every CLI module prints through them.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from hyperpod_cdk.cli import output

CLI_DIR = Path(__file__).resolve().parents[1] / "constructs" / "hyperpod_cdk" / "cli"
HOSTILE = "A\x1b]8;;http://evil\x1b\\X\x1b]8;;\x1b\\B\x1b[2J\x07\x9b31m\x00C\td\ne"


def _render(renderable) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=200, color_system=None, highlight=False).print(renderable)
    return buffer.getvalue()


def test_plain_strips_c0_and_c1_controls_but_keeps_tab_and_newline() -> None:
    assert output.plain(HOSTILE) == "A]8;;http://evil\\X]8;;\\B[2J31mC\td\ne"


def test_tables_show_no_escape_sequence_from_a_cell() -> None:
    for table in (
        output.simple_table(("Message",), [(HOSTILE,)]),
        output.checks_table([output.Check("fail", "c", HOSTILE, HOSTILE)]),
    ):
        text = _render(table)
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", text), repr(text)
        assert "http://evil" in text  # shown as text, not acted on


def test_escape_still_escapes_rich_markup() -> None:
    assert _render(output.escape("[bold]x[/]\x1b[2J")).strip() == "[bold]x[/][2J"


def test_no_cli_module_uses_riches_escape_directly() -> None:
    # The one place: output.escape strips controls before escaping markup.
    offenders = [p.name for p in CLI_DIR.glob("*.py") if p.name != "output.py" and "rich.markup" in p.read_text()]
    assert offenders == []


def test_jobs_status_strips_controls_from_every_team_written_field(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Sixth review, L3: rule names and restart limits come from the team's job object."""
    import argparse

    from hyperpod_cdk.cli import jobs

    job = {
        "metadata": {"name": "j", "namespace": "hyperpod-ns-a"},
        "spec": {
            "runPolicy": {
                "jobMaxRetryCount": "\x1b]0;PWNED\x07\x1b[2J",
                "logMonitoringConfiguration": [{"name": "r\x1b]8;;https://evil.example\x07click\x1b]8;;\x07"}],
            }
        },
        "status": {},
    }

    class Api:
        def get(self, *args: object, **kwargs: object) -> dict[str, list[object]]:
            return {"items": []}

    monkeypatch.setattr(jobs, "kube_for", lambda *a, **k: Api())
    monkeypatch.setattr(jobs, "eks_of", lambda *a, **k: {})
    monkeypatch.setattr(jobs, "_find", lambda api, name, ns: job)
    args = argparse.Namespace(namespace="hyperpod-ns-a", tunnel_port=8443, name="j", json=False)
    assert jobs.run(args, "c", None, None) == 0
    job["spec"]["runPolicy"]["logMonitoringConfiguration"] = [{"name": {"not": "a string"}}]
    assert jobs.run(args, "c", None, None) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "PWNED" in out and "rules: r]8;;https://evil.exampleclick]8;;" in out
