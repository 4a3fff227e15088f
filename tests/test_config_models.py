"""Issue 21: one ``_Model`` base for every config model, so a model built in Python (a construct
input such as ``Team``, ``HelmDependenciesConfig`` or ``KubernetesAddonsConfig``) raises the config
loader's one plain line naming the model, the field and the fix."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest
from pydantic import BaseModel

from hyperpod_cdk.config import (
    addons,
    base,
    charts,
    eks,
    helm,
    hyperpod,
    kubernetes,
    network,
    platform,
    signals,
    storage,
)
from hyperpod_cdk.config import slurm as slurm_config
from hyperpod_cdk.errors import HyperPodConfigError

CASES: list[tuple[Callable[[], object], str, str]] = [
    (lambda: charts.Team(name="Research"), "Team.name", "is not a team name"),
    (lambda: kubernetes.HelmDependenciesConfig(revision="v3.9.0"), "HelmDependenciesConfig.revision", "40-character"),
    (
        lambda: kubernetes.KubernetesAddonsConfig(s3_csi_driver={"enabled": True, "bucket_names": ["s3://b"]}),
        "KubernetesAddonsConfig.s3_csi_driver.bucket_names[0]",
        "is not an S3 bucket name",
    ),
    (
        lambda: kubernetes.KubernetesAddonsConfig(cert_manager={"enabled": False}),
        "KubernetesAddonsConfig.training_operator",
        "needs cert-manager",
    ),
    (lambda: kubernetes.KubernetesConfig(teams=[{"name": "a"}, {"name": "a"}]), "KubernetesConfig.teams", "used twice"),
    (lambda: signals.AlertsConfig(email=["oncall"]), "AlertsConfig.email[0]", "e-mail address"),
    (lambda: slurm_config.SlurmSettings(bogus=True), "SlurmSettings.bogus", "unknown key"),
    (
        lambda: hyperpod.InstanceGroup(name="g", instance_type="p5.48xlarge", instance_count=1),
        "InstanceGroup.instance_type",
        "ml.p5.48xlarge",
    ),
]


@pytest.mark.parametrize(("build", "field", "fragment"), CASES, ids=[c[1] for c in CASES])
def test_models_built_in_python_raise_one_plain_line(build, field: str, fragment: str) -> None:
    with pytest.raises(HyperPodConfigError) as caught:
        build()
    text = str(caught.value)
    assert caught.value.field == field and fragment in caught.value.message, text
    assert "\n" not in text and "validation error" not in text and "^[" not in text


def test_every_config_model_shares_the_one_base() -> None:
    modules = (addons, charts, eks, helm, hyperpod, kubernetes, network, platform, signals, slurm_config, storage)
    models = {
        obj
        for module in modules
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, BaseModel) and obj.__module__.startswith("hyperpod_cdk.config")
    }
    assert len(models) > 30
    assert sorted(m.__name__ for m in models if not issubclass(m, base._Model)) == []


def test_names_importable_before_the_split_still_are() -> None:
    from hyperpod_cdk.config.kubernetes import (  # noqa: F401
        ADDON_VERSION_PATTERN,
        DEFAULT_CHART_REVISION,
        FsxCsiDriverConfig,
        HelmDependenciesConfig,
        KubernetesAddonsConfig,
        ObservabilityMetrics,
        unreachable_chart_images,
    )
    from hyperpod_cdk.config.platform import (  # noqa: F401
        EKS_ONLY_GROUP_KEYS,
        MAX_AUTOSCALED_GROUPS,
        EksConfig,
        FsxConfig,
        HyperPodConfig,
        InstanceGroup,
        NetworkConfig,
        PlatformConfig,
        _explain,
        check_offered,
        group_demands,
        json_schema,
        load_config,
        parse_config,
        plan_for_config,
        system_pod_groups,
    )

    assert (
        InstanceGroup is hyperpod.InstanceGroup
        and parse_config is __import__("hyperpod_cdk.config.loading", fromlist=["parse_config"]).parse_config
    )
