"""Fifth review L6: images/image.sh hands the ECR password only to an ECR registry host.

The script runs for real with a fake ``aws`` and ``docker`` first on PATH; both record their argv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "images" / "image.sh"
BASH = shutil.which("bash") or "/bin/bash"
FAKE = (
    '#!/bin/bash\nprintf "%s %s\\n" "${0##*/}" "$*" >>"$CALLS"\n'
    '[[ "$1 $2" == "ecr get-login-password" ]] && echo token\n'
    '[[ "$1" == login ]] && cat >/dev/null\n'  # docker login reads the password (else aws gets SIGPIPE)
    "exit 0\n"
)


def _push(tmp_path: Path, registry: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("aws", "docker"):
        (bin_dir / tool).write_text(FAKE)
        (bin_dir / tool).chmod(0o755)
    calls = tmp_path / "calls"
    calls.touch()
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "CALLS": str(calls),
        "REGISTRY": registry,
    }
    done = subprocess.run(
        [BASH, str(SCRIPT), "push", "unused.yaml", "fsdp"], capture_output=True, text=True, env=env, timeout=60
    )
    return done, calls.read_text().splitlines()


@pytest.mark.parametrize(
    "registry",
    [
        "registry.example.com/",
        "123456789012.dkr.ecr.us-west-2.amazonaws.com.evil.example/",
        "123456789012.dkr.ecr.us-west-2.amazonaws.com:443/",
        "12345.dkr.ecr.us-west-2.amazonaws.com/",
    ],
)
def test_push_refuses_a_registry_that_is_not_ecr_before_any_login(tmp_path: Path, registry: str) -> None:
    done, calls = _push(tmp_path, registry)
    assert done.returncode == 2
    assert "is not an ECR registry" in done.stderr
    assert calls == []  # no get-login-password, no docker login


def test_push_logs_in_to_the_ecr_host_of_its_region(tmp_path: Path) -> None:
    done, calls = _push(tmp_path, "123456789012.dkr.ecr.eu-west-1.amazonaws.com/hyperpod-demo/")
    assert done.returncode == 0, done.stderr
    # `aws ... | docker login ...` is a pipeline: the two record themselves in either order.
    assert sorted(calls[:2]) == [
        "aws ecr get-login-password --region eu-west-1",
        "docker login --username AWS --password-stdin 123456789012.dkr.ecr.eu-west-1.amazonaws.com",
    ]
    assert calls[2].startswith("docker buildx build --platform linux/amd64 --push -t ")


# --- review round 8 (tools), L4: `make jobs` writes only a registry it could read and check -------------

REPO = SCRIPT.parents[1]


def _registry(tmp_path: Path, registry: str | None, describe: str = "exit 0") -> subprocess.CompletedProcess[str]:
    """``image.sh registry`` with REGISTRY, or with a fake ``aws`` (``describe``) and a fake config reader."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").write_text(f"#!/bin/bash\n{describe}\n")
    (bin_dir / "aws").chmod(0o755)
    py = bin_dir / "py"
    py.write_text('#!/bin/bash\necho "demo-platform us-west-2"\n')
    py.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PY": str(py)}
    env.pop("REGISTRY", None)
    if registry is not None:
        env["REGISTRY"] = registry
    return subprocess.run(
        [BASH, str(SCRIPT), "registry", "unused.yaml"], capture_output=True, text=True, env=env, timeout=60
    )


@pytest.mark.parametrize("registry", ["fsdp", "a b/", "registry.example.com", "x/'; rm -rf /'/", "host/\n/"])
def test_registry_refuses_a_value_that_is_not_host_and_path(tmp_path: Path, registry: str) -> None:
    done = _registry(tmp_path, registry)
    assert done.returncode == 2 and "is not <host>/<path>/" in done.stderr and done.stdout == ""


def test_registry_prints_a_checked_value(tmp_path: Path) -> None:
    done = _registry(tmp_path, None, describe='echo "123456789012.dkr.ecr.us-west-2.amazonaws.com/demo/"')
    assert (done.returncode, done.stdout) == (0, "123456789012.dkr.ecr.us-west-2.amazonaws.com/demo/\n")


@pytest.mark.parametrize("describe", ["exit 255", "echo None"], ids=["no-credentials", "no-output"])
def test_registry_fails_when_the_stack_lookup_fails(tmp_path: Path, describe: str) -> None:
    done = _registry(tmp_path, None, describe=describe)
    assert done.returncode != 0 and done.stdout == ""


def test_make_jobs_stops_when_the_registry_is_refused(tmp_path: Path) -> None:
    """Before: `make jobs` exited 0 and wrote `image: fsdp:pytorch2.7.1` (a Docker Hub short name).

    A fake PY stands in for the manifest generator (it writes nothing), so only the registry step runs.
    """
    fake = tmp_path / "py"
    fake.write_text("#!/bin/bash\nexit 0\n")
    fake.chmod(0o755)
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    env = {**os.environ, "REGISTRY": "not a registry"}
    done = subprocess.run(
        [make, "-s", "-C", str(REPO), "jobs", f"PY={fake}", "CONFIG=hyperpod.yaml"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode != 0, done.stdout
    assert "is not <host>/<path>/" in done.stderr
    assert "dist/jobs: images from" not in done.stdout
