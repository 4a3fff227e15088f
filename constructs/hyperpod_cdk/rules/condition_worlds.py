"""The deploy-time worlds of a CDK app's templates whose conditions are not known at synth.

A resource whose ``Condition`` rests on a parameter without a value may or may not exist at deploy, and a rule
can fail in only some combinations: a cluster under one condition needs an EFA self-ingress rule under
another (review round 21, R21T-H1). Dropping every such resource at once builds a world no deploy reaches when
two conditions exclude each other (R21T-L2). So the worlds here are values of the parameters the conditions
read: each parameter takes its ``AllowedValues``, or the literals the conditions compare it with and one value
equal to none of them; every template is resolved again with them, so conditions stay consistent.

A parameter a condition reads another way (``Fn::Select`` of a list, compared with another parameter) and a
pseudo parameter known only at deploy (``AWS::StackName``) give no such values (review round 22, R22T-H1): a
resource condition they leave undecided is tried true and false itself, in each combination, less the ones
where one condition given a value makes another given the opposite (:func:`.cfn_template.conditions_agree`).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Hashable, Iterable, Iterator, Mapping
from typing import TypeVar

from hyperpod_cdk.rules.model import Json
from hyperpod_cdk.specs.fn_sub import sub_names

K = TypeVar("K", bound=Hashable)

#: A value equal to no literal a condition compares a parameter with.
OTHER_VALUE = "hyperpod-cdk-any-other-value"
#: AllowedValues longer than this are not enumerated (the literals the conditions name are).
MAX_ALLOWED_VALUES = 6


def unknown_parameters(
    template: Mapping[str, Json],
    given: Mapping[str, str],
    used: Iterable[str],
    stand_ins: dict[str, frozenset[str]] | None = None,
    extra: Mapping[str, set[str]] | None = None,
) -> dict[str, list[str]]:
    """Parameters the conditions ``used`` (and the conditions they name) read that have no value at synth,
    each with the values worth trying; none for those read another way too (an ``Fn::Select``, another
    parameter): their conditions are tried true and false. ``extra``: more literals a parameter is compared
    with elsewhere (a nested stack's conditions on the value it is passed), which makes it worth trying too.
    ``stand_ins`` gets, per parameter, the values tried that stand for every value no condition names
    (:func:`stand_in_values`)."""
    declared = template.get("Parameters")
    every = template.get("Conditions")
    if not isinstance(declared, Mapping) or not isinstance(every, Mapping | None):
        return {}
    literals, direct, reads = _reads(_closure(every or {}, used), template.get("Mappings"))
    for name, more in (extra or {}).items():
        literals.setdefault(name, set()).update(more)
    found: dict[str, list[str]] = {}
    for name in sorted(set(reads) | set(extra or {})):
        definition = declared.get(name)
        if name in given or not isinstance(definition, Mapping):
            continue
        if not unknown_at_synth(definition):
            continue
        allowed = definition.get("AllowedValues")
        if reads[name] > direct[name] and not (isinstance(allowed, list) and 0 < len(allowed) <= MAX_ALLOWED_VALUES):
            continue  # read another way too: the values named are not all that matter; its conditions are tried
        found[name] = values_for(definition, literals.get(name, set()))
        if stand_ins is not None:
            stand_ins[name] = stand_in_values(definition, found[name], literals.get(name, set()))
    return found


def stand_in_values(definition: Mapping[str, Json], values: Iterable[str], named: Iterable[str]) -> frozenset[str]:
    """The values of ``values`` (from :func:`values_for`) that stand for every value the conditions do not
    name: :data:`OTHER_VALUE`, or the one other allowed value of a long ``AllowedValues``. None where the short
    ``AllowedValues`` are all tried: each is itself."""
    allowed = definition.get("AllowedValues")
    if isinstance(allowed, list) and 0 < len(allowed) <= MAX_ALLOWED_VALUES:
        return frozenset()
    return frozenset(values) - frozenset(named)


def names_read(value: Json) -> set[str]:
    """The names ``value`` reads by ``Ref`` or ``${Name}`` of an ``Fn::Sub``."""
    return set(_refs(value))


def _reads(conditions: Json, mappings: Json) -> tuple[dict[str, set[str]], Counter[str], Counter[str]]:
    """Per parameter: the literals ``conditions`` compare it with, how many of its reads are such
    comparisons, and how many reads in all."""
    literals: dict[str, set[str]] = {}
    direct: Counter[str] = Counter()
    for ref, other in _comparisons(conditions):
        literals.setdefault(ref, set()).add(other)
        direct[ref] += 1
    for ref, keys in _map_keys(conditions, mappings):
        literals.setdefault(ref, set()).update(keys)
        direct[ref] += 1
    return literals, direct, _refs(conditions)


def direct_literals(template: Mapping[str, Json]) -> dict[str, set[str] | None]:
    """Per parameter the template's conditions read: the literals they compare it with, where they read it
    only so (``Fn::Equals`` with a literal, a mapping key); None where one reads it another way. One walk of
    the conditions for all the parameters (R31T-M1: one per parameter took 86 s on 200 parameters)."""
    every = template.get("Conditions")
    if not isinstance(every, Mapping):
        return {}
    literals, direct, reads = _reads(every, template.get("Mappings"))
    return {name: None if reads[name] > direct[name] else literals.get(name, set()) for name in reads}


def unknown_at_synth(definition: Mapping[str, Json]) -> bool:
    """A parameter with no value at synth: no Default, or an SSM parameter type, whose Default names the
    Systems Manager parameter read at deploy (R19T-M6; R26-H2)."""
    ssm = str(definition.get("Type", "")).startswith("AWS::SSM::Parameter::Value<")
    return "Default" not in definition or ssm


def values_for(definition: Mapping[str, Json], named: Iterable[str]) -> list[str]:
    """The values worth trying for a parameter the conditions compare with ``named``: its short
    ``AllowedValues``; or the named values it allows and one it allows that none names (R22T-L1: never a
    value CloudFormation refuses); or the named values and one equal to none of them."""
    allowed = definition.get("AllowedValues")
    names = sorted(set(named) - {OTHER_VALUE})
    if isinstance(allowed, list) and 0 < len(allowed) <= MAX_ALLOWED_VALUES:
        return [_cfn_text(value) for value in allowed]
    if isinstance(allowed, list) and allowed:
        values = [_cfn_text(value) for value in allowed]
        return [v for v in names if v in values] + [v for v in values if v not in names][:1]
    return [*names, OTHER_VALUE]


def assignments(choices: Mapping[K, list[str]], cap: int) -> tuple[list[dict[K, str]], int]:
    """Every combination of ``choices`` (at most ``cap`` of them) and how many there are."""
    total = 1
    for values in choices.values():
        total *= len(values)
    if total > cap:
        return [], total
    names = list(choices)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(choices[n] for n in names))], total


def condition_truths(undecided: Iterable[tuple[str, str]]) -> Iterator[dict[str, dict[str, bool]]]:
    """Each combination of true and false for the ``(template, condition)`` pairs, grouped by template."""
    pairs = sorted(set(undecided))
    for values in itertools.product((True, False), repeat=len(pairs)):
        grouped: dict[str, dict[str, bool]] = {}
        for (path, name), value in zip(pairs, values, strict=True):
            grouped.setdefault(path, {})[name] = value
        yield grouped


def _closure(conditions: Mapping[str, Json], names: Iterable[str]) -> dict[str, Json]:
    """The definitions of ``names`` and of every condition they name (``{"Condition": X}``)."""
    found: dict[str, Json] = {}
    todo = [str(n) for n in names]
    while todo:
        name = todo.pop()
        if name in found or name not in conditions:
            continue
        found[name] = conditions[name]
        todo.extend(
            item["Condition"]
            for item in _walk(conditions[name])
            if isinstance(item, Mapping) and len(item) == 1 and isinstance(item.get("Condition"), str)
        )
    return found


def _walk(value: Json) -> Iterator[Json]:
    todo = [value]
    seen: set[int] = set()
    while todo:
        item = todo.pop()
        if isinstance(item, Mapping | list) and id(item) not in seen:
            seen.add(id(item))
            yield item
            todo.extend(item.values() if isinstance(item, Mapping) else item)


def _refs(conditions: Json) -> Counter[str]:
    """How many times each name is read, by ``Ref`` or as ``${Name}`` of an ``Fn::Sub`` (R23T-H2: such a read
    did not count, so a parameter read by both was given only the literals compared with its ``Ref``)."""
    found: Counter[str] = Counter()
    for item in _walk(conditions):
        if not (isinstance(item, Mapping) and len(item) == 1):
            continue
        if isinstance(item.get("Ref"), str):
            found[item["Ref"]] += 1
        arg = item.get("Fn::Sub")
        text = arg[0] if isinstance(arg, list) and arg else arg
        if isinstance(text, str):
            own = arg[1] if isinstance(arg, list) and len(arg) > 1 and isinstance(arg[1], Mapping) else {}
            found.update(name.split(".")[0] for name in sub_names(text) if name not in own)
    return found


def _cfn_text(value: Json) -> str:
    """A literal as CloudFormation compares it: ``true`` for YAML's boolean (R23T-H2: Python wrote ``True``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _map_keys(conditions: Json, mappings: Json) -> Iterator[tuple[str, list[str]]]:
    """(parameter, keys) of each ``Fn::FindInMap [Map, Ref P, ...]`` or ``[Map, key, Ref P]``: the keys the
    map has at that level are the values that reach an entry (review round 22, R22T-H1: such a parameter
    was tried only with a value no entry has, so its condition was never true)."""
    if not isinstance(mappings, Mapping):
        return
    for item in _walk(conditions):
        arg = item.get("Fn::FindInMap") if isinstance(item, Mapping) and len(item) == 1 else None
        if not isinstance(arg, list) or len(arg) < 3 or not isinstance(arg[0], str):
            continue
        table = mappings.get(arg[0])
        if not isinstance(table, Mapping):
            continue
        first, second = arg[1], arg[2]
        if isinstance(first, Mapping) and isinstance(first.get("Ref"), str):
            yield first["Ref"], [str(k) for k in table]
        if isinstance(second, Mapping) and isinstance(second.get("Ref"), str):
            keys = {str(k) for entry in table.values() if isinstance(entry, Mapping) for k in entry}
            yield second["Ref"], sorted(keys)


def _comparisons(conditions: Json) -> Iterator[tuple[str, str]]:
    """(parameter, literal) of each ``Fn::Equals [Ref P, "literal"]`` (either order)."""
    for item in _walk(conditions):
        if not (isinstance(item, Mapping) and len(item) == 1 and isinstance(item.get("Fn::Equals"), list)):
            continue
        pair = item["Fn::Equals"]
        if len(pair) != 2:
            continue
        for ref, other in (pair, pair[::-1]):
            if isinstance(ref, Mapping) and isinstance(ref.get("Ref"), str) and isinstance(other, str | int | float):
                yield ref["Ref"], _cfn_text(other)
