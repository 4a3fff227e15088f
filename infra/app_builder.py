"""Compose the CDK app from a config: shared by app.py, the tests and the benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from hyperpod_cdk.config import PlatformConfig
from infra.platform_stack import HyperPodPlatformStack

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "hyperpod.yaml"


def stack_id(config: PlatformConfig) -> str:
    return f"{config.name}-platform"


def add_platform(app: cdk.App, config: PlatformConfig, *, nag: bool = True) -> HyperPodPlatformStack:
    """Add the platform stack to ``app`` and, by default, the cdk-nag AwsSolutions pack."""
    if nag:
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return HyperPodPlatformStack(app, stack_id(config), config=config)


def config_path(context_value: object) -> Path:
    """The file named by ``-c config=...`` (relative paths from the repo root), else hyperpod.yaml."""
    if context_value in (None, ""):
        return DEFAULT_CONFIG
    path = Path(str(context_value))
    return path if path.is_absolute() else REPO_ROOT / path


def remove_stale_templates(outdir: Path) -> list[Path]:
    """Delete stack templates, asset manifests and stack metadata in ``outdir`` that its manifest.json
    no longer names.

    The CDK CLI writes into the same cdk.out every time and deletes nothing: after the platform's
    ``name`` changes, the previous stack's template would stay next to the new one, where tools
    that scan the folder (``cfn-lint cdk.out/*.template.json``, ``checkov -d cdk.out``) still find it.
    """
    manifest = json.loads((outdir / "manifest.json").read_text(encoding="utf-8"))
    current: set[str] = set()
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        current.add(f"{artifact_id}.metadata.json")
        properties = artifact.get("properties") or {}
        for key in ("templateFile", "file"):
            if isinstance(properties.get(key), str):
                current.add(Path(properties[key]).name)
    removed = []
    for pattern in ("*.template.json", "*.assets.json", "*.metadata.json"):
        for file in outdir.glob(pattern):
            if file.name not in current and not file.name.endswith(".nested.template.json"):
                file.unlink()
                removed.append(file)
    return sorted(removed)
