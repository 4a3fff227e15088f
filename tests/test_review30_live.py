"""R30T-M1: ``lint --live`` on a definition whose existing EKS cluster is not ACTIVE yet: DescribeCluster has no
endpoint or certificate authority data until then ("The API server endpoint and certificate authority data
aren't available until the cluster reaches the ACTIVE state",
https://docs.aws.amazon.com/eks/latest/APIReference/API_DescribeCluster.html), and the Helm release read raised
``KeyError: 'endpoint'``: a traceback, exit 1, no report. It is a not-checked line now, and any answer of
another shape in a live step is that step's not-checked line."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from hyperpod_cdk.cli.main import main

ARN = "arn:aws:eks:us-west-2:111122223333:cluster/new-eks"
ROLE = "arn:aws:iam::111122223333:role/r"


def _template(tmp_path: Path) -> Path:
    group = {"InstanceGroupName": "g", "InstanceType": "ml.g5.8xlarge", "InstanceCount": 1, "ExecutionRole": ROLE}
    cluster = {
        "ClusterName": "a",
        "NodeRecovery": "Automatic",
        "Orchestrator": {"Eks": {"ClusterArn": ARN}},
        "VpcConfig": {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]},
        "InstanceGroups": [group],
    }
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"Resources": {"HP": {"Type": "AWS::SageMaker::Cluster", "Properties": cluster}}}))
    return path


class _Denied:
    def __getattr__(self, operation: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, operation)

        return call


class _Aws:
    """EKS answers for a cluster being created; every other service denies."""

    session = None
    region = "us-west-2"

    def __init__(self, cluster: dict[str, Any]) -> None:
        self.cluster = cluster

    def __call__(self, service: str, region: str | None = None) -> Any:
        return self if service == "eks" else _Denied()

    def describe_cluster(self, name: str) -> dict[str, Any]:
        return {"cluster": {"name": name, "arn": ARN, **self.cluster}}

    def list_addons(self, clusterName: str) -> dict[str, Any]:  # noqa: N803 - boto3's keyword
        return {"addons": []}


def _lint(tmp_path: Path, cluster: dict[str, Any]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(
            ["lint", str(_template(tmp_path)), "--live", "--region", "us-west-2"],
            clients_factory=lambda r: _Aws(cluster),
        )
    return code, out.getvalue()


def test_a_cluster_being_created_is_a_not_checked_line(tmp_path: Path) -> None:
    creating = {"status": "CREATING", "version": "1.33", "accessConfig": {"authenticationMode": "API"}}
    code, said = _lint(tmp_path, {**creating, "certificateAuthority": {}})
    assert code == 0, said
    assert "EKS cluster new-eks" in said and "it is CREATING and has no API endpoint yet" in said


@pytest.mark.parametrize("ca", ["not-a-map", {"data": 5}], ids=["CA not a map", "CA data not text"])
def test_an_answer_of_another_shape_is_that_steps_not_checked_line(tmp_path: Path, ca: Any) -> None:
    active = {"status": "ACTIVE", "version": "1.33", "endpoint": "https://127.0.0.1:1", "certificateAuthority": ca}
    code, said = _lint(tmp_path, active)
    assert code in (0, 1) and "Traceback" not in said, said
    assert "--live could not read Helm release" in said, said
