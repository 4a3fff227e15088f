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
