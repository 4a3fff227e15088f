"""Read a CloudFormation template the way CloudFormation would, without AWS (pure Python, no jsii).

:func:`parse_template` reads JSON or YAML with the short-form intrinsics (``!Ref``, ``!Sub``,
``!GetAtt``, ``!If`` ...). :func:`resolve_template` then evaluates what is known offline: parameters
(given values, else their defaults), the pseudo parameters the caller knows (region, partition),
``Conditions``, ``Fn::If``, ``Fn::Equals``/``Not``/``And``/``Or``, ``Fn::Sub``, ``Fn::Join``,
``Fn::Select``, ``Fn::Split``, ``Fn::FindInMap`` and ``AWS::NoValue``. Whatever depends on something
unknown (a parameter without a default, ``AWS::AccountId``, a resource attribute) is left as the
intrinsic it was, and is listed in :attr:`Resolved.unresolved`, so a rule reports it as not checked
instead of guessing. Resources whose ``Condition`` is false are dropped, as CloudFormation does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hyperpod_cdk.input_limits import bounded_json
from hyperpod_cdk.rules.cfn_parse import TemplateError, parse_template
from hyperpod_cdk.specs.fn_sub import SubPart, substitute

__all__ = ["EvaluationBudget", "Resolved", "TemplateError", "parse_template", "resolve_template"]

Json = Any

SSM_PARAMETER_TYPE = "AWS::SSM::Parameter::Value<"
PSEUDO_PARTITION = {"cn-": "aws-cn", "us-gov-": "aws-us-gov", "us-iso-": "aws-iso", "us-isob-": "aws-iso-b"}


# --------------------------------------------------------------------------- evaluation


class _UnknownError(Exception):
    """Raised inside evaluation when a value depends on something not known offline."""


_NO_VALUE = object()


@dataclass
class Resolved:
    """A template with everything known offline evaluated, and what was not."""

    template: dict[str, Json]
    # (where, why): e.g. ("Resources/Cluster/Properties/VpcConfig/Subnets/0", "Ref PrivateSubnetId: no value");
    # at most MAX_UNRESOLVED, then only counted in ``unresolved_more``.
    unresolved: list[tuple[str, str]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    unresolved_more: int = 0
    # (where, why) of what a transform makes at deploy (Transform, Fn::ForEach:: keys): never read (R19T-M7).
    unexpanded: list[tuple[str, str]] = field(default_factory=list)
    # Each resource's Properties as written (the same objects, not copies): a rule that asks whether a value
    # is literal in the template, not only known offline, reads them (review round 19, R19R-H3).
    written: dict[str, Json] = field(default_factory=dict)
    # Resources whose Condition is not known offline, with it: they may not exist at deploy (R20T-H1).
    maybe_absent: dict[str, str] = field(default_factory=dict)

    def add_unresolved(self, where: str, why: str) -> None:
        if len(self.unresolved) < MAX_UNRESOLVED:
            self.unresolved.append((where, why))
        else:
            self.unresolved_more += 1


def _is_intrinsic(value: Json) -> bool:
    return isinstance(value, Mapping) and len(value) == 1 and next(iter(value)) in _FUNCTIONS


# Caps on what Fn::Sub and Fn::Join may build: nested intrinsics double a string per level (32 levels of
# "${v}${v}" in 1 KB of JSON ask for 2^35 bytes), and a long parameter default referenced thousands of
# times multiplies. Past a cap the value is "not checked", as anything else unknown offline.
MAX_STRING_CHARS = 1 << 20  # one evaluated string
# A parameter value is at most 4,096 bytes (CloudFormation quotas, "Parameter value":
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html).
MAX_PARAMETER_BYTES = 4096
MAX_TEMPLATE_CHARS = 16 << 20  # all strings Fn::Sub and Fn::Join build for one template (or one cdk.out)
# Nested evaluate() calls, counting condition hops: a 5,000-long chain of conditions recursed until
# RecursionError. Deeper is "not evaluated offline" (the tree itself is at most 100 deep).
MAX_EVALUATION_DEPTH = 128
# Where-paths recorded for values not known offline (thousands under long keys asked for gigabytes of text).
MAX_UNRESOLVED = 1000
MAX_WHERE_PART_CHARS = 100  # one path component as shown (a key may be megabytes long)
MAX_WHERE_PARTS = 24  # components shown; the middle of a deeper path is elided
# What a template's transforms make is not in the template lint reads; the guard refuses such a file the same way.
UNEXPANDED = (
    "lint expands no transform, so the resources it makes or changes are not checked; lint the processed "
    "template (aws cloudformation get-template --template-stage Processed)"
)


class EvaluationBudget:
    """What intrinsics may still build (characters, plus one per list or mapping a value holds).

    Fn::Sub, Fn::Join and Fn::Split spend the characters they build; Ref, Fn::FindInMap and Fn::Select
    spend the size of the value they hand out (a 100,000-item mapping list named 5,000 times is shared
    by reference, but every rule walks each use). One budget may serve every template of a cdk.out.
    """

    def __init__(self, chars: int = MAX_TEMPLATE_CHARS) -> None:
        self.chars_left = chars


def _size(value: Json, sizes: dict[int, tuple[int, Json]]) -> int:
    """Characters plus containers in ``value`` (at least 1 a value, "" too: R16T-L3), without recursion.

    Sizes of containers handed out before are memoised by id; the memo holds each container, so an id
    is never reused for another object while the memo lives.
    """
    if isinstance(value, str):
        return max(len(value), 1)
    if not isinstance(value, Mapping | list):
        return 1
    if id(value) in sizes:
        return sizes[id(value)][0]
    total = 0
    stack: list[Json] = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            total += max(len(node), 1)
        elif isinstance(node, Mapping | list):
            known = sizes.get(id(node))
            if known is not None:
                total += known[0]
                continue
            total += 1
            if isinstance(node, Mapping):
                total += sum(len(k) for k in node if isinstance(k, str))
                stack.extend(node.values())
            else:
                stack.extend(node)
        else:
            total += 1
        if total > MAX_TEMPLATE_CHARS:
            break  # over any budget already: stop counting
    sizes[id(value)] = (total, value)
    return total


# A where-path under construction: (parent trail, key); rendered only when recorded.
_Trail = tuple[Any, str] | None


def _where(trail: _Trail) -> str:
    parts: list[str] = []
    while trail is not None:
        trail, step = trail
        parts.append(step if len(step) <= MAX_WHERE_PART_CHARS else step[: MAX_WHERE_PART_CHARS - 1] + "…")
    parts.reverse()
    if len(parts) > MAX_WHERE_PARTS:
        parts = parts[: MAX_WHERE_PARTS // 2] + ["…"] + parts[-(MAX_WHERE_PARTS // 2) :]
    return "/".join(parts)


class _Resolver:
    def __init__(
        self,
        template: Mapping[str, Json],
        parameters: Mapping[str, str | None],
        region: str | None,
        budget: EvaluationBudget | None = None,
        given_conditions: Mapping[str, bool] | None = None,
    ) -> None:
        self.template = template
        self.budget = budget or EvaluationBudget()
        self.depth = 0
        self.sizes: dict[int, tuple[int, Json]] = {}
        self.parameters: dict[str, Json] = {}
        # An SSM parameter type's Default names the Systems Manager parameter CloudFormation reads at deploy:
        # not the value (review round 19, R19T-M6). Unknown offline unless given.
        self.ssm: set[str] = set()
        self._read_parameters(template.get("Parameters"), parameters)
        self.pseudo: dict[str, Json] = {"AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": _NO_VALUE}
        if region:
            self.pseudo["AWS::Region"] = region
            partition = next((p for prefix, p in PSEUDO_PARTITION.items() if region.startswith(prefix)), "aws")
            self.pseudo["AWS::Partition"] = partition
            if partition == "aws-cn":
                self.pseudo["AWS::URLSuffix"] = "amazonaws.com.cn"
        conditions = template.get("Conditions")
        self.condition_specs: Mapping[str, Json] = conditions if isinstance(conditions, Mapping) else {}
        # Conditions given a value: a world in which the plugin reads a condition it cannot decide (R22T-H1).
        self.condition_values: dict[str, bool | None] = dict(given_conditions or {})
        resources = template.get("Resources")
        self.resources: Mapping[str, Json] = resources if isinstance(resources, Mapping) else {}
        mappings = template.get("Mappings")
        self.mappings: Mapping[str, Json] = mappings if isinstance(mappings, Mapping) else {}

    def _read_parameters(self, declared: Json, parameters: Mapping[str, str | None]) -> None:
        """Each declared parameter's value: given, else its Default (not an SSM type's), else unknown."""
        for name, spec in declared.items() if isinstance(declared, Mapping) else ():
            spec = spec if isinstance(spec, Mapping) else {}
            kind = str(spec.get("Type", "String"))
            if kind.startswith(SSM_PARAMETER_TYPE):
                self.ssm.add(name)
            if name in parameters:
                value: Json = parameters[name]
                if value is None:
                    continue  # passed at deploy, not known offline: unknown, whatever its Default (R23U-H1)
            elif "Default" in spec and name not in self.ssm:
                value = spec["Default"]
            else:
                continue
            if isinstance(value, str) and _utf8_bytes(value) > MAX_PARAMETER_BYTES:
                continue  # not a value CloudFormation accepts (too long, a lone surrogate): unknown (not checked)
            if kind.startswith(("List<", "AWS::SSM::Parameter::Value<List<")) or kind == "CommaDelimitedList":
                value = [part.strip() for part in value.split(",")] if isinstance(value, str) else value
            elif isinstance(value, int | float) and not isinstance(value, bool):
                value = str(value)  # CloudFormation hands parameters to resources as strings
            self.parameters[name] = value

    # -- conditions

    def condition(self, name: str) -> bool | None:
        """A condition's value, once per name (memoised: a chain is linear); None when not known offline.

        A cycle stays unknown; a chain deeper than MAX_EVALUATION_DEPTH is unknown from where it is cut.
        """
        if name in self.condition_values:
            return self.condition_values[name]
        if name not in self.condition_specs:
            return None
        self.condition_values[name] = None  # a cycle stays unknown
        try:
            value = self.evaluate(self.condition_specs[name])
            result = value if isinstance(value, bool) else None
        except _NOT_EVALUATED:
            result = None
        self.condition_values[name] = result
        return result

    # -- values

    def evaluate(self, value: Json) -> Json:
        """The value with intrinsics evaluated; raises :class:`_UnknownError` when that is not possible."""
        if not isinstance(value, list | Mapping):
            return value
        if self.depth >= MAX_EVALUATION_DEPTH:
            raise _UnknownError(f"intrinsics nested over {MAX_EVALUATION_DEPTH} levels: not evaluated offline")
        self.depth += 1
        try:
            return self._evaluate(value)
        finally:
            self.depth -= 1

    def _evaluate(self, value: Json) -> Json:
        if isinstance(value, list):
            items = [self.evaluate(item) for item in value]
            return [item for item in items if item is not _NO_VALUE]
        if isinstance(value, Mapping):
            if _is_intrinsic(value):
                ((name, arg),) = value.items()
                return _FUNCTIONS[name](self, arg)
            out = {}
            for key, item in value.items():
                evaluated = self.evaluate(item)
                if evaluated is not _NO_VALUE:
                    out[key] = evaluated
            return out
        return value

    def best_effort(self, value: Json, where: _Trail, resolved: Resolved) -> Json:
        """Evaluate what can be; keep an intrinsic that cannot (and record where)."""
        if isinstance(value, list):
            items = [self.best_effort(item, (where, str(i)), resolved) for i, item in enumerate(value)]
            return [item for item in items if item is not _NO_VALUE]
        if isinstance(value, Mapping):
            if _is_intrinsic(value):
                ((name, arg),) = value.items()
                if name == "Fn::If" and isinstance(arg, list) and len(arg) == 3 and isinstance(arg[0], str):
                    chosen = self.condition(arg[0])
                    if chosen is not None:  # the branch itself may hold values known only after deploy
                        return self.best_effort(arg[1] if chosen else arg[2], where, resolved)
                if name == "Ref" and arg == "AWS::NoValue":
                    return _NO_VALUE
                try:
                    return self.evaluate(value)
                except _NOT_EVALUATED as exc:
                    why = _why(exc)
                    if name == "Fn::If" and isinstance(arg, list) and len(arg) == 3:  # neither branch is the truth
                        why = f"condition {_shown(arg[0])} is not known offline"
                    resolved.add_unresolved(_where(where), why)
                    return self._known_branches(value)
            out = {key: self.best_effort(item, (where, str(key)), resolved) for key, item in value.items()}
            return {key: item for key, item in out.items() if item is not _NO_VALUE}
        return value

    def _known_branches(self, value: Json) -> Json:
        """``value`` with known ``Fn::If`` branches and ``Fn::Select`` items chosen (R17T-H1, R18T-H1)."""
        if not isinstance(value, Mapping):
            return [self._known_branches(item) for item in value] if isinstance(value, list) else value
        arg, select = value.get("Fn::If"), value.get("Fn::Select")
        if len(value) == 1 and isinstance(arg, list) and len(arg) == 3 and isinstance(arg[0], str):
            chosen = self.condition(arg[0])
            if chosen is not None:
                return self._known_branches(arg[1] if chosen else arg[2])
        if len(value) == 1 and isinstance(select, list) and len(select) == 2 and isinstance(select[1], list):
            with contextlib.suppress(*_NOT_EVALUATED):
                position = _index(self.evaluate(select[0]))
                if position is not None and position < len(select[1]):
                    return self._known_branches(select[1][position])
        return {key: self._known_branches(item) for key, item in value.items()}

    # -- functions

    def ref(self, arg: Json) -> Json:
        if not isinstance(arg, str):
            raise _UnknownError(f"Ref {arg!r} is not a name")
        if arg in self.parameters:
            return self._handed_out(self.parameters[arg], "Ref")
        if arg in self.pseudo:
            return self.pseudo[arg]
        if arg in self.resources:
            raise _UnknownError(f"Ref {arg}: a resource id, known only after deploy")
        if arg.startswith("AWS::"):
            raise _UnknownError(f"Ref {arg}: not known offline")
        if arg in self.ssm:
            raise _UnknownError(f"Ref {arg}: an SSM parameter, read at deploy (give --parameter {arg}=...)")
        raise _UnknownError(f"Ref {arg}: parameter without a value (give --parameter {arg}=...)")

    def fn_if(self, arg: Json) -> Json:
        if not (isinstance(arg, list) and len(arg) == 3 and isinstance(arg[0], str)):
            raise _UnknownError("malformed Fn::If")
        chosen = self.condition(arg[0])
        if chosen is None:
            raise _UnknownError(f"condition {arg[0]} is not known offline")
        return self.evaluate(arg[1] if chosen else arg[2])

    def fn_equals(self, arg: Json) -> Json:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise _UnknownError("malformed Fn::Equals")
        left, right = (self.evaluate(a) for a in arg)
        return _text(left) == _text(right)

    def fn_not(self, arg: Json) -> Json:
        inner = self.evaluate(arg[0] if isinstance(arg, list) and arg else arg)
        if not isinstance(inner, bool):
            raise _UnknownError("Fn::Not of a non-boolean")
        return not inner

    def _booleans(self, arg: Json) -> list[bool | None]:
        out: list[bool | None] = []
        for item in arg if isinstance(arg, list) else []:
            try:
                value = self.evaluate(item)
                out.append(value if isinstance(value, bool) else None)
            except _NOT_EVALUATED:
                out.append(None)
        return out

    def _short_circuit(self, arg: Json, decisive: bool, name: str) -> bool:
        """Fn::And (``decisive`` False) or Fn::Or (True): one decisive value settles it, even next to
        unknown conditions; otherwise an unknown leaves the result unknown."""
        values = self._booleans(arg)
        if decisive in values:
            return decisive
        if None in values:
            raise _UnknownError(f"{name} of an unknown condition")
        return not decisive

    def fn_and(self, arg: Json) -> Json:
        return self._short_circuit(arg, False, "Fn::And")

    def fn_or(self, arg: Json) -> Json:
        return self._short_circuit(arg, True, "Fn::Or")

    def condition_fn(self, arg: Json) -> Json:
        value = self.condition(arg) if isinstance(arg, str) else None
        if value is None:
            raise _UnknownError(f"condition {arg} is not known offline")
        return value

    def fn_sub(self, arg: Json) -> Json:
        if isinstance(arg, str):
            text, variables = arg, {}
        elif isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str) and isinstance(arg[1], Mapping):
            text, variables = arg[0], {k: self.evaluate(v) for k, v in arg[1].items()}
        else:
            raise _UnknownError("malformed Fn::Sub")

        built = [len(text)]

        def replace(part: SubPart) -> str:
            name = part.name
            if not part.body:
                return "${}"
            if part.literal:
                value = part.literal_text
            elif name in variables:
                value = _text(variables[name])
            elif "." in name:
                raise _UnknownError(f"Fn::Sub ${{{name}}}: a resource attribute, known only after deploy")
            else:
                value = _text(self.ref(name))
            built[0] += len(value)
            self._spend(built[0], "Fn::Sub")
            return value

        return substitute(text, replace)

    def _delimited(self, arg: Json, function: str) -> tuple[str, Json]:
        """Fn::Join's and Fn::Split's ``[delimiter, value]``: the literal delimiter and the evaluated value."""
        if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str)):
            raise _UnknownError(f"malformed {function}")
        return arg[0], self.evaluate(arg[1])

    def fn_join(self, arg: Json) -> Json:
        delimiter, items = self._delimited(arg, "Fn::Join")
        if not isinstance(items, list):
            raise _UnknownError("Fn::Join of a non-list")
        parts = [_text(i) for i in items]
        self._spend(sum(map(len, parts)) + len(delimiter) * max(len(parts) - 1, 0), "Fn::Join")
        return delimiter.join(parts)

    def _spend(self, length: int, function: str) -> None:
        """Refuse (as not checked) a string over MAX_STRING_CHARS, or past the template's budget."""
        if length > MAX_STRING_CHARS:
            raise _UnknownError(
                f"{function} builds a string over {MAX_STRING_CHARS:,} characters: not evaluated offline"
            )
        self.budget.chars_left -= length
        if self.budget.chars_left < 0:
            raise _UnknownError(
                f"{function}: the template's intrinsics build over {MAX_TEMPLATE_CHARS:,} characters: "
                "not evaluated offline"
            )

    def fn_select(self, arg: Json) -> Json:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise _UnknownError("malformed Fn::Select")
        index, items = self.evaluate(arg[0]), self.evaluate(arg[1])
        # Not a float (`.inf`: OverflowError, R15T-M6), boolean or negative index, nor from a string or mapping.
        position = _index(index)
        if not isinstance(items, list):
            raise _UnknownError("Fn::Select from a non-list")
        if position is None or position >= len(items):
            raise _UnknownError(f"Fn::Select index {_shown(index)} is not in the list")
        return self._handed_out(items[position], "Fn::Select")

    def fn_split(self, arg: Json) -> Json:
        delimiter, text = self._delimited(arg, "Fn::Split")
        if not isinstance(text, str):
            raise _UnknownError("Fn::Split of a non-string")
        if not delimiter:
            raise _UnknownError("Fn::Split with an empty delimiter")
        self._spend(len(text), "Fn::Split")  # the parts hold as many characters as the string
        return text.split(delimiter)

    def fn_find_in_map(self, arg: Json) -> Json:
        if not (isinstance(arg, list) and len(arg) >= 3):
            raise _UnknownError("malformed Fn::FindInMap")
        keys = [self.evaluate(a) for a in arg[:3]]
        # Each level a mapping: one that is a string or a list, indexed by a number, raised IndexError (R15T-M6).
        found: Json = self.mappings
        for key in keys:
            if not (isinstance(found, Mapping) and isinstance(key, str | int) and key in found):
                raise _UnknownError(f"Fn::FindInMap {_shown(keys)} has no entry")
            found = found[key]
        return self._handed_out(found, "Fn::FindInMap")

    def _handed_out(self, value: Json, function: str) -> Json:
        """``value`` (shared, not copied), after spending its size from the budget."""
        self._spend(_size(value, self.sizes), function)
        return value

    def unknown(self, name: str) -> Any:
        def raise_unknown(_self: _Resolver, arg: Json) -> Json:
            target = arg[0] if isinstance(arg, list) and arg else arg
            raise _UnknownError(f"{name} {target}: known only after deploy")

        return raise_unknown


_FUNCTIONS: dict[str, Any] = {
    "Ref": _Resolver.ref,
    "Condition": _Resolver.condition_fn,
    "Fn::If": _Resolver.fn_if,
    "Fn::Equals": _Resolver.fn_equals,
    "Fn::Not": _Resolver.fn_not,
    "Fn::And": _Resolver.fn_and,
    "Fn::Or": _Resolver.fn_or,
    "Fn::Sub": _Resolver.fn_sub,
    "Fn::Join": _Resolver.fn_join,
    "Fn::Select": _Resolver.fn_select,
    "Fn::Split": _Resolver.fn_split,
    "Fn::FindInMap": _Resolver.fn_find_in_map,
}
_KNOWN_ONLY_AT_DEPLOY = "GetAtt ImportValue GetAZs Base64 Cidr Transform ToJsonString Length GetStackOutput"
for _name in (f"Fn::{short}" for short in _KNOWN_ONLY_AT_DEPLOY.split()):
    _FUNCTIONS[_name] = _Resolver.unknown(_Resolver, _name)  # type: ignore[arg-type]


def _shown(value: Json) -> str:
    """A value from the template as a short text for a message."""
    # Only as much as is shown is written: a YAML alias can make the whole text gigabytes (round 14, tools, L1).
    text = value if isinstance(value, str) else bounded_json(value, MAX_WHERE_PART_CHARS + 1)
    return text if len(text) <= MAX_WHERE_PART_CHARS else text[: MAX_WHERE_PART_CHARS - 1] + "…"


def _utf8_bytes(text: str) -> int:
    """The UTF-8 length of ``text``; over the cap for a lone surrogate, which has no UTF-8 form (R15T-M6)."""
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return MAX_PARAMETER_BYTES + 1


def _index(value: Json) -> int | None:
    """A list index as CloudFormation takes it: a whole number from 0, or its ASCII digits; else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value >= 0 else None
    return int(value) if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19 else None


# What evaluation raises for a value it cannot evaluate: not known offline. Besides _UnknownError, the Python
# errors a malformed value may still raise (a backstop: a traceback is exit 1, a rule failure to CI; R15T-M6).
_NOT_EVALUATED = (_UnknownError, ArithmeticError, LookupError, TypeError, ValueError)


def _why(exc: Exception) -> str:
    return str(exc) if isinstance(exc, _UnknownError) else f"not evaluated offline ({type(exc).__name__})"


def _text(value: Json) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise _UnknownError("a non-scalar where text is needed")


def resolve_template(
    template: Mapping[str, Json],
    parameters: Mapping[str, str | None] | None = None,
    region: str | None = None,
    budget: EvaluationBudget | None = None,
    conditions: Mapping[str, bool] | None = None,
    properties_of: frozenset[str] | None = None,
) -> Resolved:
    """Evaluate what is known offline; see the module docstring.

    ``budget`` is shared by the templates of one input (a cdk.out); a new one (MAX_TEMPLATE_CHARS) otherwise.
    ``conditions`` gives conditions a value instead of evaluating them; ``properties_of``: only resources of
    these types get their properties evaluated (the others are kept as written).
    """
    resolver = _Resolver(template, parameters or {}, region, budget, conditions)
    resolved = Resolved(template={k: v for k, v in template.items() if k != "Resources"})
    if template.get("Transform") is not None:
        resolved.unexpanded.append(("Transform", f"Transform {_shown(template['Transform'])}: {UNEXPANDED}"))
    resources: dict[str, Json] = {}
    for logical_id, body in resolver.resources.items():
        if str(logical_id).startswith("Fn::ForEach::") and len(resolved.unexpanded) < MAX_UNRESOLVED:
            where = _where(((None, "Resources"), str(logical_id)))
            resolved.unexpanded.append((where, f"a loop AWS::LanguageExtensions expands at deploy: {UNEXPANDED}"))
        if not isinstance(body, Mapping):
            resources[logical_id] = body
            continue
        condition = body.get("Condition")
        if isinstance(condition, str):
            value = resolver.condition(condition)
            if value is False:
                resolved.dropped.append(logical_id)
                continue
            if value is None:
                resolved.maybe_absent[logical_id] = condition
                resolved.add_unresolved(
                    _where(((None, "Resources"), logical_id)),
                    f"condition {_shown(condition)} is not known offline (resource may not exist)",
                )
        new_body = dict(body)
        if "Properties" in body and (properties_of is None or _hashable_type(body) in properties_of):
            resolved.written[logical_id] = body["Properties"]
            trail: _Trail = (((None, "Resources"), logical_id), "Properties")
            new_body["Properties"] = resolver.best_effort(body["Properties"], trail, resolved)
        resources[logical_id] = new_body
    resolved.template["Resources"] = resources
    return resolved


def condition_values(
    template: Mapping[str, Json],
    parameters: Mapping[str, str | None],
    region: str | None,
    names: Iterable[str],
    budget: EvaluationBudget,
    given: Mapping[str, bool] | None = None,
) -> dict[str, bool | None]:
    """The value of each condition named (None: not known offline), without resolving the resources;
    conditions ``given`` a value have it."""
    resolver = _Resolver(template, parameters, region, budget, given)
    return {name: resolver.condition(name) for name in names}


def _hashable_type(body: Mapping[str, Json]) -> str | None:
    """A resource's ``Type`` where it is text; a list or map (CloudFormation refuses it) is none (R30T-L3)."""
    kind = body.get("Type")
    return kind if isinstance(kind, str) else None
