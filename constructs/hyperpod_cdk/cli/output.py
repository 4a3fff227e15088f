"""Tables, JSON and progress spinners for the CLI (rich on a terminal, plain text otherwise)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, TextIO

from rich.console import Console
from rich.markup import escape as _escape_markup
from rich.table import Table

Status = Literal["pass", "warn", "fail"]
STATUS_STYLE: dict[str, str] = {"pass": "green", "warn": "yellow", "fail": "bold red"}
_PLAIN_WIDTH = 200  # wide enough that piped output keeps most rows on one line


@dataclass(frozen=True)
class Check:
    """One preflight result row."""

    status: Status
    check: str
    reason: str
    fix: str = ""

    @classmethod
    def verdict(cls, ok: bool, check: str, reason: str, fix: str, *, bad: Status = "fail") -> Check:
        """A pass row when ``ok`` (no fix shown), else a ``bad`` row with ``fix``."""
        return cls("pass" if ok else bad, check, reason, "" if ok else fix)

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


# C0 controls except TAB and LF, DEL, and the C1 controls (ESC starts CSI/OSC sequences; U+009B and
# U+009D are their single-character forms). Strings the cluster supplies (job, event and node
# messages, FailureMessage) may carry them; a terminal would act on them (clear the screen, draw
# links). Fifth review, L1.
# Also the bidirectional marks, overrides and isolates, which reorder how a line is displayed
# (seventh review, L4), and lone surrogates, which stdout cannot encode (M4).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def plain(text: object) -> str:
    """``text`` as a string without terminal control characters (TAB and newline kept)."""
    return _CONTROLS.sub("", str(text))


def escape(text: object) -> str:
    """``text`` safe for a rich console: control characters removed and markup escaped. Every CLI
    module prints cluster-supplied strings through this (or :func:`plain` for ``print``)."""
    return _escape_markup(plain(text))


def console(file: TextIO | None = None) -> Console:
    """A console on ``file`` (stdout by default), resolved at call time so tests can capture it."""
    target = file if file is not None else sys.stdout
    is_tty = bool(getattr(target, "isatty", lambda: False)())
    return Console(file=target, highlight=False, width=None if is_tty else _PLAIN_WIDTH)


# Set by the entry point for --json: errors become one JSON object on stdout, so a consumer that
# parses stdout always gets JSON, whatever happened.
_json_errors = False


def set_json_errors(enabled: bool) -> None:
    global _json_errors
    _json_errors = enabled


def error(line: str, *, code: int | None = None) -> None:
    """Print ``error: <line>`` on stderr (plain text: it must survive any terminal); with --json,
    ``{"error": "<line>", "exit_code": N}`` on stdout instead."""
    line = plain(line)  # the line often carries a Kubernetes or AWS message
    if _json_errors:
        payload: dict[str, Any] = {"error": line}
        if code is not None:
            payload["exit_code"] = code
        print(json.dumps(payload))
        return
    print(f"error: {line}", file=sys.stderr)


class RefusedError(Exception):
    """The user did not confirm (or could not be asked); ``code`` is the exit status."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


#: Deprecated alias (issue 21, removed in the next release): the old name, before ruff's N818.
Refused = RefusedError


def confirm(summary: str, what: str, *, assume_yes: bool, stdin: TextIO, stderr: TextIO) -> None:
    """Ask on the terminal before ``what`` (a verb phrase); raise :class:`RefusedError` unless confirmed.

    Without a terminal (CI, pipes) nothing is asked: the command needs --yes.
    """
    if assume_yes:
        return
    if not stdin.isatty():
        raise RefusedError(
            f"refusing to {what} without confirmation: stdin is not a terminal; pass --yes to confirm", 2
        )
    print(summary, file=stderr)
    print("Type 'yes' to continue: ", end="", file=stderr, flush=True)
    if stdin.readline().strip().lower() not in ("y", "yes"):
        raise RefusedError(f"cancelled; did not {what}", 1)


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, default=_json_default, sort_keys=False)


def print_json(data: Any) -> None:
    print(to_json(data))


def show(data: Any, as_json: bool, render: Callable[[Console, Any], None]) -> None:
    """A command's result: JSON on stdout with ``--json``, else drawn on the console by ``render``."""
    if as_json:
        print_json(data)
    else:
        render(console(), data)


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)


def status_text(status: str) -> str:
    style = STATUS_STYLE.get(status, "")
    return f"[{style}]{status.upper()}[/]" if style else status.upper()


def checks_table(checks: Sequence[Check], title: str | None = None) -> Table:
    table = Table(title=title, show_lines=False, expand=False)
    table.add_column("Status", no_wrap=True)
    table.add_column("Check", no_wrap=True)
    table.add_column("Reason", overflow="fold")
    table.add_column("Fix", overflow="fold")
    for item in checks:
        table.add_row(status_text(item.status), escape(item.check), escape(item.reason), escape(item.fix))
    return table


def simple_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left")
    for name in columns:
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*("" if cell is None else escape(str(cell)) for cell in row))
    return table


@contextlib.contextmanager
def spinner(text: str, enabled: bool = True) -> Iterator[Any]:
    """A rich status spinner on stderr when it is a terminal; a no-op otherwise.

    Yields an object with ``update(text)`` so long loops can say what they are doing.
    """
    err = Console(file=sys.stderr)
    if not enabled or not err.is_terminal:
        yield _NoStatus()
        return
    with err.status(text) as status:
        yield status


class _NoStatus:
    def update(self, *_args: Any, **_kwargs: Any) -> None:
        return None
