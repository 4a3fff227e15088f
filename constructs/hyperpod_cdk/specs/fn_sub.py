"""The ``${...}`` parts of an ``Fn::Sub`` string, found in linear time: one reading for lint and the guard.

CloudFormation reads ``${`` up to the next ``}`` as one part; ``${!Name}`` is the literal text ``${Name}``
and spaces inside the braces are dropped (``${ Name }`` is ``Name``; review round 11, tools, M1;
cfn-lint's ``REGEX_SUB_PARAMETERS`` in cfnlint/helpers.py reads a part the same way).

A regular expression such as ``\\$\\{([^}]+)\\}`` restarts at every ``${`` and runs to the end of the string
when no ``}`` follows, so ``"${" * n`` costs n^2 steps: 160 KB took lint 88 s (review round 15, tools,
M2). :func:`sub_parts` looks for each ``${`` and each ``}`` once, left to right: when no ``}`` follows a
``${``, no later ``${`` can close either, and the scan stops.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple


class SubPart(NamedTuple):
    """One ``${...}`` of an ``Fn::Sub`` string: ``text[start:end]``, with ``body`` between the braces."""

    start: int
    end: int
    body: str

    @property
    def literal(self) -> bool:
        """``${!Name}``: the text ``${Name}``, not a variable."""
        return self.body.startswith("!")

    @property
    def name(self) -> str:
        """The variable (``Name`` or ``Resource.Attribute``) with the spaces inside the braces dropped;
        empty for a literal part and for ``${}``."""
        return "" if self.literal else self.body.strip()

    @property
    def literal_text(self) -> str:
        """What a literal part stands for: ``${!Name}`` (and ``${! Name }``) is ``${Name}``."""
        return "${" + self.body[1:].strip() + "}"


def sub_parts(text: str) -> Iterator[SubPart]:
    """The ``${...}`` parts of ``text``, left to right, as ``re.finditer(r"\\$\\{([^}]*)\\}", text)`` finds
    them, reading each character at most twice."""
    position = 0
    while (start := text.find("${", position)) >= 0:
        close = text.find("}", start + 2)
        if close < 0:
            return  # no "}" after this "${", so none after a later one either
        yield SubPart(start, close + 1, text[start + 2 : close])
        position = close + 1


def substitute(text: str, replace: Callable[[SubPart], str]) -> str:
    """``text`` with each part replaced by ``replace(part)`` (which may raise to give up)."""
    pieces: list[str] = []
    position = 0
    for part in sub_parts(text):
        pieces += (text[position : part.start], replace(part))
        position = part.end
    pieces.append(text[position:])
    return "".join(pieces)


def sub_names(text: str) -> Iterator[str]:
    """The variables ``text`` names (``Name``, ``Resource.Attribute``, ``AWS::Region``), literals and
    ``${}`` left out."""
    return (part.name for part in sub_parts(text) if part.name)
