"""The FSx team-directory Job's program, run as the rendered manifest has it on a local stand-in root.

Sixth review (issue 18), N2: before the per-team layout every team had the whole file system, so it
may have planted `/teams/<other>` (mode 0777, files hard-linked into its own tree) or a symlink there.
The Job must not adopt any of it, never follow a link, and keep what it made itself on a re-run.
L3: `teams[].fsx_owner` gives a new directory the team's uid:gid.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import cdk8s
import pytest

from hyperpod_cdk.kubernetes.charts import FsxVolume, HyperPodOperatorChart, Team

FSX = FsxVolume(file_system_id="fs-0123456789abcdef0", dns_name="fs-0123.fsx.example", mount_name="abcdefgh")


@pytest.fixture(scope="module")
def jobs() -> dict[str, dict[str, Any]]:
    teams = [Team(name="alpha"), Team(name="beta"), Team(name="gamma", fsx_owner="1000:2000")]
    docs = HyperPodOperatorChart(cdk8s.App(), "dirs", teams=teams, fsx=FSX).to_json()
    return {d["spec"]["template"]["metadata"]["labels"]["hyperpod-cdk/team"]: d for d in docs if d["kind"] == "Job"}


def container(job: dict[str, Any]) -> dict[str, Any]:
    (only,) = job["spec"]["template"]["spec"]["containers"]
    return only


def run_job(job: dict[str, Any], root: Path) -> subprocess.CompletedProcess[str]:
    """The container's command with the root claim's mount point (/fsx) moved to ``root``."""
    command = container(job)["command"]
    assert command[0] == "python3"
    args = [str(root) if arg == "/fsx" else arg.replace("'/fsx/", f"'{root}/") for arg in command[1:]]
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, check=False)


def aside(root: Path) -> list[str]:
    return sorted(p.name for p in (root / ".hyperpod-cdk" / "preexisting").iterdir())


def test_a_fresh_root_gets_the_directory_and_a_root_only_record(jobs, tmp_path: Path) -> None:
    assert run_job(jobs["beta"], tmp_path).returncode == 0
    beta = tmp_path / "teams" / "beta"
    info = os.lstat(beta)
    assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o755 and (info.st_uid, info.st_gid) == (0, 0)
    record = tmp_path / ".hyperpod-cdk" / "created" / "beta"
    assert record.is_file() and f"inode {info.st_ino}" in record.read_text()
    # The state sits at the root (no team mounts it), root's only.
    assert stat.S_IMODE(os.lstat(tmp_path / ".hyperpod-cdk").st_mode) == 0o700
    assert aside(tmp_path) == []


def test_a_rerun_keeps_the_directory_it_made(jobs, tmp_path: Path) -> None:
    assert run_job(jobs["beta"], tmp_path).returncode == 0
    beta = tmp_path / "teams" / "beta"
    (beta / "checkpoint.pt").write_text("beta's own")
    inode = os.lstat(beta).st_ino
    result = run_job(jobs["beta"], tmp_path)
    assert result.returncode == 0 and "left as it is" in result.stdout
    assert os.lstat(beta).st_ino == inode and (beta / "checkpoint.pt").read_text() == "beta's own"
    assert aside(tmp_path) == []


def test_a_directory_planted_before_the_upgrade_is_moved_aside(jobs, tmp_path: Path) -> None:
    """alpha, root on the whole file system before the upgrade, made /teams/beta (0777) and hard-linked into it."""
    planted = tmp_path / "teams" / "beta" / "checkpoints"
    planted.mkdir(parents=True)
    (planted / "step_1000.pt").write_text("alpha's poisoned checkpoint")
    stash = tmp_path / "teams" / "alpha" / ".stash"
    stash.mkdir(parents=True)
    os.link(planted / "step_1000.pt", stash / "beta-step1000.pt")
    (tmp_path / "teams" / "beta").chmod(0o777)
    old_inode = os.lstat(tmp_path / "teams" / "beta").st_ino

    result = run_job(jobs["beta"], tmp_path)
    assert result.returncode == 0, result.stderr
    beta = tmp_path / "teams" / "beta"
    info = os.lstat(beta)
    assert info.st_ino != old_inode and list(beta.iterdir()) == []
    assert stat.S_IMODE(info.st_mode) == 0o755
    (moved,) = aside(tmp_path)
    assert moved.startswith("beta-") and moved.endswith("Z")
    kept = tmp_path / ".hyperpod-cdk" / "preexisting" / moved / "checkpoints" / "step_1000.pt"
    assert kept.read_text() == "alpha's poisoned checkpoint"  # kept for an admin, outside /teams


def test_a_symlink_planted_at_the_team_directory_is_not_followed(jobs, tmp_path: Path) -> None:
    alpha = tmp_path / "teams" / "alpha"
    alpha.mkdir(parents=True)
    os.symlink("alpha", tmp_path / "teams" / "beta")
    assert run_job(jobs["beta"], tmp_path).returncode == 0
    beta = tmp_path / "teams" / "beta"
    assert stat.S_ISDIR(os.lstat(beta).st_mode)  # a plain directory, not the link (Lustre's fileset needs one)
    (moved,) = aside(tmp_path)
    assert (tmp_path / ".hyperpod-cdk" / "preexisting" / moved).is_symlink()
    assert list(alpha.iterdir()) == []


def test_a_teams_symlink_is_moved_aside_and_its_target_untouched(jobs, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink("elsewhere", tmp_path / "teams")
    assert run_job(jobs["beta"], tmp_path).returncode == 0
    assert stat.S_ISDIR(os.lstat(tmp_path / "teams").st_mode)
    assert stat.S_ISDIR(os.lstat(tmp_path / "teams" / "beta").st_mode)
    assert list(elsewhere.iterdir()) == []  # nothing was made through the link
    (moved,) = aside(tmp_path)
    assert moved.startswith("teams-")


def test_a_recorded_directory_replaced_by_a_link_is_replaced(jobs, tmp_path: Path) -> None:
    assert run_job(jobs["beta"], tmp_path).returncode == 0
    beta = tmp_path / "teams" / "beta"
    beta.rmdir()
    (tmp_path / "teams" / "alpha").mkdir()
    os.symlink("alpha", beta)
    assert run_job(jobs["beta"], tmp_path).returncode == 0
    assert stat.S_ISDIR(os.lstat(beta).st_mode)
    assert [name.split("-")[0] for name in aside(tmp_path)] == ["beta", "beta.record"]  # the link and its stale record


def test_a_planted_state_directory_link_is_not_followed(jobs, tmp_path: Path) -> None:
    """The record lives at the root; a link there (made before the upgrade) is renamed away, not written through."""
    (tmp_path / "teams" / "alpha").mkdir(parents=True)
    os.symlink("teams/alpha", tmp_path / ".hyperpod-cdk")
    assert run_job(jobs["beta"], tmp_path).returncode == 0
    assert stat.S_ISDIR(os.lstat(tmp_path / ".hyperpod-cdk").st_mode)
    assert list((tmp_path / "teams" / "alpha").iterdir()) == []


def test_a_team_with_fsx_owner_gets_its_directory_with_that_uid_and_gid(jobs, tmp_path: Path) -> None:
    """L3: non-root pods (every restricted team) can write their own directory."""
    if os.geteuid() != 0:
        pytest.skip("chown to another uid needs root")
    assert container(jobs["gamma"])["securityContext"]["capabilities"] == {
        "drop": ["ALL"],
        "add": ["CHOWN", "DAC_OVERRIDE"],
    }
    assert container(jobs["beta"])["securityContext"]["capabilities"]["add"] == ["DAC_OVERRIDE"]
    assert run_job(jobs["gamma"], tmp_path).returncode == 0
    info = os.lstat(tmp_path / "teams" / "gamma")
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (1000, 2000, 0o770)
    assert "owner 1000:2000" in (tmp_path / ".hyperpod-cdk" / "created" / "gamma").read_text()
