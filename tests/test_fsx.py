"""FSx for Lustre: config and construct checks, and the EKS app with FSx (one synth)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hyperpod_cdk.config import parse_config
from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.specs.fsx import check_capacity, valid_capacities

_manifest_spec = importlib.util.spec_from_file_location(
    "synth_manifest_sets", Path(__file__).with_name("synth_manifest_sets.py")
)
manifest_sets_module = sys.modules.setdefault("synth_manifest_sets", importlib.util.module_from_spec(_manifest_spec))
_manifest_spec.loader.exec_module(manifest_sets_module)
resolved_objects = manifest_sets_module.resolved_objects

REPO = Path(__file__).resolve().parent.parent
EKS_FSX_EXAMPLE = REPO / "examples" / "eks-fsx.yaml"
CFN_LINT = Path(sys.executable).with_name("cfn-lint")
FS_ID = "fs-0123456789abcdef0"
IMPORTED = {"file_system_id": FS_ID, "dns_name": f"{FS_ID}.fsx.us-west-2.amazonaws.com", "mount_name": "abcdefgh"}


def _with_fsx(fsx: dict, **extra: object) -> dict:
    data = yaml.safe_load((REPO / "hyperpod.yaml").read_text())
    data["storage"] = {"fsx": fsx}
    data.update(extra)
    return data


# ---------------------------------------------------------------- config and construct validation


def test_capacity_steps() -> None:
    assert valid_capacities(12000) == [1200, 2400, 4800, 7200, 9600, 12000]
    for good in (1200, 2400, 4800, 96000):
        assert check_capacity(good) == good


@pytest.mark.parametrize(
    ("fsx", "field", "message"),
    [
        ({"storage_capacity_gib": 3600}, "storage.fsx.storage_capacity_gib", "nearest: 2400 or 4800"),
        ({"storage_capacity_gib": 1000}, "storage.fsx.storage_capacity_gib", "nearest: 1200"),
        ({"storage_capacity_gib": 1800}, "storage.fsx.storage_capacity_gib", "not a PERSISTENT_2 SSD size"),
        ({"per_unit_storage_throughput": 200}, "storage.fsx.per_unit_storage_throughput", "125, 250, 500 or 1000"),
        ({"data_compression_type": "ZSTD"}, "storage.fsx.data_compression_type", "'NONE' or 'LZ4'"),
        ({"file_system_id": FS_ID}, "storage.fsx.dns_name", "needs file_system_id, dns_name and mount_name"),
        (
            {**IMPORTED, "storage_capacity_gib": 2400},
            "storage.fsx.storage_capacity_gib",
            "only for a file system created",
        ),
        (
            {**IMPORTED, "mount_name": "much-too-long"},
            "storage.fsx.mount_name",
            "is not an FSx mount name: 1 to 8 letters",
        ),
    ],
)
def test_bad_storage_config_names_the_field(fsx: dict, field: str, message: str) -> None:
    with pytest.raises(HyperPodConfigError) as caught:
        parse_config(_with_fsx(fsx))
    assert caught.value.field == field
    assert message in caught.value.message


def test_one_fsx_claim_source() -> None:
    data = _with_fsx({}, kubernetes={"fsx": {**IMPORTED}})
    with pytest.raises(HyperPodConfigError) as caught:
        parse_config(data)
    assert caught.value.field == "kubernetes.fsx"


def test_defaults_and_import() -> None:
    created = parse_config(_with_fsx({})).storage.fsx
    assert created is not None and not created.imported
    assert (
        created.storage_capacity_gib,
        created.per_unit_storage_throughput,
        created.data_compression_type,
        created.retain_on_delete,
    ) == (1200, 250, "LZ4", True)
    imported = parse_config(_with_fsx(dict(IMPORTED))).storage.fsx
    assert imported is not None and imported.imported


def test_construct_checks_values_at_synth() -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2

    from hyperpod_cdk.storage.fsx_lustre import HyperPodFsxLustre

    stack = cdk.Stack(cdk.App(), "Probe")
    subnet = ec2.Subnet.from_subnet_id(stack, "Subnet", "subnet-0123456789abcdef0")
    sg = ec2.SecurityGroup.from_security_group_id(stack, "Sg", "sg-0123456789abcdef0")
    with pytest.raises(HyperPodConfigError) as caught:
        HyperPodFsxLustre(stack, "Bad", subnet=subnet, security_group=sg, storage_capacity_gib=3000)
    assert caught.value.field == "storage.fsx.storage_capacity_gib"
    with pytest.raises(HyperPodConfigError) as caught:
        HyperPodFsxLustre(stack, "Slow", subnet=subnet, security_group=sg, per_unit_storage_throughput=300)
    assert caught.value.field == "storage.fsx.per_unit_storage_throughput"
    with pytest.raises(HyperPodConfigError, match="is not an FSx"):
        HyperPodFsxLustre.from_attributes(stack, "Typo", file_system_id="fsx-1", dns_name="x", mount_name="y")

    imported = HyperPodFsxLustre.from_attributes(stack, "Imported", **IMPORTED)
    assert imported.imported and imported.resource is None and imported.kms_key is None
    assert (imported.file_system_id, imported.dns_name, imported.mount_name) == tuple(IMPORTED.values())
    arn = stack.resolve(imported.file_system_arn())
    assert json.dumps(arn).endswith(f':file-system/{FS_ID}"]]}}')
    created = HyperPodFsxLustre(stack, "Kept", subnet=subnet, security_group=sg)
    dropped = HyperPodFsxLustre(stack, "Dropped", subnet=subnet, security_group=sg, retain=False)
    template = cdk.assertions.Template.from_stack(stack).to_json()
    file_systems = {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::FSx::FileSystem"}
    assert len(file_systems) == 2, "an imported file system creates nothing"
    kept = template["Resources"][stack.get_logical_id(created.resource)]
    gone = template["Resources"][stack.get_logical_id(dropped.resource)]
    assert (kept["DeletionPolicy"], kept["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert (gone["DeletionPolicy"], gone["UpdateReplacePolicy"]) == ("Delete", "Delete")


# ---------------------------------------------------------------- synthesized EKS + FSx app


# eks_fsx: the session's synth of examples/eks-fsx.yaml (tests/conftest.py).


def test_file_system_is_persistent_2_encrypted_and_retained(eks_fsx) -> None:
    fsx_id, fsx = eks_fsx.one("AWS::FSx::FileSystem")
    assert (fsx["DeletionPolicy"], fsx["UpdateReplacePolicy"]) == ("Retain", "Retain")
    props = fsx["Properties"]
    assert (props["FileSystemType"], props["StorageType"], props["StorageCapacity"]) == ("LUSTRE", "SSD", 1200)
    assert props["FileSystemTypeVersion"] == "2.15"
    lustre = props["LustreConfiguration"]
    assert (lustre["DeploymentType"], lustre["PerUnitStorageThroughput"], lustre["DataCompressionType"]) == (
        "PERSISTENT_2",
        250,
        "LZ4",
    )
    key_id = props["KmsKeyId"]["Ref"]
    key = eks_fsx.template["Resources"][key_id]
    assert key["Type"] == "AWS::KMS::Key" and key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"
    # In the default AZ's HyperPod subnet, with the node security group (988 and 1018-1023 are there).
    (subnet_ref,) = props["SubnetIds"]
    assert eks_fsx.template["Resources"][subnet_ref["Ref"]]["Properties"]["AvailabilityZoneId"] == "usw2-az2"
    (sg_ref,) = props["SecurityGroupIds"]
    assert sg_ref["Fn::GetAtt"][0].startswith("NodeSecurityGroup")
    outputs = eks_fsx.template["Outputs"]
    assert outputs["FsxFileSystemId"]["Value"] == {"Ref": fsx_id}
    assert outputs["FsxDnsName"]["Value"] == {"Fn::GetAtt": [fsx_id, "DNSName"]}


def test_csi_driver_addon_with_pod_identity(eks_fsx) -> None:
    fsx_id, _ = eks_fsx.one("AWS::FSx::FileSystem")
    addons = {v["Properties"]["AddonName"]: (k, v) for k, v in eks_fsx.resources("AWS::EKS::Addon").items()}
    addon_id, addon = addons["aws-fsx-csi-driver"]
    associations = {
        v["Properties"]["ServiceAccount"]: (k, v)
        for k, v in eks_fsx.resources("AWS::EKS::PodIdentityAssociation").items()
    }
    assoc_id, assoc = associations["fsx-csi-controller-sa"]
    assert assoc["Properties"]["Namespace"] == "kube-system"
    # Its pods need a node: after the readiness gate (which comes after the HyperPod cluster).
    gate_id = next(
        k for k, v in eks_fsx.resources("Custom::HyperPodReadiness").items() if v["Properties"]["Check"] == "nodes"
    )
    assert {assoc_id, gate_id} <= set(addon["DependsOn"])
    role = eks_fsx.template["Resources"][assoc["Properties"]["RoleArn"]["Fn::GetAtt"][0]]
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(trust["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
    assert trust["Condition"]["StringEquals"]["aws:RequestTag/kubernetes-service-account"] == "fsx-csi-controller-sa"
    assert "ManagedPolicyArns" not in role["Properties"]
    role_id = assoc["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    statements = [
        s
        for p in eks_fsx.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert statements == [
        {
            "Action": "fsx:DescribeFileSystems",
            "Effect": "Allow",
            "Sid": "DescribeStaticVolumes",
            "Resource": {"Fn::GetAtt": [fsx_id, "ResourceARN"]},
        }
    ]


def test_static_volume_and_fsx_claim_name_the_file_system(eks_fsx) -> None:
    fsx_id, _ = eks_fsx.one("AWS::FSx::FileSystem")
    # The set's placeholders are replaced by the deploy-time values the handler receives.
    text = json.dumps(resolved_objects(eks_fsx.template, eks_fsx.outdir, "OperatorChart"))
    text = text.replace(json.dumps({"Ref": fsx_id}), '"<FS_ID>"')
    for attribute in ("DNSName", "LustreMountName"):
        text = text.replace(json.dumps({"Fn::GetAtt": [fsx_id, attribute]}), f'"<{attribute}>"')
    objects = {(o["kind"], o["metadata"]["name"]): o for o in json.loads(text)}
    # The admin claim mounts the root; the team's claim mounts /teams/<team> only (a Lustre fileset).
    root = objects[("PersistentVolume", "fsx-root")]["spec"]
    assert root["csi"] == {
        "driver": "fsx.csi.aws.com",
        "volumeHandle": "<FS_ID>",
        "volumeAttributes": {"dnsname": "<DNSName>", "mountname": "<LustreMountName>"},
    }
    assert root["claimRef"] == {"namespace": "hyperpod-cdk-fsx", "name": "fsx-root"}
    pv = objects[("PersistentVolume", "fsx-team-training")]["spec"]
    assert pv["csi"] == {
        "driver": "fsx.csi.aws.com",
        "volumeHandle": {"Fn::Join": ["", ["<FS_ID>", "::training"]]},
        "volumeAttributes": {
            "dnsname": "<DNSName>",
            "mountname": {"Fn::Join": ["", ["<LustreMountName>", "/teams/training"]]},
        },
    }
    assert pv["persistentVolumeReclaimPolicy"] == "Retain" and pv["capacity"] == {"storage": "1200Gi"}
    claim = objects[("PersistentVolumeClaim", "fsx-claim")]
    assert claim["metadata"]["namespace"] == "hyperpod-ns-training"
    assert claim["spec"]["volumeName"] == "fsx-team-training"
    # The pre-issue-18 root volume per team is gone from the set (kubectl apply --prune deletes the
    # object; reclaimPolicy Retain and a static volume: the data stays).
    assert ("PersistentVolume", "fsx-pv-training") not in objects
    (job,) = (o for o in objects.values() if o["kind"] == "Job")
    assert job["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"] == {"claimName": "fsx-root"}


def test_created_file_system_keeps_a_week_of_daily_backups(eks_fsx) -> None:
    """Review round 5 F1: backups defaulted to 0 days, so a deletion could not be undone."""
    _, fsx = eks_fsx.one("AWS::FSx::FileSystem")
    lustre = fsx["Properties"]["LustreConfiguration"]
    assert lustre["AutomaticBackupRetentionDays"] == 7
    # Never set: changing it replaces the file system (CloudFormation reference).
    assert "CopyTagsToBackups" not in lustre
    # FSx picks the daily window when none is given (API_LustreFileSystemConfiguration).
    assert "DailyAutomaticBackupStartTime" not in lustre
    # 0 stays possible, explicitly.
    off = parse_config(_with_fsx({"automatic_backup_retention_days": 0})).storage.fsx
    assert off is not None and off.automatic_backup_retention_days == 0
    with pytest.raises(HyperPodConfigError) as caught:
        parse_config(_with_fsx({"automatic_backup_retention_days": 91}))
    assert caught.value.field == "storage.fsx.automatic_backup_retention_days"


def test_eks_fsx_template_passes_cfn_lint_and_nag(eks_fsx) -> None:
    for template in sorted(eks_fsx.outdir.glob("*.template.json")):
        result = subprocess.run(
            [
                str(CFN_LINT),
                "--format",
                "json",
                "--regions",
                "us-west-2",
                "--ignore-checks",
                "W3005",
                "--",
                str(template),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert json.loads(result.stdout or "[]") == [], result.stdout[:3000]
    report = json.loads((eks_fsx.outdir / "validation-report.json").read_text())
    # The example names no cluster admin (issue 17): that warning is the only finding expected.
    assert all(
        p["conclusion"] == "success"
        and all(v["ruleName"] == "Annotation::hyperpod-cdk:noClusterAdmin" for v in p.get("violations", []))
        for p in report["pluginReports"]
    )


def test_default_config_has_no_file_system(platform) -> None:
    assert not platform.resources("AWS::FSx::FileSystem")
    assert "aws-fsx-csi-driver" not in {
        v["Properties"]["AddonName"] for v in platform.resources("AWS::EKS::Addon").values()
    }
