"""Replacement along references: which resources a replaced resource takes with it (round 7g, M2).

A value written the same resolves to a new ID when it references a replaced resource
(``Ref``/``Fn::GetAtt``/``Fn::Sub``), so a create-only property that does replaces its resource too,
and that replacement reaches the resources referencing it in turn. The guard checks each pair once
with nothing replaced, noting what its written-the-same values reference (``ReferenceWatch``); the
whole replaced set then follows from one breadth-first walk over those references.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence

__all__ = ["ReferenceWatch", "replaced_closure"]


class ReferenceWatch:
    """The IDs a pair's written-the-same values reference: all of them, and those of replacement rules."""

    def __init__(self) -> None:
        self.all: set[str] = set()
        self.replacing: set[str] = set()

    def add(self, refs: set[str], *, replacing: bool) -> None:
        self.all |= refs
        if replacing:
            self.replacing |= refs


def replaced_closure(seed: Iterable[str], ids: Sequence[str], watches: Sequence[ReferenceWatch]) -> set[str]:
    """``seed`` and every ID (``ids[i]``, watched by ``watches[i]``) a replaced ID reaches through replacing
    references: the least fixpoint, in work proportional to the references."""
    referrers: dict[str, list[int]] = {}
    for index, watch in enumerate(watches):
        for target in watch.replacing:
            referrers.setdefault(target, []).append(index)
    replaced = set(seed)
    queue = deque(sorted(replaced))
    while queue:
        for index in referrers.get(queue.popleft(), ()):
            if ids[index] not in replaced:
                replaced.add(ids[index])
                queue.append(ids[index])
    return replaced
