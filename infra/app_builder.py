"""Compose the CDK app from a config: shared by app.py, the tests and the benchmark."""

from __future__ import annotations

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
