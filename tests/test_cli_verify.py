"""``hyperpod-cdk verify [--smoke]`` against a fake HTTPS Kubernetes API (reached as through the SSM
tunnel: 127.0.0.1 with the private endpoint's host name) and botocore Stubbers for SageMaker and EKS."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.cli import verify
from hyperpod_cdk.cli.main import main

_here = Path(__file__)


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"{name}_verify", _here.with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fx = _load("cli_fixtures")
fk = _load("fake_kube")

CLUSTER = "hyperpod-demo"
EKS = "hyperpod-demo-eks"
EKS_ARN = f"arn:aws:eks:{fx.REGION}:{fx.ACCOUNT}:cluster/{EKS}"
GPU_NODE = "hyperpod-i-0gpu"
SYSTEM_NODE = "hyperpod-i-0sys"
JOBS = "/apis/sagemaker.amazonaws.com/v1/namespaces/hyperpod-ns-training/hyperpodpytorchjobs"


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch) -> None:
    fx.set_fake_aws_env(monkeypatch)
    clock = {"now": 0.0}
    monkeypatch.setattr(verify, "_clock", lambda: clock["now"])
    monkeypatch.setattr(verify, "_sleep", lambda s: clock.__setitem__("now", clock["now"] + s))


def _pod(name: str, node: str, *, ready: bool = True) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"nodeName": node},
        "status": {"phase": "Running", "containerStatuses": [{"ready": ready}]},
    }


def _node(name: str, instance_type: str, allocatable: dict[str, str], kubelet: str = "v1.35.2-eks-1") -> dict:
    return {
        "metadata": {
            "name": name,
            "labels": {
                "sagemaker.amazonaws.com/node-health-status": "Schedulable",
                "node.kubernetes.io/instance-type": instance_type,
            },
        },
        "status": {"allocatable": allocatable, "nodeInfo": {"kubeletVersion": kubelet}},
    }


def healthy(state: Any) -> None:
    state.routes["/api/v1/namespaces/aws-hyperpod/pods"] = {
        "items": [
            _pod("hp-training-operator-hp-training-controller-manager-7d9f-abcde", SYSTEM_NODE),
            _pod("health-monitoring-agent-x2k9p", GPU_NODE),
        ]
    }
    state.routes["/api/v1/nodes"] = {
        "items": [
            _node(SYSTEM_NODE, "ml.m5.2xlarge", {"cpu": "7910m"}),
            _node(GPU_NODE, "ml.g5.8xlarge", {"nvidia.com/gpu": "1", "vpc.amazonaws.com/efa": "1"}),
        ]
    }
    state.routes["/apis/cert-manager.io/v1/namespaces/cert-manager/issuers"] = (
        lambda method, query, body: (201, body) if method == "POST" and query == {"dryRun": "All"} else (405, {})
    )
    job: dict[str, Any] = {}

    def jobs(method: str, query: dict, body: Any) -> tuple[int, Any]:
        job.update(body)
        return 201, body

    def one_job(method: str, query: dict, body: Any) -> tuple[int, Any]:
        if method == "DELETE":
            job.clear()
            return 200, {"kind": "Status", "status": "Success"}
        polls = job.setdefault("_polls", 0) + 1
        job["_polls"] = polls
        conditions = [{"type": "Created", "status": "True"}]
        if polls >= 2:
            conditions.append({"type": "Completed", "status": "True"})
        return 200, {**{k: v for k, v in job.items() if k != "_polls"}, "status": {"conditions": conditions}}

    state.routes[JOBS] = jobs
    state.routes[f"{JOBS}/hyperpod-smoke"] = one_job


def _stubs(
    ca: str, *, addon_status: str = "ACTIVE", associations: int = 1, task_governance: str | None = None
) -> dict[str, Any]:
    sm, sm_stub = fx.stubbed("sagemaker")
    sm_stub.add_response(
        "describe_cluster",
        {
            "ClusterArn": f"arn:aws:sagemaker:{fx.REGION}:{fx.ACCOUNT}:cluster/abcdef123456",
            "ClusterName": CLUSTER,
            "ClusterStatus": "InService",
            "InstanceGroups": [],
            "Orchestrator": {"Eks": {"ClusterArn": EKS_ARN}},
        },
        {"ClusterName": CLUSTER},
    )
    eks, stub = fx.stubbed("eks")
    stub.add_response(
        "describe_cluster",
        {
            "cluster": {
                "name": EKS,
                "arn": EKS_ARN,
                "version": "1.35",
                "endpoint": f"https://{fk.DNS_NAME}",
                "certificateAuthority": {"data": ca},
                "resourcesVpcConfig": {"endpointPublicAccess": False, "endpointPrivateAccess": True},
            }
        },
        {"name": EKS},
    )
    stub.add_response(
        "describe_addon",
        {
            "addon": {
                "addonName": verify.OPERATOR_ADDON,
                "clusterName": EKS,
                "status": addon_status,
                "addonVersion": "v1.2.1-eksbuild.1",
                "health": {"issues": []},
            }
        },
        {"clusterName": EKS, "addonName": verify.OPERATOR_ADDON},
    )
    stub.add_response(
        "list_pod_identity_associations",
        {
            "associations": [
                {
                    "clusterName": EKS,
                    "namespace": "aws-hyperpod",
                    "serviceAccount": verify.OPERATOR_SERVICE_ACCOUNT,
                    "associationId": f"a-{i}",
                }
                for i in range(associations)
            ]
        },
        {"clusterName": EKS, "namespace": "aws-hyperpod", "serviceAccount": verify.OPERATOR_SERVICE_ACCOUNT},
    )
    if task_governance is None:
        stub.add_client_error(
            "describe_addon",
            service_error_code="ResourceNotFoundException",
            http_status_code=404,
            expected_params={"clusterName": EKS, "addonName": verify.TASK_GOVERNANCE_ADDON},
        )
    else:
        stub.add_response(
            "describe_addon",
            {"addon": {"addonName": verify.TASK_GOVERNANCE_ADDON, "status": "ACTIVE", "addonVersion": task_governance}},
            {"clusterName": EKS, "addonName": verify.TASK_GOVERNANCE_ADDON},
        )
    return {"sagemaker": sm, "eks": eks}


def _run(tmp_path: Path, port: int, overrides: dict[str, Any], *extra: str) -> int:
    config = fx.write_config(tmp_path)
    return main(
        ["verify", "--config", str(config), "--tunnel-port", str(port), "--json", *extra],
        clients_factory=fx.factory(overrides),
    )


def test_verify_and_smoke_pass_on_a_healthy_cluster(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with fk.serve(tmp_path) as (state, port, ca):
        healthy(state)
        assert _run(tmp_path, port, _stubs(ca), "--smoke") == 0, capsys.readouterr()
        rows = json.loads(capsys.readouterr().out)
        methods = [(m, p) for m, p, _ in state.requests if p.startswith(JOBS)]
    assert {r["check"]: r["status"] for r in rows} == {
        "training operator add-on": "pass",
        "training operator controller": "pass",
        "operator pod identity": "pass",
        "cert-manager webhook": "pass",
        "health-monitoring agent": "pass",
        "device plugin nvidia.com/gpu": "pass",
        "device plugin vpc.amazonaws.com/efa": "pass",
        "HyperPod AMI": "pass",
        "smoke job": "pass",
    }
    # The smoke job is the dist/ one: created, polled until Completed, then deleted.
    assert methods[0] == ("POST", JOBS) and methods[-1] == ("DELETE", f"{JOBS}/hyperpod-smoke")
    created = next(body for m, p, body in state.requests if m == "POST" and p == JOBS)
    assert created["kind"] == "HyperPodPyTorchJob" and created["metadata"]["namespace"] == "hyperpod-ns-training"


def test_each_guide_failure_gives_a_row_with_its_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with fk.serve(tmp_path) as (state, port, ca):
        healthy(state)
        state.routes["/api/v1/namespaces/aws-hyperpod/pods"] = {
            "items": [_pod("hp-training-operator-hp-training-controller-manager-7d9f-abcde", SYSTEM_NODE, ready=False)]
        }
        state.routes["/api/v1/nodes"] = {
            "items": [
                _node(
                    GPU_NODE,
                    "ml.g5.8xlarge",
                    {"nvidia.com/gpu": "0", "vpc.amazonaws.com/efa": "1"},
                    kubelet="v1.33.1-eks-1",
                )
            ]
        }
        state.routes["/apis/cert-manager.io/v1/namespaces/cert-manager/issuers"] = lambda m, q, b: (
            500,
            {"kind": "Status", "message": 'failed calling webhook "webhook.cert-manager.io": connection refused'},
        )
        code = _run(
            tmp_path, port, _stubs(ca, addon_status="DEGRADED", associations=0, task_governance="v1.2.0-eksbuild.1")
        )
    assert code == 1
    rows = {r["check"]: r for r in json.loads(capsys.readouterr().out)}
    failed = {name for name, r in rows.items() if r["status"] == "fail"}
    assert failed == {
        "training operator add-on",
        "training operator controller",
        "operator pod identity",
        "cert-manager webhook",
        "health-monitoring agent",
        "device plugin nvidia.com/gpu",
        "HyperPod AMI",
        "task governance version",
    }
    assert all(rows[name]["fix"] for name in failed)
    assert "v1.3.0-eksbuild.1" in rows["task governance version"]["fix"]
    assert "UpdateClusterSoftware" in rows["HyperPod AMI"]["fix"]
    assert "AmazonSageMakerHyperPodTrainingOperatorAccess" in rows["operator pod identity"]["fix"]
    assert rows["device plugin nvidia.com/gpu"]["reason"] == f"{GPU_NODE} has 0 of 1"


def test_closed_tunnel_says_how_to_open_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with fk.serve(tmp_path) as (_state, _port, ca):
        overrides = _stubs(ca)
    # Nothing listens on the port any more: the request fails before any HTTP exchange.
    assert _run(tmp_path, _port, overrides) == 1
    assert "run `hyperpod-cdk kubeconfig` in another terminal" in capsys.readouterr().out
