"""Running helm: the command lines, the Lambda deadline, and a process that is stopped in time."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from helm_spec import OWNER_LABEL, SPEC_ENV, HandlerError, ReleaseSpec

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
# Helm 3 and 4: "Error: uninstall: Release not loaded: <name>: release: not found".
_NOT_FOUND = re.compile(r"release: not found", re.IGNORECASE)
_SECRET_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


class CommandError(HandlerError):  # type: ignore[misc]  # helm_spec is a sibling in the Lambda asset: Any to mypy
    def __init__(self, argv: Sequence[str], returncode: int | None, output: str, *, touched_cluster: bool) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.output = output
        what = "timed out and was stopped" if returncode is None else f"exited {returncode}"
        super().__init__(f"`{' '.join(_display(argv))}` {what}: {_tail(output)}", touched_cluster=touched_cluster)


def dependency_build_command(helm: str, chart_dir: Path) -> list[str]:
    return [helm, "dependency", "build", str(chart_dir)]


def upgrade_command(
    helm: str,
    spec: ReleaseSpec,
    chart_dir: Path,
    kubeconfig: Path,
    values_files: Sequence[Path],
    timeout_seconds: int,
) -> list[str]:
    """``helm upgrade --install``; every flag is valid for Helm 3 and Helm 4.

    ``--reset-values`` makes the release exactly chart defaults + these values on every update.
    Integers use ``--set`` because helm reads numbers in values files as floats (1000000 would
    render as 1e+06) while ``--set`` makes a base-10 integer an int64. ``--wait`` is bare (Helm 4
    reads it as ``--wait=watcher``, Helm 3 as true).
    """
    argv = [
        helm,
        "upgrade",
        "--install",
        spec.release,
        str(chart_dir),
        "--namespace",
        spec.namespace,
        "--create-namespace",
        "--kubeconfig",
        str(kubeconfig),
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


def release_command(helm: str, verb: str, spec: ReleaseSpec, kubeconfig: Path, *options: str) -> list[str]:
    """``helm <verb> <release> --namespace <namespace> --kubeconfig <path> <options>``."""
    return [helm, verb, spec.release, "--namespace", spec.namespace, "--kubeconfig", str(kubeconfig), *options]


def uninstall_command(helm: str, spec: ReleaseSpec, kubeconfig: Path, timeout_seconds: int) -> list[str]:
    return release_command(helm, "uninstall", spec, kubeconfig, "--timeout", f"{timeout_seconds}s")


def status_command(helm: str, spec: ReleaseSpec, kubeconfig: Path) -> list[str]:
    return release_command(helm, "status", spec, kubeconfig, "--output", "json")


# Every state `helm list` can filter on: Helm 3 lists only deployed and failed releases by default and
# Helm 4 has no `--all` ("unknown flag: --all", helm 4.1.4 of the kubectl layer); these flags mean the
# same in both (`helm list --help` of 3.17.2 and 4.1.4).
LIST_STATES = ("--deployed", "--failed", "--pending", "--superseded", "--uninstalling", "--uninstalled")


def owned_release_command(helm: str, spec: ReleaseSpec, kubeconfig: Path, namespace: str, release: str) -> list[str]:
    """The release ``namespace/release`` if it carries this chart's owner label.

    ``upgrade --labels`` stores release labels with the release (Helm >= 3.13; in the labels of the
    release Secret, next to Helm's own ``name``/``owner``/``status``) and ``list --selector`` filters
    on them (https://helm.sh/docs/helm/helm_upgrade/, https://helm.sh/docs/helm/helm_list/). The
    kubectl layers bundle Helm 3.17.2 (v32) and 4.1.4 (v33-v35); tests/test_review23_helm_owner.py
    runs both against a fake API server.
    """
    return [
        helm,
        "list",
        "--namespace",
        namespace,
        "--kubeconfig",
        str(kubeconfig),
        *LIST_STATES,
        "--selector",
        f"name={release},{OWNER_LABEL}={spec.owner}",
        "--output",
        "json",
    ]


def history_command(helm: str, spec: ReleaseSpec, kubeconfig: Path) -> list[str]:
    return release_command(helm, "history", spec, kubeconfig, "--max", "1", "--output", "json")


def rollback_command(helm: str, spec: ReleaseSpec, kubeconfig: Path, timeout_seconds: int) -> list[str]:
    # No revision: the one before the current (stuck) revision.
    return release_command(helm, "rollback", spec, kubeconfig, "--timeout", f"{timeout_seconds}s")


def is_release_not_found(output: str) -> bool:
    """Whether helm's output says the release does not exist (the only failure Delete forgives)."""
    return bool(_NOT_FOUND.search(output))


# --------------------------------------------------------------------------- running things


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


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    deadline: Deadline,
    log: Callable[[str], None],
    touched_cluster: bool,
    cwd: Path | None = None,
    limit: float | None = None,
) -> str:
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
    env.update(
        {
            "HOME": str(workdir),
            "HELM_CACHE_HOME": str(workdir / "helm" / "cache"),
            "HELM_CONFIG_HOME": str(workdir / "helm" / "config"),
            "HELM_DATA_HOME": str(workdir / "helm" / "data"),
        }
    )
    env.update(extra)
    return env


def _tail(output: str) -> str:
    output = output.strip()
    return output if len(output) <= REASON_TAIL_CHARS else "..." + output[-REASON_TAIL_CHARS:]


def _display(argv: Sequence[str]) -> list[str]:
    return [str(a) for a in argv]
