"""Custom resource handler: install this library's HyperPod dashboards in an Amazon Managed Grafana workspace.

Create/Update:
1. find or create the workspace service account ``hyperpod-cdk-dashboards`` (ADMIN: Grafana lets only
   admins manage data sources);
2. mint a token for it that lives ``TOKEN_SECONDS`` (Grafana workspace API
   CreateWorkspaceServiceAccountToken, https://docs.aws.amazon.com/grafana/latest/APIReference/API_CreateWorkspaceServiceAccountToken.html);
3. with it, through Grafana's HTTP API (https://grafana.com/docs/grafana/latest/developers/http_api/):
   create or update the Prometheus data source ``hyperpod-amp`` (SigV4 with the workspace's IAM
   role, as AWS's observability template configures it), the folder ``hyperpod-cdk``, and each
   dashboard by its own uid (``hyperpod-cdk-*``) with ``overwrite``: nothing else in the
   workspace is read or written, so dashboards people made stay as they are;
4. delete the token, whatever happened.
Delete: remove the dashboards with this library's uids (best effort: a workspace already gone, or
retained, never blocks the stack's deletion).

The token is ADMIN, so where it goes is fixed at synth: the workspace id, its URL, the AMP URL and
the region come from the function's environment (``GRAFANA_DASHBOARDS_SPEC``), never from the
event. An event whose properties differ from that copy is refused (Create/Update) or ignored
(Delete), and the Grafana URL must be the workspace's own host
``<workspace-id>.grafana-workspace.<region>.amazonaws.com`` (Amazon Managed Grafana workspace URLs,
https://docs.aws.amazon.com/grafana/latest/userguide/AMG-create-workspace.html). So an invoke with
a forged event cannot send the token to another host or mint one for another workspace.

Only the standard library and boto3 (in the Lambda runtime).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import boto3

# In the Lambda the shared cfn_response.py sits next to this file (copied in at synth by
# hyperpod_cdk._handler_functions); loaded from the source tree (tests), the shared folder is added.
# (.parent, not parents[3]: /var/task/index.py has only three parents.)
_SHARED = Path(__file__).resolve().parent.parent.parent.parent / "kubernetes" / "handlers" / "shared"
if _SHARED.is_dir() and str(_SHARED) not in sys.path:
    sys.path.append(str(_SHARED))

from cfn_response import CFN_PROPERTIES, Outcome, send_response  # noqa: E402

LOG = logging.getLogger()
LOG.setLevel(logging.INFO)

DASHBOARD_DIR = Path(__file__).parent / "dashboards"
SERVICE_ACCOUNT = "hyperpod-cdk-dashboards"
TOKEN_SECONDS = 900
FOLDER_UID = "hyperpod-cdk"
DATASOURCE_UID = "hyperpod-amp"
UID_PREFIX = "hyperpod-cdk-"
HTTP_TIMEOUT = 20
SPEC_ENV = "GRAFANA_DASHBOARDS_SPEC"
_opener: Callable[..., Any] = urllib.request.urlopen
_sleep: Callable[[float], None] = time.sleep


class GrafanaError(Exception):
    pass


def grafana_client(region: str) -> Any:
    return boto3.client("grafana", region_name=region)


def dashboards() -> dict[str, dict[str, Any]]:
    """The bundled dashboards by uid."""
    found = {}
    for path in sorted(DASHBOARD_DIR.glob("*.json")):
        body = json.loads(path.read_text())
        if not str(body.get("uid", "")).startswith(UID_PREFIX):
            raise GrafanaError(f"{path.name}: uid must start with {UID_PREFIX}")
        found[body["uid"]] = body
    return found


def check_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    loopback = parts.hostname in ("127.0.0.1", "localhost")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise GrafanaError(f"Grafana URL must be https://, got {url!r}")
    return url.rstrip("/")


def workspace_url(workspace_id: str, region: str) -> str:
    """The only URL an Amazon Managed Grafana workspace answers on."""
    return f"https://{workspace_id}.grafana-workspace.{region}.amazonaws.com"


def load_spec(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The properties fixed at synth, checked: the token may only go to this workspace's host."""
    raw = (os.environ if environ is None else environ).get(SPEC_ENV)
    if not raw:
        raise GrafanaError(f"{SPEC_ENV} is not set: this function only serves the resource it was synthesized for")
    spec: dict[str, str] = json.loads(raw)
    region, workspace = str(spec["Region"]), str(spec["WorkspaceId"])
    if check_url(spec["GrafanaUrl"]) != workspace_url(workspace, region):
        raise GrafanaError(f"GrafanaUrl {spec['GrafanaUrl']!r} is not workspace {workspace}'s own host")
    prometheus = urllib.parse.urlsplit(spec["PrometheusUrl"])
    if prometheus.scheme != "https" or prometheus.hostname != f"aps-workspaces.{region}.amazonaws.com":
        raise GrafanaError(f"PrometheusUrl {spec['PrometheusUrl']!r} is not an AMP workspace in {region}")
    return spec


def event_properties(event: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.get("ResourceProperties", {}).items() if k not in CFN_PROPERTIES}


class Grafana:
    """A minimal Grafana HTTP API client with a bearer token."""

    def __init__(self, url: str, token: str) -> None:
        self.url = check_url(url)
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:  # noqa: S310 (https checked)
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode(errors="replace")[:200]
        return status, payload

    def require(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200,)) -> Any:
        status, payload = self.call(method, path, body)
        if status not in ok:
            raise GrafanaError(f"Grafana {method} {path}: HTTP {status} {payload}")
        return payload


def datasource_body(prometheus_url: str, region: str) -> dict[str, Any]:
    # SigV4 with the workspace's own IAM role ("ec2_iam_role" in Amazon Managed Grafana), the data
    # source AWS's observability template creates (aws/sagemaker-hyperpod-cluster-setup
    # eks/cloudformation/resources/grafana-lambda-function/lambda_function/lambda_function.py @b920fcf4).
    return {
        "uid": DATASOURCE_UID,
        "name": "HyperPod Prometheus (hyperpod-cdk)",
        "type": "prometheus",
        "url": prometheus_url,
        "access": "proxy",
        "isDefault": False,
        "jsonData": {"sigV4Auth": True, "sigV4AuthType": "ec2_iam_role", "sigV4Region": region, "httpMethod": "POST"},
    }


def install(api: Grafana, prometheus_url: str, region: str) -> list[str]:
    """Data source, folder and dashboards; returns the dashboard uids written."""
    source = datasource_body(prometheus_url, region)
    status, _ = api.call("GET", f"/api/datasources/uid/{DATASOURCE_UID}")
    if status == 404:
        api.require("POST", "/api/datasources", source)
    elif status == 200:
        api.require("PUT", f"/api/datasources/uid/{DATASOURCE_UID}", source)
    else:
        raise GrafanaError(f"Grafana GET data source: HTTP {status}")
    status, _ = api.call("GET", f"/api/folders/{FOLDER_UID}")
    if status == 404:
        api.require("POST", "/api/folders", {"uid": FOLDER_UID, "title": "HyperPod (hyperpod-cdk)"})
    elif status != 200:
        raise GrafanaError(f"Grafana GET folder: HTTP {status}")
    written = []
    for uid, body in dashboards().items():
        api.require(
            "POST",
            "/api/dashboards/db",
            {
                "dashboard": {**body, "id": None},
                "folderUid": FOLDER_UID,
                "overwrite": True,
                "message": "hyperpod-cdk deploy",
            },
        )
        written.append(uid)
    return written


def uninstall(api: Grafana) -> list[str]:
    removed = []
    for uid in dashboards():
        status, _ = api.call("DELETE", f"/api/dashboards/uid/{uid}")
        if status in (200, 404):
            removed.append(uid)
    return removed


def service_account_id(client: Any, workspace_id: str) -> str:
    paginator_token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"workspaceId": workspace_id}
        if paginator_token:
            kwargs["nextToken"] = paginator_token
        page = client.list_workspace_service_accounts(**kwargs)
        for account in page.get("serviceAccounts", []):
            if account["name"] == SERVICE_ACCOUNT:
                return str(account["id"])
        paginator_token = page.get("nextToken")
        if not paginator_token:
            break
    created = client.create_workspace_service_account(
        workspaceId=workspace_id, name=SERVICE_ACCOUNT, grafanaRole="ADMIN"
    )
    return str(created["id"])


def with_token(client: Any, workspace_id: str, work: Any) -> Any:
    """Run ``work(token)`` with a short-lived service-account token, deleted afterwards."""
    account = service_account_id(client, workspace_id)
    minted = client.create_workspace_service_account_token(
        workspaceId=workspace_id,
        serviceAccountId=account,
        name=f"hyperpod-cdk-{int(time.time() * 1000)}",
        secondsToLive=TOKEN_SECONDS,
    )
    token = minted["serviceAccountToken"]
    try:
        return work(token["key"])
    finally:
        client.delete_workspace_service_account_token(
            workspaceId=workspace_id, serviceAccountId=account, tokenId=token["id"]
        )


def process(event: dict[str, Any], client: Any, spec: Mapping[str, str] | None = None) -> tuple[str, dict[str, str]]:
    """Do the request with the synthesized spec (the event only has to match it); returns (physical id, data)."""
    spec = load_spec() if spec is None else spec
    workspace_id = spec["WorkspaceId"]
    region = spec["Region"]
    url = spec["GrafanaUrl"]
    matches = event_properties(event) == dict(spec)
    # Named by the workspace: when an update moves to another workspace the id changes, and
    # CloudFormation then sends a Delete with the old properties, which removes the old dashboards.
    physical_id = f"{workspace_id}/hyperpod-cdk-dashboards"
    if event["RequestType"] == "Delete":
        physical_id = event.get("PhysicalResourceId") or physical_id
        if not matches:
            # The old properties of a moved workspace, or a forged event: no token is minted for them.
            LOG.warning("Delete with properties other than the synthesized ones: dashboards left in place")
            return physical_id, {}
        try:
            removed = with_token(client, workspace_id, lambda token: uninstall(Grafana(url, token)))
            LOG.info("removed dashboards %s", removed)
        except Exception as exc:  # the workspace may be gone or retained: never block the delete
            LOG.warning("dashboards left in place: %s", exc)
        return physical_id, {}
    if not matches:
        raise GrafanaError("the request's properties differ from the ones synthesized into this function; refused")
    written = with_token(
        client, workspace_id, lambda token: install(Grafana(url, token), spec["PrometheusUrl"], region)
    )
    LOG.info("installed dashboards %s", written)
    return physical_id, {"Dashboards": ",".join(written)}


def respond(event: dict[str, Any], status: str, physical: str, data: dict[str, Any], reason: str) -> None:
    # A lost response would make Lambda retry the whole invocation: the upload is retried.
    send_response(event, Outcome(status, physical, reason, data), opener=_opener, sleep=_sleep)


def handler(event: dict[str, Any], context: Any = None) -> None:
    print(json.dumps({k: v for k, v in event.items() if k != "ResponseURL"}, default=str))
    fallback = event.get("PhysicalResourceId") or f"failed-{event.get('RequestId', 'unknown')}"
    try:
        spec = load_spec()
        physical, data = process(event, grafana_client(spec["Region"]), spec)
    except Exception as error:  # every failure goes back to CloudFormation, never a timeout
        print(f"FAILED: {error!r}")
        respond(event, "FAILED", fallback, {}, str(error) or type(error).__name__)
        return
    respond(event, "SUCCESS", physical, data, "")
