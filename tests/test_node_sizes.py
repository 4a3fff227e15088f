"""R34P-M1: the example jobs asked for 8 vCPU and 64 GiB per GPU, more than 11 NVIDIA types HyperPod offers have
(256 GiB of an ml.g5.12xlarge's 192 GiB: the documented first job on examples/eks-governed.yaml stayed Pending).
The requests are now at most 75% of the node, from a table checked here against AWS's own SDK."""

from __future__ import annotations

import re

import pytest
from sagemaker.hyperpod.training.constants import INSTANCE_RESOURCES

from hyperpod_cdk.kubernetes.charts.example_jobs import llama3_1_8b_fsdp_job
from hyperpod_cdk.kubernetes.charts.inference_example import inference_endpoint
from hyperpod_cdk.specs.instance_types import INSTANCE_SPECS
from hyperpod_cdk.specs.node_sizes import NODE_SHARE, NODE_SIZES, pod_requests

NVIDIA = sorted(t for t, s in INSTANCE_SPECS.items() if s.accelerator == "nvidia")


def test_the_sizes_are_the_sdks() -> None:
    for instance_type, (vcpus, gib) in NODE_SIZES.items():
        if instance_type in INSTANCE_RESOURCES:
            sdk = INSTANCE_RESOURCES[instance_type]
            assert (vcpus, gib) == (sdk["cpu"], sdk["memory"]), instance_type


def test_every_nvidia_type_the_sdk_knows_has_a_size() -> None:
    assert [t for t in NVIDIA if t in INSTANCE_RESOURCES and t not in NODE_SIZES] == []
    assert set(NODE_SIZES) <= set(NVIDIA)


def _gib(quantity: str) -> float:
    match = re.fullmatch(r"(\d+)Gi", quantity)
    assert match, quantity
    return float(match.group(1))


@pytest.mark.parametrize("instance_type", NVIDIA)
def test_the_training_example_fits_every_nvidia_node(instance_type: str) -> None:
    job = llama3_1_8b_fsdp_job(image="r/i:1", namespace="ns", nodes=1, instance_type=instance_type).to_manifest()
    (container,) = job["spec"]["replicaSpecs"][0]["template"]["spec"]["containers"]
    requests = container["resources"]["requests"]
    if instance_type not in NODE_SIZES:
        assert "cpu" not in requests and "memory" not in requests  # unknown size: GPUs alone
        return
    vcpus, gib = NODE_SIZES[instance_type]
    assert float(requests["cpu"]) <= vcpus * NODE_SHARE and _gib(requests["memory"]) <= gib * NODE_SHARE


@pytest.mark.parametrize("instance_type", NVIDIA)
def test_the_inference_example_fits_every_nvidia_node(instance_type: str) -> None:
    manifest = inference_endpoint(
        name="m", namespace="ns", instance_type=instance_type, bucket_name="b", region="us-west-2", model_location="m"
    )
    requests = manifest["spec"]["worker"]["resources"]["requests"]
    if instance_type in NODE_SIZES:
        vcpus, gib = NODE_SIZES[instance_type]
        assert float(requests["cpu"]) <= vcpus * NODE_SHARE and _gib(requests["memory"]) <= gib * NODE_SHARE


def test_a_large_node_keeps_the_per_gpu_amounts() -> None:
    assert pod_requests("ml.p5.48xlarge", 8, cpu_per_gpu=8, gib_per_gpu=64) == ("64", "512Gi")
    assert pod_requests("ml.g5.12xlarge", 4, cpu_per_gpu=8, gib_per_gpu=64) == ("32", "144Gi")
