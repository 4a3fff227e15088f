"""Default versions of the EKS add-ons this project installs, per Kubernetes version, with sources.

The only authoritative answer to "which versions of add-on X run on Kubernetes 1.N" is
``aws eks describe-addon-versions --addon-name X --kubernetes-version 1.N`` (a live API call,
which synth must not make). EKS installs its default version for the cluster's Kubernetes
version when ``AddonVersion`` is omitted, which is always valid for that version.

So a version is pinned here only where an AWS source pins it for that Kubernetes version; for
every other add-on the table records *why* nothing is pinned and the add-on gets EKS's default.
``kubernetes.addons.<name>.version`` in the config overrides the table either way; check a
pin you set with ``describe-addon-versions`` first.

+--------------------------------------------------+----------------------+-----------------------+
| add-on                                           | pinned               | Kubernetes versions   |
+==================================================+======================+=======================+
| amazon-sagemaker-hyperpod-training-operator      | v1.2.1-eksbuild.1    | 1.28 - 1.35           |
| cert-manager                                     | v1.18.2-eksbuild.2   | 1.33                  |
| amazon-sagemaker-hyperpod-taskgovernance         | EKS default          |                       |
| amazon-sagemaker-hyperpod-observability          | EKS default          |                       |
| amazon-sagemaker-hyperpod-inference              | EKS default          |                       |
| aws-mountpoint-s3-csi-driver                     | EKS default          |                       |
| aws-fsx-csi-driver                               | EKS default          |                       |
| metrics-server                                   | EKS default          |                       |
+--------------------------------------------------+----------------------+-----------------------+
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["ADDON_VERSIONS", "AddonVersionPolicy", "default_addon_version"]


@dataclass(frozen=True)
class AddonVersionPolicy:
    """What an add-on gets when the config names no version.

    ``version`` applies to the Kubernetes versions in ``kubernetes_versions`` only; elsewhere (and
    when ``version`` is None) EKS's default is used. ``source`` says where the pin comes from, or
    why there is none.
    """

    addon_name: str
    source: str
    version: str | None = None
    kubernetes_versions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.version is None) != (not self.kubernetes_versions):
            raise ValueError(f"{self.addon_name}: a pinned version needs the Kubernetes versions it is valid for")


_UNPINNED = (
    "no AWS source states which versions run on which Kubernetes version; EKS installs its default for the "
    "cluster's version"
)

_POLICIES = (
    AddonVersionPolicy(
        "amazon-sagemaker-hyperpod-training-operator",
        version="v1.2.1-eksbuild.1",
        kubernetes_versions=("1.28", "1.29", "1.30", "1.31", "1.32", "1.33", "1.34", "1.35"),
        source="awslabs/awsome-distributed-ai 1.architectures/7.sagemaker-hyperpod-eks/terraform-modules/"
        "hyperpod-eks-tf/modules/hyperpod_training_operator/main.tf @95b939cd: 'v1.2.1-eksbuild.1 (the current "
        "default across K8s 1.28-1.35)'",
    ),
    AddonVersionPolicy(
        "cert-manager",
        version="v1.18.2-eksbuild.2",
        kubernetes_versions=("1.33",),
        source="pinned by AWS for HyperPod: aws/sagemaker-hyperpod-cluster-setup eks/cloudformation/"
        "cert-manager-addon-template.yaml @79de7af1 and awsome-distributed-ai hyperpod_cluster/variables.tf "
        "(whose default cluster is Kubernetes 1.33, the only version that pairing is known for)",
    ),
    AddonVersionPolicy(
        "amazon-sagemaker-hyperpod-taskgovernance",
        source=f"{_UNPINNED}; AWS's templates leave it unpinned. Never move it from v1.3 to v1.5+ with a plain "
        "version change: that upgrade needs AWS's CRD migration "
        "(https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-operate-console-ui-governance-upgrade.html)",
    ),
    AddonVersionPolicy(
        "amazon-sagemaker-hyperpod-observability",
        source=f"{_UNPINNED}; AWS's templates leave it unpinned",
    ),
    AddonVersionPolicy(
        "amazon-sagemaker-hyperpod-inference",
        source=f"{_UNPINNED}; AWS's CloudFormation pinned v1.0.0-eksbuild.1 and v1.3.0-eksbuild.1 is newer, "
        "neither with a Kubernetes range",
    ),
    AddonVersionPolicy(
        "aws-mountpoint-s3-csi-driver",
        source=f"{_UNPINNED}; the driver itself supports Kubernetes >= 1.31 on AL2023 "
        "(awslabs/mountpoint-s3-csi-driver README @57c6bedb)",
    ),
    AddonVersionPolicy("aws-fsx-csi-driver", source=f"{_UNPINNED}; AWS's templates leave it unpinned"),
    AddonVersionPolicy("metrics-server", source=f"{_UNPINNED}; AWS's CloudFormation leaves it unpinned"),
)

ADDON_VERSIONS = MappingProxyType({policy.addon_name: policy for policy in _POLICIES})


def default_addon_version(addon_name: str, kubernetes_version: str | None) -> str | None:
    """The pinned version of ``addon_name`` for ``kubernetes_version``, or None for EKS's default."""
    policy = ADDON_VERSIONS.get(addon_name)
    if policy is None or kubernetes_version is None or kubernetes_version not in policy.kubernetes_versions:
        return None
    return policy.version
