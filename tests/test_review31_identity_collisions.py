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
    assert effects(1200, 2400) == [] and effects("1200", 1200) == []
    # A parameter with no default: the direction cannot be read, so it is reported (R32T-H1).
    assert effects({"Ref": "P"}, 1200) == [("StorageCapacity", "blocked")]


def _fsx_template(capacity: Any, parameters: dict[str, Any] | None = None, mappings: Any = None) -> dict[str, Any]:
    props = {"FileSystemType": "LUSTRE", "StorageCapacity": capacity, "SubnetIds": ["subnet-1"]}
    template: dict[str, Any] = {"Resources": {"Fsx": {"Type": "AWS::FSx::FileSystem", "Properties": props}}}
    if parameters:
        template["Parameters"] = parameters
    if mappings:
        template["Mappings"] = mappings
    return template


def test_a_decrease_through_a_default_or_a_mapping_is_blocked_and_an_increase_is_not() -> None:
    """R32T-H1, L1: the decrease was read only between literal numbers; through a Ref's default or a mapping it
    was "no change", and an increase through a default was blocked."""
    sizes = {"Size": {"small": {"Gib": 1200}, "big": {"Gib": 2400}}}
    cap = {"Cap": {"Type": "Number", "Default": 1200}}
    shrink_by_map = _fsx_template({"Fn::FindInMap": ["Size", "small", "Gib"]}, mappings=sizes)
    grown_default = _fsx_template({"Ref": "Cap"}, {"Cap": {"Type": "Number", "Default": 2400}})

    def effects(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str]]:
        return [(f.property, f.effect) for f in compare_templates(old, new).findings]

    assert effects(_fsx_template(2400), shrink_by_map) == [("StorageCapacity", "blocked")]
    assert effects(_fsx_template(2400), _fsx_template({"Ref": "Cap"}, cap)) == [("StorageCapacity", "blocked")]
    assert effects(_fsx_template({"Ref": "Cap"}, cap), grown_default) == []
    unknown = _fsx_template({"Fn::If": ["Big", 2400, 1200]})
    report = compare_templates(_fsx_template(2400), unknown)
    assert [f.effect for f in report.findings] == ["blocked"] and "not literal numbers" in report.findings[0].reason


def test_many_resources_of_one_identity_take_linear_work() -> None:
    """R32T-M1: 60,000 identical access entries compared with themselves took 93 s (each looked through every
    holder of its identity)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("work_limits_r32", Path(__file__).with_name("work_limits.py"))
    assert spec is not None and spec.loader is not None
    work_limits = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(work_limits)
    from hyperpod_cdk.guard.identity_collisions import identity_collisions

    body = {"Type": "AWS::EKS::AccessEntry", "Properties": {"ClusterName": "eks", "PrincipalArn": ROLE + "same"}}
    resources = {f"E{i}": body for i in range(50_000)}
    with work_limits.guard(20):
        assert identity_collisions(resources, resources) == []


def test_a_retained_holder_gets_a_way_out_that_works() -> None:
    """R32T-L2: a holder kept on delete stays in AWS when it leaves the template, so the two-deploy advice failed."""
    old = _entries("a", "b")
    old["Resources"]["AdminAccess1"]["DeletionPolicy"] = "Retain"
    (finding,) = (f for f in compare_templates(old, _entries("b")).findings if f.effect == "blocked")
    assert "kept on delete (DeletionPolicy Retain)" in finding.reason and "delete it by hand" in finding.reason
