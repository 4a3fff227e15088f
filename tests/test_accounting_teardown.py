"""`cdk destroy` with a created Slurm accounting database (review round 15, H1).

A retained RDS instance keeps its DB subnet group, its security group and the subnets in use, and RDS
and EC2 refuse to delete them (InvalidDBSubnetGroupStateFault, DependencyViolation): the stack delete
failed. The instance now goes after a final snapshot (``Snapshot`` policies, no deletion protection), as
in aws/sagemaker-hyperpod-cluster-setup ``slurm/cloudformation/slurm-accounting-db-template.yaml``; the
key that encrypts it (and so the snapshot) stays. Rule HyperPod-RET4 finds the general case: a resource
kept on delete that uses a subnet, DB subnet group, security group or VPC the stack deletes.

Fixtures: the session's synths (conftest) of examples/slurm.yaml with accounting (``slurm_accounting``),
examples/slurm.yaml, examples/eks-fsx.yaml and examples/eks-governed.yaml.
"""

from __future__ import annotations

from typing import Any

import pytest

from hyperpod_cdk.rules import RULES_BY_ID, Templates
from hyperpod_cdk.rules.retention import retained_in_deleted_network


def _findings(template: dict[str, Any]) -> list[Any]:
    return list(retained_in_deleted_network(Templates({"Stack.template.json": template})))


def test_accounting_database_is_deleted_after_a_final_snapshot(slurm_accounting) -> None:
    _, db = slurm_accounting.one("AWS::RDS::DBInstance")
    assert (db["DeletionPolicy"], db["UpdateReplacePolicy"]) == ("Snapshot", "Snapshot")
    # Deletion protection would make CloudFormation's DeleteDBInstance fail ("The database can't be
    # deleted when deletion protection is enabled", API_CreateDBInstance).
    assert db["Properties"]["DeletionProtection"] is False
    # Its subnet group and security group are deleted with the stack: nothing keeps using them.
    for cfn_type in ("AWS::RDS::DBSubnetGroup",):
        (body,) = slurm_accounting.resources(cfn_type).values()
        assert body.get("DeletionPolicy", "Delete") == "Delete"
    group_id = db["Properties"]["VPCSecurityGroups"][0]["Fn::GetAtt"][0]
    assert slurm_accounting.template["Resources"][group_id].get("DeletionPolicy", "Delete") == "Delete"


def test_the_key_of_the_instance_and_its_secret_outlives_the_stack(slurm_accounting) -> None:
    """The final snapshot is encrypted with the instance's key: a deleted key would make it unreadable."""
    _, db = slurm_accounting.one("AWS::RDS::DBInstance")
    props = db["Properties"]
    (key_id,) = {props["KmsKeyId"]["Fn::GetAtt"][0], props["MasterUserSecret"]["KmsKeyId"]["Fn::GetAtt"][0]}
    key = slurm_accounting.template["Resources"][key_id]
    assert key["Type"] == "AWS::KMS::Key"
    assert (key["DeletionPolicy"], key["UpdateReplacePolicy"]) == ("Retain", "Retain")


@pytest.mark.parametrize("fixture", ["slurm_accounting", "slurm_app", "eks_fsx", "eks_governed"])
def test_nothing_kept_on_delete_uses_a_network_the_stack_deletes(fixture: str, request: pytest.FixtureRequest) -> None:
    app = request.getfixturevalue(fixture)
    assert _findings(app.template) == []


# -- rule HyperPod-RET4 on the accounting database's shape, built here --------------------------------


def _accounting_shape(policy: str) -> dict[str, Any]:
    """The accounting database as the construct builds it: two subnets, a DB subnet group over them, a
    security group, and the instance with ``policy`` as its DeletionPolicy and UpdateReplacePolicy."""

    def subnet(cidr: str) -> dict[str, Any]:
        return {"Type": "AWS::EC2::Subnet", "Properties": {"VpcId": {"Ref": "Vpc"}, "CidrBlock": cidr}}

    return {
        "Resources": {
            "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.0.0.0/16"}},
            "SubnetA": subnet("10.0.0.0/24"),
            "SubnetB": subnet("10.0.1.0/24"),
            "SubnetGroup": {
                "Type": "AWS::RDS::DBSubnetGroup",
                "Properties": {
                    "DBSubnetGroupDescription": "acct",
                    "SubnetIds": [{"Ref": "SubnetA"}, {"Ref": "SubnetB"}],
                },
            },
            "DbGroup": {
                "Type": "AWS::EC2::SecurityGroup",
                "Properties": {"GroupDescription": "acct", "VpcId": {"Ref": "Vpc"}},
            },
            "Database": {
                "Type": "AWS::RDS::DBInstance",
                "DeletionPolicy": policy,
                "UpdateReplacePolicy": policy,
                "Properties": {
                    "Engine": "mariadb",
                    "DBSubnetGroupName": {"Ref": "SubnetGroup"},
                    "VPCSecurityGroups": [{"Fn::GetAtt": ["DbGroup", "GroupId"]}],
                },
            },
        }
    }


def test_ret4_finds_a_retained_database_in_a_network_the_stack_deletes() -> None:
    findings = _findings(_accounting_shape("Retain"))
    assert {f.logical_id for f in findings} == {"Database"}
    used = {(f.detail.split(" uses ", 1)[1].split(",", 1)[0], f.locations[0]) for f in findings}
    assert used == {
        ("AWS::RDS::DBSubnetGroup SubnetGroup", "Properties/DBSubnetGroupName"),
        ("AWS::EC2::SecurityGroup DbGroup", "Properties/VPCSecurityGroups"),
        ("AWS::EC2::Subnet SubnetA (through SubnetGroup)", "Properties/DBSubnetGroupName"),
        ("AWS::EC2::Subnet SubnetB (through SubnetGroup)", "Properties/DBSubnetGroupName"),
    }
    assert all("DELETE_FAILED" in f.detail for f in findings)
    assert RULES_BY_ID["HyperPod-RET4"].severity_of(findings[0]) == "error"


def test_ret4_accepts_the_snapshot_shape_and_a_network_kept_with_the_database() -> None:
    assert _findings(_accounting_shape("Snapshot")) == []
    kept = _accounting_shape("Retain")
    for logical_id in ("Vpc", "SubnetA", "SubnetB", "SubnetGroup", "DbGroup"):
        kept["Resources"][logical_id]["DeletionPolicy"] = "Retain"
    assert _findings(kept) == []
    # One subnet of the group left to the stack: the kept group uses it, and the database through the group.
    kept["Resources"]["SubnetB"].pop("DeletionPolicy")
    findings = _findings(kept)
    assert sorted(f.logical_id for f in findings) == ["Database", "SubnetGroup"]
    assert all("AWS::EC2::Subnet SubnetB" in f.detail for f in findings)


def test_ret4_follows_cross_stack_imports() -> None:
    shape = _accounting_shape("Retain")
    network = {
        "Resources": {k: shape["Resources"].pop(k) for k in ("Vpc", "SubnetA", "SubnetB", "DbGroup")},
        "Outputs": {"Group": {"Value": {"Fn::GetAtt": ["DbGroup", "GroupId"]}, "Export": {"Name": "net:DbGroup"}}},
    }
    shape["Resources"]["Database"]["Properties"]["VPCSecurityGroups"] = [{"Fn::ImportValue": "net:DbGroup"}]
    shape["Resources"].pop("SubnetGroup")
    shape["Resources"]["Database"]["Properties"].pop("DBSubnetGroupName")
    templates = Templates({"Network.template.json": network, "Db.template.json": shape})
    [finding] = retained_in_deleted_network(templates)
    assert "AWS::EC2::SecurityGroup DbGroup" in finding.detail
