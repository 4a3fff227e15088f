"""Scaling and node lifecycle: Karpenter, Spot, flexible types, AMI updates, tiered storage, group features.

One synth of examples/eks-scaling.yaml (with cdk-nag and strict validation) backs the template tests.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hyperpod_cdk.config import parse_config
from hyperpod_cdk.errors import HyperPodConfigError

_manifest_spec = importlib.util.spec_from_file_location(
    "synth_manifest_sets", Path(__file__).with_name("synth_manifest_sets.py")
)
manifest_sets_module = sys.modules.setdefault("synth_manifest_sets", importlib.util.module_from_spec(_manifest_spec))
_manifest_spec.loader.exec_module(manifest_sets_module)
manifest_objects = manifest_sets_module.manifest_objects
manifest_resource = manifest_sets_module.manifest_resource
manifest_sets = manifest_sets_module.manifest_sets

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "eks-scaling.yaml"
CFN_LINT = Path(sys.executable).with_name("cfn-lint")


def example() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text())


@pytest.fixture(scope="module")
def scaling(synth, tmp_path_factory):
    """examples/eks-scaling.yaml with cdk-nag and strict validation (the one scaling synth)."""
    return synth(EXAMPLE, tmp_path_factory.mktemp("eks-scaling.out"))


@pytest.fixture(scope="module")
def cluster(scaling) -> dict[str, Any]:
    return scaling.one("AWS::SageMaker::Cluster")[1]["Properties"]


def groups(cluster: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["InstanceGroupName"]: g for g in cluster["InstanceGroups"]}


# ---------------------------------------------------------------- template


def test_cluster_level_properties(scaling, cluster) -> None:
    assert cluster["AutoScaling"] == {"Mode": "Enable", "AutoScalerType": "Karpenter"}
    assert cluster["TieredStorageConfig"] == {"Mode": "Enable", "InstanceMemoryAllocationPercentage": 30}
    assert (cluster["NodeProvisioningMode"], cluster["NodeRecovery"]) == ("Continuous", "Automatic")
    role_id = cluster["ClusterRole"]["Fn::GetAtt"][0]
    assert scaling.template["Resources"][role_id]["Type"] == "AWS::IAM::Role"


def test_autoscaled_groups(cluster) -> None:
    spot, ondemand = groups(cluster)["spot-g6e"], groups(cluster)["ondemand-g6e"]
    assert spot["InstanceRequirements"] == {"InstanceTypes": ["ml.g6e.12xlarge", "ml.g6e.24xlarge"]}
    assert "InstanceType" not in spot
    assert spot["CapacityRequirements"] == {"Spot": {}}
    assert ondemand["CapacityRequirements"] == {"OnDemand": {}}
    for group in (spot, ondemand):
        # Karpenter owns the count; HyperPod autoscaling refuses deep health checks.
        assert group["InstanceCount"] == 0 and "MinInstanceCount" not in group
        assert "OnStartDeepHealthChecks" not in group
        assert group["KubernetesConfig"]["Labels"] == {"hyperpod-cdk/autoscaler": "karpenter"}


def test_training_group_lifecycle_features(scaling, cluster) -> None:
    train = groups(cluster)["train"]
    assert (train["InstanceCount"], train["MinInstanceCount"]) == (2, 1)
    assert train["NetworkInterface"] == {"InterfaceType": "efa"}
    assert set(train["LifeCycleConfig"]) == {"SourceS3Uri", "OnCreate"}
    assert train["ScheduledUpdateConfig"] == {
        "ScheduleExpression": "cron(0 3 ? * SUN *)",
        "DeploymentConfig": {
            "RollingUpdatePolicy": {
                "MaximumBatchSize": {"Type": "CAPACITY_PERCENTAGE", "Value": 50},
                "RollbackMaximumBatchSize": {"Type": "CAPACITY_PERCENTAGE", "Value": 100},
            },
            "WaitIntervalInSeconds": 600,
            "AutoRollbackConfiguration": [{"AlarmName": "hyperpod-scaling-train-unhealthy"}],
        },
    }
    fsx_id, _ = scaling.one("AWS::FSx::FileSystem")
    assert train["InstanceStorageConfigs"][1] == {
        "FsxLustreConfig": {
            "DnsName": {"Fn::GetAtt": [fsx_id, "DNSName"]},
            "MountName": {"Fn::GetAtt": [fsx_id, "LustreMountName"]},
            "MountPath": "/fsx",
        }
    }
    assert groups(cluster)["system"]["AutoPatchConfig"] == {"PatchingStrategy": "WhenIdle"}
    assert "LifeCycleConfig" in groups(cluster)["system"] and "OnCreate" in groups(cluster)["system"]["LifeCycleConfig"]


def test_cluster_role_is_least_privilege(scaling, cluster) -> None:
    role = scaling.template["Resources"][cluster["ClusterRole"]["Fn::GetAtt"][0]]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "hyperpod.sagemaker.amazonaws.com"} and "Condition" not in trust
    (policy,) = role["Policies"]
    scale, kms = policy["PolicyDocument"]["Statement"]
    assert sorted(scale["Action"]) == ["sagemaker:BatchAddClusterNodes", "sagemaker:BatchDeleteClusterNodes"]
    assert scale["Resource"] == {
        "Fn::Join": ["", ["arn:aws:sagemaker:us-west-2:", {"Ref": "AWS::AccountId"}, ":cluster/*"]]
    }
    assert sorted(kms["Action"]) == ["kms:CreateGrant", "kms:DescribeKey"]
    assert kms["Resource"] == {"Fn::GetAtt": ["DataKey17AFBB84", "Arn"]}
    assert kms["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}
    assert "GenerateDataKeyWithoutPlaintext" in kms["Condition"]["ForAllValues:StringEquals"]["kms:GrantOperations"]


def test_rollback_alarm_is_readable_by_the_execution_role(scaling, cluster) -> None:
    # HyperPod reads the rollback alarms with the execution role (HyperPodExecutionRole grants it).
    role_id = groups(cluster)["train"]["ExecutionRole"]["Fn::GetAtt"][0]
    statements = [
        s
        for p in scaling.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Action"] == "cloudwatch:DescribeAlarms"
    ]
    (statement,) = statements
    assert json.dumps(statement["Resource"]).endswith(':alarm:*"]]}')


def test_karpenter_objects_wait_for_the_crd_after_the_cluster(scaling) -> None:
    cluster_id, _ = scaling.one("AWS::SageMaker::Cluster")
    resources = scaling.template["Resources"]
    gate_id, gate = manifest_resource(scaling.template, "KarpenterCrdReady")
    wait = manifest_sets(scaling.template, scaling.outdir)["KarpenterCrdReady"]
    assert wait["ObjectType"] == "customresourcedefinition"
    assert wait["ObjectNames"] == ["hyperpodnodeclasses.karpenter.sagemaker.amazonaws.com"]
    assert cluster_id in gate["DependsOn"]
    chart_id, _ = manifest_resource(scaling.template, "KarpenterChart")
    assert gate_id in resources[chart_id]["DependsOn"]
    node_class, node_pool = manifest_objects(scaling.template, scaling.outdir, "KarpenterChart")
    assert node_class["kind"] == "HyperpodNodeClass"
    assert node_class["spec"] == {"instanceGroups": ["spot-g6e", "ondemand-g6e"]}
    assert node_pool["spec"]["template"]["spec"]["nodeClassRef"] == {
        "group": "karpenter.sagemaker.amazonaws.com",
        "kind": "HyperpodNodeClass",
        "name": "hyperpod",
    }
    assert node_pool["spec"]["disruption"] == {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "2m"}


def test_example_passes_cfn_lint(scaling) -> None:
    (template,) = scaling.outdir.glob("*.template.json")
    result = subprocess.run(
        [str(CFN_LINT), "--format", "json", "--regions", "us-west-2", "--ignore-checks", "W3005", "--", str(template)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(result.stdout or "[]") == []


def test_subnet_plan_counts_autoscale_groups_at_their_maximum() -> None:
    from hyperpod_cdk.config import plan_for_config

    (plan,) = plan_for_config(parse_config(example()))
    planned = {g.name: (g.instance_count, g.ips_per_node) for g in plan.groups}
    # Flexible groups plan at their hungriest type (g6e.24xlarge: 50 + 1 per extra card).
    assert planned["spot-g6e"] == (8, 51)
    assert planned["ondemand-g6e"] == (4, 30)


# ---------------------------------------------------------------- config errors


def _with(path: str, value: Any, data: dict[str, Any] | None = None) -> dict[str, Any]:
    data = copy.deepcopy(data or example())
    node: Any = data
    parts = path.replace("]", "").replace("[", ".").split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    last = parts[-1]
    if value is _DROP:
        del node[last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return data


_DROP = object()
G = "hyperpod.instance_groups"


@pytest.mark.parametrize(
    ("path", "value", "field", "words"),
    [
        (f"{G}[2].instance_count", 2, f"{G}[2](spot-g6e).instance_count", "must be 0 for an autoscale group"),
        (f"{G}[2].max_instance_count", _DROP, f"{G}[2](spot-g6e).max_instance_count", "required with autoscale"),
        (
            f"{G}[2].deep_health_checks",
            ["InstanceStress"],
            f"{G}[2](spot-g6e).deep_health_checks",
            "does not autoscale groups with deep health checks",
        ),
        (f"{G}[2].instance_type", "ml.g6e.12xlarge", f"{G}[2](spot-g6e).instance_type", "one of the two"),
        (
            f"{G}[2].instance_types",
            ["ml.g6e.12xlarge", "ml.g6e.12xlarge"],
            f"{G}[2](spot-g6e).instance_types",
            "each type once",
        ),
        (f"{G}[2].instance_types", ["ml.c7g.4xlarge"], f"{G}[2](spot-g6e).autoscale", "amd64 only"),
        (f"{G}[2].instance_types", ["ml.g9.huge"], f"{G}[2](spot-g6e).instance_types", "not a SageMaker HyperPod"),
        (f"{G}[2].capacity_type", "Reserved", f"{G}[2](spot-g6e).capacity_type", "'OnDemand' or 'Spot'"),
        (f"{G}[1].min_instance_count", 3, f"{G}[1](train).min_instance_count", "more than instance_count"),
        (f"{G}[1].network_interface", "ena", f"{G}[1](train).network_interface", "'efa' or 'efa-only'"),
        (f"{G}[1].lifecycle_hook", "OnBoot", f"{G}[1](train).lifecycle_hook", "'OnCreate' or 'OnInitComplete'"),
        (f"{G}[1].image_release_version", "latest", f"{G}[1](train).image_release_version", "major.minor.patch"),
        (f"{G}[1].auto_patch", "Always", f"{G}[1](train).auto_patch", "'WhenIdle' or 'WhenAllIdle'"),
        (
            f"{G}[1].scheduled_update.schedule",
            "0 3 * * SUN",
            f"{G}[1](train).scheduled_update.schedule",
            "such as cron(0 3 ? * SUN *)",
        ),
        (f"{G}[1].scheduled_update.max_batch_count", 1, f"{G}[1](train).scheduled_update.max_batch_percent", "one"),
        (
            f"{G}[1].scheduled_update.max_batch_percent",
            0,
            f"{G}[1](train).scheduled_update.max_batch_percent",
            "greater than or equal to 1",
        ),
        (
            f"{G}[1].scheduled_update.rollback_batch_count",
            1,
            f"{G}[1](train).scheduled_update.rollback_batch_count",
            "not both",
        ),
        (
            f"{G}[1].scheduled_update.wait_seconds",
            7200,
            f"{G}[1](train).scheduled_update.wait_seconds",
            "less than or equal to 3600",
        ),
        (
            f"{G}[1].scheduled_update.rollback_alarms",
            [" "],
            f"{G}[1](train).scheduled_update.rollback_alarms[0]",
            "not blank",
        ),
        (
            f"{G}[1].scheduled_update.rollback_alarms",
            [f"a{i}" for i in range(11)],
            f"{G}[1](train).scheduled_update.rollback_alarms",
            "at most 10",
        ),
        (
            f"{G}[1].fsx_mounts",
            [{"mount_path": "/fsx/"}],
            f"{G}[1](train).fsx_mounts[0].mount_path",
            "without a trailing '/'",
        ),
        (
            f"{G}[1].fsx_mounts",
            [{"mount_path": "/d", "dns_name": "fs-0123456789abcdef0.fsx.us-west-2.amazonaws.com"}],
            f"{G}[1](train).fsx_mounts[0].mount_name",
            "together",
        ),
        ("storage", {}, f"{G}[1](train).fsx_mounts", "add storage.fsx"),
        ("hyperpod.autoscaler", "ClusterAutoscaler", "hyperpod.autoscaler", "'Karpenter'"),
        ("hyperpod.node_provisioning_mode", None, "hyperpod.node_provisioning_mode", "Continuous"),
        ("hyperpod.node_recovery", "None", "hyperpod.node_recovery", "Automatic node recovery"),
        (
            "hyperpod.tiered_storage_memory_percent",
            10,
            "hyperpod.tiered_storage_memory_percent",
            "greater than or equal to 20",
        ),
    ],
)
def test_bad_value_is_one_line_naming_the_field(path: str, value: Any, field: str, words: str) -> None:
    with pytest.raises(HyperPodConfigError) as caught:
        parse_config(_with(path, value))
    assert caught.value.field == field, caught.value
    assert words in caught.value.message
    assert "\n" not in str(caught.value)


def test_autoscale_needs_the_autoscaler() -> None:
    with pytest.raises(HyperPodConfigError) as caught:
        parse_config(_with("hyperpod.autoscaler", _DROP))
    assert caught.value.field == f"{G}[2](spot-g6e).autoscale"
    assert "hyperpod.autoscaler: Karpenter" in caught.value.message


def test_autoscaler_without_autoscale_groups() -> None:
    data = example()
    data["hyperpod"]["instance_groups"] = data["hyperpod"]["instance_groups"][:2]
    with pytest.raises(HyperPodConfigError) as caught:
        parse_config(data)
    assert caught.value.field == "hyperpod.autoscaler"


def test_scaling_keys_are_eks_only() -> None:
    slurm = yaml.safe_load((REPO / "examples" / "slurm.yaml").read_text())
    compute = next(
        i for i, g in enumerate(slurm["hyperpod"]["instance_groups"]) if g.get("slurm_node_type") in (None, "Compute")
    )
    for key, value in (
        ("capacity_type", "Spot"),
        ("image_release_version", "1.2.3"),
        ("lifecycle_hook", "OnInitComplete"),
        ("min_instance_count", 1),
    ):
        with pytest.raises(HyperPodConfigError) as caught:
            parse_config(_with(f"{G}[{compute}].{key}", value, slurm))
        assert caught.value.field.endswith(f").{key}") and "orchestrator: eks" in caught.value.message
    with pytest.raises(HyperPodConfigError) as caught:
        parse_config(_with("hyperpod.tiered_storage_memory_percent", 30, slurm))
    assert caught.value.field == "hyperpod.tiered_storage_memory_percent"


def test_scheduled_update_and_network_interface_work_on_slurm() -> None:
    slurm = yaml.safe_load((REPO / "examples" / "slurm.yaml").read_text())
    data = _with(f"{G}[0].scheduled_update", {"schedule": "cron(0 3 ? * SUN *)", "max_batch_count": 1}, slurm)
    data = _with(f"{G}[0].auto_patch", "WhenAllIdle", data)
    config = parse_config(data)
    assert config.hyperpod.instance_groups[0].scheduled_update is not None


# ---------------------------------------------------------------- replacement guard


def _guard(scaling, mutate) -> list[tuple[str, str]]:
    from hyperpod_cdk.guard.diff import compare_templates

    new = copy.deepcopy(scaling.template)
    cluster_id, _ = scaling.one("AWS::SageMaker::Cluster")
    mutate(new["Resources"][cluster_id]["Properties"])
    report = compare_templates(scaling.template, new, "us-west-2")
    return [(f.property, f.effect) for f in report.findings]


def _group(props: dict[str, Any], name: str) -> dict[str, Any]:
    return next(g for g in props["InstanceGroups"] if g["InstanceGroupName"] == name)


def test_guard_passes_a_redeploy_of_karpenter_groups(scaling) -> None:
    # The template pins InstanceCount 0 for Karpenter's groups, so a redeploy carries no count change.
    assert _guard(scaling, lambda props: None) == []


def test_guard_blocks_a_capacity_type_change(scaling) -> None:
    def to_on_demand(props: dict[str, Any]) -> None:
        _group(props, "spot-g6e")["CapacityRequirements"] = {"OnDemand": {}}

    assert _guard(scaling, to_on_demand) == [("InstanceGroups[spot-g6e].CapacityRequirements", "blocked")]


def test_guard_reports_groups_leaving_karpenter_and_autoscaling_off(scaling) -> None:
    def leave(props: dict[str, Any]) -> None:
        del _group(props, "ondemand-g6e")["KubernetesConfig"]
        del props["AutoScaling"]

    findings = _guard(scaling, leave)
    assert ("AutoScaling.Mode", "disruptive") in findings
    assert ("InstanceGroups[ondemand-g6e].KubernetesConfig.Labels.hyperpod-cdk/autoscaler", "disruptive") in findings


def test_guard_reports_ami_pins_flexible_types_and_tiered_storage(scaling) -> None:
    def change(props: dict[str, Any]) -> None:
        _group(props, "train")["ImageReleaseVersion"] = "1.2.3"
        _group(props, "spot-g6e")["InstanceRequirements"]["InstanceTypes"][1] = "ml.g6e.48xlarge"
        props["TieredStorageConfig"]["InstanceMemoryAllocationPercentage"] = 40

    findings = dict(_guard(scaling, change))
    assert findings["InstanceGroups[train].ImageReleaseVersion"] == "disruptive"
    assert findings["TieredStorageConfig.InstanceMemoryAllocationPercentage"] == "disruptive"
    assert any(p.startswith("InstanceGroups[spot-g6e].InstanceRequirements") for p in findings)


# ---------------------------------------------------------------- construct props


def _cluster_props(stack: Any) -> dict[str, Any]:
    from aws_cdk import aws_ec2 as ec2

    subnet = ec2.Subnet.from_subnet_attributes(
        stack, "Subnet", subnet_id="subnet-12345678", ipv4_cidr_block="10.1.0.0/20"
    )
    return {
        "cluster_name": "hp",
        "eks_cluster_arn": "arn:aws:eks:us-west-2:123456789012:cluster/eks",
        "subnets_by_az_id": {"usw2-az2": subnet},
        "default_az_id": "usw2-az2",
        "security_group": ec2.SecurityGroup.from_security_group_id(stack, "Sg", "sg-12345678"),
        "execution_role_arn": "arn:aws:iam::123456789012:role/exec",
        "lifecycle_source_s3_uri": "s3://b/p/",
        "assume_helm_installed": True,
    }


@pytest.mark.parametrize(
    ("extra", "prop", "words"),
    [
        ({"autoscaler": "Karpenter"}, "cluster_role_arn", "needs the cluster role"),
        ({"cluster_role_arn": "arn:aws:iam::123456789012:role/k"}, "cluster_role_arn", "only used with autoscaler"),
        (
            {
                "autoscaler": "Karpenter",
                "cluster_role_arn": "arn:aws:iam::123456789012:role/k",
                "node_provisioning_mode": None,
            },
            "node_provisioning_mode",
            "Continuous",
        ),
        ({"tiered_storage_memory_percent": 5}, "tiered_storage_memory_percent", "20 to 100"),
    ],
)
def test_cluster_construct_checks_scaling_props(extra: dict[str, Any], prop: str, words: str) -> None:
    import aws_cdk as cdk

    from hyperpod_cdk.cluster.hyperpod import HyperPodCluster
    from hyperpod_cdk.config import InstanceGroup

    stack = cdk.Stack(cdk.App(), "S", env=cdk.Environment(account="123456789012", region="us-west-2"))
    scaled = "autoscaler" in extra
    group = InstanceGroup(
        name="g",
        instance_type="ml.c5.xlarge",
        instance_count=0,
        autoscale=scaled,
        max_instance_count=2 if scaled else None,
    )
    with pytest.raises(HyperPodConfigError) as caught:
        HyperPodCluster(stack, "HyperPod", instance_groups=[group], **_cluster_props(stack), **extra)
    assert caught.value.field == prop and words in caught.value.message
    assert "S/HyperPod" in str(caught.value)
