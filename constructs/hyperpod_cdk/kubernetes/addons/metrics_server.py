"""metrics-server as the EKS community add-on, schedulable on tainted HyperPod nodes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import aws_eks_v2 as eks
from constructs import Construct

from hyperpod_cdk.kubernetes.addons.base import POD_IDENTITY_AGENT, HyperPodAddon, deep_merge

ADDON_NAME = "metrics-server"
# AWS's templates give the add-on tolerations for every taint effect so it runs on a cluster made
# only of HyperPod nodes (aws/sagemaker-hyperpod-cluster-setup eks/cloudformation/
# metrics-server-addon-template.yaml @79de7af1; awsome-distributed-ai's Terraform does the same).
DEFAULT_CONFIGURATION: dict[str, Any] = {"tolerations": [{"operator": "Exists"}]}


class MetricsServerAddon(HyperPodAddon):
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

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.ICluster,
        version: str | None = None,
        configuration_values: Mapping[str, Any] | None = None,
        assume_installed: Sequence[str] = (),
        kubernetes_version: str | None = None,
    ) -> None:
        super().__init__(
            scope, construct_id, cluster=cluster, assume_installed=assume_installed,
            kubernetes_version=kubernetes_version,
        )
        self.configuration = deep_merge(DEFAULT_CONFIGURATION, configuration_values or {})
        self.addon = self._addon("Addon", version=version, configuration_values=self.configuration)
        self._order(self.addon)
