"""Kubernetes namespaces a team must never be given, and why.

A team's namespace gets the team's submitter RoleBinding, a Pod Security ``enforce`` label and, when
the operator chart owns it, a ``Namespace`` object that the manifest set deletes on its Delete. In a
namespace the platform or Kubernetes uses, that would let a team run pods under that namespace's
service accounts (any pod creator may name any service account of its namespace), refuse the
privileged system pods of new nodes (``baseline`` on ``kube-system``), and delete the namespace with
the stack. So config refuses them (:func:`reserved_namespace_reason`).
"""

from __future__ import annotations

__all__ = ["FSX_ADMIN_NAMESPACE", "RESERVED_NAMESPACES", "reserved_namespace_reason"]

#: Where the operator chart keeps the FSx root claim and the Jobs that create team directories
#: (kubernetes/charts/fsx_team_volumes.py): a team there would mount every team's data.
FSX_ADMIN_NAMESPACE = "hyperpod-cdk-fsx"

#: Namespace -> who uses it. Sources: Kubernetes' own namespaces
#: (https://kubernetes.io/docs/concepts/overview/working-with-objects/namespaces/#initial-namespaces);
#: the HyperPod Helm chart creates kubeflow, mpi-operator and aws-hyperpod and writes into kube-system
#: (docs/security-posture.md, "Why the access entry has cluster scope"); the EKS add-ons this
#: platform installs, by their namespaces in kubernetes/addons/ (training operator aws-hyperpod,
#: task governance kueue-system, inference operator hyperpod-inference-system, observability
#: hyperpod-observability, cert-manager cert-manager, the CSI drivers kube-system).
RESERVED_NAMESPACES: dict[str, str] = {
    "default": "Kubernetes itself (its default namespace)",
    "aws-hyperpod": "the HyperPod Helm chart and the HyperPod training operator",
    "kubeflow": "the HyperPod Helm chart's Kubeflow training operator",
    "mpi-operator": "the HyperPod Helm chart's MPI operator",
    "cert-manager": "cert-manager",
    "kueue-system": "HyperPod task governance (Kueue)",
    "hyperpod-inference-system": "the HyperPod inference operator",
    "hyperpod-observability": "HyperPod observability",
    "amazon-cloudwatch": "the Amazon CloudWatch Observability add-on",
    # awslabs/mountpoint-s3-csi-driver v2 runs its mounter pods there (charts/aws-mountpoint-s3-csi-driver,
    # mountpointPod.namespace): a team there would see every team's S3 mounts (review round 11, M1).
    "mount-s3": "the Mountpoint for Amazon S3 CSI driver (v2) mounter pods",
    FSX_ADMIN_NAMESPACE: "the FSx root claim (every team's directory)",
}

# Kubernetes reserves the kube- prefix for its own namespaces (kube-system, kube-public, kube-node-lease);
# this project keeps hyperpod-cdk- for namespaces it adds later, so a team never lands in one.
_RESERVED_PREFIXES = {
    "kube-": "Kubernetes reserves the kube- prefix for its own namespaces",
    "hyperpod-cdk-": "the hyperpod-cdk- prefix is kept for the platform's own namespaces",
}


def reserved_namespace_reason(namespace: str, *, also_reserved: dict[str, str] | None = None) -> str | None:
    """Why ``namespace`` may not hold a team (``None`` when it may). ``also_reserved`` adds
    namespaces a particular configuration uses (e.g. a non-default cert-manager namespace)."""
    for prefix, reason in _RESERVED_PREFIXES.items():
        if namespace.startswith(prefix):
            return reason
    reserved = {**RESERVED_NAMESPACES, **(also_reserved or {})}
    if namespace in reserved:
        return f"it is the namespace of {reserved[namespace]}"
    return None
