"""Availability Zones by ID: which AZ IDs the EKS control-plane subnets may use, with no lookup.

AZ names (us-east-1a) map to different physical zones in every account; AZ IDs (use1-az1) do not,
so every subnet this library creates is placed with ``AvailabilityZoneId``.

Amazon EKS refuses control-plane subnets in a few AZ IDs (``UnsupportedAvailabilityZoneException``):
use1-az3 (us-east-1), usw1-az2 (us-west-1) and cac1-az3 (ca-central-1), per the EKS user guide,
https://docs.aws.amazon.com/eks/latest/userguide/network-reqs.html#network-requirements-subnets
(eksctl keeps the same denylist).
"""

from __future__ import annotations

from collections.abc import Iterable

EKS_UNSUPPORTED_AZ_IDS = frozenset({"use1-az3", "usw1-az2", "cac1-az3"})

# Every region has at least three AZs; their IDs are numbered from az1 in the region's prefix.
_CANDIDATE_NUMBERS = range(1, 7)


def default_control_plane_az_ids(prefix: str, preferred: Iterable[str], count: int) -> list[str]:
    """``count`` AZ IDs for the control-plane (and public) subnets: the ``preferred`` ones first (the
    HyperPod AZs, so nodes and control plane share zones), then ``<prefix>-az1``, ``-az2``, ...;
    never one EKS refuses, never one twice."""
    chosen: list[str] = []
    candidates = [*preferred, *(f"{prefix}-az{n}" for n in _CANDIDATE_NUMBERS)]
    for az_id in candidates:
        if az_id.startswith(prefix + "-") and az_id not in EKS_UNSUPPORTED_AZ_IDS and az_id not in chosen:
            chosen.append(az_id)
        if len(chosen) == count:
            break
    return chosen
