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
  with ``claimRef``), or that something acting for the team makes there.

With no allowance a team cannot create any claim of its own; with one, it can spend it on any
unbound, unreserved volume, which is why static volumes carry ``claimRef`` (docs/kubernetes-addons.md).
"""

from __future__ import annotations

from typing import Any

__all__ = ["VOLUME_CLAIM_QUOTA_NAME", "volume_claim_quota_spec"]

VOLUME_CLAIM_QUOTA_NAME = "hyperpod-cdk-volume-claims"


def volume_claim_quota_spec(claims: int) -> dict[str, Any]:
    """A ResourceQuota spec that admits at most ``claims`` PVCs in the namespace, of any storage class."""
    return {"hard": {"persistentvolumeclaims": str(claims)}}
