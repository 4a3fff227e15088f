"""Custom resource handler: install the SageMaker HyperPod Helm chart into an EKS cluster.

Runs in a Lambda function inside the VPC (the cluster endpoint may be private) with the kubectl
layer, which ships ``/opt/helm/helm``. Standard library + boto3/botocore only.

Create / Update:
  1. download ``<source url template>`` for the pinned commit (sha256-checked when one is given);
  2. extract the chart folder, refusing absolute paths, ``..``, links that leave the tree and
     special files;
  3. ``helm dependency build <chart>`` (fetches the remote sub-charts);
  4. write a kubeconfig from ``eks:DescribeCluster`` (endpoint + CA) and an EKS bearer token
     (a presigned STS GetCallerIdentity URL, as ``aws eks get-token`` makes it);
  5. ``helm upgrade --install <release> <chart> --namespace <ns> --reset-values --set k=v ...``.
Delete:
  ``helm uninstall <release> --namespace <ns>``; a release that is already gone (or a cluster
  that is already gone) is success, every other failure is reported as a failure.

The response always goes to the CloudFormation ResponseURL; a failure carries the tail of helm's
output so the stack event says what went wrong.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

DEFAULT_HELM = "/opt/helm/helm"
DEFAULT_SOURCE_URL_TEMPLATE = "https://github.com/aws/sagemaker-hyperpod-cli/archive/{revision}.tar.gz"
# Physical id of a Create that failed before helm touched the cluster: its rollback Delete is a no-op.
NOT_INSTALLED = "hyperpod-helm-dependencies:not-installed"

MAX_DOWNLOAD_BYTES = 256 * 1024 * 1024
MAX_EXTRACTED_BYTES = 1024 * 1024 * 1024
DOWNLOAD_TIMEOUT_SECONDS = 60
# Kept back from the Lambda deadline for the response and clean-up.
SAFETY_SECONDS = 25
REASON_TAIL_CHARS = 1500
TOKEN_EXPIRES_SECONDS = 60

_REVISION = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_RELEASE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_HELM_KEY = re.compile(r"^[A-Za-z0-9_-]+(\[[0-9]+\])?(\.[A-Za-z0-9_-]+(\[[0-9]+\])?)*$")
# Helm 3 and 4: "Error: uninstall: Release not loaded: <name>: release: not found".
_NOT_FOUND = re.compile(r"release: not found", re.IGNORECASE)
_SECRET_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


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
        what = "timed out" if returncode is None else f"exited {returncode}"
        super().__init__(
            f"`{' '.join(_display(argv))}` {what}: {_tail(output)}", touched_cluster=touched_cluster
        )


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class ReleaseSpec:
    """The custom resource's properties, validated."""

    cluster_name: str
    revision: str
    chart_path: str
    release: str
    namespace: str
    values: dict[str, str]
    source_sha256: str | None = None
    timeout_seconds: int = 600
    wait: bool = False

    @property
    def physical_id(self) -> str:
        return f"{self.namespace}/{self.release}"

    @classmethod
    def from_properties(cls, props: Mapping[str, Any]) -> ReleaseSpec:
        def text(key: str, default: str | None = None) -> str:
            value = props.get(key, default)
            if value is None or value == "":
                raise HandlerError(f"property {key} is required")
            return str(value)

        revision = text("Revision")
        if not _REVISION.fullmatch(revision):
            raise HandlerError(f"Revision must be a full 40-character commit SHA, got {revision!r}")
        chart_path = text("ChartPath")
        parts = PurePosixPath(chart_path).parts
        if PurePosixPath(chart_path).is_absolute() or ".." in parts or not parts:
            raise HandlerError(f"ChartPath must be a relative path inside the repository, got {chart_path!r}")
        release = text("Release")
        if len(release) > 53 or not _RELEASE.fullmatch(release):
            raise HandlerError(f"Release {release!r} is not a valid Helm release name")
        namespace = text("Namespace")
        if len(namespace) > 63 or not _NAMESPACE.fullmatch(namespace):
            raise HandlerError(f"Namespace {namespace!r} is not a valid Kubernetes namespace")
        sha = props.get("SourceSha256") or None
        if sha is not None and not _SHA256.fullmatch(str(sha)):
            raise HandlerError(f"SourceSha256 must be 64 lowercase hex characters, got {sha!r}")
        raw_values = props.get("Values") or {}
        if not isinstance(raw_values, Mapping):
            raise HandlerError("Values must be a map of chart value paths to values")
        values: dict[str, str] = {}
        for key, value in raw_values.items():
            if not _HELM_KEY.fullmatch(str(key)):
                raise HandlerError(f"Values key {key!r} is not a chart value path")
            values[str(key)] = _helm_text(value)
        try:
            timeout = int(props.get("TimeoutSeconds", 600))
        except (TypeError, ValueError):
            raise HandlerError("TimeoutSeconds must be a whole number") from None
        if not 60 <= timeout <= 840:
            raise HandlerError(f"TimeoutSeconds must be 60-840, got {timeout}")
        return cls(
            cluster_name=text("ClusterName"),
            revision=revision,
            chart_path=chart_path,
            release=release,
            namespace=namespace,
            values=values,
            source_sha256=str(sha) if sha else None,
            timeout_seconds=timeout,
            wait=str(props.get("Wait", "false")).lower() == "true",
        )


def _helm_text(value: Any) -> str:
    # CloudFormation hands every scalar to the handler as a string; booleans from tests may not be.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --------------------------------------------------------------------------- helm commands


def _escape_set(value: str) -> str:
    """Escape what `helm --set` would otherwise split on (commas) or unescape (backslashes)."""
    return value.replace("\\", "\\\\").replace(",", "\\,")


def dependency_build_command(helm: str, chart_dir: Path) -> list[str]:
    return [helm, "dependency", "build", str(chart_dir)]


def upgrade_command(
    helm: str, spec: ReleaseSpec, chart_dir: Path, kubeconfig: Path, values_files: Sequence[Path] = ()
) -> list[str]:
    """``helm upgrade --install``; every flag is valid for Helm 3 and Helm 4.

    ``--reset-values`` makes the release exactly chart defaults + these values on every update.
    ``--wait`` is bare (Helm 4 reads it as ``--wait=watcher``, Helm 3 as true).
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
        argv += ["--set", f"{key}={_escape_set(spec.values[key])}"]
    if spec.wait:
        argv.append("--wait")
    argv += ["--timeout", f"{spec.timeout_seconds}s"]
    return argv


def uninstall_command(helm: str, spec: ReleaseSpec, kubeconfig: Path) -> list[str]:
    return [
        helm, "uninstall", spec.release,
        "--namespace", spec.namespace,
        "--kubeconfig", str(kubeconfig),
        "--timeout", f"{spec.timeout_seconds}s",
    ]


def is_release_not_found(output: str) -> bool:
    """Whether helm's output says the release does not exist (the only failure Delete forgives)."""
    return bool(_NOT_FOUND.search(output))


# --------------------------------------------------------------------------- download and extract


def source_url(template: str, revision: str) -> str:
    if "{revision}" not in template:
        raise HandlerError("the source URL template has no {revision} placeholder")
    url = template.replace("{revision}", revision)
    if not url.startswith(("https://", "http://")):
        raise HandlerError(f"refusing to download from {url!r}: only http(s) URLs are allowed")
    return url


def download(url: str, dest: Path, *, expected_sha256: str | None, timeout: float) -> str:
    """Stream ``url`` into ``dest``; return its sha256 and refuse a mismatch or an oversized file."""
    digest = hashlib.sha256()
    size = 0
    request = urllib.request.Request(url, headers={"User-Agent": "hyperpod-cdk-helm-dependencies"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, dest.open("wb") as out:  # noqa: S310
            while chunk := response.read(1024 * 1024):
                size += len(chunk)
                if size > MAX_DOWNLOAD_BYTES:
                    raise HandlerError(f"{url} is larger than {MAX_DOWNLOAD_BYTES} bytes; refusing it")
                digest.update(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise HandlerError(f"downloading {url} failed: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise HandlerError(f"downloading {url} failed: {getattr(exc, 'reason', exc)}") from None
    actual = digest.hexdigest()
    if expected_sha256 and actual != expected_sha256:
        raise HandlerError(
            f"sha256 mismatch for {url}: expected {expected_sha256}, got {actual}; refusing to install it"
        )
    return actual


def _inside(root: Path, candidate: Path) -> bool:
    try:
        candidate.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def check_members(members: Sequence[tarfile.TarInfo], dest: Path) -> str:
    """Validate every member; return the archive's single top-level directory name."""
    tops: set[str] = set()
    total = 0
    for member in members:
        name = member.name
        path = PurePosixPath(name)
        if path.is_absolute() or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
            raise HandlerError(f"archive member {name!r} has an absolute path; refusing the archive")
        if ".." in path.parts:
            raise HandlerError(f"archive member {name!r} leaves the extraction directory; refusing the archive")
        if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
            raise HandlerError(f"archive member {name!r} is a device, FIFO or other special file; refusing the archive")
        if member.issym() or member.islnk():
            link = PurePosixPath(member.linkname)
            if link.is_absolute():
                raise HandlerError(f"archive link {name!r} points to the absolute path {member.linkname!r}")
            target = (dest / path.parent / link) if member.issym() else (dest / link)
            if not _inside(dest, target):
                raise HandlerError(f"archive link {name!r} -> {member.linkname!r} points outside the archive")
        total += max(member.size, 0)
        if total > MAX_EXTRACTED_BYTES:
            raise HandlerError(f"archive expands to more than {MAX_EXTRACTED_BYTES} bytes; refusing it")
        if path.parts and path.parts[0] not in ("", "."):
            tops.add(path.parts[0])
    if len(tops) != 1:
        raise HandlerError(f"expected one top-level directory in the archive, found {sorted(tops)[:5]}")
    return tops.pop()


def extract_chart(archive: Path, dest: Path, chart_path: str) -> Path:
    """Extract the chart folder of a source tarball into ``dest``; return the chart directory."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            members = tar.getmembers()
            top = check_members(members, dest)
            prefix = PurePosixPath(top, chart_path)
            wanted = [m for m in members if PurePosixPath(m.name) == prefix or prefix in PurePosixPath(m.name).parents]
            if not wanted:
                raise HandlerError(f"the archive has no {chart_path}/ folder at this revision")
            if hasattr(tarfile, "data_filter"):
                # Python's own checks on top of ours (absolute paths, links, special files, modes).
                tar.extractall(dest, members=wanted, filter="data")
            else:  # pragma: no cover - Python < 3.11.4
                tar.extractall(dest, members=wanted)  # noqa: S202 - members validated above
    except tarfile.TarError as exc:
        raise HandlerError(f"the source archive is not a readable tarball: {exc}") from None
    chart_dir = dest / top / chart_path
    if not (chart_dir / "Chart.yaml").is_file():
        raise HandlerError(f"{chart_path}/Chart.yaml is missing at this revision")
    return chart_dir


# --------------------------------------------------------------------------- EKS access


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
    helm: str = DEFAULT_HELM
    source_url_template: str = DEFAULT_SOURCE_URL_TEMPLATE
    log: Callable[[str], None] = print
    clock: Callable[[], float] = time.monotonic
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_environment(cls) -> Deps:
        import boto3  # the Lambda runtime ships boto3

        session = boto3.Session()
        region = os.environ.get("AWS_REGION") or session.region_name or "us-east-1"
        return cls(
            eks=session.client("eks", region_name=region),
            session=session,
            region=region,
            helm=os.environ.get("HELM_BINARY", DEFAULT_HELM),
            source_url_template=os.environ.get("SOURCE_URL_TEMPLATE", DEFAULT_SOURCE_URL_TEMPLATE),
        )


class Deadline:
    def __init__(self, context: Any, clock: Callable[[], float]) -> None:
        remaining_ms = context.get_remaining_time_in_millis() if context is not None else 900_000
        self._clock = clock
        self._end = clock() + remaining_ms / 1000 - SAFETY_SECONDS

    def remaining(self) -> float:
        return self._end - self._clock()

    def require(self, seconds: float, what: str) -> None:
        if self.remaining() < seconds:
            raise HandlerError(f"not enough time left in the Lambda invocation to {what}")


def run(argv: Sequence[str], *, env: Mapping[str, str], deadline: Deadline, log: Callable[[str], None],
        touched_cluster: bool, cwd: Path | None = None) -> str:
    """Run a command, log its output, raise CommandError with its output tail on failure."""
    timeout = deadline.remaining()
    if timeout < 5:
        raise HandlerError(f"no time left to run {' '.join(_display(argv))}", touched_cluster=touched_cluster)
    log("$ " + " ".join(_display(argv)))
    try:
        proc = subprocess.run(  # noqa: S603 - argv is built by this module, never by a shell
            list(argv), env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        output = _text(exc.stderr) or _text(exc.stdout)
        raise CommandError(argv, None, output, touched_cluster=touched_cluster) from None
    except OSError as exc:
        raise HandlerError(f"cannot run {argv[0]}: {exc}", touched_cluster=False) from None
    if proc.stdout:
        log(proc.stdout.rstrip())
    if proc.stderr:
        log(proc.stderr.rstrip())
    if proc.returncode != 0:
        raise CommandError(argv, proc.returncode, proc.stderr or proc.stdout, touched_cluster=touched_cluster)
    return proc.stdout


def helm_env(workdir: Path, extra: Mapping[str, str]) -> dict[str, str]:
    """Helm's state lives in the scratch directory (/tmp is the only writable place in Lambda);
    AWS credentials are not passed to helm, which authenticates with the kubeconfig token."""
    env = {k: v for k, v in os.environ.items() if k not in _SECRET_ENV}
    env.update({
        "HOME": str(workdir),
        "HELM_CACHE_HOME": str(workdir / "helm" / "cache"),
        "HELM_CONFIG_HOME": str(workdir / "helm" / "config"),
        "HELM_DATA_HOME": str(workdir / "helm" / "data"),
    })
    env.update(extra)
    return env


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _tail(output: str) -> str:
    output = output.strip()
    return output if len(output) <= REASON_TAIL_CHARS else "..." + output[-REASON_TAIL_CHARS:]


def _display(argv: Sequence[str]) -> list[str]:
    return [str(a) for a in argv]


# --------------------------------------------------------------------------- the operations


def install(spec: ReleaseSpec, deps: Deps, workdir: Path, deadline: Deadline) -> dict[str, str]:
    url = source_url(deps.source_url_template, spec.revision)
    archive = workdir / "source.tar.gz"
    deps.log(f"downloading {url}")
    digest = download(url, archive, expected_sha256=spec.source_sha256,
                      timeout=min(DOWNLOAD_TIMEOUT_SECONDS, max(deadline.remaining(), 1)))
    deps.log(f"source sha256 {digest}")
    chart_dir = extract_chart(archive, workdir / "src", spec.chart_path)
    archive.unlink()
    env = helm_env(workdir, deps.extra_env)
    run(dependency_build_command(deps.helm, chart_dir), env=env, deadline=deadline, log=deps.log,
        touched_cluster=False, cwd=chart_dir)
    try:
        kubeconfig = cluster_kubeconfig(deps, spec.cluster_name, workdir / "kubeconfig")
    except ClusterGone:
        raise HandlerError(f"EKS cluster {spec.cluster_name} does not exist") from None
    regional = chart_dir / "regional-values" / f"values-{deps.region}.yaml"
    values_files = [regional] if regional.is_file() else []
    run(upgrade_command(deps.helm, spec, chart_dir, kubeconfig, values_files), env=env, deadline=deadline,
        log=deps.log, touched_cluster=True)
    return {"Release": spec.release, "Namespace": spec.namespace, "Revision": spec.revision, "SourceSha256": digest}


def uninstall(spec: ReleaseSpec, deps: Deps, workdir: Path, deadline: Deadline) -> None:
    try:
        kubeconfig = cluster_kubeconfig(deps, spec.cluster_name, workdir / "kubeconfig")
    except ClusterGone:
        deps.log(f"EKS cluster {spec.cluster_name} no longer exists; nothing to uninstall")
        return
    env = helm_env(workdir, deps.extra_env)
    try:
        run(uninstall_command(deps.helm, spec, kubeconfig), env=env, deadline=deadline, log=deps.log,
            touched_cluster=True)
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


def process(event: Mapping[str, Any], context: Any, deps: Deps) -> Outcome:
    """Handle one CloudFormation request; never raises."""
    request = event.get("RequestType")
    old_id = event.get("PhysicalResourceId")
    deadline = Deadline(context, deps.clock)
    fallback_id = old_id or NOT_INSTALLED
    spec: ReleaseSpec | None = None
    workdir = Path(tempfile.mkdtemp(prefix="helm-deps-", dir=os.environ.get("TMPDIR", "/tmp")))
    try:
        spec = ReleaseSpec.from_properties(event.get("ResourceProperties") or {})
        if request in ("Create", "Update"):
            data = install(spec, deps, workdir, deadline)
            return Outcome("SUCCESS", spec.physical_id, data=data)
        if request == "Delete":
            if old_id == NOT_INSTALLED:
                deps.log("the create of this resource failed before helm ran; nothing to delete")
                return Outcome("SUCCESS", NOT_INSTALLED)
            uninstall(spec, deps, workdir, deadline)
            return Outcome("SUCCESS", old_id or spec.physical_id)
        raise HandlerError(f"unknown RequestType {request!r}")
    except HandlerError as exc:
        deps.log(f"FAILED: {exc}")
        if request == "Create":
            # Keep the real id when helm may have installed something, so the rollback uninstalls it.
            physical = spec.physical_id if (spec is not None and exc.touched_cluster) else NOT_INSTALLED
        else:
            physical = fallback_id
        return Outcome("FAILED", physical, reason=str(exc))
    except Exception as exc:  # noqa: BLE001 - CloudFormation must always get an answer
        deps.log(traceback.format_exc())
        # Unknown state after an unexpected error: on Create keep the real id so a rollback cleans up.
        physical = (spec.physical_id if spec is not None else NOT_INSTALLED) if request == "Create" else fallback_id
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
