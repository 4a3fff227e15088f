"""The Kubernetes handlers' Lambda assets: each carries its own files and the one shared EKS-auth module,
and each runs from its asset alone (stdlib only at import, nothing from the source tree)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import boto3
import pytest

from hyperpod_cdk.kubernetes import handler_assets
from hyperpod_cdk.kubernetes.handlers.shared import eks_auth
from hyperpod_cdk.specs.kubernetes_names import DNS_LABEL_PATTERN

HANDLERS = handler_assets.HANDLERS_DIR
SPECS = HANDLERS.parents[1] / "specs"
KUBERNETES_HANDLERS = ["helm_dependencies", "readiness", "manifests"]
# The shared modules each handler imports: EKS auth, the CloudFormation response for those that answer it,
# and the manifest-set digest and placeholders the manifest construct uses too.
SHARED_IMPORTED = {
    "helm_dependencies": {"eks_auth.py", "cfn_response.py"},
    "readiness": {"eks_auth.py"},
    "manifests": {"eks_auth.py", "cfn_response.py", "manifest_sets.py"},
}
# The library's specs/ modules a handler carries: the Helm installer's chart pins and Kubernetes name rules.
SPECS_IMPORTED = {"helm_dependencies": {"hyperpod_chart.py", "kubernetes_names.py"}}


@pytest.mark.parametrize("name", KUBERNETES_HANDLERS)
def test_each_staged_asset_is_its_own_files_plus_the_shared_module(name):
    handler_dir = HANDLERS / name
    staged = handler_assets.staged_handler_dir(handler_dir)
    own = {p.name for p in handler_dir.glob("*.py")}
    specs = SPECS_IMPORTED.get(name, set())
    assert {p.name for p in staged.iterdir()} == own | SHARED_IMPORTED[name] | specs
    for file in own:
        assert (staged / file).read_bytes() == (handler_dir / file).read_bytes()
    for shared in SHARED_IMPORTED[name]:
        assert (staged / shared).read_bytes() == (HANDLERS / "shared" / shared).read_bytes()
    for spec in specs:
        assert (staged / spec).read_bytes() == (SPECS / spec).read_bytes()


def test_the_specs_modules_a_handler_carries_are_standard_library_only():
    """A copied specs module must run in the Lambda alone: it may import nothing of the library or PyPI."""
    import ast

    for name in handler_assets.SHARED_SPECS:
        tree = ast.parse((SPECS / name).read_text())
        imported = {
            alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
        }
        imported |= {
            node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
        }
        assert imported <= set(sys.stdlib_module_names) | {"__future__"}, (name, imported)


def test_the_staged_helm_asset_reads_its_archive_pins_with_the_specs_class(tmp_path):
    """The installer's ArchivePin and DNS-label rule are the library's, from the copies in its asset."""
    asset = tmp_path / "asset"
    asset.mkdir()
    for file in handler_assets.staged_handler_dir(HANDLERS / "helm_dependencies").iterdir():
        (asset / file.name).write_bytes(file.read_bytes())
    probe = (
        "import sys; sys.path.insert(0, '.'); import index, helm_spec; "
        "spec = helm_spec.ReleaseSpec.from_mapping({'Revision': 'a' * 40, 'ChartPath': 'helm_chart/C', "
        "'Release': 'r', 'Namespace': 'kube-system', 'ClusterName': 'c', 'ChartSha256': 'b' * 64, "
        "'SourceS3Uri': 's3://bucket/key.tgz', 'Values': {}, 'Archives': [{'Name': 'x', 'Version': '1.0.0', "
        "'Sha256': 'c' * 64}]}); "
        "print(type(spec.archives[0]).__module__, index.ArchivePin.__module__, index.DNS_LABEL.pattern, "
        "spec.archives[0].key)"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe], cwd=asset, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["hyperpod_chart", "hyperpod_chart", DNS_LABEL_PATTERN, "x-1.0.0"]


@pytest.mark.parametrize(
    ("layer", "name", "data"),
    [("cluster", "scheduler_config", []), ("monitoring", "grafana_dashboards", ["dashboards"])],
)
def test_the_handlers_outside_kubernetes_carry_the_shared_response_module_and_their_data(layer, name, data):
    handler_dir = HANDLERS.parents[1] / layer / "handlers" / name
    staged = handler_assets.staged_handler_dir(handler_dir)
    own = {p.name for p in handler_dir.glob("*.py")}
    assert {p.name for p in staged.iterdir()} == own | {"cfn_response.py", *data}
    assert (staged / "cfn_response.py").read_bytes() == (HANDLERS / "shared" / "cfn_response.py").read_bytes()
    for folder in data:
        assert sorted(p.name for p in (staged / folder).iterdir()) == sorted(
            p.name for p in (handler_dir / folder).iterdir()
        )
    assert not list(staged.rglob("*.pyc"))


def test_the_scheduler_config_asset_imports_from_itself_alone(tmp_path):
    """As in the Lambda (boto3 is imported only when the handler runs)."""
    staged = handler_assets.staged_handler_dir(HANDLERS.parents[1] / "cluster" / "handlers" / "scheduler_config")
    probe = "import sys; sys.path.insert(0, '.'); import index; print(index.send_response.__module__)"
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe], cwd=staged, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "cfn_response"


@pytest.mark.parametrize("name", KUBERNETES_HANDLERS)
def test_each_asset_imports_from_itself_alone(name, tmp_path):
    """As in the Lambda: the asset folder on sys.path, no site-packages (-S), no source tree next to it."""
    asset = tmp_path / "asset"
    asset.mkdir()
    for file in handler_assets.staged_handler_dir(HANDLERS / name).iterdir():
        (asset / file.name).write_bytes(file.read_bytes())
    probe = (
        "import sys; sys.path.insert(0, '.'); import index, eks_auth; "
        "print(sorted(m for m in sys.modules if m.startswith(('helm_', 'eks_')) or m == 'index'))"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe], cwd=asset, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "eks_auth" in result.stdout
    assert "hyperpod_cdk" not in result.stdout


def test_the_helm_handler_and_the_cli_use_the_shared_functions():
    from hyperpod_cdk.cli import kube
    from hyperpod_cdk.kubernetes.chart_bundle import handler_module

    assert kube.eks_token is eks_auth.eks_token
    index = handler_module()
    assert index.eks_token.__code__.co_filename == eks_auth.eks_token.__code__.co_filename


def test_only_one_eks_token_and_kubeconfig_writer_exist_in_the_package():
    package = Path(handler_assets.__file__).resolve().parents[1]
    defining = sorted(
        str(p.relative_to(package))
        for p in package.rglob("*.py")
        if "def eks_token(" in p.read_text() or "def write_kubeconfig(" in p.read_text()
    )
    assert defining == ["kubernetes/handlers/shared/eks_auth.py"]


def test_the_token_is_a_presigned_get_caller_identity_bound_to_the_cluster():
    session = boto3.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name="us-west-2")
    token = eks_auth.eks_token(session, "my-eks", "us-west-2")
    assert token.startswith("k8s-aws-v1.") and "=" not in token
    encoded = token.removeprefix("k8s-aws-v1.")
    url = urlparse(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode())
    query = parse_qs(url.query)
    assert url.hostname == "sts.us-west-2.amazonaws.com"
    assert query["Action"] == ["GetCallerIdentity"]
    assert query["X-Amz-Expires"] == [str(eks_auth.TOKEN_EXPIRES_SECONDS)]
    assert "x-k8s-aws-id" in query["X-Amz-SignedHeaders"][0].split(";")


def test_the_kubeconfig_is_private_and_names_the_user(tmp_path):
    path = eks_auth.write_kubeconfig(
        tmp_path / "kc", cluster_name="c", endpoint="https://e", ca_data="Q0E=", token="t", user="readiness"
    )
    assert path.stat().st_mode & 0o777 == 0o600
    config = json.loads(path.read_text())
    assert config["users"] == [{"name": "readiness", "user": {"token": "t"}}]
    assert config["contexts"][0]["context"] == {"cluster": "c", "user": "readiness"}
    assert config["clusters"][0]["cluster"] == {"server": "https://e", "certificate-authority-data": "Q0E="}


def test_a_handler_with_its_own_copy_of_a_shared_module_is_refused(tmp_path):
    (tmp_path / "index.py").write_text("")
    (tmp_path / "eks_auth.py").write_text("")
    with pytest.raises(ValueError, match="eks_auth"):
        handler_assets.staged_handler_dir(tmp_path)


def test_the_wheel_ships_every_handler_module_and_the_shared_one():
    """pyproject's package-data globs cover the split Helm handler and the shared folder (the CLI imports it)."""
    import fnmatch
    import tomllib

    repo = Path(__file__).resolve().parents[1]
    globs = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["hyperpod_cdk"]
    package = repo / "constructs" / "hyperpod_cdk"
    for path in [*(HANDLERS / "helm_dependencies").glob("*.py"), HANDLERS / "shared" / "eks_auth.py"]:
        relative = str(path.relative_to(package))
        assert any(fnmatch.fnmatch(relative, g) for g in globs), relative
