"""Reading a CDK app's templates in each deploy-time world of the resource conditions not known at synth.

:mod:`.condition_worlds` says which parameter values are worth trying; here each world is built and read:

- a parameter is a parameter *of one template*: two stacks that both declare ``Env`` get their own values in
  each world (review round 23, R23T-H1: keyed by name, one stack's literals replaced the other's and both
  always took the same value);
- a nested stack's parameter is what its parent passes in each world (:mod:`.nested_resolve`), never its
  ``Default``; only a top-level template's parameters take values. A value the parent passes that rests on a
  *stand-in* (the value tried for "any value no condition names", or the one other value of a long
  ``AllowedValues``) is unknown in the nested stack, so its conditions on it are tried true and false: the
  stand-in stands for the values the nested conditions compare too (round 30; rounds 25 to 28 traced those
  values back to the parent's parameters and missed a world each time, and since R30T-L1 a value from an
  exhaustive list, or a literal the parent's conditions name, decides the nested condition exactly);
- a resource condition the parameter values leave undecided (``AWS::StackName``, an ``Fn::Select``) is tried
  true and false, less the combinations one condition contradicts from another (R22T-H1);
- CDK's own ``AWS::CDK::Metadata`` resource, whose condition reads the region of an environment-agnostic
  stack, is no world's concern: no rule reads it (R23T-M1: five such stacks spent the world budget);
- at most :data:`MAX_WORLDS` worlds in all (parameter values times condition truths), fewer for large
  templates (:func:`world_cap`: each world is a whole check); more is one HyperPod-CFN1 finding with the real
  count, and the parameter worlds are read with the undecided resources left out.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from hyperpod_cdk.rules.cdk_out import declared_parameters
from hyperpod_cdk.rules.cfn_template import (
    EvaluationBudget,
    Resolved,
    condition_values,
)
from hyperpod_cdk.rules.condition_worlds import (
    OTHER_VALUE,
    assignments,
    condition_truths,
    direct_literals,
    names_read,
    unknown_parameters,
)
from hyperpod_cdk.rules.model import Finding, Json, Templates, as_map
from hyperpod_cdk.rules.nested_resolve import STACK_PROPERTIES, resolve_linked

#: Most worlds (parameter values times condition truths) the plugin reads per app; more is one CFN1 finding.
MAX_WORLDS = 16
#: Template text all the worlds may read together (each world is a whole check of the templates).
MAX_WORLD_TEXT = 16 * 2**20
#: Resources no rule reads: their conditions make no world.
UNREAD_TYPES = frozenset({"AWS::CDK::Metadata"})

Key = tuple[str, str]  # (template path, parameter or condition name)


@dataclasses.dataclass
class _Worlds:
    raw: Mapping[str, Json]
    parameters: Mapping[str, str]
    templates: Templates
    #: Per (template, parameter): the values tried that stand for every value no condition names.
    stand_ins: Mapping[Key, frozenset[str]] = dataclasses.field(default_factory=dict)
    #: (nested template, parameter) passed ``Ref P`` whose conditions compare it only with literals P's values
    #: name, and that it passes no further: a stand-in for P is one for it too (R30T-L1).
    exact_passes: frozenset[Key] = frozenset()

    def given(self, path: str, world: Mapping[Key, str]) -> dict[str, str]:
        """The parameter values of one template in ``world`` (a nested template's passed ones are added by
        :meth:`resolve` as its parent passes them)."""
        data = self.raw[path]
        return {**declared_parameters(data, self.parameters), **{n: v for (p, n), v in world.items() if p == path}}

    def resolve(
        self,
        world: Mapping[Key, str],
        truths: Mapping[str, Mapping[str, bool]],
        properties_of: frozenset[str] | None = None,
    ) -> dict[str, Resolved]:
        """The templates resolved in ``world``, parents first: a nested stack's parameters are what its parent
        passes in that world (R23U-H1)."""
        return resolve_linked(
            self.raw,
            self.templates.nested_in,
            lambda path: self.given(path, world),
            self.templates.region_of,
            EvaluationBudget(),
            truths,
            properties_of,
            self.templates.shared_in,
            lambda parent, child, name, written, value: (
                None if (child, name) not in self.exact_passes and self._on_stand_in(world, parent, written) else value
            ),
        )

    def _on_stand_in(self, world: Mapping[Key, str], parent: str, written: Json) -> bool:
        """Whether a value ``parent`` passes, as written, reads a parameter whose ``world`` value is a stand-in:
        it stands for values the nested conditions may name, so what they decide is unknown there."""
        return any(world.get((parent, name)) in self.stand_ins.get((parent, name), ()) for name in names_read(written))

    def undecided(self, world: Mapping[Key, str]) -> set[Key]:
        """The (template, condition) of resources some rule may read that ``world``'s values leave undecided
        (the templates resolved in it, nested parameters as passed)."""
        return {  # only the stacks' properties decide conditions (R25T-M1)
            (path, name)
            for path, r in self.resolve(world, {}, STACK_PROPERTIES).items()
            for logical_id, name in r.maybe_absent.items()
            if not _unread(self.raw[path], logical_id)
        }

    def agree(self, world: Mapping[Key, str], truths: Mapping[str, Mapping[str, bool]]) -> bool:
        """Whether no condition given a truth value evaluates to the other from the rest: ``EfaOff`` is
        ``Fn::Not [EfaOn]``, so a world with both true is one no deploy reaches (R21T-L2). Past the budget a
        condition is unknown, and so agrees. A nested template's passed parameters are unknown here, never
        its ``Default`` (R30: the Default contradicted the truth the passed value gives)."""
        budget = EvaluationBudget()
        for path, each in truths.items():
            given: dict[str, str | None] = {**self.given(path, world)}
            given.update(dict.fromkeys(_passed_names(self.templates, path) or ()))
            region = self.templates.region_of(path)
            for name, value in each.items():
                others = {k: v for k, v in each.items() if k != name}
                if condition_values(self.raw[path], given, region, [name], budget, others)[name] is (not value):
                    return False
        return True

    def read(
        self,
        world: Mapping[Key, str],
        truths: Mapping[str, Mapping[str, bool]],
        check: Callable[[Templates], list[Finding]],
    ) -> list[Finding]:
        """What ``check`` finds in the templates resolved in one world, what is still unknown left out."""
        resolved = self.resolve(world, truths)
        view = Templates(
            {path: _without(r.template, r.maybe_absent) for path, r in resolved.items()},
            regions=self.templates.regions,
        )
        view.written.update((path, r.written) for path, r in resolved.items())
        view.nested_in.update(self.templates.nested_in)
        return check(view)


def other_worlds(
    raw: Mapping[str, Json],
    parameters: Mapping[str, str],
    templates: Templates,
    resolved: Mapping[str, Resolved],
    present: Iterable[Finding],
    check: Callable[[Templates], list[Finding]],
) -> list[Finding]:
    """What ``check`` finds in the deploy-time worlds of resources whose ``Condition`` is not known at synth
    and did not find in ``present`` (the templates read with every such resource present)."""
    if not any(r.maybe_absent for r in resolved.values()):
        return []
    stand_ins: dict[Key, frozenset[str]] = {}
    passes = _passes_by_ref(raw, templates)
    choices = _choices(raw, parameters, templates, resolved, stand_ins, passes)
    exact = frozenset(key for key, (_, literals) in passes.items() if literals is not None)
    worlds_of = _Worlds(raw, parameters, templates, stand_ins, exact)
    found: list[Finding] = []
    # A CFN1 finding names a resource in its own template, so an acknowledgment there finds it (R30T-L1).
    first, where = next(
        ((path, logical_id) for path, r in resolved.items() for logical_id in r.maybe_absent),
        (next(iter(raw)), "Conditions"),
    )
    cap = world_cap(raw)
    worlds, total = assignments(choices, cap)
    if not worlds:
        names = ", ".join(sorted({name for _, name in choices}))
        found.append(_too_many(first, where, f"{total} combinations of the parameters {names}", cap))
        worlds = [{}]
    undecided = [worlds_of.undecided(world) for world in worlds]
    count = sum(2 ** len(each) for each in undecided)
    if count > cap and total <= cap:
        names = ", ".join(sorted({name for each in undecided for _, name in each}))
        what = f"{count} combinations of parameter values and of the conditions {names} (not decided by them)"
        found.append(_too_many(first, where, what, cap))
    labels = _labels(choices)
    seen = {(f.rule_id, f.template_path, f.logical_id, f.detail) for f in present}
    for world, conditions in zip(worlds, undecided, strict=True):
        truth_worlds = condition_truths(conditions) if conditions and count <= cap else iter([{}])
        for truths in truth_worlds:
            if truths and not worlds_of.agree(world, truths):
                continue
            words = _said(world, truths, labels) or "the resources under unknown conditions left out"
            for finding in worlds_of.read(world, truths, check):
                key = (finding.rule_id, finding.template_path, finding.logical_id, finding.detail)
                if key not in seen:
                    seen.add(key)
                    detail = f"{finding.detail}; at deploy with {words}, not known at synth"
                    found.append(dataclasses.replace(finding, detail=detail))
    return found


def _choices(
    raw: Mapping[str, Json],
    parameters: Mapping[str, str],
    templates: Templates,
    resolved: Mapping[str, Resolved],
    stand_ins: dict[Key, frozenset[str]],
    passes: Mapping[Key, tuple[Key, set[str] | None]],
) -> dict[Key, list[str]]:
    """The values worth trying for each (template, parameter) the unknown conditions of a top-level template
    read, or the conditions of a nested stack it is passed to as ``Ref`` compare, and (into ``stand_ins``)
    which of them are stand-ins. A nested template's parameters get none: they are what the parent passes."""
    extra: dict[Key, set[str]] = {}
    for source, literals in passes.values():
        extra.setdefault(source, set()).update(literals or ())
    choices: dict[Key, list[str]] = {}
    for path, template in raw.items():
        if not isinstance(template, Mapping) or path not in resolved or _passed_names(templates, path) is not None:
            continue
        used = resolved[path].maybe_absent.values()
        found: dict[str, frozenset[str]] = {}
        more = {name: literals for (source, name), literals in extra.items() if source == path}
        for name, values in unknown_parameters(template, parameters, used, found, more).items():
            choices[(path, name)] = values
        stand_ins.update(((path, name), values) for name, values in found.items())
    return choices


def _passes_by_ref(raw: Mapping[str, Json], templates: Templates) -> dict[Key, tuple[Key, set[str] | None]]:
    """Per (nested template, parameter) a top-level template passes as ``Ref P``: (its (template, P), the
    literals the nested conditions compare it with where they only compare it and it is passed no further,
    else None). One level only: a value passed on is unknown where it rests on a stand-in."""
    found: dict[Key, tuple[Key, set[str] | None]] = {}
    links = list(templates.nested_in.items())
    links += [(child, link) for child, shared in templates.shared_in.items() for link in shared]
    read: dict[str, tuple[dict[str, set[str] | None], set[str]]] = {}  # each child's conditions walked once
    for child, (parent, logical_id) in links:
        child_template = raw.get(child)
        if _passed_names(templates, parent) is not None or not isinstance(child_template, Mapping):
            continue  # the parent is nested itself: its parameters take no values
        if child not in read:
            read[child] = (direct_literals(child_template), _passed_on(child_template))
        compared, onward = read[child]
        stack = templates.resource(parent, logical_id)
        passed = as_map(stack.properties.get("Parameters") if stack is not None else None)
        for name, value in passed.items():
            source = value.get("Ref") if isinstance(value, Mapping) and len(value) == 1 else None
            if not isinstance(source, str):
                continue
            literals = compared.get(str(name), set()) if name not in onward else None
            earlier = found.get((child, str(name)))
            if earlier is not None and earlier[0] != (parent, source):
                literals = None  # twin parents passing different parameters
            found[(child, str(name))] = ((parent, source), literals)
    return found


def _passed_on(template: Mapping[str, Json]) -> set[str]:
    """The names a template's stack resources read in what they pass on."""
    resources = as_map(template.get("Resources"))
    return {
        name
        for body in resources.values()
        if as_map(body).get("Type") == "AWS::CloudFormation::Stack"
        for name in names_read(as_map(as_map(body).get("Properties")).get("Parameters"))
    }


def _passed_names(templates: Templates, path: str) -> frozenset[str] | None:
    """The parameters of nested template ``path`` that any stack resource deploying it passes; None for a
    top-level template."""
    parents = [link] if (link := templates.nested_in.get(path)) else templates.shared_in.get(path, [])
    if not parents:
        return None
    names: set[str] = set()
    for parent, logical_id in parents:
        stack = templates.resource(parent, logical_id)
        names.update(str(n) for n in as_map(stack.properties.get("Parameters") if stack is not None else None))
    return frozenset(names)


def _unread(template: Json, logical_id: str) -> bool:
    resources = template.get("Resources") if isinstance(template, Mapping) else None
    body = resources.get(logical_id) if isinstance(resources, Mapping) else None
    kind = body.get("Type") if isinstance(body, Mapping) else None
    return isinstance(kind, str) and kind in UNREAD_TYPES  # a list or map Type is refused, not hashed (R24T-L5)


def _labels(choices: Mapping[Key, list[str]]) -> dict[Key, str]:
    """How a world names each parameter: ``Env``, or ``Stack:Env`` when two templates declare it."""
    names = [name for _, name in choices]
    return {(path, name): name if names.count(name) == 1 else f"{_stack_label(path)}:{name}" for path, name in choices}


def _stack_label(path: str) -> str:
    name = Path(path).name
    return name.removesuffix(".template.json")


def _said(world: Mapping[Key, str], truths: Mapping[str, Mapping[str, bool]], labels: Mapping[Key, str]) -> str:
    """The world in words: ``Env=prod, EnableEfa=(another value), condition HpOn true``."""
    words = [f"{labels[key]}={v if v != OTHER_VALUE else '(another value)'}" for key, v in world.items()]
    words += [f"condition {name} {str(value).lower()}" for given in truths.values() for name, value in given.items()]
    return ", ".join(words)


def world_cap(raw: Mapping[str, Json]) -> int:
    """How many worlds the rules read for templates this large: every world is a whole check, so the worlds
    of large templates are fewer (review round 25, R25T-M1: 16 worlds of a 6.5 MB template took 128 s)."""
    size = sum(len(json.dumps(template, separators=(",", ":"))) for template in raw.values())
    return max(1, min(MAX_WORLDS, MAX_WORLD_TEXT // max(size, 1)))


def _too_many(path: str, where: str, what: str, cap: int) -> Finding:
    size = "" if cap == MAX_WORLDS else f" for templates of this size ({MAX_WORLD_TEXT // 2**20} MiB of worlds)"
    return Finding(
        "HyperPod-CFN1",
        path,
        where,
        f"{what} decide which resources exist: more than the {cap} worlds the rules read at synth{size}; "
        "give the parameters defaults, or lint each deploy's values (hyperpod-cdk lint cdk.out --parameter) and "
        "acknowledge HyperPodChecks::HyperPod-CFN1",
        ("Conditions",),
    )


def _without(template: Mapping[str, Json], gone: Mapping[str, str]) -> dict[str, Json]:
    resources = template.get("Resources")
    kept = {k: v for k, v in resources.items() if k not in gone} if isinstance(resources, Mapping) else {}
    return {**template, "Resources": kept}
