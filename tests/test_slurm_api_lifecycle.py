"""API-driven Slurm (slurm.configuration: api) on the fake node: lifecycle_scripts/slurm_api.

HyperPodApiSlurmNode (tests/lcs_harness.py) models what HyperPod provides when the cluster carries
Orchestrator.Slurm and SlurmConfig: slurm.conf written by HyperPod on the controller, FSx mounted
by HyperPod at /fsx, no provisioning_parameters.json in the prefix. slurm_nodes.json comes from
hyperpod_cdk.specs.slurm.slurm_nodes, the call the platform makes, so generator and script are
tested together. The legacy script (lifecycle_scripts/slurm) runs on the same nodes and must fail
there, where it would otherwise rewrite units and remount what HyperPod owns.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest

from hyperpod_cdk.config import InstanceGroup
from hyperpod_cdk.specs.slurm import slurm_layout, slurm_nodes

_spec = importlib.util.spec_from_file_location("lcs_harness", Path(__file__).with_name("lcs_harness.py"))
lcs = sys.modules.setdefault("lcs_harness", importlib.util.module_from_spec(_spec))
if not hasattr(lcs, "FakeNode"):
    _spec.loader.exec_module(lcs)

API_DIR = lcs.SCRIPTS_DIR / "slurm_api"
LEGACY_DIR = lcs.SCRIPTS_DIR / "slurm"
pytestmark = pytest.mark.skipif(
    not Path(lcs.BASH).exists() or not shutil.which("python3"), reason="needs bash, python3"
)

GROUPS = [
    InstanceGroup(name="controller", instance_type="ml.m5.2xlarge", instance_count=1, slurm_node_type="Controller"),
    InstanceGroup(name="login", instance_type="ml.m5.2xlarge", instance_count=1, slurm_node_type="Login"),
    InstanceGroup(name="gpu", instance_type="ml.g5.12xlarge", instance_count=2, partition="train"),
]
IPS = {"controller": ["10.1.0.10"], "login": ["10.1.0.11"], "gpu": ["10.1.0.20", "10.1.0.21"]}
CONTROLLER_IP = IPS["controller"][0]
CONF = lcs.agent_slurm_conf(CONTROLLER_IP, {"train": IPS["gpu"]})
ROLES = {"controller": "controller", "login": "login", "gpu": "compute"}
HYPERPOD_UP = {"controller": ("munge", "slurmctld"), "login": ("munge", "slurmd"), "gpu": ("munge", "slurmd")}


def resource_config() -> dict:
    return {
        "ClusterConfig": {
            "ClusterArn": "arn:aws:sagemaker:us-west-2:123456789012:cluster/abc123def456",
            "ClusterName": "hyperpod-demo",
        },
        "InstanceGroups": [
            {
                "Name": group,
                "Instances": [
                    {"CustomerIpAddress": ip, "InstanceId": f"i-0{i:016x}"} for i, ip in enumerate(addresses, start=1)
                ],
            }
            for group, addresses in IPS.items()
        ],
    }


def api_node(tmp_path: Path, group: str, *, source: Path = API_DIR, fsx_mounted: bool = True):
    return lcs.HyperPodApiSlurmNode(
        tmp_path,
        source,
        node_type=ROLES[group],
        node_ip=IPS[group][0],
        controller_ip=CONTROLLER_IP,
        nodes=slurm_nodes(slurm_layout(GROUPS), "/fsx"),
        resource_config=resource_config(),
        controller_conf=CONF,
        fsx_mounted=fsx_mounted,
        active=HYPERPOD_UP[group],
    )


@pytest.fixture(scope="module")
def booted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    done = {}
    for group in ("controller", "login", "gpu"):
        node = api_node(tmp_path_factory.mktemp(f"api-{group}"), group)
        done[group] = (node, lcs.ok(node.run()))
    return done


@pytest.mark.parametrize("group", ["controller", "login", "gpu"])
def test_api_script_leaves_slurm_and_fsx_to_hyperpod(booted, group: str) -> None:
    node, result = booted[group]
    # No systemctl, mount, modprobe or lctl: HyperPod owns the daemons and the mount.
    assert result.actions() == []
    assert node.active() == list(HYPERPOD_UP[group])
    assert node.mounted() == [str(node.p("/fsx"))]
    if group == "controller":
        assert node.p("/opt/slurm/etc/slurm.conf").read_text() == CONF
    else:
        assert not node.p("/opt/slurm/etc/slurm.conf").exists(), "configless: no local slurm.conf"
    assert node.p("/etc/systemd/system/slurmd.service").read_text() == lcs.SLURM_AMI_SLURMD_UNIT
    role = ROLES[group]
    assert f"in group {group}, role {role}" in result.log
    assert "[shared-storage] /fsx is mounted" in result.log
    assert "/opt/slurm/bin" in node.p("/etc/profile.d/hyperpod-cdk-slurm.sh").read_text()
    assert f"[finished] ==> on_create.sh finished: {role} node" in result.log


def test_compute_node_knows_its_partition(booted) -> None:
    _, result = booted["gpu"]
    assert "in group gpu, role compute, partition train" in result.log


def test_api_script_is_idempotent(booted) -> None:
    node, _ = booted["gpu"]
    again = lcs.ok(node.run())
    assert again.actions() == []


def test_api_script_only_reports_an_unmounted_fsx(tmp_path: Path) -> None:
    node = api_node(tmp_path, "gpu", fsx_mounted=False)
    result = lcs.ok(node.run())
    assert result.actions() == [], "the script never mounts: HyperPod does, from InstanceStorageConfigs"
    assert "/fsx is not mounted yet; HyperPod mounts it" in result.log


def test_api_script_refuses_a_provisioning_parameters_file(tmp_path: Path) -> None:
    node = api_node(tmp_path, "controller")
    (node.scripts / "provisioning_parameters.json").write_text("{}")
    result = node.run()
    assert result.returncode != 0
    assert "provisioning_parameters.json is next to on_create.sh, but this cluster is API-driven" in result.output
    assert [a for a in result.actions() if a != "sync"] == []


def test_api_script_names_an_unknown_group(tmp_path: Path) -> None:
    node = api_node(tmp_path, "gpu")
    (node.scripts / "slurm_nodes.json").write_text(
        '{"version": 1, "groups": {"controller": {"node_type": "Controller"}}, "fsx_mount_path": null}'
    )
    result = node.run()
    assert result.returncode != 0
    assert "instance group 'gpu' is not in slurm_nodes.json" in result.output


@pytest.mark.parametrize("group", ["controller", "gpu"])
def test_legacy_script_fails_on_an_api_driven_node(tmp_path: Path, group: str) -> None:
    """The lifecycle-script model's on_create.sh must stop before it touches what HyperPod owns."""
    node = api_node(tmp_path, group, source=LEGACY_DIR)
    result = node.run()
    assert result.returncode != 0
    assert "no provisioning_parameters.json next to on_create.sh" in result.output
    assert [a for a in result.actions() if a != "sync"] == [], "nothing mounted, no unit changed"
    assert node.active() == list(HYPERPOD_UP[group])


# ---------------------------------------------------------------------------
# slurm.users: POSIX users with the same UID on every node, homes on FSx
# ---------------------------------------------------------------------------

ALICE_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGv7mQ0alicekey alice@laptop"
USERS = [{"name": "alice", "uid": 2001, "ssh_public_key": ALICE_KEY}, {"name": "bob", "uid": 2002}]


def users_node(tmp_path: Path, group: str, *, fsx: bool = True, fsx_mounted: bool = True):
    return lcs.HyperPodApiSlurmNode(
        tmp_path,
        API_DIR,
        node_type=ROLES[group],
        node_ip=IPS[group][0],
        controller_ip=CONTROLLER_IP,
        nodes=slurm_nodes(slurm_layout(GROUPS), "/fsx" if fsx else None, USERS),
        resource_config=resource_config(),
        controller_conf=CONF,
        fsx_mounted=fsx_mounted,
        active=HYPERPOD_UP[group],
    )


@pytest.mark.parametrize("group", ["login", "gpu"])
def test_users_get_the_same_uid_and_a_home_on_fsx(tmp_path: Path, group: str) -> None:
    node = users_node(tmp_path, group)
    result = lcs.ok(node.run(HYPERPOD_LCS_FSX_POLL_SECONDS="1"))
    assert result.actions() == [
        "groupadd --gid 2001 alice",
        "useradd --uid 2001 --gid 2001 --home-dir /fsx/home/alice --no-create-home --shell /bin/bash alice",
        # The key is written while the new home is still root's; each path is handed over by itself.
        f"chown -h 2001:2001 {node.p('/fsx/home/alice/.ssh/authorized_keys')}",
        f"chown -h 2001:2001 {node.p('/fsx/home/alice/.ssh')}",
        f"chown -h 2001:2001 {node.p('/fsx/home/alice')}",
        "groupadd --gid 2002 bob",
        "useradd --uid 2002 --gid 2002 --home-dir /fsx/home/bob --no-create-home --shell /bin/bash bob",
        f"chown -h 2002:2002 {node.p('/fsx/home/bob')}",
    ]
    assert oct(node.p("/fsx/home/alice").stat().st_mode & 0o777) == "0o700"
    assert "alice:x:2001:2001::/fsx/home/alice:/bin/bash" in node.passwd()
    keys = node.p("/fsx/home/alice/.ssh/authorized_keys")
    assert keys.read_text() == ALICE_KEY + "\n" and oct(keys.stat().st_mode & 0o777) == "0o600"
    assert not node.p("/fsx/home/bob/.ssh").exists()
    # A second boot (or a second node on the same FSx) changes nothing.
    assert lcs.ok(node.run()).actions() == []


def test_users_without_fsx_live_in_home(tmp_path: Path) -> None:
    node = users_node(tmp_path, "gpu", fsx=False, fsx_mounted=False)
    result = lcs.ok(node.run())
    assert "useradd --uid 2001 --gid 2001 --home-dir /home/alice --no-create-home --shell /bin/bash alice" in (
        result.actions()
    )
    assert node.p("/home/alice/.ssh/authorized_keys").is_file()


def test_users_wait_for_hyperpods_fsx_mount_and_fail_plainly(tmp_path: Path) -> None:
    node = users_node(tmp_path, "gpu", fsx_mounted=False)
    result = node.run(HYPERPOD_LCS_FSX_WAIT_SECONDS="2", HYPERPOD_LCS_FSX_POLL_SECONDS="1")
    assert result.returncode != 0
    assert "/fsx (HyperPod's FSx mount) did not appear within 2s" in result.output
    assert not [a for a in result.actions() if a.startswith(("useradd", "groupadd"))]


def test_a_symlink_planted_in_an_existing_home_is_not_followed(tmp_path: Path) -> None:
    """Security review H1: root must not write a key through a link the home's owner planted on FSx."""
    node = users_node(tmp_path, "gpu")
    victim = node.write("/root/.ssh/authorized_keys", "ssh-ed25519 AAAA root@admin\n")
    other = node.write("/home/ubuntu/.ssh/authorized_keys", "ssh-ed25519 BBBB ubuntu@ops\n")
    # alice's home exists already (another node made it; alice owns it) and she planted links.
    node.p("/fsx/home/alice").mkdir(parents=True)
    if os.geteuid() == 0:
        os.chown(node.p("/fsx/home/alice"), 2001, 2001)
    node.p("/fsx/home/alice/.ssh").symlink_to(victim.parent)
    # bob (no key) too: a home that is itself a link is left alone.
    node.p("/fsx/home/bob").symlink_to(other.parent)
    result = lcs.ok(node.run())
    assert victim.read_text() == "ssh-ed25519 AAAA root@admin\n"
    assert sorted(p.name for p in victim.parent.iterdir()) == ["authorized_keys"]
    assert other.read_text() == "ssh-ed25519 BBBB ubuntu@ops\n"
    assert not [a for a in result.actions() if a.startswith("chown")], "no ownership change in a home it did not create"
    assert (
        "root does not rewrite the ssh_public_key" if os.geteuid() == 0 else "not alice (2001); left alone"
    ) in result.log
    assert "/fsx/home/bob is a symbolic link; left alone" in result.log


def test_a_fifo_in_an_existing_home_does_not_block_the_node(tmp_path: Path) -> None:
    """Re-review MEDIUM-A: root read ~/.ssh/authorized_keys to compare it; a FIFO there hung every OnCreate."""
    node = users_node(tmp_path, "gpu")
    ssh = node.p("/fsx/home/alice/.ssh")
    ssh.mkdir(parents=True)
    os.mkfifo(ssh / "authorized_keys")
    result = node.run()  # the harness stops a run after 60 s
    lcs.ok(result)
    assert (ssh / "authorized_keys").is_fifo()


def test_a_homes_directory_others_can_write_stops_the_node(tmp_path: Path) -> None:
    """Another user could create or swap alice's home in a group- or world-writable /fsx/home."""
    node = users_node(tmp_path, "gpu")
    homes = node.p("/fsx/home")
    homes.mkdir(parents=True)
    homes.chmod(0o1777)
    result = node.run()
    assert result.returncode != 0
    assert "/fsx/home must belong to root and be writable by root alone" in result.output
    assert not node.p("/fsx/home/alice").exists()


def test_a_planted_authorized_keys_link_in_a_new_home_is_impossible(tmp_path: Path) -> None:
    """A dangling link where the home should be makes mkdir fail: nothing is written through it."""
    node = users_node(tmp_path, "gpu")
    target = node.p("/etc/cron.d/evil")
    node.p("/fsx/home").mkdir(parents=True)
    node.p("/fsx/home/alice").symlink_to(target)
    lcs.ok(node.run())
    assert not target.exists()


def test_an_existing_user_with_another_uid_is_an_error(tmp_path: Path) -> None:
    node = users_node(tmp_path, "gpu")
    with (node.state / "passwd").open("a") as f:
        f.write("alice:x:3000:3000::/home/alice:/bin/bash\n")
    result = node.run()
    assert result.returncode != 0
    assert "user alice already exists with UID 3000, not 2001 from slurm.users" in result.output


def test_a_group_with_the_users_uid_under_another_name_is_an_error(tmp_path: Path) -> None:
    """Fifth review L7: alice (2001) must not silently get an existing group 2001 as primary group."""
    node = users_node(tmp_path, "gpu")
    with (node.state / "group").open("a") as f:
        f.write("research:x:2001:carol\n")
    result = node.run()
    assert result.returncode != 0
    assert "group research already has GID 2001, the UID of alice in slurm.users" in result.output
    assert not any(c.startswith(("useradd", "groupadd")) for c in result.commands)


def test_a_group_of_the_users_own_name_and_uid_is_reused(tmp_path: Path) -> None:
    node = users_node(tmp_path, "gpu")
    with (node.state / "group").open("a") as f:
        f.write("alice:x:2001:\n")
    result = lcs.ok(node.run())
    assert "groupadd --gid 2001 alice" not in result.actions()
    assert "group alice (2001) exists" in result.log


# ---------------------------------------------------------------------------
# slurm.containers: enroot + pyxis through configless plugstack.conf, Docker
# ---------------------------------------------------------------------------

PYXIS_LINE = "required /usr/local/lib/slurm/spank_pyxis.so"


# What the fake curl downloads; the tests pin its sha256 as a config would pin the release's .debs.
FAKE_DEB_SHA256 = hashlib.sha256(b"fake-zip\n").hexdigest()
PINNED = {"enroot_3.4.1-1_amd64.deb": FAKE_DEB_SHA256, "enroot+caps_3.4.1-1_amd64.deb": FAKE_DEB_SHA256}


def containers_node(
    tmp_path: Path,
    group: str,
    *,
    docker: bool = False,
    users=(),
    users_are_root: bool = False,
    pinned: dict | None = None,
):
    wanted = {
        "enroot_pyxis": True,
        "docker": docker,
        "docker_users_are_root": users_are_root,
        "enroot_deb_sha256": PINNED if pinned is None else pinned,
    }
    return lcs.HyperPodApiSlurmNode(
        tmp_path,
        API_DIR,
        node_type=ROLES[group],
        node_ip=IPS[group][0],
        controller_ip=CONTROLLER_IP,
        nodes=slurm_nodes(slurm_layout(GROUPS), "/fsx", users, wanted),
        resource_config=resource_config(),
        controller_conf=CONF,
        active=HYPERPOD_UP[group],
    )


def test_controller_installs_pyxis_and_writes_a_configless_plugstack(tmp_path: Path) -> None:
    node = containers_node(tmp_path, "controller")
    result = lcs.ok(node.run())
    actions = result.actions()
    assert [a.split(" ")[0] for a in actions] == ["curl", "curl", "apt-get", "git", "make", "scontrol", "scontrol"]
    assert actions[-1] == "scontrol reconfigure", "running slurmds fetch the new plugstack.conf"
    assert "enroot_3.4.1-1_amd64.deb" in actions[0] and "v0.19.0" in actions[3]
    plugstack = node.p("/opt/slurm/etc/plugstack.conf")
    # One direct line next to slurm.conf: no include, no wildcard (configless copies only this file).
    assert plugstack.read_text() == PYXIS_LINE + "\n"
    assert node.p("/usr/local/lib/slurm/spank_pyxis.so").exists() and node.p("/usr/bin/enroot").exists()
    assert lcs.ok(node.run()).actions() == [], "a second run changes nothing"


def test_unpinned_enroot_debs_are_not_installed_as_root(tmp_path: Path) -> None:
    """Review M3: a .deb from a GitHub release is installed as root only with a pinned sha256."""
    node = containers_node(tmp_path, "controller", pinned={"enroot_3.4.1-1_amd64.deb": FAKE_DEB_SHA256})
    result = lcs.ok(node.run())
    assert not [a for a in result.actions() if a.split()[0] in ("curl", "apt-get", "git", "make")]
    assert "no sha256 pinned for enroot+caps_3.4.1-1_amd64.deb (slurm.containers.enroot_deb_sha256)" in result.log
    assert not node.p("/usr/bin/enroot").exists()


def test_an_enroot_deb_with_another_checksum_stops_the_script(tmp_path: Path) -> None:
    node = containers_node(tmp_path, "controller", pinned={**PINNED, "enroot_3.4.1-1_amd64.deb": "0" * 64})
    result = node.run()
    assert result.returncode != 0
    assert f"enroot_3.4.1-1_amd64.deb has sha256 {FAKE_DEB_SHA256}, not {'0' * 64}" in result.output
    assert not result.calls("apt-get") and not node.p("/usr/bin/enroot").exists()


def test_a_moved_pyxis_tag_is_not_built(tmp_path: Path) -> None:
    """Review M3: pyxis is built as root only from the pinned commit of its tag."""
    node = containers_node(tmp_path, "controller")
    result = node.run(HARNESS_PYXIS_HEAD="1" * 40)
    assert result.returncode != 0
    assert f"pyxis tag v0.19.0 is at commit {'1' * 40}, not e006b893e4b63303da154bf1800076dcd6a64bc9" in result.output
    assert not result.calls("make")


def test_an_include_in_plugstack_is_replaced_by_the_direct_line(tmp_path: Path) -> None:
    node = containers_node(tmp_path, "controller")
    node.write("/opt/slurm/etc/plugstack.conf", "include /opt/slurm/etc/plugstack.conf.d/*\noptional /x/other.so\n")
    lcs.ok(node.run())
    assert node.p("/opt/slurm/etc/plugstack.conf").read_text() == f"optional /x/other.so\n{PYXIS_LINE}\n"
    assert "include" in node.p("/opt/slurm/etc/plugstack.conf.hyperpod-cdk.bak").read_text()


def test_compute_node_has_pyxis_configured_through_configless_slurm(tmp_path: Path) -> None:
    controller = containers_node(tmp_path / "c", "controller")
    lcs.ok(controller.run())
    compute = containers_node(tmp_path / "w", "gpu")
    first = lcs.ok(compute.run())
    assert [a.split(" ")[0] for a in first.actions()] == ["curl", "curl", "apt-get", "git", "make"]
    assert "has not reached this node yet" in first.log
    # What slurmd does on the controller's `scontrol reconfigure`: fetch the configless files.
    cache = compute.p("/var/spool/slurmd/conf-cache")
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "plugstack.conf").write_text(controller.p("/opt/slurm/etc/plugstack.conf").read_text())
    again = lcs.ok(compute.run())
    assert again.actions() == []
    assert "configless plugstack.conf loads /usr/local/lib/slurm/spank_pyxis.so; the plugin is installed here" in (
        again.log
    )
    assert compute.p("/usr/local/lib/slurm/spank_pyxis.so").exists()
    assert not compute.p("/opt/slurm/etc/plugstack.conf").exists(), "compute nodes keep no local Slurm config"


def test_the_amis_own_pyxis_is_used_and_registered_once(tmp_path: Path) -> None:
    """Current HyperPod DLAMIs ship enroot and pyxis, registered in plugstack.conf (AWS's install script)."""
    dlami_line = "required /opt/slurm/lib/slurm/spank_pyxis.so"
    for group in ("controller", "gpu"):
        node = containers_node(tmp_path / group, group)
        node.write("/opt/slurm/lib/slurm/spank_pyxis.so", "")
        node.write("/usr/bin/enroot", "#!/bin/sh\n").chmod(0o755)
        if group == "controller":
            node.write("/opt/slurm/etc/plugstack.conf", dlami_line + "\n")
        else:
            node.write("/var/spool/slurmd/conf-cache/plugstack.conf", dlami_line + "\n")
        result = lcs.ok(node.run())
        assert result.actions() == [], "nothing downloaded or built, no second registration"
        assert "pyxis comes with the AMI (/opt/slurm/lib/slurm/spank_pyxis.so)" in result.log
        if group == "controller":
            assert node.p("/opt/slurm/etc/plugstack.conf").read_text() == dlami_line + "\n"
            assert "plugstack.conf already loads pyxis" in result.log
        else:
            assert "configless plugstack.conf loads /opt/slurm/lib/slurm/spank_pyxis.so" in result.log


def test_docker_users_join_its_group_only_when_the_config_accepts_root(tmp_path: Path) -> None:
    """Review M5: the docker group is root on the node; no opt-in, no membership."""
    node = containers_node(tmp_path, "gpu", docker=True, users=[{"name": "alice", "uid": 2001}])
    result = lcs.ok(node.run())
    assert "systemctl start docker" in result.actions()
    assert not [a for a in result.actions() if a.startswith("usermod")]
    assert "docker_users_are_root is off" in result.log


def test_docker_is_installed_and_users_join_its_group(tmp_path: Path) -> None:
    node = containers_node(tmp_path, "gpu", docker=True, users=[{"name": "alice", "uid": 2001}], users_are_root=True)
    actions = lcs.ok(node.run()).actions()
    assert actions[-4:] == [
        "apt-get install -y docker.io",
        "systemctl enable docker",
        "systemctl start docker",
        "usermod -aG docker alice",
    ]
    assert "usermod" not in " ".join(lcs.ok(node.run()).actions())
