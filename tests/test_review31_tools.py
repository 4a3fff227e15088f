"""Round 31, tools half: R31T-H1 (``lint --live`` was silent on an https:// lifecycle URI), R31T-M2 (the EKS
commands stopped with ``KeyError: 'endpoint'`` on a cluster not ACTIVE), R31T-L1 (the namespace row passed
another stack's label)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from hyperpod_cdk.cli import lint_live
from hyperpod_cdk.rules.inputs import load


class _S3:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def head_object(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        raise ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "HeadObject")


class _Sts:
    def get_caller_identity(self) -> dict[str, str]:
        return {"Account": "111111111111"}


@pytest.mark.parametrize(
    ("uri", "looked_up"),
    [("s3://my-bucket/lcs", 1), ("https://my-bucket.s3.us-west-2.amazonaws.com/lcs", 0)],
    ids=["s3", "https"],
)
def test_an_https_lifecycle_uri_is_a_not_checked_line(tmp_path: Path, uri: str, looked_up: int) -> None:
    group = {
        "InstanceGroupName": "g",
        "InstanceType": "ml.g5.8xlarge",
        "InstanceCount": 1,
        "ExecutionRole": "arn:aws:iam::111111111111:role/x",
        "LifeCycleConfig": {"SourceS3Uri": uri, "OnCreate": "on_create.sh"},
    }
    request = {"ClusterName": "hp", "InstanceGroups": [group, {**group, "InstanceGroupName": "h"}]}
    path = tmp_path / "create.json"
    path.write_text(json.dumps(request))
    lint_input = load(str(path))
    s3 = _S3()
    lint_live._lifecycle_scripts(lint_input, lambda service: {"s3": s3, "sts": _Sts()}[service])
    assert len(s3.calls) == looked_up
    lines = [why for _, what, why in lint_input.unresolved if what == "live/lifecycle scripts"]
    assert lines == ([] if looked_up else [lines[0]]) and (
        looked_up or "looks up s3:// lifecycle URIs only" in lines[0]
    )


def test_each_nested_templates_conditions_are_walked_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """R31T-M1: the literals a nested template's conditions compare were found once per passed parameter (each a
    walk of all its conditions): 4 templates x 200 parameters x 12,000 conditions took 86 s. Once per template."""
    import importlib.util

    from hyperpod_cdk.rules import deploy_worlds
    from hyperpod_cdk.rules.catalog import check_files

    spec = importlib.util.spec_from_file_location("r23_m1", Path(__file__).with_name("test_review23_nested_plugin.py"))
    assert spec is not None and spec.loader is not None
    r23 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(r23)
    names = [f"S.N{i}.nested.template.json" for i in range(3)]
    params = 50
    child = {
        "Parameters": {f"P{k}": {"Type": "String"} for k in range(params)},
        "Conditions": {f"C{j}": {"Fn::Equals": [{"Ref": f"P{j % params}"}, f"v{j}"]} for j in range(200)},
        "Resources": {"T": {"Type": "AWS::SNS::Topic", "Condition": "C0"}},
    }
    stacks = {
        f"N{i}": {
            "Type": "AWS::CloudFormation::Stack",
            "Properties": {
                "TemplateURL": "https://x/y.json",
                "Parameters": {f"P{k}": {"Ref": f"E{k}"} for k in range(params)},
            },
            "Metadata": {"aws:asset:path": name},
        }
        for i, name in enumerate(names)
    }
    parent = {"Parameters": {f"E{k}": {"Type": "String"} for k in range(params)}, "Resources": stacks}
    folder = tmp_path / "out"
    folder.mkdir()
    for name in names:
        (folder / name).write_text(json.dumps(child))
    out = r23._cdk_out(folder, names, parent_template=parent)
    walked: list[int] = []
    original = deploy_worlds.direct_literals
    monkeypatch.setattr(deploy_worlds, "direct_literals", lambda t: walked.append(1) or original(t))
    check_files([out], kinds=["deploy"])
    assert len(walked) == len(names)


def _access_fixtures() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("acc_r31", Path(__file__).with_name("test_cli_access.py"))
    assert spec is not None and spec.loader is not None
    acc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(acc)
    return acc


@pytest.mark.parametrize(
    "command",
    [["kubeconfig", "--no-tunnel"], ["verify"], ["jobs", "status", "job-a"]],
    ids=["kubeconfig", "verify", "jobs status"],
)
def test_an_eks_cluster_without_an_endpoint_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """R31T-M2: DescribeCluster has no endpoint or CA until the cluster is ACTIVE; the commands that reach the
    Kubernetes API stopped with ``KeyError: 'endpoint'``."""
    from hyperpod_cdk.cli.main import main

    acc = _access_fixtures()
    fx = acc.fx
    fx.set_fake_aws_env(monkeypatch)
    sm, sm_stub = fx.stubbed("sagemaker")
    described = {
        "ClusterArn": f"arn:aws:sagemaker:{fx.REGION}:{fx.ACCOUNT}:cluster/abcdef123456",
        "ClusterName": acc.CLUSTER,
        "ClusterStatus": "InService",
        "InstanceGroups": [],
        "Orchestrator": {"Eks": {"ClusterArn": acc.EKS_ARN}},
    }
    sm_stub.add_response("describe_cluster", described, {"ClusterName": acc.CLUSTER})
    eks, eks_stub = fx.stubbed("eks")
    vpc = {"endpointPublicAccess": True, "endpointPrivateAccess": True, "vpcId": acc.VPC}
    creating = {"name": acc.EKS, "arn": acc.EKS_ARN, "status": "CREATING", "resourcesVpcConfig": vpc}
    eks_stub.add_response("describe_cluster", {"cluster": creating}, {"name": acc.EKS})
    extra = ["--kubeconfig", str(tmp_path / "kc")] if command[0] == "kubeconfig" else []
    args = [*command[:-1], acc.CLUSTER, *command[-1:]] if command[0] == "kubeconfig" else [*command, acc.CLUSTER]
    if command[0] == "jobs":
        args = [*command, "--cluster", acc.CLUSTER]
    code = main([*args, *extra], clients_factory=fx.factory({"sagemaker": sm, "eks": eks}))
    err = capsys.readouterr().err
    assert code == 1 and "is CREATING: it has no API endpoint yet" in err and "Traceback" not in err, err


def test_an_eks_arn_built_at_deploy_is_a_not_checked_line(tmp_path: Path) -> None:
    """R33T-L5: the existing-vpc-and-eks example names its EKS cluster by an ARN joined with AWS::AccountId; --live
    read no EKS cluster and said nothing. It is a not-checked line; a GetAtt of a created cluster is not."""
    joined = {"Fn::Join": ["", ["arn:aws:eks:us-west-2:", {"Ref": "AWS::AccountId"}, ":cluster/team-eks"]]}
    template = {
        "Resources": {
            "HP": {"Type": "AWS::SageMaker::Cluster", "Properties": {"Orchestrator": {"Eks": {"ClusterArn": joined}}}},
            "Eks": {"Type": "AWS::EKS::Cluster", "Properties": {"Name": "made"}},
            "HP2": {
                "Type": "AWS::SageMaker::Cluster",
                "Properties": {"Orchestrator": {"Eks": {"ClusterArn": {"Fn::GetAtt": ["Eks", "Arn"]}}}},
            },
        }
    }
    path = tmp_path / "t.json"
    path.write_text(json.dumps(template))
    lint_input = load(str(path))
    lint_live._eks(lint_live._Scope.whole(lint_input), lambda service: None, {})
    lines = [why for _, what, why in lint_input.unresolved if what == "live/EKS cluster"]
    assert len(lines) == 1 and "EKS cluster of HP:" in lines[0] and "not a literal" in lines[0], lines
