"""Config and input error lines: review round 9 (tools) L5, L6, L8."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import threading
import time
from pathlib import Path

import pytest

from hyperpod_cdk.cli.main import main
from hyperpod_cdk.config import load_config
from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.kubernetes import chart_bundle
from hyperpod_cdk.kubernetes.charts import dist
from hyperpod_cdk.specs.prices import PriceTableError, load_table

# Loaded by path (tests use --import-mode=importlib), like cli_fixtures.py.
_spec = importlib.util.spec_from_file_location("work_limits", Path(__file__).with_name("work_limits.py"))
assert _spec and _spec.loader
work_limits = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(work_limits)


def test_a_fifo_config_or_price_table_is_refused_without_blocking(tmp_path: Path) -> None:
    """L8: ``--config``/``--price-table`` of a FIFO blocked forever (lint and the guard refuse FIFOs)."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    done = threading.Event()

    def unblock() -> None:  # a reader that blocks (the bug) gets an empty file after 5 s, so the test ends
        done.wait(5)
        while not done.is_set():
            with contextlib.suppress(OSError):  # ENXIO: no reader waiting right now
                os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
            done.wait(0.1)

    writer = threading.Thread(target=unblock, daemon=True)
    writer.start()
    try:
        started = time.monotonic()
        with pytest.raises(HyperPodConfigError) as config_error:
            load_config(pipe)
        with pytest.raises(PriceTableError) as table_error:
            load_table(pipe)
        assert main(["images", "--config", str(pipe)]) == 2
        assert time.monotonic() - started < 5
    finally:
        done.set()
        writer.join()
    assert "a named pipe, not a file" in config_error.value.message
    assert "a named pipe, not a file" in str(table_error.value)


def test_images_prints_the_shared_config_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """L6: ``images`` formatted config errors itself: an 800 KB key printed whole, the file named twice."""
    long_key = tmp_path / "long.yaml"
    long_key.write_text("name: x\nregion: us-west-2\n? " + "a/" * 40_000 + "a\n: 1\n")
    assert main(["images", "--config", str(long_key)]) == 2
    assert len(capsys.readouterr().err) < 1_000
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [x\n")
    assert main(["images", "--config", str(broken)]) == 2
    assert capsys.readouterr().err.count(str(broken)) == 1


ESCAPES = 'name: x\nregion: us-west-2\n"\\e]0;PWNED\\a\\e[2Jk": 1\n'


def test_make_jobs_and_chart_bundle_escape_controls_in_config_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """L5: ``make jobs`` (charts.dist) and ``make chart-bundle`` printed the config's ESC/BEL raw."""
    config = tmp_path / "esc.yaml"
    config.write_text(ESCAPES)
    assert dist.main(["--config", str(config), "--out", str(tmp_path / "dist")]) == 2
    assert chart_bundle.main(["build", "--config", str(config), "--out", str(tmp_path / "bundle")]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 2 and "\\x1b]0;PWNED\\x07" in err
    assert "\x1b" not in err and "\x07" not in err


def test_jobs_status_rule_matching_is_one_search_per_name_and_item() -> None:
    """L4: 200 punctuated names against ~2,000 failing occurrences each cost ~820,000 Python steps per item
    (100 items: 56 s). A name is now one compiled search per item, and a fired name is not searched again."""
    from hyperpod_cdk.cli.jobs import _rules_fired

    names = ["a-" * k for k in range(1, 201)]
    text = ("a-" * 2048)[:4095] + "a"  # no name ends before a non-letter: none fires
    history = [{"reason": "", "message": text, "time": str(i)} for i in range(5)]
    assert _rules_fired(history, names) == []
    assert work_limits.calls(lambda: _rules_fired(history, names)) < 10_000
    # Boundaries still hold: "_" and "-" end a name, a letter or digit does not.
    fired = _rules_fired([{"reason": "LogState_job-start", "message": "x", "time": "1"}], ["job-start", "job"])
    assert [f["rule"] for f in fired] == ["job-start", "job"]
    assert _rules_fired([{"reason": "xjob-startx", "message": "", "time": "1"}], ["job-start"]) == []
