"""metrics-server as the EKS community add-on, schedulable on tainted HyperPod nodes."""

from __future__ import annotations

from typing import Any

from hyperpod_cdk.config.addons import MetricsServerConfig
from hyperpod_cdk.kubernetes.addons.base import POD_IDENTITY_AGENT, ConfiguredAddon

ADDON_NAME = MetricsServerConfig.ADDON_NAME  # the config section names the add-on
# AWS's templates give the add-on tolerations for every taint effect so it runs on a cluster made
# only of HyperPod nodes (aws/sagemaker-hyperpod-cluster-setup eks/cloudformation/
# metrics-server-addon-template.yaml @79de7af1; awsome-distributed-ai's Terraform does the same).
DEFAULT_CONFIGURATION: dict[str, Any] = {"tolerations": [{"operator": "Exists"}]}


class MetricsServerAddon(ConfiguredAddon):
    """The ``metrics-server`` EKS community add-on (``kube-system``): the ``metrics.k8s.io`` API.

    No IAM. Created after the pod identity agent when it exists (ordering only).

    Args:
        cluster: the EKS cluster.
        version / configuration_values: add-on version pin; values deep-merged over
            :data:`DEFAULT_CONFIGURATION`.
    """

    ADDON_NAME = ADDON_NAME
    AFTER = (POD_IDENTITY_AGENT,)
    CONFIG_FIELD = "kubernetes.addons.metrics_server"
    DEFAULT_CONFIGURATION = DEFAULT_CONFIGURATION
