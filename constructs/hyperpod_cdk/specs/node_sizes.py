"""vCPUs and memory of the NVIDIA HyperPod instance types, for the example jobs' CPU and memory requests.

A pod whose requests exceed what a node has stays Pending (the scheduler's fit filter), so the examples ask for a
share of the node, not a fixed amount per GPU (review round 34, R34P-M1: 8 vCPU and 64 GiB per GPU asked 256 GiB
of an ml.g5.12xlarge, which has 192 GiB). Sources: the SageMaker HyperPod SDK's ``INSTANCE_RESOURCES``
(aws/sagemaker-hyperpod-cli, ``src/sagemaker/hyperpod/training/constants.py``; ``tests/test_node_sizes.py`` checks
every entry against the installed SDK) and, for ``ml.g4dn.*``, which that table does not list, the EC2 G4
instance page (https://aws.amazon.com/ec2/instance-types/g4/). A type missing here (``ml.g7.*``) gets no CPU or
memory request: its pods schedule on GPUs alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

#: instance type -> (vCPUs, memory in GiB).
NODE_SIZES: Mapping[str, tuple[int, int]] = MappingProxyType(
    {
        "ml.g4dn.xlarge": (4, 16),
        "ml.g4dn.2xlarge": (8, 32),
        "ml.g4dn.4xlarge": (16, 64),
        "ml.g4dn.8xlarge": (32, 128),
        "ml.g4dn.12xlarge": (48, 192),
        "ml.g4dn.16xlarge": (64, 256),
        "ml.g5.xlarge": (4, 16),
        "ml.g5.2xlarge": (8, 32),
        "ml.g5.4xlarge": (16, 64),
        "ml.g5.8xlarge": (32, 128),
        "ml.g5.12xlarge": (48, 192),
        "ml.g5.16xlarge": (64, 256),
        "ml.g5.24xlarge": (96, 384),
        "ml.g5.48xlarge": (192, 768),
        "ml.g6.xlarge": (4, 16),
        "ml.g6.2xlarge": (8, 32),
        "ml.g6.4xlarge": (16, 64),
        "ml.g6.8xlarge": (32, 128),
        "ml.g6.12xlarge": (48, 192),
        "ml.g6.16xlarge": (64, 256),
        "ml.g6.24xlarge": (96, 384),
        "ml.g6.48xlarge": (192, 768),
        "ml.g6e.xlarge": (4, 32),
        "ml.g6e.2xlarge": (8, 64),
        "ml.g6e.4xlarge": (16, 128),
        "ml.g6e.8xlarge": (32, 256),
        "ml.g6e.12xlarge": (48, 384),
        "ml.g6e.16xlarge": (64, 512),
        "ml.g6e.24xlarge": (96, 768),
        "ml.g6e.48xlarge": (192, 1536),
        "ml.g7e.2xlarge": (8, 64),
        "ml.g7e.4xlarge": (16, 128),
        "ml.g7e.8xlarge": (32, 256),
        "ml.g7e.12xlarge": (48, 512),
        "ml.g7e.24xlarge": (96, 1024),
        "ml.g7e.48xlarge": (192, 2048),
        "ml.gr6.4xlarge": (16, 128),
        "ml.gr6.8xlarge": (32, 256),
        "ml.p4d.24xlarge": (96, 1152),
        "ml.p4de.24xlarge": (96, 1152),
        "ml.p5.4xlarge": (16, 256),
        "ml.p5.48xlarge": (192, 2048),
        "ml.p5e.48xlarge": (192, 2048),
        "ml.p5en.48xlarge": (192, 2048),
        "ml.p6-b200.48xlarge": (192, 2048),
        "ml.p6-b300.48xlarge": (192, 4096),
    }
)
#: The share of a node's vCPUs and memory an example pod asks for at most: the rest is for the kubelet's
#: reservations and the DaemonSets every HyperPod node runs (CNI, device plugins, health agents).
NODE_SHARE = 0.75


def pod_requests(instance_type: str, gpus: int, cpu_per_gpu: int, gib_per_gpu: int) -> tuple[str | None, str | None]:
    """(cpu, memory) requests for a pod using ``gpus`` GPUs of one node: ``cpu_per_gpu`` vCPUs and ``gib_per_gpu``
    GiB per GPU, at most :data:`NODE_SHARE` of the node; (None, None) for a type of unknown size."""
    size = NODE_SIZES.get(instance_type)
    if size is None:
        return None, None
    vcpus, gib = size
    return str(min(cpu_per_gpu * gpus, int(vcpus * NODE_SHARE))), f"{min(gib_per_gpu * gpus, int(gib * NODE_SHARE))}Gi"
