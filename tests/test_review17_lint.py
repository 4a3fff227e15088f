"""``hyperpod-cdk lint`` findings of review round 17 (tools): R17T-M2, M3, M1 (issue 18).

A value known only at deploy is reported as not-checked, never read as absent (docs/lint.md). Work and memory
are measured at n and 2n (calls, tracemalloc peak), never by wall-clock.
"""

from __future__ import annotations

import importlib.util
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.rules.model import NOT_CHECKED, Templates

_spec = importlib.util.spec_from_file_location("work_limits", Path(__file__).with_name("work_limits.py"))
assert _spec and _spec.loader
work_limits = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(work_limits)
run = work_limits.rule_findings

ROLE = "arn:aws:iam::111122223333:role/r"


def _cluster(groups: list[dict[str, Any]], subnets: Any = None) -> dict[str, Any]:
    return {
        "Type": "AWS::SageMaker::Cluster",
        "Properties": {
            "ClusterName": "c",
            "NodeRecovery": "Automatic",
            "Orchestrator": {"Eks": {"ClusterArn": "arn:aws:eks:us-east-1:111122223333:cluster/e"}},
            "VpcConfig": {"Subnets": subnets or [{"Ref": "Subnet"}], "SecurityGroupIds": ["sg-0123456789abcdef0"]},
            "InstanceGroups": [{"ExecutionRole": ROLE, **g} for g in groups],
        },
    }


def _template(groups: list[dict[str, Any]], cidr: str = "10.0.0.0/24") -> dict[str, Any]:
    return {
        "Parameters": {"NodeCount": {"Type": "Number"}, "GpuType": {"Type": "String"}},
        "Resources": {
            "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.0.0.0/16"}},
            "Subnet": {"Type": "AWS::EC2::Subnet", "Properties": {"VpcId": {"Ref": "Vpc"}, "CidrBlock": cidr}},
            "Cluster": _cluster(groups),
        },
    }


SYS = {"InstanceGroupName": "sys", "InstanceType": "ml.m5.xlarge", "InstanceCount": 2}


def _severities(findings: list[Any]) -> list[str]:
    return sorted(f.severity or "rule default (error)" for f in findings)


# ------------------------------------------------------------------ R17T-M2: IP1


def test_ip1_a_count_given_at_deploy_is_not_checked() -> None:
    """A /24 and 'workers' x !Ref NodeCount: was "no findings" (the group was left out)."""
    workers = {"InstanceGroupName": "workers", "InstanceType": "ml.g5.8xlarge", "InstanceCount": {"Ref": "NodeCount"}}
    findings = run(_template([SYS, workers]), "HyperPod-IP1")
    assert _severities(findings) == [NOT_CHECKED]
    assert "'workers'" in findings[0].detail and "not known offline" in findings[0].detail


def test_ip1_the_known_groups_alone_over_capacity_stay_an_error() -> None:
    big = {"InstanceGroupName": "big", "InstanceType": "ml.g5.8xlarge", "InstanceCount": 100}
    workers = {"InstanceGroupName": "workers", "InstanceType": "ml.g5.8xlarge", "InstanceCount": {"Ref": "NodeCount"}}
    assert _severities(run(_template([big, workers]), "HyperPod-IP1")) == ["rule default (error)"]


def test_ip1_an_unknown_override_is_not_read_as_no_override() -> None:
    """OverrideVpcConfig.Subnets !Ref <list parameter>: the workers were charged to the cluster's /26 (false error)."""
    workers = {
        "InstanceGroupName": "workers",
        "InstanceType": "ml.g5.8xlarge",
        "InstanceCount": 4,
        "OverrideVpcConfig": {"Subnets": {"Ref": "WorkerSubnets"}, "SecurityGroupIds": ["sg-0123456789abcdef0"]},
    }
    findings = run(_template([SYS, workers], cidr="10.0.0.0/26"), "HyperPod-IP1")
    assert _severities(findings) == [NOT_CHECKED]
    assert "OverrideVpcConfig.Subnets" in findings[0].detail


def test_ip1_literal_groups_are_unchanged() -> None:
    workers = {"InstanceGroupName": "workers", "InstanceType": "ml.g5.8xlarge", "InstanceCount": 100}
    assert _severities(run(_template([SYS, workers]), "HyperPod-IP1")) == ["rule default (error)"]
    workers["InstanceCount"] = 1
    assert run(_template([SYS, workers]), "HyperPod-IP1") == []


# ------------------------------------------------------------------ R17T-M2: TYPE1, SM1


def test_type1_an_unknown_item_of_instance_requirements_is_not_checked() -> None:
    flexible = {
        "InstanceGroupName": "flexible",
        "InstanceRequirements": {"InstanceTypes": ["ml.p5.48xlarge", {"Ref": "GpuType"}]},
        "InstanceCount": 1,
    }
    templates = Templates({"t": _template([flexible])}, region="us-east-1", closed_world=False)
    findings = run(templates, "HyperPod-TYPE1")
    assert _severities(findings) == [NOT_CHECKED]
    assert "InstanceRequirements.InstanceTypes" in findings[0].detail


def test_sm1_an_instance_type_given_at_deploy_is_not_checked() -> None:
    gpu = {"InstanceGroupName": "gpu", "InstanceType": {"Ref": "GpuType"}, "InstanceCount": 1}
    findings = run(_template([gpu]), "HyperPod-SM1")
    assert _severities(findings) == [NOT_CHECKED]
    assert "'gpu'" in findings[0].detail
    gpu["OnStartDeepHealthChecks"] = ["InstanceStress"]
    assert run(_template([gpu]), "HyperPod-SM1") == []


# ------------------------------------------------------------------ R17T-M2: FSX1


def _lustre(security_groups: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::FSx::FileSystem",
        "Properties": {"FileSystemType": "LUSTRE", "SubnetIds": ["subnet-1"], "SecurityGroupIds": security_groups},
    }


def test_fsx1_an_imported_or_parameter_group_is_not_checked() -> None:
    template = {
        "Parameters": {"Groups": {"Type": "List<AWS::EC2::SecurityGroup::Id>"}},
        "Resources": {
            "Imported": _lustre(["sg-0123456789abcdef0"]),
            "FromParameter": _lustre({"Ref": "Groups"}),
        },
    }
    findings = run(template, "HyperPod-FSX1")
    assert _severities(findings) == [NOT_CHECKED, NOT_CHECKED]
    assert {f.logical_id for f in findings} == {"Imported", "FromParameter"}


# ------------------------------------------------------------------ R17T-M3: cdk.out keeps "not known offline"

_UNKNOWN_CONDITION = {
    "Parameters": {"Environment": {"Type": "String", "AllowedValues": ["prod", "dev"]}},
    "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Environment"}, "prod"]}},
    "Resources": {
        "Checkpoints": {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BucketName": {
                    "Fn::If": [
                        "IsProd",
                        "hp-checkpoints",
                        {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]},
                    ]
                }
            },
        }
    },
}


def test_a_cdk_out_reports_what_the_template_file_reports(tmp_path: Path) -> None:
    """The same template said "condition IsProd is not known offline" as a file but "no findings" as a cdk.out."""
    from hyperpod_cdk.rules.inputs import load, load_cdk_out

    as_file = tmp_path / "Stack.template.json"
    as_file.write_text(json.dumps(_UNKNOWN_CONDITION))
    cdk_out = tmp_path / "cdk.out"
    cdk_out.mkdir()
    (cdk_out / "Stack.template.json").write_text(json.dumps(_UNKNOWN_CONDITION))
    from_file = load(as_file)
    from_cdk_out = load_cdk_out(cdk_out)
    assert from_file.unresolved, "the template file reports the unknown condition"
    assert [u[1:] for u in from_cdk_out.unresolved] == [u[1:] for u in from_file.unresolved]
    assert "condition IsProd is not known offline" in from_cdk_out.unresolved[0][2]
    assert from_cdk_out.unresolved[0][0] == str(cdk_out / "Stack.template.json")


# ------------------------------------------------------------------ R17T-M1: Terraform unknown markers


def _plan(address: str, unknown: dict[str, Any]) -> dict[str, Any]:
    values = {"address": address, "mode": "managed", "type": "aws_eks_cluster", "name": "main", "values": {"name": "c"}}
    return {
        "format_version": "1.2",
        "planned_values": {"root_module": {"resources": [values]}},
        "resource_changes": [{"address": address, "change": {"after_unknown": unknown}}],
    }


def _peak_bytes(plan: dict[str, Any]) -> int:
    from hyperpod_cdk.rules.inputs import load_data

    tracemalloc.start()
    try:
        load_data(plan, "plan.json")
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _long_key_plan(n: int) -> dict[str, Any]:
    """n unknown list items under a 100,000-character attribute key (a 4 MB plan of 1,000 items took 3.97 GB)."""
    return _plan("aws_eks_cluster.main", {"k" * 100_000: [True] * n})


def _deep_plan(n: int) -> dict[str, Any]:
    """n unknown list items under 60 levels of 24-character keys: each marker held the 1.5 KB path."""
    unknown: Any = [True] * n
    for level in range(60):
        unknown = {f"level{level:02d}".ljust(24, "x"): unknown}
    return _plan("aws_eks_cluster.main", unknown)


@pytest.mark.parametrize("build", [_long_key_plan, _deep_plan])
def test_terraform_unknown_markers_do_not_copy_the_path_per_item(build: Any) -> None:
    """The memory the plan's markers take grows with the input, not with items x path length."""
    small, large = _peak_bytes(build(2_000)), _peak_bytes(build(4_000))
    # Before the fix: about 200 MB and 400 MB for the long key (each item a 100 KB string).
    assert large < 20 * 2**20
    assert large - small < 2 * 2**20  # 2,000 more items: about 2,000 list slots, not 2,000 paths


def test_a_terraform_address_over_the_cap_is_refused_before_its_values_are_read() -> None:
    from hyperpod_cdk.rules import inputs

    plan = _plan('aws_eks_cluster.main["' + "k" * 5_000 + '"]', {"subnet_ids": [True] * 1_000})
    marked: list[int] = []
    original = inputs._mark_unknown

    def counting(values: Any, unknown: Any, where: str) -> Any:
        marked.append(1)
        return original(values, unknown, where)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(inputs, "_mark_unknown", counting)
        with pytest.raises(inputs.LintInputError, match="address over 2,048 characters"):
            inputs.load_data(plan, "plan.json")
    assert marked == []
