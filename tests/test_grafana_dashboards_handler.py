"""The Grafana dashboards custom resource handler against a fake Grafana HTTP API on 127.0.0.1 and a
botocore Stubber for the Grafana workspace API (no AWS, no jsii)."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

HANDLER = (
    Path(__file__).resolve().parents[1] / "constructs/hyperpod_cdk/monitoring/handlers/grafana_dashboards/index.py"
)
_spec = importlib.util.spec_from_file_location("grafana_dashboards_handler", HANDLER)
handler = sys.modules.setdefault("grafana_dashboards_handler", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(handler)

WORKSPACE = "g-abc123def4"
TOKEN = "glsa_short_lived"
OURS = {f"hyperpod-cdk-{k}" for k in ("cluster", "training", "tasks", "inference", "efa")}


class FakeGrafana:
    """Grafana's data source, folder and dashboard endpoints, in memory; checks the bearer token."""

    def __init__(self) -> None:
        self.datasources: dict[str, dict] = {}
        self.folders: dict[str, dict] = {}
        self.dashboards: dict[str, dict] = {"team-made": {"uid": "team-made", "title": "Mine", "version": 3}}
        self.requests: list[tuple[str, str]] = []
        self.fail_dashboards = False
        self.token = TOKEN


def serve(fake: FakeGrafana) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: Any = None) -> None:
            raw = json.dumps(body if body is not None else {}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length)) if length else None

        def _route(self, method: str) -> None:
            fake.requests.append((method, self.path))
            if self.headers.get("Authorization") != f"Bearer {fake.token}":
                return self._reply(401, {"message": "Unauthorized"})
            body = self._body()
            parts = self.path.strip("/").split("/")
            if parts[:3] == ["api", "datasources", "uid"]:
                uid = parts[3]
                if method == "GET":
                    return self._reply(200, fake.datasources[uid]) if uid in fake.datasources else self._reply(404)
                if method == "PUT" and uid in fake.datasources:
                    fake.datasources[uid] = body
                    return self._reply(200, {"message": "Datasource updated"})
            if parts == ["api", "datasources"] and method == "POST":
                if body["uid"] in fake.datasources:
                    return self._reply(409, {"message": "data source with the same name already exists"})
                fake.datasources[body["uid"]] = body
                return self._reply(200, {"message": "Datasource added"})
            if parts[:2] == ["api", "folders"]:
                if method == "GET" and len(parts) == 3:
                    return self._reply(200, fake.folders[parts[2]]) if parts[2] in fake.folders else self._reply(404)
                if method == "POST" and len(parts) == 2:
                    fake.folders[body["uid"]] = body
                    return self._reply(200, body)
            if parts == ["api", "dashboards", "db"] and method == "POST":
                if fake.fail_dashboards:
                    return self._reply(500, {"message": "boom"})
                board = body["dashboard"]
                old = fake.dashboards.get(board["uid"])
                if old is not None and not body.get("overwrite"):
                    return self._reply(412, {"status": "version-mismatch"})
                fake.dashboards[board["uid"]] = {
                    **board,
                    "folderUid": body["folderUid"],
                    "version": (old or {}).get("version", 0) + 1,
                }
                return self._reply(200, {"uid": board["uid"], "status": "success"})
            if parts[:3] == ["api", "dashboards", "uid"] and method == "DELETE":
                if fake.dashboards.pop(parts[3], None) is None:
                    return self._reply(404, {"message": "Dashboard not found"})
                return self._reply(200, {"title": parts[3]})
            return self._reply(404, {"message": "no route"})

        def do_GET(self) -> None:  # noqa: N802
            self._route("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._route("POST")

        def do_PUT(self) -> None:  # noqa: N802
            self._route("PUT")

        def do_DELETE(self) -> None:  # noqa: N802
            self._route("DELETE")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def props(url: str) -> dict[str, str]:
    return {
        "WorkspaceId": WORKSPACE,
        "Region": "us-west-2",
        "GrafanaUrl": url,
        "PrometheusUrl": "https://aps-workspaces.us-west-2.amazonaws.com/workspaces/ws-1",
        "DashboardsSha256": "x",
    }


@pytest.fixture
def grafana(monkeypatch) -> Iterator[tuple[FakeGrafana, str]]:
    fake = FakeGrafana()
    server, url = serve(fake)
    # The synthesized spec names the fake as the workspace's own host (the real one is checked below).
    monkeypatch.setenv(handler.SPEC_ENV, json.dumps(props(url)))
    monkeypatch.setattr(handler, "workspace_url", lambda workspace, region: url)
    yield fake, url
    server.shutdown()
    server.server_close()


@pytest.fixture
def client() -> Iterator[tuple[Any, Stubber]]:
    api = boto3.client("grafana", region_name="us-west-2", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(api) as stub:
        yield api, stub
        stub.assert_no_pending_responses()


def event(kind: str, url: str, physical: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "RequestType": kind,
        "ResourceProperties": {"ServiceToken": "arn:fn", "ServiceTimeout": "960", **props(url)},
    }
    if physical:
        found["PhysicalResourceId"] = physical
    return found


def stub_token(stub: Stubber, *, account_exists: bool) -> None:
    accounts = [{"id": "7", "name": "hyperpod-cdk-dashboards", "grafanaRole": "ADMIN", "isDisabled": "false"}]
    stub.add_response(
        "list_workspace_service_accounts",
        {"serviceAccounts": accounts if account_exists else [], "workspaceId": WORKSPACE},
        {"workspaceId": WORKSPACE},
    )
    if not account_exists:
        stub.add_response(
            "create_workspace_service_account",
            {"id": "7", "name": "hyperpod-cdk-dashboards", "grafanaRole": "ADMIN", "workspaceId": WORKSPACE},
            {"workspaceId": WORKSPACE, "name": "hyperpod-cdk-dashboards", "grafanaRole": "ADMIN"},
        )
    stub.add_response(
        "create_workspace_service_account_token",
        {
            "serviceAccountToken": {"id": "tok-1", "name": "n", "key": TOKEN},
            "serviceAccountId": "7",
            "workspaceId": WORKSPACE,
        },
        {"workspaceId": WORKSPACE, "serviceAccountId": "7", "name": ANY, "secondsToLive": handler.TOKEN_SECONDS},
    )
    # The token is deleted after every run, success or failure.
    stub.add_response(
        "delete_workspace_service_account_token",
        {"serviceAccountId": "7", "tokenId": "tok-1", "workspaceId": WORKSPACE},
        {"workspaceId": WORKSPACE, "serviceAccountId": "7", "tokenId": "tok-1"},
    )


def test_create_installs_source_folder_and_five_dashboards_and_leaves_others(grafana, client):
    fake, url = grafana
    api, stub = client
    stub_token(stub, account_exists=False)
    physical, data = handler.process(event("Create", url), api)
    assert physical == f"{WORKSPACE}/hyperpod-cdk-dashboards"
    assert set(data["Dashboards"].split(",")) == OURS
    source = fake.datasources["hyperpod-amp"]
    assert source["url"].endswith("/workspaces/ws-1")
    assert source["jsonData"]["sigV4Auth"] is True and source["jsonData"]["sigV4Region"] == "us-west-2"
    assert set(fake.folders) == {"hyperpod-cdk"}
    assert set(fake.dashboards) == OURS | {"team-made"}
    assert fake.dashboards["team-made"] == {"uid": "team-made", "title": "Mine", "version": 3}
    assert all(fake.dashboards[uid]["folderUid"] == "hyperpod-cdk" for uid in OURS)
    assert not any(path.startswith("/api/search") or "team-made" in path for _, path in fake.requests)


def test_update_is_idempotent_and_overwrites_only_its_own(grafana, client):
    fake, url = grafana
    api, stub = client
    stub_token(stub, account_exists=False)
    handler.process(event("Create", url), api)
    stub_token(stub, account_exists=True)  # the service account is found again, not created twice
    physical, _ = handler.process(event("Update", url, "old-workspace/hyperpod-cdk-dashboards"), api)
    assert physical == f"{WORKSPACE}/hyperpod-cdk-dashboards"  # a moved workspace gets a new id (old one deleted)
    assert ("PUT", "/api/datasources/uid/hyperpod-amp") in fake.requests
    assert sum(1 for r in fake.requests if r == ("POST", "/api/folders")) == 1
    assert {fake.dashboards[uid]["version"] for uid in OURS} == {2}
    assert fake.dashboards["team-made"]["version"] == 3


def test_a_grafana_failure_fails_the_request_and_still_deletes_the_token(grafana, client):
    fake, url = grafana
    api, stub = client
    fake.fail_dashboards = True
    stub_token(stub, account_exists=True)
    with pytest.raises(handler.GrafanaError, match="HTTP 500"):
        handler.process(event("Create", url), api)


def test_delete_removes_only_its_dashboards_and_never_blocks(grafana, client):
    fake, url = grafana
    api, stub = client
    stub_token(stub, account_exists=False)
    handler.process(event("Create", url), api)
    stub_token(stub, account_exists=True)
    handler.process(event("Delete", url, "p"), api)
    assert set(fake.dashboards) == {"team-made"}
    # A workspace that is gone: the Grafana API call fails, the delete still succeeds.
    stub.add_client_error("list_workspace_service_accounts", "ResourceNotFoundException", http_status_code=404)
    assert handler.process(event("Delete", url, "p"), api) == ("p", {})


def test_only_https_or_loopback_urls():
    with pytest.raises(handler.GrafanaError, match="https"):
        handler.check_url("http://g-1.grafana-workspace.us-west-2.amazonaws.com")
    assert handler.check_url("https://g-1.grafana-workspace.us-west-2.amazonaws.com/") == (
        "https://g-1.grafana-workspace.us-west-2.amazonaws.com"
    )


def test_handler_reports_failure_to_cloudformation(grafana, monkeypatch):
    fake, url = grafana
    sent: list[dict] = []
    monkeypatch.setattr(
        handler,
        "respond",
        lambda ev, status, phys, data, reason: sent.append({"status": status, "physical": phys, "reason": reason}),
    )

    class Broken:
        def list_workspace_service_accounts(self, **_: Any) -> dict:
            raise RuntimeError("AccessDenied")

    monkeypatch.setattr(handler, "grafana_client", lambda region: Broken())
    handler.handler({**event("Create", url), "RequestId": "r1"})
    assert sent == [{"status": "FAILED", "physical": "failed-r1", "reason": "AccessDenied"}]


# --- review M1: the event cannot choose where the ADMIN token goes ---------------------------------

FORGERIES = {
    "another host": {"GrafanaUrl": "https://attacker.example.com"},
    "another workspace": {"WorkspaceId": "g-victim0000"},
    "another region": {"Region": "eu-west-1"},
    "another prometheus": {"PrometheusUrl": "https://attacker.example.com/workspaces/ws-1"},
    "an added property": {"Extra": "1"},
}


@pytest.mark.parametrize("kind", ["Create", "Update"])
@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_forged_event_is_refused_before_any_token(grafana, kind, forgery):
    fake, url = grafana
    api = boto3.client("grafana", region_name="us-west-2", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(api):  # no response queued: any Grafana API call (a token) fails the test
        forged = event(kind, url, "p")
        forged["ResourceProperties"].update(FORGERIES[forgery])
        with pytest.raises(handler.GrafanaError, match="differ from the ones synthesized"):
            handler.process(forged, api)
    assert fake.requests == []


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_forged_delete_mints_no_token_and_succeeds(grafana, forgery):
    fake, url = grafana
    api = boto3.client("grafana", region_name="us-west-2", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(api):
        forged = event("Delete", url, "p")
        forged["ResourceProperties"].update(FORGERIES[forgery])
        assert handler.process(forged, api) == ("p", {})
    assert fake.requests == []


def test_the_spec_must_name_the_workspaces_own_host():
    good = {
        "WorkspaceId": "g-1",
        "Region": "us-west-2",
        "GrafanaUrl": "https://g-1.grafana-workspace.us-west-2.amazonaws.com",
        "PrometheusUrl": "https://aps-workspaces.us-west-2.amazonaws.com/workspaces/ws-1/",
        "DashboardsSha256": "x",
    }
    assert handler.load_spec({handler.SPEC_ENV: json.dumps(good)}) == good
    for bad in (
        {"GrafanaUrl": "https://attacker.example.com"},
        {"GrafanaUrl": "https://g-2.grafana-workspace.us-west-2.amazonaws.com"},
        {"GrafanaUrl": "https://g-1.grafana-workspace.us-west-2.amazonaws.com.attacker.example.com"},
        {"PrometheusUrl": "https://attacker.example.com/workspaces/ws-1"},
        {"PrometheusUrl": "http://aps-workspaces.us-west-2.amazonaws.com/workspaces/ws-1"},
    ):
        with pytest.raises(handler.GrafanaError):
            handler.load_spec({handler.SPEC_ENV: json.dumps({**good, **bad})})
    with pytest.raises(handler.GrafanaError, match="GRAFANA_DASHBOARDS_SPEC is not set"):
        handler.load_spec({})


def test_the_response_upload_is_retried(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "us-west-2")  # the function's own Region: its response bucket's
    import urllib.error

    calls: list[int] = []

    class Ok:
        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    def flaky(request, timeout):
        calls.append(1)
        if len(calls) < 3:
            raise urllib.error.URLError("reset")
        return Ok()

    monkeypatch.setattr(handler, "_opener", flaky)
    monkeypatch.setattr(handler, "_sleep", lambda s: None)
    handler.respond(
        {
            "StackId": "s",
            "RequestId": "r",
            "LogicalResourceId": "l",
            "ResponseURL": "https://cloudformation-custom-resource-response-uswest2.s3.us-west-2.amazonaws.com/r",
        },
        "SUCCESS",
        "p",
        {},
        "",
    )
    assert len(calls) == 3
