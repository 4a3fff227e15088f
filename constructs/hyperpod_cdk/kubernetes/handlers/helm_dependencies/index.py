"""Custom resource handler: install the SageMaker HyperPod Helm chart into an EKS cluster.

Runs in a Lambda function inside the VPC (the cluster endpoint may be private) with the kubectl
layer, which ships ``/opt/helm/helm``. Standard library + boto3/botocore only.

**What it installs is fixed at synth.** The whole release (cluster, release name, namespace,
chart source, revision, chart digest, sub-chart digests, values, timeout) is the JSON in the
function's environment variable ``HELM_RELEASE_SPEC``. The handler acts on that copy only. A
request whose ``ResourceProperties`` differ from it in any way (another release, namespace,
revision, value key or value) is refused, so being able to invoke the function is not the same
as being able to run arbitrary helm commands with its cluster-admin access entry. One exception
keeps stack rollbacks working: an Update whose ``OldResourceProperties`` equal the environment
(CloudFormation rolling the resource back before it rolls back the function's environment) is
answered SUCCESS; if this function's upgrade had completed, the release is rolled back to the
revision before it (``helm rollback``), so the cluster follows the stack back. A failed upgrade of
an existing release is rolled back at once (what ``--rollback-on-failure`` does, without the
``--wait`` that flag forces).

Create / Update:
  1. fetch the source: GitHub's archive of the pinned commit (``{revision}`` in a URL template)
     or a chart bundle from S3 (``make chart-bundle``), sha256-checked when a digest is given,
     under an overall deadline;
  2. stream the tarball through member, byte and time limits; require the top directory of the
     revision; extract only the chart folder, refusing links, special files, ``..`` and absolute
     paths;
  3. check the chart tree digest (every file of the chart folder at the revision);
  4. GitHub source only: ``helm dependency build`` (fetches the remote sub-charts);
  5. keep only sub-chart archives whose sha256 is pinned (local sub-charts load from their
     verified folders); a pinned dependency without a digest must be disabled and is replaced by
     an empty placeholder chart;
  6. write a kubeconfig from ``eks:DescribeCluster`` and an EKS bearer token;
  7. recover a release left ``pending-*`` by a killed helm (rollback, or uninstall for a first
     install);
  8. ``helm upgrade --install`` with a JSON values file (types kept) and ``--timeout`` no longer
     than the Lambda's remaining time minus 60 s; helm is stopped with SIGTERM (so it marks the
     release failed) and only then SIGKILL if it overruns.
Delete:
  ``helm uninstall``; a release or cluster that is already gone is success.

The response always goes to the CloudFormation ResponseURL; a failure carries the tail of helm's
output so the stack event says what went wrong.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tarfile
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

DEFAULT_HELM = "/opt/helm/helm"
SPEC_ENV = "HELM_RELEASE_SPEC"
# Physical id of a Create that failed before helm touched the cluster: its rollback Delete is a no-op.
NOT_INSTALLED = "hyperpod-helm-dependencies:not-installed"
GITHUB_TOP = "sagemaker-hyperpod-cli-{revision}"
BUNDLE_TOP = "hyperpod-chart-bundle-{revision}"
# Properties CloudFormation adds to every custom resource request; not part of the release.
CFN_PROPERTIES = frozenset({"ServiceToken", "ServiceTimeout"})
OWNER_LABEL = "hyperpod-cdk-owner"

MAX_DOWNLOAD_BYTES = 256 * 1024 * 1024
# The repository archive at v3.9.0 is 8.4 MiB and 680 members uncompressed; the caps leave room
# for growth while refusing a gzip bomb or a header flood before it costs memory or time.
MAX_EXTRACTED_BYTES = 128 * 1024 * 1024
MAX_MEMBERS = 20_000
READ_CHUNK = 64 * 1024
# One blocking socket read may last this long; the download loop checks the deadline between reads.
SOCKET_TIMEOUT_SECONDS = 10.0
# Fetch and extraction share this much of the invocation at most.
SOURCE_BUDGET_SECONDS = 180.0
# `helm dependency build` gets at most this (it downloads three small archives).
DEPENDENCY_BUILD_SECONDS = 180.0
# Kept back from the Lambda deadline for the response and clean-up.
SAFETY_SECONDS = 25
# helm's --timeout is at most the Lambda's remaining time minus this.
HELM_RESERVE_SECONDS = 60
MIN_HELM_SECONDS = 30
# A helm that outlives its --timeout by this much gets SIGTERM; SIGKILL follows after TERM_GRACE.
OVERRUN_SECONDS = 15.0
TERM_GRACE_SECONDS = 10.0
# A command is not started with less time than this left.
MIN_RUN_SECONDS = 5.0
REASON_TAIL_CHARS = 1500
TOKEN_EXPIRES_SECONDS = 60

_REVISION = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_RELEASE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_VALUE_KEY = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
_CHART_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
_CHART_VERSION = re.compile(r"^v?[0-9][A-Za-z0-9.+-]*$")
_S3_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.+)$")
_BUILT_ARCHIVE = re.compile(r"^charts/[^/]+\.tgz$")
# Helm 3 and 4: "Error: uninstall: Release not loaded: <name>: release: not found".
_NOT_FOUND = re.compile(r"release: not found", re.IGNORECASE)
_SECRET_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
PENDING_STATUSES = frozenset({"pending-install", "pending-upgrade", "pending-rollback"})


class HandlerError(Exception):
    """A failure to report to CloudFormation; ``touched_cluster``: helm may have changed the cluster."""

    def __init__(self, message: str, *, touched_cluster: bool = False) -> None:
        super().__init__(message)
        self.touched_cluster = touched_cluster


class CommandError(HandlerError):
    def __init__(self, argv: Sequence[str], returncode: int | None, output: str, *, touched_cluster: bool) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.output = output
        what = "timed out and was stopped" if returncode is None else f"exited {returncode}"
        super().__init__(
            f"`{' '.join(_display(argv))}` {what}: {_tail(output)}", touched_cluster=touched_cluster
        )


# --------------------------------------------------------------------------- the release, fixed at synth


@dataclass(frozen=True)
class ArchivePin:
    name: str
    version: str
    sha256: str | None
    condition: str

    @property
    def key(self) -> str:
        return f"{self.name}-{self.version}"


@dataclass(frozen=True)
class ReleaseSpec:
    """The release this function may install: read from its environment, validated."""

    cluster_name: str
    revision: str
    chart_path: str
    release: str
    namespace: str
    values: dict[str, str | bool | int]
    chart_sha256: str
    archives: tuple[ArchivePin, ...] = ()
    source_url_template: str | None = None
    source_s3_uri: str | None = None
    source_sha256: str | None = None
    timeout_seconds: int = 600
    wait: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def physical_id(self) -> str:
        return f"{self.namespace}/{self.release}"

    @property
    def owner(self) -> str:
        """Release label value: releases of this chart on this cluster that hyperpod-cdk installed."""
        return hashlib.sha256(f"{self.cluster_name}/{self.chart_path}".encode()).hexdigest()[:40]

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
        return cls.from_mapping(data)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ReleaseSpec:
        if not isinstance(data, Mapping):
            raise HandlerError(f"{SPEC_ENV} must be a JSON object")

        def text(key: str, pattern: re.Pattern[str] | None = None, what: str = "") -> str:
            value = data.get(key)
            if not isinstance(value, str) or not value:
                raise HandlerError(f"{SPEC_ENV}.{key} is required")
            if pattern is not None and not pattern.fullmatch(value):
                raise HandlerError(f"{SPEC_ENV}.{key} {value!r} is not {what}")
            return value

        revision = text("Revision", _REVISION, "a full 40-character commit SHA")
        chart_path = text("ChartPath")
        parts = PurePosixPath(chart_path).parts
        if PurePosixPath(chart_path).is_absolute() or ".." in parts or not parts:
            raise HandlerError(f"{SPEC_ENV}.ChartPath must be a relative path inside the repository")
        release = text("Release", _RELEASE, "a valid Helm release name")
        if len(release) > 53:
            raise HandlerError(f"{SPEC_ENV}.Release is longer than 53 characters")
        namespace = text("Namespace", _NAMESPACE, "a valid Kubernetes namespace")
        if len(namespace) > 63:
            raise HandlerError(f"{SPEC_ENV}.Namespace is longer than 63 characters")
        url_template = data.get("SourceUrlTemplate") or None
        s3_uri = data.get("SourceS3Uri") or None
        if (url_template is None) == (s3_uri is None):
            raise HandlerError(f"{SPEC_ENV} needs exactly one of SourceUrlTemplate and SourceS3Uri")
        if url_template is not None:
            source_url(str(url_template), revision)  # validates
        if s3_uri is not None and not _S3_URI.fullmatch(str(s3_uri)):
            raise HandlerError(f"{SPEC_ENV}.SourceS3Uri {s3_uri!r} is not s3://bucket/key")
        source_sha = data.get("SourceSha256") or None
        if source_sha is not None and not _SHA256.fullmatch(str(source_sha)):
            raise HandlerError(f"{SPEC_ENV}.SourceSha256 must be 64 lowercase hex characters")
        values = data.get("Values")
        if not isinstance(values, Mapping):
            raise HandlerError(f"{SPEC_ENV}.Values must be a map of chart value paths to values")
        for key, value in values.items():
            if not _VALUE_KEY.fullmatch(str(key)):
                raise HandlerError(f"{SPEC_ENV}.Values key {key!r} is not a dotted chart value path")
            if not isinstance(value, str | bool | int):
                raise HandlerError(f"{SPEC_ENV}.Values.{key} must be a string, boolean or integer")
        nested_values(dict(values))  # refuses a key inside another key's scalar
        archives = []
        for entry in data.get("Archives") or []:
            name, version = str(entry.get("Name", "")), str(entry.get("Version", ""))
            digest = str(entry.get("Sha256") or "") or None
            if not _CHART_NAME.fullmatch(name) or not _CHART_VERSION.fullmatch(version):
                raise HandlerError(f"{SPEC_ENV}.Archives has an invalid chart name or version: {name} {version}")
            if digest is not None and not _SHA256.fullmatch(digest):
                raise HandlerError(f"{SPEC_ENV}.Archives {name}: Sha256 must be 64 lowercase hex characters")
            condition = str(entry.get("Condition") or "")
            if digest is None and not _VALUE_KEY.fullmatch(condition):
                raise HandlerError(f"{SPEC_ENV}.Archives {name}: an archive without Sha256 needs its Condition")
            archives.append(ArchivePin(name, version, digest, condition))
        try:
            timeout = int(data.get("TimeoutSeconds", 600))
        except (TypeError, ValueError):
            raise HandlerError(f"{SPEC_ENV}.TimeoutSeconds must be a whole number") from None
        if not 60 <= timeout <= 840:
            raise HandlerError(f"{SPEC_ENV}.TimeoutSeconds must be 60-840, got {timeout}")
        return cls(
            cluster_name=text("ClusterName"),
            revision=revision,
            chart_path=chart_path,
            release=release,
            namespace=namespace,
            values=dict(values),
            chart_sha256=text("ChartSha256", _SHA256, "64 lowercase hex characters"),
            archives=tuple(archives),
            source_url_template=str(url_template) if url_template else None,
            source_s3_uri=str(s3_uri) if s3_uri else None,
            source_sha256=str(source_sha) if source_sha else None,
            timeout_seconds=timeout,
            wait=data.get("Wait") in (True, "true"),
            raw=data,
        )


def canonical(value: Any) -> Any:
    """A value as CloudFormation hands it to the function: every scalar a string."""
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


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


def dependency_build_command(helm: str, chart_dir: Path) -> list[str]:
    return [helm, "dependency", "build", str(chart_dir)]


def upgrade_command(
    helm: str, spec: ReleaseSpec, chart_dir: Path, kubeconfig: Path, values_files: Sequence[Path],
    timeout_seconds: int,
) -> list[str]:
    """``helm upgrade --install``; every flag is valid for Helm 3 and Helm 4.

    ``--reset-values`` makes the release exactly chart defaults + these values on every update.
    Integers use ``--set`` because helm reads numbers in values files as floats (1000000 would
    render as 1e+06) while ``--set`` makes a base-10 integer an int64. ``--wait`` is bare (Helm 4
    reads it as ``--wait=watcher``, Helm 3 as true).
    """
    argv = [
        helm, "upgrade", "--install", spec.release, str(chart_dir),
        "--namespace", spec.namespace, "--create-namespace",
        "--kubeconfig", str(kubeconfig),
        "--reset-values",
    ]
    for values_file in values_files:
        argv += ["--values", str(values_file)]
    for key in sorted(spec.values):
        value = spec.values[key]
        if isinstance(value, int) and not isinstance(value, bool):
            argv += ["--set", f"{key}={value}"]
    # A release label (stored with the release): lets a later rename uninstall this release safely.
    argv += ["--labels", f"{OWNER_LABEL}={spec.owner}"]
    if spec.wait:
        argv.append("--wait")
    argv += ["--timeout", f"{timeout_seconds}s"]
    return argv


def uninstall_command(helm: str, spec: ReleaseSpec, kubeconfig: Path, timeout_seconds: int) -> list[str]:
    return [
        helm, "uninstall", spec.release,
        "--namespace", spec.namespace,
        "--kubeconfig", str(kubeconfig),
        "--timeout", f"{timeout_seconds}s",
    ]


def status_command(helm: str, spec: ReleaseSpec, kubeconfig: Path) -> list[str]:
    return [helm, "status", spec.release, "--namespace", spec.namespace, "--kubeconfig", str(kubeconfig),
            "--output", "json"]


def owned_release_command(helm: str, spec: ReleaseSpec, kubeconfig: Path, namespace: str,
                          release: str) -> list[str]:
    return [helm, "list", "--namespace", namespace, "--kubeconfig", str(kubeconfig), "--all",
            "--selector", f"name={release},{OWNER_LABEL}={spec.owner}", "--output", "json"]


def history_command(helm: str, spec: ReleaseSpec, kubeconfig: Path) -> list[str]:
    return [helm, "history", spec.release, "--namespace", spec.namespace, "--kubeconfig", str(kubeconfig),
            "--max", "1", "--output", "json"]


def rollback_command(helm: str, spec: ReleaseSpec, kubeconfig: Path, timeout_seconds: int) -> list[str]:
    # No revision: the one before the current (stuck) revision.
    return [helm, "rollback", spec.release, "--namespace", spec.namespace, "--kubeconfig", str(kubeconfig),
            "--timeout", f"{timeout_seconds}s"]


def is_release_not_found(output: str) -> bool:
    """Whether helm's output says the release does not exist (the only failure Delete forgives)."""
    return bool(_NOT_FOUND.search(output))


# --------------------------------------------------------------------------- download


def source_url(template: str, revision: str) -> str:
    if "{revision}" not in template:
        raise HandlerError("the source URL template has no {revision} placeholder")
    url = template.replace("{revision}", revision)
    if not url.startswith(("https://", "http://")):
        raise HandlerError(f"refusing to download from {url!r}: only http(s) URLs are allowed")
    return url


def _copy_stream(read: Callable[[int], bytes], dest: Path, *, what: str, until: float,
                 clock: Callable[[], float]) -> str:
    """Copy chunks into ``dest`` until EOF; refuse oversize and stop at ``until``; return the sha256."""
    digest = hashlib.sha256()
    size = 0
    with dest.open("wb") as out:
        while True:
            if clock() > until:
                raise HandlerError(f"downloading {what} did not finish in time; refusing it")
            chunk = read(READ_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_DOWNLOAD_BYTES:
                raise HandlerError(f"{what} is larger than {MAX_DOWNLOAD_BYTES} bytes; refusing it")
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def download_url(url: str, dest: Path, *, until: float, clock: Callable[[], float] = time.monotonic) -> str:
    """Stream ``url`` into ``dest`` (redirects followed) under an overall deadline; return its sha256.

    ``read1`` returns whatever one socket read brings, so a server that trickles bytes cannot keep
    a single read (and the deadline check) waiting; a silent server hits the socket timeout.
    """
    request = urllib.request.Request(url, headers={"User-Agent": "hyperpod-cdk-helm-dependencies"})
    timeout = max(min(SOCKET_TIMEOUT_SECONDS, until - clock()), 0.5)
    try:
        with _open_before(request, timeout=timeout, until=until, clock=clock) as response:
            return _copy_stream(response.read1, dest, what=url, until=until, clock=clock)
    except urllib.error.HTTPError as exc:
        raise HandlerError(f"downloading {url} failed: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise HandlerError(f"downloading {url} failed: {getattr(exc, 'reason', exc)}") from None


def _open_before(request: urllib.request.Request, *, timeout: float, until: float,
                 clock: Callable[[], float]) -> Any:
    """``urlopen`` that gives up at ``until``: the socket timeout applies per read, so a server that
    sends its status line and headers a byte at a time would otherwise hold the request open far past
    the deadline. The connection is opened in a daemon thread and abandoned when the deadline passes."""
    outcome: dict[str, Any] = {}

    def open_it() -> None:
        try:
            outcome["response"] = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - http(s) only
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=open_it, name="download-open", daemon=True)
    worker.start()
    worker.join(max(until - clock(), 0))
    if worker.is_alive():
        raise HandlerError(f"downloading {request.full_url} failed: no response before the deadline")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["response"]


class S3Client(Protocol):
    def get_object(self, *, Bucket: str, Key: str) -> Mapping[str, Any]: ...  # noqa: N803


def download_s3(s3: S3Client, uri: str, dest: Path, *, until: float,
                clock: Callable[[], float] = time.monotonic) -> str:
    match = _S3_URI.fullmatch(uri)
    if match is None:
        raise HandlerError(f"{uri!r} is not s3://bucket/key")
    bucket, key = match.groups()
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    except Exception as exc:  # botocore ClientError, without importing botocore here
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        hint = " (build and upload it with `make chart-bundle`)" if code in ("NoSuchKey", "404") else ""
        raise HandlerError(f"reading {uri} failed: {exc}{hint}") from None
    try:
        return _copy_stream(body.read, dest, what=uri, until=until, clock=clock)
    except HandlerError:
        raise
    except Exception as exc:  # botocore read timeouts and connection errors
        raise HandlerError(f"reading {uri} failed: {exc}") from None
    finally:
        body.close()


# --------------------------------------------------------------------------- streamed, capped extraction


class _CappedReader:
    """A file-like view that stops after ``limit`` decompressed bytes or at ``until``."""

    def __init__(self, raw: Any, *, limit: int, until: float, clock: Callable[[], float]) -> None:
        self._raw = raw
        self._limit = limit
        self._until = until
        self._clock = clock
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        if self._clock() > self._until:
            raise HandlerError("extracting the archive did not finish in time; refusing it")
        if size is None or size < 0:
            size = self._limit - self.count + 1
        try:
            data = self._raw.read(size)
        except (OSError, EOFError, zlib.error) as exc:
            raise HandlerError(f"the archive is not a readable gzip stream: {exc}") from None
        self.count += len(data)
        if self.count > self._limit:
            raise HandlerError(f"the archive expands to more than {self._limit} bytes; refusing it")
        return data


def _member_path(name: str) -> PurePosixPath:
    if not name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise HandlerError(f"archive member {name!r} has an absolute path; refusing the archive")
    if any(ch in name for ch in ("\\", "\n", "\r", "\x00")):
        raise HandlerError(f"archive member {name!r} has a backslash or control character; refusing the archive")
    parts = [p for p in name.split("/") if p != ""]
    if any(p in (".", "..") for p in parts):
        raise HandlerError(f"archive member {name!r} leaves the extraction directory; refusing the archive")
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


def extract_chart(archive: Path, dest: Path, *, top: str, subdir: str, until: float,
                  clock: Callable[[], float] = time.monotonic, revision: str | None = None) -> Path:
    """Extract ``<top>/<subdir>/`` of a gzip tarball into ``dest``; return the chart directory.

    The tarball is read as a stream: members are checked one at a time and the reader refuses more
    than MAX_MEMBERS members, MAX_EXTRACTED_BYTES decompressed bytes (headers included) or a
    stream still running at ``until``, so neither a header flood nor a gzip bomb is processed
    first and refused later. Every member must sit under ``top`` (the revision's own directory).
    Inside the chart folder only regular files and directories are accepted: a symlink, hardlink,
    device or FIFO refuses the archive (the chart has none at any pinned revision), which also
    rules out link chains that pass a per-link check. Files are created with O_EXCL|O_NOFOLLOW.
    """
    prefix = PurePosixPath(top, subdir) if subdir else PurePosixPath(top)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    members = 0
    wanted = 0
    written = 0  # bytes written to disk: the stream cap alone misses what a member expands to
    try:
        with archive.open("rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
            reader = _CappedReader(unzipped, limit=MAX_EXTRACTED_BYTES, until=until, clock=clock)
            with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
                for member in tar:
                    members += 1
                    if members > MAX_MEMBERS:
                        raise HandlerError(f"the archive has more than {MAX_MEMBERS} members; refusing it")
                    path = _member_path(member.name)
                    if path.parts[:1] != (top,):
                        raise HandlerError(
                            f"archive member {member.name!r} is outside {top}/; the archive is not the one of "
                            "this revision"
                        )
                    inside = path == prefix or prefix in path.parents
                    if not inside:
                        continue
                    if member.issparse():
                        # A sparse member expands holes to zeros on extraction: bytes the stream cap never sees.
                        raise HandlerError(f"archive member {member.name!r} is a sparse file; refusing the archive")
                    if not (member.isreg() or member.isdir()):
                        kind = "link" if (member.issym() or member.islnk()) else "special file"
                        raise HandlerError(
                            f"archive member {member.name!r} is a {kind}; the chart may hold only files and "
                            "folders, refusing the archive"
                        )
                    target = root.joinpath(*path.parts)
                    wanted += 1
                    if member.isdir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    source = tar.extractfile(member)
                    assert source is not None
                    try:
                        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
                    except FileExistsError:
                        raise HandlerError(f"archive member {member.name!r} appears twice; refusing the archive") \
                            from None
                    with os.fdopen(fd, "wb") as out:
                        while chunk := source.read(READ_CHUNK):
                            written += len(chunk)
                            if written > MAX_EXTRACTED_BYTES:
                                raise HandlerError(
                                    f"the chart extracts to more than {MAX_EXTRACTED_BYTES // (1024 * 1024)} MiB; "
                                    "refusing the archive"
                                )
                            out.write(chunk)
                comment = tar.pax_headers.get("comment")
    except tarfile.TarError as exc:
        raise HandlerError(f"the source archive is not a readable tarball: {exc}") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise HandlerError(f"the source archive is not a readable gzip tarball: {exc}") from None
    # git archive (which GitHub runs) records the commit in a pax global header.
    if revision is not None and comment is not None and comment != revision:
        raise HandlerError(f"the archive says it is commit {comment}, not {revision}; refusing it")
    chart_dir = root.joinpath(*prefix.parts)
    if wanted == 0 or not chart_dir.is_dir():
        raise HandlerError(f"the archive has no {prefix}/ folder")
    if not (chart_dir / "Chart.yaml").is_file():
        raise HandlerError(f"{prefix}/Chart.yaml is missing")
    return chart_dir


# --------------------------------------------------------------------------- integrity


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def chart_tree_digest(chart_dir: Path) -> tuple[str, int]:
    """sha256 over ``"<sha256>  <path>\\n"`` per file, sorted by path; ``Chart.lock`` and
    ``charts/*.tgz`` (rewritten by ``helm dependency build``) left out. Returns (digest, files)."""
    lines: list[tuple[bytes, str]] = []
    for dirpath, dirnames, filenames in os.walk(chart_dir):
        for name in dirnames + filenames:
            full = Path(dirpath, name)
            if full.is_symlink():
                raise HandlerError(f"{full.relative_to(chart_dir)} is a link; refusing the chart")
        for name in filenames:
            full = Path(dirpath, name)
            rel = full.relative_to(chart_dir).as_posix()
            if rel == "Chart.lock" or _BUILT_ARCHIVE.fullmatch(rel):
                continue
            if not full.is_file():
                raise HandlerError(f"{rel} is not a regular file; refusing the chart")
            lines.append((rel.encode("utf-8"), _file_sha256(full)))
    lines.sort()
    text = "".join(f"{digest}  {rel.decode('utf-8')}\n" for rel, digest in lines)
    return hashlib.sha256(text.encode("utf-8")).hexdigest(), len(lines)


def verify_chart_tree(chart_dir: Path, expected: str) -> int:
    actual, count = chart_tree_digest(chart_dir)
    if actual != expected:
        raise HandlerError(
            f"the chart's files do not match the pinned chart_sha256 (expected {expected}, got {actual} over "
            f"{count} files); refusing to install them"
        )
    return count


def placeholder_chart(pin: ArchivePin) -> str:
    return (
        f"apiVersion: v2\nname: {pin.name}\nversion: {pin.version}\n"
        "description: Placeholder written by hyperpod-cdk for a disabled dependency without a pinned digest.\n"
    )


def settle_archives(chart_dir: Path, pins: Sequence[ArchivePin], values: Mapping[str, Any],
                    log: Callable[[str], None] = print, *, placeholders: bool = True) -> list[str]:
    """Leave in ``charts/`` only archives whose sha256 is pinned; return what was kept.

    Archives ``helm dependency build`` made from local sub-chart folders are removed: those
    folders are already in ``charts/`` and verified by the tree digest, so Helm loads them from
    there. A pinned dependency without a digest must be disabled; it gets a placeholder chart
    (not written with ``placeholders=False``: the chart bundle tool leaves that to the installer).
    """
    charts = chart_dir / "charts"
    charts.mkdir(exist_ok=True)
    by_sha = {p.sha256: p for p in pins if p.sha256}
    kept: dict[str, Path] = {}
    removed: list[str] = []
    for archive in sorted(charts.glob("*.tgz")):
        if archive.is_symlink() or not archive.is_file():
            raise HandlerError(f"charts/{archive.name} is not a regular file; refusing the chart")
        digest = _file_sha256(archive)
        pin = by_sha.get(digest)
        if pin is not None and pin.key not in kept:
            kept[pin.key] = archive
            continue
        archive.unlink()
        removed.append(f"{archive.name} (sha256 {digest})")
    if removed:
        log("removed archives that are not pinned: " + ", ".join(removed))
    for pin in pins:
        if pin.key in kept:
            continue
        if pin.sha256 is not None:
            raise HandlerError(
                f"sub-chart {pin.name} {pin.version}: no archive in charts/ matches the pinned sha256 "
                f"{pin.sha256} (found: {', '.join(removed) or 'none'}); refusing to install"
            )
        if values.get(pin.condition) is not False:
            raise HandlerError(
                f"sub-chart {pin.name} {pin.version} has no pinned digest, so it can only stay disabled; "
                f"set {pin.condition} to false"
            )
        if not placeholders:
            continue
        placeholder = charts / pin.name
        if placeholder.exists():
            raise HandlerError(f"charts/{pin.name} already exists; cannot write the placeholder chart")
        placeholder.mkdir()
        (placeholder / "Chart.yaml").write_text(placeholder_chart(pin))
        log(f"{pin.name} {pin.version}: disabled and not pinned, replaced by a placeholder chart")
    return sorted(kept)


# --------------------------------------------------------------------------- EKS access (shared helpers)


class EksClient(Protocol):
    def describe_cluster(self, *, name: str) -> Mapping[str, Any]: ...


def eks_token(session: Any, cluster_name: str, region: str) -> str:
    """A Kubernetes bearer token for EKS: ``k8s-aws-v1.`` + base64url(presigned GetCallerIdentity URL).

    The URL is signed with the caller's credentials and carries the header ``x-k8s-aws-id:
    <cluster name>`` among its signed headers, which is what EKS's authenticator verifies.
    Presigning is local: no request is sent.
    """
    sts = session.client("sts", region_name=region)

    def add_cluster_header(request: Any, **_: Any) -> None:
        request.headers["x-k8s-aws-id"] = cluster_name

    sts.meta.events.register_first("before-sign.sts.GetCallerIdentity", add_cluster_header)
    url = sts.generate_presigned_url(
        "get_caller_identity", Params={}, ExpiresIn=TOKEN_EXPIRES_SECONDS, HttpMethod="GET"
    )
    encoded = base64.urlsafe_b64encode(url.encode("utf-8")).decode("ascii").rstrip("=")
    return "k8s-aws-v1." + encoded


def write_kubeconfig(path: Path, *, cluster_name: str, endpoint: str, ca_data: str, token: str) -> Path:
    """A kubeconfig (JSON is valid YAML) readable only by this process's user."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
        "users": [{"name": "helm-dependencies", "user": {"token": token}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": "helm-dependencies"}}],
        "current-context": cluster_name,
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(config, out)
    return path


class ClusterGone(Exception):
    pass


def cluster_kubeconfig(deps: Deps, cluster_name: str, path: Path) -> Path:
    try:
        cluster = deps.eks.describe_cluster(name=cluster_name)["cluster"]
    except Exception as exc:  # botocore ClientError, without importing botocore here
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            raise ClusterGone(cluster_name) from None
        raise HandlerError(f"eks:DescribeCluster {cluster_name} failed: {exc}") from None
    token = eks_token(deps.session, cluster_name, deps.region)
    return write_kubeconfig(
        path,
        cluster_name=cluster_name,
        endpoint=cluster["endpoint"],
        ca_data=cluster["certificateAuthority"]["data"],
        token=token,
    )


# --------------------------------------------------------------------------- running things


@dataclass
class Deps:
    """Everything the handler reaches outside itself; tests pass fakes."""

    eks: EksClient
    session: Any
    region: str
    spec: ReleaseSpec | None = None
    s3: S3Client | None = None
    helm: str = DEFAULT_HELM
    log: Callable[[str], None] = print
    clock: Callable[[], float] = time.monotonic
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_environment(cls) -> Deps:
        import boto3  # the Lambda runtime ships boto3
        from botocore.config import Config

        spec = ReleaseSpec.from_environment()
        session = boto3.Session()
        region = os.environ.get("AWS_REGION") or session.region_name or "us-east-1"
        config = Config(connect_timeout=10, read_timeout=SOCKET_TIMEOUT_SECONDS, retries={"max_attempts": 3})
        return cls(
            eks=session.client("eks", region_name=region, config=config),
            session=session,
            region=region,
            spec=spec,
            s3=session.client("s3", region_name=region, config=config) if spec.from_bundle else None,
            helm=os.environ.get("HELM_BINARY", DEFAULT_HELM),
        )


class Deadline:
    """The Lambda's own deadline (from its context) on a monotonic clock."""

    def __init__(self, context: Any, clock: Callable[[], float]) -> None:
        remaining_ms = context.get_remaining_time_in_millis() if context is not None else 900_000
        self._clock = clock
        self._lambda_end = clock() + remaining_ms / 1000

    def lambda_remaining(self) -> float:
        return self._lambda_end - self._clock()

    def remaining(self) -> float:
        """What work may use: the Lambda's remaining time less SAFETY_SECONDS for the response."""
        return self.lambda_remaining() - SAFETY_SECONDS

    def at(self, seconds_from_now: float) -> float:
        return self._clock() + seconds_from_now

    def helm_timeout(self, configured: int) -> int:
        """``--timeout``: min(configured, Lambda remaining - HELM_RESERVE_SECONDS)."""
        seconds = int(min(configured, self.lambda_remaining() - HELM_RESERVE_SECONDS))
        if seconds < MIN_HELM_SECONDS:
            raise HandlerError(
                f"only {int(self.lambda_remaining())} s of the Lambda invocation are left; not starting helm "
                f"with less than {MIN_HELM_SECONDS} s (it would be killed and leave the release pending)"
            )
        return seconds


def _stop(proc: subprocess.Popen[str], log: Callable[[str], None]) -> tuple[str, str]:
    """SIGTERM (helm marks the release failed on it), then SIGKILL if it does not exit."""
    log(f"stopping pid {proc.pid} with SIGTERM")
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.communicate(timeout=TERM_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        log(f"pid {proc.pid} ignored SIGTERM for {TERM_GRACE_SECONDS:.0f} s; SIGKILL")
        proc.kill()
        return proc.communicate()


def run(argv: Sequence[str], *, env: Mapping[str, str], deadline: Deadline, log: Callable[[str], None],
        touched_cluster: bool, cwd: Path | None = None, limit: float | None = None) -> str:
    """Run a command, log its output, raise CommandError with its output tail on failure.

    ``limit`` (seconds, default: what the deadline leaves) is when the command is stopped: SIGTERM
    first, SIGKILL after TERM_GRACE_SECONDS.
    """
    if deadline.remaining() < MIN_RUN_SECONDS:
        raise HandlerError(f"no time left to run {' '.join(_display(argv))}", touched_cluster=touched_cluster)
    timeout = deadline.remaining() if limit is None else min(limit, deadline.remaining())
    log("$ " + " ".join(_display(argv)))
    try:
        proc = subprocess.Popen(  # noqa: S603 - argv is built by this module, never by a shell
            list(argv), env=dict(env), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    except OSError as exc:
        raise HandlerError(f"cannot run {argv[0]}: {exc}", touched_cluster=False) from None
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stdout, stderr = _stop(proc, log)
        output = (stderr or "") + (stdout or "")
        raise CommandError(argv, None, output, touched_cluster=touched_cluster) from None
    if stdout:
        log(stdout.rstrip())
    if stderr:
        log(stderr.rstrip())
    if proc.returncode != 0:
        raise CommandError(argv, proc.returncode, stderr or stdout, touched_cluster=touched_cluster)
    return stdout


def helm_env(workdir: Path, extra: Mapping[str, str]) -> dict[str, str]:
    """Helm's state lives in the scratch directory (/tmp is the only writable place in Lambda);
    AWS credentials are not passed to helm, which authenticates with the kubeconfig token."""
    env = {k: v for k, v in os.environ.items() if k not in _SECRET_ENV and k != SPEC_ENV}
    env.update({
        "HOME": str(workdir),
        "HELM_CACHE_HOME": str(workdir / "helm" / "cache"),
        "HELM_CONFIG_HOME": str(workdir / "helm" / "config"),
        "HELM_DATA_HOME": str(workdir / "helm" / "data"),
    })
    env.update(extra)
    return env


def _tail(output: str) -> str:
    output = output.strip()
    return output if len(output) <= REASON_TAIL_CHARS else "..." + output[-REASON_TAIL_CHARS:]


def _display(argv: Sequence[str]) -> list[str]:
    return [str(a) for a in argv]


# --------------------------------------------------------------------------- the operations


def fetch_and_verify(spec: ReleaseSpec, deps: Deps, workdir: Path, deadline: Deadline) -> tuple[Path, str]:
    """Download, extract and verify the chart; return (chart directory, source sha256)."""
    archive = workdir / "source.tar.gz"
    until = deadline.at(min(SOURCE_BUDGET_SECONDS, max(deadline.remaining(), 1)))
    if spec.source_s3_uri is not None:
        if deps.s3 is None:
            raise HandlerError("no S3 client to read the chart bundle")
        deps.log(f"reading {spec.source_s3_uri}")
        digest = download_s3(deps.s3, spec.source_s3_uri, archive, until=until, clock=deps.clock)
        subdir = ""
    else:
        assert spec.source_url_template is not None
        url = source_url(spec.source_url_template, spec.revision)
        deps.log(f"downloading {url}")
        digest = download_url(url, archive, until=until, clock=deps.clock)
        subdir = spec.chart_path
    deps.log(f"source sha256 {digest}")
    if spec.source_sha256 and digest != spec.source_sha256:
        raise HandlerError(
            f"sha256 mismatch for the source: expected {spec.source_sha256}, got {digest}; refusing to install it"
        )
    chart_dir = extract_chart(archive, workdir / "src", top=spec.top_directory, subdir=subdir, until=until,
                              clock=deps.clock, revision=spec.revision)
    archive.unlink()
    files = verify_chart_tree(chart_dir, spec.chart_sha256)
    deps.log(f"chart files verified: {files} files match chart sha256 {spec.chart_sha256}")
    return chart_dir, digest


def recover_pending(spec: ReleaseSpec, deps: Deps, kubeconfig: Path, env: Mapping[str, str],
                    deadline: Deadline) -> str | None:
    """A release a killed helm left ``pending-*`` blocks every later upgrade ("another operation
    is in progress"): roll it back to the revision before, or uninstall a first install."""
    try:
        out = run(status_command(deps.helm, spec, kubeconfig), env=env, deadline=deadline, log=deps.log,
                  touched_cluster=False, limit=60)
    except CommandError as exc:
        if exc.returncode not in (None, 0) and is_release_not_found(exc.output):
            return None
        raise
    try:
        status = str(json.loads(out)["info"]["status"])
    except (ValueError, KeyError, TypeError):
        deps.log("could not read the release status from helm status; continuing with the upgrade")
        return None
    if status not in PENDING_STATUSES:
        return status
    deps.log(f"release {spec.physical_id} is {status}: a previous helm was killed before it finished")
    timeout = deadline.helm_timeout(spec.timeout_seconds)
    if status == "pending-install":
        argv = uninstall_command(deps.helm, spec, kubeconfig, timeout)
    else:
        argv = rollback_command(deps.helm, spec, kubeconfig, timeout)
    run(argv, env=env, deadline=deadline, log=deps.log, touched_cluster=True, limit=timeout + OVERRUN_SECONDS)
    return status


def install(spec: ReleaseSpec, deps: Deps, workdir: Path, deadline: Deadline) -> dict[str, str]:
    chart_dir, digest = fetch_and_verify(spec, deps, workdir, deadline)
    env = helm_env(workdir, deps.extra_env)
    if not spec.from_bundle:
        for built in [*(chart_dir / "charts").glob("*.tgz"), chart_dir / "Chart.lock"]:
            built.unlink(missing_ok=True)  # left out of the tree digest: must not survive unverified
        run(dependency_build_command(deps.helm, chart_dir), env=env, deadline=deadline, log=deps.log,
            touched_cluster=False, cwd=chart_dir,
            limit=max(min(DEPENDENCY_BUILD_SECONDS, deadline.remaining() - HELM_RESERVE_SECONDS - MIN_HELM_SECONDS),
                      MIN_RUN_SECONDS))
    kept = settle_archives(chart_dir, spec.archives, spec.values, deps.log)
    try:
        kubeconfig = cluster_kubeconfig(deps, spec.cluster_name, workdir / "kubeconfig")
    except ClusterGone:
        raise HandlerError(f"EKS cluster {spec.cluster_name} does not exist") from None
    previous = recover_pending(spec, deps, kubeconfig, env, deadline)
    regional = chart_dir / "regional-values" / f"values-{deps.region}.yaml"
    values_files = [regional] if regional.is_file() else []
    values_files.append(write_values_file(workdir / "values.json", spec.values))
    timeout = deadline.helm_timeout(spec.timeout_seconds)
    try:
        run(upgrade_command(deps.helm, spec, chart_dir, kubeconfig, values_files, timeout), env=env,
            deadline=deadline, log=deps.log, touched_cluster=True, limit=timeout + OVERRUN_SECONDS)
    except HandlerError as failure:
        if previous is None:
            raise  # a first install: the stack rollback deletes the resource, which uninstalls it
        raise HandlerError(f"{failure}; {roll_back_failed_upgrade(spec, deps, kubeconfig, env, deadline)}") from None
    return {
        "Release": spec.release, "Namespace": spec.namespace, "Revision": spec.revision,
        "SourceSha256": digest, "ChartSha256": spec.chart_sha256, "SubCharts": ",".join(kept),
    }


def roll_back_failed_upgrade(spec: ReleaseSpec, deps: Deps, kubeconfig: Path, env: Mapping[str, str],
                             deadline: Deadline) -> str:
    """After a failed upgrade of an existing release: ``helm rollback`` to the revision before it.

    What ``--rollback-on-failure`` (Helm 4) / ``--atomic`` (Helm 3) do, without the ``--wait`` both
    force (the chart's Deployments cannot become ready before HyperPod has nodes; ``wait`` is off by
    default). Returns what happened, for the failure reason.
    """
    try:
        timeout = deadline.helm_timeout(spec.timeout_seconds)
        run(rollback_command(deps.helm, spec, kubeconfig, timeout), env=env, deadline=deadline, log=deps.log,
            touched_cluster=True, limit=timeout + OVERRUN_SECONDS)
    except HandlerError as exc:
        return f"rolling the release back to its previous revision failed too: {exc}"
    return "rolled the release back to its previous revision"


def roll_back_on_stack_rollback(spec: ReleaseSpec, deps: Deps, workdir: Path, deadline: Deadline) -> str:
    """CloudFormation rolls this resource back to the release before this function's: if the
    function's upgrade completed (``helm history``: deployed, "Upgrade complete"), ``helm rollback``
    to the revision before it; a failed upgrade was rolled back already."""
    try:
        kubeconfig = cluster_kubeconfig(deps, spec.cluster_name, workdir / "kubeconfig")
    except ClusterGone:
        return "the cluster no longer exists"
    env = helm_env(workdir, deps.extra_env)
    try:
        out = run(history_command(deps.helm, spec, kubeconfig), env=env, deadline=deadline, log=deps.log,
                  touched_cluster=False, limit=60)
    except CommandError as exc:
        if exc.returncode not in (None, 0) and is_release_not_found(exc.output):
            return "the release is not installed"
        raise
    try:
        last = json.loads(out)[-1]
        status, description = str(last["status"]), str(last.get("description", ""))
    except (ValueError, KeyError, TypeError, IndexError):
        return "could not read the release history; left the release as it is"
    if status != "deployed" or not description.startswith("Upgrade complete"):
        return f"the last revision is {status} ({description!r}); left the release as it is"
    timeout = deadline.helm_timeout(spec.timeout_seconds)
    run(rollback_command(deps.helm, spec, kubeconfig, timeout), env=env, deadline=deadline, log=deps.log,
        touched_cluster=True, limit=timeout + OVERRUN_SECONDS)
    return "rolled the release back to its previous revision"


def uninstall_renamed(spec: ReleaseSpec, deps: Deps, workdir: Path, deadline: Deadline, old_id: str) -> bool:
    """CloudFormation deletes the old physical id after ``Release`` or ``Namespace`` changed: uninstall
    that release if it carries this chart's owner label (installed by this resource, not picked by the
    caller). False when there is no such release."""
    namespace, _, release = old_id.partition("/")
    if not (_NAMESPACE.fullmatch(namespace) and _RELEASE.fullmatch(release)):
        return False
    try:
        kubeconfig = cluster_kubeconfig(deps, spec.cluster_name, workdir / "kubeconfig")
    except ClusterGone:
        return False
    env = helm_env(workdir, deps.extra_env)
    out = run(owned_release_command(deps.helm, spec, kubeconfig, namespace, release), env=env, deadline=deadline,
              log=deps.log, touched_cluster=False, limit=60)
    try:
        found = [r for r in json.loads(out or "[]") if r.get("name") == release and r.get("namespace") == namespace]
    except (ValueError, TypeError, AttributeError):
        return False
    if not found:
        return False
    renamed = replace(spec, release=release, namespace=namespace)
    uninstall(renamed, deps, workdir, deadline)
    return True


def uninstall(spec: ReleaseSpec, deps: Deps, workdir: Path, deadline: Deadline) -> None:
    try:
        kubeconfig = cluster_kubeconfig(deps, spec.cluster_name, workdir / "kubeconfig")
    except ClusterGone:
        deps.log(f"EKS cluster {spec.cluster_name} no longer exists; nothing to uninstall")
        return
    env = helm_env(workdir, deps.extra_env)
    timeout = deadline.helm_timeout(spec.timeout_seconds)
    try:
        run(uninstall_command(deps.helm, spec, kubeconfig, timeout), env=env, deadline=deadline, log=deps.log,
            touched_cluster=True, limit=timeout + OVERRUN_SECONDS)
    except CommandError as exc:
        if exc.returncode not in (None, 0) and is_release_not_found(exc.output):
            deps.log(f"release {spec.physical_id} is not installed; nothing to uninstall")
            return
        raise


@dataclass(frozen=True)
class Outcome:
    status: str
    physical_id: str
    reason: str = ""
    data: dict[str, str] = field(default_factory=dict)


def _refusal(request: Any, old_id: str | None, problems: Sequence[str]) -> Outcome:
    reason = (
        "refused: the request does not match the release fixed in this function's configuration at synth ("
        + "; ".join(problems) + "); nothing was done"
    )
    physical = NOT_INSTALLED if request == "Create" else (old_id or NOT_INSTALLED)
    return Outcome("FAILED", physical, reason=reason)


def process(event: Mapping[str, Any], context: Any, deps: Deps) -> Outcome:
    """Handle one CloudFormation request; never raises."""
    request = event.get("RequestType")
    old_id = event.get("PhysicalResourceId")
    deadline = Deadline(context, deps.clock)
    fallback_id = old_id or NOT_INSTALLED
    spec = deps.spec
    if spec is None:
        return Outcome("FAILED", fallback_id, reason=f"the function has no valid {SPEC_ENV}")
    if request == "Delete" and old_id == NOT_INSTALLED:
        deps.log("the create of this resource failed before helm ran; nothing to delete")
        return Outcome("SUCCESS", NOT_INSTALLED)
    problems = differences(event.get("ResourceProperties"), spec)
    if problems:
        if request == "Update" and not differences(event.get("OldResourceProperties"), spec):
            # CloudFormation rolls this resource back before the function's environment: the
            # properties it rolls back to are not this function's release. Do nothing.
            deps.log("update away from this function's release (a stack rollback)")
            workdir = Path(tempfile.mkdtemp(prefix="helm-deps-", dir=os.environ.get("TMPDIR", "/tmp")))
            try:
                done = roll_back_on_stack_rollback(spec, deps, workdir, deadline)
            except HandlerError as exc:
                # The stack is already rolling back: failing here would leave it UPDATE_ROLLBACK_FAILED.
                done = f"helm rollback failed ({exc}); the release stays on this function's revision"
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
            deps.log(done)
            return Outcome("SUCCESS", fallback_id, reason=f"rollback: {done}")
        if request == "Delete" and old_id and old_id != spec.physical_id:
            workdir = Path(tempfile.mkdtemp(prefix="helm-deps-", dir=os.environ.get("TMPDIR", "/tmp")))
            try:
                if uninstall_renamed(spec, deps, workdir, deadline, old_id):
                    return Outcome("SUCCESS", old_id, reason="uninstalled the release before its rename")
            except HandlerError as exc:
                deps.log(f"uninstalling the renamed release failed: {exc}")
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
        deps.log("REFUSED: " + "; ".join(problems))
        return _refusal(request, old_id, problems)
    workdir = Path(tempfile.mkdtemp(prefix="helm-deps-", dir=os.environ.get("TMPDIR", "/tmp")))
    try:
        if request in ("Create", "Update"):
            data = install(spec, deps, workdir, deadline)
            return Outcome("SUCCESS", spec.physical_id, data=data)
        if request == "Delete":
            uninstall(spec, deps, workdir, deadline)
            return Outcome("SUCCESS", old_id or spec.physical_id)
        raise HandlerError(f"unknown RequestType {request!r}")
    except HandlerError as exc:
        deps.log(f"FAILED: {exc}")
        if request == "Create":
            # Keep the real id when helm may have installed something, so the rollback uninstalls it.
            physical = spec.physical_id if exc.touched_cluster else NOT_INSTALLED
        else:
            physical = fallback_id
        return Outcome("FAILED", physical, reason=str(exc))
    except Exception as exc:  # noqa: BLE001 - CloudFormation must always get an answer
        deps.log(traceback.format_exc())
        # Unknown state after an unexpected error: on Create keep the real id so a rollback cleans up.
        physical = spec.physical_id if request == "Create" else fallback_id
        return Outcome("FAILED", physical, reason=f"{type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def send_response(event: Mapping[str, Any], outcome: Outcome, *, log_stream: str = "", attempts: int = 4,
                  opener: Callable[..., Any] = urllib.request.urlopen) -> None:
    reason = outcome.reason or "OK"
    if log_stream:
        reason = f"{reason} (CloudWatch log stream {log_stream})" if outcome.status == "FAILED" else reason
    body = {
        "Status": outcome.status,
        "Reason": reason[:3000],
        "PhysicalResourceId": outcome.physical_id,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "NoEcho": False,
        "Data": outcome.data,
    }
    payload = json.dumps(body).encode("utf-8")
    request = urllib.request.Request(
        event["ResponseURL"], data=payload, method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(payload))},
    )
    for attempt in range(1, attempts + 1):
        try:
            with opener(request, timeout=30) as response:  # noqa: S310 - the presigned S3 URL from CloudFormation
                response.read()
            return
        except (urllib.error.URLError, OSError) as exc:
            print(f"sending the response failed (attempt {attempt}): {exc}")
            if attempt == attempts:
                raise
            time.sleep(min(2 ** attempt, 10))


def handle(event: Mapping[str, Any], context: Any, deps: Deps) -> Outcome:
    """Process one request and answer CloudFormation (the testable core of :func:`handler`)."""
    outcome = process(event, context, deps)
    send_response(event, outcome, log_stream=getattr(context, "log_stream_name", "") or "")
    return outcome


def handler(event: Mapping[str, Any], context: Any) -> None:
    """Lambda entry point."""
    print(json.dumps({k: v for k, v in event.items() if k != "ResponseURL"}, default=str))
    try:
        deps = Deps.from_environment()
    except Exception as exc:  # noqa: BLE001 - CloudFormation must always get an answer
        outcome = Outcome("FAILED", event.get("PhysicalResourceId") or NOT_INSTALLED, reason=f"setup failed: {exc}")
        send_response(event, outcome, log_stream=getattr(context, "log_stream_name", "") or "")
        return
    handle(event, context, deps)

