"""The release the Helm handler may install, fixed at synth: parsed from its environment, validated,
and compared with what a request asks for."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from dataclasses import fields as dataclass_fields
from pathlib import Path, PurePosixPath
from typing import Any

import cfn_response
from cfn_response import CFN_PROPERTIES

# specs/hyperpod_chart.py and specs/kubernetes_names.py of the library, copied into the asset at synth.
from hyperpod_chart import ArchivePin
from kubernetes_names import DNS_LABEL

SPEC_ENV = "HELM_RELEASE_SPEC"
# Physical id of a Create that failed before helm touched the cluster: its rollback Delete is a no-op.
NOT_INSTALLED = "hyperpod-helm-dependencies:not-installed"
GITHUB_TOP = "sagemaker-hyperpod-cli-{revision}"
BUNDLE_TOP = "hyperpod-chart-bundle-{revision}"
OWNER_LABEL = "hyperpod-cdk-owner"
# The CloudFormation stack whose installer this is (AWS::StackName at deploy): part of the owner label, so a
# second hyperpod-cdk stack on the same EKS cluster does not take the first one's release for its own
# (review round 24, R24P-M1). Outside HELM_RELEASE_SPEC: the custom resource's properties do not carry it.
OWNER_STACK_ENV = "HELM_OWNER_STACK"
_STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")

_REVISION = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_VALUE_KEY = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
_CHART_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
_CHART_VERSION = re.compile(r"^v?[0-9][A-Za-z0-9.+-]*$")
_S3_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.+)$")


def owner_label(cluster_name: str, chart_path: str, stack: str | None) -> str:
    """The ``hyperpod-cdk-owner`` label value of the release one stack installs on one cluster (a label value
    is at most 63 characters: 40 hex)."""
    owner = f"{cluster_name}/{chart_path}" + (f"/{stack}" if stack else "")
    return hashlib.sha256(owner.encode()).hexdigest()[:40]


class HandlerError(Exception):
    """A failure to report to CloudFormation; ``touched_cluster``: helm may have changed the cluster."""

    def __init__(self, message: str, *, touched_cluster: bool = False) -> None:
        super().__init__(message)
        self.touched_cluster = touched_cluster


# --------------------------------------------------------------------------- the release, fixed at synth


@dataclass(frozen=True)
class _TextField:
    """How one string field of the spec is read: its key and what it must look like."""

    key: str
    pattern: re.Pattern[str] | None = None
    what: str = ""  # "<value> is not <what>" when the pattern does not match
    longest: int | None = None
    required: bool = True
    mismatch: str = ""  # a whole message instead of "is not <what>" ({key}, {value})
    check: Callable[[str], None] | None = None  # a further check of the value

    def read(self, data: Mapping[str, Any]) -> str | None:
        value = data.get(self.key)
        if not self.required:
            if not value:
                return None
            value = str(value)
        elif not isinstance(value, str) or not value:
            raise HandlerError(f"{SPEC_ENV}.{self.key} is required")
        if self.pattern is not None and not self.pattern.fullmatch(value):
            if self.mismatch:
                raise HandlerError(f"{SPEC_ENV}." + self.mismatch.format(key=self.key, value=value))
            raise HandlerError(f"{SPEC_ENV}.{self.key} {value!r} is not {self.what}")
        if self.longest is not None and len(value) > self.longest:
            raise HandlerError(f"{SPEC_ENV}.{self.key} is longer than {self.longest} characters")
        if self.check is not None:
            self.check(value)
        return value


def _text(key: str, *args: Any, **rule: Any) -> Any:
    """A string field of :class:`ReleaseSpec` read from ``key`` (see :class:`_TextField`); an optional
    one (``required=False``) defaults to None."""
    read = _TextField(key, *args, **rule)
    if read.required:
        return field(metadata={"text": read})
    return field(default=None, metadata={"text": read})


def _check_chart_path(chart_path: str) -> None:
    parts = PurePosixPath(chart_path).parts
    if PurePosixPath(chart_path).is_absolute() or ".." in parts or not parts:
        raise HandlerError(f"{SPEC_ENV}.ChartPath must be a relative path inside the repository")


_HEX64 = "{key} must be 64 lowercase hex characters"


@dataclass(frozen=True)
class ReleaseSpec:
    """The release this function may install: read from its environment, validated."""

    # The string fields, in the order they are checked.
    revision: str = _text("Revision", _REVISION, "a full 40-character commit SHA")
    chart_path: str = _text("ChartPath", check=_check_chart_path)
    # Release names and namespaces are both DNS-1123 labels.
    release: str = _text("Release", DNS_LABEL, "a valid Helm release name", longest=53)
    namespace: str = _text("Namespace", DNS_LABEL, "a valid Kubernetes namespace", longest=63)
    cluster_name: str = _text("ClusterName")
    chart_sha256: str = _text("ChartSha256", _SHA256, "64 lowercase hex characters")
    source_url_template: str | None = _text("SourceUrlTemplate", required=False)
    source_s3_uri: str | None = _text(
        "SourceS3Uri", _S3_URI, required=False, mismatch="{key} {value!r} is not s3://bucket/key"
    )
    source_sha256: str | None = _text("SourceSha256", _SHA256, required=False, mismatch=_HEX64)
    # Read by their own functions below.
    values: dict[str, str | bool | int] = field(default_factory=dict)
    archives: tuple[ArchivePin, ...] = ()
    timeout_seconds: int = 600
    wait: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    owner_stack: str | None = None

    @property
    def physical_id(self) -> str:
        return f"{self.namespace}/{self.release}"

    @property
    def owner(self) -> str:
        """Release label value: the release of this chart on this cluster that this stack's installer put there."""
        return owner_label(self.cluster_name, self.chart_path, self.owner_stack)

    @property
    def from_bundle(self) -> bool:
        return self.source_s3_uri is not None

    @property
    def top_directory(self) -> str:
        return (BUNDLE_TOP if self.from_bundle else GITHUB_TOP).format(revision=self.revision)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> ReleaseSpec:
        text = environ.get(SPEC_ENV)
        if not text:
            raise HandlerError(f"the function has no {SPEC_ENV} environment variable; redeploy the stack")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise HandlerError(f"{SPEC_ENV} is not JSON: {exc}") from None
        spec = cls.from_mapping(data)
        stack = environ.get(OWNER_STACK_ENV)
        if stack is None:
            return spec
        if not _STACK_NAME.fullmatch(stack):
            raise HandlerError(f"{OWNER_STACK_ENV} {stack[:140]!r} is not a CloudFormation stack name")
        return replace(spec, owner_stack=stack)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ReleaseSpec:
        """Validate ``data`` field by field (each string field's rule is its metadata); the first problem is
        the error."""
        if not isinstance(data, Mapping):
            raise HandlerError(f"{SPEC_ENV} must be a JSON object")
        fields: dict[str, Any] = {f.name: f.metadata["text"].read(data) for f in dataclass_fields(cls) if f.metadata}
        if (fields["source_url_template"] is None) == (fields["source_s3_uri"] is None):
            raise HandlerError(f"{SPEC_ENV} needs exactly one of SourceUrlTemplate and SourceS3Uri")
        if fields["source_url_template"] is not None:
            source_url(fields["source_url_template"], fields["revision"])  # validates
        return cls(
            **fields,
            values=_read_values(data.get("Values")),
            archives=tuple(_read_archive(entry) for entry in data.get("Archives") or []),
            timeout_seconds=_read_timeout(data.get("TimeoutSeconds", 600)),
            wait=data.get("Wait") in (True, "true"),
            raw=data,
        )


def _read_values(values: Any) -> dict[str, str | bool | int]:
    if not isinstance(values, Mapping):
        raise HandlerError(f"{SPEC_ENV}.Values must be a map of chart value paths to values")
    for key, value in values.items():
        if not _VALUE_KEY.fullmatch(str(key)):
            raise HandlerError(f"{SPEC_ENV}.Values key {key!r} is not a dotted chart value path")
        if not isinstance(value, str | bool | int):
            raise HandlerError(f"{SPEC_ENV}.Values.{key} must be a string, boolean or integer")
    nested_values(dict(values))  # refuses a key inside another key's scalar
    return dict(values)


def _read_archive(entry: Mapping[str, Any]) -> ArchivePin:
    name, version = str(entry.get("Name", "")), str(entry.get("Version", ""))
    digest = str(entry.get("Sha256") or "") or None
    if not _CHART_NAME.fullmatch(name) or not _CHART_VERSION.fullmatch(version):
        raise HandlerError(f"{SPEC_ENV}.Archives has an invalid chart name or version: {name} {version}")
    if digest is not None and not _SHA256.fullmatch(digest):
        raise HandlerError(f"{SPEC_ENV}.Archives {name}: Sha256 must be 64 lowercase hex characters")
    condition = str(entry.get("Condition") or "")
    if digest is None and not _VALUE_KEY.fullmatch(condition):
        raise HandlerError(f"{SPEC_ENV}.Archives {name}: an archive without Sha256 needs its Condition")
    return ArchivePin(name, version, digest, condition)


def _read_timeout(raw: Any) -> int:
    try:
        timeout = int(raw)
    except (TypeError, ValueError):
        raise HandlerError(f"{SPEC_ENV}.TimeoutSeconds must be a whole number") from None
    if not 60 <= timeout <= 840:
        raise HandlerError(f"{SPEC_ENV}.TimeoutSeconds must be 60-840, got {timeout}")
    return timeout


def canonical(value: Any) -> Any:
    """A value as CloudFormation hands it to the function: every scalar a string, None as "" (an
    optional value the release leaves out compares equal to an empty one)."""
    return cfn_response.canonical(value, none="")


def differences(properties: Any, spec: ReleaseSpec) -> list[str]:
    """How a request's properties differ from the release fixed at synth (empty: they match)."""
    if not isinstance(properties, Mapping):
        return ["the request has no properties"]
    got = canonical({k: v for k, v in properties.items() if k not in CFN_PROPERTIES})
    want = canonical(dict(spec.raw))
    found: list[str] = []
    for key in sorted(set(got) | set(want)):
        if key == "Values" and isinstance(got.get(key), dict):
            extra = sorted(set(got[key]) - set(want[key]))
            if extra:
                found.append(f"value keys {extra} are not allowed (allowed: {sorted(want[key])})")
            changed = sorted(k for k in want[key] if got[key].get(k) != want[key][k])
            if changed:
                found.append(f"values {changed} differ")
        elif got.get(key) != want.get(key):
            found.append(f"{key} differs" if key in want else f"{key} is not a property of this release")
    return found


# --------------------------------------------------------------------------- values and helm commands


def nested_values(flat: Mapping[str, str | bool | int]) -> dict[str, Any]:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}``; refuses a key inside another key's single value."""
    tree: dict[str, Any] = {}
    for key in sorted(flat):
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise HandlerError(f"value {key!r} is inside another value that is set to a single value")
            node = child
        if parts[-1] in node:
            raise HandlerError(f"value {key!r} is also the parent of other values")
        node[parts[-1]] = flat[key]
    return tree


def write_values_file(path: Path, values: Mapping[str, str | bool | int]) -> Path:
    """Strings and booleans as a JSON values file (JSON is YAML): helm keeps their types exactly.

    ``--set`` would turn ``null`` into a deletion, ``{a,b}`` into a list, ``007`` and ``true`` into
    other types, and split on commas. Integers stay on ``--set`` (see :func:`upgrade_command`).
    """
    typed = {k: v for k, v in values.items() if isinstance(v, str | bool)}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(nested_values(typed), out, indent=1, sort_keys=True)
    return path


def source_url(template: str, revision: str) -> str:
    if "{revision}" not in template:
        raise HandlerError("the source URL template has no {revision} placeholder")
    url = template.replace("{revision}", revision)
    if not url.startswith(("https://", "http://")):
        raise HandlerError(f"refusing to download from {url!r}: only http(s) URLs are allowed")
    return url
