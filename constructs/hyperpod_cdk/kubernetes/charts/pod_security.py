"""Pod Security admission labels for the namespaces teams submit jobs into.

A submitter may create HyperPodPyTorchJobs whose template is a full PodSpec: without a Pod
Security Standard on the namespace, a privileged pod, a ``hostPath`` of ``/`` or ``hostNetwork``
gives root on the node and the node's instance-role credentials. Kubernetes' built-in Pod Security
admission (on in every EKS version HyperPod supports) enforces a standard per namespace from these
labels: https://kubernetes.io/docs/concepts/security/pod-security-admission/ and
https://docs.aws.amazon.com/eks/latest/best-practices/pod-security.html.

``enforce`` is the team's level (``baseline`` by default: the example jobs and the training
operator's pods need no privilege, host namespace, hostPath or extra capability); ``warn`` and
``audit`` are always ``restricted`` so submitters see what a stricter level would refuse.
"""

from __future__ import annotations

PREFIX = "pod-security.kubernetes.io/"
#: The version of the standards the labels refer to; "latest" follows the cluster's Kubernetes version.
VERSION = "latest"


def pod_security_labels(level: str) -> dict[str, str]:
    """The namespace labels that enforce ``level`` and warn/audit ``restricted``."""
    if level not in ("privileged", "baseline", "restricted"):
        raise ValueError(f"pod security level must be privileged, baseline or restricted, got {level!r}")
    return {
        f"{PREFIX}enforce": level,
        f"{PREFIX}enforce-version": VERSION,
        f"{PREFIX}warn": "restricted",
        f"{PREFIX}warn-version": VERSION,
        f"{PREFIX}audit": "restricted",
        f"{PREFIX}audit-version": VERSION,
    }
