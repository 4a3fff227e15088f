"""One helper for the charts' raw Kubernetes objects (no generated cdk8s imports needed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cdk8s
from constructs import Construct


def api_object(
    scope: Construct,
    id: str,
    api_version: str,
    kind: str,
    metadata: Mapping[str, Any],
    top_level: Mapping[str, Any] | None = None,
) -> cdk8s.ApiObject:
    """A ``cdk8s.ApiObject`` with ``top_level`` keys (``spec``, ``rules``, ...) patched in, in order.

    ``ApiObjectProps`` carry only apiVersion, kind and metadata; everything else goes in as a JSON
    patch.
    """
    obj = cdk8s.ApiObject(scope, id, api_version=api_version, kind=kind, metadata=dict(metadata))
    for key, value in (top_level or {}).items():
        obj.add_json_patch(cdk8s.JsonPatch.add(f"/{key}", value))
    return obj
