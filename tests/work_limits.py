"""Shared by the input-limit tests of lint and the guard: a hang guard and a work counter.

Linearity is checked by counting calls at n and 2n, never by wall-clock time (the machine is shared).
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any


@contextlib.contextmanager
def guard(seconds: float) -> Iterator[None]:
    """Raise TimeoutError if the block runs longer than ``seconds``: a guard against a hang, not a benchmark."""

    def expired(_signum: int, _frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def calls(work: Callable[[], Any]) -> int:
    """Python and C function calls made by ``work()``."""
    count = 0

    def profile(_frame: object, event: str, _arg: object) -> None:
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        work()
    finally:
        sys.setprofile(None)
    return count


def rule_findings(template: Any, rule_id: str, seconds: float = 60) -> list[Any]:
    """The findings of one lint rule, not-checked included (lint of a template: closed_world=False), under a
    hang guard. ``template`` is a template dict or a ``Templates``."""
    from hyperpod_cdk.rules.catalog import RULES_BY_ID, check
    from hyperpod_cdk.rules.model import Templates

    templates = template if isinstance(template, Templates) else Templates({"t": template}, closed_world=False)
    with guard(seconds):
        return check(templates, exclude=set(RULES_BY_ID) - {rule_id}, include_not_checked=True)


def rule_call_ratio(build: Callable[[int], Any], size: int, rule_id: str) -> float:
    """Calls of one rule on ``build(2 * size)`` over its calls on ``build(size)``: about 2 when linear."""
    from hyperpod_cdk.rules.model import Templates

    small, large = (Templates({"t": build(n)}, closed_world=False) for n in (size, 2 * size))
    return calls(lambda: rule_findings(large, rule_id)) / calls(lambda: rule_findings(small, rule_id))
