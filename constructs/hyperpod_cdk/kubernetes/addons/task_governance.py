"""The SageMaker HyperPod task governance add-on (Kueue-based scheduling and compute quotas)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Tags
from aws_cdk import aws_eks_v2 as eks
from constructs import Construct

from hyperpod_cdk.kubernetes.addons.base import HyperPodAddon

ADDON_NAME = "amazon-sagemaker-hyperpod-taskgovernance"


class HyperPodTaskGovernanceAddon(HyperPodAddon):
    """``amazon-sagemaker-hyperpod-taskgovernance``: Kueue in ``kueue-system``.

    No IAM: compute quotas and scheduler configs are SageMaker API objects. Remove any Kueue
    installed by other means first; the add-on owns the Kueue release.
    """

    ADDON_NAME = ADDON_NAME
    CONFIG_FIELD = "kubernetes.addons.task_governance"

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.ICluster,
        version: str | None = None,
        configuration_values: Mapping[str, Any] | None = None,
        assume_installed: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, construct_id, cluster=cluster, assume_installed=assume_installed)
        self.addon = self._addon("Addon", version=version, configuration_values=configuration_values)
        self._order(self.addon)
        Tags.of(self.addon).add("SageMaker", "true")
