"""Templates the guard cannot compare as written, refused instead of half-read (fifth review, L9).

The guard compares resources as the template lists them. A ``Transform`` (a macro such as
``AWS::LanguageExtensions``, ``AWS::Serverless-2016-10-31`` or ``AWS::Include``) rewrites the
template at deploy time, and ``Fn::ForEach::<name>`` keys in ``Resources`` (from
``AWS::LanguageExtensions``) generate resources the guard does not see: a replacing change inside
such a loop would pass as "no change". CloudFormation documents both as processed before the
deploy (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/transform-section-structure.html,
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference-foreach.html);
so is the ``Fn::Transform`` intrinsic, which runs a macro on one part of a template
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference-transform.html).
CDK never emits either; the guard expands neither, so it refuses the pair.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["TemplateNotComparableError", "check_comparable", "incomparable_reason"]

_FIX = (
    "the guard expands none; compare the processed template "
    "(`aws cloudformation get-template --template-stage Processed`)"
)


class TemplateNotComparableError(ValueError):
    """A template the guard cannot compare structurally; the message is one line."""


# CloudFormation's rule for a logical ID: alphanumeric (A-Za-z0-9), unique, at most 255 characters
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/resources-section-structure.html).
# A template that breaks it would not deploy; the guard refuses it rather than print a 1 MB ID in
# every finding that references it (round 7g, M4).
_LOGICAL_ID = re.compile(r"[A-Za-z0-9]{1,255}")


def incomparable_reason(template: Mapping[str, Any]) -> str | None:
    """Why ``template`` cannot be compared as written, or None."""
    transform = template.get("Transform")
    if transform not in (None, "", []):
        names = transform if isinstance(transform, list) else [transform]
        shown = ", ".join(_transform_name(name) for name in names)
        return f"has Transform {shown}: {_FIX}"
    resources = template.get("Resources")
    if isinstance(resources, Mapping):
        loops = sorted(str(key) for key in resources if str(key).startswith("Fn::ForEach::"))
        if loops:
            return f"has {loops[0][:80]} in Resources (AWS::LanguageExtensions): {_FIX}"
        bad = next((key for key in resources if not (isinstance(key, str) and _LOGICAL_ID.fullmatch(key))), None)
        if bad is not None:
            return (
                f"has the resource logical ID {str(bad)[:80]!r}, which is not 1 to 255 letters and digits "
                "(CloudFormation's rule for logical IDs); fix the template's Resources keys"
            )
        # A Type that is not text (CloudFormation refuses it) was a TypeError deep in the diff (R30T-L3).
        typeless = next(
            (
                key
                for key, body in resources.items()
                if isinstance(body, Mapping) and not isinstance(body.get("Type"), str | None)
            ),
            None,
        )
        if typeless is not None:
            return f"has resource {str(typeless)[:80]} whose Type is not text (CloudFormation refuses it); fix its Type"
    if _has_fn_transform({key: value for key, value in template.items() if key != "Transform"}):
        return f"has Fn::Transform (a macro rewrites that part at deploy time): {_FIX}"
    return None


def _has_fn_transform(node: Any) -> bool:
    """Whether an ``Fn::Transform`` intrinsic appears anywhere below ``node`` (sixth review, L2).

    Iterative, and each container is visited once: a YAML alias repeats an object, not the work.
    """
    seen: set[int] = set()
    todo = [node]
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, Mapping):
            if "Fn::Transform" in item:
                return True
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
    return False


def _transform_name(transform: Any) -> str:
    # A transform is a name, or {"Name": ..., "Parameters": ...} (AWS::Include).
    if isinstance(transform, Mapping):
        return str(transform.get("Name", "?"))
    return str(transform)


def check_comparable(template: Mapping[str, Any], label: str) -> None:
    """Raise :class:`TemplateNotComparableError` naming ``label`` when the guard cannot compare it."""
    reason = incomparable_reason(template)
    if reason is not None:
        raise TemplateNotComparableError(f"{label} {reason}")
