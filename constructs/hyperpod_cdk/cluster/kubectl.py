"""The kubectl Lambda layer that matches a cluster's Kubernetes version."""

from __future__ import annotations

import importlib

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.specs.kubernetes_versions import kubectl_layer_package


def kubectl_layer(scope: Construct, construct_id: str, kubernetes_version: str) -> lambda_.ILayerVersion:
    """A new ``KubectlV<minor>Layer`` (kubectl and helm under ``/opt``) for ``kubernetes_version``.

    The layers are separate PyPI packages; the one for the default version is a dependency of
    hyperpod-cdk, others are installed with the ``kubectl`` extra or by hand. A missing one is a
    one-line error naming the package.
    """
    distribution, module_name, class_name = kubectl_layer_package(kubernetes_version)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        raise HyperPodConfigError(
            "kubernetes_version",
            f"Kubernetes {kubernetes_version} needs the kubectl layer {distribution}: pip install {distribution}",
        ) from None
    layer: lambda_.ILayerVersion = getattr(module, class_name)(scope, construct_id)
    return layer
