"""``make chart-bundle``: the bundle for a closed network, built against a local server and a fake helm.

The archive of the revision is served by a stdlib HTTP server on 127.0.0.1; ``helm dependency
build`` is a script that writes the "downloaded" archives. Uploads go to moto's S3.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sys
import tarfile
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hyperpod_cdk.config.kubernetes import HelmDependenciesConfig
from hyperpod_cdk.kubernetes import chart_bundle

REV = "f57185916d4f7d2fa85caf6a03c04fd17172d330"
CHART = "helm_chart/HyperPodHelmChart"
FILES = {
    "Chart.yaml": b"apiVersion: v2\nname: hyperpod-helm-chart\nversion: 0.1.0\n",
    "values.yaml": b"a: 1\n",
    "charts/mpi-operator/Chart.yaml": b"apiVersion: v2\nname: mpi-operator\nversion: 0.1.0\n",
}
REMOTE = b"remote nvidia archive"
REMOTE_SHA = hashlib.sha256(REMOTE).hexdigest()


def digest(files: dict[str, bytes]) -> str:
    lines = sorted((p.encode(), hashlib.sha256(d).hexdigest()) for p, d in files.items())
    return hashlib.sha256("".join(f"{h}  {p.decode()}\n" for p, h in lines).encode()).hexdigest()


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"sagemaker-hyperpod-cli-{REV}/{CHART}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def server():
    files: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    files[f"/archive/{REV}.tar.gz"] = tarball(FILES)
    yield f"http://127.0.0.1:{httpd.server_address[1]}/archive/{{revision}}.tar.gz", files
    httpd.shutdown()
    httpd.server_close()


FAKE_HELM = textwrap.dedent("""\
    #!{python}
    import base64, json, os, sys
    argv = sys.argv[1:]
    assert argv[:2] == ["dependency", "build"], argv
    charts = os.path.join(argv[2], "charts")
    for name, data in json.loads(os.environ["FAKE_DOWNLOADS"]).items():
        open(os.path.join(charts, name), "wb").write(base64.b64decode(data))
    open(os.path.join(argv[2], "Chart.lock"), "w").write("lock\\n")
""")


@pytest.fixture
def helm(tmp_path, monkeypatch):
    path = tmp_path / "helm"
    path.write_text(FAKE_HELM.format(python=sys.executable))
    path.chmod(0o755)

    def downloads(archives: dict[str, bytes]) -> str:
        monkeypatch.setenv("FAKE_DOWNLOADS", json.dumps({k: base64.b64encode(v).decode() for k, v in archives.items()}))
        return str(path)

    return downloads


def config(**overrides) -> HelmDependenciesConfig:
    return HelmDependenciesConfig(
        revision=REV,
        chart_sha256=digest(FILES),
        subchart_sha256={"nvidia-device-plugin-0.16.1": REMOTE_SHA},
        **overrides,
    )


ARCHIVES = {"nvidia-device-plugin-0.16.1.tgz": REMOTE, "mpi-operator-0.1.0.tgz": b"packed from the folder"}


def test_bundle_holds_the_verified_chart_and_pinned_archives_only(server, helm, tmp_path):
    url, _ = server
    bundle, sha = chart_bundle.build_bundle(
        config(), tmp_path / "out", helm=helm(ARCHIVES), url_template=url, log=lambda line: None
    )
    assert bundle.name == f"hyperpod-chart-bundle-{REV}.tgz"
    assert hashlib.sha256(bundle.read_bytes()).hexdigest() == sha
    with tarfile.open(bundle) as tar:
        names = sorted(tar.getnames())
        assert all(m.mtime == 0 and m.uid == 0 for m in tar.getmembers())
    top = f"hyperpod-chart-bundle-{REV}"
    assert names == [
        top,
        f"{top}/Chart.yaml",
        f"{top}/charts",
        f"{top}/charts/mpi-operator",
        f"{top}/charts/mpi-operator/Chart.yaml",
        f"{top}/charts/nvidia-device-plugin-0.16.1.tgz",
        f"{top}/values.yaml",
    ]
    # The same revision and pins give the same bytes: the sha256 can be pinned in the config.
    again, sha_again = chart_bundle.build_bundle(
        config(), tmp_path / "again", helm=helm(ARCHIVES), url_template=url, log=lambda line: None
    )
    assert sha_again == sha and again.read_bytes() == bundle.read_bytes()


def test_the_installer_accepts_the_bundle(server, helm, tmp_path):
    """The handler's own S3-source path: extract under the bundle's top directory and verify."""
    import time

    url, _ = server
    bundle, _ = chart_bundle.build_bundle(
        config(), tmp_path / "out", helm=helm(ARCHIVES), url_template=url, log=lambda line: None
    )
    index = chart_bundle.handler_module()
    chart = index.extract_chart(
        bundle, tmp_path / "x", top=f"hyperpod-chart-bundle-{REV}", subdir="", until=time.monotonic() + 30, revision=REV
    )
    assert index.verify_chart_tree(chart, digest(FILES)) == 3


def test_a_tampered_download_fails_the_build(server, helm, tmp_path):
    url, _ = server
    with pytest.raises(Exception, match="no archive in charts/ matches the pinned sha256"):
        chart_bundle.build_bundle(
            config(),
            tmp_path / "out",
            helm=helm({"nvidia-device-plugin-0.16.1.tgz": b"evil"}),
            url_template=url,
            log=lambda line: None,
        )
    assert not (tmp_path / "out" / f"hyperpod-chart-bundle-{REV}.tgz").exists()


def test_a_changed_chart_fails_the_build(server, helm, tmp_path):
    url, files = server
    files[f"/archive/{REV}.tar.gz"] = tarball({**FILES, "values.yaml": b"a: 2\n"})
    try:
        with pytest.raises(Exception, match="do not match the pinned chart_sha256"):
            chart_bundle.build_bundle(
                config(), tmp_path / "out", helm=helm(ARCHIVES), url_template=url, log=lambda line: None
            )
    finally:
        files[f"/archive/{REV}.tar.gz"] = tarball(FILES)


def test_pins_of_another_revision_list_only_remote_archives(server, helm):
    url, _ = server
    chart_sha, archives = chart_bundle.print_pins(
        chart_bundle.probe_config(REV), helm=helm(ARCHIVES), url_template=url, log=lambda line: None
    )
    assert chart_sha == digest(FILES)
    assert archives == {"nvidia-device-plugin-0.16.1": REMOTE_SHA}


def test_upload_sends_an_s3_checksum_preflight_can_compare(tmp_path, monkeypatch):
    import boto3
    from moto import mock_aws

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    bundle = tmp_path / "b.tgz"
    bundle.write_bytes(b"bundle bytes")
    sha = hashlib.sha256(b"bundle bytes").hexdigest()
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-west-2")
        s3.create_bucket(Bucket="artifacts", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        chart_bundle.upload(bundle, "s3://artifacts/charts/b.tgz", sha, s3=s3)
        head = s3.head_object(Bucket="artifacts", Key="charts/b.tgz", ChecksumMode="ENABLED")
    assert base64.b64decode(head["ChecksumSHA256"]).hex() == sha


def test_cli_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "hyperpod.yaml"
    bad.write_text("name: x\n")
    assert chart_bundle.main(["build", "--config", str(bad), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
