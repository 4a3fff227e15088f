"""The readiness gate's handler (kubernetes/handlers/readiness/index.py) against a fake kubectl.

Each pass of a check is run with canned ``kubectl`` answers; the tests pin when a gate completes,
when it waits, when it retries a webhook error and what it reports when it gives up.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

HANDLER = (
    Path(__file__).resolve().parent.parent
    / "constructs"
    / "hyperpod_cdk"
    / "kubernetes"
    / "handlers"
    / "readiness"
    / "index.py"
)
_spec = importlib.util.spec_from_file_location("readiness_handler", HANDLER)
handler = sys.modules.setdefault("readiness_handler", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(handler)  # registered first: dataclasses look their module up in sys.modules

NOW = 1_000_000.0
NODE_PROPS = {
    "Check": "nodes",
    "ClusterName": "eks",
    "HyperPodClusterName": "hp",
    "InstanceGroups": ["system"],
    "TimeoutSeconds": "2400",
}
CERT_PROPS = {
    "Check": "cert-manager",
    "ClusterName": "eks",
    "Namespace": "cert-manager",
    "Deployments": ["cert-manager", "cert-manager-cainjector", "cert-manager-webhook"],
    "TimeoutSeconds": "900",
}


def _node(name: str, group: str, *, ready: bool = True, taints: list[dict] | None = None) -> dict:
    return {
        "metadata": {"name": name, "labels": {"sagemaker.amazonaws.com/instance-group-name": group}},
        "spec": {"taints": taints or []},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def _pod(name: str, ready: bool) -> dict:
    return {"metadata": {"name": name}, "status": {"conditions": [{"type": "Ready", "status": str(ready)}]}}


def _deployment(name: str, available: bool) -> dict:
    return {
        "metadata": {"name": name},
        "status": {
            "replicas": 1,
            "readyReplicas": int(available),
            "conditions": [{"type": "Available", "status": str(available)}],
        },
    }


class FakeKubectl:
    """Answers by the kubectl verb and resource; records every argv."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[list[str]] = []

    def __call__(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append(argv)
        args = argv[5:]  # after kubectl --kubeconfig X --request-timeout 20s
        key = args[1] if args[0] == "get" else args[0]
        answer = self.answers[key]
        if callable(answer):
            answer = answer(args, kwargs.get("input"))
        if isinstance(answer, tuple):
            code, err = answer
            return subprocess.CompletedProcess(argv, code, "", err)
        return subprocess.CompletedProcess(argv, 0, json.dumps({"items": answer}), "")


def _pass(props: dict, answers: dict[str, Any], *, elapsed: float = 60) -> tuple[bool, list[str], FakeKubectl]:
    fake = FakeKubectl(answers)
    kubectl = handler.Kubectl("/tmp/kubeconfig", runner=fake)
    logs: list[str] = []
    event = {"RequestType": "Create", "ResourceProperties": props, "Data": {"StartedAt": str(NOW - elapsed)}}
    done = handler.run_pass(event, kubectl, now=NOW, log=logs.append)
    return done, logs, fake


def test_node_gate_completes_on_one_ready_system_node_and_agent() -> None:
    done, logs, fake = _pass(
        NODE_PROPS,
        {
            "nodes": [_node("hyperpod-i-1", "system"), _node("hyperpod-i-2", "gpu", ready=False)],
            "pods": [_pod("eks-pod-identity-agent-abc", True)],
        },
    )
    assert done and "hyperpod-i-1" in logs[-1]
    assert fake.calls[0][5:] == ["get", "nodes", "-l", "sagemaker.amazonaws.com/cluster-name=hp", "-o", "json"]
    assert fake.calls[1][5:9] == ["get", "pods", "-n", "kube-system"]


@pytest.mark.parametrize(
    ("nodes", "pods", "status"),
    [
        ([], [], "no node of HyperPod cluster hp has joined EKS yet"),
        ([_node("hyperpod-i-2", "gpu")], [], "has joined (1 HyperPod node(s) in other groups: ['gpu'])"),
        ([_node("hyperpod-i-1", "system", ready=False)], [], "hyperpod-i-1: NotReady"),
        (
            [
                _node(
                    "hyperpod-i-1",
                    "system",
                    taints=[
                        {
                            "key": "sagemaker.amazonaws.com/node-health-status",
                            "value": "Unschedulable",
                            "effect": "NoSchedule",
                        }
                    ],
                )
            ],
            [],
            "tainted sagemaker.amazonaws.com/node-health-status=Unschedulable:NoSchedule",
        ),
        (
            [_node("hyperpod-i-1", "system")],
            [_pod("eks-pod-identity-agent-abc", False)],
            "no pod of DaemonSet kube-system/eks-pod-identity-agent is Ready yet",
        ),
    ],
)
def test_node_gate_waits_and_says_for_what(nodes: list, pods: list, status: str) -> None:
    done, logs, _ = _pass(NODE_PROPS, {"nodes": nodes, "pods": pods})
    assert not done
    assert status in logs[-1] and "not ready after 60s of 2400s" in logs[-1]


def test_node_gate_timeout_names_the_object_and_what_to_check() -> None:
    with pytest.raises(handler.NotReadyError) as caught:
        _pass(NODE_PROPS, {"nodes": [], "pods": []}, elapsed=2401)
    message = str(caught.value)
    assert message.startswith("readiness check 'nodes' timed out after 40 min: no node of HyperPod cluster hp")
    assert "aws sagemaker list-cluster-nodes --cluster-name hp" in message
    assert "/aws/sagemaker/Clusters/hp/" in message


def test_cert_manager_gate_waits_for_every_deployment() -> None:
    done, logs, fake = _pass(
        CERT_PROPS,
        {
            "deployments": [
                _deployment("cert-manager", True),
                _deployment("cert-manager-cainjector", False),
            ]
        },
    )
    assert not done
    assert "cert-manager/cert-manager-cainjector not Available (0/1 ready)" in logs[-1]
    assert "cert-manager/cert-manager-webhook does not exist yet" in logs[-1]
    assert all(call[5] == "get" for call in fake.calls), "no webhook probe before the deployments are Available"


def _available() -> list[dict]:
    return [_deployment(name, True) for name in CERT_PROPS["Deployments"]]


def test_cert_manager_gate_probes_the_webhook_with_a_dry_run() -> None:
    seen: dict[str, Any] = {}

    def create(args: list[str], stdin: str) -> tuple[int, str]:
        seen["args"], seen["stdin"] = args, json.loads(stdin)
        return 0, ""

    done, _, _ = _pass(CERT_PROPS, {"deployments": _available(), "create": create})
    assert done
    assert seen["args"][:2] == ["create", "--dry-run=server"]
    assert seen["stdin"]["kind"] == "Issuer" and seen["stdin"]["metadata"]["namespace"] == "cert-manager"


@pytest.mark.parametrize(
    "error",
    [
        'Internal error occurred: failed calling webhook "webhook.cert-manager.io": no endpoints available for service '
        '"cert-manager-webhook"',
        "x509: certificate signed by unknown authority",
        'error: resource mapping not found for name: "probe": '
        'no matches for kind "Issuer" in version "cert-manager.io/v1"',
    ],
)
def test_transient_webhook_errors_are_retried(error: str) -> None:
    done, logs, _ = _pass(CERT_PROPS, {"deployments": _available(), "create": (1, error)})
    assert not done
    assert "the cert-manager webhook does not answer yet" in logs[-1] and error[:40] in logs[-1]


def test_other_webhook_rejections_fail_at_once() -> None:
    with pytest.raises(
        handler.NotReadyError, match="rejected a dry-run Issuer in cert-manager: admission webhook denied"
    ):
        _pass(CERT_PROPS, {"deployments": _available(), "create": (1, "admission webhook denied the request")})


def test_forbidden_fails_at_once_and_names_the_access() -> None:
    with pytest.raises(handler.NotReadyError, match="access entry and the ClusterRole hyperpod-cdk-readiness"):
        _pass(NODE_PROPS, {"nodes": (1, 'nodes is forbidden: User "x" cannot list resource "nodes"')})


def test_unauthorized_is_retried_briefly_then_fails() -> None:
    answers: dict[str, Any] = {"nodes": (1, "error: You must be logged in to the server (Unauthorized)")}
    assert _pass(NODE_PROPS, answers, elapsed=30)[0] is False
    with pytest.raises(handler.NotReadyError, match="cannot authenticate"):
        _pass(NODE_PROPS, answers, elapsed=handler.AUTH_GRACE_SECONDS + 1)


def test_on_event_starts_the_clock_and_delete_is_a_no_op() -> None:
    created = handler.on_event({"RequestType": "Create", "ResourceProperties": NODE_PROPS})
    assert created["PhysicalResourceId"] == "eks/nodes" and float(created["Data"]["StartedAt"]) > 0
    assert handler.on_event({"RequestType": "Delete", "PhysicalResourceId": "eks/nodes"}) == {
        "PhysicalResourceId": "eks/nodes"
    }
    assert handler.is_complete({"RequestType": "Delete", "ResourceProperties": NODE_PROPS}) == {"IsComplete": True}
    with pytest.raises(handler.NotReadyError, match="unknown Check 'pods'"):
        handler.on_event({"RequestType": "Create", "ResourceProperties": {**NODE_PROPS, "Check": "pods"}})


def test_kubectl_timeout_is_an_answer_not_a_crash() -> None:
    def slow(argv: list[str], **_: Any) -> Callable[..., Any]:
        raise subprocess.TimeoutExpired(argv, 45)

    kubectl = handler.Kubectl("/tmp/kubeconfig", runner=slow)
    assert kubectl.get_json("nodes") == (None, "kubectl get nodes -o json timed out after 45s")
