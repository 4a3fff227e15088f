"""The container images the HyperPod Helm chart deploys, and where a closed VPC can pull them from.

For the library's pinned chart revision (v3.9.0 of aws/sagemaker-hyperpod-cli,
``helm_chart/HyperPodHelmChart`` and its sub-charts' ``values.yaml``; docs/closed-network.md has
the table). A VPC without internet reaches AWS's regional ECR registries through the ``ecr.api``
/ ``ecr.dkr`` interface endpoints and S3, and nothing else: not nvcr.io, Docker Hub or
public.ecr.aws (ECR Public has no VPC endpoint).

An image mirror is a registry prefix under which every such image is copied with its original
path (``nvcr.io/nvidia/k8s-device-plugin`` -> ``<mirror>/nvidia/k8s-device-plugin``, same tag);
the chart's repository value then points there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: A registry prefix: host[/path], no scheme, tag or digest.
IMAGE_MIRROR_PATTERN = r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+([._/-][a-z0-9]+)*)*$"
#: An ECR private registry (optionally with a path): reachable through a VPC's ECR endpoints.
ECR_REGISTRY = re.compile(r"^(?P<account>[0-9]{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?(/.*)?$")


@dataclass(frozen=True)
class ChartImage:
    """One image of the chart: the component, the toggle that turns it on (``HelmDependenciesConfig``
    field), the image, and the chart value that sets its repository (None: fixed in the template)."""

    component: str
    toggle: str
    image: str
    repository_key: str | None

    @property
    def registry(self) -> str:
        return self.image.split("/", 1)[0]

    @property
    def path(self) -> str:
        """The repository path without the registry, tag or digest (``nvidia/k8s-device-plugin``)."""
        return image_repository_path(self.image)

    @property
    def tag(self) -> str:
        """What follows the repository: ``v0.16.1``, or ``3.12-slim@sha256:...`` for a digest-pinned image."""
        return self.image.split("/", 1)[1][len(self.path) + 1 :]

    def mirrored(self, mirror: str) -> str:
        # The tag and digest are kept: a pinned digest is the same bytes in the mirror (a copy by digest).
        separator = "@" if self.tag.startswith("sha256:") and "@" not in self.tag else ":"
        return f"{mirror_repository(mirror, self.path)}{separator}{self.tag}"


def image_repository_path(image: str) -> str:
    """``registry/path[:tag][@sha256:...]`` -> ``path`` (R8P-L1: digest-pinned references)."""
    return image.split("/", 1)[1].split("@", 1)[0].rsplit(":", 1)[0]


#: Chart images outside AWS's regional ECR (the health monitoring agent and the EFA device plugin
#: come from there and need no mirror).
OUTSIDE_ECR: tuple[ChartImage, ...] = (
    ChartImage(
        "NVIDIA device plugin",
        "nvidia_device_plugin",
        "nvcr.io/nvidia/k8s-device-plugin:v0.16.1",
        "nvidia-device-plugin.image.repository",
    ),
    ChartImage(
        "MPI operator",
        "mpi_operator",
        "docker.io/mpioperator/mpi-operator:0.5",
        "mpi-operator.mpiOperator.image.repository",
    ),
    ChartImage(
        "Kubeflow training operator",
        "training_operators",
        "docker.io/kubeflow/training-operator:v1-855e096",
        "training-operators.image.repository",
    ),
    # Written into the sub-chart's template, not a value: a mirror cannot redirect it.
    ChartImage(
        "Neuron device plugin", "neuron_device_plugin", "public.ecr.aws/neuron/neuron-device-plugin:2.19.16.0", None
    ),
)

#: Chart components pulled from AWS's regional ECR, through the VPC's ECR endpoints.
FROM_REGIONAL_ECR: tuple[tuple[str, str], ...] = (
    ("Health monitoring agent", "health_monitoring_agent"),
    ("EFA device plugin", "efa_device_plugin"),
)


def mirrored_image(image: str, mirror: str | None) -> str:
    """``image`` under ``mirror`` (same path and tag), where `hyperpod-cdk images --copy` copies it. No
    mirror, an image already in a private ECR registry, or one without registry and tag: unchanged."""
    if mirror is None or ECR_REGISTRY.match(image) or "/" not in image or ":" not in image.rsplit("/", 1)[1]:
        return image
    return ChartImage("", "", image, None).mirrored(mirror)


def mirror_repository(mirror: str, path: str) -> str:
    return f"{mirror.rstrip('/')}/{path}"


def reachable_in_region(mirror: str, region: str) -> bool:
    """A mirror a closed VPC in ``region`` pulls from: a private ECR registry of that region."""
    match = ECR_REGISTRY.match(mirror)
    return match is not None and match.group("region") == region
