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
  7. Create only: refuse a release of that name that exists without this chart's owner label
     (``hyperpod-cdk-owner``): on an existing EKS cluster it is the cluster owner's own install (AWS's
     HyperPod setup page installs ``hyperpod-dependencies`` in ``kube-system``), not this stack's;
  8. recover a release left ``pending-*`` by a killed helm (rollback, or uninstall for a first
     install);
  9. ``helm upgrade --install`` with a JSON values file (types kept) and ``--timeout`` no longer
     than the Lambda's remaining time minus 60 s; helm is stopped with SIGTERM (so it marks the
     release failed) and only then SIGKILL if it overruns.
Delete:
  ``helm uninstall`` of a release that carries this chart's owner label; one without it was not
  installed by hyperpod-cdk (or predates the label) and is left in place; a release or cluster that is
  already gone is success.

The response always goes to the CloudFormation ResponseURL; a failure carries the tail of helm's
output so the stack event says what went wrong.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

# In the Lambda, the asset root holds this file, its sibling modules, the shared eks_auth.py and
# cfn_response.py and the library's specs/hyperpod_chart.py and specs/kubernetes_names.py (copied in at
# synth by hyperpod_cdk._handler_functions) and is on sys.path already. Loaded from the source tree
# (tests, `hyperpod-cdk chart-bundle`), the siblings, the shared folder and specs/ are added here.
_HERE = Path(__file__).resolve().parent
for _folder in (_HERE, _HERE.parent / "shared", _HERE.parents[2] / "specs"):
    if _folder.is_dir() and str(_folder) not in sys.path:
        sys.path.append(str(_folder))

import helm_fetch  # noqa: E402, F401 - its limits, which tests tune
import helm_runner  # noqa: E402
from cfn_response import Outcome, send_response  # noqa: E402
from eks_auth import eks_token, write_kubeconfig  # noqa: E402
from helm_digest import (  # noqa: E402, F401 - re-exported: the chart bundle builder and tests use index.*
    _BUILT_ARCHIVE,
    _file_sha256,
    chart_tree_digest,
    placeholder_chart,
    settle_archives,
    verify_chart_tree,
)
from helm_fetch import (  # noqa: E402, F401
    MAX_DOWNLOAD_BYTES,
    READ_CHUNK,
    SOCKET_TIMEOUT_SECONDS,
    S3Client,
    download_s3,
    download_url,
    extract_chart,
)
from helm_runner import (  # noqa: E402, F401
    CommandError,
    Deadline,
    dependency_build_command,
    helm_env,
    history_command,
    is_release_not_found,
    owned_release_command,
    rollback_command,
    run,
    status_command,
    uninstall_command,
    upgrade_command,
)
from helm_spec import (  # noqa: E402, F401
    BUNDLE_TOP,
    GITHUB_TOP,
    NOT_INSTALLED,
    OWNER_LABEL,
    SPEC_ENV,
    ArchivePin,
    HandlerError,
    ReleaseSpec,
    canonical,
    differences,
    nested_values,
    source_url,
    write_values_file,
)
from kubernetes_names import DNS_LABEL  # noqa: E402

DEFAULT_HELM = "/opt/helm/helm"
# Fetch and extraction share this much of the invocation at most.
SOURCE_BUDGET_SECONDS = 180.0
# `helm dependency build` gets at most this (it downloads three small archives).
DEPENDENCY_BUILD_SECONDS = 180.0
# A read-only helm command (status, history, list) gets at most this.
QUERY_SECONDS = 60
PENDING_STATUSES = frozenset({"pending-install", "pending-upgrade", "pending-rollback"})
# What uninstall() answers when the release carried this chart's owner label.
UNINSTALLED = frozenset({"uninstalled", "gone"})


# --------------------------------------------------------------------------- EKS access (shared helpers)


class EksClient(Protocol):
    def describe_cluster(self, *, name: str) -> Mapping[str, Any]: ...


class ClusterGoneError(Exception):
    pass


def cluster_kubeconfig(deps: Deps, cluster_name: str, path: Path) -> Path:
    try:
        cluster = deps.eks.describe_cluster(name=cluster_name)["cluster"]
    except Exception as exc:  # botocore ClientError, without importing botocore here
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            raise ClusterGoneError(cluster_name) from None
        raise HandlerError(f"eks:DescribeCluster {cluster_name} failed: {exc}") from None
    token = eks_token(deps.session, cluster_name, deps.region)
    kubeconfig: Path = write_kubeconfig(
        path,
        cluster_name=cluster_name,
        endpoint=cluster["endpoint"],
        ca_data=cluster["certificateAuthority"]["data"],
        token=token,
        user="helm-dependencies",
    )
    return kubeconfig


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
    chart_dir = extract_chart(
        archive,
        workdir / "src",
        top=spec.top_directory,
        subdir=subdir,
        until=until,
        clock=deps.clock,
        revision=spec.revision,
    )
    archive.unlink()
    files = verify_chart_tree(chart_dir, spec.chart_sha256)
    deps.log(f"chart files verified: {files} files match chart sha256 {spec.chart_sha256}")
    return chart_dir, digest


def query(argv: Sequence[str], deps: Deps, env: Mapping[str, str], deadline: Deadline) -> str | None:
    """A read-only helm command (a minute at most): its output, or None when the release does not exist."""
    try:
        output: str = run(argv, env=env, deadline=deadline, log=deps.log, touched_cluster=False, limit=QUERY_SECONDS)
    except CommandError as exc:
        if exc.returncode not in (None, 0) and is_release_not_found(exc.output):
            return None
        raise
    return output


def change(
    command: Callable[[int], Sequence[str]], spec: ReleaseSpec, deps: Deps, env: Mapping[str, str], deadline: Deadline
) -> None:
    """A helm command that changes the release: ``command(timeout)`` with helm's ``--timeout`` from what
    the invocation leaves, stopped a little after that timeout."""
    timeout = deadline.helm_timeout(spec.timeout_seconds)
    run(
        command(timeout),
        env=env,
        deadline=deadline,
        log=deps.log,
        touched_cluster=True,
        limit=timeout + helm_runner.OVERRUN_SECONDS,
    )


def owns_release(spec: ReleaseSpec, deps: Deps, kubeconfig: Path, env: Mapping[str, str], deadline: Deadline) -> bool:
    """Whether ``spec``'s release exists and carries this chart's owner label (``upgrade_command``
    sets it on every install and upgrade since the label was added): installed by hyperpod-cdk."""
    out = run(
        owned_release_command(deps.helm, spec, kubeconfig, spec.namespace, spec.release),
        env=env,
        deadline=deadline,
        log=deps.log,
        touched_cluster=False,
        limit=QUERY_SECONDS,
    )
    try:
        listed = json.loads(out or "[]")
        return any(r.get("name") == spec.release and r.get("namespace") == spec.namespace for r in listed)
    except (ValueError, TypeError, AttributeError):
        return False


def foreign_release(spec: ReleaseSpec) -> str:
    return (
        f"release {spec.physical_id} exists and was not installed by this stack's hyperpod-cdk installer (no "
        f"{OWNER_LABEL}={spec.owner} label): set kubernetes.helm_dependencies.enabled: false if the cluster "
        "already has the chart, or "
        f"`helm uninstall {spec.release} --namespace {spec.namespace}` first; nothing was changed"
    )


def recover_pending(
    spec: ReleaseSpec, deps: Deps, kubeconfig: Path, env: Mapping[str, str], deadline: Deadline, out: str | None
) -> str | None:
    """A release a killed helm left ``pending-*`` blocks every later upgrade ("another operation
    is in progress"): roll it back to the revision before, or uninstall a first install. ``out``:
    ``helm status`` of the release (None: not installed)."""
    if out is None:
        return None
    try:
        status = str(json.loads(out)["info"]["status"])
    except (ValueError, KeyError, TypeError):
        deps.log("could not read the release status from helm status; continuing with the upgrade")
        return None
    if status not in PENDING_STATUSES:
        return status
    deps.log(f"release {spec.physical_id} is {status}: a previous helm was killed before it finished")
    command = uninstall_command if status == "pending-install" else rollback_command
    change(lambda timeout: command(deps.helm, spec, kubeconfig, timeout), spec, deps, env, deadline)
    return status


def install(spec: ReleaseSpec, deps: Deps, workdir: Path, deadline: Deadline, *, create: bool) -> dict[str, str]:
    chart_dir, digest = fetch_and_verify(spec, deps, workdir, deadline)
    env = helm_env(workdir, deps.extra_env)
    if not spec.from_bundle:
        for built in [*(chart_dir / "charts").glob("*.tgz"), chart_dir / "Chart.lock"]:
            built.unlink(missing_ok=True)  # left out of the tree digest: must not survive unverified
        run(
            dependency_build_command(deps.helm, chart_dir),
            env=env,
            deadline=deadline,
            log=deps.log,
            touched_cluster=False,
            cwd=chart_dir,
            limit=max(
                min(
                    DEPENDENCY_BUILD_SECONDS,
                    deadline.remaining() - helm_runner.HELM_RESERVE_SECONDS - helm_runner.MIN_HELM_SECONDS,
                ),
                helm_runner.MIN_RUN_SECONDS,
            ),
        )
    kept = settle_archives(chart_dir, spec.archives, spec.values, deps.log)
    try:
        kubeconfig = cluster_kubeconfig(deps, spec.cluster_name, workdir / "kubeconfig")
    except ClusterGoneError:
        raise HandlerError(f"EKS cluster {spec.cluster_name} does not exist") from None
    status = query(status_command(deps.helm, spec, kubeconfig), deps, env, deadline)
    # Create: a release this resource did not install is the cluster's own (R23P-M1); upgrading it would
    # replace its values and revision, and the rollback Delete would uninstall it. Refused before any
    # change; the physical id is NOT_INSTALLED (touched_cluster False), so that Delete does nothing. A
    # retried Create finds its own label. Update keeps upgrading: CloudFormation updates only a resource
    # whose Create succeeded, and a release installed before the label (hyperpod-cdk 0.1.0) gets it then.
    if create and status is not None and not owns_release(spec, deps, kubeconfig, env, deadline):
        raise HandlerError(foreign_release(spec))
    previous = recover_pending(spec, deps, kubeconfig, env, deadline, status)
    regional = chart_dir / "regional-values" / f"values-{deps.region}.yaml"
    values_files = [regional] if regional.is_file() else []
    values_files.append(write_values_file(workdir / "values.json", spec.values))
    try:
        change(
            lambda timeout: upgrade_command(deps.helm, spec, chart_dir, kubeconfig, values_files, timeout),
            spec,
            deps,
            env,
            deadline,
        )
    except HandlerError as failure:
        if previous is None:
            raise  # a first install: the stack rollback deletes the resource, which uninstalls it
        raise HandlerError(f"{failure}; {roll_back_failed_upgrade(spec, deps, kubeconfig, env, deadline)}") from None
    return {
        "Release": spec.release,
        "Namespace": spec.namespace,
        "Revision": spec.revision,
        "SourceSha256": digest,
        "ChartSha256": spec.chart_sha256,
        "SubCharts": ",".join(kept),
    }


def roll_back_failed_upgrade(
    spec: ReleaseSpec, deps: Deps, kubeconfig: Path, env: Mapping[str, str], deadline: Deadline
) -> str:
    """After a failed upgrade of an existing release: ``helm rollback`` to the revision before it.

    What ``--rollback-on-failure`` (Helm 4) / ``--atomic`` (Helm 3) do, without the ``--wait`` both
    force (the chart's Deployments cannot become ready before HyperPod has nodes; ``wait`` is off by
    default). Returns what happened, for the failure reason.
    """
    try:
        change(lambda timeout: rollback_command(deps.helm, spec, kubeconfig, timeout), spec, deps, env, deadline)
    except HandlerError as exc:
        return f"rolling the release back to its previous revision failed too: {exc}"
    return "rolled the release back to its previous revision"


def roll_back_on_stack_rollback(spec: ReleaseSpec, deps: Deps, workdir: Path, deadline: Deadline) -> str:
    """CloudFormation rolls this resource back to the release before this function's: if the
    function's upgrade completed (``helm history``: deployed, "Upgrade complete"), ``helm rollback``
    to the revision before it; a failed upgrade was rolled back already."""
    try:
        kubeconfig = cluster_kubeconfig(deps, spec.cluster_name, workdir / "kubeconfig")
    except ClusterGoneError:
        return "the cluster no longer exists"
    env = helm_env(workdir, deps.extra_env)
    out = query(history_command(deps.helm, spec, kubeconfig), deps, env, deadline)
    if out is None:
        return "the release is not installed"
    try:
        last = json.loads(out)[-1]
        status, description = str(last["status"]), str(last.get("description", ""))
    except (ValueError, KeyError, TypeError, IndexError):
        return "could not read the release history; left the release as it is"
    if status != "deployed" or not description.startswith("Upgrade complete"):
        return f"the last revision is {status} ({description!r}); left the release as it is"
    change(lambda timeout: rollback_command(deps.helm, spec, kubeconfig, timeout), spec, deps, env, deadline)
    return "rolled the release back to its previous revision"


def uninstall_renamed(spec: ReleaseSpec, deps: Deps, workdir: Path, deadline: Deadline, old_id: str) -> bool:
    """CloudFormation deletes the old physical id after ``Release`` or ``Namespace`` changed: uninstall
    that release if it carries this chart's owner label (installed by this resource, not picked by the
    caller). False when there is no such release (it is left in place)."""
    namespace, _, release = old_id.partition("/")
    if not (DNS_LABEL.fullmatch(namespace) and DNS_LABEL.fullmatch(release)):
        return False
    return uninstall(replace(spec, release=release, namespace=namespace), deps, workdir, deadline) in UNINSTALLED


def uninstall(spec: ReleaseSpec, deps: Deps, workdir: Path, deadline: Deadline) -> str:
    """``helm uninstall`` the release if it carries this chart's owner label. Returns what happened:
    "uninstalled", "gone" (helm: not found), "no cluster" or "left" (no owner label: left in place)."""
    try:
        kubeconfig = cluster_kubeconfig(deps, spec.cluster_name, workdir / "kubeconfig")
    except ClusterGoneError:
        deps.log(f"EKS cluster {spec.cluster_name} no longer exists; nothing to uninstall")
        return "no cluster"
    env = helm_env(workdir, deps.extra_env)
    if not owns_release(spec, deps, kubeconfig, env, deadline):
        # Not installed by hyperpod-cdk (R23P-M1: the cluster owner's release of the same name), not
        # installed at all, or installed before the owner label existed: never uninstall what may not be ours.
        deps.log(
            f"release {spec.physical_id} has no {OWNER_LABEL}={spec.owner} label (not installed by this stack, "
            "or not installed): left in place"
        )
        return "left"
    try:
        change(lambda timeout: uninstall_command(deps.helm, spec, kubeconfig, timeout), spec, deps, env, deadline)
    except CommandError as exc:
        if exc.returncode not in (None, 0) and is_release_not_found(exc.output):
            deps.log(f"release {spec.physical_id} is not installed; nothing to uninstall")
            return "gone"
        raise
    return "uninstalled"


def _refusal(request: Any, old_id: str | None, problems: Sequence[str]) -> Outcome:
    reason = (
        "refused: the request does not match the release fixed in this function's configuration at synth ("
        + "; ".join(problems)
        + "); nothing was done"
    )
    physical = NOT_INSTALLED if request == "Create" else (old_id or NOT_INSTALLED)
    return Outcome("FAILED", physical, reason=reason)


def _stack_rollback(spec: ReleaseSpec, deps: Deps, deadline: Deadline, old_id: Any, fallback_id: str) -> Outcome:
    """CloudFormation rolls this resource back to the release before this function's (see
    :func:`roll_back_on_stack_rollback`); never fails: the stack is already rolling back, and failing would
    leave it UPDATE_ROLLBACK_FAILED."""
    deps.log("update away from this function's release (a stack rollback)")
    if old_id == NOT_INSTALLED:
        # This resource installed nothing: a release there is someone else's (R25P-L2).
        return Outcome("SUCCESS", NOT_INSTALLED, reason="rollback: this resource installed nothing")
    workdir = Path(tempfile.mkdtemp(prefix="helm-deps-", dir=os.environ.get("TMPDIR", "/tmp")))
    try:
        done = roll_back_on_stack_rollback(spec, deps, workdir, deadline)
    except HandlerError as exc:
        done = f"helm rollback failed ({exc}); the release stays on this function's revision"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    deps.log(done)
    return Outcome("SUCCESS", fallback_id, reason=f"rollback: {done}")


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
            return _stack_rollback(spec, deps, deadline, old_id, fallback_id)
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
            # An Update of a resource whose Create was refused (its id says so) is a first install too (R24P-L2).
            data = install(spec, deps, workdir, deadline, create=request == "Create" or old_id == NOT_INSTALLED)
            return Outcome("SUCCESS", spec.physical_id, data=data)
        if request == "Delete":
            uninstall(spec, deps, workdir, deadline)
            return Outcome("SUCCESS", old_id or spec.physical_id)
        raise HandlerError(f"unknown RequestType {request!r}")
    except HandlerError as exc:
        deps.log(f"FAILED: {exc}")
        physical = fallback_id
        if request == "Create" or old_id == NOT_INSTALLED:
            # Keep the real id when helm may have installed something, so the rollback uninstalls it.
            physical = spec.physical_id if exc.touched_cluster else NOT_INSTALLED
        return Outcome("FAILED", physical, reason=str(exc))
    except Exception as exc:  # noqa: BLE001 - CloudFormation must always get an answer
        deps.log(traceback.format_exc())
        # Unknown state after an unexpected error: on Create keep the real id so a rollback cleans up.
        physical = spec.physical_id if request == "Create" or old_id == NOT_INSTALLED else fallback_id
        return Outcome("FAILED", physical, reason=f"{type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


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
