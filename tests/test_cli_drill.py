"""``hyperpod-cdk drill node-fault`` against SageMaker/EKS Stubbers and a fake Kubernetes API.

The fake API is a small HTTPS server on 127.0.0.1 with a throwaway certificate, given to the CLI as
the EKS cluster's CA. It checks every request's bearer token (a presigned STS URL bound to the EKS
cluster name) and plays a job's recovery: after the node is labelled, the first poll shows the
controller's NodeFault warning, the next the Running condition with "remediated in N milliseconds".
"""

from __future__ import annotations

import base64
import datetime as dt
import importlib.util
import io
import json
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.cli import drill
from hyperpod_cdk.cli.main import main

_spec = importlib.util.spec_from_file_location("cli_fixtures_drill", Path(__file__).with_name("cli_fixtures.py"))
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)

CLUSTER = "demo"
EKS = "demo-eks"
NS = "hyperpod-ns-training"
JOB = "llama"
NODE = "hyperpod-i-0123456789abcdef0"
OTHER = "hyperpod-i-0fedcba9876543210"
LABEL = "sagemaker.amazonaws.com/node-health-status"


def _certificate() -> tuple[bytes, bytes]:
    """A self-signed certificate for 127.0.0.1 (PEM cert, PEM key)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-kube-apiserver")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


class FakeKube:
    """State of the fake cluster and what the CLI did to it."""

    def __init__(self) -> None:
        self.nodes = {n: {"metadata": {"name": n, "labels": {LABEL: "Schedulable"}}} for n in (NODE, OTHER)}
        self.job = {
            "apiVersion": "sagemaker.amazonaws.com/v1",
            "kind": "HyperPodPyTorchJob",
            "metadata": {"name": JOB, "namespace": NS},
            "status": {
                "conditions": [
                    {"type": "Created", "status": "True", "reason": "Created", "lastTransitionTime": "t0"},
                    {"type": "PodsRunning", "status": "True", "reason": "PodsRunning", "lastTransitionTime": "t1"},
                    {"type": "Running", "status": "True", "reason": "Running", "lastTransitionTime": "t2"},
                ],
                "restartCount": 0,
            },
        }
        self.events: list[dict[str, Any]] = [
            {
                "metadata": {"uid": "old"},
                "type": "Normal",
                "reason": "Running",
                "lastTimestamp": "t2",
                "message": "The fault of reason NodeFault was remediated in 5 milliseconds.",
            },  # before the drill
        ]
        self.pods = [
            {
                "metadata": {
                    "name": f"{JOB}-pod-{i}",
                    "ownerReferences": [{"kind": "HyperPodPyTorchJob", "name": JOB}],
                },
                "spec": {"nodeName": NODE},
            }
            for i in range(2)
        ]
        self.patches: list[tuple[str, str, Any]] = []
        self.tokens: list[str] = []
        self.job_polls = 0
        self.recover = True

    def advance(self) -> None:
        """Called on each job GET after the label: fault, then remediation."""
        if not self.patches or not self.recover:
            return
        self.job_polls += 1
        if self.job_polls == 1:
            self.events.append(
                {
                    "metadata": {"uid": "e1"},
                    "type": "Warning",
                    "reason": "NodeFault",
                    "lastTimestamp": "t3",
                    "message": f"Found unhealthy node {NODE}",
                }
            )
            self.nodes[NODE]["metadata"]["labels"][LABEL] = "UnschedulablePendingReboot"
        elif self.job_polls == 2:
            message = "The fault of reason NodeFault was remediated in 94283 milliseconds."
            self.job["status"]["conditions"][-1] = {
                "type": "Running",
                "status": "True",
                "reason": "Running",
                "lastTransitionTime": "t4",
                "message": message,
            }
            self.events.append(
                {
                    "metadata": {"uid": "e2"},
                    "type": "Normal",
                    "reason": "Running",
                    "lastTimestamp": "t4",
                    "message": message,
                }
            )
            self.nodes[NODE]["metadata"]["labels"][LABEL] = "Schedulable"


def _handler(state: FakeKube) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            return None

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            state.tokens.append(token)
            prefix, _, encoded = token.partition(".")
            if prefix != "k8s-aws-v1":
                return False
            url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(url).query))
            return query.get("Action") == "GetCallerIdentity" and "x-k8s-aws-id" in query.get("X-Amz-SignedHeaders", "")

        def do_GET(self) -> None:  # noqa: N802
            if not self._authorized():
                return self._send(401, {"kind": "Status", "message": "Unauthorized"})
            path = urllib.parse.urlparse(self.path).path
            if path == "/apis/sagemaker.amazonaws.com/v1/hyperpodpytorchjobs":
                return self._send(200, {"items": [state.job]})
            if path == f"/apis/sagemaker.amazonaws.com/v1/namespaces/{NS}/hyperpodpytorchjobs/{JOB}":
                state.advance()
                return self._send(200, state.job)
            if path == f"/api/v1/namespaces/{NS}/pods":
                return self._send(200, {"items": state.pods})
            if path == f"/api/v1/namespaces/{NS}/events":
                return self._send(200, {"items": state.events})
            if path.startswith("/api/v1/nodes/") and path.rsplit("/", 1)[-1] in state.nodes:
                return self._send(200, state.nodes[path.rsplit("/", 1)[-1]])
            return self._send(404, {"kind": "Status", "message": f"{path} not found"})

        def do_PATCH(self) -> None:  # noqa: N802
            if not self._authorized():
                return self._send(401, {"kind": "Status", "message": "Unauthorized"})
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            path = urllib.parse.urlparse(self.path).path
            state.patches.append((path, self.headers["Content-Type"], body))
            name = path.rsplit("/", 1)[-1]
            state.nodes[name]["metadata"]["labels"].update(body["metadata"]["labels"])
            return self._send(200, state.nodes[name])

    return Handler


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[tuple[FakeKube, str, str]]:
    cert, key = _certificate()
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    state = FakeKube()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state, f"https://127.0.0.1:{server.server_address[1]}", base64.b64encode(cert).decode()
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch):
    fx.set_fake_aws_env(monkeypatch)
    clock = {"now": 1000.0}
    monkeypatch.setattr(drill, "_clock", lambda: clock["now"])
    monkeypatch.setattr(drill, "_sleep", lambda seconds: clock.__setitem__("now", clock["now"] + seconds))


def _stubs(endpoint: str, ca: str, *, recovery: str = "Automatic", eks_call: bool = True) -> dict[str, Any]:
    sm, sm_stub = fx.stubbed("sagemaker")
    sm_stub.add_response(
        "describe_cluster",
        {
            "ClusterArn": f"arn:aws:sagemaker:{fx.REGION}:{fx.ACCOUNT}:cluster/abcdef123456",
            "ClusterName": CLUSTER,
            "ClusterStatus": "InService",
            "InstanceGroups": [],
            "NodeRecovery": recovery,
            "Orchestrator": {"Eks": {"ClusterArn": f"arn:aws:eks:{fx.REGION}:{fx.ACCOUNT}:cluster/{EKS}"}},
        },
        {"ClusterName": CLUSTER},
    )
    eks, eks_stub = fx.stubbed("eks")
    if eks_call:
        eks_stub.add_response(
            "describe_cluster",
            {"cluster": {"name": EKS, "endpoint": endpoint, "certificateAuthority": {"data": ca}}},
            {"name": EKS},
        )
    return {"sagemaker": sm, "eks": eks}


def run(argv: list[str], overrides: dict[str, Any], stdin: io.StringIO | None = None) -> int:
    return main(["drill", "node-fault", *argv], clients_factory=fx.factory(overrides), stdin=stdin or io.StringIO(""))


def test_help_works(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drill", "node-fault", "--help"]) == 0
    assert "UnschedulablePendingReboot" in capsys.readouterr().out


def test_drill_labels_the_jobs_node_and_times_the_remediation(kube, capsys: pytest.CaptureFixture[str]) -> None:
    state, endpoint, ca = kube
    assert run([CLUSTER, "--yes", "--interval", "5"], _stubs(endpoint, ca)) == 0
    out = capsys.readouterr().out
    assert state.patches == [
        (
            f"/api/v1/nodes/{NODE}",
            "application/merge-patch+json",
            {"metadata": {"labels": {LABEL: "UnschedulablePendingReboot"}}},
        )
    ]
    assert f"Warning NodeFault: Found unhealthy node {NODE}" in out
    assert "Running=True Running: The fault of reason NodeFault was remediated in 94283 milliseconds." in out
    assert f"{LABEL}=Schedulable" in out  # the node came back
    assert "Remediated: the training operator reports 94.3 s (94283 ms); observed 5.0 s after the label." in out
    assert "remediated in 5 milliseconds" not in out  # the event from before the drill is not taken
    # Every request carried an EKS token; the token is signed once and reused.
    assert len(state.tokens) > 5 and len(set(state.tokens)) == 1


def test_json_reports_the_timeline(kube, capsys: pytest.CaptureFixture[str]) -> None:
    state, endpoint, ca = kube
    assert run([CLUSTER, "--yes", "--json"], _stubs(endpoint, ca)) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["remediated"] is True and result["controller_ms"] == 94283
    assert result["node"] == NODE and result["job"] == f"{NS}/{JOB}"
    assert [entry["kind"] for entry in result["timeline"]][:2] == ["label", "event"]


def test_dry_run_changes_nothing(kube, capsys: pytest.CaptureFixture[str]) -> None:
    state, endpoint, ca = kube
    assert run([CLUSTER, "--dry-run", "--node", OTHER], _stubs(endpoint, ca)) == 0
    out = capsys.readouterr().out
    assert state.patches == []
    assert f"label node {OTHER}" in out and f"no pod of {NS}/{JOB} runs on {OTHER}" in out
    assert "Dry run: nothing was changed." in out


def test_refuses_without_confirmation(kube, capsys: pytest.CaptureFixture[str]) -> None:
    state, endpoint, ca = kube
    assert run([CLUSTER], _stubs(endpoint, ca)) == 2
    assert "refusing to fault node" in capsys.readouterr().err
    assert state.patches == []


def test_refuses_when_node_recovery_is_off(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([CLUSTER, "--yes"], _stubs("https://unused", "", recovery="None", eks_call=False)) == 1
    assert "NodeRecovery 'None': HyperPod would not reboot the node" in capsys.readouterr().err


def test_times_out_when_nothing_recovers(kube, capsys: pytest.CaptureFixture[str]) -> None:
    state, endpoint, ca = kube
    state.recover = False
    assert run([CLUSTER, "--yes", "--timeout", "60", "--interval", "20"], _stubs(endpoint, ca)) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"error: no remediation reported within 60 s; node {NODE} is UnschedulablePendingReboot"


def test_unknown_node_is_a_usage_error(kube, capsys: pytest.CaptureFixture[str]) -> None:
    state, endpoint, ca = kube
    assert run([CLUSTER, "--node", "hyperpod-i-0000000000000000a", "--yes"], _stubs(endpoint, ca)) == 2
    assert "node hyperpod-i-0000000000000000a not found" in capsys.readouterr().err
    assert state.patches == []
