"""The kubectl Lambda layer that matches a cluster's Kubernetes version, and the version's support level."""

from __future__ import annotations

import importlib

from aws_cdk import Annotations
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.specs.kubernetes_versions import check_version, kubectl_layer_package, support_status

#: Warning id for a control plane in (or about to enter) EKS extended support.
SUPPORT_WARNING_ID = "hyperpod-cdk:kubernetes-extended-support"


def kubectl_layer(scope: Construct, construct_id: str, kubernetes_version: str) -> lambda_.ILayerVersion:
    """A new ``KubectlV<minor>Layer`` (kubectl and helm under ``/opt``) for ``kubernetes_version``.

    The layers are separate PyPI packages; the one for the default version is a dependency of
    hyperpod-cdk, the other versions HyperPod accepts come with the ``kubectl-all`` extra. A
    missing one is a one-line error naming the package.
    """
    distribution, module_name, class_name = kubectl_layer_package(kubernetes_version)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        raise HyperPodConfigError(
            "kubernetes_version",
            f"Kubernetes {kubernetes_version} needs the kubectl layer {distribution}: pip install {distribution} "
            "(or hyperpod-cdk[kubectl-all])",
        ) from None
    layer: lambda_.ILayerVersion = getattr(module, class_name)(scope, construct_id)
    return layer


def kubernetes_version_problem(kubernetes_version: object) -> str | None:
    """Why ``kubernetes_version`` cannot be used (not accepted by HyperPod, or past EKS extended support)."""
    try:
        check_version(kubernetes_version)
    except ValueError as error:
        return str(error)
    return None


def warn_about_support(construct: Construct, kubernetes_version: str) -> None:
    """A synth warning stating the price when the version is in, or within weeks of, EKS extended support.

    Judged on today's date (``hyperpod_cdk.specs.kubernetes_versions.today``), so the same app warns
    once the date passes; acknowledge with ``Annotations.of(c).acknowledge_warning(SUPPORT_WARNING_ID)``.
    """
    status = support_status(kubernetes_version)
    if status.level in ("extended", "ending"):
        Annotations.of(construct).add_warning_v2(SUPPORT_WARNING_ID, status.message)
