"""cert-manager as the EKS community add-on, schedulable on tainted HyperPod nodes."""

from __future__ import annotations

from typing import Any

from hyperpod_cdk.kubernetes.addons.base import CERT_MANAGER, POD_IDENTITY_AGENT, ConfiguredAddon

# Tolerate every taint: HyperPod nodes may carry user taints (instance group KubernetesConfig)
# and the health agent's sagemaker.amazonaws.com/node-health-status taint, and on a cluster made
# only of HyperPod nodes cert-manager would otherwise have nowhere to run. One replica each,
# as AWS's Terraform configures the same add-on (awslabs/awsome-distributed-ai
# 1.architectures/7.sagemaker-hyperpod-eks/terraform-modules/hyperpod-eks-tf/modules/hyperpod_cluster/cert_manager.tf).
_TOLERATE_ALL: list[dict[str, str]] = [{"operator": "Exists"}]
DEFAULT_CONFIGURATION: dict[str, Any] = {
    "replicaCount": 1,
    "tolerations": _TOLERATE_ALL,
    "webhook": {"replicaCount": 1, "tolerations": _TOLERATE_ALL},
    "cainjector": {"replicaCount": 1, "tolerations": _TOLERATE_ALL},
}


class CertManagerAddon(ConfiguredAddon):
    """The ``cert-manager`` EKS community add-on (namespace ``cert-manager``).

    The HyperPod training operator needs it for its webhook certificates. It is created after
    the pod identity agent when that exists (ordering only; cert-manager itself uses no AWS
    credentials).

    Args:
        cluster: the EKS cluster.
        version: add-on version, e.g. ``v1.18.2-eksbuild.2``. Default: the pin of
            :mod:`hyperpod_cdk.specs.addon_versions` for ``kubernetes_version``, else EKS's default.
        configuration_values: deep-merged over :data:`DEFAULT_CONFIGURATION`.
    """

    ADDON_NAME = CERT_MANAGER
    AFTER = (POD_IDENTITY_AGENT,)
    CONFIG_FIELD = "kubernetes.addons.cert_manager"
    DEFAULT_CONFIGURATION = DEFAULT_CONFIGURATION
