"""``hyperpod-cdk diagnose``: cluster and node state, log streams, the EKS side, likely causes.

moto serves SageMaker DescribeCluster/ListClusterNodes for the plain path and CloudWatch Logs
throughout. moto's DescribeCluster drops the Orchestrator, so the EKS path stubs SageMaker, and
EKS (access entries, add-ons, accessConfig) is always stubbed.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from hyperpod_cdk.cli import diagnose, errors_table
from hyperpod_cdk.cli.main import main
from hyperpod_cdk.cli.preflight import REQUIRED_EKS_ADDONS

_spec = importlib.util.spec_from_file_location("cli_fixtures_diagnose", Path(__file__).with_name("cli_fixtures.py"))
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)

REGION = fx.REGION
CLUSTER = "demo"
CLUSTER_ID = "abcdef123456"
CLUSTER_ARN = f"arn:aws:sagemaker:{REGION}:{fx.ACCOUNT}:cluster/{CLUSTER_ID}"
EKS_NAME = "demo-eks"
EKS_ARN = f"arn:aws:eks:{REGION}:{fx.ACCOUNT}:cluster/{EKS_NAME}"
EXEC_ROLE = f"arn:aws:iam::{fx.ACCOUNT}:role/hyperpod/demo-exec"
LOG_GROUP = f"/aws/sagemaker/Clusters/{CLUSTER}/{CLUSTER_ID}"


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch):
    fx.set_fake_aws_env(monkeypatch)
    with mock_aws():
        yield


# ----------------------------------------------------------------------------- helpers


def moto_cluster(name: str = CLUSTER, count: int = 2) -> str:
    response = (
        fx.session()
        .client("sagemaker")
        .create_cluster(
            ClusterName=name,
            InstanceGroups=[
                {
                    "InstanceGroupName": "gpu",
                    "InstanceType": "ml.g5.8xlarge",
                    "InstanceCount": count,
                    "ThreadsPerCore": 1,
                    "LifeCycleConfig": {"SourceS3Uri": "s3://sagemaker-lifecycle/scripts/", "OnCreate": "on_create.sh"},
                    "ExecutionRole": EXEC_ROLE,
                }
            ],
        )
    )
    return response["ClusterArn"]


def log_streams(group: str, *streams: str) -> None:
    logs = fx.session().client("logs")
    logs.create_log_group(logGroupName=group)
    for stream in streams:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)


def node(instance_id: str, status: str = "Running", message: str | None = None, group: str = "gpu") -> dict:
    summary: dict[str, Any] = {
        "InstanceGroupName": group,
        "InstanceId": instance_id,
        "InstanceType": "ml.g5.8xlarge",
        "LaunchTime": fx.NOW,
        "InstanceStatus": {"Status": status},
    }
    if message:
        summary["InstanceStatus"]["Message"] = message
    return summary


def stub_sagemaker(
    status: str = "Failed", failure: str = "", nodes: list[list[dict]] | None = None, eks: bool = True
) -> Any:
    sm, stub = fx.stubbed("sagemaker")
    described: dict[str, Any] = {
        "ClusterArn": CLUSTER_ARN,
        "ClusterName": CLUSTER,
        "ClusterStatus": status,
        "CreationTime": fx.NOW,
        "InstanceGroups": [
            {
                "InstanceGroupName": "gpu",
                "InstanceType": "ml.g5.8xlarge",
                "CurrentCount": 0,
                "TargetCount": 2,
                "ExecutionRole": EXEC_ROLE,
                "ThreadsPerCore": 1,
                "Status": "Failed" if status == "Failed" else "InService",
            }
        ],
        "NodeRecovery": "Automatic",
    }
    if failure:
        described["FailureMessage"] = failure
    if eks:
        described["Orchestrator"] = {"Eks": {"ClusterArn": EKS_ARN}}
    stub.add_response("describe_cluster", described, {"ClusterName": CLUSTER})
    pages = nodes if nodes is not None else [[]]
    for index, page in enumerate(pages):
        response: dict[str, Any] = {"ClusterNodeSummaries": page}
        expected: dict[str, Any] = {"ClusterName": CLUSTER, "IncludeNodeLogicalIds": True}
        if index < len(pages) - 1:
            response["NextToken"] = f"n{index + 1}"
        if index:
            expected["NextToken"] = f"n{index}"
        stub.add_response("list_cluster_nodes", response, expected)
    return sm


def stub_eks(
    mode: str = "API_AND_CONFIG_MAP",
    entries: list[str] | None = None,
    entry_type: str = "HYPERPOD_LINUX",
    addons: dict[str, str] | None = None,
) -> Any:
    eks, stub = fx.stubbed("eks")
    stub.add_response(
        "describe_cluster",
        {
            "cluster": {
                "name": EKS_NAME,
                "arn": EKS_ARN,
                "status": "ACTIVE",
                "accessConfig": {"authenticationMode": mode},
            }
        },
        {"name": EKS_NAME},
    )
    entries = [EXEC_ROLE] if entries is None else entries
    stub.add_response("list_access_entries", {"accessEntries": entries}, {"clusterName": EKS_NAME})
    for principal in entries:
        if principal.rsplit("/", 1)[-1] == EXEC_ROLE.rsplit("/", 1)[-1]:
            stub.add_response(
                "describe_access_entry",
                {
                    "accessEntry": {
                        "clusterName": EKS_NAME,
                        "principalArn": principal,
                        "type": entry_type,
                        "username": "system:node:{{SessionName}}",
                    }
                },
                {"clusterName": EKS_NAME, "principalArn": principal},
            )
    addons = {a: "ACTIVE" for a in REQUIRED_EKS_ADDONS} if addons is None else addons
    stub.add_response("list_addons", {"addons": list(addons)}, {"clusterName": EKS_NAME})
    for name in REQUIRED_EKS_ADDONS:
        if name in addons:
            addon: dict[str, Any] = {"addonName": name, "clusterName": EKS_NAME, "status": addons[name]}
            if addons[name] != "ACTIVE":
                addon["health"] = {"issues": [{"code": "InsufficientNumberOfReplicas", "message": "0/2 ready"}]}
            stub.add_response("describe_addon", {"addon": addon}, {"clusterName": EKS_NAME, "addonName": name})
    return eks


def run_json(argv: list[str], overrides: dict | None, capsys) -> tuple[int, dict]:
    code = main(argv + ["--json"], clients_factory=fx.factory(overrides))
    return code, json.loads(capsys.readouterr().out)


# ----------------------------------------------------------------------------- moto-backed path


def test_healthy_moto_cluster_exits_0_with_nodes_logs_and_next_steps(capsys):
    arn = moto_cluster()
    group = diagnose.log_group_name(CLUSTER, arn)
    log_streams(group, "LifecycleConfig/gpu/gpu-0", "LifecycleConfig/gpu/gpu-1")
    code = main(["diagnose", CLUSTER], clients_factory=fx.factory())
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Cluster demo: InService" in out
    assert "gpu-0" in out and "gpu-1" in out and "Running" in out
    assert group in out and "LifecycleConfig/gpu/gpu-0" in out
    assert "none of the known failure patterns matched" in out
    assert "Next steps" in out and f"aws logs tail {group} --follow" in out


def test_healthy_moto_cluster_json(capsys):
    arn = moto_cluster()
    code, report = run_json(["diagnose", CLUSTER], None, capsys)
    assert code == 0
    assert report["cluster"]["status"] == "InService" and report["cluster"]["arn"] == arn
    assert [n["status"] for n in report["nodes"]] == ["Running", "Running"]
    assert report["logs"]["log_group"] == f"/aws/sagemaker/Clusters/{CLUSTER}/{CLUSTER}"  # moto's ARN ends in the name
    assert "does not exist yet" in report["logs"]["note"]
    assert report["eks"] is None and report["findings"] == [] and report["next_steps"]


def test_unknown_cluster_is_one_error_line_exit_1(capsys):
    code = main(["diagnose", "no-such-cluster"], clients_factory=fx.factory())
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.strip() == (
        f"error: HyperPod cluster 'no-such-cluster' not found in {REGION}: check the name "
        "(aws sagemaker list-clusters) and --region"
    )


def test_access_denied_on_describe_cluster_is_one_line_exit_1(capsys):
    sm, stub = fx.stubbed("sagemaker")
    fx.deny(stub, "describe_cluster")
    code = main(["diagnose", CLUSTER], clients_factory=fx.factory({"sagemaker": sm}))
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: DescribeCluster failed: AccessDeniedException") and "allow the DescribeCluster" in err


# ----------------------------------------------------------------------------- EKS path (stubbed)


def test_config_map_cluster_reports_every_eks_problem(capsys):
    log_streams(LOG_GROUP, "LifecycleConfig/gpu/i-0123456789abcdef0")
    sm = stub_sagemaker(
        failure="Cluster creation failed: EKS clusters with CONFIG_MAP authentication mode are not supported.",
    )
    eks = stub_eks(
        mode="CONFIG_MAP",
        entries=[f"arn:aws:iam::{fx.ACCOUNT}:role/Admin"],
        addons={"vpc-cni": "ACTIVE", "kube-proxy": "ACTIVE", "eks-pod-identity-agent": "DEGRADED"},
    )
    code, report = run_json(["diagnose", CLUSTER], {"sagemaker": sm, "eks": eks}, capsys)
    assert code == 1
    keys = [f["key"] for f in report["findings"]]
    assert keys[0] == "config-map-auth"  # from the FailureMessage itself
    assert {"access-entry", "eks-addons"} <= set(keys)
    assert report["eks"]["auth_mode"] == "CONFIG_MAP"
    assert report["eks"]["access_entries"] == [
        {"execution_role": EXEC_ROLE, "principal_arn": None, "type": None, "found": False}
    ]
    addons = {a["name"]: a for a in report["eks"]["addons"]}
    assert addons["coredns"]["present"] is False
    assert addons["eks-pod-identity-agent"]["status"] == "DEGRADED"
    assert addons["eks-pod-identity-agent"]["issues"] == ["InsufficientNumberOfReplicas: 0/2 ready"]
    assert report["logs"]["streams"] == ["LifecycleConfig/gpu/i-0123456789abcdef0"]
    config_map = report["findings"][0]
    assert "API_AND_CONFIG_MAP" in config_map["fix"] and "CONFIG_MAP authentication" in config_map["evidence"]
    assert f"--name {EKS_NAME} " in config_map["fix"]  # placeholders filled in
    access = next(f for f in report["findings"] if f["key"] == "access-entry")
    assert f"--principal-arn {EXEC_ROLE} --type HYPERPOD_LINUX" in access["fix"]


def test_table_output_lists_causes_with_fixes(capsys):
    sm = stub_sagemaker(failure="Lifecycle scripts did not run successfully on 2 instances.")
    eks = stub_eks()
    code = main(["diagnose", CLUSTER], clients_factory=fx.factory({"sagemaker": sm, "eks": eks}))
    out = capsys.readouterr().out
    assert code == 1
    assert "FailureMessage:" in out and "Likely causes" in out
    assert "A lifecycle script (on_create) failed" in out
    assert "s3:GetObject" in out
    assert "HYPERPOD_LINUX" in out and "API_AND_CONFIG_MAP" in out  # EKS table: entry type and auth mode
    assert "Next steps" in out


def test_access_entry_of_wrong_type_is_a_finding(capsys):
    sm = stub_sagemaker(status="InService", nodes=[[node("i-0123456789abcdef0")]])
    eks = stub_eks(entries=[f"arn:aws:iam::{fx.ACCOUNT}:role/demo-exec"], entry_type="STANDARD")
    code, report = run_json(["diagnose", CLUSTER], {"sagemaker": sm, "eks": eks}, capsys)
    assert code == 1
    finding = next(f for f in report["findings"] if f["key"] == "access-entry")
    assert "access entry type STANDARD" in finding["evidence"]
    # the role path differs (/hyperpod/ vs none) but the entry is still matched by role name
    assert report["eks"]["access_entries"][0]["found"] is True


def test_healthy_eks_cluster_exits_0(capsys):
    sm = stub_sagemaker(status="InService", nodes=[[node("i-0123456789abcdef0")], [node("i-0fedcba9876543210")]])
    code, report = run_json(["diagnose", CLUSTER], {"sagemaker": sm, "eks": stub_eks()}, capsys)
    assert code == 0, report["findings"]
    assert len(report["nodes"]) == 2  # both ListClusterNodes pages
    assert report["eks"]["access_entries"][0]["type"] == "HYPERPOD_LINUX"
    assert all(a["status"] == "ACTIVE" for a in report["eks"]["addons"])


def test_eks_access_denied_is_listed_as_unchecked_not_a_crash(capsys):
    sm = stub_sagemaker(status="InService", nodes=[[node("i-0123456789abcdef0")]])
    eks, stub = fx.stubbed("eks")
    for method in ("describe_cluster", "list_access_entries", "list_addons"):
        fx.deny(stub, method)
    code, report = run_json(["diagnose", CLUSTER], {"sagemaker": sm, "eks": eks}, capsys)
    assert code == 0
    assert len(report["unchecked"]) == 3
    assert all("access denied" in line for line in report["unchecked"])
    assert report["eks"]["auth_mode"] is None and report["eks"]["addons"][0]["present"] is None


def test_log_streams_access_denied_is_unchecked(capsys):
    sm = stub_sagemaker(status="InService", nodes=[[node("i-0123456789abcdef0")]])
    logs, stub = fx.stubbed("logs")
    fx.deny(stub, "describe_log_streams")
    code, report = run_json(["diagnose", CLUSTER], {"sagemaker": sm, "eks": stub_eks(), "logs": logs}, capsys)
    assert code == 0
    assert report["logs"]["note"] == "could not list the log streams"
    assert any("logs:DescribeLogStreams" in line for line in report["unchecked"])


# ----------------------------------------------------------------------------- node messages


def test_node_failure_message_matches_capacity_and_pending_nodes_flag_churn(capsys):
    nodes = [
        [
            node(
                "i-0123456789abcdef0",
                "Failure",
                "We currently do not have sufficient capacity to launch new ml.g5.8xlarge instances.",
            ),
            node("i-0fedcba9876543210", "Pending"),
            node("i-0aaaaaaaaaaaaaaaa", "ShuttingDown"),
        ]
    ]
    sm = stub_sagemaker(status="InService", nodes=nodes)
    code, report = run_json(["diagnose", CLUSTER], {"sagemaker": sm, "eks": stub_eks()}, capsys)
    assert code == 1
    keys = [f["key"] for f in report["findings"]]
    assert keys == ["insufficient-capacity", "node-churn"]
    assert "node i-0123456789abcdef0 (Failure)" in report["findings"][0]["evidence"]
    assert "i-0fedcba9876543210 Pending" in report["findings"][1]["evidence"]


def test_pending_nodes_while_creating_are_not_churn(capsys):
    sm = stub_sagemaker(status="Creating", nodes=[[node("i-0fedcba9876543210", "Pending")]])
    code, report = run_json(["diagnose", CLUSTER], {"sagemaker": sm, "eks": stub_eks()}, capsys)
    assert code == 0 and report["findings"] == []


def test_unmatched_failure_still_gives_a_cause_and_next_steps(capsys):
    sm = stub_sagemaker(failure="Something new went wrong.")
    code, report = run_json(["diagnose", CLUSTER], {"sagemaker": sm, "eks": stub_eks()}, capsys)
    assert code == 1
    assert [f["key"] for f in report["findings"]] == ["cluster-failed"]
    assert len(report["next_steps"]) == len(errors_table.GENERIC_NEXT_STEPS)


# ----------------------------------------------------------------------------- the error table


@pytest.mark.parametrize(
    ("message", "key"),
    [
        ("InsufficientCapacityError: no ml.p5.48xlarge capacity", "insufficient-capacity"),
        ("We currently do not have sufficient capacity for the requested instance type", "insufficient-capacity"),
        ("EKS clusters with CONFIG_MAP authentication mode are not supported", "config-map-auth"),
        ("The EKS cluster is missing required dependencies: install the HyperPod Helm chart", "missing-dependencies"),
        ("Unable to retrieve subnets for the cluster. Check the execution role.", "execution-role-vpc"),
        ("is not authorized to perform: ec2:DescribeSubnets on resource", "execution-role-vpc"),
        ("Lifecycle scripts did not run successfully. Check CloudWatch logs.", "lifecycle-scripts"),
        ("The maximum number of VPCs has been reached. (VpcLimitExceeded)", "vpc-quota"),
    ],
)
def test_error_table_matches_known_messages(message: str, key: str):
    matched = errors_table.match_messages([("cluster FailureMessage", message)])
    assert [known.key for known, _ in matched] == [key]
    assert matched[0][1] == f"cluster FailureMessage: {message}"


def test_error_table_ignores_unrelated_text():
    assert errors_table.match_messages([("node", "Running fine"), ("cluster", "")]) == []
