"""kubernetes.image_mirror and `hyperpod-cdk images [--copy]`: a closed network either pulls every
chart image from ECR or the config names the component and image it cannot pull."""

from __future__ import annotations

import argparse
import base64
import copy
import json
import subprocess
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.stub import Stubber

from hyperpod_cdk.cli import images as images_cli
from hyperpod_cdk.cli.clients import Clients
from hyperpod_cdk.cli.main import main
from hyperpod_cdk.config import parse_config
from hyperpod_cdk.errors import HyperPodConfigError

REPO = Path(__file__).resolve().parent.parent
CLOSED = yaml.safe_load((REPO / "examples" / "closed-network.yaml").read_text())
MIRROR = "123456789012.dkr.ecr.us-west-2.amazonaws.com/hyperpod-mirror"


def closed(**kubernetes) -> dict:
    data = copy.deepcopy(CLOSED)
    data["kubernetes"].pop("image_mirror", None)
    for key, value in kubernetes.items():
        if value is None:
            data["kubernetes"].pop(key, None)
        else:
            data["kubernetes"][key] = value
    return data


def test_closed_network_without_a_mirror_names_the_component_and_image():
    data = closed()
    for toggle in ("mpi_operator", "training_operators"):
        data["kubernetes"]["helm_dependencies"][toggle] = False
    with pytest.raises(HyperPodConfigError) as caught:
        parse_config(data)
    assert caught.value.field == "kubernetes.image_mirror"
    assert "cannot pull 1 image: NVIDIA device plugin nvcr.io/nvidia/k8s-device-plugin:v0.16.1" in caught.value.message
    assert "(kubernetes.helm_dependencies.nvidia_device_plugin)" in caught.value.message
    assert "hyperpod-cdk images --copy" in caught.value.message
    # Turned off, the next unreachable component is named.
    data["kubernetes"]["helm_dependencies"]["nvidia_device_plugin"] = False
    data["kubernetes"]["helm_dependencies"]["mpi_operator"] = True
    with pytest.raises(HyperPodConfigError, match=r"MPI operator docker\.io/mpioperator/mpi-operator:0\.5"):
        parse_config(data)


def test_closed_network_without_a_mirror_names_every_unreachable_image_in_one_line():
    """Review round 15 (R15T-M3): the closed example has three such images; one run names all three."""
    with pytest.raises(HyperPodConfigError) as caught:
        parse_config(closed())
    text = str(caught.value)
    assert "\n" not in text and caught.value.field == "kubernetes.image_mirror"
    assert "a closed VPC cannot pull 3 images: " in text
    for component, image, toggle in [
        ("NVIDIA device plugin", "nvcr.io/nvidia/k8s-device-plugin:v0.16.1", "nvidia_device_plugin"),
        ("MPI operator", "docker.io/mpioperator/mpi-operator:0.5", "mpi_operator"),
        ("Kubeflow training operator", "docker.io/kubeflow/training-operator:v1-855e096", "training_operators"),
    ]:
        assert f"{component} {image} (kubernetes.helm_dependencies.{toggle})" in text
    assert "set kubernetes.image_mirror to a private ECR prefix in us-west-2" in text
    assert "(hyperpod-cdk images --copy)" in text
    # The fixed-image Neuron plugin is named in the same line, with its own fix.
    data = closed()
    data["kubernetes"]["helm_dependencies"]["neuron_device_plugin"] = True
    with pytest.raises(HyperPodConfigError) as caught:
        parse_config(data)
    assert "cannot pull 3 images" in caught.value.message
    assert "also kubernetes.helm_dependencies.neuron_device_plugin: Neuron device plugin" in caught.value.message


def test_a_long_list_of_unreachable_images_is_cut_with_a_count(monkeypatch):
    from hyperpod_cdk.config import kubernetes as k8s_config
    from hyperpod_cdk.specs.images import ChartImage

    many = tuple(
        ChartImage(f"Component {n}", "nvidia_device_plugin", f"docker.io/acme/c{n}:1", f"c{n}.image.repository")
        for n in range(13)
    )
    # A valid closed config, then 13 chart images whose repository values it does not set.
    kubernetes = parse_config(closed(image_mirror=MIRROR)).kubernetes
    monkeypatch.setattr(k8s_config, "OUTSIDE_ECR", many)
    found = k8s_config.unreachable_chart_images(kubernetes, "us-west-2")
    assert found is not None
    field, message = found
    assert field == "kubernetes.image_mirror"
    assert "cannot pull 13 images" in message and "Component 9 docker.io/acme/c9:1" in message
    assert "Component 10 " not in message and " and 3 more;" in message


def test_the_neuron_plugin_image_is_fixed_in_the_chart_so_a_mirror_does_not_help():
    data = closed(image_mirror=MIRROR)
    data["kubernetes"]["helm_dependencies"]["neuron_device_plugin"] = True
    with pytest.raises(HyperPodConfigError) as caught:
        parse_config(data)
    assert caught.value.field == "kubernetes.helm_dependencies.neuron_device_plugin"
    assert "public.ecr.aws/neuron/neuron-device-plugin:2.19.16.0 is fixed in the chart template" in caught.value.message


@pytest.mark.parametrize("mirror", ["ghcr.io/acme/mirror", "123456789012.dkr.ecr.us-east-1.amazonaws.com/mirror"])
def test_a_closed_vpc_pulls_only_from_ecr_in_its_region(mirror):
    with pytest.raises(HyperPodConfigError) as caught:
        parse_config(closed(image_mirror=mirror))
    assert caught.value.field == "kubernetes.image_mirror" and "not a private ECR registry in us-west-2" in str(
        caught.value
    )


def test_the_mirror_becomes_the_chart_values_and_a_value_you_set_wins():
    config = parse_config(closed(image_mirror=MIRROR))
    values = config.kubernetes.helm_dependencies.helm_values("us-west-2")
    assert values["nvidia-device-plugin.image.repository"] == f"{MIRROR}/nvidia/k8s-device-plugin"
    assert values["mpi-operator.mpiOperator.image.repository"] == f"{MIRROR}/mpioperator/mpi-operator"
    assert values["training-operators.image.repository"] == f"{MIRROR}/kubeflow/training-operator"
    own = f"{MIRROR.split('/')[0]}/own/device-plugin"
    data = closed(image_mirror=MIRROR)
    data["kubernetes"]["helm_dependencies"]["extra_values"] = {"nvidia-device-plugin.image.repository": own}
    values = parse_config(data).kubernetes.helm_dependencies.helm_values("us-west-2")
    assert values["nvidia-device-plugin.image.repository"] == own
    # The example itself is valid: it names its mirror.
    assert parse_config(CLOSED).kubernetes.image_mirror == MIRROR


def test_images_lists_what_the_config_needs(tmp_path, capsys):
    assert main(["images", "--config", str(REPO / "examples" / "closed-network.yaml"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_component = {row["component"]: row for row in rows}
    assert by_component["NVIDIA device plugin"]["mirrored"] == f"{MIRROR}/nvidia/k8s-device-plugin:v0.16.1"
    assert by_component["Health monitoring agent"]["pulled_from_vpc"] is True
    assert "Neuron device plugin" not in by_component  # off in the example
    assert all(row["status"] == "listed" for row in rows)
    slurm = REPO / "examples" / "slurm.yaml"
    assert main(["images", "--config", str(slurm), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


class FakeTool:
    """Stands in for crane: records the commands and what came on stdin; fails the copies asked to."""

    def __init__(self, fail: str = "") -> None:
        self.calls: list[tuple[list[str], str | None]] = []
        self.fail = fail

    def __call__(self, command, *, input=None, **_kwargs):  # noqa: A002 - subprocess.run's name
        self.calls.append((list(command), input))
        code = 1 if self.fail and any(self.fail in part for part in command) else 0
        error = "MANIFEST_UNKNOWN: not found" if code else ""
        return subprocess.CompletedProcess(command, code, stdout="", stderr=error)


def _copy(tmp_path, tool: FakeTool, *, repos_exist: bool = False, which=lambda name: f"/usr/bin/{name}", data=None):
    config = tmp_path / "closed.yaml"
    config.write_text(yaml.safe_dump(CLOSED if data is None else data))
    ecr = boto3.client("ecr", region_name="us-west-2", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(ecr)
    token = base64.b64encode(b"AWS:secret-password").decode()
    stub.add_response("get_authorization_token", {"authorizationData": [{"authorizationToken": token}]})
    for path in (
        "nvidia/k8s-device-plugin",
        "mpioperator/mpi-operator",
        "kubeflow/training-operator",
        "docker/library/python",
    ):
        name = f"hyperpod-mirror/{path}"
        if repos_exist:
            stub.add_client_error(
                "create_repository",
                "RepositoryAlreadyExistsException",
                expected_params={"repositoryName": name, "imageScanningConfiguration": {"scanOnPush": True}},
            )
        else:
            stub.add_response(
                "create_repository",
                {"repository": {"repositoryName": name}},
                {"repositoryName": name, "imageScanningConfiguration": {"scanOnPush": True}},
            )
    args = argparse.Namespace(config=str(config), copy=True, tool=None, json=True)
    with stub:
        code = images_cli.run(
            args, lambda region: Clients(region=region, overrides={"ecr": ecr}), which=which, runner=tool
        )
        if code != 2:
            stub.assert_no_pending_responses()
    return code


def test_copy_creates_the_repositories_logs_in_on_stdin_and_copies(tmp_path, capsys):
    tool = FakeTool()
    assert _copy(tmp_path, tool) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {row["status"] for row in rows if row["mirrored"]} == {"copied"}
    login, *copies = tool.calls
    assert login == (
        ["crane", "auth", "login", MIRROR.split("/")[0], "-u", "AWS", "--password-stdin"],
        "secret-password",
    )
    assert [
        "crane",
        "copy",
        "--",  # options end: an image name is never a flag (seventh review, L2)
        "nvcr.io/nvidia/k8s-device-plugin:v0.16.1",
        f"{MIRROR}/nvidia/k8s-device-plugin:v0.16.1",
    ] in [c for c, _ in copies]
    assert len(copies) == 4 and all("secret-password" not in " ".join(c) for c, _ in copies)


def test_copy_reports_a_failed_copy_and_tolerates_existing_repositories(tmp_path, capsys):
    assert _copy(tmp_path, FakeTool(fail="mpi-operator"), repos_exist=True) == 1
    rows = {row["component"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["MPI operator"]["status"].startswith("failed: MANIFEST_UNKNOWN")
    assert rows["NVIDIA device plugin"]["status"] == "copied"


def test_copy_needs_a_tool_and_a_mirror(tmp_path, capsys):
    assert _copy(tmp_path, FakeTool(), which=lambda name: None) == 2
    assert "--copy needs crane or skopeo on PATH" in capsys.readouterr().err
    plain = tmp_path / "plain.yaml"
    plain.write_text((REPO / "hyperpod.yaml").read_text())
    assert main(["images", "--config", str(plain), "--copy"]) == 2
    assert "kubernetes.image_mirror: set a registry prefix" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["kubernetes", "storage"])
def test_images_lists_the_fsx_directory_job(tmp_path, capsys, where):
    """Sixth review L2: the FSx team-directory Job's image is among those to copy into the mirror."""
    data = closed(image_mirror=MIRROR)
    if where == "kubernetes":
        data["kubernetes"]["fsx"] = {
            "file_system_id": "fs-0123456789abcdef0",
            "dns_name": "fs-0123456789abcdef0.fsx.us-west-2.amazonaws.com",
            "mount_name": "abcdefgh",
            "directory_image": "docker.io/library/busybox-python:1.0",
        }
        expected = {"FSx team-directory Job": f"{MIRROR}/library/busybox-python:1.0"}
    else:
        data["storage"] = {"fsx": {"storage_capacity_gib": 1200}}
        expected = {"example smoke job (dist/), FSx team-directory Job": f"{MIRROR}/docker/library/python:3.12-slim"}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["images", "--config", str(path), "--json"]) == 0
    rows = {row["component"]: row["mirrored"] for row in json.loads(capsys.readouterr().out)}
    assert expected.items() <= rows.items()


DIGEST = (
    "sha256:" + "0" * 64
)  # a well-formed digest for the test only (the real one is resolved where there is internet)


@pytest.mark.parametrize("reference", [f"3.12-slim@{DIGEST}", DIGEST])
def test_a_digest_pinned_image_is_copied_by_digest_into_the_right_repository(tmp_path, capsys, reference):
    """R8P-L1: kubernetes.examples.smoke_image (the FSx directory Job's image) pinned by digest: the
    pattern accepts it, the ECR repository is the path without tag or digest, the copy keeps the digest."""
    separator = "@" if reference.startswith("sha256:") else ":"
    image = f"public.ecr.aws/docker/library/python{separator}{reference}"
    data = copy.deepcopy(CLOSED)
    data["kubernetes"].setdefault("examples", {})["smoke_image"] = image
    parse_config(data)
    tool = FakeTool()
    assert _copy(tmp_path, tool, data=data) == 0  # the stub expects hyperpod-mirror/docker/library/python
    copies = [c for c, _ in tool.calls[1:]]
    assert ["crane", "copy", "--", image, f"{MIRROR}/docker/library/python{separator}{reference}"] in copies
