"""Tests for the HyperPod Slurm lifecycle scripts (lifecycle_scripts/slurm) on a fake node.

The scripts run for real (bash and python3) against a fake node root (HYPERPOD_LCS_ROOT) holding
HyperPod's resource_config.json, a base slurm.conf and /etc/fstab. systemctl, mount, mountpoint,
hostname, scontrol, sync and sleep are stubs on PATH that record their argv and keep just enough
state (active units, mounted paths) for the script to see its own effects.

provisioning_parameters.json is produced by hyperpod_cdk.specs.slurm from typed instance
groups, the same call the CDK app makes, so the generator and the scripts are tested together.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hyperpod_cdk.config import InstanceGroup
from hyperpod_cdk.specs.slurm import provisioning_parameters, slurm_layout
from hyperpod_cdk.storage.fsx_lustre import LustreMount

_spec = importlib.util.spec_from_file_location("lcs_harness", Path(__file__).with_name("lcs_harness.py"))
lcs = sys.modules.setdefault("lcs_harness", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(lcs)  # registered first: dataclasses look their module up in sys.modules

SLURM_DIR = lcs.SCRIPTS_DIR / "slurm"
BASH = lcs.BASH
RunResult = lcs.RunResult
_ok = lcs.ok
pytestmark = pytest.mark.skipif(not Path(BASH).exists() or not shutil.which("python3"), reason="needs bash, python3")

GROUPS = [
    InstanceGroup(name="controller", instance_type="ml.m5.2xlarge", instance_count=1, slurm_node_type="Controller"),
    InstanceGroup(name="login", instance_type="ml.m5.2xlarge", instance_count=1, slurm_node_type="Login"),
    InstanceGroup(name="gpu", instance_type="ml.g5.8xlarge", instance_count=2, partition="train"),
    InstanceGroup(name="cpu", instance_type="ml.c5.4xlarge", instance_count=1, partition="dev"),
]
FSX = LustreMount("fs-0123456789abcdef0", "fs-0123456789abcdef0.fsx.us-west-2.amazonaws.com", "abcdefgh")
FSX_SOURCE = f"{FSX.dns_name}@tcp:/{FSX.mount_name}"
FSTAB_LINE = (
    f"{FSX_SOURCE} /fsx lustre defaults,relatime,flock,_netdev,x-systemd.automount,"
    "x-systemd.requires=network.service 0 0"
)
IPS = {"controller": ["10.1.0.10"], "login": ["10.1.0.11"], "gpu": ["10.1.0.20", "10.1.0.21"], "cpu": ["10.1.0.30"]}
BASE_SLURM_CONF = "ClusterName=hyperpod-demo\nSlurmUser=slurm\nAuthType=auth/munge\n"
EXPECTED_BLOCK = [
    "# BEGIN hyperpod-cdk (written by on_create.sh from provisioning_parameters.json; do not edit)",
    "SlurmctldHost=ip-10-1-0-10(10.1.0.10)",
    "NodeName=ip-10-1-0-20 NodeHostname=ip-10-1-0-20 NodeAddr=10.1.0.20 Feature=gpu State=UNKNOWN",
    "NodeName=ip-10-1-0-21 NodeHostname=ip-10-1-0-21 NodeAddr=10.1.0.21 Feature=gpu State=UNKNOWN",
    "NodeName=ip-10-1-0-30 NodeHostname=ip-10-1-0-30 NodeAddr=10.1.0.30 Feature=cpu State=UNKNOWN",
    "PartitionName=train Nodes=ip-10-1-0-20,ip-10-1-0-21 Default=YES MaxTime=INFINITE State=UP",
    "PartitionName=dev Nodes=ip-10-1-0-30 MaxTime=INFINITE State=UP",
    "# END hyperpod-cdk",
]

# The other stubs (mountpoint, systemctl, sync, sleep) are in lcs_harness.
_STUBS = {
    "hostname": 'if [[ "${1:-}" == "-I" ]]; then printf "%s \\n" "${HARNESS_NODE_IPS}"; else echo fake-host; fi\n',
    # mount -t lustre -o OPTS SRC DST; HARNESS_MOUNT_FAILURES makes the first N attempts fail.
    "mount": textwrap.dedent(
        """\
        failures="$(cat "${state}/mount_failures" 2>/dev/null || echo 0)"
        if ((failures > 0)); then
          echo $((failures - 1)) >"${state}/mount_failures"
          echo "mount.lustre: mount ${@: -2:1} at ${@: -1} failed: No such file or directory" >&2
          exit 2
        fi
        printf '%s\\n' "${@: -1}" >>"${state}/mounted"
        """
    ),
    # scontrol ping answers UP once slurmctld was started (unless HARNESS_CTLD_DOWN is set).
    "scontrol": textwrap.dedent(
        """\
        if [[ "$1" == ping ]]; then
          if [[ -z "${HARNESS_CTLD_DOWN:-}" ]] && grep -Fxq slurmctld "${state}/active"; then
            echo "Slurmctld(primary) at ip-10-1-0-10 is UP"
          else
            echo "Slurmctld(primary) at ip-10-1-0-10 is DOWN"; exit 1
          fi
        fi
        """
    ),
}


def resource_config(ips: dict[str, list[str]]) -> dict:
    types = {g.name: g.instance_type for g in GROUPS}
    return {
        "ClusterConfig": {"ClusterArn": "arn:aws:sagemaker:us-west-2:123456789012:cluster/abc123def456",
                          "ClusterName": "hyperpod-demo"},
        "InstanceGroups": [
            {"Name": group, "InstanceType": types.get(group, "ml.m5.2xlarge"), "Instances": [
                {"CustomerIpAddress": ip, "AgentIpAddress": f"172.16.0.{i}", "InstanceId": f"i-0{i:016x}",
                 "InstanceName": f"{group}-{i}"}
                for i, ip in enumerate(addresses, start=1)
            ]}
            for group, addresses in ips.items()
        ],
    }


class FakeSlurmNode(lcs.FakeNode):
    def __init__(self, tmp_path: Path, group: str, *, fsx: LustreMount | None = FSX,
                 slurm_conf: str = BASE_SLURM_CONF, active: tuple[str, ...] = ("munge",)) -> None:
        super().__init__(tmp_path, SLURM_DIR, _STUBS)
        params = provisioning_parameters(slurm_layout(GROUPS), fsx)
        (self.scripts / "provisioning_parameters.json").write_text(json.dumps(params, indent=2))
        self.write("/opt/ml/config/resource_config.json", json.dumps(resource_config(IPS)))
        self.write("/opt/slurm/etc/slurm.conf", slurm_conf)
        self.write("/etc/fstab", "UUID=1234 / ext4 defaults 1 1\n")
        self.set_active(active)
        self.node_ips = f"{IPS[group][0]} 172.16.0.9"

    def harness_env(self) -> dict[str, str]:
        return {"HARNESS_NODE_IPS": self.node_ips}


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[FakeSlurmNode, RunResult]]:
    """One successful first boot per role, shared by the read-only tests."""
    login = FakeSlurmNode(tmp_path_factory.mktemp("login"), "login", active=("munge", "slurmd"))
    done = {"login": (login, _ok(login.run()))}
    for group in ("controller", "gpu"):
        node = FakeSlurmNode(tmp_path_factory.mktemp(group), group)
        done[group] = (node, _ok(node.run()))
    return done


# ---------------------------------------------------------------------------
# What a real node does, per role
# ---------------------------------------------------------------------------


def test_controller_mounts_fsx_and_starts_slurmctld(nodes) -> None:
    node, result = nodes["controller"]
    assert result.actions() == [
        f"mount -t lustre -o relatime,flock {FSX_SOURCE} {node.root}/fsx",
        "systemctl enable slurmctld",
        "systemctl start slurmctld",
        "scontrol ping",
    ]
    assert "munge" in node.active() and "slurmctld" in node.active() and "slurmd" not in node.active()
    assert "this node is ip-10-1-0-10 (10.1.0.10) in group controller, role controller" in result.log


def test_compute_node_starts_slurmd_in_its_partition(nodes) -> None:
    node, result = nodes["gpu"]
    assert result.actions() == [
        f"mount -t lustre -o relatime,flock {FSX_SOURCE} {node.root}/fsx",
        "systemctl enable slurmd",
        "systemctl start slurmd",
    ]
    assert node.active() == ["munge", "slurmd"]
    assert "in group gpu, role compute, partition train" in result.log


def test_login_node_runs_no_slurm_daemon(nodes) -> None:
    node, result = nodes["login"]
    assert result.actions() == [
        f"mount -t lustre -o relatime,flock {FSX_SOURCE} {node.root}/fsx",
        "systemctl disable --now slurmd",
    ]
    assert node.active() == ["munge"]
    assert "role login" in result.log


def test_every_node_writes_the_same_slurm_conf_block(nodes) -> None:
    texts = {group: node.p("/opt/slurm/etc/slurm.conf").read_text() for group, (node, _) in nodes.items()}
    assert len(set(texts.values())) == 1, "nodes must agree on slurm.conf"
    lines = texts["controller"].splitlines()
    assert lines == BASE_SLURM_CONF.splitlines() + EXPECTED_BLOCK
    node = nodes["controller"][0]
    assert node.p("/opt/slurm/etc/slurm.conf.hyperpod-cdk.bak").read_text() == BASE_SLURM_CONF
    assert "[configure-slurm] slurm.conf: PartitionName=train" in nodes["gpu"][1].log


def test_fstab_and_profile(nodes) -> None:
    node, _ = nodes["gpu"]
    assert node.p("/etc/fstab").read_text().splitlines() == ["UUID=1234 / ext4 defaults 1 1", FSTAB_LINE]
    assert node.p("/etc/fstab.hyperpod-cdk.bak").read_text() == "UUID=1234 / ext4 defaults 1 1\n"
    assert str(node.root) not in node.p("/etc/fstab").read_text()
    assert "/opt/slurm/bin" in node.p("/etc/profile.d/hyperpod-cdk-slurm.sh").read_text()


def test_log_names_every_step(nodes) -> None:
    _, result = nodes["controller"]
    for marker in ("[preflight]", "[identify-node]", "[mount-fsx] + mount -t lustre", "[configure-slurm]",
                   "[start-services] + systemctl start slurmctld", "[wait-for-slurmctld] Slurmctld(primary)",
                   "[finished] ==> on_create.sh finished: controller node ip-10-1-0-10"):
        assert marker in result.log, marker
    assert "[finished]" in result.output  # stdout goes to CloudWatch too


def test_second_run_changes_nothing(tmp_path: Path) -> None:
    node = FakeSlurmNode(tmp_path, "cpu")
    _ok(node.run())
    conf, fstab = node.p("/opt/slurm/etc/slurm.conf").read_text(), node.p("/etc/fstab").read_text()
    again = _ok(node.run())
    assert again.actions() == ["systemctl enable slurmd"], "no remount, no restart"
    assert node.p("/opt/slurm/etc/slurm.conf").read_text() == conf
    assert node.p("/etc/fstab").read_text() == fstab
    assert "already mounted" in again.log and "unchanged" in again.log


def test_changed_slurm_conf_restarts_a_running_daemon(tmp_path: Path) -> None:
    node = FakeSlurmNode(tmp_path, "gpu", active=("munge", "slurmd"))
    result = _ok(node.run())
    assert "systemctl restart slurmd" in result.actions()
    assert "systemctl start slurmd" not in result.actions()


def test_definitions_already_in_slurm_conf_are_kept(tmp_path: Path) -> None:
    """On the HyperPod AMI the platform may already define nodes and partitions: no duplicates."""
    existing = (BASE_SLURM_CONF + "SlurmctldHost=ip-10-1-0-10\n"
                "NodeName=ip-10-1-0-20 CPUs=32 RealMemory=120000 Gres=gpu:1\n"
                "PartitionName=train Nodes=ip-10-1-0-20,ip-10-1-0-21 Default=YES\n")
    node = FakeSlurmNode(tmp_path, "cpu", slurm_conf=existing)
    result = _ok(node.run())
    text = node.p("/opt/slurm/etc/slurm.conf").read_text()
    assert text.count("PartitionName=train") == 1 and text.count("NodeName=ip-10-1-0-20") == 1
    assert text.count("SlurmctldHost=") == 1
    assert "NodeName=ip-10-1-0-21 NodeHostname=ip-10-1-0-21" in text
    assert "PartitionName=dev Nodes=ip-10-1-0-30 MaxTime=INFINITE State=UP" in text  # no second default
    assert "partition train is already defined in slurm.conf; keeping that definition" in result.log


def test_mount_is_retried(tmp_path: Path) -> None:
    node = FakeSlurmNode(tmp_path, "gpu")
    (node.state / "mount_failures").write_text("2")
    result = _ok(node.run(HYPERPOD_LCS_FSX_RETRY_SECONDS="7"))
    mounts = [c for c in result.actions() if c.startswith("mount ")]
    assert len(mounts) == 3
    assert [c for c in result.actions() if c.startswith("sleep")] == ["sleep 7", "sleep 7"]
    assert "mount attempt 1 of 5 failed; retrying in 7s" in result.log


def test_no_fsx_means_no_mount(tmp_path: Path) -> None:
    node = FakeSlurmNode(tmp_path, "gpu", fsx=None)
    result = _ok(node.run())
    assert not any(c.startswith("mount ") for c in result.actions())
    assert "lustre" not in node.p("/etc/fstab").read_text()
    assert "no FSx file system in provisioning_parameters.json" in result.log


# ---------------------------------------------------------------------------
# Failures: loud, logged, synced, non-zero
# ---------------------------------------------------------------------------


def test_fsx_that_never_mounts_fails_the_node(tmp_path: Path) -> None:
    node = FakeSlurmNode(tmp_path, "gpu")
    (node.state / "mount_failures").write_text("99")
    result = node.run(HYPERPOD_LCS_FAIL_GRACE_SECONDS=None, HYPERPOD_LCS_FSX_MOUNT_ATTEMPTS="3")
    assert result.returncode == 1
    assert f"could not mount {FSX_SOURCE} after 3 attempts" in result.log
    assert "provisioning FAILED in step 'mount-fsx' (exit code 1)" in result.log
    assert result.actions()[-2:] == ["sync", "sleep 60"]  # flush, then the default grace for CloudWatch
    assert not any(c.startswith("systemctl") for c in result.actions()), "no daemon may start"
    assert node.p("/opt/slurm/etc/slurm.conf").read_text() == BASE_SLURM_CONF
    assert "lustre" not in node.p("/etc/fstab").read_text()


def test_failing_command_is_reported_with_line_and_exit_code(tmp_path: Path) -> None:
    node = FakeSlurmNode(tmp_path, "gpu")
    result = node.run(HARNESS_FAIL_CMD="systemctl start slurmd")
    assert result.returncode == 1
    assert "ERROR: command 'systemctl start slurmd' exited with 1 at lcs_common.sh:" in result.log
    assert "in ensure_running() at on_create.sh:" in result.log
    assert "provisioning FAILED in step 'start-services' (exit code 1)" in result.log
    assert result.actions()[-1] == "sync"


def test_slurmctld_that_never_answers_fails_the_controller(tmp_path: Path) -> None:
    node = FakeSlurmNode(tmp_path, "controller")
    result = node.run(HARNESS_CTLD_DOWN="1", HYPERPOD_LCS_SLURMCTLD_WAIT_SECONDS="10",
                      HYPERPOD_LCS_SLURMCTLD_POLL_SECONDS="5")
    assert result.returncode == 1
    assert [c for c in result.actions() if c == "scontrol ping"] == ["scontrol ping"] * 3
    assert "slurmctld did not answer within 10s" in result.log
    assert "FAILED in step 'wait-for-slurmctld'" in result.log


def test_node_missing_from_resource_config_fails(tmp_path: Path) -> None:
    node = FakeSlurmNode(tmp_path, "gpu")
    node.node_ips = "10.9.9.9"
    result = node.run()
    assert result.returncode != 0
    assert "none of this node's addresses ['10.9.9.9'] is a CustomerIpAddress" in result.log
    assert "FAILED in step 'identify-node'" in result.log
    assert not any(c.startswith(("mount ", "systemctl")) for c in result.actions())


def test_group_missing_from_parameters_fails(tmp_path: Path) -> None:
    """Parameters of another cluster (a group the file does not name) must not half-configure a node."""
    node = FakeSlurmNode(tmp_path, "gpu")
    params = json.loads((node.scripts / "provisioning_parameters.json").read_text())
    params["worker_groups"] = [w for w in params["worker_groups"] if w["instance_group_name"] != "gpu"]
    (node.scripts / "provisioning_parameters.json").write_text(json.dumps(params))
    result = node.run()
    assert result.returncode != 0
    assert "instance group gpu is not in provisioning_parameters.json" in result.log


def test_missing_parameters_file_fails(tmp_path: Path) -> None:
    node = FakeSlurmNode(tmp_path, "gpu")
    (node.scripts / "provisioning_parameters.json").unlink()
    result = node.run()
    assert result.returncode == 1
    assert "no provisioning_parameters.json next to on_create.sh" in result.log


def test_conflicting_fstab_entry_is_refused(tmp_path: Path) -> None:
    node = FakeSlurmNode(tmp_path, "gpu")
    node.write("/etc/fstab", "UUID=1234 / ext4 defaults 1 1\nfs-other.fsx@tcp:/zzz /fsx lustre defaults 0 0\n")
    result = node.run()
    assert result.returncode == 1
    assert "/etc/fstab already has a different entry for /fsx" in result.log
    assert not any(c.startswith("mount ") for c in result.actions())


def test_resource_config_path_from_sagemaker_variable(tmp_path: Path) -> None:
    node = FakeSlurmNode(tmp_path, "gpu")
    node.p("/opt/ml/config/resource_config.json").rename(node.p("/opt/ml/config/other.json"))
    _ok(node.run(SAGEMAKER_RESOURCE_CONFIG_PATH="/opt/ml/config/other.json"))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("{not json", "is not readable JSON"),
        ('{"controller_group": "controller", "worker_groups": []}', "worker_groups must be a non-empty list"),
        ('{"controller_group": "c", "worker_groups": [{"instance_group_name": "g", "partition_name": "a b"}]}',
         "is not an instance group or partition name"),
        ('{"controller_group": "c", "worker_groups": [{"instance_group_name": "g", "partition_name": "p"}], '
         '"fsx_dns_name": "fs-1.fsx.us-west-2.amazonaws.com"}', "fsx_dns_name and fsx_mountname go together"),
    ],
)
def test_helper_rejects_malformed_parameters(tmp_path: Path, params: str, message: str) -> None:
    (tmp_path / "params.json").write_text(params)
    (tmp_path / "resource_config.json").write_text(json.dumps(resource_config(IPS)))
    proc = subprocess.run(
        ["python3", str(SLURM_DIR / "slurm_params.py"), "node-env", "--params", str(tmp_path / "params.json"),
         "--resource-config", str(tmp_path / "resource_config.json"), "--local-ips", "10.1.0.20"],
        capture_output=True, text=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}, timeout=30,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert message in proc.stderr
