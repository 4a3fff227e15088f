"""How many PersistentVolumeClaims a team namespace may hold, whoever creates them (review round 8, R8P-M2).

A team's Role grants nothing on PVCs, but a pod's generic ephemeral volume makes the ephemeral-volume
controller create a claim in the pod's namespace for it
(https://kubernetes.io/docs/concepts/storage/ephemeral-volumes/, "Security"). Its template may carry
``volumeName`` and ``storageClassName: ""``: the claim then binds to that PersistentVolume if the
volume is Available and not reserved for another claim by ``claimRef``
(https://kubernetes.io/docs/concepts/storage/persistent-volumes/#reserving-a-persistentvolume). A
static volume made without ``claimRef`` (an S3 bucket through the Mountpoint CSI driver, say) would
then be mounted by the first team that names it.

A ResourceQuota on the object count ``persistentvolumeclaims``
(https://kubernetes.io/docs/concepts/policy/resource-quotas/#object-count-quota) counts every claim
of the namespace, of any class or none, so ephemeral ones too. It allows exactly:

* the claims this chart writes into the namespace (``fsx-claim`` when the platform has FSx);
* ``teams[].dynamic_fsx_claims`` (the dynamic FSx class has its own, narrower quota as well:
  ``hyperpod-cdk-fsx-claims``; a claim must fit both);
* ``teams[].extra_volume_claims``: claims an admin makes for the team (a static volume pre-bound
  with ``claimRef``), or that something acting for the team makes there;
* the claims the platform's own example manifests (``dist/``) lead to in the namespace
  (:func:`example_volume_claims`), so the project's examples fit by construction (R9P-L1).

With no allowance a team cannot create any claim of its own; with one, it can spend it on any
unbound, unreserved volume, which is why static volumes carry ``claimRef`` (docs/kubernetes-addons.md).
"""

from __future__ import annotations

from typing import Any

from hyperpod_cdk.config.charts import K8sSettings

__all__ = ["INFERENCE_EXAMPLE_CLAIMS", "VOLUME_CLAIM_QUOTA_NAME", "example_volume_claims", "volume_claim_quota_spec"]

VOLUME_CLAIM_QUOTA_NAME = "hyperpod-cdk-volume-claims"
# The inference example (inference_example.py) serves its model from S3 through an "operator-provisioned
# Amazon S3 mount"; only a node-local source needs "no Amazon S3, Amazon FSx, PV/PVC"
# (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-model-deployment-deploy-nvme.html).
# The Mountpoint S3 CSI driver's CSIDriver declares no volumeLifecycleModes (awslabs/mountpoint-s3-csi-driver
# charts/aws-mountpoint-s3-csi-driver/templates/csidriver.yaml), so only Persistent: a pod mounts it
# through a claim in its own namespace, the endpoint's (review round 9, R9P-L1).
INFERENCE_EXAMPLE_CLAIMS = 1


def volume_claim_quota_spec(claims: int) -> dict[str, Any]:
    """A ResourceQuota spec that admits at most ``claims`` PVCs in the namespace, of any storage class."""
    return {"hard": {"persistentvolumeclaims": str(claims)}}


def example_volume_claims(settings: K8sSettings, *, inference: bool | None = None) -> dict[str, int]:
    """Claims the platform's own example manifests lead to, by team name: the inference example's model
    claim in the examples team's namespace when ``dist/`` writes it (``inference``, default
    ``settings.inference_example``). The example jobs mount the chart's ``fsx-claim`` and make no claim
    of their own."""
    inference = settings.inference_example if inference is None else inference
    if not inference or not settings.teams:
        return {}
    return {settings.team(settings.examples.team).name: INFERENCE_EXAMPLE_CLAIMS}
