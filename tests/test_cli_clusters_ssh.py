"""``clusters list``, ``nodes delete`` and ``ssh``: moto for ListClusters / DescribeCluster, a
Stubber where moto lacks the field (DescribeCluster's Orchestrator), the API
(BatchDeleteClusterNodes) or the real ID formats (12-character cluster IDs, i-... node IDs)."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from hyperpod_cdk.cli import clusters, ssh
from hyperpod_cdk.cli.main import main

_spec = importlib.util.spec_from_file_location("cli_fixtures_clusters", Path(__file__).with_name("cli_fixtures.py"))
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)

NODE_A = "i-0123456789abcdef0"
NODE_B = "i-0fedcba9876543210"


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch):
    fx.set_fake_aws_env(monkeypatch)
    monkeypatch.chdir(fx.REPO / "tests")  # no ./hyperpod.yaml: the region comes from the environment
    with mock_aws():
        yield


def moto_cluster(name: str, groups: dict[str, int]) -> dict[str, Any]:
    return (
        fx.session()
        .client("sagemaker")
        .create_cluster(
            ClusterName=name,
            InstanceGroups=[
                {
                    "InstanceGroupName": group,
                    "InstanceType": "ml.m5.2xlarge",
                    "InstanceCount": count,
                    "ThreadsPerCore": 1,
                    "LifeCycleConfig": {"SourceS3Uri": "s3://sagemaker-lifecycle/scripts/", "OnCreate": "on_create.sh"},
                    "ExecutionRole": f"arn:aws:iam::{fx.ACCOUNT}:role/hp-exec",
                }
                for group, count in groups.items()
            ],
        )
    )


def run(argv: list[str], overrides: dict | None = None, stdin: io.StringIO | None = None) -> int:
    return main(argv, clients_factory=fx.factory(overrides), stdin=stdin or io.StringIO(""))


# ----------------------------------------------------------------------------- clusters list


def test_clusters_list_shows_status_orchestrator_and_node_count(capsys):
    slurm_arn = moto_cluster("slurm-team", {"controller": 1, "workers": 2})["ClusterArn"]
    eks_arn = moto_cluster("eks-team", {"gpu": 3})["ClusterArn"]
    moto_sm = fx.session().client("sagemaker")
    stubbed, stub = fx.stubbed("sagemaker")
    # moto's DescribeCluster has no Orchestrator: a Stubber answers it, in ListClusters order (newest first).
    eks_cluster_arn = f"arn:aws:eks:{fx.REGION}:{fx.ACCOUNT}:cluster/team-eks"
    listed = moto_sm.list_clusters(SortBy="CREATION_TIME", SortOrder="Descending")["ClusterSummaries"]
    for summary in listed:
        described = moto_sm.describe_cluster(ClusterName=summary["ClusterArn"])
        described.pop("ResponseMetadata")
        if summary["ClusterArn"] == eks_arn:
            described["Orchestrator"] = {"Eks": {"ClusterArn": eks_cluster_arn}}
        stub.add_response("describe_cluster", described, {"ClusterName": summary["ClusterArn"]})
    sagemaker = fx.Split(moto_sm, describe_cluster=stubbed)
    assert run(["clusters", "list", "--json"], {"sagemaker": sagemaker}) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["clusters"]}
    assert rows["eks-team"]["orchestrator"] == "EKS" and rows["eks-team"]["eks_cluster"] == "team-eks"
    assert rows["slurm-team"]["orchestrator"] == "Slurm" and rows["slurm-team"]["arn"] == slurm_arn
    assert rows["slurm-team"]["nodes"] == 3 and rows["eks-team"]["nodes"] == 3
    assert {r["status"] for r in rows.values()} == {"InService"}
    stub.assert_no_pending_responses()


def test_clusters_list_table_and_empty_region(capsys):
    assert run(["clusters", "list"]) == 0
    assert f"No HyperPod clusters in {fx.REGION}" in capsys.readouterr().out
    moto_cluster("alpha", {"workers": 1})
    assert run(["clusters", "list", "--region", fx.REGION]) == 0
    out = capsys.readouterr().out
    assert "alpha" in out and "Slurm" in out and "InService" in out


def test_clusters_list_keeps_going_when_a_description_is_denied(capsys):
    moto_cluster("alpha", {"workers": 1})
    stubbed, stub = fx.stubbed("sagemaker")
    fx.deny(stub, "describe_cluster")
    sagemaker = fx.Split(fx.session().client("sagemaker"), describe_cluster=stubbed)
    assert run(["clusters", "list", "--json"], {"sagemaker": sagemaker}) == 0
    (row,) = json.loads(capsys.readouterr().out)["clusters"]
    assert row["orchestrator"] == "unknown" and "sagemaker:DescribeCluster" in row["note"]


def test_orchestrator_of_a_described_cluster():
    assert clusters.orchestrator_of({"Orchestrator": {"Eks": {"ClusterArn": "arn:aws:eks:r:1:cluster/x"}}}) == (
        "EKS",
        "x",
    )
    assert clusters.orchestrator_of({"Orchestrator": {"Slurm": {"SlurmConfigStrategy": "Managed"}}}) == ("Slurm", "")
    assert clusters.orchestrator_of({}) == ("Slurm", "")


# ----------------------------------------------------------------------------- nodes delete


def test_nodes_delete_reports_each_node_with_the_delete_response_shape(capsys):
    sm, stub = fx.stubbed("sagemaker")
    stub.add_response(
        "batch_delete_cluster_nodes",
        {"Successful": [NODE_A], "Failed": [{"NodeId": NODE_B, "Code": "NodeIdInUse", "Message": "busy"}]},
        {"ClusterName": "demo", "NodeIds": [NODE_A, NODE_B]},
    )
    assert run(["nodes", "delete", "demo", NODE_A, NODE_B, "--yes", "--json"], {"sagemaker": sm}) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["action"] == "delete"
    assert out["results"] == [
        {"node": NODE_A, "ok": True, "error_code": "", "message": ""},
        {"node": NODE_B, "ok": False, "error_code": "NodeIdInUse", "message": "busy"},
    ]
    stub.assert_no_pending_responses()


def test_nodes_delete_batches_of_25_and_logical_ids(capsys):
    ids = [f"i-{index:017x}" for index in range(26)]
    sm, stub = fx.stubbed("sagemaker")
    for chunk in (ids[:25], ids[25:]):
        stub.add_response(
            "batch_delete_cluster_nodes", {"Successful": chunk}, {"ClusterName": "demo", "NodeIds": chunk}
        )
    stub.add_response(
        "batch_delete_cluster_nodes",
        {"SuccessfulNodeLogicalIds": ["gpu-node-1"]},
        {"ClusterName": "demo", "NodeLogicalIds": ["gpu-node-1"]},
    )
    assert run(["nodes", "delete", "demo", *ids, "gpu-node-1", "--yes", "--json"], {"sagemaker": sm}) == 0
    assert all(r["ok"] for r in json.loads(capsys.readouterr().out)["results"])
    stub.assert_no_pending_responses()


def test_nodes_delete_refuses_without_a_terminal_or_yes(capsys):
    sm, _ = fx.stubbed("sagemaker")  # nothing queued: a call would raise
    assert run(["nodes", "delete", "demo", NODE_A], {"sagemaker": sm}, stdin=io.StringIO("yes\n")) == 2
    assert "refusing to delete 1 node(s) of demo without confirmation" in capsys.readouterr().err


# ----------------------------------------------------------------------------- ssh


def test_ssm_target_format():
    arn = f"arn:aws:sagemaker:{fx.REGION}:{fx.ACCOUNT}:cluster/aa11bbbbb222"
    assert (
        ssh.ssm_target(arn, "controller-group", "i-111222333444555aa")
        == "sagemaker-cluster:aa11bbbbb222_controller-group-i-111222333444555aa"
    )
    assert ssh.ssm_target("aa11bbbbb222", "gpu", NODE_A) == f"sagemaker-cluster:aa11bbbbb222_gpu-{NODE_A}"
    for bad in (("not-an-arn", "gpu", NODE_A), (arn, "bad_group", NODE_A), (arn, "gpu", "node-1")):
        with pytest.raises(ValueError):
            ssh.ssm_target(*bad)


CLUSTER_ARN = f"arn:aws:sagemaker:{fx.REGION}:{fx.ACCOUNT}:cluster/aa11bbbbb222"


def nodes_stub(cluster: str, nodes: list[tuple[str, str, str]], *, arn: str = CLUSTER_ARN) -> Any:
    """A Stubber for DescribeCluster and ListClusterNodes: moto's cluster ARNs end in the name and its
    node IDs are not EC2 instance IDs, where the service uses a 12-character cluster ID and i-... IDs."""
    stubbed, stub = fx.stubbed("sagemaker")
    stub.add_response(
        "describe_cluster",
        {
            "ClusterArn": arn,
            "ClusterName": cluster,
            "ClusterStatus": "InService",
            "InstanceGroups": [],
        },
        {"ClusterName": cluster},
    )
    summaries = [
        {
            "InstanceGroupName": group,
            "InstanceId": instance,
            "InstanceType": "ml.m5.2xlarge",
            "LaunchTime": fx.NOW,
            "InstanceStatus": {"Status": status},
        }
        for group, instance, status in nodes
    ]
    stub.add_response(
        "list_cluster_nodes",
        {"ClusterNodeSummaries": summaries},
        {"ClusterName": cluster, "IncludeNodeLogicalIds": True},
    )
    return {"sagemaker": stubbed}


def test_ssh_group_prints_the_start_session_command_for_a_node(capsys):
    arn = CLUSTER_ARN
    fake = nodes_stub("demo", [("workers", NODE_A, "Running"), ("controller", NODE_B, "Running")])
    assert run(["ssh", "--group", "controller", "--cluster", "demo", "--print"], fake) == 0
    out = capsys.readouterr().out.strip()
    target = f"sagemaker-cluster:{arn.rsplit('/', 1)[-1]}_controller-{NODE_B}"
    assert out == f"aws ssm start-session --target {target} --region {fx.REGION}"


def test_ssh_node_json_and_exec(capsys, monkeypatch: pytest.MonkeyPatch):
    nodes = [("workers", NODE_A, "Running"), ("workers", NODE_B, "Running")]
    assert run(["ssh", NODE_B, "--cluster", "demo", "--json"], nodes_stub("demo", nodes)) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["target"].endswith(f"_workers-{NODE_B}") and out["command"][:3] == ["aws", "ssm", "start-session"]
    calls: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(ssh.shutil, "which", lambda name: "/usr/bin/aws")
    monkeypatch.setattr(ssh.os, "execvp", lambda file, argv: calls.append((file, argv)))
    assert run(["ssh", NODE_B, "--cluster", "demo"], nodes_stub("demo", nodes)) == 0
    assert calls == [("aws", out["command"])]


def test_ssh_errors_are_one_line(capsys):
    nodes = [("workers", NODE_A, "Running")]
    assert run(["ssh", "--cluster", "demo"]) == 2
    assert "name a NODE or pass --group" in capsys.readouterr().err
    assert run(["ssh", "--group", "nope", "--cluster", "demo"], nodes_stub("demo", nodes)) == 1
    assert "no nodes in instance group 'nope' (groups: workers)" in capsys.readouterr().err
    assert run(["ssh", NODE_B, "--cluster", "demo"], nodes_stub("demo", nodes)) == 1
    assert f"{NODE_B} is not a node of this cluster" in capsys.readouterr().err
    moto_arn = f"arn:aws:sagemaker:{fx.REGION}:{fx.ACCOUNT}:cluster/demo"  # not a cluster-ID ARN
    assert run(["ssh", NODE_A, "--cluster", "demo"], nodes_stub("demo", nodes, arn=moto_arn)) == 1
    assert "cannot build the SSM target" in capsys.readouterr().err


def test_pick_node_skips_nodes_that_are_not_running():
    nodes = [
        {"instance_group": "gpu", "instance_id": NODE_A, "status": "Pending", "launch_time": "2026-01-01"},
        {"instance_group": "gpu", "instance_id": NODE_B, "status": "Running", "launch_time": "2026-01-02"},
    ]
    assert ssh.pick_node(nodes, None, "gpu")["instance_id"] == NODE_B
    with pytest.raises(ssh.SshError, match="no Running node in gpu"):
        ssh.pick_node(nodes[:1], None, "gpu")
