"""Resolving the templates of a CDK app with each nested stack's parameters as its parent passes them.

A ``NestedStack``'s template declares parameters; the parent's ``AWS::CloudFormation::Stack`` resource passes
their values at deploy, and CloudFormation uses a parameter's ``Default`` only where nothing is passed
(https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-cloudformation-stack.html,
``Parameters``). Review round 23, R23U-H1: each template was resolved alone, so a nested ``Default`` won over
the value the parent passes (a cluster type not offered in the region passed synth), and a literal the parent
passes was "not known at synth". So parents are resolved first; a passed value that resolves to a literal is
the nested parameter's value, one that does not is unknown (no ``Default``), and a nested stack whose resource
the parent drops (its condition is false) is not deployed, so its template is not read (R23U-L5).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from hyperpod_cdk.rules.cfn_template import EvaluationBudget, Resolved, resolve_template
from hyperpod_cdk.rules.model import Json

#: What a parent passes, as the nested parameter's value: (parent template, nested template, parameter, the
#: value as written, the value resolved in the parent, or None) -> the value, or None for one not known at synth.
Passing = Callable[[str, str, str, Json, str | None], str | None]

#: What :func:`resolve_linked` must evaluate to decide conditions: the values parents pass to nested stacks.
STACK_PROPERTIES = frozenset({"AWS::CloudFormation::Stack"})
#: Parent links followed to order the templates (the nesting CloudFormation allows is far less deep).
MAX_NESTING = 16


def resolve_linked(
    raw: Mapping[str, Json],
    nested_in: Mapping[str, tuple[str, str]],
    given: Callable[[str], Mapping[str, str]],
    region_of: Callable[[str], str | None],
    budget: EvaluationBudget,
    truths: Mapping[str, Mapping[str, bool]] | None = None,
    properties_of: frozenset[str] | None = None,
    shared_in: Mapping[str, list[tuple[str, str]]] | None = None,
    passing: Passing | None = None,
) -> dict[str, Resolved]:
    """Each template of ``raw`` resolved with ``given(path)`` (the user's values) and, for a nested template
    whose parent is known, the values its parent passes; nested templates the parent does not deploy are
    left out. A template several stack resources deploy (``shared_in``) takes a passed value all of them
    pass alike, and is unknown where they differ (R25T-H2: its Default won). ``passing`` may make a passed
    value unknown (the deploy-time worlds: one resting on a stand-in value)."""
    resolved: dict[str, Resolved] = {}
    skipped: set[str] = set()
    shared = shared_in or {}
    for path in sorted(raw, key=lambda p: _depth(p, nested_in, shared)):
        parameters: dict[str, str | None] = dict(given(path))
        link = nested_in.get(path)
        if link is not None and (link[0] in skipped or _dropped(resolved.get(link[0]), link[1])):
            skipped.add(path)
            continue
        if link is not None and link[0] in resolved:
            parameters.update(_passed(raw, resolved, link, path, passing))
        if path in shared:
            parameters.update(_passed_by_all(raw, resolved, shared[path], path, passing))
        data = raw[path]
        if isinstance(data, Mapping):
            resolved[path] = resolve_template(
                data, parameters, region_of(path), budget, (truths or {}).get(path), properties_of
            )
    return resolved


def _depth(path: str, nested_in: Mapping[str, tuple[str, str]], shared: Mapping[str, list[tuple[str, str]]]) -> int:
    depth = 0
    while depth < MAX_NESTING:
        if path in nested_in:
            path = nested_in[path][0]
        elif path in shared:  # after every parent that deploys it
            return depth + 1 + max(_depth(parent, nested_in, {}) for parent, _ in shared[path])
        else:
            break
        depth += 1
    return depth


def _passed_by_all(
    raw: Mapping[str, Json],
    resolved: Mapping[str, Resolved],
    parents: list[tuple[str, str]],
    child: str,
    passing: Passing | None,
) -> dict[str, str | None]:
    """The values the stack resources deploying one template all pass alike; None where they differ, or
    where one is not known."""
    each = [_passed(raw, resolved, link, child, passing) for link in parents if link[0] in resolved]
    names = {name for passed in each for name in passed}
    agreed: dict[str, str | None] = {}
    for name in names:
        values = {passed.get(name, "\0absent") for passed in each}
        agreed[name] = values.pop() if len(values) == 1 else None
    return agreed


def _dropped(parent: Resolved | None, logical_id: str) -> bool:
    return parent is not None and logical_id in parent.dropped


def _passed(
    raw: Mapping[str, Json],
    resolved: Mapping[str, Resolved],
    link: tuple[str, str],
    child: str,
    passing: Passing | None,
) -> dict[str, str | None]:
    """The nested template's declared parameters its stack resource passes: the literal text, or None (not
    known at synth, so no Default either)."""
    parent, logical_id = link
    passed = _stack_parameters(resolved[parent].template, logical_id)
    written = _stack_parameters(raw.get(parent), logical_id)
    template = raw[child]
    declared = template.get("Parameters") if isinstance(template, Mapping) else None
    if not isinstance(declared, Mapping):
        return {}
    values = {str(name): _text(passed[name]) for name in declared if name in passed}
    if passing is None:
        return values
    return {name: passing(parent, child, name, written.get(name), value) for name, value in values.items()}


def _stack_parameters(template: Json, logical_id: str) -> Mapping[str, Json]:
    resources = template.get("Resources") if isinstance(template, Mapping) else None
    stack = resources.get(logical_id) if isinstance(resources, Mapping) else None
    properties = stack.get("Properties") if isinstance(stack, Mapping) else None
    passed = properties.get("Parameters") if isinstance(properties, Mapping) else None
    return passed if isinstance(passed, Mapping) else {}


def _text(value: Json) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)  # a list-typed parameter, as CloudFormation takes it
    return None
