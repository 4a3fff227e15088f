"""Plain one-line messages for config errors: pydantic errors, YAML syntax errors, the file name.

Every message names what is allowed in words, never as a regular expression: each config module
registers a plain description for the patterns its fields use (:func:`register_hints`), and
``tests/test_config_messages.py`` checks that every pattern in the published schema has one. An
unknown key gets the closest allowed key as a suggestion; a value that is close to one of a fixed
set of choices gets that choice.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from hyperpod_cdk.errors import HyperPodConfigError, shown

__all__ = [
    "did_you_mean",
    "error_line",
    "explain",
    "field_path",
    "first_error",
    "keys_at",
    "pattern_hint",
    "pattern_message",
    "register_hints",
    "yaml_error_message",
]

# A hint is the end of "'<value>' is not ...", or a function of the value and the whole config
# that writes the whole message.
Hint = str | Callable[[str, Any], str]
_HINTS: dict[str, Hint] = {}
GENERIC_FORMAT = "in the expected format (see the field's description in schema/hyperpod.schema.json)"
# pydantic types whose input is a whole mapping or list: echoing it back would only be noise.
_CONTAINER_TYPES = frozenset({"model_type", "dict_type", "list_type", "missing", "model_attributes_type"})


def register_hints(hints: Mapping[str, Hint]) -> None:
    """Describe patterns in words; config modules call this next to the patterns they define."""
    _HINTS.update(hints)


def pattern_hint(pattern: str) -> Hint | None:
    return _HINTS.get(pattern)


def did_you_mean(word: str, choices: Sequence[str]) -> str | None:
    """The choice closest to ``word`` (case-insensitive), or None when none is close."""
    by_lower = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[close[0]] if close else None


# ----------------------------------------------------------------------------- field paths


def field_path(loc: Sequence[Any], data: Any, prefix: str = "") -> str:
    """``hyperpod.instance_groups[1](gpu).instance_count``: list items carry their ``name`` when they have one."""
    parts: list[str] = [prefix] if prefix else []
    node = data
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and item < len(node):
                node = node[item]
                if isinstance(node, Mapping) and isinstance(node.get("name"), str):
                    label = f"[{item}]({node['name']})"
            else:
                node = None
            parts.append(label)
        else:
            parts.append(("." if parts else "") + str(item))
            node = node.get(item) if isinstance(node, Mapping) else None
    return "".join(parts) or "(top level)"


def _alternatives(annotation: Any) -> list[Any]:
    """The types an annotation may hold: Annotated and unions (X | None) unwrapped."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _alternatives(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [alt for arg in get_args(annotation) for alt in _alternatives(arg)]
    return [annotation]


def _model(annotation: Any) -> type[BaseModel] | None:
    for alt in _alternatives(annotation):
        if isinstance(alt, type) and issubclass(alt, BaseModel):
            return alt
    return None


def _child(annotation: Any, part: Any) -> Any:
    for alt in _alternatives(annotation):
        origin = get_origin(alt)
        if isinstance(alt, type) and issubclass(alt, BaseModel):
            if isinstance(part, str) and part in alt.model_fields:
                return alt.model_fields[part].annotation
        elif origin in (list, tuple, Sequence) and isinstance(part, int):
            return get_args(alt)[0]
        elif origin in (dict, Mapping) and isinstance(part, str):
            return get_args(alt)[1]
    return None


def keys_at(root: type[BaseModel], loc: Sequence[Any]) -> list[str] | None:
    """The keys the model at ``loc`` (below ``root``) accepts, or None when ``loc`` is not a model."""
    annotation: Any = root
    for part in loc:
        annotation = _child(annotation, part)
        if annotation is None:
            return None
    model = _model(annotation)
    if model is None:
        return None
    return [field.alias or name for name, field in model.model_fields.items()]


# ----------------------------------------------------------------------------- pydantic errors


def pattern_message(value: Any, pattern: str, data: Any = None) -> str:
    """``'<value>' is not <what the pattern means>``, in words."""
    hint = _HINTS.get(pattern)
    if callable(hint):
        return hint(str(value), data)
    return f"{shown(value)} is not {hint or GENERIC_FORMAT}"


def _literal_choices(ctx: Mapping[str, Any]) -> list[str]:
    return re.findall(r"'([^']*)'", str(ctx.get("expected", "")))


def _with_input(message: str, value: Any) -> str:
    """Append the user's value once: not when the message already shows it."""
    if "(got " in message or shown(value) in message:
        return message
    return f"{message} (got {shown(value)})"


def _written(loc: Sequence[Any], data: Any) -> bool:
    """True when ``loc`` names a value the user wrote (not one a validator filled in)."""
    node = data
    for part in loc:
        if part == "[key]":
            return True
        if (isinstance(node, Mapping) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and part < len(node)
        ):
            node = node[part]
        else:
            return False
    return True


def first_error(errors: Sequence[Mapping[str, Any]], data: Any) -> Mapping[str, Any]:
    """The error to report: a misspelt key before the "missing" error it causes, and errors about
    what the user wrote before errors about values a validator derived from it."""
    missing_parents = {tuple(e["loc"][:-1]) for e in errors if e["type"] == "missing"}
    for error in errors:
        if error["type"] == "extra_forbidden" and tuple(error["loc"][:-1]) in missing_parents:
            return error
    for error in errors:
        if error["type"] == "missing" or _written(error["loc"], data):
            return error
    return errors[0]


def explain(error: Mapping[str, Any], data: Any, root: type[BaseModel], prefix: str = "") -> HyperPodConfigError:
    """One :class:`HyperPodConfigError` for a pydantic error dict, with the field path from ``data``."""
    loc = tuple(error["loc"])
    kind = error["type"]
    ctx = error.get("ctx") or {}
    inner = ctx.get("error")
    # Validators that know a more precise field path than pydantic's location raise our error.
    if isinstance(inner, HyperPodConfigError):
        return HyperPodConfigError(inner.field, inner.message)
    message = str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else ""
        allowed = keys_at(root, loc[:-1]) or []
        suggestion = did_you_mean(key, allowed)
        if suggestion:
            text = f"unknown key; did you mean '{suggestion}'?"
        elif allowed and len(allowed) <= 12:
            text = f"unknown key; allowed here: {', '.join(allowed)}"
        else:
            text = "unknown key; check the spelling against schema/hyperpod.schema.json"
        return HyperPodConfigError(field_path(loc, data, prefix), text)
    if kind == "missing":
        return HyperPodConfigError(field_path(loc, data, prefix), "required key is missing")
    # Messages of our own validators start with the sub-field they concern ("instance_type: ...").
    head, sep, rest = message.partition(": ")
    if sep and re.fullmatch(r"[a-z_]+", head):
        return HyperPodConfigError(field_path(loc + (head,), data, prefix), rest)
    is_key = bool(loc) and loc[-1] == "[key]"
    where = field_path(loc[:-1] if is_key else loc, data, prefix)
    if kind == "string_pattern_mismatch":
        text = pattern_message(value, str(ctx.get("pattern", "")), data)
        return HyperPodConfigError(where, f"key {text}" if is_key else text)
    if kind in ("literal_error", "enum"):
        choice = did_you_mean(str(value), _literal_choices(ctx)) if isinstance(value, str) else None
        message = _with_input(message, value)
        if choice and choice != value:
            message += f"; did you mean '{choice}'?"
        return HyperPodConfigError(where, message)
    if "input" in error and kind not in _CONTAINER_TYPES:
        message = _with_input(message, value)
    return HyperPodConfigError(where, message)


# ----------------------------------------------------------------------------- YAML and files


def yaml_error_message(exc: Exception) -> str:
    """``line 4, column 9: not valid YAML: mapping values are not allowed here``."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    reason = getattr(exc, "problem", None) or getattr(exc, "context", None) or ""
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    text = "not valid YAML"
    if reason:
        text += f": {reason}"
    elsewhere = context_mark is not None and (
        mark is None or (context_mark.line, context_mark.column) != (mark.line, mark.column)
    )
    if context and context != reason and elsewhere and context_mark is not None:
        text += f" ({context} at line {context_mark.line + 1}, column {context_mark.column + 1})"
    if mark is None:
        return text
    return f"line {mark.line + 1}, column {mark.column + 1}: {text}"


# Review round 8 (tools), L1: a field is a config key, which may be 1 MB of "a/a/...". Path.resolve() of
# that took 47 s (quadratic in its components), and the whole key was printed. A field longer than
# PATH_MAX, or with more components than a path may have, is not the file's path; what is printed is cut.
_MAX_PATH_CHARS = 4096
_MAX_PATH_PARTS = 255
MAX_FIELD_CHARS = 300


def _same_file(field: str, path: str | Path) -> bool:
    if not field or field == str(path):
        return bool(field)
    if len(field) > _MAX_PATH_CHARS or field.count("/") > _MAX_PATH_PARTS or "\0" in field:
        return False
    try:
        return Path(field).resolve() == Path(path).resolve()
    except (OSError, ValueError):
        return False


def _shown_field(field: str) -> str:
    return field if len(field) <= MAX_FIELD_CHARS else field[:MAX_FIELD_CHARS] + "…(cut)"


def error_line(path: str | Path, exc: HyperPodConfigError, *, shown_as: str | None = None) -> str:
    """``<file>: <field>: <message>``, naming the file once (errors about the file itself have no field).

    ``shown_as`` prints the file under another name (such as its base name).
    """
    name = shown_as if shown_as is not None else str(path)
    if _same_file(exc.field, path):
        return f"{name}: {exc.message}"
    return f"{name}: {_shown_field(exc.field)}: {exc.message}"
