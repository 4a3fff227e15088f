"""Config rules of task governance, the inference operator, observability and storage add-ons.

Pure pydantic (no synth): each bad input is one HyperPodConfigError naming the field.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from hyperpod_cdk.config import parse_config
from hyperpod_cdk.config.kubernetes import FsxStorageClassConfig, ObservabilityMetrics
from hyperpod_cdk.errors import HyperPodConfigError

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "eks-governed.yaml"


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text())


def variant(example: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The example with dotted keys replaced (``kubernetes.teams`` = [...]); None deletes."""
    data = copy.deepcopy(example)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return data


def error(data: dict[str, Any]) -> HyperPodConfigError:
    with pytest.raises(HyperPodConfigError) as info:
        parse_config(data)
    return info.value


def test_the_example_is_valid_and_reads_as_documented(example: dict[str, Any]) -> None:
    config = parse_config(example)
    k8s = config.kubernetes
    assert k8s.task_governance is True
    assert [(t.name, t.queue_name) for t in k8s.quota_teams] == [
        ("research", "hyperpod-ns-research-localqueue"),
        ("serving", "hyperpod-ns-serving-localqueue"),
    ]
    assert [(pc.name, pc.weight) for pc in k8s.scheduler_classes] == [
        ("inference", 100),
        ("training", 60),
        ("experimentation", 20),
    ]
    addons = k8s.addons
    assert addons.observability.grafana and addons.inference_operator.enabled
    assert addons.observability.metrics.training == "ADVANCED"
    assert addons.fsx_csi_driver.storage_class is not None


def test_quotas_may_not_promise_more_than_the_groups_have(example: dict[str, Any]) -> None:
    teams = copy.deepcopy(example["kubernetes"]["teams"])
    # 2 instances + 12 GPUs (3 nodes of 4) of ml.g5.12xlarge, but the gpu group has 4 nodes.
    teams[1]["compute_quota"] = [{"instance_type": "ml.g5.12xlarge", "accelerators": 12}]
    err = error(variant(example, kubernetes__teams=teams))
    assert err.field == "kubernetes.teams[1](serving).compute_quota"
    assert "team 'serving' brings the ml.g5.12xlarge quotas to 5 instances ('research' 2, 'serving' 3)" in err.message
    assert "instance groups have 4" in err.message


@pytest.mark.parametrize(
    "resource, fragment",
    [
        ({"instance_type": "ml.p5.48xlarge", "count": 1}, "no instance group has that type"),
        ({"instance_type": "ml.m5.2xlarge", "accelerators": 1}, "which has none"),
    ],
)
def test_quota_entries_must_match_the_groups(example: dict[str, Any], resource: dict, fragment: str) -> None:
    teams = copy.deepcopy(example["kubernetes"]["teams"])
    teams[0]["compute_quota"] = [resource]
    err = error(variant(example, kubernetes__teams=teams))
    assert err.field == "kubernetes.teams[0](research).compute_quota" and fragment in err.message


def test_vcpu_and_memory_quotas_are_left_to_sagemaker(example: dict[str, Any]) -> None:
    teams = copy.deepcopy(example["kubernetes"]["teams"])
    teams[0]["compute_quota"] = [{"instance_type": "ml.g5.12xlarge", "vcpu": 400, "memory_gib": 4000}]
    parse_config(variant(example, kubernetes__teams=teams))  # no vCPU/memory data per type to check against


@pytest.mark.parametrize(
    "region, azs, field",
    [
        ("ap-northeast-1", ["apne1-az1"], "kubernetes.teams[0](research).compute_quota"),
        ("ca-central-1", ["cac1-az1"], "kubernetes.addons.observability.grafana"),
    ],
)
def test_regions_without_the_types_are_refused(example: dict[str, Any], region: str, azs: list, field: str) -> None:
    data = variant(example, region=region, network__availability_zone_ids=azs)
    data["hyperpod"]["instance_groups"] = [
        {"name": "system", "instance_type": "ml.m5.2xlarge", "instance_count": 1},  # hosts system pods
        {"name": "gpu", "instance_type": "ml.g5.12xlarge", "instance_count": 4},
    ]
    assert error(data).field == field


@pytest.mark.parametrize(
    "addons, field, fragment",
    [
        (
            {"inference_operator": {"enabled": True}},
            "kubernetes.addons.inference_operator",
            "needs s3_csi_driver, fsx_csi_driver and metrics_server",
        ),
        (
            {
                "inference_operator": {"enabled": True},
                "s3_csi_driver": {"enabled": True, "bucket_names": ["b-1"]},
                "metrics_server": {"enabled": True},
            },
            "kubernetes.addons.inference_operator",
            "needs fsx_csi_driver, which is off; set fsx_csi_driver.enabled: true (or storage.fsx)",
        ),
        ({"s3_csi_driver": {"enabled": True}}, "kubernetes.addons.s3_csi_driver.bucket_names", "least privilege"),
        (
            {"s3_csi_driver": {"enabled": True, "bucket_names": ["arn:aws:s3:::b"]}},
            "kubernetes.addons.s3_csi_driver.bucket_names[0]",
            "not an ARN",
        ),
        ({"fsx_csi_driver": {"storage_class": {}}}, "kubernetes.addons.fsx_csi_driver.storage_class", "enabled: true"),
        (
            {"fsx_csi_driver": {"enabled": True, "storage_class": {"per_unit_storage_throughput": 200}}},
            "kubernetes.addons.fsx_csi_driver.storage_class.per_unit_storage_throughput",
            "[125, 250, 500, 1000]",
        ),
        (
            {"observability": {"enabled": True, "grafana_workspace_name": "x"}},
            "kubernetes.addons.observability.grafana_workspace_name",
            "grafana: true",
        ),
        (
            {"observability": {"enabled": True, "metrics": {"network": "BASIC"}}},
            "kubernetes.addons.observability.metrics.network",
            "DISABLED",
        ),
        (
            {"observability": {"enabled": True, "metrics": {"gpu": "ADVANCED"}}},
            "kubernetes.addons.observability.metrics.gpu",
            "unknown key",
        ),
    ],
)
def test_addon_settings_errors_name_the_field(addons: dict[str, Any], field: str, fragment: str) -> None:
    data = yaml.safe_load((REPO / "hyperpod.yaml").read_text())
    data["kubernetes"] = {"addons": addons}
    err = error(data)
    assert err.field == field and fragment in err.message, err


def test_every_missing_addon_prerequisite_is_named_in_one_error() -> None:
    # Issue 21: the operator missing three add-ons used to take three runs to find out.
    data = yaml.safe_load((REPO / "hyperpod.yaml").read_text())
    data["kubernetes"] = {"addons": {"inference_operator": {"enabled": True}}}
    err = error(data)
    assert err.field == "kubernetes.addons.inference_operator"
    assert err.message == (
        "inference_operator needs s3_csi_driver, fsx_csi_driver and metrics_server, which are off; set "
        "s3_csi_driver.enabled: true, fsx_csi_driver.enabled: true (or storage.fsx) and metrics_server.enabled: true"
    )
    # storage.fsx installs the FSx CSI driver, so then only the other two are missing.
    data["storage"] = {"fsx": {"storage_capacity_gib": 1200}}
    err = error(data)
    assert "needs s3_csi_driver and metrics_server, which are off" in err.message, err


def test_inference_operator_needs_a_cluster_this_stack_creates() -> None:
    data = yaml.safe_load((REPO / "hyperpod.yaml").read_text())
    data["network"] = {
        "availability_zone_ids": ["usw2-az2"],
        "hyperpod_cidr": "10.1.0.0/16",
        "existing": {
            "vpc_id": "vpc-0123456789abcdef0",
            "vpc_cidr": "10.192.0.0/16",
            "control_plane_subnet_ids": ["subnet-0123456789abcdef0"],
            "nat_gateway_id": "nat-0123456789abcdef0",
        },
    }
    data["eks"] = {"cluster_name": "existing", "existing": {"cluster_security_group_id": "sg-0123456789abcdef0"}}
    data["kubernetes"] = {
        "addons": {
            "inference_operator": {"enabled": True},
            "metrics_server": {"enabled": True},
            "s3_csi_driver": {"enabled": True, "bucket_names": ["models"]},
            "fsx_csi_driver": {"enabled": True},
        }
    }
    err = error(data)
    assert err.field == "kubernetes.addons.inference_operator" and "OIDC provider" in err.message


def test_one_fsx_driver_version(example: dict[str, Any]) -> None:
    data = variant(example, storage={"fsx": {"csi_driver_version": "v1.6.0-eksbuild.1"}})
    data["kubernetes"]["addons"]["fsx_csi_driver"]["version"] = "v1.5.0-eksbuild.1"
    assert error(data).field == "kubernetes.addons.fsx_csi_driver.version"


def test_metric_levels_become_the_addon_metrics_provider() -> None:
    provider = ObservabilityMetrics(cluster="ADVANCED").metrics_provider(logging=False)
    assert provider["clusterMetrics"] == {"level": "ADVANCED", "scrapeInterval": 30}
    assert provider["inferenceMetrics"] == {"level": "BASIC", "scrapeInterval": 30}
    assert provider["logging"] == {"enabled": False}
    assert len(provider) == 9


def test_storage_class_parameters_are_strings_the_driver_reads() -> None:
    params = FsxStorageClassConfig().parameters(subnet_id="subnet-1", security_group_ids="sg-1")
    assert params == {
        "subnetId": "subnet-1",
        "securityGroupIds": "sg-1",
        "deploymentType": "PERSISTENT_2",
        "dataCompressionType": "LZ4",
        "fileSystemTypeVersion": "2.15",
        "perUnitStorageThroughput": "250",
        "automaticBackupRetentionDays": "7",
        "copyTagsToBackups": "true",
    }
    scratch = FsxStorageClassConfig(deployment_type="SCRATCH_2", per_unit_storage_throughput=None)
    assert "perUnitStorageThroughput" not in scratch.parameters(subnet_id="s", security_group_ids="g")
    assert all(isinstance(v, str) for v in params.values())
