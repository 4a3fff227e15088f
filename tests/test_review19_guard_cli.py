"""Review round 19 (tools): the guard and CLI findings R19T-M2, R19T-L1 and R19T-L2."""

from __future__ import annotations

import argparse
import base64
import copy
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from hyperpod_cdk.cli import images as images_cli
from hyperpod_cdk.cli.access import AccessError, merge_kubeconfig
from hyperpod_cdk.cli.clients import Clients
from hyperpod_cdk.cli.main import main as cli_main
from hyperpod_cdk.cli.output import RefusedError
from hyperpod_cdk.guard import compare_templates
from hyperpod_cdk.guard import main as guard_main
from hyperpod_cdk.guard.diff import CONDITION_PROPERTY, KUBERNETES_OBJECT_TYPES

REPO = Path(__file__).resolve().parent.parent
NEVER = {"Fn::Equals": ["a", "b"]}
# One path component over NAME_MAX (255 bytes on Linux): stat() fails with ENAMETOOLONG, which pathlib's
# is_dir()/exists() let through (they ignore only "no such file" and the like).
LONG = "a" * 300


# --- R19T-M2: a Condition on a custom resource that put objects into Kubernetes ------------------------


def _write(path: Path, template: dict) -> Path:
    path.write_text(json.dumps(template))
    return path


def test_never_condition_on_the_platform_chart_and_manifests_is_refused(platform, tmp_path, capsys):
    """The reviewer's pair: the default app's template with ``Condition: Never`` on its
    Custom::HyperPodHelmDependencies and one Custom::HyperPodManifests said "no replacing changes", exit 0."""
    old = platform.template
    new = copy.deepcopy(old)
    resources = new["Resources"]
    (helm,) = (k for k, v in resources.items() if v["Type"] == "Custom::HyperPodHelmDependencies")
    manifests = sorted(k for k, v in resources.items() if v["Type"] == "Custom::HyperPodManifests")[0]
    new.setdefault("Conditions", {})["Never"] = NEVER
    for logical_id in (helm, manifests):
        resources[logical_id]["Condition"] = "Never"
    code = guard_main(
        ["--old", str(_write(tmp_path / "old.json", old)), "--new", str(_write(tmp_path / "new.json", new))]
    )
    out = capsys.readouterr().out
    assert code == 1, out
    assert out.startswith("2 replacing or disruptive changes"), out
    assert f"{helm} (Custom::HyperPodHelmDependencies)" in out
    assert f"{manifests} (Custom::HyperPodManifests)" in out
    assert out.count("[REMOVED] (Condition)") == 2
    assert "helm uninstall of the HyperPod chart" in out and "kubectl delete of its manifest set" in out
    assert "false with the parameter defaults" in out


def _k8s_resource(resource_type: str, **extra) -> dict:
    return {"Type": resource_type, "Properties": {"ServiceToken": "arn:aws:lambda:us-west-2:1:function:f"}, **extra}


@pytest.mark.parametrize("resource_type", sorted(KUBERNETES_OBJECT_TYPES))
def test_a_condition_added_to_a_kubernetes_object_resource_is_a_removal(resource_type):
    params = {"Mode": {"Type": "String", "Default": "on"}}
    gate = {"Fn::Equals": [{"Ref": "Mode"}, "on"]}
    old = {"Parameters": params, "Resources": {"Objects": _k8s_resource(resource_type)}}
    new = {"Parameters": params, "Conditions": {"Gate": gate}, "Resources": {"Objects": _k8s_resource(resource_type)}}
    new["Resources"]["Objects"]["Condition"] = "Gate"
    [finding] = compare_templates(old, new).findings
    assert (finding.logical_id, finding.property, finding.effect) == ("Objects", CONDITION_PROPERTY, "removed")
    assert "true with the parameter defaults, but a deploy with other parameter values deletes" in finding.reason
    assert f"Its handler then runs {KUBERNETES_OBJECT_TYPES[resource_type]}" in finding.reason
    assert finding.guarded  # in the report (exit 1), not only in the "also replaced" summary


def test_a_changed_condition_input_on_a_kubernetes_object_resource_is_reported_and_removal_of_one_is_not():
    def template(default: str, *, conditional: bool = True) -> dict:
        objects = _k8s_resource("Custom::HyperPodManifests")
        if conditional:
            objects["Condition"] = "Gate"
        return {
            "Parameters": {"Mode": {"Type": "String", "Default": default}},
            "Conditions": {"Gate": {"Fn::Equals": [{"Ref": "Mode"}, "on"]}},
            "Resources": {"Objects": objects},
        }

    assert compare_templates(template("on"), template("on")).findings == []
    # Same condition name, the parameter default it reads flips it to false.
    [flipped] = compare_templates(template("on"), template("off")).findings
    assert 'parameter Mode (Default): "on" -> "off"' in (flipped.cause or "")
    assert "false with the parameter defaults" in flipped.reason and "kubectl delete" in flipped.reason
    # A condition taken away makes the resource unconditional: nothing is deleted.
    assert compare_templates(template("on"), template("on", conditional=False)).findings == []


def test_a_retained_kubernetes_object_resource_with_a_new_condition_says_it_is_kept():
    old = {"Resources": {"Objects": _k8s_resource("Custom::AWSCDK-EKS-HelmChart", DeletionPolicy="Retain")}}
    new = copy.deepcopy(old)
    new["Conditions"] = {"Never": NEVER}
    new["Resources"]["Objects"]["Condition"] = "Never"
    [finding] = compare_templates(old, new).findings
    assert finding.effect == "removed" and "kept but no longer managed" in finding.reason
    assert "helm uninstall" not in finding.reason


def test_a_condition_on_another_custom_resource_still_passes():
    old = {"Resources": {"Other": _k8s_resource("Custom::Unrelated")}}
    new = copy.deepcopy(old)
    new["Conditions"] = {"Never": NEVER}
    new["Resources"]["Other"]["Condition"] = "Never"
    assert compare_templates(old, new).findings == []


# --- R19T-L1: a path argument with a component over 255 bytes ------------------------------------------


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "OSError" not in err
    return lines[0]


@pytest.mark.parametrize("where", ["old", "new"])
def test_guard_names_a_too_long_path_in_one_line(where, tmp_path, capsys):
    good = _write(tmp_path / "t.json", {"Resources": {}})
    paths = {"old": str(good), "new": str(good), where: str(tmp_path / LONG)}
    assert guard_main(["--old", paths["old"], "--new", paths["new"]]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith("python -m hyperpod_cdk.guard: error: cannot read ") and "File name too long" in line
    assert len(line) < 400  # the path is cut, not echoed whole


@pytest.mark.parametrize("path", [LONG, f"{LONG}.json", f"{LONG}/cdk.out"])
def test_lint_names_a_too_long_path_in_one_line(path, capsys):
    assert cli_main(["lint", path]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith(f"error: {path[:50]}") and "cannot read it (File name too long)" in line


def test_neuron_check_names_a_too_long_config_path_in_one_line(capsys):
    assert cli_main(["neuron", "check", f"{LONG}.json"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line == f"error: {LONG}.json: cannot read it (File name too long)"


def test_neuron_check_reads_a_too_long_name_as_an_unknown_architecture(capsys):
    assert cli_main(["neuron", "check", LONG, "--json"]) == 2  # 2: unknown architecture
    result = json.loads(capsys.readouterr().out)
    assert result["known"] is False and result["query"] == LONG


def test_kubeconfig_names_a_too_long_path_in_one_line(tmp_path):
    with pytest.raises(AccessError) as raised:
        merge_kubeconfig(tmp_path / LONG, {})
    assert raised.value.code == 2
    assert str(raised.value).startswith("cannot read kubeconfig ") and "File name too long" in str(raised.value)


# --- R19T-L2: images --copy and a registry that stalls -------------------------------------------------

MIRROR = "registry.example.com/mirror"


def _config(tmp_path: Path, mirror: str = MIRROR) -> Path:
    data = yaml.safe_load((REPO / "hyperpod.yaml").read_text())
    data.setdefault("kubernetes", {})["image_mirror"] = mirror
    path = tmp_path / "hyperpod.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


class StallingTool:
    """Stands in for subprocess.run: times out on the images named ``stall``, succeeds on the others."""

    def __init__(self, stall: str) -> None:
        self.stall = stall
        self.calls: list[list[str]] = []

    def __call__(self, command, *, timeout=None, **_kwargs):
        self.calls.append(list(command))
        if self.stall in " ".join(command):
            raise subprocess.TimeoutExpired(command, timeout)
        return subprocess.CompletedProcess(command, 0, stdout="", stderr="")


def _run_copy(tmp_path: Path, runner, *, json_output: bool, factory=None) -> int:
    args = argparse.Namespace(config=str(_config(tmp_path)), copy=True, tool=None, json=json_output)
    return images_cli.run(
        args, factory or (lambda region: Clients(region=region)), which=lambda name: f"/usr/bin/{name}", runner=runner
    )


def test_a_copy_that_times_out_fails_its_row_and_the_table_keeps_every_row(tmp_path, capsys):
    tool = StallingTool("mpi-operator")
    assert _run_copy(tmp_path, tool, json_output=True) == 1
    captured = capsys.readouterr()
    rows = {row["component"]: row for row in json.loads(captured.out)}  # stdout stays one JSON document
    assert rows["MPI operator"]["status"] == f"failed: timed out after {images_cli.COPY_TIMEOUT_S} s"
    assert rows["NVIDIA device plugin"]["status"] == "copied"
    # The images after the stalled one are still copied.
    assert len(tool.calls) == sum(1 for row in rows.values() if row["mirrored"])
    assert {row["status"] for row in rows.values() if row["mirrored"] and row["component"] != "MPI operator"} == {
        "copied"
    }


def test_a_copy_that_times_out_is_named_in_one_line_with_the_table(tmp_path, capsys):
    assert _run_copy(tmp_path, StallingTool("mpi-operator"), json_output=False) == 1
    captured = capsys.readouterr()
    line = _one_error_line(captured.err)
    assert line == (
        f"error: crane copy of docker.io/mpioperator/mpi-operator:0.5 timed out after {images_cli.COPY_TIMEOUT_S} s; "
        "the other images are still copied"
    )
    assert "timed out after" in captured.out and "copied" in captured.out  # the table is printed


def test_a_copy_tool_that_cannot_start_fails_its_row(tmp_path, capsys):
    def vanished(command, **_kwargs):
        raise FileNotFoundError(2, "No such file or directory", command[0])

    assert _run_copy(tmp_path, vanished, json_output=True) == 1
    rows = json.loads(capsys.readouterr().out)
    assert {row["status"] for row in rows if row["mirrored"]} == {"failed: cannot run crane: No such file or directory"}


class _Ecr:
    def get_authorization_token(self):
        return {"authorizationData": [{"authorizationToken": base64.b64encode(b"AWS:pw").decode()}]}


def test_a_login_that_times_out_is_one_line_exit_1(tmp_path):
    def stalled_login(command, *, timeout=None, **_kwargs):
        assert command[:3] == ["crane", "auth", "login"]
        raise subprocess.TimeoutExpired(command, timeout)

    config = _config(tmp_path, "123456789012.dkr.ecr.us-west-2.amazonaws.com/hyperpod-mirror")
    args = argparse.Namespace(config=str(config), copy=True, tool=None, json=False)
    factory = lambda region: Clients(region=region, overrides={"ecr": _Ecr()})  # noqa: E731
    # RefusedError is what cli/main.py prints as one `error:` line with its code.
    with pytest.raises(RefusedError) as raised:
        images_cli.run(args, factory, which=lambda name: f"/usr/bin/{name}", runner=stalled_login)
    assert raised.value.code == 1
    assert str(raised.value).startswith(
        f"crane login to 123456789012.dkr.ecr.us-west-2.amazonaws.com timed out after {images_cli.LOGIN_TIMEOUT_S} s"
    )


def test_a_real_stalled_crane_is_stopped_and_reported(tmp_path, monkeypatch, capsys):
    """End to end through subprocess.run: a crane that hangs on one image is killed at the timeout."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    crane = bin_dir / "crane"
    crane.write_text('#!/bin/sh\ncase "$*" in *mpi-operator*) exec sleep 30;; esac\nexit 0\n')
    crane.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(images_cli, "COPY_TIMEOUT_S", 1)
    assert cli_main(["images", "--config", str(_config(tmp_path)), "--copy", "--json"]) == 1
    rows = {row["component"]: row["status"] for row in json.loads(capsys.readouterr().out)}
    assert rows["MPI operator"] == "failed: timed out after 1 s"
    assert rows["NVIDIA device plugin"] == "copied"
