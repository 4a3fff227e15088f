"""A fake HyperPod node for the lifecycle script tests (eks/ and slurm/).

Loaded by path from tests/test_lifecycle_scripts.py and tests/test_slurm_lifecycle_scripts.py (pytest
runs with --import-mode=importlib, so tests/ is not importable as a package).

A node is a folder under tmp_path:

- ``lifecycle-scripts/``: a copy of one orchestrator's scripts plus ``lifecycle_scripts/common/``,
  all in one folder, as HyperPod downloads the instance group's S3 prefix;
- ``root/``: the node's file system (``HYPERPOD_LCS_ROOT``);
- ``bin/``: stubs, first on PATH, that append their argv to ``commands.log`` and keep just enough
  state in ``state/`` (mounted paths, active units) for the script to see its own effects.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPTS_DIR = REPO / "lifecycle_scripts"
COMMON_DIR = SCRIPTS_DIR / "common"
BASH = shutil.which("bash") or "/bin/bash"

# Each stub records "<name> <args...>", fails when it is HARNESS_FAIL_CMD, then emulates its command.
STUB_HEADER = f"""#!{BASH}
name="${{0##*/}}"
cmdline="${{name}}${{*:+ $*}}"
printf '%s\\n' "${{cmdline}}" >>"${{HARNESS_CMD_LOG}}"
if [[ -n "${{HARNESS_FAIL_CMD:-}}" && "${{cmdline}}" == "${{HARNESS_FAIL_CMD}}" ]]; then
  exit 1
fi
state="${{HARNESS_STATE}}"
"""

# Stubs both orchestrators use; each test module adds its own (mount, hostname, scontrol).
STUBS = {
    # mountpoint -q PATH: true iff PATH was listed as mounted.
    "mountpoint": 'grep -Fxq -- "${@: -1}" "${state}/mounted"\n',
    # systemctl is-active/stop/disable/start/restart UNIT; anything else (daemon-reload, enable) succeeds.
    "systemctl": textwrap.dedent(
        """\
        unit="${@: -1}"
        case "$1" in
          is-active) grep -Fxq -- "${unit}" "${state}/active" ;;
          stop | disable)
            grep -Fxv -- "${unit}" "${state}/active" >"${state}/active.new" || true
            mv "${state}/active.new" "${state}/active" ;;
          start | restart) printf '%s\\n' "${unit}" >>"${state}/active" ;;
          *) exit 0 ;;
        esac
        """
    ),
    "sync": "exit 0\n",
    "sleep": "exit 0\n",
}

# Commands that only ask: left out of RunResult.actions().
_QUERIES = ("mountpoint", "hostname")


@dataclass
class RunResult:
    returncode: int
    output: str
    commands: list[str]
    log: str  # what this run appended to the provisioning log

    def calls(self, name: str) -> list[str]:
        return [c for c in self.commands if c.split(" ", 1)[0] == name]

    def actions(self) -> list[str]:
        """State-changing commands (queries such as is-active, mountpoint, hostname left out)."""
        return [
            c for c in self.commands
            if c.split()[0] not in _QUERIES and c.split()[:2] != ["systemctl", "is-active"]
        ]


def install_scripts(source_dir: Path, dest: Path) -> Path:
    """Copy source_dir and the shared helpers into one folder, like the deployed S3 prefix."""
    shutil.copytree(source_dir, dest)
    for f in COMMON_DIR.iterdir():
        assert not (dest / f.name).exists(), f"{f.name} is in both {source_dir} and {COMMON_DIR}"
        shutil.copy2(f, dest / f.name)
    return dest


def ok(result: RunResult) -> RunResult:
    assert result.returncode == 0, result.output
    return result


class FakeNode:
    """A fake node running ``source_dir``'s on_create.sh; see the module docstring for the layout."""

    def __init__(self, tmp_path: Path, source_dir: Path, stubs: Mapping[str, str]) -> None:
        self.scripts = install_scripts(source_dir, tmp_path / "lifecycle-scripts")
        self.root = tmp_path / "root"
        self.bin = tmp_path / "bin"
        self.state = tmp_path / "state"
        self.cmd_log = tmp_path / "commands.log"
        for d in (self.root, self.bin, self.state):
            d.mkdir()
        for name, body in {**STUBS, **stubs}.items():
            self.add_stub(name, body)
        self.set_mounted([])
        self.set_active([])

    # -- setup ------------------------------------------------------------
    def p(self, node_path: str) -> Path:
        return self.root / node_path.lstrip("/")

    def write(self, node_path: str, text: str) -> Path:
        f = self.p(node_path)
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
        return f

    def add_stub(self, name: str, body: str) -> None:
        stub = self.bin / name
        stub.write_text(STUB_HEADER + body)
        stub.chmod(0o755)

    def set_mounted(self, node_paths: list[str]) -> None:
        (self.state / "mounted").write_text("".join(f"{self.p(x)}\n" for x in node_paths))

    def set_active(self, units: list[str] | tuple[str, ...]) -> None:
        (self.state / "active").write_text("".join(f"{u}\n" for u in units))

    def harness_env(self) -> dict[str, str]:
        """Extra environment for the stubs (override in a subclass)."""
        return {}

    # -- observation --------------------------------------------------------
    @property
    def log_file(self) -> Path:
        return self.p("/var/log/provision/provisioning.log")

    def mounted(self) -> list[str]:
        return (self.state / "mounted").read_text().split()

    def active(self) -> list[str]:
        return (self.state / "active").read_text().split()

    # -- running ------------------------------------------------------------
    def run(self, *, argv0: list[str] | None = None, **env_overrides: str | None) -> RunResult:
        """Run on_create.sh; an override of None removes that variable."""
        prefixes = ("HYPERPOD_LCS_", "HARNESS_", "SAGEMAKER_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
        env.update(
            PATH=f"{self.bin}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
            PYTHONDONTWRITEBYTECODE="1",
            HYPERPOD_LCS_ROOT=str(self.root),
            HYPERPOD_LCS_FAIL_GRACE_SECONDS="0",
            HARNESS_CMD_LOG=str(self.cmd_log),
            HARNESS_STATE=str(self.state),
            **self.harness_env(),
        )
        for key, value in env_overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        self.cmd_log.write_text("")
        log_before = self.log_file.stat().st_size if self.log_file.exists() else 0
        proc = subprocess.run(
            [*(argv0 or [BASH]), str(self.scripts / "on_create.sh")],
            capture_output=True,
            text=True,
            env=env,
            cwd=self.root,
            timeout=60,
        )
        log_text = ""
        if self.log_file.exists():
            with self.log_file.open() as f:
                f.seek(log_before)
                log_text = f.read()
        return RunResult(proc.returncode, proc.stdout + proc.stderr, self.cmd_log.read_text().splitlines(), log_text)
