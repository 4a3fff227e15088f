"""R31P-M2: the platform names EKS access entries (and an imported file system's Lustre rules) by their place in a
config list, so taking the first admin off moves the next one to its logical ID: CloudFormation creates that
entry before it deletes the old one, EKS refuses a second entry for a principal, and the update rolls back. The
guard reported only a replacement; it now reports each such create as blocked, with the two-step way out."""

from __future__ import annotations

from typing import Any

from hyperpod_cdk.guard import compare_templates

ROLE = "arn:aws:iam::111111111111:role/"


def _entries(*principals: str) -> dict[str, Any]:
    return {
        "Resources": {
            f"AdminAccess{i}": {
                "Type": "AWS::EKS::AccessEntry",
                "Properties": {"ClusterName": "eks", "PrincipalArn": ROLE + name, "Type": "STANDARD"},
            }
            for i, name in enumerate(principals)
        }
    }


def _blocked(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any]]:
    report = compare_templates(old, new)
    return [(f.logical_id, f.old) for f in report.findings if f.effect == "blocked"]


def test_removing_the_first_of_two_principals_is_blocked() -> None:
    assert _blocked(_entries("a", "b"), _entries("b")) == [("AdminAccess0", {"held by": "AdminAccess1"})]


def test_removing_the_last_one_or_adding_one_is_not() -> None:
    assert _blocked(_entries("a", "b"), _entries("a")) == []
    assert _blocked(_entries("a"), _entries("a", "b")) == []


def test_a_security_group_rule_moved_to_another_logical_id_is_blocked() -> None:
    def rules(*groups: str) -> dict[str, Any]:
        return {
            "Resources": {
                f"Lustre{i}": {
                    "Type": "AWS::EC2::SecurityGroupIngress",
                    "Properties": {
                        "GroupId": g,
                        "IpProtocol": "tcp",
                        "FromPort": 988,
                        "ToPort": 988,
                        "SourceSecurityGroupId": "sg-n",
                    },
                }
                for i, g in enumerate(groups)
            }
        }

    assert _blocked(rules("sg-a", "sg-b"), rules("sg-b")) == [("Lustre0", {"held by": "Lustre1"})]


def test_a_smaller_fsx_storage_capacity_is_blocked() -> None:
    """R31T-L3: FSx for Lustre storage only grows; a decrease was "no change" and failed the update."""

    def fsx(capacity: Any) -> dict[str, Any]:
        props = {"FileSystemType": "LUSTRE", "StorageCapacity": capacity, "SubnetIds": ["subnet-1"]}
        return {"Resources": {"Fsx": {"Type": "AWS::FSx::FileSystem", "Properties": props}}}

    def effects(old: Any, new: Any) -> list[tuple[str, str]]:
        return [(f.property, f.effect) for f in compare_templates(fsx(old), fsx(new)).findings]

    assert effects(2400, 1200) == [("StorageCapacity", "blocked")]
    assert effects(1200, 2400) == [] and effects("1200", 1200) == [] and effects({"Ref": "P"}, 1200) == []
