"""Tests for the HyperPod Slurm lifecycle scripts (lifecycle_scripts/slurm) on a fake node.

The scripts run for real (bash and python3) against a fake node root (HYPERPOD_LCS_ROOT) that
holds what HyperPod provides on each node type (tests/lcs_harness.py, HyperPodSlurmNode): the
resource_config.json and the parameters everywhere, the cluster agent's slurm.conf on the
controller only, the Slurm AMI's units. systemctl, scontrol, mount and the Lustre tools are stubs
that behave like the real ones where it matters: slurmd caches the controller's slurm.conf only
when started with --conf-server naming it, and scontrol needs a configuration source.

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
    "x-systemd.requires=network-online.target 0 0"
)
IPS = {"controller": ["10.1.0.10"], "login": ["10.1.0.11"], "gpu": ["10.1.0.20", "10.1.0.21"], "cpu": ["10.1.0.30"]}
CONTROLLER_IP = IPS["controller"][0]
AGENT_CONF = lcs.agent_slurm_conf(CONTROLLER_IP, {"train": IPS["gpu"], "dev": IPS["cpu"]})
LUSTRE_SETUP = ["modprobe lnet", "modprobe lustre", "lctl network up"]
ROLES = {"controller": "controller", "login": "login", "gpu": "compute", "cpu": "compute"}


def resource_config(ips: dict[str, list[str]]) -> dict:
    types = {g.name: g.instance_type for g in GROUPS}
    return {
        "ClusterConfig": {
            "ClusterArn": "arn:aws:sagemaker:us-west-2:123456789012:cluster/abc123def456",
            "ClusterName": "hyperpod-demo",
        },
        "InstanceGroups": [
            {
                "Name": group,
                "InstanceType": types.get(group, "ml.m5.2xlarge"),
                "Instances": [
                    {
                        "CustomerIpAddress": ip,
                        "AgentIpAddress": f"172.16.0.{i}",
                        "InstanceId": f"i-0{i:016x}",
                        "InstanceName": f"{group}-{i}",
                    }
                    for i, ip in enumerate(addresses, start=1)
                ],
            }
            for group, addresses in ips.items()
        ],
    }


def FakeSlurmNode(  # noqa: N802 - a factory
    tmp_path: Path,
    group: str,
    *,
    fsx: LustreMount | None = FSX,
    agent_delay: int | None = 0,
    active: tuple[str, ...] = ("munge",),
) -> lcs.HyperPodSlurmNode:
    """A node of ``group`` as HyperPod hands it to on_create.sh."""
    return lcs.HyperPodSlurmNode(
        tmp_path,
        SLURM_DIR,
        node_type=ROLES[group],
        node_ip=IPS[group][0],
        controller_ip=CONTROLLER_IP,
        params=provisioning_parameters(slurm_layout(GROUPS), fsx),
        resource_config=resource_config(IPS),
        controller_conf=AGENT_CONF,
        agent_delay=agent_delay,
        active=active,
    )


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[lcs.HyperPodSlurmNode, RunResult]]:
    """One successful first boot per role, shared by the read-only tests."""
    done = {}
    for group in ("controller", "login", "gpu"):
        node = FakeSlurmNode(tmp_path_factory.mktemp(group), group)
        done[group] = (node, _ok(node.run()))
    return done


# ---------------------------------------------------------------------------
# What a real node does, per role
# ---------------------------------------------------------------------------


def test_controller_uses_the_agents_slurm_conf_and_starts_slurmctld(nodes) -> None:
    node, result = nodes["controller"]
    assert result.actions() == [
        *LUSTRE_SETUP,
        f"mount -t lustre -o relatime,flock {FSX_SOURCE} {node.root}/fsx",
        "systemctl disable slurmd",
        "systemctl daemon-reload",
        "systemctl enable slurmctld",
        "systemctl start slurmctld",
        "scontrol ping",
    ]
    # HyperPod's agent owns slurm.conf: not one byte is changed.
    assert node.p("/opt/slurm/etc/slurm.conf").read_text() == AGENT_CONF
    assert not node.p("/etc/systemd/system/slurmd.service").exists(), "slurmd can never start on the controller"
    assert node.p("/etc/systemd/system/slurmd.service.hyperpod-cdk-retired").exists()
    assert "munge" in node.active() and "slurmctld" in node.active() and "slurmd" not in node.active()
    assert "this node is ip-10-1-0-10 (10.1.0.10) in group controller, role controller" in result.log


@pytest.mark.parametrize("group", ["gpu", "login"])
def test_compute_and_login_nodes_come_up_without_a_local_slurm_conf(nodes, group: str) -> None:
    """HyperPod runs Slurm configless: no slurm.conf on these nodes, slurmd --conf-server fetches it."""
    node, result = nodes[group]
    assert not node.p("/opt/slurm/etc/slurm.conf").exists()
    assert result.actions() == [
        *LUSTRE_SETUP,
        f"mount -t lustre -o relatime,flock {FSX_SOURCE} {node.root}/fsx",
        "systemctl disable slurmctld",
        "systemctl daemon-reload",
        "systemctl enable slurmd",
        "systemctl start slurmd",
        "scontrol ping",
    ]
    unit = node.p("/etc/systemd/system/slurmd.service").read_text()
    assert "ExecStart=/opt/slurm/sbin/slurmd -D -s --conf-server 10.1.0.10\n" in unit
    assert "SLURMD_OPTIONS" not in unit
    assert node.p("/etc/systemd/system/slurmd.service.hyperpod-cdk.orig").read_text() == lcs.SLURM_AMI_SLURMD_UNIT
    assert node.p("/var/spool/slurmd/conf-cache/slurm.conf").read_text() == AGENT_CONF
    assert node.active() == ["munge", "slurmd"]
    assert "[wait-for-slurmctld] Slurmctld(primary) at ip-10-1-0-10 is UP" in result.log


def test_login_node_can_submit(nodes) -> None:
    node, result = nodes["login"]
    assert "login node: sbatch, srun and squeue work here against slurmctld on ip-10-1-0-10" in result.log
    profile = node.p("/etc/profile.d/hyperpod-cdk-slurm.sh").read_text()
    # Login shells fall back to the configless copy when Slurm's own lookup finds no slurm.conf.
    assert "[ ! -e /opt/slurm/etc/slurm.conf ] && [ -e /var/spool/slurmd/conf-cache/slurm.conf ]" in profile
    assert "export SLURM_CONF=/var/spool/slurmd/conf-cache/slurm.conf" in profile
    env = {
        "PATH": f"{node.bin}{os.pathsep}/usr/bin:/bin",
        "HARNESS_CMD_LOG": str(node.cmd_log),
        "HARNESS_STATE": str(node.state),
        "HARNESS_ROOT": str(node.root),
        "SLURM_CONF": str(node.p("/var/spool/slurmd/conf-cache/slurm.conf")),
    }
    ping = subprocess.run([str(node.bin / "scontrol"), "ping"], capture_output=True, text=True, env=env, timeout=30)
    assert ping.returncode == 0 and "is UP" in ping.stdout


def test_compute_node_partition_comes_from_the_parameters(nodes) -> None:
    _, result = nodes["gpu"]
    assert "in group gpu, role compute, partition train" in result.log


def test_fstab_orders_after_network_online_and_profile(nodes) -> None:
    node, _ = nodes["gpu"]
    assert node.p("/etc/fstab").read_text().splitlines() == ["UUID=1234 / ext4 defaults 1 1", FSTAB_LINE]
    assert "network.service" not in node.p("/etc/fstab").read_text()  # Ubuntu has none
    assert node.p("/etc/fstab.hyperpod-cdk.bak").read_text() == "UUID=1234 / ext4 defaults 1 1\n"
    assert str(node.root) not in node.p("/etc/fstab").read_text()
    assert "/opt/slurm/bin" in node.p("/etc/profile.d/hyperpod-cdk-slurm.sh").read_text()


def test_log_names_every_step(nodes) -> None:
    _, result = nodes["controller"]
    for marker in (
        "[preflight]",
        "[identify-node]",
        "[mount-fsx] + mount -t lustre",
        "[wait-for-slurm-conf]",
        "[configure-slurm]",
        "[start-services] + systemctl start slurmctld",
        "[wait-for-slurmctld] Slurmctld(primary)",
        "[finished] ==> on_create.sh finished: controller node ip-10-1-0-10",
    ):
        assert marker in result.log, marker
    assert "[finished]" in result.output  # stdout goes to CloudWatch too


def test_second_run_changes_nothing(tmp_path: Path) -> None:
    node = FakeSlurmNode(tmp_path, "cpu")
    _ok(node.run())
    unit, fstab = node.p("/etc/systemd/system/slurmd.service").read_text(), node.p("/etc/fstab").read_text()
    again = _ok(node.run())
    assert again.actions() == ["systemctl enable slurmd", "scontrol ping"], "no remount, no restart"
    assert node.p("/etc/systemd/system/slurmd.service").read_text() == unit
    assert node.p("/etc/fstab").read_text() == fstab
    assert "already mounted" in again.log and "slurmd.service already starts slurmd with --conf-server" in again.log


def test_changed_unit_restarts_a_running_slurmd(tmp_path: Path) -> None:
    node = FakeSlurmNode(tmp_path, "gpu", active=("munge", "slurmd"))
    result = _ok(node.run())
    assert "systemctl restart slurmd" in result.actions()
    assert "systemctl start slurmd" not in result.actions()


def test_controller_waits_for_the_agent(tmp_path: Path) -> None:
    node = FakeSlurmNode(tmp_path, "controller", agent_delay=2)
    result = _ok(node.run(HYPERPOD_LCS_SLURMCTLD_POLL_SECONDS="3"))
    assert [c for c in result.actions() if c.startswith("sleep")][:2] == ["sleep 3", "sleep 3"]
    assert node.p("/opt/slurm/etc/slurm.conf").read_text() == AGENT_CONF


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
    assert not any(c.startswith(("mount ", "modprobe")) for c in result.actions())
    assert "lustre" not in node.p("/etc/fstab").read_text()
    assert "no FSx file system in provisioning_parameters.json" in result.log


def test_efa_client_is_set_up_before_the_mount(tmp_path: Path) -> None:
    node = FakeSlurmNode(tmp_path, "gpu")
    result = _ok(node.run(HARNESS_EFA="1", HYPERPOD_LCS_EFA_FSX_CLIENT_SHA256=lcs.FAKE_ZIP_SHA256))
    actions = result.actions()
    setup = actions.index("efa-fsx-setup.sh")
    assert actions[setup - 2].startswith("curl --fail") and "configure-efa-fsx-lustre-client.zip" in actions[setup - 2]
    assert actions[setup + 1 : setup + 4] == LUSTRE_SETUP
    assert actions[setup + 4].startswith("mount -t lustre")
    assert "EFA client for FSx for Lustre configured" in result.log


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"HARNESS_EFA": "1", "HARNESS_NO_INTERNET": "1", "HYPERPOD_LCS_EFA_FSX_CLIENT_SHA256": lcs.FAKE_ZIP_SHA256},
            "EFA client setup for FSx failed",
        ),
        ({"HARNESS_EFA": "1"}, "no sha256 pinned"),
        ({"HARNESS_EFA": "1", "HARNESS_KERNEL": "5.15.0-1070-aws"}, "needs kernel 6.8 or later"),
        ({"HARNESS_EFA": "1", "HYPERPOD_LCS_EFA_FSX_CLIENT": "false"}, "turned off"),
        ({}, "no EFA device on this instance"),
    ],
)
def test_efa_client_problems_fall_back_to_tcp(tmp_path: Path, env: dict[str, str], message: str) -> None:
    node = FakeSlurmNode(tmp_path, "gpu")
    result = _ok(node.run(**env))
    assert message in result.log
    assert "efa-fsx-setup.sh" not in result.actions()
    assert f"mount -t lustre -o relatime,flock {FSX_SOURCE} {node.root}/fsx" in result.actions()


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
    assert node.p("/etc/systemd/system/slurmd.service").read_text() == lcs.SLURM_AMI_SLURMD_UNIT
    assert "lustre" not in node.p("/etc/fstab").read_text()


def test_failing_command_is_reported_with_line_and_exit_code(tmp_path: Path) -> None:
    node = FakeSlurmNode(tmp_path, "gpu")
    result = node.run(HARNESS_FAIL_CMD="systemctl start slurmd")
    assert result.returncode == 1
    assert "ERROR: command 'systemctl start slurmd' exited with 1 at lcs_common.sh:" in result.log
    assert "in start_services() at on_create.sh:" in result.log
    assert "provisioning FAILED in step 'start-services' (exit code 1)" in result.log
    assert result.actions()[-1] == "sync"


def test_slurmctld_that_never_answers_fails_the_controller(tmp_path: Path) -> None:
    node = FakeSlurmNode(tmp_path, "controller")
    result = node.run(
        HARNESS_CTLD_DOWN="1", HYPERPOD_LCS_SLURMCTLD_WAIT_SECONDS="10", HYPERPOD_LCS_SLURMCTLD_POLL_SECONDS="5"
    )
    assert result.returncode == 1
    assert [c for c in result.actions() if c == "scontrol ping"] == ["scontrol ping"] * 3
    assert "slurmctld on ip-10-1-0-10 did not answer within 10s" in result.log
    assert "FAILED in step 'wait-for-slurmctld'" in result.log


def test_agent_that_never_writes_slurm_conf_fails_the_controller(tmp_path: Path) -> None:
    node = FakeSlurmNode(tmp_path, "controller", agent_delay=None)
    result = node.run(HYPERPOD_LCS_SLURM_CONF_WAIT_SECONDS="10", HYPERPOD_LCS_SLURMCTLD_POLL_SECONDS="5")
    assert result.returncode == 1
    assert (
        "HyperPod's cluster agent did not write /opt/slurm/etc/slurm.conf naming the controller 10.1.0.10" in result.log
    )
    assert "FAILED in step 'wait-for-slurm-conf'" in result.log
    assert not node.p("/opt/slurm/etc/slurm.conf").exists(), "the script never writes slurm.conf itself"
    assert not any(c.startswith("systemctl") for c in result.actions())


def test_unreachable_controller_fails_a_compute_node_with_what_to_check(tmp_path: Path) -> None:
    node = FakeSlurmNode(tmp_path, "gpu")
    result = node.run(
        HARNESS_CTLD_DOWN="1", HYPERPOD_LCS_SLURMCTLD_WAIT_SECONDS="10", HYPERPOD_LCS_SLURMCTLD_POLL_SECONDS="5"
    )
    assert result.returncode == 1
    assert "slurmd fetched no configuration from 10.1.0.10" in result.log
    assert "6817-6818" in result.log
    assert "FAILED in step 'wait-for-config'" in result.log


def test_slurmd_unit_without_placeholder_is_refused(tmp_path: Path) -> None:
    node = FakeSlurmNode(tmp_path, "gpu")
    node.write("/etc/systemd/system/slurmd.service", "[Service]\nExecStart=/opt/slurm/sbin/slurmd -D\n")
    result = node.run()
    assert result.returncode == 1
    assert "has no $SLURMD_OPTIONS placeholder and no '--conf-server 10.1.0.10'" in result.log
    assert "FAILED in step 'configure-slurm'" in result.log


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
        (
            '{"controller_group": "c", "worker_groups": [{"instance_group_name": "g", "partition_name": "a b"}]}',
            "is not an instance group or partition name",
        ),
        (
            '{"controller_group": "c", "worker_groups": [{"instance_group_name": "g", "partition_name": "p"}], '
            '"fsx_dns_name": "fs-1.fsx.us-west-2.amazonaws.com"}',
            "fsx_dns_name and fsx_mountname go together",
        ),
    ],
)
def test_helper_rejects_malformed_parameters(tmp_path: Path, params: str, message: str) -> None:
    (tmp_path / "params.json").write_text(params)
    (tmp_path / "resource_config.json").write_text(json.dumps(resource_config(IPS)))
    proc = subprocess.run(
        [
            "python3",
            str(SLURM_DIR / "slurm_params.py"),
            "node-env",
            "--params",
            str(tmp_path / "params.json"),
            "--resource-config",
            str(tmp_path / "resource_config.json"),
            "--local-ips",
            "10.1.0.20",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=30,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert message in proc.stderr
