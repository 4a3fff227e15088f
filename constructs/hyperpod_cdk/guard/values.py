"""Template values for the replacement guard (``diff.py``): canonical forms, the references and template
inputs (parameters, mappings, conditions) a value resolves through, rendering, and path extraction."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from hyperpod_cdk.guard.table import (
    KEYED_LISTS,
)
from hyperpod_cdk.input_limits import bounded_json
from hyperpod_cdk.specs.fn_sub import sub_names


class _Missing:
    def __repr__(self) -> str:
        return "(absent)"


MISSING: Any = _Missing()


VALUE_WIDTH = 100


# --- value helpers --------------------------------------------------------------------------


def _is_intrinsic(value: Any) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    key = next(iter(value))
    return bool(key == "Ref" or key.startswith("Fn::") or key == "Condition")


class Typed(NamedTuple):
    """A JSON scalar with its JSON type, as :func:`canonical` compares it (round 7g, L4): Python's
    ``True == 1 == 1.0`` would make ``true``, ``1`` and ``1.0`` equal, which CloudFormation reads as
    different literals. No JSON or YAML value loads as a tuple, so a ``Typed`` never meets one."""

    kind: str
    value: Any


def _typed(value: Any) -> Any:
    if isinstance(value, bool):
        return Typed("boolean", value)
    if isinstance(value, int):
        return Typed("integer", value)
    if isinstance(value, float):
        return Typed("number", value)
    return value


def child_path(path: str | None, key: str) -> str | None:
    """``path.key`` (``key`` at the root), None below None."""
    return None if path is None else f"{path}.{key}" if path else key


def toward_unordered(path: str | None, unordered: frozenset[str]) -> str | None:
    """``path`` while it leads to a list the schema marks unordered, else None: no list below it is sorted,
    so no longer paths are built (a key may be as long as the template allows)."""
    return path if path is not None and path in _leading_to(unordered) else None


@functools.lru_cache(maxsize=256)
def _leading_to(unordered: frozenset[str]) -> frozenset[str]:
    """Each of ``unordered`` and every path on the way to it (``VpcConfig`` for ``VpcConfig.Subnets``)."""
    return frozenset(
        {path[:index] for path in unordered for index, char in enumerate(path) if char in ".["} | unordered
    )


def canonical(
    value: Any, path: str | None = None, *, unordered: frozenset[str] = frozenset(), in_intrinsic: bool = False
) -> Any:
    """A comparable form: GetAtt in list form, scalars tagged with their JSON type (:class:`Typed`), and a
    list sorted only where its property path (``path``, in guard form: ``VpcConfig.Subnets``,
    ``InstanceGroups[*].OverrideVpcConfig.Subnets``) is in ``unordered``, the paths the resource's
    registry schema marks ``insertionOrder: false`` (round 7g, L5). Every other list keeps its order
    (``InstanceRequirements.InstanceTypes`` is a priority order, FSx ``SubnetIds`` has no such mark),
    and so does every list inside an intrinsic function (``Fn::Join`` parts spell a name)."""
    if value is MISSING:
        return value
    path = toward_unordered(path, unordered)
    if _is_intrinsic(value):
        name, arg = next(iter(value.items()))
        if name == "Fn::GetAtt" and isinstance(arg, str) and "." in arg:
            arg = arg.split(".", 1)
        if isinstance(arg, list):
            return {name: [canonical(item, in_intrinsic=True) for item in arg]}
        return {name: canonical(arg, in_intrinsic=True)}
    if isinstance(value, dict):
        return {
            k: canonical(item, child_path(path, k), unordered=unordered, in_intrinsic=in_intrinsic)
            for k, item in value.items()
        }
    if isinstance(value, list):
        item_path = None if path is None else f"{path}[*]"
        items = [canonical(item, item_path, unordered=unordered, in_intrinsic=in_intrinsic) for item in value]
        if path in unordered and not in_intrinsic:
            return sorted(items, key=_sort_key)
        return items
    return _typed(value)


def _sort_key(item: Any) -> tuple[Any, ...]:
    """A key that orders canonical values as their JSON text would (strings, numbers, lists, literals,
    objects), without building that text: a string is compared as itself, so a string a YAML alias
    repeats thousands of times is neither copied nor rescanned (sixth review, M4)."""
    if isinstance(item, Typed):
        item = item.value
    if isinstance(item, str):
        return ('"', item)
    if isinstance(item, bool) or item is None:
        return ("t", str(item))
    if isinstance(item, int | float):
        return ("0", item, repr(item))  # int and float compare exactly, without float()'s overflow
    if isinstance(item, list):
        return ("[", tuple(_sort_key(x) for x in item))
    if isinstance(item, dict):
        return ("{", tuple((str(k), _sort_key(v)) for k, v in sorted(item.items(), key=lambda kv: str(kv[0]))))
    return ("~", repr(item))


# CloudFormation strips spaces inside the braces: ``${ Name }`` reads Name (review round 11, tools, M1;
# aws-cloudformation/cfn-lint#236); ``${!Name}`` is the literal text and matches nothing here. specs/fn_sub.py
# reads the parts (linearly); a part names a logical id when it is letters and digits, maybe with ``.Attr``.
_SUB_VAR = re.compile(r"([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?")


@functools.lru_cache(maxsize=1024)
def sub_variables(text: str) -> frozenset[str]:
    """The ``${Name}``/``${Name.Attr}`` names an ``Fn::Sub`` string refers to, by logical id.

    Cached: a YAML alias repeats one string object any number of times for a few bytes each, and its
    hash is computed once, so a repeated string costs a lookup, not another scan (sixth review, M4).
    """
    return frozenset(match.group(1) for name in sub_names(text) if (match := _SUB_VAR.fullmatch(name)))


def _sub_parts(arg: Any) -> tuple[Any, Any]:
    """(template string, local variables) of an ``Fn::Sub`` argument in either form."""
    if isinstance(arg, list):
        return (arg[0] if arg else None), (arg[1] if len(arg) > 1 else {})
    return arg, {}


def references(value: Any) -> set[str]:
    """Logical IDs a value points at through Ref, Fn::GetAtt or Fn::Sub."""
    found: set[str] = set()
    # Containers and Sub strings already walked, by id (the value holds them alive): a YAML-aliased
    # node is one object, and walking it again adds nothing to ``found`` (seventh review, M2).
    seen: set[int] = set()
    unread: dict[int, tuple[str, set[str]]] = {}  # id of a Sub string -> (it, its names not found yet)

    def walk(node: Any) -> None:
        if isinstance(node, dict | list):
            if id(node) in seen:
                return
            seen.add(id(node))
        if isinstance(node, dict):
            if len(node) == 1:
                key, arg = next(iter(node.items()))
                if key == "Ref" and isinstance(arg, str):
                    found.add(arg)
                elif key == "Fn::GetAtt":
                    target = (
                        arg.split(".", 1)[0]
                        if isinstance(arg, str)
                        else (arg[0] if isinstance(arg, list) and arg else None)
                    )
                    if isinstance(target, str):
                        found.add(target)
                elif key == "Fn::Sub":
                    text, local = _sub_parts(arg)
                    if isinstance(text, str):
                        # Per string object, the names not found yet (review round 13, tools, M3).
                        held = unread.get(id(text))
                        if held is None:
                            held = unread[id(text)] = (text, set(sub_variables(text)))
                        names = local if isinstance(local, dict) else {}
                        now = {name for name in held[1] if name not in names}
                        held[1].difference_update(now)
                        found.update(now)
            for item in node.values():
                walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(value)
    return {ref for ref in found if not ref.startswith("AWS::")}


# --- what a value resolves through: parameter defaults, mappings, conditions ------------------


def _section(template: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    section = template.get(name)
    return section if isinstance(section, Mapping) else {}


@dataclass(frozen=True)
class SsmParameterValue:
    """What a parameter of an SSM parameter type (``AWS::SSM::Parameter::Value<String>``, ...) resolves to:
    its ``Default`` is the name of a Systems Manager parameter whose value CloudFormation fetches at deploy
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html,
    "SSM parameter types"). Equal only to itself, never to the literal ``Default`` (review round 15, tools,
    L1: a ``Type`` change to an SSM type with the same ``Default`` was "no replacing changes")."""

    name: Any


def is_ssm_value_type(definition: Any) -> bool:
    """Whether a parameter definition's ``Type`` is an SSM parameter value type (known only at deploy)."""
    kind = definition.get("Type") if isinstance(definition, Mapping) else None
    return isinstance(kind, str) and kind.startswith("AWS::SSM::Parameter::Value<")


def parameter_label(name: str) -> str:
    return f"parameter {name} (Default)"


def parameter_input(name: str, template: Mapping[str, Any]) -> Any:
    """What ``Ref name`` reads from ``template`` without deploy parameters: its ``Default``, MISSING without
    one (or when ``name`` is not a parameter), an :class:`SsmParameterValue` for an SSM parameter type."""
    definition = _section(template, "Parameters").get(name, MISSING)
    if not isinstance(definition, Mapping):
        return MISSING
    default = definition.get("Default", MISSING)
    return SsmParameterValue(default) if is_ssm_value_type(definition) and default is not MISSING else default


def _read_parameters(names: Iterable[str], parameters: Mapping[str, Any], found: dict[str, Any]) -> None:
    """Record the ``Default`` of each of ``names`` that is a parameter (see :func:`parameter_input`)."""
    template = {"Parameters": parameters}
    for name in names:
        if name in parameters:
            found[parameter_label(name)] = parameter_input(name, template)


def _mapping_label(keys: list[Any]) -> str:
    if all(isinstance(n, str) for n in keys) and len(keys) == 3:
        # Dotted keys would make two paths one label (["a.b", "c"] and ["a", "b.c"]), and labels are
        # compared once each (review round 12, tools, L1): such a path is labelled by its JSON list.
        return "mapping " + (".".join(keys) if not any("." in key for key in keys) else json.dumps(keys))
    return f"mapping {keys[0]}"


def mapping_input(keys: tuple[Any, ...], template: Mapping[str, Any]) -> Any:
    """The ``Fn::FindInMap`` entry at literal ``keys``, or the whole mapping ``keys[0]`` when a key is not literal."""
    mappings = _section(template, "Mappings")
    if all(isinstance(n, str) for n in keys) and len(keys) == 3:
        entry = _section(mappings, keys[0]).get(keys[1], MISSING)
        return entry.get(keys[2], MISSING) if isinstance(entry, Mapping) else MISSING
    return mappings.get(keys[0], MISSING)


def _read_mapping(arg: list[Any], mappings: Mapping[str, Any], found: dict[str, Any]) -> None:
    found[_mapping_label(arg[:3])] = mapping_input(tuple(arg[:3]), {"Mappings": mappings})


def condition_input(name: str, template: Mapping[str, Any]) -> Any:
    return _section(template, "Conditions").get(name, MISSING)


# label -> how to read that label's value from either template (conditions.InputMemo compares the two)
Readers = dict[str, Callable[[Mapping[str, Any]], Any]]


def _read_and_note(
    names: Iterable[str], parameters: Mapping[str, Any], found: dict[str, Any], readers: Readers
) -> None:
    """:func:`_read_parameters`, and how to read each of those labels from any template into ``readers``."""
    names = list(names)
    _read_parameters(names, parameters, found)
    readers.update((parameter_label(n), functools.partial(parameter_input, n)) for n in names if n in parameters)


def _inputs_and_conditions(
    value: Any, template: Mapping[str, Any], readers: Readers | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The parameter defaults and mapping entries ``value`` reads, by label, and the conditions it names
    (and, into ``readers``, how to read each of those labels from any template)."""
    parameters, mappings = _section(template, "Parameters"), _section(template, "Mappings")
    readers = {} if readers is None else readers
    found: dict[str, Any] = {}
    names: list[str] = []
    pending: list[Any] = [value]
    # Containers and Sub strings already walked, by id (``value`` holds them alive): a YAML alias repeats
    # one object, and walking it again adds nothing (review round 11, tools, M2: one Fn::Sub naming N
    # variables, aliased M times, cost N x M).
    seen: set[int] = set()
    unread: dict[int, tuple[str, set[str]]] = {}  # id of a Sub string -> (it, its names not read yet)
    while pending:
        node = pending.pop()
        if isinstance(node, list | Mapping):
            if id(node) in seen:
                continue
            seen.add(id(node))
        if isinstance(node, list):
            pending.extend(node)
            continue
        if not isinstance(node, Mapping):
            continue
        pending.extend(node.values())
        if len(node) != 1:
            continue
        key, arg = next(iter(node.items()))
        if key == "Ref" and isinstance(arg, str):
            _read_and_note([arg], parameters, found, readers)
        elif key == "Fn::Sub":
            # Each name of a Sub string is read once, whatever copy reads it: per string object, the names
            # no copy has read yet; a copy reads those its own locals do not hide (review rounds 12 and 13,
            # tools: keyed by the locals, copies with one distinct local each re-read every name, 176 s).
            text, local = _sub_parts(arg)
            if isinstance(text, str):
                local_names = local if isinstance(local, Mapping) else {}
                held = unread.get(id(text))
                if held is None:
                    held = unread[id(text)] = (text, set(sub_variables(text)))
                names_now = {name for name in held[1] if name not in local_names}
                held[1].difference_update(names_now)
                _read_and_note(names_now, parameters, found, readers)
        elif key == "Fn::FindInMap" and isinstance(arg, list) and arg and isinstance(arg[0], str):
            _read_mapping(arg, mappings, found)
            readers[_mapping_label(arg[:3])] = functools.partial(mapping_input, tuple(arg[:3]))
        elif key in ("Fn::If", "Condition"):
            name = arg[0] if key == "Fn::If" and isinstance(arg, list) and arg else arg
            if isinstance(name, str):
                names.append(name)
    return found, names


def _condition_inputs(names: Iterable[str], template: Mapping[str, Any]) -> dict[str, Any]:
    """Each named condition's definition, by label, and everything those definitions resolve through."""
    conditions = _section(template, "Conditions")
    found: dict[str, Any] = {}
    pending = list(names)
    while pending:
        name = pending.pop()
        label = f"condition {name}"
        if label in found:
            continue
        found[label] = conditions.get(name, MISSING)
        inputs, more = _inputs_and_conditions(found[label], template)
        found.update(inputs)
        pending.extend(more)
    return found


def template_inputs(value: Any, template: Mapping[str, Any]) -> dict[str, Any]:
    """The template entries ``value`` resolves through, by label.

    ``{"parameter Size (Default)": 100, "mapping Sizes.us-west-2.gpu": "ml.g5.8xlarge",
    "condition UseGpu": {...}}``: the ``Default`` of each parameter it references, each
    ``Fn::FindInMap`` entry (the whole mapping when a key is not literal), and the definition of
    each condition an ``Fn::If`` (or a condition) names, followed through to their own inputs. Two
    values written the same way resolve differently when these differ between templates.
    """
    found, names = _inputs_and_conditions(value, template)
    return {**found, **_condition_inputs(names, template)}


def render_value(value: Any, width: int = VALUE_WIDTH) -> str:
    """Compact JSON, truncated to ``width`` characters."""
    if value is MISSING:
        return "(absent)"
    if isinstance(value, SsmParameterValue):  # its value is fetched at deploy
        return f"SSM parameter {render_value(value.name, max(width - 14, 4))}"
    text = bounded_json(value, width + 1)  # only as much as is shown (review round 13, tools, M1)
    return text if len(text) <= width else text[: width - 3] + "..."


# --- path extraction ------------------------------------------------------------------------


def _segments(path: str) -> list[tuple[str, bool]]:
    return [(part.removesuffix("[*]"), part.endswith("[*]")) for part in path.split(".")]


def extract(
    resource_type: str, properties: Mapping[str, Any], path: str
) -> tuple[dict[str, Any], set[str], dict[str, str]]:
    """Concrete values of ``path``: ``{"InstanceGroups[gpu].InstanceType": "ml.g5.8xlarge"}``.

    Items of keyed lists are labelled by their name, other list items by index. The second
    value is the set of keyed item labels seen (``InstanceGroups[gpu]``), to tell an item that
    exists on one side only from a property that was added or removed. The third gives each
    concrete label its path in guard form (``InstanceGroups[*].InstanceType``), as the schema
    names it: a label's own text cannot say, since a keyed item's name may hold dots.
    """
    segments = _segments(path)
    values: dict[str, Any] = {}
    keyed_items: set[str] = set()
    schema_paths: dict[str, str] = {}

    def found(label: str, node: Any, schema_path: str) -> None:
        values[label] = node
        schema_paths[label] = schema_path

    def walk(node: Any, index: int, prefix: str, schema_prefix: str) -> None:
        if index == len(segments) or _is_intrinsic(node):  # an intrinsic: cannot look inside
            found(prefix, node, schema_prefix)
            return
        name, is_list = segments[index]
        child = node.get(name, MISSING) if isinstance(node, dict) else MISSING
        here = f"{prefix}.{name}" if prefix else name
        schema_here = f"{schema_prefix}.{name}" if schema_prefix else name
        if not is_list:
            walk(child, index + 1, here, schema_here)
            return
        if child is MISSING:
            return
        if not isinstance(child, list):
            found(here, child, schema_here)
            return
        key_field = KEYED_LISTS.get((resource_type, name))
        for position, item in enumerate(child):
            key = item.get(key_field) if key_field and isinstance(item, dict) else None
            if isinstance(key, str):
                label = f"{here}[{item_label(key)}]"
                keyed_items.add(label)
            else:
                label = f"{here}[{position}]"
            walk(item, index + 1, label, f"{schema_here}[*]")

    walk(properties, 0, "", "")
    return values, keyed_items, schema_paths


#: A keyed item's name up to this long is its own label; a longer one (over the 63 characters HyperPod takes)
#: is cut, with a digest of the whole: every label under the item starts with it (review round 17, tools,
#: L2: a 60,000-character name over 20,000 storage configs built 2.4 GB of labels).
ITEM_LABEL_WIDTH = 80


def item_label(key: str) -> str:
    if len(key) <= ITEM_LABEL_WIDTH:
        return key
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    return f"{key[: ITEM_LABEL_WIDTH - 3]}... #{digest}"


def _is_descendant(path: str, ancestor: str) -> bool:
    return path.startswith(ancestor + ".") or path.startswith(ancestor + "[")


class _PathIndex:
    """A set of property paths that answers "which of them is ``path`` or an ancestor of it" by lookup.

    An ancestor (``_is_descendant(path, ancestor)``) is a prefix of ``path`` followed by ``.`` or ``[``.
    Only prefixes as long as some path in the set are tried, and only at a separator, so a long path
    (a keyed item's name may hold thousands of dots) costs no more than the set has distinct lengths.
    """

    def __init__(self, paths: Iterable[str] = ()) -> None:
        self.paths: set[str] = set()
        self.lengths: set[int] = set()
        for path in paths:
            self.add(path)

    def add(self, path: str) -> None:
        self.paths.add(path)
        self.lengths.add(len(path))

    def ancestors(self, path: str) -> Iterable[str]:
        if len(self.lengths) <= path.count(".") + path.count("["):
            candidates: Iterable[int] = self.lengths
        else:
            candidates = (index for index, char in enumerate(path) if char in ".[" and index in self.lengths)
        for index in candidates:
            if index < len(path) and path[index] in ".[" and path[:index] in self.paths:
                yield path[:index]

    def covers(self, path: str) -> bool:
        """``path`` or one of its ancestors is in the set."""
        return path in self.paths or any(True for _ in self.ancestors(path))


# Moved to guard/conditions.py (review round 15, tools, M1/M7); still importable from here.
_MOVED = frozenset({"InputMemo", "changed_inputs", "evaluate_condition", "MAX_CONDITION_HOPS"})


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        from hyperpod_cdk.guard import conditions

        return getattr(conditions, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
