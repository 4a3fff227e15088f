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

import json
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

# The Lustre client tools and what the EFA client setup downloads (both orchestrators mount FSx).
# fi_info answers for an EFA device only when HARNESS_EFA is set; curl and unzip fake the FSx user
# guide's configure-efa-fsx-lustre-client.zip, whose setup.sh records itself in the command log.
LUSTRE_STUBS = {
    "modprobe": "exit 0\n",
    "lctl": "exit 0\n",
    "uname": 'if [[ "${1:-}" == "-r" ]]; then echo "${HARNESS_KERNEL:-6.8.0-1024-aws}"; else echo Linux; fi\n',
    "fi_info": '[[ -n "${HARNESS_EFA:-}" ]] && echo "provider: efa"\n',
    "curl": textwrap.dedent(
        """\
        [[ -z "${HARNESS_NO_INTERNET:-}" ]] || { echo "curl: (28) Connection timed out" >&2; exit 28; }
        out=""
        while (($#)); do [[ "$1" == "-o" ]] && out="$2"; shift; done
        echo fake-zip >"${out}"
        """
    ),
    "unzip": textwrap.dedent(
        """\
        dir=""
        while (($#)); do [[ "$1" == "-d" ]] && dir="$2"; shift; done
        mkdir -p "${dir}/configure-efa-fsx-lustre-client"
        printf '#!/bin/bash\\necho efa-fsx-setup.sh >>"${HARNESS_CMD_LOG}"\\n' \\
          >"${dir}/configure-efa-fsx-lustre-client/setup.sh"
        """
    ),
}

#: sha256 of what the fake curl downloads ("fake-zip\n"): the pin that lets the EFA client setup run.
FAKE_ZIP_SHA256 = "628c3beed82d0c9c0875e090b7dfc61ae4ce9682ac91020f38ae7b06a4df972e"

# Commands that only ask: left out of RunResult.actions().
_QUERIES = ("mountpoint", "hostname", "uname", "fi_info", "getent", "dpkg", "id")


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
            c
            for c in self.commands
            if c.split()[0] not in _QUERIES
            and c.split()[:2] != ["systemctl", "is-active"]
            and not (c.split()[0] == "git" and "rev-parse" in c.split())
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
        return {"HYPERPOD_LCS_FI_INFO": str(self.bin / "fi_info"), "HARNESS_ROOT": str(self.root)}

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


# ---------------------------------------------------------------------------
# A HyperPod Slurm node: what HyperPod provides before on_create.sh runs
# ---------------------------------------------------------------------------
#
# On every node: /opt/ml/config/resource_config.json (all groups and instances), the lifecycle
# prefix with provisioning_parameters.json, the Slurm AMI (Ubuntu; munge running; slurmd and
# slurmctld units in /etc/systemd/system, slurmd's with a $SLURMD_OPTIONS placeholder that
# start_slurm.sh fills with envsubst).
# On the controller only: /opt/slurm/etc/slurm.conf, written by HyperPod's cluster agent from
# provisioning_parameters.json (SlurmctldParameters=enable_configless). Compute and login nodes
# have no slurm.conf: slurmd's ExecStartPre removes any local copy and slurmd --conf-server fetches
# the controller's into /var/spool/slurmd/conf-cache.
# Sources: awslabs/awsome-distributed-ai 1.architectures/5.sagemaker-hyperpod/LifecycleScripts/
# base-config/{lifecycle_script.py,start_slurm.sh} and tools/devops-agent/docs/hyperpod-mental-model.md
# ("Slurm config files by node role", "Services running on compute and login").

SLURM_AMI_SLURMD_UNIT = """\
[Unit]
Description=Slurm node daemon
After=munge.service network-online.target remote-fs.target
Wants=network-online.target

[Service]
Type=simple
ExecStartPre=-/usr/bin/rm -f /opt/slurm/etc/slurm.conf
ExecStart=/opt/slurm/sbin/slurmd -D -s $SLURMD_OPTIONS
ExecReload=/bin/kill -HUP $MAINPID
KillMode=process
LimitNOFILE=131072
Delegate=yes

[Install]
WantedBy=multi-user.target
"""
SLURM_AMI_SLURMCTLD_UNIT = """\
[Unit]
Description=Slurm controller daemon
After=network-online.target munge.service

[Service]
Type=simple
ExecStart=/opt/slurm/sbin/slurmctld -D -s
ExecReload=/bin/kill -HUP $MAINPID

[Install]
WantedBy=multi-user.target
"""
UBUNTU_OS_RELEASE = 'NAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\n'

SLURM_STUBS = {
    "hostname": 'if [[ "${1:-}" == "-I" ]]; then printf "%s \\n" "${HARNESS_NODE_IPS}"; else echo fake-host; fi\n',
    # mount -t lustre -o OPTS SRC DST; state/mount_failures makes the first N attempts fail.
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
    # systemctl as the Slurm AMI's units behave: slurmd first removes a local slurm.conf, then,
    # with --conf-server naming the (reachable) controller, caches the controller's slurm.conf;
    # slurmctld needs the agent's slurm.conf. A unit whose file was moved away cannot start.
    "systemctl": textwrap.dedent(
        """\
        unit="${@: -1}"
        units="${HARNESS_ROOT}/etc/systemd/system"
        deactivate() {
          grep -Fxv -- "${unit}" "${state}/active" >"${state}/active.new" || true
          mv "${state}/active.new" "${state}/active"
        }
        case "$1" in
          is-active) grep -Fxq -- "${unit}" "${state}/active" ;;
          stop) deactivate ;;
          disable) [[ "${2:-}" == "--now" ]] && deactivate; exit 0 ;;
          start | restart)
            if [[ "${unit}" == slurm* && ! -f "${units}/${unit}.service" ]]; then
              echo "Failed to start ${unit}.service: Unit ${unit}.service not found." >&2
              exit 5
            fi
            if [[ "${unit}" == slurmd ]]; then
              rm -f "${HARNESS_ROOT}/opt/slurm/etc/slurm.conf"
              server="$(grep -o -- '--conf-server [0-9.]*' "${units}/slurmd.service" || true)"
              if [[ "${server#--conf-server }" == "${HARNESS_CONTROLLER_IP}" && -z "${HARNESS_CTLD_DOWN:-}" ]]; then
                mkdir -p "${HARNESS_ROOT}/var/spool/slurmd/conf-cache"
                cp "${state}/controller-slurm.conf" "${HARNESS_ROOT}/var/spool/slurmd/conf-cache/slurm.conf"
              fi
            fi
            if [[ "${unit}" == slurmctld && ! -f "${HARNESS_ROOT}/opt/slurm/etc/slurm.conf" ]]; then
              echo "slurmctld: fatal: Unable to process configuration file" >&2
              exit 1
            fi
            grep -Fxq -- "${unit}" "${state}/active" || printf '%s\\n' "${unit}" >>"${state}/active"
            ;;
          *) exit 0 ;;
        esac
        """
    ),
    # scontrol finds its configuration like Slurm: $SLURM_CONF, else the local slurm.conf; without
    # one it cannot work. slurmctld answers when it runs (controller) or unless HARNESS_CTLD_DOWN.
    "scontrol": textwrap.dedent(
        """\
        [[ "$1" == ping ]] || exit 0
        conf="${SLURM_CONF:-${HARNESS_ROOT}/opt/slurm/etc/slurm.conf}"
        if [[ ! -s "${conf}" ]]; then
          echo "scontrol: fatal: Could not establish a configuration source" >&2
          exit 1
        fi
        if [[ -z "${HARNESS_CTLD_DOWN:-}" ]] &&
          { [[ -z "${HARNESS_LOCAL_CTLD:-}" ]] || grep -Fxq slurmctld "${state}/active"; }; then
          echo "Slurmctld(primary) at ip-10-1-0-10 is UP"
        else
          echo "Slurmctld(primary) at ip-10-1-0-10 is DOWN"
          exit 1
        fi
        """
    ),
    # sleep: HyperPod's agent writes the controller's slurm.conf after state/agent_delay sleeps.
    "sleep": textwrap.dedent(
        """\
        delay="$(cat "${state}/agent_delay" 2>/dev/null || echo 0)"
        if ((delay > 0)); then
          echo $((delay - 1)) >"${state}/agent_delay"
          if ((delay == 1)); then
            mkdir -p "${HARNESS_ROOT}/opt/slurm/etc"
            cp "${state}/controller-slurm.conf" "${HARNESS_ROOT}/opt/slurm/etc/slurm.conf"
          fi
        fi
        """
    ),
}


def agent_slurm_conf(controller_ip: str, nodes: Mapping[str, list[str]]) -> str:
    """A slurm.conf as HyperPod's cluster agent writes it on the controller (partition -> node IPs)."""
    name = "ip-" + controller_ip.replace(".", "-")
    lines = [
        "ClusterName=hyperpod",
        f"SlurmctldHost={name}({controller_ip})",
        "SlurmctldParameters=enable_configless",
        "AuthType=auth/munge",
        "SlurmdSpoolDir=/var/spool/slurmd",
    ]
    for partition, ips in nodes.items():
        names = ["ip-" + ip.replace(".", "-") for ip in ips]
        lines += [f"NodeName={n} NodeAddr={ip} State=CLOUD" for n, ip in zip(names, ips, strict=True)]
        lines.append(f"PartitionName={partition} Nodes={','.join(names)} State=UP")
    return "\n".join(lines) + "\n"


class HyperPodSlurmNode(FakeNode):
    """A node of a HyperPod Slurm cluster just before on_create.sh runs, by ``node_type``.

    ``agent_delay``: on the controller, the number of ``sleep`` calls before the cluster agent's
    slurm.conf appears (0: already there, as HyperPod usually has it; None: never).
    """

    def __init__(
        self,
        tmp_path: Path,
        source_dir: Path,
        *,
        node_type: str,
        node_ip: str,
        controller_ip: str,
        params: Mapping[str, object],
        resource_config: Mapping[str, object],
        controller_conf: str,
        agent_delay: int | None = 0,
        active: tuple[str, ...] = ("munge",),
    ) -> None:
        super().__init__(tmp_path, source_dir, {**LUSTRE_STUBS, **SLURM_STUBS})
        self.node_type = node_type
        self.node_ips = f"{node_ip} 172.16.0.9"  # the second address is the agent's, outside the VPC
        self.controller_ip = controller_ip
        (self.scripts / "provisioning_parameters.json").write_text(json.dumps(params, indent=2))
        self.write("/opt/ml/config/resource_config.json", json.dumps(resource_config))
        self.write("/etc/os-release", UBUNTU_OS_RELEASE)
        self.write("/etc/fstab", "UUID=1234 / ext4 defaults 1 1\n")
        self.write("/etc/systemd/system/slurmd.service", SLURM_AMI_SLURMD_UNIT)
        self.write("/etc/systemd/system/slurmctld.service", SLURM_AMI_SLURMCTLD_UNIT)
        (self.state / "controller-slurm.conf").write_text(controller_conf)
        if node_type == "controller":
            if agent_delay == 0:
                self.write("/opt/slurm/etc/slurm.conf", controller_conf)
            elif agent_delay is not None:
                (self.state / "agent_delay").write_text(str(agent_delay))
        self.set_active(active)

    def harness_env(self) -> dict[str, str]:
        env = {**super().harness_env(), "HARNESS_NODE_IPS": self.node_ips, "HARNESS_CONTROLLER_IP": self.controller_ip}
        if self.node_type == "controller":
            env["HARNESS_LOCAL_CTLD"] = "1"
        return env


# ---------------------------------------------------------------------------
# A HyperPod node of an API-driven Slurm cluster (Orchestrator.Slurm + SlurmConfig)
# ---------------------------------------------------------------------------
#
# HyperPod itself writes slurm.conf (controller) and mounts FSx from InstanceStorageConfigs; the
# lifecycle prefix has no provisioning_parameters.json (CreateCluster refuses it with SlurmConfig).
# Sources: docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-ref.html
# (#sagemaker-hyperpod-ref-slurm-configuration) and sagemaker-hyperpod-slurm-api-config-migration.html.
# Compute and login nodes still have no local slurm.conf (configless); the order of HyperPod's own
# Slurm start and OnCreate is not documented, so the daemons' state is a parameter (``active``).


# User database stubs: state/passwd and state/group stand in for /etc/passwd and /etc/group.
USER_STUBS = {
    "getent": textwrap.dedent(
        """\
        db="${state}/$1"; key="$2"
        [[ -f "${db}" ]] || exit 2
        if [[ "$1" == group && "${key}" =~ ^[0-9]+$ ]]; then
          awk -F: -v k="${key}" '$3 == k {print; found=1} END {exit !found}' "${db}" || exit 2
        else
          awk -F: -v k="${key}" '$1 == k {print; found=1} END {exit !found}' "${db}" || exit 2
        fi
        """
    ),
    "groupadd": 'printf "%s:x:%s:\\n" "${@: -1}" "$2" >>"${state}/group"\n',
    "useradd": textwrap.dedent(
        """\
        uid="" gid="" home=""
        while (($# > 1)); do
          case "$1" in --uid) uid="$2"; shift ;; --gid) gid="$2"; shift ;; --home-dir) home="$2"; shift ;; esac
          shift
        done
        printf '%s:x:%s:%s::%s:/bin/bash\\n' "$1" "${uid}" "${gid}" "${home}" >>"${state}/passwd"
        """
    ),
    "chown": "exit 0\n",
}


# What installing enroot, pyxis and Docker leaves behind, without a network: apt-get of the enroot
# packages creates /usr/bin/enroot under the fake root, make install of pyxis its SPANK plugin,
# apt-get install docker.io /usr/bin/docker; usermod/id keep the docker group in state/.
CONTAINER_STUBS = {
    "dpkg": "echo amd64\n",
    # git clone makes the folder; git -C DIR rev-parse HEAD answers the pinned pyxis commit (or
    # HARNESS_PYXIS_HEAD: a moved tag).
    "git": textwrap.dedent(
        """\
        if [[ "$1" == -C ]]; then echo "${HARNESS_PYXIS_HEAD:-e006b893e4b63303da154bf1800076dcd6a64bc9}"
        else mkdir -p "${@: -1}"; fi
        """
    ),
    "make": 'lib="${HARNESS_ROOT}/usr/local/lib/slurm"; mkdir -p "${lib}" && : >"${lib}/spank_pyxis.so"\n',
    "apt-get": textwrap.dedent(
        """\
        for arg in "$@"; do
          case "${arg}" in
            */enroot_*.deb) mkdir -p "${HARNESS_ROOT}/usr/bin"; printf '#!/bin/sh\\n' >"${HARNESS_ROOT}/usr/bin/enroot"
                         chmod +x "${HARNESS_ROOT}/usr/bin/enroot" ;;
            docker.io) mkdir -p "${HARNESS_ROOT}/usr/bin"; printf '#!/bin/sh\\n' >"${HARNESS_ROOT}/usr/bin/docker"
                       chmod +x "${HARNESS_ROOT}/usr/bin/docker" ;;
          esac
        done
        """
    ),
    "usermod": 'printf "%s\\n" "${@: -1}" >>"${state}/docker_members"\n',
    "id": textwrap.dedent(
        """\
        name="${@: -1}"
        groups="${name}"
        grep -Fxq -- "${name}" "${state}/docker_members" 2>/dev/null && groups="${groups} docker"
        echo "${groups}"
        """
    ),
}


class HyperPodApiSlurmNode(FakeNode):
    """A node of ``node_type`` in an API-driven Slurm cluster, just before on_create.sh runs."""

    def __init__(
        self,
        tmp_path: Path,
        source_dir: Path,
        *,
        node_type: str,
        node_ip: str,
        controller_ip: str,
        nodes: Mapping[str, object],
        resource_config: Mapping[str, object],
        controller_conf: str,
        fsx_mounted: bool = True,
        active: tuple[str, ...] = ("munge",),
    ) -> None:
        super().__init__(tmp_path, source_dir, {**LUSTRE_STUBS, **SLURM_STUBS, **USER_STUBS, **CONTAINER_STUBS})
        self.node_type = node_type
        self.node_ips = f"{node_ip} 172.16.0.9"
        self.controller_ip = controller_ip
        (self.scripts / "slurm_nodes.json").write_text(json.dumps(nodes, indent=2))
        self.write("/opt/ml/config/resource_config.json", json.dumps(resource_config))
        self.write("/etc/os-release", UBUNTU_OS_RELEASE)
        self.write("/etc/fstab", "UUID=1234 / ext4 defaults 1 1\n")
        self.write("/etc/systemd/system/slurmd.service", SLURM_AMI_SLURMD_UNIT)
        self.write("/etc/systemd/system/slurmctld.service", SLURM_AMI_SLURMCTLD_UNIT)
        (self.state / "controller-slurm.conf").write_text(controller_conf)
        if node_type == "controller":
            self.write("/opt/slurm/etc/slurm.conf", controller_conf)
        if fsx_mounted:
            self.p("/fsx").mkdir(parents=True, exist_ok=True)
            self.set_mounted(["/fsx"])
        self.set_active(active)
        (self.state / "passwd").write_text("root:x:0:0::/root:/bin/bash\nubuntu:x:1000:1000::/home/ubuntu:/bin/bash\n")
        (self.state / "group").write_text("root:x:0:\nubuntu:x:1000:\n")

    def passwd(self) -> list[str]:
        return (self.state / "passwd").read_text().splitlines()

    def harness_env(self) -> dict[str, str]:
        env = {**super().harness_env(), "HARNESS_NODE_IPS": self.node_ips, "HARNESS_CONTROLLER_IP": self.controller_ip}
        if self.node_type == "controller":
            env["HARNESS_LOCAL_CTLD"] = "1"
        return env
