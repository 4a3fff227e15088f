"""``nodes replace|reboot`` when a later chunk fails: every node's outcome is printed, unknown
outcomes are not successes, and a timed-out batch call is never sent again (issue 14, item 8)."""

from __future__ import annotations

import importlib.util
import io
import json
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

from hyperpod_cdk.cli import nodes
from hyperpod_cdk.cli.clients import MUTATION_CONFIG, Clients
from hyperpod_cdk.cli.main import main

_spec = importlib.util.spec_from_file_location("cli_fixtures_batch", Path(__file__).with_name("cli_fixtures.py"))
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)

CLUSTER = "demo"
IDS = [f"i-{index:017x}" for index in range(30)]  # two chunks: 25 + 5


@pytest.fixture(autouse=True)
def fake_env(monkeypatch: pytest.MonkeyPatch) -> None:
    fx.set_fake_aws_env(monkeypatch)


class FailingCall:
    """The client, except that call number ``fail_on`` of ``method`` raises ``error`` (what the Stubber cannot)."""

    def __init__(self, client: Any, method: str, fail_on: int, error: Exception) -> None:
        self._client, self._method, self._fail_on, self._error = client, method, fail_on, error
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name != self._method:
            return attribute

        def call(**kwargs: Any) -> Any:
            self.calls += 1
            if self.calls == self._fail_on:
                raise self._error
            return attribute(**kwargs)

        return call


def _run(argv: list[str], sagemaker: Any) -> int:
    return main(argv, clients_factory=fx.factory({"sagemaker": sagemaker}), stdin=io.StringIO(""))


def _accepting_first_chunk(method: str) -> Any:
    client, stub = fx.stubbed("sagemaker")
    stub.add_response(method, {"Successful": IDS[:25]}, {"ClusterName": CLUSTER, "NodeIds": IDS[:25]})
    return client


READ_TIMEOUT = ReadTimeoutError(endpoint_url="https://api.sagemaker.us-west-2.amazonaws.com/")


def test_read_timeout_on_the_second_chunk_keeps_the_first_and_prints_every_node(capsys):
    """The reported case: 30 nodes, a read timeout on chunk 2 printed one line and lost the 25 accepted."""
    sagemaker = FailingCall(
        _accepting_first_chunk("batch_replace_cluster_nodes"), "batch_replace_cluster_nodes", 2, READ_TIMEOUT
    )
    code = _run(["nodes", "replace", CLUSTER, *IDS, "--yes"], sagemaker)
    out = capsys.readouterr().out
    assert code == 1
    assert sagemaker.calls == 2  # sent once each, no resend of the timed-out call
    assert all(node in out for node in IDS), out
    assert "25 requested, 0 failed, 5 unknown" in out


def test_json_results_name_the_timed_out_nodes_unknown(capsys):
    sagemaker = FailingCall(
        _accepting_first_chunk("batch_reboot_cluster_nodes"), "batch_reboot_cluster_nodes", 2, READ_TIMEOUT
    )
    assert _run(["nodes", "reboot", CLUSTER, *IDS, "--yes", "--json"], sagemaker) == 1
    results = {r["node"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    assert all(results[node]["ok"] is True for node in IDS[:25])
    for node in IDS[25:]:
        assert results[node]["ok"] is None and results[node]["error_code"] == "ReadTimeoutError"
        assert "check with 'hyperpod-cdk nodes list demo'" in results[node]["message"]


def test_a_connection_failure_stops_the_run_and_marks_the_rest_not_sent(capsys):
    ids = IDS + [f"i-{index:017x}" for index in range(30, 60)]  # three chunks
    client, stub = fx.stubbed("sagemaker")
    stub.add_response(
        "batch_reboot_cluster_nodes", {"Successful": ids[:25]}, {"ClusterName": CLUSTER, "NodeIds": ids[:25]}
    )
    sagemaker = FailingCall(
        client,
        "batch_reboot_cluster_nodes",
        2,
        EndpointConnectionError(endpoint_url="https://api.sagemaker.us-west-2.amazonaws.com/"),
    )
    assert _run(["nodes", "reboot", CLUSTER, *ids, "--yes", "--json"], sagemaker) == 1
    assert sagemaker.calls == 2  # the third chunk is not sent after a transport error
    results = {r["node"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    assert [results[n]["ok"] for n in ids[25:50]] == [False] * 25
    assert results[ids[30]]["message"].startswith("not sent: Could not connect")
    assert results[ids[55]]["error_code"] == "NotSent"
    assert "stopped after EndpointConnectionError" in results[ids[55]]["message"]


def test_a_server_error_is_unknown_and_throttling_is_retried(capsys):
    client, stub = fx.stubbed("sagemaker")
    stub.add_client_error("batch_replace_cluster_nodes", "ThrottlingException", "Rate exceeded", 400)
    stub.add_response(
        "batch_replace_cluster_nodes", {"Successful": IDS[:25]}, {"ClusterName": CLUSTER, "NodeIds": IDS[:25]}
    )
    stub.add_client_error("batch_replace_cluster_nodes", "InternalFailure", "try again", 500)
    delays: list[float] = []
    results = nodes.run_batch(client, "replace", CLUSTER, IDS, sleep=delays.append)
    stub.assert_no_pending_responses()
    assert len(delays) == 1 and 1.0 <= delays[0] <= 2.0  # one throttled attempt, then accepted
    assert [r.ok for r in results] == [True] * 25 + [None] * 5
    assert results[-1].error_code == "InternalFailure"
    assert not nodes.all_requested(results)
    assert nodes.summary(results, CLUSTER).startswith("25 requested, 0 failed, 5 unknown")


def test_throttling_gives_up_after_the_retries():
    client, stub = fx.stubbed("sagemaker")
    for _ in range(nodes.THROTTLE_RETRIES + 1):
        stub.add_client_error("batch_reboot_cluster_nodes", "ThrottlingException", "Rate exceeded", 400)
    delays: list[float] = []
    [result] = nodes.run_batch(client, "reboot", CLUSTER, IDS[:1], sleep=delays.append)
    assert (result.ok, result.error_code) == (False, "ThrottlingException")
    assert len(delays) == nodes.THROTTLE_RETRIES


def test_credentials_expiring_mid_run_keep_the_table(capsys):
    from botocore.exceptions import TokenRetrievalError

    sagemaker = FailingCall(
        _accepting_first_chunk("batch_reboot_cluster_nodes"),
        "batch_reboot_cluster_nodes",
        2,
        TokenRetrievalError(provider="sso", error_msg="token expired"),
    )
    assert _run(["nodes", "reboot", CLUSTER, *IDS, "--yes", "--json"], sagemaker) == 1
    results = json.loads(capsys.readouterr().out)["results"]
    assert [r["ok"] for r in results] == [True] * 25 + [False] * 5


# ----------------------------------------------------------------------------- the client's retries


class SilentServer:
    """Accepts HTTP connections, reads the request and never answers: every request times out."""

    def __init__(self) -> None:
        self.requests = 0
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen()
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._open: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            conn.settimeout(1)
            try:
                if conn.recv(65536):
                    self.requests += 1
            except OSError:
                pass
            self._open.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for conn in self._open:
            conn.close()
        self._sock.close()


def test_batch_calls_are_sent_once_on_a_read_timeout():
    """Standard retries resent a timed-out BatchReplaceClusterNodes (6 sends); the mutation client sends it once."""
    server = SilentServer()
    try:
        client = fx.session().client(
            "sagemaker",
            endpoint_url=server.url,
            config=MUTATION_CONFIG.merge(Config(read_timeout=0.3, connect_timeout=1)),
        )
        with pytest.raises(ReadTimeoutError):
            client.batch_replace_cluster_nodes(ClusterName=CLUSTER, NodeIds=IDS[:1])
    finally:
        server.close()
    assert server.requests == 1


def test_mutating_clients_have_retries_off_and_others_keep_them():
    clients = Clients(fx.session(), region=fx.REGION)
    assert clients.mutating("sagemaker").meta.config.retries == {"total_max_attempts": 1, "mode": "standard"}
    assert clients("sagemaker").meta.config.retries["total_max_attempts"] == 6  # botocore: 5 retries
    assert clients.mutating("sagemaker") is clients.mutating("sagemaker")
    assert clients.mutating("sagemaker") is not clients("sagemaker")
