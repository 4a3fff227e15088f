"""Conditions for the replacement guard: what a guarded value reads through them and how that differs
between the templates (:class:`InputMemo`), and their values with the parameter defaults
(:class:`ConditionValues`). Both work once per condition name for a template pair, whatever number of
values or resources name a condition (review round 15, tools, M1 and M7).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Mapping
from typing import Any

from hyperpod_cdk.guard.values import (
    MISSING,
    Readers,
    _inputs_and_conditions,
    _section,
    canonical,
    condition_input,
    is_ssm_value_type,
    render_value,
)

MAX_CONDITION_HOPS = 128
MAX_LISTED_INPUTS = 10  # inputs a cause lists; past them it says "and more"

Change = tuple[str, str]  # (label, "label: old -> new")


class InputMemo:
    """What guarded values resolve through (parameter defaults, mapping entries, condition definitions),
    and which of those differ between the templates.

    Each label (``parameter P (Default)``, ``condition C``) is compared once, by its value in each
    template. Each condition name is read once per template, and the changes its definition reaches
    (itself, its inputs, the conditions it names, through both templates' definitions) are gathered once
    per name, in strongly connected components so that a cycle is one unit, keeping only the first
    ``MAX_LISTED_INPUTS`` + 1 by label. A value then costs its own labels and names, not the condition
    graph behind them. Round 7g, M1 memoised per *set* of names, so N values each naming another link of
    one N-long chain walked and stored N^2/2 labels (review round 15, tools, M1: 987 KB, 91 s, 1.3 GB).

    Whether a value shows any change is as before (a label reached on one side only differs only below
    a condition whose definition changed, and that definition is a change itself); a cause lists at most
    ``MAX_LISTED_INPUTS`` inputs.
    """

    def __init__(self, old_template: Mapping[str, Any], new_template: Mapping[str, Any]) -> None:
        self.templates = (old_template, new_template)
        self._readers: Readers = {}
        self._label_changes: dict[str, Change | None] = {}
        self._reads: tuple[dict[str, list[str]], dict[str, list[str]]] = ({}, {})  # name -> conditions it names
        self._own: dict[str, list[Change]] = {}  # name -> changes among its own labels
        self._reached: dict[str, list[Change]] = {}  # name -> first changes its definitions reach
        self.condition_reads = 0  # condition definitions read (tests count them)
        self._new_values = ConditionValues(new_template)

    def condition_value(self, name: Any) -> bool | None:
        """The value of condition ``name`` in the new template with the parameter defaults (None: unknown)."""
        return self._new_values.value(name)

    def _change(self, label: str) -> Change | None:
        if label not in self._label_changes:
            reader = self._readers[label]
            before, after = (reader(template) for template in self.templates)
            found = _differences({label: before}, {label: after}, {label})
            self._label_changes[label] = found[0] if found else None
        return self._label_changes[label]

    def _names(self, name: str) -> list[str]:
        """The conditions ``name``'s definitions name (both templates); its own changes are noted on the way."""
        if name not in self._own:
            label = f"condition {name}"
            self._readers[label] = functools.partial(condition_input, name)
            labels = {label}
            for side, template in enumerate(self.templates):
                self.condition_reads += 1
                found, names = _inputs_and_conditions(condition_input(name, template), template, self._readers)
                labels.update(found)
                self._reads[side][name] = names
            self._own[name] = [c for c in map(self._change, sorted(labels)) if c is not None]
        return list(dict.fromkeys(self._reads[0][name] + self._reads[1][name]))

    def _reach(self, root: str) -> None:
        """Fill ``_reached`` for ``root`` and every condition it reaches (Tarjan's algorithm, iterative)."""
        index: dict[str, int] = {root: 0}
        low: dict[str, int] = {root: 0}
        stack: list[str] = [root]
        on_stack: set[str] = {root}
        children: dict[str, list[str]] = {root: self._names(root)}
        work: list[tuple[str, Iterator[str]]] = [(root, iter(children[root]))]
        while work:
            name, pending = work[-1]
            child = next((c for c in pending if c not in self._reached), None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    children[child] = self._names(child)
                    work.append((child, iter(children[child])))
                elif child in on_stack:
                    low[name] = min(low[name], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[name])
            if low[name] != index[name]:
                continue
            members: list[str] = []
            while not members or members[-1] != name:
                members.append(stack.pop())
                on_stack.discard(members[-1])
            found: set[Change] = set()
            for member in members:
                found.update(self._own[member])
                for child_name in children[member]:
                    found.update(self._reached.get(child_name, ()))
            first = sorted(found)[: MAX_LISTED_INPUTS + 1]
            for member in members:
                self._reached[member] = first

    def changed(self, old_value: Any, new_value: Any) -> list[str]:
        """``["parameter Size (Default): 100 -> 200"]`` for each input that resolves differently (at most
        ``MAX_LISTED_INPUTS``, then ``"and more"``)."""
        old_direct, old_names = _inputs_and_conditions(old_value, self.templates[0], self._readers)
        new_direct, new_names = _inputs_and_conditions(new_value, self.templates[1], self._readers)
        changes = {c for c in map(self._change, {**old_direct, **new_direct}) if c is not None}
        for name in dict.fromkeys(old_names + new_names):
            if name not in self._reached:
                self._reach(name)
            changes.update(self._reached[name])
        lines = [line for _label, line in sorted(changes)]
        return lines if len(lines) <= MAX_LISTED_INPUTS else [*lines[:MAX_LISTED_INPUTS], "and more"]


def _differences(old_in: Mapping[str, Any], new_in: Mapping[str, Any], labels: set[str]) -> list[Change]:
    """(label, "label: old -> new") for each of ``labels`` whose value differs."""
    changes = []
    for label in sorted(labels):
        before, after = old_in.get(label, MISSING), new_in.get(label, MISSING)
        if canonical(before) != canonical(after):
            changes.append((label, f"{label}: {render_value(before, 40)} -> {render_value(after, 40)}"))
    return changes


def changed_inputs(
    old_value: Any, new_value: Any, old_template: Mapping[str, Any], new_template: Mapping[str, Any]
) -> list[str]:
    """``["parameter Size (Default): 100 -> 200"]`` for each input that resolves differently."""
    return InputMemo(old_template, new_template).changed(old_value, new_value)


def _condition_names(expr: Any, found: list[str]) -> None:
    """The conditions ``expr`` names where :meth:`ConditionValues._truth` reads them."""
    if not isinstance(expr, Mapping) or len(expr) != 1:
        return
    key, arg = next(iter(expr.items()))
    if key == "Condition" and isinstance(arg, str):
        found.append(arg)
    elif key == "Fn::Not" and isinstance(arg, list) and len(arg) == 1:
        _condition_names(arg[0], found)
    elif key in ("Fn::And", "Fn::Or") and isinstance(arg, list):
        for item in arg:
            _condition_names(item, found)


class ConditionValues:
    """The conditions of one template, valued with the parameter defaults, each once.

    Covers ``Fn::Equals``, ``Fn::Not``, ``Fn::And``, ``Fn::Or`` and ``Condition`` over literals,
    parameter defaults and ``Fn::FindInMap`` with literal keys; pseudo parameters (``AWS::Region``),
    SSM parameter types and anything else make a value unknown (None). A condition that names itself
    through others (a cycle) or whose chain of ``Condition`` references is longer than
    MAX_CONDITION_HOPS is unknown too, so a change that hangs on it is reported rather than hidden (the
    same cap as rules/cfn_template.py). The values are kept for the template (review round 15, tools,
    M7: each resource whose condition changed evaluated the whole graph again, 1,000 x 15,000: 76.8 s),
    so each is independent of which condition was asked first: the walk is iterative, and a condition's
    depth is the longest chain below it.
    """

    def __init__(self, template: Mapping[str, Any]) -> None:
        self._conditions = _section(template, "Conditions")
        self._parameters = _section(template, "Parameters")
        self._mappings = _section(template, "Mappings")
        self._known: dict[str, tuple[float, bool | None]] = {}  # name -> (depth, value)

    def value(self, name: Any) -> bool | None:
        if not isinstance(name, str) or name not in self._conditions:
            return None
        if name not in self._known:
            self._settle(name)
        return self._known[name][1]

    def _settle(self, root: str) -> None:
        definitions: dict[str, Any] = {}
        named: dict[str, list[str]] = {}

        def enter(name: str) -> Iterator[str]:
            definitions[name] = self._conditions.get(name)
            named[name] = []
            _condition_names(definitions[name], named[name])
            return iter(named[name])

        work = [(root, enter(root))]
        while work:
            name, pending = work[-1]
            child = next((c for c in pending if c in self._conditions and c not in self._known), None)
            if child is not None and child not in definitions:
                work.append((child, enter(child)))
                continue
            if child is not None:
                continue  # being walked: a cycle, so its depth is infinite (below)
            work.pop()
            depth = 0.0
            for child_name in named[name]:
                if child_name in self._conditions:
                    depth = max(depth, 1 + self._known.get(child_name, (math.inf, None))[0])
            value = self._truth(definitions[name]) if depth <= MAX_CONDITION_HOPS else None
            self._known[name] = (depth, value)

    def _scalar(self, value: Any) -> str | None:
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, str | int | float):
            return str(value)
        if isinstance(value, Mapping) and len(value) == 1:
            key, arg = next(iter(value.items()))
            if key == "Ref" and isinstance(arg, str) and isinstance(self._parameters.get(arg), Mapping):
                definition = self._parameters[arg]
                default = definition.get("Default", MISSING)
                return None if default is MISSING or is_ssm_value_type(definition) else self._scalar(default)
            if key == "Fn::FindInMap" and isinstance(arg, list) and len(arg) == 3:
                keys = [self._scalar(part) for part in arg]
                if None in keys:
                    return None
                entry = _section(self._mappings, keys[0] or "").get(keys[1] or "")
                return self._scalar(entry.get(keys[2], MISSING)) if isinstance(entry, Mapping) else None
        return None

    def _truth(self, expr: Any) -> bool | None:
        """``expr``'s value; every condition it names is already in ``_known`` (or is not a condition)."""
        if not isinstance(expr, Mapping) or len(expr) != 1:
            return None
        key, arg = next(iter(expr.items()))
        if key == "Condition":
            return self._known[arg][1] if isinstance(arg, str) and arg in self._known else None
        if key == "Fn::Equals" and isinstance(arg, list) and len(arg) == 2:
            left, right = self._scalar(arg[0]), self._scalar(arg[1])
            return None if left is None or right is None else left == right
        if key == "Fn::Not" and isinstance(arg, list) and len(arg) == 1:
            inner = self._truth(arg[0])
            return None if inner is None else not inner
        if key in ("Fn::And", "Fn::Or") and isinstance(arg, list) and arg:
            results = [self._truth(item) for item in arg]
            decisive: bool = key == "Fn::Or"  # Or is true if any is true; And is false if any is false
            if decisive in results:
                return decisive
            return None if None in results else not decisive
        return None


def evaluate_condition(name: str, template: Mapping[str, Any]) -> bool | None:
    """The condition's value with the parameter defaults, or None when it depends on something else
    (see :class:`ConditionValues`; one template, one condition)."""
    return ConditionValues(template).value(name)
