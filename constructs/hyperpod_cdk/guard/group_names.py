"""Instance-group names for the replacement guard: resolved through the template, matched across templates.

HyperPod matches instance groups by ``InstanceGroupName``: a renamed group is a removed group (all its
nodes deleted) plus a new, empty one. A name need not be a literal string. AWS's own
awsome-distributed-ai ``hyperpod-cluster-stack.yaml`` writes ``InstanceGroupName: !Ref
AcceleratedInstanceGroupName``, and an app may write ``Fn::Sub``. Review round 8 (tools), M1: such
names were never compared, so a new parameter default, ``Ref A`` -> ``Ref B`` or an edited
``Fn::Sub`` renamed a group with nodes and the guard said "no replacing changes".

A name is resolved the way the guard reads every other value: parameter ``Default``s (as
``values.template_inputs`` does), ``Fn::FindInMap`` with literal keys, ``Fn::Sub`` and ``Fn::Join``
of those; pseudo parameters (``AWS::StackName``) stay as ``${AWS::StackName}``, because both
templates describe the same stack. A name that does not resolve (a resource's attribute, an
``Fn::If``, an SSM parameter) counts as the same group only when it is written the same in both
templates and nothing it reads changed; otherwise the guard cannot rule out a rename and says so.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from hyperpod_cdk.guard.conditions import InputMemo
from hyperpod_cdk.guard.table import KEYED_LISTS
from hyperpod_cdk.guard.values import (
    MISSING,
    Typed,
    _is_intrinsic,
    _sub_parts,
    canonical,
    references,
    render_value,
)
from hyperpod_cdk.input_limits import ValueDigests, bounded_json
from hyperpod_cdk.specs.fn_sub import SubPart, substitute

# What one name may cost to resolve (nodes visited) and how long a resolved name may be: a YAML alias
# can repeat a Fn::Join inside itself, and a HyperPod group name is at most 63 characters anyway.
NAME_BUDGET = 256
MAX_NAME_LENGTH = 1024
# How deep one name's resolution may nest (Ref -> Default -> Fn::Sub -> Ref ...): each level costs a few
# Python frames, so the budget alone did not bound the stack (review round 9, tools, L2).
MAX_NAME_DEPTH = 48
# How large a name that does not resolve may be as written, counted with YAML aliases expanded (string
# characters plus a few per value): a real one is an Fn::If of two short names or a whole group; an alias
# web of a few KB expands to gigabytes (review round 9, tools, M2).
MAX_WRITTEN_SIZE = 65_536
# A written form up to this long is its own label; a longer one is cut, with a digest of the whole.
_LABEL_WIDTH = 80

# Pseudo parameters whose value is one string, the same for both templates of one stack's update.
_PSEUDO = frozenset(
    {"AWS::AccountId", "AWS::Partition", "AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix"}
)


class _UnresolvedError(Exception):
    """The name depends on something the template does not fix (or costs more than the budget)."""


class GroupNameTooLargeError(ValueError):
    """An instance-group name that does not resolve is larger than :data:`MAX_WRITTEN_SIZE` as written."""


def _section(template: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    section = template.get(name)
    return section if isinstance(section, Mapping) else {}


class _Resolver:
    def __init__(self, template: Mapping[str, Any]) -> None:
        self.parameters = _section(template, "Parameters")
        self.mappings = _section(template, "Mappings")
        self.budget = NAME_BUDGET
        self.depth = 0

    def text(self, value: Any) -> str:
        self.budget -= 1
        if self.budget < 0 or self.depth >= MAX_NAME_DEPTH:
            raise _UnresolvedError
        self.depth += 1
        try:
            return self._text(value)
        finally:
            self.depth -= 1

    def _text(self, value: Any) -> str:
        if isinstance(value, str):
            result = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            result = str(value)
        elif isinstance(value, Mapping) and len(value) == 1:
            key, arg = next(iter(value.items()))
            result = self.intrinsic(key, arg)
        else:
            raise _UnresolvedError
        if len(result) > MAX_NAME_LENGTH:
            raise _UnresolvedError
        return result

    def intrinsic(self, key: str, arg: Any) -> str:
        if key == "Ref" and isinstance(arg, str):
            return self.ref(arg)
        if key == "Fn::Sub":
            text, local = _sub_parts(arg)
            if not isinstance(text, str) or not isinstance(local, Mapping):
                raise _UnresolvedError
            return substitute(text, lambda part: self.sub_part(part, local))
        if key == "Fn::Join" and isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], list):
            return self.text(arg[0]).join(self.text(part) for part in arg[1])
        if key == "Fn::FindInMap" and isinstance(arg, list) and len(arg) == 3:
            names = [self.text(part) for part in arg]
            entry = _section(self.mappings, names[0]).get(names[1])
            found = entry.get(names[2], MISSING) if isinstance(entry, Mapping) else MISSING
            if found is MISSING:
                raise _UnresolvedError
            return self.text(found)
        raise _UnresolvedError  # Fn::If, Fn::GetAtt, Fn::Select, ...: not fixed by the template alone

    def ref(self, name: str) -> str:
        if name in _PSEUDO:
            return "${" + name + "}"
        definition = self.parameters.get(name)
        if not isinstance(definition, Mapping):
            raise _UnresolvedError  # a resource's ID (or an unknown name)
        kind = str(definition.get("Type", "String"))
        default = definition.get("Default", MISSING)
        # A list parameter is not one name; an SSM parameter's default names the SSM key, not the value.
        if default is MISSING or kind.startswith(("List<", "CommaDelimitedList", "AWS::SSM::")):
            raise _UnresolvedError
        return self.text(default)

    def sub_part(self, part: SubPart, local: Mapping[str, Any]) -> str:
        # CloudFormation strips the spaces inside ``${ Name }`` (review round 11, tools, M1).
        name = part.name
        if part.literal:
            return part.literal_text  # ${!Name} is the text ${Name}
        if name in local:
            return self.text(local[name])
        if "." in name:
            raise _UnresolvedError  # ${Resource.Attribute}
        return self.ref(name)


def resolve_name(value: Any, template: Mapping[str, Any]) -> str | None:
    """The group name ``value`` stands for in ``template``, or None when the template does not fix it."""
    try:
        return _Resolver(template).text(value)
    except _UnresolvedError:
        return None


def with_resolved_names(resource_type: str, props: Mapping[str, Any], template: Mapping[str, Any]) -> Mapping[str, Any]:
    """``props`` with each keyed list item's resolvable name written as the resolved string.

    The guard then matches groups by what they are called at deploy time (parameter defaults), both
    for removals and for the other guarded paths of a group (``InstanceGroups[gpu].InstanceType``).
    A name that does not resolve becomes its written form (a :class:`Written` string, canonical JSON),
    so such a group is still matched by what it is called, not by its position in the list.
    """
    written = _WrittenKeys()
    changed: dict[str, Any] = {}
    for (keyed_type, list_name), key_field in KEYED_LISTS.items():
        items = props.get(list_name)
        if keyed_type != resource_type or not isinstance(items, list):
            continue
        resolved = []
        for item in items:
            name = item.get(key_field) if isinstance(item, Mapping) else None
            if name is None or isinstance(name, str):
                resolved.append(item)
                continue
            text = resolve_name(name, template)
            resolved.append({**item, key_field: written.label(name) if text is None else text})
        changed[list_name] = resolved
    return {**props, **changed} if changed else props


@dataclass
class RemovedGroup:
    """One group of ``list_name`` that is gone (or cannot be shown to remain), with its nodes."""

    label: str  # InstanceGroups[gpu], or InstanceGroups[2] when the name does not resolve
    summary: dict[str, Any]
    cause: str


@dataclass
class _Opaque:
    """A list item whose name does not resolve: matched only by its written form."""

    position: int
    item: Any
    written: Any  # the name as written (the whole item when the item itself is an intrinsic)
    key: str  # its canonical written form


class Written(str):
    """A group name that does not resolve, spelled as its written form; ``value`` is the name as written."""

    value: Any


class _WrittenKeys:
    """A value's written form as a :class:`Written` label, computed once per object.

    A short form is its canonical JSON text; a longer one is cut, with a digest of the whole value.
    Sizes and digests are computed on the value graph, once per container (by id): a YAML alias
    repeats one object, whose expanded JSON may be gigabytes for a few KB of template (review
    round 9, tools, M2), so the whole text is never built.
    """

    def __init__(self) -> None:
        self._memo: dict[int, tuple[Any, Written]] = {}  # id -> (the value, held alive; its label)
        self._sizes: dict[int, tuple[Any, int]] = {}
        self._digests = ValueDigests(scalar=_canonical_scalar, entries=_getatt_one_form)

    def label(self, value: Any) -> Written:
        held = self._memo.get(id(value))
        if held is None:
            size = self._size(value)
            if size > MAX_WRITTEN_SIZE:
                raise GroupNameTooLargeError(
                    f"an instance-group name that does not resolve is {size:,} characters as written (YAML "
                    f"aliases expanded), over {MAX_WRITTEN_SIZE:,}; write the name as a string or a short "
                    "Ref/Fn::Sub"
                )
            # The text is built only as far as the label shows it (review round 10, tools, M2: 110,000
            # names each holding one aliased 64,000-character string were serialised in full: 53 s).
            text = bounded_json(canonical(value), _LABEL_WIDTH + 1)
            if len(text) > _LABEL_WIDTH:
                text = f"{text[: _LABEL_WIDTH - 3]}... #{self.digest(value).hex()}"
            label = Written(text)
            label.value = value
            held = (value, label)
            self._memo[id(value)] = held
        return held[1]

    def _size(self, value: Any) -> int:
        """Characters of the value's JSON text, about (strings exactly, a few for each other value)."""
        if isinstance(value, str):
            return len(value) + 2
        if not isinstance(value, Mapping | list):
            return 8
        held = self._sizes.get(id(value))
        if held is None:
            parts = value.items() if isinstance(value, Mapping) else ((None, item) for item in value)
            size = 2 + sum(len(str(key)) + 4 + self._size(item) for key, item in parts)
            held = (value, size)
            self._sizes[id(value)] = held
        return held[1]

    def digest(self, value: Any) -> bytes:
        """A 16-byte digest of ``canonical(value)``: equal for values :func:`canonical` makes equal."""
        return self._digests(value)


def _getatt_one_form(mapping: Mapping[Any, Any]) -> Mapping[Any, Any]:
    """GetAtt "A.B" and ["A", "B"] are one form, as :func:`canonical` has it."""
    if _is_intrinsic(mapping):
        name, arg = next(iter(mapping.items()))
        if name == "Fn::GetAtt" and isinstance(arg, str) and "." in arg:
            return {name: arg.split(".", 1)}
    return mapping


def _canonical_scalar(value: Any) -> bytes:
    typed = canonical(value)
    return repr(typed if isinstance(typed, Typed) else value).encode()


def _split(value: Any, key_field: str, written: _WrittenKeys) -> tuple[dict[str, Any], list[_Opaque]]:
    """(named items by name, items whose name does not resolve) of a literal list; nothing otherwise."""
    named: dict[str, Any] = {}
    opaque: list[_Opaque] = []
    if not isinstance(value, list):
        return named, opaque  # a whole-list intrinsic is compared as a value (diff._rule_findings)
    for position, item in enumerate(value):
        if not isinstance(item, Mapping):
            continue
        if _is_intrinsic(item):  # an Fn::If standing for a group: only its whole written form says which
            opaque.append(_Opaque(position, item, item, written.label(item)))
            continue
        name = item.get(key_field, MISSING)
        if isinstance(name, Written):
            opaque.append(_Opaque(position, item, name.value, name))
        elif isinstance(name, str):
            named[name] = item
        else:  # absent, or props not through with_resolved_names
            opaque.append(_Opaque(position, item, name, written.label(name)))
    return named, opaque


def _listed(names: list[str], most: int = 5) -> str:
    shown = ", ".join(names[:most])
    return shown if len(names) <= most else f"{shown} and {len(names) - most} more"


def _autoscaling(props: Mapping[str, Any], group: Mapping[str, Any], template: Mapping[str, Any]) -> str | None:
    """Why a group's template count of 0 may say nothing of its nodes, or None when it surely does.

    Karpenter owns the size of a group with the platform's ``hyperpod-cdk/autoscaler`` label, or of
    any group when the cluster's ``AutoScaling.Mode`` is ``Enable``, so removing it still deletes up to
    its max_instance_count nodes (review round 7g, H1). Autoscaling counts as on unless the template
    shows it off: a ``Mode`` is resolved as group names are (parameter defaults, ``Fn::FindInMap``),
    and an ``AutoScaling``, ``Mode`` or group ``Labels`` that does not resolve may be on (round 9
    tools, M1: ``Mode: !Ref AutoscalingMode`` with the default ``Enable`` passed).
    """
    config = group.get("KubernetesConfig", MISSING)
    labels = config.get("Labels", MISSING) if isinstance(config, Mapping) and not _is_intrinsic(config) else config
    if isinstance(labels, Mapping) and not _is_intrinsic(labels):
        if "hyperpod-cdk/autoscaler" in labels:
            return "Karpenter owns its size: the template's InstanceCount 0 is not its node count"
    elif labels is not MISSING and labels is not None:
        return "its KubernetesConfig labels do not resolve from the template: Karpenter may own its size"
    scaling = props.get("AutoScaling", MISSING)
    if scaling is MISSING or scaling is None:
        return None
    mode = scaling.get("Mode", MISSING) if isinstance(scaling, Mapping) and not _is_intrinsic(scaling) else scaling
    if mode is MISSING:
        return None  # AutoScaling without a Mode: CloudFormation's schema requires one
    resolved = mode if isinstance(mode, str) else resolve_name(mode, template)
    if resolved is None:
        return "the cluster's AutoScaling Mode does not resolve from the template: Karpenter may own its size"
    if resolved == "Enable":
        return "Karpenter owns its size: the template's InstanceCount 0 is not its node count"
    return None


def _no_nodes(item: Any) -> bool:
    """``InstanceCount`` is the integer 0: ``false`` or ``0.0`` is another JSON value than CloudFormation's 0."""
    count = item.get("InstanceCount", MISSING) if isinstance(item, Mapping) else MISSING
    return type(count) is int and count == 0


def _empty(props: Mapping[str, Any], item: Any, template: Mapping[str, Any]) -> bool:
    """A group the template says has no nodes (so removing it deletes none)."""
    return _no_nodes(item) and _autoscaling(props, item, template) is None


def _summary(item: Any) -> dict[str, Any]:
    return {k: item[k] for k in ("InstanceType", "InstanceCount") if isinstance(item, Mapping) and k in item}


class _Comparison:
    """What one template comparison shares across its :func:`removed_groups` calls (one per cluster pair,
    and again when the cascade re-checks a pair): written forms and digests, computed once per object, and
    whether each resource differs between the templates, decided once per logical ID. A new memo per call
    digested a resource that N clusters' unresolved names read N times (review round 16, R16T-M4:
    identical 945 KB templates of 495 clusters, 211 s)."""

    def __init__(self) -> None:
        self.written = _WrittenKeys()
        self.resource_changed: dict[str, bool] = {}


# One per InputMemo (one InputMemo per template comparison), dropped with it.
_COMPARISONS: WeakKeyDictionary[InputMemo, _Comparison] = WeakKeyDictionary()


def _comparison(inputs: InputMemo) -> _Comparison:
    shared = _COMPARISONS.get(inputs)
    if shared is None:
        shared = _COMPARISONS[inputs] = _Comparison()
    return shared


def _read_resources_changed(value: Any, inputs: InputMemo, shared: _Comparison) -> bool:
    """Whether a resource ``value`` reads (``Fn::GetAtt``, ``Ref``, ``${R.Attr}``) differs between the
    templates: a name read from it may then differ too (review round 9, tools, L1)."""
    old_resources, new_resources = (_section(t, "Resources") for t in inputs.templates)
    for logical_id in references(value):
        changed = shared.resource_changed.get(logical_id)
        if changed is None:
            old, new = old_resources.get(logical_id, MISSING), new_resources.get(logical_id, MISSING)
            # Neither: a parameter or pseudo parameter (InputMemo compares those).
            changed = (old is MISSING) != (new is MISSING) or (
                old is not MISSING and shared.written.digest(old) != shared.written.digest(new)
            )
            shared.resource_changed[logical_id] = changed
        if changed:
            return True
    return False


def removed_groups(
    old_props: Mapping[str, Any], new_props: Mapping[str, Any], list_name: str, key_field: str, inputs: InputMemo
) -> list[RemovedGroup]:
    """Groups of ``list_name`` (props already through :func:`with_resolved_names`) that disappear with nodes.

    A named group missing from the new names is removed. A group whose name does not resolve is kept
    only when a new item writes its name the same way and nothing that name reads changed; otherwise
    it is reported, since a rename (which deletes its nodes) cannot be ruled out.
    """
    shared = _comparison(inputs)
    written = shared.written
    old_named, old_opaque = _split(old_props.get(list_name), key_field, written)
    new_named, new_opaque = _split(new_props.get(list_name), key_field, written)
    added = sorted(set(new_named) - set(old_named))
    # Written once, at most five names each (every removed group's cause carries them).
    added_text = _listed(added)
    unknown_text = _listed([f"{list_name}[{o.position}] {render_value(o.written, 40)}" for o in new_opaque[:5]])
    if len(new_opaque) > 5:
        unknown_text += f" and {len(new_opaque) - 5} more"
    old_template = inputs.templates[0]
    found = []
    for name in sorted(set(old_named) - set(new_named)):
        item = old_named[name]
        if _empty(old_props, item, old_template):
            continue
        cause = f"instance group '{name}' is removed"
        if _no_nodes(item):
            cause += f" ({_autoscaling(old_props, item, old_template)})"
        if added:
            cause += f" (new groups: {added_text}; a renamed group starts with new nodes)"
        if new_opaque:
            cause += f" (new groups whose name does not resolve, one may be this group: {unknown_text})"
        found.append(RemovedGroup(f"{list_name}[{name}]", _summary(item), cause))
    # New unresolved names by written form (each written out once per object: a YAML alias repeats one).
    # Two names written the same read the same inputs, so one candidate per form is tried.
    unmatched: dict[str, deque[_Opaque]] = {}
    for new in new_opaque:
        unmatched.setdefault(new.key, deque()).append(new)
    for old in old_opaque:
        candidates = unmatched.get(old.key)
        if (
            candidates
            and not inputs.changed(old.written, candidates[0].written)
            and not _read_resources_changed(old.written, inputs, shared)
        ):
            candidates.popleft()
            continue
        if _empty(old_props, old.item, old_template):
            continue
        found.append(
            RemovedGroup(
                f"{list_name}[{old.position}]",
                _summary(old.item),
                f"the group name {render_value(old.written, 60)} does not resolve from the template, and no new "
                "group writes it the same way with the same inputs: it cannot be matched by name, so a rename "
                "(which deletes its nodes) cannot be ruled out",
            )
        )
    return found
