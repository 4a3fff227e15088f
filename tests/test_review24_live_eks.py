"""Review round 24 (tools): `lint --live` and HELM1 match each HyperPod cluster with its own EKS cluster.

R24T-H2: an EKS cluster created by one stack of a region made `--live` skip every existing EKS cluster there, a
HyperPod chart anywhere skipped every Helm release read, and a chart for another EKS cluster satisfied HELM1.
R24T-L2: a cluster whose EKS ARN is not literal was charged another EKS cluster's missing release.
R24T-L3: a malformed Kubernetes API answer was an AttributeError traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from hyperpod_cdk.cli import lint_live
from hyperpod_cdk.cli.main import main

ACCOUNT = "111122223333"
REGION = "us-west-2"
OLD_ARN = f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/old-eks"


def _hyperpod(name: str, arn: Any, depends: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Type": "AWS::SageMaker::Cluster",
        "Properties": {
            "ClusterName": name,
            "NodeRecovery": "Automatic",
            "Orchestrator": {"Eks": {"ClusterArn": arn}},
            "VpcConfig": {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]},
            "InstanceGroups": [
                {
                    "InstanceGroupName": "gpu",
                    "InstanceType": "ml.g5.8xlarge",
                    "InstanceCount": 1,
                    "ExecutionRole": f"arn:aws:iam::{ACCOUNT}:role/r",
                    "LifeCycleConfig": {"SourceS3Uri": "s3://b/p/", "OnCreate": "on_create.sh"},
                }
            ],
        },
    }
    if depends:
        body["DependsOn"] = depends
    return body


def _chart(cluster_name: Any) -> dict[str, Any]:
    token = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f"
    return {
        "Type": "Custom::HyperPodHelmDependencies",
        "Properties": {"ServiceToken": token, "ClusterName": cluster_name},
    }


def _stack_new_eks() -> dict[str, Any]:
    """Creates EKS cluster new-eks, installs the chart on it, and a HyperPod cluster on it after the chart."""
    return {
        "Resources": {
            "Eks": {
                "Type": "AWS::EKS::Cluster",
                "Properties": {
                    "Name": "new-eks",
                    "Version": "1.35",
                    "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/eks",
                    "ResourcesVpcConfig": {"SubnetIds": ["subnet-1"]},
                    "AccessConfig": {"AuthenticationMode": "API"},
                },
            },
            "Chart": _chart({"Ref": "Eks"}),
            "HP": _hyperpod("a", {"Fn::GetAtt": ["Eks", "Arn"]}, ["Chart"]),
        }
    }


def _stack_old_eks() -> dict[str, Any]:
    return {"Resources": {"HP": _hyperpod("b", OLD_ARN)}}


def _cdk_out(root: Path, stacks: dict[str, dict[str, Any]], deps: dict[str, list[str]] | None = None) -> Path:
    root.mkdir(parents=True)
    artifacts: dict[str, Any] = {}
    for name, template in stacks.items():
        (root / f"{name}.template.json").write_text(json.dumps(template))
        artifacts[name] = {
            "type": "aws:cloudformation:stack",
            "environment": f"aws://{ACCOUNT}/{REGION}",
            "properties": {"templateFile": f"{name}.template.json"},
        }
        if deps and name in deps:
            artifacts[name]["dependencies"] = deps[name]
    (root / "manifest.json").write_text(json.dumps({"version": "36.0.0", "artifacts": artifacts}))
    return root


class _Denied:
    def __getattr__(self, operation: str) -> Any:
        def call(*_a: Any, **_k: Any) -> Any:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, operation)

        return call


class _Aws:
    """EKS answers: old-eks runs ``version`` with ``mode``; every other service is denied."""

    session = None

    def __init__(self, region: str | None, version: str, mode: str) -> None:
        self.region, self.version, self.mode = region, version, mode
        self.described: list[str] = []

    def __call__(self, service: str) -> Any:
        return self if service == "eks" else _Denied()

    def describe_cluster(self, name: str) -> dict[str, Any]:
        self.described.append(name)
        return {
            "cluster": {
                "name": name,
                "version": self.version,
                "accessConfig": {"authenticationMode": self.mode},
                "resourcesVpcConfig": {"endpointPrivateAccess": True, "endpointPublicAccess": False},
                "endpoint": "https://x",
                "certificateAuthority": {"data": "x"},
            }
        }

    def list_addons(self, clusterName: str) -> dict[str, Any]:  # noqa: N803 (boto3's name)
        return {"addons": []}


def _lint(
    monkeypatch: pytest.MonkeyPatch,
    path: Path,
    *,
    answer: Any = None,
    version: str = "1.35",
    mode: str = "API",
) -> tuple[int, list[dict[str, Any]], list[str], list[str]]:
    """Run `lint <cdk.out> --live --json` with fake AWS and Kubernetes: (exit, findings, EKS clusters described,
    EKS clusters whose Helm Secrets were listed)."""
    aws: list[_Aws] = []
    listed: list[str] = []

    class Kube:
        def __init__(self, name: str) -> None:
            self.name = name

        def get(self, _path: str, **_query: Any) -> Any:
            listed.append(self.name)
            return {"items": []} if answer is None else answer

    monkeypatch.setattr(lint_live, "_default_kube", lambda _clients: lambda name, _cluster: Kube(name))

    def factory(region: str | None) -> _Aws:
        aws.append(_Aws(region, version, mode))
        return aws[-1]

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(["lint", str(path), "--live", "--json"], clients_factory=factory)
    described = [name for a in aws for name in a.described]
    return code, json.loads(out.getvalue())["findings"], described, listed


def _rows(findings: list[dict[str, Any]], rule: str) -> list[tuple[str, str, str]]:
    return [(Path(f["file"]).name, f["severity"], f["message"]) for f in findings if f["rule_id"] == rule]


@pytest.mark.parametrize("deps", [None, {"B": ["A"]}], ids=["no-dependency", "B-depends-on-A"])
def test_existing_eks_cluster_is_read_beside_a_stack_creating_its_own(tmp_path, monkeypatch, deps):
    path = _cdk_out(tmp_path / "ab", {"A": _stack_new_eks(), "B": _stack_old_eks()}, deps)
    code, findings, described, _ = _lint(monkeypatch, path, version="1.30", mode="CONFIG_MAP")
    assert described == ["old-eks"]  # new-eks is created by A: nothing to read
    assert code == 1
    assert [(f, s) for f, s, _ in _rows(findings, "HyperPod-EKS4")] == [("B.template.json", "error")]
    assert [(f, s) for f, s, _ in _rows(findings, "HyperPod-K8S1")] == [("B.template.json", "error")]


@pytest.mark.parametrize("deps", [None, {"B": ["A"]}], ids=["no-dependency", "B-depends-on-A"])
def test_chart_for_another_eks_cluster_does_not_satisfy_helm1(tmp_path, monkeypatch, deps):
    path = _cdk_out(tmp_path / "ab", {"A": _stack_new_eks(), "B": _stack_old_eks()}, deps)
    code, findings, _, listed = _lint(monkeypatch, path)
    assert listed == ["old-eks"]
    assert code == 1
    helm = _rows(findings, "HyperPod-HELM1")
    assert [(f, s) for f, s, _ in helm] == [("B.template.json", "error")]
    assert "not installed on EKS cluster old-eks" in helm[0][2]


def test_chart_for_the_same_existing_eks_cluster_in_another_stack_counts(tmp_path, monkeypatch):
    chart_stack = {"Resources": {"Chart": _chart("old-eks")}}
    # B deploys after the stack installing the chart on old-eks: HELM1 passes, and the release is not read.
    path = _cdk_out(tmp_path / "cb", {"C": chart_stack, "B": _stack_old_eks()}, {"B": ["C"]})
    code, findings, described, listed = _lint(monkeypatch, path)
    assert described == ["old-eks"] and listed == []
    assert _rows(findings, "HyperPod-HELM1") == [] and code == 0
    # Without the stack dependency: the documented not-checked line naming the chart's stack.
    path = _cdk_out(tmp_path / "cb2", {"C": chart_stack, "B": _stack_old_eks()})
    helm = _rows(_lint(monkeypatch, path)[1], "HyperPod-HELM1")
    assert [(f, s) for f, s, _ in helm] == [("B.template.json", "not-checked")]
    assert "C.template.json" in helm[0][2]


def test_chart_of_unknown_eks_cluster_keeps_the_stack_dependency_check(tmp_path, monkeypatch):
    chart_stack = {"Parameters": {"Eks": {"Type": "String"}}, "Resources": {"Chart": _chart({"Ref": "Eks"})}}
    path = _cdk_out(tmp_path / "cb", {"C": chart_stack, "B": _stack_old_eks()})
    code, findings, _, listed = _lint(monkeypatch, path)
    helm = _rows(findings, "HyperPod-HELM1")
    # Which EKS cluster the chart is for is not known: it may be old-eks's (read anyway), never a false error.
    assert listed == ["old-eks"]
    assert [(f, s) for f, s, _ in helm] == [("B.template.json", "not-checked")] and code == 0


def test_same_template_chart_for_another_eks_cluster_is_not_the_clusters(tmp_path, monkeypatch):
    template = _stack_new_eks()
    template["Resources"]["HPOld"] = _hyperpod("b", OLD_ARN, ["Chart"])  # depends on new-eks's chart
    code, findings, described, listed = _lint(monkeypatch, _cdk_out(tmp_path / "one", {"A": template}))
    assert described == ["old-eks"] and listed == ["old-eks"]
    helm = _rows(findings, "HyperPod-HELM1")
    assert [(f, s) for f, s, _ in helm] == [("A.template.json", "error")] and code == 1
    assert "old-eks" in helm[0][2]


def test_non_literal_eks_arn_is_not_charged_another_clusters_release(tmp_path, monkeypatch):
    imported = {"Resources": {"HP": _hyperpod("c", {"Fn::ImportValue": "shared-eks-arn"})}}
    path = _cdk_out(tmp_path / "bc", {"B": _stack_old_eks(), "C": imported})
    code, findings, _, _ = _lint(monkeypatch, path)
    helm = _rows(findings, "HyperPod-HELM1")
    assert ("B.template.json", "error") in [(f, s) for f, s, _ in helm]
    c_rows = [(s, m) for f, s, m in helm if f == "C.template.json"]
    assert [s for s, _ in c_rows] == ["not-checked"]
    assert "old-eks" not in c_rows[0][1] and "literal ARN" in c_rows[0][1]


@pytest.mark.parametrize(
    "answer",
    [{"items": ["x"]}, {"items": [{"metadata": None}]}, ["x"], {"items": {"a": 1}}, {"items": [{"metadata": []}]}],
)
def test_malformed_secret_list_is_not_checked(tmp_path, monkeypatch, answer):
    path = _cdk_out(tmp_path / "b", {"B": _stack_old_eks()})
    code, findings, _, listed = _lint(monkeypatch, path, answer=answer)
    assert listed == ["old-eks"] and code == 0
    assert _rows(findings, "HyperPod-HELM1") == []
    lines = [f["message"] for f in findings if f["rule_id"] == "unresolved" and "Helm release" in f["message"]]
    assert len(lines) == 1 and "not a Secret list" in lines[0]


def test_deployed_release_is_read_from_well_formed_answers(tmp_path, monkeypatch):
    path = _cdk_out(tmp_path / "b", {"B": _stack_old_eks()})
    deployed = {
        "items": [{"metadata": {"labels": {"status": "superseded"}}}, {"metadata": {"labels": {"status": "deployed"}}}]
    }
    code, findings, _, _ = _lint(monkeypatch, path, answer=deployed)
    assert _rows(findings, "HyperPod-HELM1") == [] and code == 0
    code, findings, _, _ = _lint(monkeypatch, path, answer={"items": [{"metadata": {}}]})
    assert [s for _, s, _ in _rows(findings, "HyperPod-HELM1")] == ["error"] and code == 1
