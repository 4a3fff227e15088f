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
def continuous(tmp_path_factory: pytest.TempPathFactory, synth):
    data = yaml.safe_load((REPO / "examples" / "slurm.yaml").read_text())
    data["hyperpod"].update(node_provisioning_mode="Continuous", ebs_kms_key="customer-managed")
    data["slurm"] = {"accounting": {"enabled": True, "name": "slurm_acct_db_hyperpod"}}
    work = tmp_path_factory.mktemp("slurm-continuous")
    config = work / "slurm-continuous.yaml"
    config.write_text(yaml.safe_dump(data))
    return synth(config, work / "cdk.out")


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
    # Kept through stack delete and replacement, and protected against a console delete.
    assert (db["DeletionPolicy"], db["UpdateReplacePolicy"]) == ("Retain", "Retain")
    props = db["Properties"]
    assert props["DeletionProtection"] is True and props["PubliclyAccessible"] is False
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


def test_execution_role_reads_only_the_database_secret(continuous) -> None:
    db_id, _ = continuous.one("AWS::RDS::DBInstance")
    statements = [
        s
        for p in continuous.resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if "secretsmanager:GetSecretValue" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert [s["Resource"] for s in statements] == [{"Fn::GetAtt": [db_id, "MasterUserSecret.SecretArn"]}]


def test_database_secret_uses_the_platform_key_and_only_through_secrets_manager(continuous) -> None:
    """Review M4: the RDS-managed master secret is encrypted with the platform's customer managed key;
    the nodes' role may decrypt with it only for this secret, through Secrets Manager."""
    db_id, db = continuous.one("AWS::RDS::DBInstance")
    key = db["Properties"]["MasterUserSecret"]["KmsKeyId"]
    assert key == db["Properties"]["KmsKeyId"] and "Fn::GetAtt" in key
    (statement,) = (
        s
        for p in continuous.resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
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
