"""A manifest set as HyperPodManifests writes it at synth and its handler reads it at deploy: the
set's digest, and the placeholders that stand for deploy-time values.

Standard library only. The construct imports it from the package and the synth copies it into the
manifest handler's asset (``hyperpod_cdk._handler_functions``): one definition, so the digest the
construct puts in the custom resource's properties is the one the handler computes and checks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

_START, _END = "{{hyperpod-cdk:", "}}"


def placeholder(index: int) -> str:
    """The string that stands for deploy-time value ``index`` in a set (a whole string, never part of one)."""
    return f"{_START}{index}{_END}"


def placeholder_key(value: Any) -> str | None:
    """The index (as a string) if ``value`` is a placeholder, else None."""
    if isinstance(value, str) and value.startswith(_START) and value.endswith(_END):
        return value[len(_START) : -len(_END)]
    return None


def set_digest(entry: Mapping[str, Any]) -> str:
    """sha256 of a set as synthesized (placeholders, not their values), key order independent."""
    return hashlib.sha256(json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def placeholders_in(value: Any) -> list[int]:
    """The indexes of the placeholders anywhere in ``value``, sorted."""
    found: set[int] = set()

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)
        else:
            key = placeholder_key(node)
            if key is not None:
                found.add(int(key))

    walk(value)
    return sorted(found)


def set_label_value(manifests_path: str, name: str) -> str:
    """The prune label's value of set ``name`` of the HyperPodManifests at construct path ``manifests_path``:
    unique per construct path (a label value is at most 63 characters). ``preflight`` computes it for the app's
    stack (``<stack>/Default/Manifests``) without importing aws-cdk-lib."""
    return hashlib.sha256(f"{manifests_path}/{name}".encode()).hexdigest()[:32]
