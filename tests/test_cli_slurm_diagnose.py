"""``hyperpod-cdk diagnose`` on Slurm: node states and log streams per group, the accounting database.

SageMaker is stubbed (moto's DescribeCluster drops Orchestrator); CloudWatch Logs, RDS and EC2 are
moto, so the accounting check runs against a real-shaped RDS instance and security groups.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from hyperpod_cdk.cli.main import main

_spec = importlib.util.spec_from_file_location("cli_fixtures_slurm_diag", Path(__file__).with_name("cli_fixtures.py"))
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)

CLUSTER = "slurm-demo"
CLUSTER_ID = "abcdef123456"
CLUSTER_ARN = f"arn:aws:sagemaker:{fx.REGION}:{fx.ACCOUNT}:cluster/{CLUSTER_ID}"
LOG_GROUP = f"/aws/sagemaker/Clusters/{CLUSTER}/{CLUSTER_ID}"
EXEC_ROLE = f"arn:aws:iam::{fx.ACCOUNT}:role/exec"
SECRET = f"arn:aws:secretsmanager:{fx.REGION}:{fx.ACCOUNT}:secret:acct-AbCdEf"


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch):
    fx.set_fake_aws_env(monkeypatch)
    with mock_aws():
        yield


def network(open_to_nodes: bool = True) -> tuple[str, str]:
    ec2 = fx.session().client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    nodes_sg = ec2.create_security_group(GroupName="nodes", Description="nodes", VpcId=vpc)["GroupId"]
    db_sg = ec2.create_security_group(GroupName="db", Description="db", VpcId=vpc)["GroupId"]
    if open_to_nodes:
        ec2.authorize_security_group_ingress(
            GroupId=db_sg,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 3306,
                    "ToPort": 3306,
                    "UserIdGroupPairs": [{"GroupId": nodes_sg}],
                }
            ],
        )
    return nodes_sg, db_sg


def rds_instance(db_sg: str) -> str:
    created = (
        fx.session()
        .client("rds")
        .create_db_instance(
            DBInstanceIdentifier="slurm-acct",
            DBInstanceClass="db.m5.large",
            Engine="mariadb",
            EngineVersion="10.11.8",
            MasterUsername="slurmadmin",
            MasterUserPassword="not-used-here-1",
            AllocatedStorage=20,
            VpcSecurityGroupIds=[db_sg],
        )["DBInstance"]
    )
    return (
        created["Endpoint"]["Address"]
        if created.get("Endpoint")
        else fx.session()
        .client("rds")
        .describe_db_instances(DBInstanceIdentifier="slurm-acct")["DBInstances"][0]["Endpoint"]["Address"]
    )


def stub_sagemaker(nodes_sg: str, accounting: dict[str, Any] | None, nodes: list[dict]) -> Any:
    sm, stub = fx.stubbed("sagemaker")
    slurm: dict[str, Any] = {"SlurmConfigStrategy": "Managed"}
    if accounting:
        slurm["AccountingDatabase"] = accounting
    groups = [("controller", 1), ("login", 1), ("gpu", 2)]
    stub.add_response(
        "describe_cluster",
        {
            "ClusterArn": CLUSTER_ARN,
            "ClusterName": CLUSTER,
            "ClusterStatus": "InService",
            "CreationTime": fx.NOW,
            "InstanceGroups": [
                {
                    "InstanceGroupName": g,
                    "InstanceType": "ml.m5.2xlarge",
                    "CurrentCount": n,
                    "TargetCount": n,
                    "ExecutionRole": EXEC_ROLE,
                    "ThreadsPerCore": 1,
                    "Status": "InService",
                }
                for g, n in groups
            ],
            "VpcConfig": {"SecurityGroupIds": [nodes_sg], "Subnets": ["subnet-0123456789abcdef0"]},
            "Orchestrator": {"Slurm": slurm},
            "NodeRecovery": "Automatic",
            "NodeProvisioningMode": "Continuous",
        },
        {"ClusterName": CLUSTER},
    )
    stub.add_response(
        "list_cluster_nodes", {"ClusterNodeSummaries": nodes}, {"ClusterName": CLUSTER, "IncludeNodeLogicalIds": True}
    )
    return sm


def node(group: str, instance_id: str, status: str = "Running") -> dict:
    return {
        "InstanceGroupName": group,
        "InstanceId": instance_id,
        "InstanceType": "ml.m5.2xlarge",
        "LaunchTime": fx.NOW,
        "InstanceStatus": {"Status": status},
    }


NODES = [node("controller", "i-0c"), node("login", "i-0l"), node("gpu", "i-0g1"), node("gpu", "i-0g2")]


def log_streams(*streams: str) -> None:
    logs = fx.session().client("logs")
    logs.create_log_group(logGroupName=LOG_GROUP)
    for stream in streams:
        logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)


def run(sm: Any, capsys, *extra: str) -> tuple[int, Any]:
    code = main(["diagnose", CLUSTER, *extra], clients_factory=fx.factory({"sagemaker": sm}))
    out = capsys.readouterr().out
    return code, (json.loads(out) if "--json" in extra else out)


def test_healthy_slurm_cluster_with_a_reachable_accounting_database(capsys) -> None:
    nodes_sg, db_sg = network()
    endpoint = rds_instance(db_sg)
    log_streams("LifecycleConfig/controller/i-0c", "LifecycleConfig/login/i-0l", "LifecycleConfig/gpu/i-0g1")
    sm = stub_sagemaker(nodes_sg, {"Endpoint": endpoint, "SecretArn": SECRET, "Port": 3306}, NODES)
    code, report = run(sm, capsys, "--json")
    assert code == 0, report["findings"]
    slurm = report["slurm"]
    assert (slurm["api_driven"], slurm["config_strategy"]) == (True, "Managed")
    assert slurm["groups"] == [
        {"name": "controller", "node_states": {"Running": 1}, "log_streams": ["LifecycleConfig/controller/i-0c"]},
        {"name": "login", "node_states": {"Running": 1}, "log_streams": ["LifecycleConfig/login/i-0l"]},
        {"name": "gpu", "node_states": {"Running": 2}, "log_streams": ["LifecycleConfig/gpu/i-0g1"]},
    ]
    accounting = slurm["accounting"]
    assert (accounting["rds_instance"], accounting["status"], accounting["reachable"]) == (
        "slurm-acct",
        "available",
        True,
    )
    assert f"{db_sg} admits the cluster's security group on TCP 3306" == accounting["detail"]


def test_accounting_database_closed_to_the_nodes_is_a_finding(capsys) -> None:
    nodes_sg, db_sg = network(open_to_nodes=False)
    endpoint = rds_instance(db_sg)
    log_streams("LifecycleConfig/controller/i-0c", "LifecycleConfig/login/i-0l", "LifecycleConfig/gpu/i-0g1")
    sm = stub_sagemaker(nodes_sg, {"Endpoint": endpoint, "SecretArn": SECRET}, NODES)
    code, out = run(sm, capsys)
    assert code == 1
    assert f"Accounting database {endpoint}:3306: NOT reachable" in out
    assert "slurmdbd on the controller cannot connect" in out
    assert f"no rule of {db_sg} admits {nodes_sg} on TCP 3306" in out


def test_a_group_with_running_nodes_and_no_log_stream_is_a_finding(capsys) -> None:
    nodes_sg, _ = network()
    log_streams("LifecycleConfig/controller/i-0c", "LifecycleConfig/gpu/i-0g1")
    code, report = run(stub_sagemaker(nodes_sg, None, NODES), capsys, "--json")
    assert code == 1
    [finding] = [f for f in report["findings"] if f["key"] == "slurm-no-lifecycle-log"]
    assert finding["evidence"].endswith(": login")
    assert report["slurm"]["accounting"] is None


def test_an_endpoint_outside_rds_is_not_checked(capsys) -> None:
    nodes_sg, _ = network()
    log_streams("LifecycleConfig/controller/i-0c", "LifecycleConfig/login/i-0l", "LifecycleConfig/gpu/i-0g1")
    sm = stub_sagemaker(nodes_sg, {"Endpoint": "db.example.internal", "SecretArn": SECRET}, NODES)
    code, report = run(sm, capsys, "--json")
    assert code == 0, (report["findings"], report["unchecked"], report["instance_groups"])
    assert report["slurm"]["accounting"]["reachable"] is None
    assert "not an RDS instance of this account and region" in report["slurm"]["accounting"]["detail"]
