"""``hyperpod-cdk nodes``: list (moto), describe/reboot/replace (Stubber: moto lacks the batch APIs),
confirmation, per-node failures and the delete fallback."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from hyperpod_cdk.cli.main import main

_spec = importlib.util.spec_from_file_location("cli_fixtures_nodes", Path(__file__).with_name("cli_fixtures.py"))
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)

CLUSTER = "demo"
NODE_A = "i-0123456789abcdef0"
NODE_B = "i-0fedcba9876543210"


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch):
    fx.set_fake_aws_env(monkeypatch)
    with mock_aws():
        yield


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class _WithoutMethod:
    """A client as an older botocore builds it: one operation missing."""

    def __init__(self, client: Any, missing: str) -> None:
        self._client, self._missing = client, missing

    def __getattr__(self, name: str) -> Any:
        if name == self._missing:
            raise AttributeError(name)
        return getattr(self._client, name)


def moto_cluster() -> None:
    fx.session().client("sagemaker").create_cluster(
        ClusterName=CLUSTER,
        InstanceGroups=[
            {
                "InstanceGroupName": group,
                "InstanceType": "ml.g5.8xlarge" if group == "gpu" else "ml.m5.2xlarge",
                "InstanceCount": 2 if group == "gpu" else 1,
                "ThreadsPerCore": 1,
                "LifeCycleConfig": {"SourceS3Uri": "s3://sagemaker-lifecycle/scripts/", "OnCreate": "on_create.sh"},
                "ExecutionRole": f"arn:aws:iam::{fx.ACCOUNT}:role/hp-exec",
            }
            for group in ("system", "gpu")
        ],
    )


def batch_stub(method: str, *responses: tuple[dict, dict]) -> tuple[Any, Any]:
    sm, stub = fx.stubbed("sagemaker")
    for response, expected in responses:
        stub.add_response(method, response, expected)
    return sm, stub


def run(argv: list[str], overrides: dict | None = None, stdin: io.StringIO | None = None) -> int:
    return main(argv, clients_factory=fx.factory(overrides), stdin=stdin if stdin is not None else io.StringIO(""))


# ----------------------------------------------------------------------------- list / describe


def test_list_shows_every_node_and_json_parses(capsys):
    moto_cluster()
    assert run(["nodes", "list", CLUSTER]) == 0
    out = capsys.readouterr().out
    assert "system-0" in out and "gpu-0" in out and "gpu-1" in out and "3 node(s)" in out
    assert run(["nodes", "list", CLUSTER, "--json"]) == 0
    nodes = json.loads(capsys.readouterr().out)
    assert sorted(n["instance_id"] for n in nodes) == ["gpu-0", "gpu-1", "system-0"]
    assert {n["status"] for n in nodes} == {"Running"}
    assert all(n["launch_time"] for n in nodes)  # datetimes serialised


def test_list_unknown_cluster_is_an_error_line(capsys):
    code = run(["nodes", "list", "nope"])
    assert code == 1
    assert capsys.readouterr().err.startswith(f"error: HyperPod cluster 'nope' not found in {fx.REGION}")


def test_describe_by_instance_and_logical_id(capsys):
    sm, stub = fx.stubbed("sagemaker")
    details = {
        "InstanceGroupName": "gpu",
        "InstanceId": NODE_A,
        "InstanceType": "ml.g5.8xlarge",
        "InstanceStatus": {"Status": "Running"},
        "LaunchTime": fx.NOW,
        "Placement": {"AvailabilityZone": "us-west-2a", "AvailabilityZoneId": "usw2-az2"},
    }
    stub.add_response("describe_cluster_node", {"NodeDetails": details}, {"ClusterName": CLUSTER, "NodeId": NODE_A})
    stub.add_client_error(
        "describe_cluster_node",
        "ResourceNotFound",
        "Node not found",
        404,
        expected_params={"ClusterName": CLUSTER, "NodeLogicalId": "gpu-node-7"},
    )
    code = run(["nodes", "describe", CLUSTER, NODE_A, "gpu-node-7", "--json"], {"sagemaker": sm})
    captured = capsys.readouterr()
    assert code == 1  # one node was not found
    report = json.loads(captured.out)
    assert report["nodes"][0]["Placement"]["AvailabilityZoneId"] == "usw2-az2"
    assert report["errors"] == [f"gpu-node-7: not found in cluster {CLUSTER}"]
    assert captured.err == ""  # with --json the errors are in the document only
    stub.assert_no_pending_responses()


# ----------------------------------------------------------------------------- reboot / replace


def test_reboot_with_yes_reports_per_node_failures_and_exits_1(capsys):
    sm, stub = batch_stub(
        "batch_reboot_cluster_nodes",
        (
            {
                "Successful": [NODE_A],
                "Failed": [{"NodeId": NODE_B, "ErrorCode": "InvalidInstanceStatus", "Message": "node is Pending"}],
            },
            {"ClusterName": CLUSTER, "NodeIds": [NODE_A, NODE_B]},
        ),
    )
    code = run(["nodes", "reboot", CLUSTER, NODE_A, NODE_B, "--yes"], {"sagemaker": sm})
    out = capsys.readouterr().out
    assert code == 1
    assert "FAILED" in out and "InvalidInstanceStatus" in out and "node is Pending" in out
    assert "1 requested, 1 failed" in out
    stub.assert_no_pending_responses()


def test_reboot_all_successful_json_exit_0(capsys):
    sm, stub = batch_stub(
        "batch_reboot_cluster_nodes",
        (
            {"Successful": [NODE_A]},
            {"ClusterName": CLUSTER, "NodeIds": [NODE_A]},
        ),
    )
    assert run(["nodes", "reboot", CLUSTER, NODE_A, "-y", "--json"], {"sagemaker": sm}) == 0
    result = json.loads(capsys.readouterr().out)
    assert result == {
        "action": "reboot",
        "cluster": CLUSTER,
        "results": [{"node": NODE_A, "ok": True, "error_code": "", "message": ""}],
    }


def test_replace_by_logical_ids_uses_node_logical_ids(capsys):
    sm, stub = batch_stub(
        "batch_replace_cluster_nodes",
        (
            {
                "SuccessfulNodeLogicalIds": ["gpu-node-1"],
                "FailedNodeLogicalIds": [
                    {"NodeLogicalId": "gpu-node-2", "ErrorCode": "InstanceIdNotFound", "Message": "no such node"}
                ],
            },
            {"ClusterName": CLUSTER, "NodeLogicalIds": ["gpu-node-1", "gpu-node-2"]},
        ),
    )
    code = run(["nodes", "replace", CLUSTER, "gpu-node-1", "gpu-node-2", "--yes", "--json"], {"sagemaker": sm})
    results = {r["node"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    assert code == 1
    assert results["gpu-node-1"]["ok"] is True
    assert results["gpu-node-2"] == {
        "node": "gpu-node-2",
        "ok": False,
        "error_code": "InstanceIdNotFound",
        "message": "no such node",
    }


def test_more_than_25_nodes_are_sent_in_chunks(capsys):
    ids = [f"i-{index:017x}" for index in range(30)]
    sm, stub = batch_stub(
        "batch_reboot_cluster_nodes",
        ({"Successful": ids[:25]}, {"ClusterName": CLUSTER, "NodeIds": ids[:25]}),
        ({"Successful": ids[25:]}, {"ClusterName": CLUSTER, "NodeIds": ids[25:]}),
    )
    assert run(["nodes", "reboot", CLUSTER, *ids, "--yes", "--json"], {"sagemaker": sm}) == 0
    assert all(r["ok"] for r in json.loads(capsys.readouterr().out)["results"])
    stub.assert_no_pending_responses()


def test_whole_call_denied_marks_every_node_failed(capsys):
    sm, stub = fx.stubbed("sagemaker")
    fx.deny(stub, "batch_replace_cluster_nodes")
    code = run(["nodes", "replace", CLUSTER, NODE_A, NODE_B, "--yes", "--json"], {"sagemaker": sm})
    results = json.loads(capsys.readouterr().out)["results"]
    assert code == 1
    assert [r["error_code"] for r in results] == ["AccessDeniedException", "AccessDeniedException"]


def test_node_missing_from_response_is_unknown_and_not_a_success(capsys):
    sm, _ = batch_stub(
        "batch_reboot_cluster_nodes",
        (
            {"Successful": [NODE_A]},
            {"ClusterName": CLUSTER, "NodeIds": [NODE_A, NODE_B]},
        ),
    )
    assert run(["nodes", "reboot", CLUSTER, NODE_A, NODE_B, "--yes", "--json"], {"sagemaker": sm}) == 1
    results = json.loads(capsys.readouterr().out)["results"]
    assert results[1] == {"node": NODE_B, "ok": None, "error_code": "", "message": "not reported in the response"}


# ----------------------------------------------------------------------------- confirmation


@pytest.mark.parametrize("action", ["reboot", "replace"])
def test_destructive_actions_refuse_without_tty_or_yes(action: str, capsys):
    sm, stub = fx.stubbed("sagemaker")  # nothing queued: any API call would raise
    code = run(["nodes", action, CLUSTER, NODE_A], {"sagemaker": sm}, stdin=io.StringIO("yes\n"))
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == (
        f"error: refusing to {action} 1 node(s) of {CLUSTER} without confirmation: stdin is not a terminal; "
        "pass --yes to confirm"
    )


def test_tty_confirmation_yes_proceeds_and_no_cancels(capsys):
    sm, stub = batch_stub(
        "batch_replace_cluster_nodes",
        (
            {"Successful": [NODE_A]},
            {"ClusterName": CLUSTER, "NodeIds": [NODE_A]},
        ),
    )
    assert run(["nodes", "replace", CLUSTER, NODE_A], {"sagemaker": sm}, stdin=_Tty("yes\n")) == 0
    err = capsys.readouterr().err
    assert "ALL data on their root and secondary volumes is lost" in err and "Type 'yes'" in err
    stub.assert_no_pending_responses()
    assert run(["nodes", "replace", CLUSTER, NODE_A], {"sagemaker": sm}, stdin=_Tty("n\n")) == 1
    assert "replace cancelled; nothing was changed" in capsys.readouterr().err


# ----------------------------------------------------------------------------- older botocore


def test_replace_without_the_api_refuses_unless_delete_fallback_is_asked(capsys):
    sm, stub = fx.stubbed("sagemaker")
    old = _WithoutMethod(sm, "batch_replace_cluster_nodes")
    assert run(["nodes", "replace", CLUSTER, NODE_A, "--yes"], {"sagemaker": old}) == 2
    err = capsys.readouterr().err
    assert "has no BatchReplaceClusterNodes" in err and "--allow-delete-fallback" in err

    stub.add_response(
        "batch_delete_cluster_nodes",
        {"Failed": [{"NodeId": NODE_A, "Code": "NodeIdInUse", "Message": "busy"}]},
        {"ClusterName": CLUSTER, "NodeIds": [NODE_A]},
    )
    code = run(["nodes", "replace", CLUSTER, NODE_A, "--yes", "--allow-delete-fallback", "--json"], {"sagemaker": old})
    captured = capsys.readouterr()
    assert code == 1
    assert "falling back to BatchDeleteClusterNodes" in captured.err and "DELETED, not replaced" in captured.err
    result = json.loads(captured.out)
    assert result["action"] == "delete"
    assert result["results"][0]["error_code"] == "NodeIdInUse"


def test_reboot_without_the_api_has_no_fallback(capsys):
    sm, _ = fx.stubbed("sagemaker")
    assert (
        run(
            ["nodes", "reboot", CLUSTER, NODE_A, "--yes"],
            {"sagemaker": _WithoutMethod(sm, "batch_reboot_cluster_nodes")},
        )
        == 2
    )
    assert "has no BatchRebootClusterNodes" in capsys.readouterr().err


# ----------------------------------------------------------------------------- arguments and setup


@pytest.mark.parametrize(
    "argv",
    [
        ["nodes"],
        ["nodes", "reboot", CLUSTER],
        ["nodes", "reboot", CLUSTER, "not_a_node!"],
        ["nodes", "list", "bad name"],
        ["nodes", "list", CLUSTER, "--region", "west"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys):
    assert run(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "error:" in err


def test_no_region_exit_2(monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert main(["nodes", "list", CLUSTER]) == 2  # the real clients factory
    assert capsys.readouterr().err.strip() == (
        "error: no AWS region configured: pass --region or set AWS_REGION (or a region in your AWS profile)"
    )
