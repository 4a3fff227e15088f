"""Which resources of a template depend on which, directly or through others (DependsOn, Ref, GetAtt, Sub)."""

from __future__ import annotations

import functools
from collections.abc import Mapping

from hyperpod_cdk.rules.model import Json, Templates, as_map
from hyperpod_cdk.specs.fn_sub import sub_names

# Names merged into dependency sets while walking one template. A YAML alias repeats a value for a few
# bytes, so one Fn::Sub string naming 400,000 ids aliased N times cost N x 400,000 insertions (seventh
# review, M2); past this the walk stops and HELM1 says the order was not checked.
MAX_REFERENCE_WORK = 4_000_000


class TooMuchReferenceWorkError(Exception):
    """The template's references need more than :data:`MAX_REFERENCE_WORK` steps to follow."""


class ReferenceWalk:
    """Names referenced under each list or mapping, memoised by ``id()`` for one template walk.

    YAML-aliased values are one object, so each is walked once; the memo holds the objects, so an
    id is never reused for another object while the walk lives. Every name merged is charged to
    ``work_left``.
    """

    def __init__(self, max_work: int = MAX_REFERENCE_WORK) -> None:
        self.work_left = max_work
        self._memo: dict[int, tuple[Json, frozenset[str]]] = {}

    def charge(self, count: int) -> None:
        self.work_left -= count
        if self.work_left < 0:
            raise TooMuchReferenceWorkError

    def names(self, value: Json) -> frozenset[str]:
        if not isinstance(value, Mapping | list):
            return frozenset()
        hit = self._memo.get(id(value))
        if hit is not None:
            return hit[1]
        found: set[str] = set()
        merged: set[int] = set()  # children (and Sub strings) already merged into found

        def merge(child: Json, names: frozenset[str]) -> None:
            if id(child) not in merged:
                merged.add(id(child))
                self.charge(len(names))
                found.update(names)

        items = value.items() if isinstance(value, Mapping) else ((None, item) for item in value)
        for key, item in items:
            if key == "Ref" and isinstance(item, str):
                found.add(item)
            elif key == "Fn::GetAtt":
                target = item[0] if isinstance(item, list) and item else item
                if isinstance(target, str):
                    found.add(target.split(".", 1)[0])
            else:
                if key == "Fn::Sub":
                    text = item[0] if isinstance(item, list) and item else item
                    if isinstance(text, str):
                        merge(text, self._sub_names(text))
                merge(item, self.names(item))
        result = frozenset(found)
        self._memo[id(value)] = (value, result)
        return result

    def _sub_names(self, text: str) -> frozenset[str]:
        """:func:`_sub_names`, memoised by the string's id too: 1,100 distinct strings aliased in turn
        missed the 1,024-entry cache on every use."""
        hit = self._memo.get(id(text))
        if hit is None:
            hit = (text, _sub_names(text))
            self._memo[id(text)] = hit
        return hit[1]


def _direct_dependencies(body: Mapping[str, Json], walk: ReferenceWalk) -> set[str]:
    depends = body.get("DependsOn")
    # Only strings: a list or mapping inside DependsOn is unhashable (seventh review, M3).
    direct = {d for d in (depends if isinstance(depends, list) else [depends]) if isinstance(d, str)}
    names = walk.names(body.get("Properties"))
    walk.charge(len(names))
    return direct | names


def depending_on(templates: Templates, template_path: str, targets: set[str]) -> set[str]:
    """Logical ids that depend on any of ``targets``, directly or through others (DependsOn, Ref, GetAtt).

    One walk of the reversed graph per template: walking each cluster's dependencies was clusters x
    resources (3,000 clusters on a 3,000-long DependsOn chain). Raises :class:`TooMuchReferenceWorkError`
    past :data:`MAX_REFERENCE_WORK`.
    """
    resources = as_map(templates.templates.get(template_path, {}).get("Resources"))
    walk = ReferenceWalk()
    dependents: dict[str, list[str]] = {}
    for logical_id, body in resources.items():
        for name in _direct_dependencies(as_map(body), walk):
            if name in resources:
                dependents.setdefault(name, []).append(logical_id)
    seen: set[str] = set()
    todo = list(targets)
    while todo:
        for name in dependents.get(todo.pop(), ()):
            if name not in seen:
                seen.add(name)
                todo.append(name)
    return seen


@functools.lru_cache(maxsize=1024)
def _sub_names(text: str) -> frozenset[str]:
    """Logical ids an ``Fn::Sub`` string names. Cached: a YAML-aliased string is one object whose
    hash Python keeps, so each repeat is a lookup instead of a scan of the whole string (sixth review, M4)."""
    return frozenset(head for name in sub_names(text) if (head := name.split(".", 1)[0]))


def references(value: Json) -> set[str]:
    """Logical ids (and parameters) ``value`` names through Ref, Fn::GetAtt or Fn::Sub."""
    return set(ReferenceWalk().names(value))
