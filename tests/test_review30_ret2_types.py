"""R30T-L6: RET2 did not know the DB subnet group RET4 tells users to retain, nor backup vaults and other types
whose name is unique per account and region: a retained, named one passed, and the next deploy failed with
AlreadyExists (CreateDBSubnetGroup: DBSubnetGroupAlreadyExists; CreateBackupVault: AlreadyExistsException)."""

from __future__ import annotations

import pytest

from hyperpod_cdk.rules import Templates, check

CASES = [
    ("AWS::RDS::DBSubnetGroup", "DBSubnetGroupName"),
    ("AWS::RDS::DBParameterGroup", "DBParameterGroupName"),
    ("AWS::Backup::BackupVault", "BackupVaultName"),
    ("AWS::OpenSearchService::Domain", "DomainName"),
    ("AWS::Events::EventBus", "Name"),
]


@pytest.mark.parametrize(("kind", "prop"), CASES, ids=[kind for kind, _ in CASES])
def test_a_retained_fixed_name_of_these_types_is_ret2(kind: str, prop: str) -> None:
    resource = {"Type": kind, "DeletionPolicy": "Retain", "Properties": {prop: "hyperpod-fixed"}}
    found = check(Templates({"t": {"Resources": {"R": resource}}}, region="us-west-2"))
    assert [(f.rule_id, f.logical_id) for f in found if f.rule_id == "HyperPod-RET2"] == [("HyperPod-RET2", "R")]
    generated = {"Type": kind, "DeletionPolicy": "Retain", "Properties": {}}
    assert [f for f in check(Templates({"t": {"Resources": {"R": generated}}})) if f.rule_id == "HyperPod-RET2"] == []
