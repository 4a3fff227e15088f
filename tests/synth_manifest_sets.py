"""Read the manifest sets of HyperPodManifests back from a synthesized template and its cdk.out.

Each set is a JSON S3 asset; the handler's MANIFEST_CONTEXT (an Fn::Join) names its asset key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HANDLER_PREFIX = "MANIFEST_CONTEXT"


def _context(template: dict[str, Any], function_prefix: str = "") -> dict[str, Any]:
    found = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Function" or not logical_id.startswith(function_prefix):
            continue
        value = resource["Properties"].get("Environment", {}).get("Variables", {}).get(HANDLER_PREFIX)
        if value is None:
            continue
        parts = value["Fn::Join"][1] if isinstance(value, dict) else [value]
        # Deploy-time values become a marker; the structure and literals stay.
        found.append(json.loads("".join(p if isinstance(p, str) else "TOKEN" for p in parts)))
    assert len(found) == 1, f"expected one manifest handler under {function_prefix!r}, found {len(found)}"
    return found[0]


def manifest_sets(template: dict[str, Any], outdir: str | Path, function_prefix: str = "") -> dict[str, Any]:
    """{set name: the set as synthesized (Kind, Objects / ObjectNames, ...)}."""
    context = _context(template, function_prefix)
    sets = {}
    for name, location in context["Sets"].items():
        path = Path(outdir) / f"asset.{location['Key']}"
        sets[name] = json.loads(path.read_text())
    return sets


def manifest_objects(template: dict[str, Any], outdir: str | Path, name: str, function_prefix: str = "") -> list:
    return manifest_sets(template, outdir, function_prefix)[name]["Objects"]


def manifest_resource(template: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    """(logical id, resource) of the Custom::HyperPodManifests resource of set ``name``."""
    (found,) = (
        (k, v)
        for k, v in template["Resources"].items()
        if v["Type"] == "Custom::HyperPodManifests" and v["Properties"]["Set"] == name
    )
    return found


def resolved_objects(template: dict[str, Any], outdir: str | Path, name: str) -> list:
    """The objects of set ``name`` with each placeholder replaced by its CloudFormation value (a Ref, a GetAtt)."""
    _, resource = manifest_resource(template, name)
    params = resource["Properties"]["Params"]

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, str) and node.startswith("{{hyperpod-cdk:") and node.endswith("}}"):
            return params[node[len("{{hyperpod-cdk:") : -2]]
        return node

    return walk(manifest_objects(template, outdir, name))
