"""Review round 7g, L3-L5: the guard's view of data-holding types, JSON types, deletion policies and list order.

L3: ECR repositories, RDS instances and clusters, EFS, DynamoDB tables and Secrets Manager secrets were
neither guarded nor stateful, so replacing one (an ECR rename deletes every image) exited 0.
L4: ``True == 1 == 1.0`` in Python made changed literals compare equal.
L5: a stateful resource's DeletionPolicy/UpdateReplacePolicy going from Retain to Delete passed, and FSx
``SubnetIds``/``SecurityGroupIds`` (ordered in their registry schema) were compared as sets.
"""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.guard import GUARDED_TYPES, STATEFUL_TYPES, compare_templates, main, schema_create_only
from hyperpod_cdk.guard.table import unordered_paths

_spec = importlib.util.spec_from_file_location("work_limits", Path(__file__).with_name("work_limits.py"))
assert _spec and _spec.loader
work_limits = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(work_limits)

DATA_TYPES = (
    "AWS::RDS::DBInstance",
    "AWS::RDS::DBCluster",
    "AWS::ECR::Repository",
    "AWS::EFS::FileSystem",
    "AWS::DynamoDB::Table",
    "AWS::SecretsManager::Secret",
)


def _template(resources: dict[str, Any]) -> dict[str, Any]:
    return {"Resources": resources}


def _one(resource_type: str, logical_id: str = "Data", **attributes: Any) -> dict[str, Any]:
    props = attributes.pop("Properties", {})
    return _template({logical_id: {"Type": resource_type, "Properties": props, **attributes}})


def _write(path: Path, template: dict[str, Any]) -> str:
    path.write_text(json.dumps(template))
    return str(path)


def _run(capsys: pytest.CaptureFixture[str], tmp_path: Path, old: dict, new: dict) -> tuple[int, str]:
    code = main(["--old", _write(tmp_path / "old.json", old), "--new", _write(tmp_path / "new.json", new)])
    return code, capsys.readouterr().out


# --- L3: data-holding types ---------------------------------------------------------------------


@pytest.mark.parametrize("resource_type", DATA_TYPES)
def test_a_data_holding_type_is_stateful_and_guarded(resource_type: str) -> None:
    assert resource_type in STATEFUL_TYPES and resource_type in GUARDED_TYPES
    assert schema_create_only(resource_type), "cfn-lint's bundled schema should list its create-only paths"


@pytest.mark.parametrize("resource_type", DATA_TYPES)
def test_a_logical_id_move_of_a_data_holding_resource_is_a_replacement(resource_type: str) -> None:
    [finding] = compare_templates(_one(resource_type, "DataA"), _one(resource_type, "DataB")).findings
    assert (finding.logical_id, finding.property, finding.effect) == ("DataA", "(logical ID)", "replacement")
    assert finding.new == {"logical_id": "DataB"}


def test_renaming_the_training_image_repository_is_a_replacement_exit_1(capsys, tmp_path: Path) -> None:
    old = _one("AWS::ECR::Repository", Properties={"RepositoryName": "hp/fsdp"})
    code, out = _run(capsys, tmp_path, old, _one("AWS::ECR::Repository", Properties={"RepositoryName": "hp/train"}))
    assert code == 1
    assert '[REPLACEMENT] RepositoryName: "hp/fsdp" -> "hp/train"' in out
    assert "also replaced" not in out


def test_changing_the_repository_encryption_is_a_replacement() -> None:
    def repo(encryption: dict[str, str]) -> dict[str, Any]:
        return _one("AWS::ECR::Repository", Properties={"EncryptionConfiguration": encryption})

    report = compare_templates(repo({"EncryptionType": "AES256"}), repo({"EncryptionType": "KMS", "KmsKey": "k"}))
    assert [(f.property, f.effect) for f in report.findings] == [("EncryptionConfiguration", "replacement")]


def test_encrypting_the_accounting_database_is_a_replacement_with_its_fixed_name_noted() -> None:
    def database(encrypted: bool) -> dict[str, Any]:
        props = {"DBInstanceIdentifier": "acct", "StorageEncrypted": encrypted}
        return _one("AWS::RDS::DBInstance", DeletionPolicy="Retain", Properties=props)

    report = compare_templates(database(False), database(True))
    [finding] = report.findings
    assert (finding.property, finding.effect, finding.guarded) == ("StorageEncrypted", "replacement", True)
    assert finding.note and "DBInstanceIdentifier stays 'acct'" in finding.note
    assert report.other_replacements == []


# --- L4: JSON types -----------------------------------------------------------------------------


def _lustre(**lustre: Any) -> dict[str, Any]:
    return _one("AWS::FSx::FileSystem", Properties={"FileSystemType": "LUSTRE", "LustreConfiguration": lustre})


@pytest.mark.parametrize(
    ("path", "old", "new"),
    [
        ("EfaEnabled", True, 1),
        ("ImportedFileChunkSize", 1024, 1024.0),
        ("CopyTagsToBackups", 0, False),
    ],
)
def test_literals_of_another_json_type_are_a_change(path: str, old: Any, new: Any) -> None:
    [finding] = compare_templates(_lustre(**{path: old}), _lustre(**{path: new})).findings
    assert (finding.property, finding.effect) == (f"LustreConfiguration.{path}", "replacement")


def test_an_absent_value_still_equals_its_default_of_the_same_type() -> None:
    def key(**props: Any) -> dict[str, Any]:
        return _one("AWS::KMS::Key", Properties=props)

    assert compare_templates(key(), key(MultiRegion=False)).findings == []
    assert compare_templates(_lustre(), _lustre(CopyTagsToBackups=False)).findings == []
    [finding] = compare_templates(key(), key(MultiRegion=0)).findings  # absent means false, not 0
    assert (finding.property, finding.effect) == ("MultiRegion", "blocked")


def _cluster(*groups: dict[str, Any]) -> dict[str, Any]:
    return _one("AWS::SageMaker::Cluster", Properties={"ClusterName": "hp", "InstanceGroups": list(groups)})


@pytest.mark.parametrize("count", [False, 0.0])
def test_a_removed_group_whose_count_is_not_the_integer_0_is_reported(count: Any) -> None:
    cpu = {"InstanceGroupName": "cpu", "InstanceType": "ml.m5.xlarge", "InstanceCount": 1}
    gpu = {"InstanceGroupName": "gpu", "InstanceType": "ml.g5.8xlarge", "InstanceCount": count}
    [finding] = compare_templates(_cluster(cpu, gpu), _cluster(cpu)).findings
    assert finding.property == "InstanceGroups[gpu]"
    assert compare_templates(_cluster(cpu, {**gpu, "InstanceCount": 0}), _cluster(cpu)).findings == []


# --- L5a: deletion and replacement policies ---------------------------------------------------------

FSX_PROPS = {"FileSystemType": "LUSTRE", "StorageCapacity": 1200}


def _fsx(**policies: str) -> dict[str, Any]:
    return _one("AWS::FSx::FileSystem", "Fsx", Properties=FSX_PROPS, **policies)


def test_a_retained_file_system_turned_to_delete_is_disruptive_exit_1(capsys, tmp_path: Path) -> None:
    old = _fsx(DeletionPolicy="Retain", UpdateReplacePolicy="Retain")
    code, out = _run(capsys, tmp_path, old, _fsx(DeletionPolicy="Delete", UpdateReplacePolicy="Retain"))
    assert code == 1
    assert '[DISRUPTIVE] (DeletionPolicy): "Retain" -> "Delete"' in out
    assert "DeletionPolicy Retain -> Delete" in out
    assert "removing it from the template (or deleting the stack) would now delete it and its data" in out
    assert "aws-attribute-deletionpolicy.html" in out


def test_dropping_the_policies_means_delete() -> None:
    report = compare_templates(_fsx(DeletionPolicy="Retain", UpdateReplacePolicy="Retain"), _fsx())
    assert [(f.property, f.effect, f.cause) for f in report.findings] == [
        ("(DeletionPolicy)", "disruptive", "DeletionPolicy Retain -> Delete (the default)"),
        ("(UpdateReplacePolicy)", "disruptive", "UpdateReplacePolicy Retain -> Delete (the default)"),
    ]
    assert "a replacing change would now delete it" in report.findings[1].reason


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"DeletionPolicy": "Retain"}, {"DeletionPolicy": "RetainExceptOnCreate"}),
        ({"DeletionPolicy": "Delete"}, {}),
        ({}, {"DeletionPolicy": "Retain"}),
        ({"UpdateReplacePolicy": "Retain"}, {"UpdateReplacePolicy": "Retain"}),
    ],
)
def test_policies_that_keep_as_much_pass(old: dict[str, str], new: dict[str, str]) -> None:
    assert compare_templates(_fsx(**old), _fsx(**new)).findings == []


def test_a_policy_that_is_not_a_literal_is_reported() -> None:
    new = _fsx(DeletionPolicy={"Fn::If": ["Keep", "Retain", "Delete"]})  # type: ignore[arg-type]
    [finding] = compare_templates(_fsx(DeletionPolicy="Retain"), new).findings
    assert (
        finding.property == "(DeletionPolicy)" and finding.cause and finding.cause.startswith("DeletionPolicy Retain")
    )


def test_a_database_snapshot_policy_turned_to_delete_is_reported() -> None:
    def database(**policies: str) -> dict[str, Any]:
        return _one("AWS::RDS::DBInstance", Properties={"Engine": "mariadb"}, **policies)

    # Absent means Snapshot for an RDS instance outside a cluster (CloudFormation's DeletionPolicy page).
    [finding] = compare_templates(database(), database(DeletionPolicy="Delete")).findings
    assert finding.cause == "DeletionPolicy Snapshot -> Delete"
    assert compare_templates(database(DeletionPolicy="Snapshot"), database()).findings == []
    clustered = _one("AWS::RDS::DBInstance", Properties={"DBClusterIdentifier": "c"}, DeletionPolicy="Snapshot")
    [finding] = compare_templates(
        clustered, _one("AWS::RDS::DBInstance", Properties={"DBClusterIdentifier": "c"})
    ).findings
    assert finding.cause == "DeletionPolicy Snapshot -> Delete (the default)"


def test_a_policy_change_on_a_type_without_data_passes() -> None:
    def group(**policies: str) -> dict[str, Any]:
        return _one("AWS::EC2::SecurityGroup", Properties={"GroupDescription": "d"}, **policies)

    assert compare_templates(group(DeletionPolicy="Retain"), group(DeletionPolicy="Delete")).findings == []


# --- L5b: list order as the registry schema says -------------------------------------------------


def test_the_schema_decides_which_lists_are_sets() -> None:
    assert unordered_paths("AWS::FSx::FileSystem") == frozenset()  # the legacy schema leaves insertionOrder true
    sagemaker = unordered_paths("AWS::SageMaker::Cluster")
    assert {"VpcConfig.Subnets", "VpcConfig.SecurityGroupIds", "InstanceGroups[*].OverrideVpcConfig.Subnets"} <= (
        sagemaker
    )
    assert "InstanceGroups[*].InstanceRequirements.InstanceTypes" not in sagemaker


@pytest.mark.parametrize("key", ["SubnetIds", "SecurityGroupIds"])
def test_reordered_file_system_subnets_or_groups_are_a_replacement(key: str) -> None:
    old = _one("AWS::FSx::FileSystem", Properties={**FSX_PROPS, key: [{"Ref": "A"}, {"Ref": "B"}]})
    new = copy.deepcopy(old)
    new["Resources"]["Data"]["Properties"][key].reverse()
    [finding] = compare_templates(old, new).findings
    assert (finding.property, finding.effect) == (key, "replacement")


def test_reordered_override_subnets_of_a_named_group_stay_equal() -> None:
    def group(subnets: list[str]) -> dict[str, Any]:
        override = {"SecurityGroupIds": ["sg-1"], "Subnets": subnets}
        return {"InstanceGroupName": "a.b", "InstanceType": "ml.g5.8xlarge", "OverrideVpcConfig": override}

    assert compare_templates(_cluster(group(["s-1", "s-2"])), _cluster(group(["s-2", "s-1"]))).findings == []
    [finding] = compare_templates(_cluster(group(["s-1", "s-2"])), _cluster(group(["s-1", "s-3"]))).findings
    assert finding.property == "InstanceGroups[a.b].OverrideVpcConfig.Subnets"


def test_a_long_key_does_not_lengthen_every_path_below_it() -> None:
    """The schema paths are followed only toward an unordered list: a 2 MB key over 200,000 keys would
    otherwise build a 2 MB path for each of them."""
    long_key = "K" * 2_000_000
    vpc = {"Subnets": ["s-1", "s-2"], long_key: {f"k{n}": n for n in range(200_000)}}
    template = _one("AWS::SageMaker::Cluster", Properties={"ClusterName": "hp", "VpcConfig": vpc})
    changed = copy.deepcopy(template)
    changed["Resources"]["Data"]["Properties"]["VpcConfig"][long_key]["k7"] = -1
    with work_limits.guard(60):
        assert compare_templates(template, copy.deepcopy(template)).findings == []
        [finding] = compare_templates(template, changed).findings  # narrowed through the long key
    assert finding.property.endswith(".k7") and (finding.old, finding.new) == (7, -1)
