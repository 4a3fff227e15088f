"""The SageMaker HyperPod task governance add-on (Kueue-based scheduling and compute quotas)."""

from __future__ import annotations

from typing import Unpack

from aws_cdk import CustomResource, Duration
from aws_cdk import aws_eks_v2 as eks
from constructs import Construct, IConstruct

from hyperpod_cdk.config.addons import TaskGovernanceConfig
from hyperpod_cdk.errors import prop_error
from hyperpod_cdk.kubernetes.addons.base import AddonSettings, HyperPodAddon
from hyperpod_cdk.kubernetes.manifests import HyperPodManifests

ADDON_NAME = TaskGovernanceConfig.ADDON_NAME  # the config section names the add-on
KUEUE_NAMESPACE = "kueue-system"
KUEUE_DEPLOYMENT = "kueue-controller-manager"
# The manifest handler waits inside one Lambda run (at most 15 minutes).
KUEUE_WAIT = Duration.minutes(10)


class HyperPodTaskGovernanceAddon(HyperPodAddon):
    """``amazon-sagemaker-hyperpod-taskgovernance``: Kueue in ``kueue-system``.

    No IAM: compute quotas and scheduler configs are SageMaker API objects. Remove any Kueue
    installed by other means first; the add-on owns the Kueue release.

    With ``wait_for_kueue`` (default) a kubectl read after the add-on waits until the
    ``kueue-controller-manager`` Deployment has an available replica, and :attr:`ready` is that
    wait. Scheduler configs and compute quotas go after :attr:`ready`: SageMaker reports
    ``CreateFailed`` for a scheduler config created before task governance is fully installed
    (aws/sagemaker-hyperpod-cli examples/end_to_end_walkthrough/00-getting-started/00-setup.md),
    CloudFormation counts an add-on that is DEGRADED as created, and AWS's Terraform waits for the
    same Deployment before its quotas (awslabs/awsome-distributed-ai, modules/task_governance/main.tf).
    The wait is a read-only wait of ``manifests`` (a :class:`HyperPodManifests`).
    """

    ADDON_NAME = ADDON_NAME
    CONFIG_FIELD = "kubernetes.addons.task_governance"
    SAGEMAKER_TAG = True

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.ICluster,
        wait_for_kueue: bool = True,
        manifests: HyperPodManifests | None = None,
        **settings: Unpack[AddonSettings],
    ) -> None:
        if wait_for_kueue and manifests is None:
            raise prop_error(
                scope,
                construct_id,
                "manifests",
                "the Kueue readiness wait runs kubectl: pass manifests= (a HyperPodManifests), or "
                "wait_for_kueue=False",
            )
        super().__init__(scope, construct_id, cluster=cluster, **settings)
        self.kueue_ready: CustomResource | None = None
        if manifests is not None and wait_for_kueue:
            # Empty until the Deployment reports an available replica; the handler retries until then.
            self.kueue_ready = manifests.add_wait(
                "KueueReady",
                object_type="deployment",
                object_names=[KUEUE_DEPLOYMENT],
                namespace=KUEUE_NAMESPACE,
                json_path=".status.availableReplicas",
                timeout=KUEUE_WAIT,
            )
            self.kueue_ready.node.add_dependency(self.addon)

    @property
    def ready(self) -> IConstruct:
        """What SageMaker task-governance objects are created after: the Kueue wait, else the add-on."""
        return self.kueue_ready if self.kueue_ready is not None else self.addon
