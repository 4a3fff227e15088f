"""Which property changes replace, disrupt or block the resources this project creates.

Two sources, merged per resource type:

* **The CloudFormation registry schemas bundled with cfn-lint** (``createOnlyProperties``).
  A change to any of these paths makes CloudFormation create a new physical resource and
  delete the old one. Reading them at run time keeps the guard in step with the schemas
  cfn-lint (and so the rest of the quality gates) already uses.
* **A hand-written table** (:data:`HAND_TABLE`, kept in :mod:`hyperpod_cdk.guard.hand_table`)
  for what a schema cannot say: paths that update in place but still take nodes or data away
  (``disruptive``), updates CloudFormation refuses (``blocked``: the KMS key spec, an EKS
  authentication-mode downgrade), and the project-specific reason and documentation link for
  the create-only paths that matter most.
  ``tests/test_guard.py`` checks every hand-written entry against the bundled schema, so a
  schema change that moves a path in or out of ``createOnlyProperties`` fails the suite.

Paths use dots for nested objects and ``[*]`` for list items (``InstanceGroups[*].InstanceType``).
Items of the lists in :data:`KEYED_LISTS` are matched across templates by a name field, not
by position.
"""

from __future__ import annotations

import importlib.util
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from hyperpod_cdk.guard.hand_table import CFN_DOCS
from hyperpod_cdk.guard.hand_table import HAND_TABLE as HAND_TABLE  # re-exported: the public import path
from hyperpod_cdk.guard.hand_table import Effect as Effect
from hyperpod_cdk.guard.hand_table import GuardedProperty as GuardedProperty
from hyperpod_cdk.guard.hand_table import Kind as Kind

DEFAULT_SCHEMA_REGION = "us-east-1"
LOGICAL_ID_DOC = "https://docs.aws.amazon.com/cdk/v2/guide/identifiers.html#identifiers-logical-ids"


# Lists whose items are matched by a name across old and new templates. Removing an item
# (or renaming it: a removal plus an addition) is reported through the ``list_key`` entry.
KEYED_LISTS: dict[tuple[str, str], str] = {
    ("AWS::SageMaker::Cluster", "InstanceGroups"): "InstanceGroupName",
    ("AWS::SageMaker::Cluster", "RestrictedInstanceGroups"): "InstanceGroupName",
}

# Round 7g, L3: types that hold data this project (or a user's stack beside it) keeps: training images
# (ECR), the Slurm accounting database (RDS), credentials (Secrets Manager), files, tables. Stateful and
# guarded, like the types listed with them below.
DATA_TYPES: tuple[str, ...] = (
    "AWS::RDS::DBInstance",
    "AWS::RDS::DBCluster",
    "AWS::ECR::Repository",
    "AWS::EFS::FileSystem",
    "AWS::DynamoDB::Table",
    "AWS::SecretsManager::Secret",
)

# Types whose data or identity cannot be recreated: a logical ID that disappears is reported
# even when nothing references it (CloudFormation deletes the old resource, or orphans it
# with DeletionPolicy Retain, and creates an empty new one).
NESTED_STACK = "AWS::CloudFormation::Stack"
STATEFUL_TYPES: tuple[str, ...] = (
    "AWS::SageMaker::Cluster",
    "AWS::EKS::Cluster",
    "AWS::FSx::FileSystem",
    "AWS::S3::Bucket",
    "AWS::KMS::Key",
    "AWS::Logs::LogGroup",
    "AWS::APS::Workspace",
    "AWS::Grafana::Workspace",
    # A nested stack whose logical ID leaves the template is deleted with every resource in it (R30T-L5).
    NESTED_STACK,
    *DATA_TYPES,
)

# The resource types this project creates and the guard reports on. Replacements of other
# types (route-table associations, Lambda layers ...) are still tracked, because a replaced
# resource changes the IDs that guarded properties reference, but are only summarised.
GUARDED_TYPES: tuple[str, ...] = (
    "AWS::SageMaker::Cluster",
    "AWS::EKS::Cluster",
    "AWS::FSx::FileSystem",
    "AWS::EC2::VPC",
    "AWS::EC2::VPCCidrBlock",
    "AWS::EC2::Subnet",
    "AWS::EC2::SecurityGroup",
    "AWS::KMS::Key",
    "AWS::S3::Bucket",
    "AWS::Logs::LogGroup",
    "AWS::IAM::Role",
    "AWS::EKS::Addon",
    "AWS::EKS::PodIdentityAssociation",
    "AWS::EKS::AccessEntry",
    "AWS::SageMaker::ComputeQuota",
    "AWS::APS::Workspace",
    "AWS::Grafana::Workspace",
    *DATA_TYPES,
)

# Properties that give a resource a fixed physical name. A resource with a fixed name cannot be
# replaced in place: CloudFormation creates the new resource before deleting the old one.
NAME_PROPERTIES: dict[str, str] = {
    "AWS::SageMaker::Cluster": "ClusterName",
    "AWS::EKS::Cluster": "Name",
    "AWS::S3::Bucket": "BucketName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::IAM::Role": "RoleName",
    "AWS::EC2::SecurityGroup": "GroupName",
    "AWS::RDS::DBInstance": "DBInstanceIdentifier",
    "AWS::RDS::DBCluster": "DBClusterIdentifier",
    "AWS::ECR::Repository": "RepositoryName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SecretsManager::Secret": "Name",
}

_GENERIC_CREATE_ONLY = (
    "create-only in the CloudFormation registry schema: a change creates a new resource and deletes the old one"
)

# --- schema access --------------------------------------------------------------------------


def pointer_to_path(pointer: str) -> str:
    """``/properties/InstanceGroups/*/InstanceType`` -> ``InstanceGroups[*].InstanceType``."""
    parts = [p for p in pointer.split("/") if p][1:] if pointer.startswith("/properties/") else []
    out: list[str] = []
    for part in parts:
        if part == "*" and out:
            out[-1] += "[*]"
        else:
            out.append(part)
    return ".".join(out)


def _schema_dir() -> Path | None:
    spec = importlib.util.find_spec("cfnlint")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "schemas"
    return path if (path / "providers").is_dir() else None


def schemas_available() -> bool:
    """True when cfn-lint (and its bundled registry schemas) is installed."""
    return _schema_dir() is not None


@lru_cache(maxsize=8)
def _provider_index(region: str) -> tuple[str, dict[str, str]]:
    base = _schema_dir()
    if base is None:
        return region, {}
    for name in (region, DEFAULT_SCHEMA_REGION):
        file = base / "providers" / f"{name}.json"
        if file.is_file():
            return name, json.loads(file.read_text(encoding="utf-8"))
    return region, {}


@lru_cache(maxsize=256)
def _schema(resource_type: str, region: str) -> dict[str, Any] | None:
    _, index = _provider_index(region)
    digest = index.get(resource_type)
    base = _schema_dir()
    if not digest or base is None:
        return None
    file = base / "resources" / f"{digest}.json"
    if not file.is_file():
        return None
    data: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
    return data


def schema_region(region: str | None) -> str:
    """The region whose schemas are used: ``region`` when cfn-lint has it, else us-east-1."""
    return _provider_index(region or DEFAULT_SCHEMA_REGION)[0]


def schema_create_only(resource_type: str, region: str | None = None) -> list[str]:
    """The createOnlyProperties of ``resource_type`` as guard paths ([] when unknown)."""
    schema = _schema(resource_type, schema_region(region))
    if not schema:
        return []
    return [p for p in (pointer_to_path(ptr) for ptr in schema.get("createOnlyProperties", [])) if p]


# Deeper than any property of the bundled schemas; a recursive definition stops here.
_MAX_SCHEMA_DEPTH = 40


def _unordered(
    schema: dict[str, Any], node: Any, path: str, seen: frozenset[str], out: set[str], depth: int = 0
) -> None:
    """Add to ``out`` the paths under ``node`` whose array is ``insertionOrder: false``; ``seen`` holds the
    definitions being expanded on this branch, so a recursive definition is not followed into itself."""
    if not isinstance(node, dict) or depth > _MAX_SCHEMA_DEPTH:
        return
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/definitions/"):
        name = ref.rsplit("/", 1)[-1]
        if name not in seen:
            _unordered(schema, schema.get("definitions", {}).get(name), path, seen | {name}, out, depth + 1)
        return
    if node.get("type") == "array" or "items" in node:
        # The registry schema's default is insertionOrder true: order is part of the value.
        if node.get("insertionOrder") is False:
            out.add(path)
        _unordered(schema, node.get("items"), f"{path}[*]", seen, out, depth + 1)
    properties = node.get("properties")
    for name, child in properties.items() if isinstance(properties, dict) else ():
        _unordered(schema, child, f"{path}.{name}" if path else name, seen, out, depth + 1)


@lru_cache(maxsize=256)
def unordered_paths(resource_type: str, region: str | None = None) -> frozenset[str]:
    """Property paths (guard form) whose lists the registry schema marks ``insertionOrder: false``: the
    only lists the guard compares as sets (round 7g, L5). Without cfn-lint, none: a reordered list
    is then reported, which errs on the side of a finding."""
    schema = _schema(resource_type, schema_region(region))
    out: set[str] = set()
    if schema:
        _unordered(schema, {"properties": schema.get("properties")}, "", frozenset(), out)
    return frozenset(out)


def _doc_url(resource_type: str, path: str, schema: dict[str, Any]) -> str:
    parts = resource_type.lower().split("::")
    if len(parts) != 3:
        return CFN_DOCS
    service, resource = parts[1], parts[2]
    page = f"{CFN_DOCS}aws-resource-{service}-{resource}.html"
    names = path.replace("[*]", "").split(".")
    if len(names) == 1:
        return f"{page}#cfn-{service}-{resource}-{names[0].lower()}"
    # Nested: the property-type page is named after the schema definition that holds the leaf.
    node: Any = schema.get("properties", {}).get(names[0], {})
    definition = None
    for name in names[1:]:
        node = node.get("items", node) if isinstance(node, dict) else {}
        ref = node.get("$ref", "") if isinstance(node, dict) else ""
        if ref.startswith("#/definitions/"):
            definition = ref.rsplit("/", 1)[-1]
            node = schema.get("definitions", {}).get(definition, {})
        node = node.get("properties", {}).get(name, {}) if isinstance(node, dict) else {}
    if not definition:
        return f"{page}#cfn-{service}-{resource}-{names[0].lower()}"
    prefix = f"{service}-{resource}-{definition.lower()}"
    return f"{CFN_DOCS}aws-properties-{prefix}.html#cfn-{prefix}-{names[-1].lower()}"


def hand_entries(resource_type: str) -> list[GuardedProperty]:
    return [entry for entry in HAND_TABLE if entry.resource_type == resource_type]


def guarded_properties(resource_type: str, region: str | None = None) -> list[GuardedProperty]:
    """Hand-written entries for ``resource_type`` plus every other create-only path of its schema."""
    entries = hand_entries(resource_type)
    known = {entry.path for entry in entries}
    schema = _schema(resource_type, schema_region(region)) or {}
    for path in schema_create_only(resource_type, region):
        if path not in known:
            entries.append(
                GuardedProperty(
                    resource_type,
                    path,
                    "replacement",
                    f"{path} is {_GENERIC_CREATE_ONLY}.",
                    _doc_url(resource_type, path, schema),
                    source="schema",
                )
            )
            known.add(path)
    return entries


def full_table(region: str | None = None, types: tuple[str, ...] = GUARDED_TYPES) -> list[GuardedProperty]:
    """The guarded-property table for the project's resource types (for docs and ``--list``)."""
    return [entry for resource_type in types for entry in guarded_properties(resource_type, region)]
