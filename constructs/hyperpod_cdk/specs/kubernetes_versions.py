"""Kubernetes versions an EKS control plane for HyperPod may run (pure Python).

One table for the config schema, the EKS construct and the kubectl layer that must match the
cluster's version. The HyperPod EKS prerequisites page lists the versions HyperPod accepts:
https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-prerequisites.html
"""

from __future__ import annotations

from typing import Literal

KubernetesVersion = Literal["1.28", "1.29", "1.30", "1.31", "1.32", "1.33"]
SUPPORTED_VERSIONS: tuple[str, ...] = KubernetesVersion.__args__  # type: ignore[attr-defined]
DEFAULT_VERSION: KubernetesVersion = "1.33"


def kubectl_layer_package(version: str) -> tuple[str, str, str]:
    """(PyPI distribution, module, class) of the kubectl Lambda layer for a cluster version.

    kubectl supports one minor version of skew with the API server
    (https://kubernetes.io/releases/version-skew-policy/#kubectl); aws-cdk publishes one layer per
    minor version, so the layer is chosen by the cluster's version.
    """
    minor = version.split(".")[1]
    return (
        f"aws-cdk.lambda-layer-kubectl-v{minor}",
        f"aws_cdk.lambda_layer_kubectl_v{minor}",
        f"KubectlV{minor}Layer",
    )
