"""An example InferenceEndpointConfig for the HyperPod inference operator (written to ``dist/``).

The operator's custom resource (``inference.sagemaker.aws.amazon.com/v1``, kind
``InferenceEndpointConfig``: sagemaker-hyperpod 3.12.0, ``inference/config/constants.py``) deploys a
model from S3 through the Mountpoint S3 CSI driver, on ``instance_type`` nodes, behind a SageMaker
endpoint of the same name. The spec is the SDK's ``_HPEndpoint`` model in Kubernetes (camelCase)
form; :mod:`hyperpod_cdk.kubernetes.charts.validate` checks it with that model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import cdk8s
from constructs import Construct

from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.kubernetes.charts.api_object import api_object
from hyperpod_cdk.kubernetes.charts.jobs import KUEUE_PRIORITY_LABEL, KUEUE_QUEUE_LABEL
from hyperpod_cdk.specs.instance_types import spec_for
from hyperpod_cdk.specs.node_sizes import pod_requests

__all__ = ["API_VERSION", "KIND", "InferenceEndpointChart", "inference_endpoint"]

API_VERSION = "inference.sagemaker.aws.amazon.com/v1"
KIND = "InferenceEndpointConfig"
# AWS's Large Model Inference container (vLLM backend), as AWS's inference examples deploy it from S3;
# 763104351884 is the AWS Deep Learning Containers registry account.
LMI_IMAGE = "763104351884.dkr.ecr.{region}.amazonaws.com/djl-inference:0.32.0-lmi14.0.0-cu124"
MODEL_MOUNT = "/opt/ml/model"
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def inference_endpoint(
    *,
    name: str,
    namespace: str,
    instance_type: str,
    bucket_name: str,
    region: str,
    model_location: str,
    image: str | None = None,
    replicas: int = 1,
    queue_name: str | None = None,
    kueue_priority_class: str | None = None,
) -> dict[str, Any]:
    """The manifest of one S3-sourced endpoint using every GPU of one ``instance_type`` node.

    ``queue_name`` / ``kueue_priority_class`` label it for task governance (the SageMaker-managed
    queue of a quota team), as AWS's examples label inference resources.
    """
    if not _NAME.match(name):
        raise HyperPodConfigError("name", f"'{name}' must be a DNS label of at most 63 characters")
    spec = spec_for(instance_type)
    if spec is None or spec.accelerator != "nvidia":
        raise HyperPodConfigError("instance_type", f"{instance_type} is not a known NVIDIA GPU instance type")
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
        raise HyperPodConfigError("replicas", f"must be a positive integer (got {replicas!r})")
    gpus = spec.accelerators
    pairs = ((KUEUE_QUEUE_LABEL, queue_name), (KUEUE_PRIORITY_LABEL, kueue_priority_class))
    labels = {key: value for key, value in pairs if value}
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = labels
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata,
        "spec": {
            "modelName": name,
            "endpointName": name,
            "instanceType": instance_type,
            "replicas": replicas,
            "invocationEndpoint": "invocations",
            "modelSourceConfig": {
                "modelSourceType": "s3",
                "s3Storage": {"bucketName": bucket_name, "region": region},
                "modelLocation": model_location,
                "prefetchEnabled": True,
            },
            "worker": {
                "image": image or LMI_IMAGE.format(region=region),
                "modelInvocationPort": {"containerPort": 8080, "name": "http"},
                "modelVolumeMount": {"name": "model-weights", "mountPath": MODEL_MOUNT},
                "resources": {
                    "requests": {**_cpu_memory(instance_type, gpus), "nvidia.com/gpu": gpus},
                    "limits": {"nvidia.com/gpu": gpus},
                },
                "environmentVariables": [
                    {"name": "HF_MODEL_ID", "value": MODEL_MOUNT},
                    {"name": "OPTION_ROLLING_BATCH", "value": "vllm"},
                    {"name": "TENSOR_PARALLEL_DEGREE", "value": str(gpus)},
                    {"name": "MODEL_CACHE_ROOT", "value": MODEL_MOUNT},
                ],
            },
        },
    }


class InferenceEndpointChart(cdk8s.Chart):
    """A chart holding one InferenceEndpointConfig manifest (``dist/inference/<name>.yaml``)."""

    def __init__(self, scope: Construct, id: str, *, manifest: Mapping[str, Any]) -> None:
        super().__init__(scope, id, disable_resource_name_hashes=True)
        if manifest.get("apiVersion") != API_VERSION or manifest.get("kind") != KIND:
            raise HyperPodConfigError("manifest", f"expected {API_VERSION} {KIND}")
        self.manifest = dict(manifest)
        api_object(self, "Resource", API_VERSION, KIND, manifest["metadata"], {"spec": manifest["spec"]})


def _cpu_memory(instance_type: str, gpus: int) -> dict[str, str]:
    """4 vCPU and 16 GiB per GPU, at most 75% of the node (an ml.g5.xlarge has 4 vCPU and 16 GiB: R34P-M1)."""
    cpu, memory = pod_requests(instance_type, gpus, cpu_per_gpu=4, gib_per_gpu=16)
    return {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
