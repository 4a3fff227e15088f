"""Dynamic FSx claims per team (sixth review, N4): a generic ephemeral volume of the dynamic FSx
StorageClass is a PVC the team's RBAC never sees, and each one creates a file system."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cdk8s
import pytest
import yaml

from hyperpod_cdk.config import parse_config
from hyperpod_cdk.config.charts import QuotaResource
from hyperpod_cdk.config.kubernetes import KubernetesConfig
from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.kubernetes.charts import HyperPodOperatorChart, Team, parse_k8s_settings
from hyperpod_cdk.kubernetes.charts.validate import validate_manifests


def _fsx_claim_quotas(chart: HyperPodOperatorChart) -> dict[str, dict[str, Any]]:
    docs = chart.to_json()
    return {
        d["metadata"]["namespace"]: d for d in docs if d["kind"] == "ResourceQuota" and "fsx" in d["metadata"]["name"]
    }


def test_no_team_creates_dynamic_fsx_file_systems_unless_allowed() -> None:
    """Sixth review N4: a generic ephemeral volume of the dynamic FSx class is a PVC the team's RBAC never
    sees, and each one is a new file system. Every team namespace gets a storage-class quota."""
    chart = HyperPodOperatorChart(
        cdk8s.App(),
        "fsx-claims",
        teams=[
            Team(name="alpha"),
            Team(name="beta", dynamic_fsx_claims=2),
            Team(name="gamma", compute_quota=[QuotaResource(instance_type="ml.p5.48xlarge", count=1)]),
        ],
        task_governance=True,
        fsx_storage_class="fsx-sc",
    )
    by_ns = _fsx_claim_quotas(chart)
    assert sorted(by_ns) == ["hyperpod-ns-alpha", "hyperpod-ns-beta", "hyperpod-ns-gamma"]
    key = "fsx-sc.storageclass.storage.k8s.io/persistentvolumeclaims"
    assert {ns: q["spec"] for ns, q in by_ns.items()} == {
        "hyperpod-ns-alpha": {"hard": {key: "0"}},
        "hyperpod-ns-beta": {"hard": {key: "2"}},
        "hyperpod-ns-gamma": {"hard": {key: "0"}},
    }
    validate_manifests(list(by_ns.values()))
    # Without a dynamic class there is nothing to limit.
    assert _fsx_claim_quotas(HyperPodOperatorChart(cdk8s.App(), "no-class", teams=[Team(name="alpha")])) == {}


def test_the_platform_config_names_its_dynamic_fsx_class_to_the_chart() -> None:
    k8s = KubernetesConfig.model_validate(
        {
            "teams": [{"name": "alpha"}],
            "addons": {"fsx_csi_driver": {"enabled": True, "storage_class": {"name": "lustre-dyn"}}},
        }
    )
    assert k8s.fsx_storage_class == "lustre-dyn"
    (quota,) = _fsx_claim_quotas(HyperPodOperatorChart.from_settings(cdk8s.App(), "platform", k8s)).values()
    assert quota["spec"]["hard"] == {"lustre-dyn.storageclass.storage.k8s.io/persistentvolumeclaims": "0"}
    default_name = KubernetesConfig.model_validate(
        {"addons": {"fsx_csi_driver": {"enabled": True, "storage_class": {}}}}
    )
    assert default_name.fsx_storage_class == "fsx-sc"


def test_dynamic_fsx_claims_without_the_storage_class_is_one_config_line() -> None:
    with pytest.raises(HyperPodConfigError) as caught:
        parse_k8s_settings({"teams": [{"name": "alpha"}, {"name": "beta", "dynamic_fsx_claims": 1}]})
    assert caught.value.field == "kubernetes.teams[1](beta).dynamic_fsx_claims"
    assert "kubernetes.addons.fsx_csi_driver.storage_class" in caught.value.message
    assert "\n" not in str(caught.value)


def test_dynamic_fsx_file_systems_keep_a_week_of_backups_like_the_static_one() -> None:
    from hyperpod_cdk.config.addons import FsxStorageClassConfig
    from hyperpod_cdk.specs.fsx import DEFAULT_BACKUP_RETENTION_DAYS

    params = FsxStorageClassConfig().parameters(subnet_id="subnet-1", security_group_ids="sg-1")
    assert params["automaticBackupRetentionDays"] == str(DEFAULT_BACKUP_RETENTION_DAYS) == "7"
    # Scratch file systems have no backups: the default does not make SCRATCH_2 an error, a set value does.
    scratch = FsxStorageClassConfig(deployment_type="SCRATCH_2", per_unit_storage_throughput=None)
    assert "automaticBackupRetentionDays" not in scratch.parameters(subnet_id="s", security_group_ids="g")
    with pytest.raises(HyperPodConfigError):
        FsxStorageClassConfig(
            deployment_type="SCRATCH_2", per_unit_storage_throughput=None, automatic_backup_retention_days=3
        )


def test_the_quota_cannot_be_pointed_at_another_class_than_the_platforms() -> None:
    """A class made outside the platform may be named; the platform's own class may not be swapped for another."""
    elsewhere = KubernetesConfig.model_validate({"fsx_storage_class": "made-elsewhere"})
    assert elsewhere.fsx_storage_class == "made-elsewhere"
    data = yaml.safe_load((Path(__file__).resolve().parents[1] / "examples" / "eks-governed.yaml").read_text())
    data["kubernetes"]["fsx_storage_class"] = "other"
    with pytest.raises(HyperPodConfigError) as caught:
        parse_config(data)
    assert "fsx_storage_class" in caught.value.field and "'fsx-sc'" in caught.value.message
