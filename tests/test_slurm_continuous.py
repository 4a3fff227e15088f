"""Slurm with Continuous provisioning, a customer managed EBS key and a created accounting database.

One synth of examples/slurm.yaml plus ``node_provisioning_mode: Continuous``, ``ebs_kms_key:
customer-managed`` and ``slurm.accounting.enabled`` (with cdk-nag and strict validation), then
cfn-lint. Sources: smcluster-cmk.html (key needs Continuous), sagemaker-hyperpod-scaling-slurm.html
(Continuous on Slurm), sagemaker-hyperpod-external-accounting-db-slurm.html (external database,
needs Continuous), aws/sagemaker-hyperpod-cluster-setup slurm-accounting-db-template.yaml (the
database AWS builds for it).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
CFN_LINT = Path(sys.executable).with_name("cfn-lint")


@pytest.fixture(scope="module")
def continuous(slurm_accounting):
    """The session's synth of this config (conftest), shared with test_deploy_time and test_accounting_teardown."""
    return slurm_accounting


def _cluster(app) -> tuple[str, dict]:
    return app.one("AWS::SageMaker::Cluster")


def test_cluster_is_continuous_with_the_platform_key(continuous) -> None:
    _, cluster = _cluster(continuous)
    props = cluster["Properties"]
    assert props["NodeProvisioningMode"] == "Continuous"
    key_id, _ = next((k, v) for k, v in continuous.resources("AWS::KMS::Key").items() if k.startswith("DataKey"))
    for group in props["InstanceGroups"]:
        assert group["InstanceStorageConfigs"][0]["EbsVolumeConfig"]["VolumeKmsKeyId"] == {
            "Fn::GetAtt": [key_id, "Arn"]
        }


def test_accounting_database_is_wired_and_survives_delete(continuous) -> None:
    db_id, db = continuous.one("AWS::RDS::DBInstance")
    # Deleted on stack delete or replacement after a final snapshot (tests/test_accounting_teardown.py).
    assert (db["DeletionPolicy"], db["UpdateReplacePolicy"]) == ("Snapshot", "Snapshot")
    props = db["Properties"]
    assert props["DeletionProtection"] is False and props["PubliclyAccessible"] is False
    assert props["Engine"] == "mariadb" and props["ManageMasterUserPassword"] is True
    assert props["StorageEncrypted"] is True and "KmsKeyId" in props
    _, cluster = _cluster(continuous)
    assert cluster["Properties"]["Orchestrator"]["Slurm"] == {
        "SlurmConfigStrategy": "Managed",
        "AccountingDatabase": {
            "Endpoint": {"Fn::GetAtt": [db_id, "Endpoint.Address"]},
            "SecretArn": {"Fn::GetAtt": [db_id, "MasterUserSecret.SecretArn"]},
            "Name": "slurm_acct_db_hyperpod",
            "Port": 3306,
        },
    }
    assert db_id in cluster["DependsOn"], "slurmdbd connects at the controller's first boot"


def test_database_is_open_to_the_node_security_group_only(continuous) -> None:
    db_id, db = continuous.one("AWS::RDS::DBInstance")
    [sg_ref] = db["Properties"]["VPCSecurityGroups"]
    sg_id = sg_ref["Fn::GetAtt"][0]
    sg = continuous.resources("AWS::EC2::SecurityGroup")[sg_id]["Properties"]
    ingress = sg.get("SecurityGroupIngress", []) + [
        r["Properties"]
        for r in continuous.resources("AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [sg_id, "GroupId"]}
    ]
    assert len(ingress) == 1
    [rule] = ingress
    assert (rule["FromPort"], rule["ToPort"], rule["IpProtocol"]) == (3306, 3306, "tcp")
    assert "SourceSecurityGroupId" in rule and "CidrIp" not in rule
    node_sg = rule["SourceSecurityGroupId"]["Fn::GetAtt"][0]
    _, cluster = _cluster(continuous)
    assert cluster["Properties"]["VpcConfig"]["SecurityGroupIds"] == [{"Fn::GetAtt": [node_sg, "GroupId"]}]
    subnets = continuous.resources("AWS::RDS::DBSubnetGroup")
    assert len(next(iter(subnets.values()))["Properties"]["SubnetIds"]) >= 2


def _group_roles(app) -> dict[str, str]:
    """Instance group name -> logical ID of its execution role."""
    _, cluster = _cluster(app)
    groups = cluster["Properties"]["InstanceGroups"]
    return {g["InstanceGroupName"]: g["ExecutionRole"]["Fn::GetAtt"][0] for g in groups}


def _statements(app, role_id: str) -> list[dict]:
    return [
        s
        for p in app.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def test_only_the_controller_group_has_its_own_role(continuous) -> None:
    """Review M4: slurmdbd, which reads the secret, runs on the controller; the other groups share a role."""
    roles = _group_roles(continuous)
    controller, shared = roles.pop("controller"), set(roles.values())
    assert shared == {next(iter(shared))} and controller not in shared, roles
    _, cluster = _cluster(continuous)
    for role_id in (controller, *shared):
        policies = [
            k
            for k, p in continuous.resources("AWS::IAM::Policy").items()
            if {"Ref": role_id} in p["Properties"]["Roles"]
        ]
        assert policies and {role_id, *policies} <= set(cluster["DependsOn"]), "nodes use every policy at first boot"
    # Same managed policy and the same own statements as the shared role (HyperPodExecutionRole, Lustre, ...).
    role = continuous.resources("AWS::IAM::Role")
    (shared_id,) = shared
    assert role[controller]["Properties"]["ManagedPolicyArns"] == role[shared_id]["Properties"]["ManagedPolicyArns"]
    only_controller = [
        s
        for s in _statements(continuous, controller)
        if json.dumps(s).replace(controller, shared_id)
        not in {json.dumps(t) for t in _statements(continuous, shared_id)}
    ]
    assert sorted(a for s in only_controller for a in _actions(s)) == [
        "kms:Decrypt",
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
    ]


def test_only_the_controller_role_reads_the_database_secret(continuous) -> None:
    db_id, _ = continuous.one("AWS::RDS::DBInstance")
    roles = _group_roles(continuous)
    controller = roles.pop("controller")
    reads = [s for s in _statements(continuous, controller) if "secretsmanager:GetSecretValue" in _actions(s)]
    assert [s["Resource"] for s in reads] == [{"Fn::GetAtt": [db_id, "MasterUserSecret.SecretArn"]}]
    for role_id in set(roles.values()):
        leaked = [
            s
            for s in _statements(continuous, role_id)
            if any(a.startswith("secretsmanager:") for a in _actions(s)) or s.get("Sid") == "AccountingSecretKey"
        ]
        assert leaked == [], f"login/compute role {role_id} must not read the accounting secret"


def test_database_secret_uses_the_platform_key_and_only_through_secrets_manager(continuous) -> None:
    """Review M4: the RDS-managed master secret is encrypted with the platform's customer managed key;
    the controller's role may decrypt with it only for this secret, through Secrets Manager."""
    db_id, db = continuous.one("AWS::RDS::DBInstance")
    key = db["Properties"]["MasterUserSecret"]["KmsKeyId"]
    assert key == db["Properties"]["KmsKeyId"] and "Fn::GetAtt" in key
    (statement,) = (
        s
        for s in _statements(continuous, _group_roles(continuous)["controller"])
        if s.get("Sid") == "AccountingSecretKey"
    )
    assert statement["Action"] == "kms:Decrypt" and statement["Resource"] == key
    equals = statement["Condition"]["StringEquals"]
    assert equals["kms:EncryptionContext:SecretARN"] == {"Fn::GetAtt": [db_id, "MasterUserSecret.SecretArn"]}
    assert "secretsmanager." in json.dumps(equals["kms:ViaService"])


def test_continuous_template_passes_cfn_lint_and_nag(continuous) -> None:
    for template in sorted(continuous.outdir.glob("*.template.json")):
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
        assert json.loads(result.stdout or "[]") == [], result.stdout
    report = json.loads((continuous.outdir / "validation-report.json").read_text())
    assert all(p["conclusion"] == "success" and not p.get("violations") for p in report["pluginReports"])


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory, synth):
    """examples/slurm.yaml, Continuous, with an accounting database imported by endpoint and secret ARN."""
    data = yaml.safe_load((REPO / "examples" / "slurm.yaml").read_text())
    data["hyperpod"].update(node_provisioning_mode="Continuous")
    data["slurm"] = {"accounting": {"endpoint": "acct.abc.us-west-2.rds.amazonaws.com", "secret_arn": SECRET}}
    work = tmp_path_factory.mktemp("slurm-imported-acct")
    config = work / "slurm-imported.yaml"
    config.write_text(yaml.safe_dump(data))
    return synth(config, work / "cdk.out")


SECRET = "arn:aws:secretsmanager:us-west-2:123456789012:secret:acct-AbCdEf"


def test_imported_database_secret_is_readable_by_the_controller_role_only(imported) -> None:
    roles = _group_roles(imported)
    controller = roles.pop("controller")
    reads = [s for s in _statements(imported, controller) if "secretsmanager:GetSecretValue" in _actions(s)]
    assert [s["Resource"] for s in reads] == [SECRET]
    for role_id in set(roles.values()) - {controller}:
        assert not [s for s in _statements(imported, role_id) if SECRET in json.dumps(s)], role_id
    report = json.loads((imported.outdir / "validation-report.json").read_text())
    assert all(p["conclusion"] == "success" and not p.get("violations") for p in report["pluginReports"])


def test_slurm_cluster_construct_gives_the_controller_group_its_own_role() -> None:
    """Library path: ``controller_execution_role`` goes to the Controller group only; a wrong type is one line."""
    import re

    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_iam as iam

    from hyperpod_cdk.cluster.slurm import HyperPodSlurmCluster
    from hyperpod_cdk.config import load_config
    from hyperpod_cdk.errors import HyperPodConfigError

    groups = load_config(REPO / "examples" / "slurm.yaml").hyperpod.instance_groups
    stack = cdk.Stack(cdk.App(), "Probe")
    common: dict = dict(
        cluster_name="probe",
        instance_groups=groups,
        subnets_by_az_id={"usw2-az2": ec2.Subnet.from_subnet_id(stack, "Subnet", "subnet-0123456789abcdef0")},
        default_az_id="usw2-az2",
        security_group=ec2.SecurityGroup.from_security_group_id(stack, "Sg", "sg-0123456789abcdef0"),
        execution_role=iam.Role.from_role_arn(stack, "Exec", "arn:aws:iam::123456789012:role/exec"),
        lifecycle_source_s3_uri="s3://bucket/prefix/",
    )
    with pytest.raises(
        HyperPodConfigError, match=re.escape("Probe/Bad: controller_execution_role: expected an iam.IRole, got a str")
    ):
        HyperPodSlurmCluster(stack, "Bad", controller_execution_role="arn:aws:iam::1:role/x", **common)
    controller_role = iam.Role.from_role_arn(stack, "Ctl", "arn:aws:iam::123456789012:role/controller")
    HyperPodSlurmCluster(stack, "Cluster", controller_execution_role=controller_role, **common)
    props = next(
        r
        for r in cdk.assertions.Template.from_stack(stack).to_json()["Resources"].values()
        if r["Type"] == "AWS::SageMaker::Cluster"
    )["Properties"]
    assert {g["InstanceGroupName"]: g["ExecutionRole"] for g in props["InstanceGroups"]} == {
        "controller": "arn:aws:iam::123456789012:role/controller",
        "login": "arn:aws:iam::123456789012:role/exec",
        "gpu": "arn:aws:iam::123456789012:role/exec",
        "cpu": "arn:aws:iam::123456789012:role/exec",
    }
