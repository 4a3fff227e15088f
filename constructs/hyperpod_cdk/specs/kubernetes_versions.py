"""Kubernetes versions an EKS control plane for HyperPod may run, and what each costs (pure Python).

One table for the config schema, the EKS constructs and the kubectl layer that must match the
cluster's version.

Sources
-------
* Versions HyperPod accepts: the HyperPod EKS prerequisites page, "Kubernetes version support"
  (1.30, 1.31, 1.32, 1.33, 1.34 and 1.35 in the newest English copy; older copies and other
  languages list 1.28-1.34),
  https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-prerequisites.html
* Release and support dates: the Amazon EKS release calendar (standard support is 14 months
  from the EKS release, then 12 months of extended support),
  https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html , as scraped into
  endoflife.date (github.com/endoflife-date/endoflife.date products/amazon-eks.md at
  a70eca337600e7d721dc48112c271f98661d208b).
* Price: $0.10 per cluster-hour in standard support, $0.60 in extended support,
  https://aws.amazon.com/blogs/containers/amazon-eks-extended-support-for-kubernetes-versions-pricing/

The default version
-------------------
The default is the newest version HyperPod accepts that EKS still gives standard support. On
2026-11-30 that is 1.35 (standard support until 2027-03-27). 1.34 is still in standard support
that day, but only until 2026-12-02: a new cluster made with it would pay the extended-support
price within days, and the synth warning below would fire on the next deploy. 1.36 and 1.37 are
available on EKS but not listed by HyperPod, so they are refused.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "DEFAULT_VERSION",
    "EKS_VERSIONS",
    "SUPPORTED_VERSIONS",
    "KubernetesVersion",
    "SupportStatus",
    "kubectl_layer_package",
    "support_status",
    "today",
]

HYPERPOD_VERSIONS_DOC = "https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-prerequisites.html"
EKS_CALENDAR_DOC = "https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html"
STANDARD_PRICE_PER_HOUR = 0.10
EXTENDED_PRICE_PER_HOUR = 0.60
HOURS_PER_MONTH = 730
# Warn this long before standard support ends, so an upgrade can be planned before the price changes.
UPGRADE_NOTICE_DAYS = 90


@dataclass(frozen=True)
class EksVersion:
    """One Kubernetes minor version on Amazon EKS."""

    version: str
    eks_release: dt.date
    end_of_standard_support: dt.date
    end_of_extended_support: dt.date
    hyperpod: bool  # listed by the HyperPod EKS prerequisites page


def _v(version: str, release: str, standard: str, extended: str, hyperpod: bool) -> EksVersion:
    iso = dt.date.fromisoformat
    return EksVersion(version, iso(release), iso(standard), iso(extended), hyperpod)


EKS_VERSIONS: dict[str, EksVersion] = {
    row.version: row
    for row in (
        _v("1.28", "2023-09-26", "2024-11-26", "2025-11-26", False),
        _v("1.29", "2024-01-23", "2025-03-23", "2026-03-23", False),
        _v("1.30", "2024-05-23", "2025-07-23", "2026-07-23", True),
        _v("1.31", "2024-09-26", "2025-11-26", "2026-11-26", True),
        _v("1.32", "2025-01-25", "2026-03-23", "2027-03-23", True),
        _v("1.33", "2025-05-28", "2026-07-29", "2027-07-29", True),
        _v("1.34", "2025-10-06", "2026-12-02", "2027-12-02", True),
        _v("1.35", "2026-01-28", "2027-03-27", "2028-03-27", True),
        _v("1.36", "2026-06-02", "2027-08-02", "2028-08-02", False),
    )
}

KubernetesVersion = Literal["1.30", "1.31", "1.32", "1.33", "1.34", "1.35"]
SUPPORTED_VERSIONS: tuple[str, ...] = KubernetesVersion.__args__  # type: ignore[attr-defined]
DEFAULT_VERSION: KubernetesVersion = "1.35"

SupportLevel = Literal["standard", "ending", "extended", "ended"]


def today() -> dt.date:
    """The date support is judged on (a function, so tests can pin it)."""
    return dt.date.today()


@dataclass(frozen=True)
class SupportStatus:
    """Where a version stands on a given day, with the sentence to show the user."""

    version: str
    level: SupportLevel
    message: str

    @property
    def usable(self) -> bool:
        return self.level != "ended"


def _monthly(price: float) -> str:
    return f"${price:.2f} per cluster-hour (about ${price * HOURS_PER_MONTH:,.0f} a month)"


def support_status(version: str, on: dt.date | None = None) -> SupportStatus:
    """The EKS support level of ``version`` on ``on`` (default: :func:`today`).

    Raises KeyError for a version HyperPod does not accept (see :data:`SUPPORTED_VERSIONS`).
    """
    if version not in SUPPORTED_VERSIONS:
        raise KeyError(version)
    day = on or today()
    row = EKS_VERSIONS[version]
    newest = newest_in_standard_support(day)
    upgrade = f"upgrade to {newest}" if newest and newest != version else "plan the upgrade"
    if day > row.end_of_extended_support:
        return SupportStatus(
            version,
            "ended",
            f"Kubernetes {version} left EKS extended support on {row.end_of_extended_support}: EKS no longer "
            f"creates or runs it; use {newest or 'a newer version'} ({EKS_CALENDAR_DOC})",
        )
    if day > row.end_of_standard_support:
        return SupportStatus(
            version,
            "extended",
            f"Kubernetes {version} left EKS standard support on {row.end_of_standard_support}: the control plane "
            f"costs {_monthly(EXTENDED_PRICE_PER_HOUR)} in extended support instead of "
            f"{_monthly(STANDARD_PRICE_PER_HOUR)}, six times as much, until {row.end_of_extended_support}; "
            f"{upgrade} ({EKS_CALENDAR_DOC})",
        )
    days_left = (row.end_of_standard_support - day).days
    if days_left <= UPGRADE_NOTICE_DAYS:
        return SupportStatus(
            version,
            "ending",
            f"Kubernetes {version} leaves EKS standard support on {row.end_of_standard_support} (in {days_left} "
            f"days); from then on the control plane costs {_monthly(EXTENDED_PRICE_PER_HOUR)} instead of "
            f"{_monthly(STANDARD_PRICE_PER_HOUR)}; {upgrade} ({EKS_CALENDAR_DOC})",
        )
    return SupportStatus(
        version, "standard", f"Kubernetes {version} is in EKS standard support until {row.end_of_standard_support}"
    )


def newest_in_standard_support(on: dt.date | None = None) -> str | None:
    """The newest version HyperPod accepts that EKS gives standard support on ``on``."""
    day = on or today()
    current = [v for v in SUPPORTED_VERSIONS if day <= EKS_VERSIONS[v].end_of_standard_support]
    return max(current, key=lambda v: tuple(int(p) for p in v.split("."))) if current else None


def check_version(value: object) -> str:
    """A config or prop value as a version HyperPod accepts and EKS still runs; ValueError otherwise."""
    if isinstance(value, float | int) and not isinstance(value, bool):
        raise ValueError(f"write the version as text, such as '{DEFAULT_VERSION}' (YAML read {value!r} as a number)")
    if not isinstance(value, str):
        raise ValueError(f"expected a version such as '{DEFAULT_VERSION}', got {value!r}")
    if value not in SUPPORTED_VERSIONS:
        known = EKS_VERSIONS.get(value)
        why = " (EKS offers it but HyperPod does not list it)" if known and not known.hyperpod else ""
        raise ValueError(
            f"'{value}' is not a version HyperPod accepts{why}; use one of {', '.join(SUPPORTED_VERSIONS)} "
            f"({HYPERPOD_VERSIONS_DOC})"
        )
    status = support_status(value)
    if not status.usable:
        raise ValueError(status.message)
    return value


def kubectl_layer_package(version: str) -> tuple[str, str, str]:
    """(PyPI distribution, module, class) of the kubectl Lambda layer for a cluster version.

    kubectl supports one minor version of skew with the API server
    (https://kubernetes.io/releases/version-skew-policy/#kubectl); aws-cdk publishes one layer per
    minor version, so the layer is chosen by the cluster's version.
    """
    minor = version.split(".")[1]
    return (
        f"aws-cdk.lambda-layer-kubectl-v{minor}",
        f"aws_cdk.lambda_layer_kubectl_v{minor}",
        f"KubectlV{minor}Layer",
    )
