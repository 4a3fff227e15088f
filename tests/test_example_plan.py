"""Example jobs generated from the platform config (issue 17): type, accelerators, replicas, FSx claim."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from hyperpod_cdk.config import load_config
from hyperpod_cdk.config.messages import error_line
from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.kubernetes.charts.dist import main

REPO = Path(__file__).resolve().parent.parent
FSX = {"fsx": {"storage_capacity_gib": 1200, "per_unit_storage_throughput": 250}}


def _config(tmp_path: Path, groups: list[dict[str, Any]], **extra: Any) -> Path:
    data = yaml.safe_load((REPO / "hyperpod.yaml").read_text())
    data["hyperpod"]["instance_groups"] = [data["hyperpod"]["instance_groups"][0], *groups]
    for key, value in extra.items():
        data[key] = copy.deepcopy(value)
    path = tmp_path / "hyperpod.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _dist(tmp_path: Path, config: Path) -> dict[str, Any]:
    out = tmp_path / "dist"
    assert main(["--config", str(config), "--out", str(out)]) == 0
    return {p.name: next(yaml.safe_load_all(p.read_text())) for p in (out / "jobs").glob("*.yaml")}


def test_two_g5_48xlarge_with_fsx_get_the_fsdp_job_that_fits(tmp_path: Path) -> None:
    config = _config(tmp_path, [{"name": "train", "instance_type": "ml.g5.48xlarge", "instance_count": 2}], storage=FSX)
    job = _dist(tmp_path, config)["llama3-1-8b-fsdp.yaml"]
    assert job["spec"]["nprocPerNode"] == "8"
    (replica,) = job["spec"]["replicaSpecs"]
    assert replica["replicas"] == 2
    pod = replica["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 8
    assert container["resources"]["limits"]["vpc.amazonaws.com/efa"] == 1
    assert "--nproc-per-node=8" in container["args"] and "--nnodes=2" in container["args"]
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    expressions = {e["key"]: e["values"] for e in terms[0]["matchExpressions"]}
    assert expressions["node.kubernetes.io/instance-type"] == ["ml.g5.48xlarge"]
    assert {"name": "fsx", "persistentVolumeClaim": {"claimName": "fsx-claim"}} in pod["volumes"]
    assert "--resume_from_checkpoint=/fsx/checkpoints" in container["args"]


def test_default_platform_job_fits_its_one_gpu_and_has_no_fsx(tmp_path: Path) -> None:
    jobs = _dist(tmp_path, REPO / "hyperpod.yaml")
    assert sorted(jobs) == ["llama3-1-8b-fsdp.yaml", "smoke.yaml"]
    job = jobs["llama3-1-8b-fsdp.yaml"]
    (replica,) = job["spec"]["replicaSpecs"]
    limits = replica["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert (replica["replicas"], limits["nvidia.com/gpu"], limits["vpc.amazonaws.com/efa"]) == (1, 1, 1)
    volumes = replica["template"]["spec"]["volumes"]
    assert {"name": "checkpoints", "emptyDir": {}} in volumes
    assert not any("persistentVolumeClaim" in v for v in volumes)
    for path in (REPO / "examples").glob("eks*.yaml"):  # every shipped EKS example plans a job that fits
        config = load_config(path)
        from hyperpod_cdk.config.example_plan import plan_training_example

        plan = plan_training_example(config.hyperpod.instance_groups, config.kubernetes.examples)
        assert plan is None or plan.replicas <= max(plan.group_count, 1), path


def test_trainium_platform_gets_a_neuron_job(tmp_path: Path) -> None:
    config = _config(tmp_path, [{"name": "trn", "instance_type": "ml.trn1.32xlarge", "instance_count": 1}], storage=FSX)
    jobs = _dist(tmp_path, config)
    assert sorted(jobs) == ["llama3-1-8b-neuron.yaml", "smoke.yaml"]
    job = jobs["llama3-1-8b-neuron.yaml"]
    assert job["spec"]["nprocPerNode"] == "32"  # 16 Trainium devices x 2 cores
    (replica,) = job["spec"]["replicaSpecs"]
    (container,) = replica["template"]["spec"]["containers"]
    assert container["command"] == ["hyperpodrun"]
    assert container["resources"]["limits"]["aws.amazon.com/neurondevice"] == 16
    assert container["resources"]["limits"]["vpc.amazonaws.com/efa"] == 8
    assert "nvidia.com/gpu" not in container["resources"]["limits"]
    assert container["image"] == "${REGISTRY}fsdp:neuronx-llama3"


def test_cpu_only_platform_gets_only_the_smoke_job(tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / "hyperpod.yaml").read_text())
    data["hyperpod"]["instance_groups"] = data["hyperpod"]["instance_groups"][:1]
    path = tmp_path / "hyperpod.yaml"
    path.write_text(yaml.safe_dump(data))
    assert sorted(_dist(tmp_path, path)) == ["smoke.yaml"]


@pytest.mark.parametrize(
    "examples, message",
    [
        (
            {"nodes": 3},
            "kubernetes.examples.nodes: job llama3-1-8b-fsdp asks for 3 nodes of ml.g5.8xlarge, but group "
            "'gpu' has 1; lower nodes or raise the group's instance_count",
        ),
        (
            {"instance_type": "ml.p5.48xlarge"},
            "kubernetes.examples.instance_type: the example job asks for "
            "ml.p5.48xlarge, but no instance group has that type (system: "
            "ml.m5.2xlarge, gpu: ml.g5.8xlarge)",
        ),
        ({"instance_type": "ml.m5.2xlarge"}, "group 'system' (ml.m5.2xlarge) has no GPUs or Neuron devices"),
    ],
)
def test_unschedulable_example_is_a_config_error_naming_job_and_group(
    tmp_path: Path, examples: dict[str, Any], message: str
) -> None:
    data = yaml.safe_load((REPO / "hyperpod.yaml").read_text())
    data["kubernetes"] = {"examples": examples}
    path = tmp_path / "hyperpod.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(HyperPodConfigError) as caught:
        load_config(path)
    assert message in error_line(str(path), caught.value)
