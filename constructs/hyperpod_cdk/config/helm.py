"""The ``kubernetes.helm_dependencies`` section: the HyperPod Helm chart, pinned to one commit."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from hyperpod_cdk.config.base import REGION_PATTERN as REGION_PATTERN
from hyperpod_cdk.config.base import SHA256_PATTERN as SHA256_PATTERN
from hyperpod_cdk.config.base import Sha256, _Model
from hyperpod_cdk.config.messages import register_hints
from hyperpod_cdk.specs.hyperpod_chart import DEFAULT_CHART_PATH as DEFAULT_CHART_PATH
from hyperpod_cdk.specs.hyperpod_chart import DEFAULT_CHART_REVISION as DEFAULT_CHART_REVISION
from hyperpod_cdk.specs.hyperpod_chart import ChartPin, pin_for
from hyperpod_cdk.specs.images import (
    IMAGE_MIRROR_PATTERN,
)

# The commit of github.com/aws/sagemaker-hyperpod-cli the Helm chart is taken from by default:
# the v3.9.0 release commit (tag v3.9.0, 2026-06-11), read from the repository's history. Other
# commits AWS's own templates pin, for comparison: f57185916d4f7d2fa85caf6a03c04fd17172d330
# (aws/sagemaker-hyperpod-cluster-setup helm-chart-template.yaml, Aug 2025) and
# 9f496a6364759553f73ff534434a057ef4bdc004 (awsome-distributed-ai Terraform, 2026). v3.9.0 is
# newer than both and contains the EFA device-plugin fix (aws/sagemaker-hyperpod-cli#367, #389).
# Its integrity pins (chart files, sub-chart archives) live in specs/hyperpod_chart.py.
DEFAULT_SOURCE_URL_TEMPLATE = "https://github.com/aws/sagemaker-hyperpod-cli/archive/{revision}.tar.gz"

REVISION_PATTERN = r"^[0-9a-f]{40}$"
# Chart value paths: dot-separated names (a.b.c). They become a values file, so list indexes and
# dotted map keys are not supported.
HELM_KEY_PATTERN = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"
# s3://bucket/key of a chart bundle (`make chart-bundle`).
S3_URI_PATTERN = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[A-Za-z0-9!_.*'()/=+-]+$"
# A sub-chart archive, named <chart name>-<version>, e.g. nvidia-device-plugin-0.16.1.
ARCHIVE_KEY_PATTERN = r"^[a-z0-9][a-z0-9.-]*-v?[0-9][A-Za-z0-9.+-]*$"
# EKS add-on versions look like v1.18.2-eksbuild.2.
ADDON_VERSION_PATTERN = r"^v[0-9]+\.[0-9]+\.[0-9]+(-[A-Za-z0-9.]+)?$"
# Values go through helm's --set for integers (int64) and a JSON values file otherwise.
INT64 = (-(2**63), 2**63 - 1)
HTTPS_URL_PATTERN = r"^https://[^\s]+$"
CHART_PATH_PATTERN = r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$"
register_hints(
    {
        REVISION_PATTERN: "a full 40-character commit SHA in lowercase hex (branch and tag names are refused)",
        HELM_KEY_PATTERN: "a dotted Helm value path such as image.tag (no list indexes)",
        ARCHIVE_KEY_PATTERN: "a sub-chart archive name <chart>-<version> such as nvidia-device-plugin-0.16.1",
        S3_URI_PATTERN: "an S3 object URI such as s3://my-bucket/charts/hyperpod.tgz",
        ADDON_VERSION_PATTERN: "an EKS add-on version such as v1.18.2-eksbuild.2",
        HTTPS_URL_PATTERN: "an https:// URL without spaces",
        CHART_PATH_PATTERN: "a relative folder path such as helm_chart/HyperPodHelmChart",
        IMAGE_MIRROR_PATTERN: "a registry prefix without scheme or tag, such as "
        "123456789012.dkr.ecr.us-west-2.amazonaws.com/hyperpod-mirror",
    }
)

# The chart values each toggle sets (chart defaults from helm_chart/HyperPodHelmChart/values.yaml).
TOGGLE_KEYS: dict[str, str] = {
    "nvidia_device_plugin": "nvidia-device-plugin.devicePlugin.enabled",
    "neuron_device_plugin": "neuron-device-plugin.devicePlugin.enabled",
    "efa_device_plugin": "aws-efa-k8s-device-plugin.devicePlugin.enabled",
    "health_monitoring_agent": "health-monitoring-agent.enabled",
    "deep_health_check": "deep-health-check.enabled",
    "job_auto_restart": "job-auto-restart.enabled",
    "mpi_operator": "mpi-operator.enabled",
    "training_operators": "trainingOperators.enabled",
}
HEALTH_MONITORING_REGION_KEY = "health-monitoring-agent.region"
# cert-manager comes from the EKS community add-on; the chart's copy must stay off.
CERT_MANAGER_KEY = "cert-manager.enabled"
MANAGED_KEYS = frozenset({*TOGGLE_KEYS.values(), HEALTH_MONITORING_REGION_KEY, CERT_MANAGER_KEY})

HelmValue = str | bool | int


class HelmDependenciesConfig(_Model):
    """The official HyperPod Helm chart (``helm_chart/HyperPodHelmChart``), pinned to one commit.

    HyperPod refuses to create a cluster on an EKS cluster that lacks these dependencies
    ("missing required dependencies"), so the chart is installed first. Toggles default to the
    chart's own defaults; ``cert-manager.enabled`` is always false (the EKS add-on provides it).

    Integrity: the chart's files are checked against ``chart_sha256`` and every downloaded
    sub-chart archive against ``subchart_sha256``; both come from the library's pins for the
    default revision (``hyperpod_cdk.specs.hyperpod_chart``) and must be given for any other.
    """

    enabled: bool = Field(default=True, description="Install the chart (off: you install it yourself).")
    revision: Annotated[str, Field(pattern=REVISION_PATTERN)] = Field(
        default=DEFAULT_CHART_REVISION,
        description=(
            "Full 40-character commit SHA of github.com/aws/sagemaker-hyperpod-cli. Branch and tag "
            "names are refused: the deployed chart must not change under an unchanged template. Pick "
            "one with `git ls-remote https://github.com/aws/sagemaker-hyperpod-cli refs/tags/v3.9.0`."
        ),
    )
    source_s3_uri: Annotated[str | None, Field(pattern=S3_URI_PATTERN)] = Field(
        default=None,
        description=(
            "s3://bucket/key of a chart bundle built by `make chart-bundle` (the chart with its "
            "sub-charts). The installer then reads only S3: no github.com, no chart repositories. "
            "Required with network.closed."
        ),
    )
    source_sha256: Sha256 | None = Field(
        default=None,
        description="sha256 of the downloaded tarball or bundle; when set, the installer refuses any other bytes.",
    )
    source_url_template: Annotated[str, Field(pattern=HTTPS_URL_PATTERN)] = Field(
        default=DEFAULT_SOURCE_URL_TEMPLATE,
        description=(
            "Where the tarball of a revision is downloaded from ({revision} is replaced); a mirror "
            "works if it serves GitHub's archive layout (top directory sagemaker-hyperpod-cli-<revision>)."
        ),
    )
    chart_path: Annotated[str, Field(pattern=CHART_PATH_PATTERN)] = DEFAULT_CHART_PATH
    chart_sha256: Sha256 | None = Field(
        default=None,
        description=(
            "Chart tree digest of the chart folder at the revision (see docs/helm-dependencies.md). "
            "Default: the library's pin for the default revision; required for any other revision."
        ),
    )
    subchart_sha256: dict[Annotated[str, Field(pattern=ARCHIVE_KEY_PATTERN)], Sha256] = Field(
        default={},
        description=(
            "sha256 of each sub-chart archive `helm dependency build` downloads, by <name>-<version>. "
            "Default: the library's pins for the default revision; list them for any other revision."
        ),
    )
    nvidia_device_plugin: bool = True
    neuron_device_plugin: bool = True
    efa_device_plugin: bool = True
    health_monitoring_agent: bool = True
    health_monitoring_agent_region: Annotated[str | None, Field(pattern=REGION_PATTERN)] = Field(
        default=None, description="Region of the agent's ECR image; None means the stack's region."
    )
    deep_health_check: bool = True
    job_auto_restart: bool = True
    mpi_operator: bool = True
    training_operators: bool = Field(default=True, description="The Kubeflow training operator sub-chart.")
    extra_values: dict[Annotated[str, Field(pattern=HELM_KEY_PATTERN)], HelmValue] = Field(
        default={},
        description=(
            "More chart values by dotted path (e.g. hyperpod-patching.enabled: false). Types are kept: "
            "quoted YAML stays a string, true/false a boolean, a number an integer."
        ),
    )
    wait: bool = Field(
        default=False,
        description=(
            "Pass --wait. Off by default: the chart's Deployments cannot become ready before the "
            "HyperPod nodes exist, and the nodes are created after the chart."
        ),
    )
    timeout_minutes: Annotated[int, Field(ge=1, le=12)] = Field(
        default=10,
        description="helm --timeout (at most what the 15-minute installer Lambda has left, less 60 s).",
    )

    @field_validator("revision", mode="before")
    @classmethod
    def _explain_revision(cls, value: Any) -> Any:
        if isinstance(value, str) and not re.fullmatch(REVISION_PATTERN, value):
            raise ValueError(
                f"'{value}' is not a full 40-character lowercase commit SHA; branch and tag names "
                "(main, v3.9.0) and short SHAs are refused so the installed chart cannot drift. Find the "
                "commit of a release with `git ls-remote https://github.com/aws/sagemaker-hyperpod-cli "
                "refs/tags/<tag>` and paste its SHA"
            )
        return value

    @field_validator("source_url_template")
    @classmethod
    def _has_placeholder(cls, value: str) -> str:
        if "{revision}" not in value:
            raise ValueError("must contain {revision}, which is replaced by the pinned commit")
        return value

    @field_validator("chart_path")
    @classmethod
    def _relative(cls, value: str) -> str:
        if ".." in value.split("/"):
            raise ValueError("must stay inside the repository (no '..')")
        return value

    @field_validator("extra_values")
    @classmethod
    def _not_managed(cls, value: dict[str, HelmValue]) -> dict[str, HelmValue]:
        clash = sorted(set(value) & MANAGED_KEYS)
        if clash:
            raise ValueError(
                f"{clash} are set by this section's own fields (or, for cert-manager.enabled, always "
                "false because cert-manager is the EKS add-on); use those fields instead"
            )
        for key, item in value.items():
            if isinstance(item, int) and not isinstance(item, bool) and not INT64[0] <= item <= INT64[1]:
                raise ValueError(f"{key}: {item} does not fit a 64-bit integer; quote it to pass a string")
        keys = sorted(set(value) | MANAGED_KEYS)
        for key in keys:
            parent = next((other for other in keys if key.startswith(other + ".")), None)
            if parent is not None:
                raise ValueError(f"'{key}' is inside '{parent}', which is set to a single value; set one or the other")
        return value

    @model_validator(mode="after")
    def _pinned(self) -> HelmDependenciesConfig:
        pin = self.pin
        if pin is None:
            if self.chart_sha256 is None:
                raise ValueError(
                    "chart_sha256: required for a revision or chart_path the library has no pins for; compute "
                    "it (and subchart_sha256) with `python -m hyperpod_cdk.kubernetes.chart_bundle pins "
                    f"--revision {self.revision}` after reviewing that commit"
                )
            return self
        if self.chart_sha256 is not None and self.chart_sha256 != pin.chart_sha256:
            raise ValueError(
                f"chart_sha256: the library pins {pin.chart_sha256} for revision {self.revision}; remove the "
                "key (or pick another revision)"
            )
        if self.subchart_sha256:
            raise ValueError(
                f"subchart_sha256: the library pins the sub-charts of revision {self.revision}; remove the key"
            )
        unknown = sorted({key.split(".", 1)[0] for key in self.extra_values} - pin.value_scopes)
        if unknown:
            raise ValueError(
                f"extra_values: {unknown} is not a value of the HyperPod chart at this revision (top-level keys "
                "of its values.yaml and its sub-chart names); check the spelling"
            )
        return self

    @property
    def pin(self) -> ChartPin | None:
        """The library's pins, when they apply (default chart path and a pinned revision)."""
        return pin_for(self.revision) if self.chart_path == DEFAULT_CHART_PATH else None

    @property
    def effective_chart_sha256(self) -> str:
        pin = self.pin
        if pin is not None:
            return pin.chart_sha256
        assert self.chart_sha256 is not None  # checked by _pinned
        return self.chart_sha256

    def archive_pins(self) -> list[dict[str, str]]:
        """Every remote sub-chart archive the installer accepts: name, version, sha256 (or '' and
        the condition that must be false for an archive without a digest)."""
        pin = self.pin
        if pin is None:
            return [
                {"Name": name, "Version": version, "Sha256": digest, "Condition": ""}
                for key, digest in sorted(self.subchart_sha256.items())
                for name, version in [_split_archive_key(key)]
            ]
        return [
            {"Name": a.name, "Version": a.version, "Sha256": a.sha256 or "", "Condition": a.condition}
            for a in pin.archives
        ]

    def helm_values(self, default_region: str) -> dict[str, HelmValue]:
        """Every chart value the installer sets, typed (sorted keys)."""
        values: dict[str, HelmValue] = {key: getattr(self, field) for field, key in TOGGLE_KEYS.items()}
        values[CERT_MANAGER_KEY] = False
        values[HEALTH_MONITORING_REGION_KEY] = self.health_monitoring_agent_region or default_region
        values.update(self.extra_values)
        return {key: values[key] for key in sorted(values)}


def _split_archive_key(key: str) -> tuple[str, str]:
    """``nvidia-device-plugin-0.16.1`` -> (``nvidia-device-plugin``, ``0.16.1``)."""
    match = re.fullmatch(r"(.+?)-(v?[0-9][A-Za-z0-9.+-]*)", key)
    assert match is not None  # ARCHIVE_KEY_PATTERN
    return match.group(1), match.group(2)
