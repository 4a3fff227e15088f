"""Tables, JSON and progress spinners for the CLI (rich on a terminal, plain text otherwise)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, TextIO

from rich.console import Console
from rich.markup import escape
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

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def console(file: TextIO | None = None) -> Console:
    """A console on ``file`` (stdout by default), resolved at call time so tests can capture it."""
    target = file if file is not None else sys.stdout
    is_tty = bool(getattr(target, "isatty", lambda: False)())
    return Console(file=target, highlight=False, width=None if is_tty else _PLAIN_WIDTH)


def error(line: str) -> None:
    """Print ``error: <line>`` on stderr (plain text: it must survive any terminal)."""
    print(f"error: {line}", file=sys.stderr)


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, default=_json_default, sort_keys=False)


def print_json(data: Any) -> None:
    print(to_json(data))


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
