"""``hyperpod-cdk nodes update-software``: the UpdateClusterSoftware request, rolling settings, refusals.

moto does not implement UpdateClusterSoftware (NotImplementedError), so SageMaker is a botocore
Stubber: every request is checked against the service model and the expected parameters.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import json
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.cli.main import main

_spec = importlib.util.spec_from_file_location("cli_fixtures_update", Path(__file__).with_name("cli_fixtures.py"))
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)

CLUSTER = "demo"
ARN = f"arn:aws:sagemaker:{fx.REGION}:{fx.ACCOUNT}:cluster/abcdef123456"


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch):
    fx.set_fake_aws_env(monkeypatch)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def described(*, eks: bool = True, name: str = CLUSTER) -> dict[str, Any]:
    groups = [
        {
            "InstanceGroupName": group,
            "InstanceType": itype,
            "CurrentCount": count,
            "TargetCount": count,
            "ExecutionRole": f"arn:aws:iam::{fx.ACCOUNT}:role/exec",
            "ThreadsPerCore": 1,
            "LifeCycleConfig": {"SourceS3Uri": "s3://b/p/", "OnCreate": "on_create.sh"},
            "CurrentImageReleaseVersion": "1.0.0",
        }
        for group, itype, count in (("system", "ml.m5.2xlarge", 1), ("gpu", "ml.g5.8xlarge", 4))
    ]
    response: dict[str, Any] = {
        "ClusterArn": ARN,
        "ClusterName": name,
        "ClusterStatus": "InService",
        "CreationTime": dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        "InstanceGroups": groups,
        "VpcConfig": {"SecurityGroupIds": ["sg-0123456789abcdef0"], "Subnets": ["subnet-0123456789abcdef0"]},
    }
    if eks:
        response["Orchestrator"] = {"Eks": {"ClusterArn": f"arn:aws:eks:{fx.REGION}:{fx.ACCOUNT}:cluster/demo-eks"}}
    return response


def stub(expected_update: dict[str, Any] | None, *, eks: bool = True, name: str = CLUSTER):
    sm, stubber = fx.stubbed("sagemaker")
    stubber.add_response("describe_cluster", described(eks=eks, name=name), {"ClusterName": name})
    if expected_update is not None:
        stubber.add_response("update_cluster_software", {"ClusterArn": ARN}, expected_update)
    return sm, stubber


def run(argv: list[str], sm: Any, stdin: io.StringIO | None = None) -> int:
    return main(argv, clients_factory=fx.factory({"sagemaker": sm}), stdin=stdin or io.StringIO(""))


def test_help_works(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nodes", "update-software", "--help"]) == 0
    assert "UpdateClusterSoftware" in capsys.readouterr().out


def test_rolling_settings_reach_the_request(capsys: pytest.CaptureFixture[str]) -> None:
    sm, stubber = stub(
        {
            "ClusterName": CLUSTER,
            "InstanceGroups": [{"InstanceGroupName": "gpu"}],
            "ImageId": "default",
            "DeploymentConfig": {
                "RollingUpdatePolicy": {
                    "MaximumBatchSize": {"Type": "CAPACITY_PERCENTAGE", "Value": 25},
                    "RollbackMaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 2},
                },
                "WaitIntervalInSeconds": 300,
                "AutoRollbackConfiguration": [{"AlarmName": "gpu-errors"}, {"AlarmName": "loss-spike"}],
            },
        }
    )
    code = run(
        [
            "nodes",
            "update-software",
            CLUSTER,
            "--group",
            "gpu",
            "--image-id",
            "default",
            "--batch-percent",
            "25",
            "--rollback-batch-size",
            "2",
            "--wait-seconds",
            "300",
            "--rollback-alarm",
            "gpu-errors",
            "--rollback-alarm",
            "loss-spike",
            "--yes",
        ],
        sm,
    )
    out = capsys.readouterr().out
    assert code == 0
    stubber.assert_no_pending_responses()
    assert "gpu: 4 x ml.g5.8xlarge (1.0.0)" in out
    assert "rolling: 25 % of each group at a time, 300 s between batches, rolled back if gpu-errors, loss-spike" in out
    assert f"Requested: {ARN}" in out


def test_eks_default_is_one_instance_at_a_time_over_every_group(capsys: pytest.CaptureFixture[str]) -> None:
    sm, stubber = stub(
        {
            "ClusterName": CLUSTER,
            "DeploymentConfig": {"RollingUpdatePolicy": {"MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1}}},
        }
    )
    assert run(["nodes", "update-software", CLUSTER, "--yes", "--json"], sm) == 0
    stubber.assert_no_pending_responses()
    result = json.loads(capsys.readouterr().out)
    assert result["cluster_arn"] == ARN and "InstanceGroups" not in result["request"]


def test_release_version_goes_to_every_group_when_none_is_named() -> None:
    sm, stubber = stub(
        {
            "ClusterName": CLUSTER,
            "InstanceGroups": [
                {"InstanceGroupName": "system", "ImageReleaseVersion": "1.2.3"},
                {"InstanceGroupName": "gpu", "ImageReleaseVersion": "1.2.3"},
            ],
            "DeploymentConfig": {"RollingUpdatePolicy": {"MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 3}}},
        }
    )
    assert (
        run(["nodes", "update-software", CLUSTER, "--image-release-version", "1.2.3", "--batch-size", "3", "-y"], sm)
        == 0
    )
    stubber.assert_no_pending_responses()


def test_slurm_cluster_takes_no_rolling_settings(capsys: pytest.CaptureFixture[str]) -> None:
    sm, stubber = stub(None, eks=False)
    assert run(["nodes", "update-software", CLUSTER, "--wait-seconds", "0", "--yes"], sm) == 2
    assert "--wait-seconds: rolling batches, waits and rollback alarms exist only for EKS" in capsys.readouterr().err
    stubber.assert_no_pending_responses()  # UpdateClusterSoftware was never called
    sm, stubber = stub({"ClusterName": CLUSTER}, eks=False)
    assert run(["nodes", "update-software", CLUSTER, "--yes"], sm) == 0
    assert "all instances of each group together" in capsys.readouterr().out


def test_unknown_group_suggests_the_closest(capsys: pytest.CaptureFixture[str]) -> None:
    sm, _ = stub(None)
    assert run(["nodes", "update-software", CLUSTER, "--group", "gpus", "--yes"], sm) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: --group: cluster {CLUSTER} has no instance group 'gpus'; did you mean 'gpu'?"
    )


def test_confirmation(capsys: pytest.CaptureFixture[str]) -> None:
    sm, stubber = stub(None)
    assert run(["nodes", "update-software", CLUSTER], sm) == 2  # no terminal, no --yes
    assert "pass --yes to confirm" in capsys.readouterr().err
    sm, stubber = stub(None)
    assert run(["nodes", "update-software", CLUSTER], sm, stdin=_Tty("no\n")) == 1
    err = capsys.readouterr().err
    assert "Type 'yes'" in err and "cancelled; did not update the software of demo" in err
    sm, stubber = stub(
        {
            "ClusterName": CLUSTER,
            "DeploymentConfig": {"RollingUpdatePolicy": {"MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1}}},
        }
    )
    assert run(["nodes", "update-software", CLUSTER], sm, stdin=_Tty("yes\n")) == 0
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    "argv",
    [
        ["--batch-size", "0"],
        ["--batch-percent", "101"],
        ["--wait-seconds", "3601"],
        ["--image-id", "ami-12"],
        ["--image-release-version", "latest"],
        ["--batch-size", "1", "--batch-percent", "5"],
        ["--group", "bad_name"],
    ],
)
def test_bad_arguments_are_one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nodes", "update-software", CLUSTER, *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: hyperpod-cdk nodes update-software: ")


def test_cluster_and_region_come_from_the_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = fx.write_config(tmp_path, lambda d: d["hyperpod"].__setitem__("cluster_name", "from-config"))
    seen: list[str | None] = []
    sm, stubber = stub(
        {
            "ClusterName": "from-config",
            "DeploymentConfig": {"RollingUpdatePolicy": {"MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1}}},
        },
        name="from-config",
    )

    def factory(region: str | None):
        seen.append(region)
        return fx.clients({"sagemaker": sm})

    assert main(["nodes", "update-software", "--config", str(config), "--yes"], clients_factory=factory) == 0
    assert seen == ["us-west-2"]
    stubber.assert_no_pending_responses()
