"""Integrity pins for the official HyperPod Helm chart, kept next to the revision they belong to.

Pure data, no CDK, standard library only: the Helm installer's Lambda asset carries a copy of this
file (staged at synth, ``hyperpod_cdk._handler_functions.SHARED_SPECS``) and reads its release's
archive pins as :class:`ArchivePin`. The installer (``kubernetes/handlers/helm_dependencies/index.py``)
and ``python -m hyperpod_cdk.kubernetes.chart_bundle`` check every chart they install against a
:class:`ChartPin`:

- ``chart_sha256``: the **chart tree digest** of ``helm_chart/HyperPodHelmChart`` at the
  revision, i.e. sha256 over ``"<sha256 of file>  <path>\\n"`` lines, one per regular file,
  sorted by path (bytes), paths relative to the chart directory. The top-level ``Chart.lock``
  and the archives directly in ``charts/`` (``charts/*.tgz``) are left out: ``helm dependency
  build`` rewrites both, and the installer deletes them before it runs it. GitHub's archive
  tarball bytes are not pinned (they cannot be reproduced offline and GitHub does not promise
  them stable); the files inside are.
- ``archives``: the sub-chart archives ``helm dependency build`` downloads, pinned by sha256.
  Helm 4 does not check the repository index digest of a downloaded chart, so the installer
  does. A dependency with no digest from a primary source is listed with ``sha256=None``; it is
  installable only while its condition value is false, and the installer replaces its archive
  with an empty placeholder chart (Helm insists every dependency in Chart.yaml is present, even
  a disabled one) so no unverified bytes are ever loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# github.com/aws/sagemaker-hyperpod-cli tag v3.9.0: "Release v3.9.0 (#429)", 2026-06-11.
DEFAULT_CHART_REVISION = "b01cf90676553a711ab1a8ac51422adbb09aef6b"
DEFAULT_CHART_PATH = "helm_chart/HyperPodHelmChart"
SOURCE_REPOSITORY = "aws/sagemaker-hyperpod-cli"


@dataclass(frozen=True)
class ArchivePin:
    """One remote sub-chart archive: its chart name and version, and the sha256 of the .tgz."""

    name: str
    version: str
    sha256: str | None
    #: The value that enables it (Chart.yaml ``condition``); unpinned archives need it false.
    condition: str
    #: Where the digest was read (primary source) or why there is none; empty in the installer, which
    #: reads the pins from its release spec.
    source: str = ""

    @property
    def key(self) -> str:
        return f"{self.name}-{self.version}"


@dataclass(frozen=True)
class ChartPin:
    revision: str
    chart_sha256: str
    files: int
    archives: tuple[ArchivePin, ...] = field(default_factory=tuple)
    #: Top-level keys of the chart's values.yaml and its dependency names: what extra values may set.
    value_scopes: frozenset[str] = frozenset()


# Computed from the git objects of the revision (`git ls-tree -r` + `git cat-file blob` on a
# mirror of the repository): 146 files, no symlinks, no .gitattributes, so GitHub's archive
# holds the same bytes.
_V3_9_0 = ChartPin(
    revision=DEFAULT_CHART_REVISION,
    chart_sha256="6f701a1f4547beccdb47f11c7f83d6063a5978b5aabe433750d5d30793315a55",
    files=146,
    archives=(
        ArchivePin(
            "nvidia-device-plugin",
            "0.16.1",
            "a77b4e81fd56a11e39536500a7a6538899b952c4b4370200280bce313dffda6a",
            "nvidia-device-plugin.devicePlugin.enabled",
            "index.yaml of https://nvidia.github.io/k8s-device-plugin (github.com/NVIDIA/k8s-device-plugin "
            "gh-pages @bf584288), equal to the sha256 of stable/nvidia-device-plugin-0.16.1.tgz there",
        ),
        ArchivePin(
            "aws-efa-k8s-device-plugin",
            "v0.5.20",
            "252967e2083799987d576ac86986b3316ce350dd1da2d07a8b83b5c4288fbcf4",
            "aws-efa-k8s-device-plugin.devicePlugin.enabled",
            "index.yaml of https://aws.github.io/eks-charts (github.com/aws/eks-charts gh-pages @c7f9ea56), "
            "equal to the sha256 of aws-efa-k8s-device-plugin-v0.5.20.tgz there",
        ),
        ArchivePin(
            "cert-manager",
            "v1.18.2",
            None,
            "cert-manager.enabled",
            "oci://quay.io/jetstack/charts: no digest found in a primary source; cert-manager comes from "
            "the EKS add-on, so the chart's copy stays disabled and is replaced by a placeholder",
        ),
    ),
    value_scopes=frozenset(
        {
            # values.yaml top-level keys
            "global",
            "replicaCount",
            "image",
            "imagePullSecrets",
            "nameOverride",
            "fullnameOverride",
            "serviceAccount",
            "podAnnotations",
            "podLabels",
            "podSecurityContext",
            "securityContext",
            "service",
            "ingress",
            "resources",
            "livenessProbe",
            "readinessProbe",
            "autoscaling",
            "volumes",
            "volumeMounts",
            "nodeSelector",
            "tolerations",
            "affinity",
            "namespace",
            "cert-manager",
            "mlflow",
            "trainingOperators",
            "inferenceOperators",
            "storage",
            "cluster-role-and-bindings",
            "namespaced-role-and-bindings",
            "team-role-and-bindings",
            "nvidia-device-plugin",
            "neuron-device-plugin",
            "aws-efa-k8s-device-plugin",
            "mpi-operator",
            "health-monitoring-agent",
            "deep-health-check",
            "job-auto-restart",
            "hyperpod-patching",
            "gpu-operator",
            # dependency names (Chart.yaml) not already above
            "training-operators",
            "hyperpod-inference-operator",
        }
    ),
)

PINNED_CHARTS: dict[str, ChartPin] = {_V3_9_0.revision: _V3_9_0}


def pin_for(revision: str) -> ChartPin | None:
    """The library's pins for ``revision``, or None (then the config must carry its own)."""
    return PINNED_CHARTS.get(revision)
