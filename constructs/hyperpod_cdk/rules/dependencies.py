"""Which resources of a template depend on which, directly or through others (DependsOn, Ref, GetAtt, Sub)."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

from hyperpod_cdk.rules.model import Json, Templates, as_list, as_map


def _direct_dependencies(body: Mapping[str, Json]) -> set[str]:
    depends = body.get("DependsOn")
    direct = set(as_list(depends) if isinstance(depends, list) else [depends] if isinstance(depends, str) else [])
    return {name for name in direct | references(body.get("Properties")) if isinstance(name, str)}


def depending_on(templates: Templates, template_path: str, targets: set[str]) -> set[str]:
    """Logical ids that depend on any of ``targets``, directly or through others (DependsOn, Ref, GetAtt).

    One walk of the reversed graph per template: walking each cluster's dependencies was clusters x
    resources (3,000 clusters on a 3,000-long DependsOn chain).
    """
    resources = as_map(templates.templates.get(template_path, {}).get("Resources"))
    dependents: dict[str, list[str]] = {}
    for logical_id, body in resources.items():
        for name in _direct_dependencies(as_map(body)):
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
    return frozenset(m.split(".", 1)[0] for m in re.findall(r"\$\{([^}!]+)\}", text))


def references(value: Json) -> set[str]:
    found: set[str] = set()
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add(item)
            elif key == "Fn::GetAtt":
                target = item[0] if isinstance(item, list) and item else str(item).split(".", 1)[0]
                found.add(str(target))
            elif key == "Fn::Sub":
                text = item[0] if isinstance(item, list) and item else item
                if isinstance(text, str):
                    found |= _sub_names(text)
                found |= references(item)
            else:
                found |= references(item)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found
