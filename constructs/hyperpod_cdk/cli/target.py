"""The cluster a CLI command works on (``main.py``): from the arguments, the config (``--config`` or
./hyperpod.yaml) and the environment; a usage error and a config-file error each become one line, exit 2."""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass
from pathlib import Path

from hyperpod_cdk.config import PlatformConfig, load_config
from hyperpod_cdk.config.messages import error_line
from hyperpod_cdk.errors import HyperPodConfigError

DEFAULT_CONFIG = "hyperpod.yaml"


CLUSTER_ARN_REGION = re.compile(r"^arn:aws[a-z\-]*:sagemaker:([a-z0-9\-]+):")


class UsageError(Exception):
    """Bad arguments: one line, exit 2 (printed as JSON with --json)."""


def config_error_line(path: str, exc: HyperPodConfigError) -> str:
    return error_line(path, exc)


class ConfigFileError(Exception):
    """The config named (or found) is invalid: exit 2 with its one-line message."""

    def __init__(self, path: str, error: HyperPodConfigError) -> None:
        super().__init__(error_line(path, error))


@dataclass(frozen=True)
class Target:
    """The cluster a command works on, the region it lives in (None: the AWS default chain), the config."""

    cluster: str
    region: str | None
    config: PlatformConfig | None


def resolve_target(args: argparse.Namespace) -> Target:
    """Cluster and region from the arguments, the config (``--config`` or ./hyperpod.yaml) and AWS_REGION."""
    explicit = args.config is not None
    path = args.config if explicit else DEFAULT_CONFIG
    config: PlatformConfig | None = None
    if explicit or Path(path).is_file():
        try:
            config = load_config(path)
        except HyperPodConfigError as exc:
            # A broken ./hyperpod.yaml matters only when it was asked for or is needed for the cluster.
            if explicit or not args.cluster:
                raise ConfigFileError(path, exc) from None
    cluster = args.cluster
    if not cluster:
        if config is None:
            raise UsageError(f"name the CLUSTER, or pass --config FILE (no ./{DEFAULT_CONFIG} here)")
        cluster = config.hyperpod.cluster_name
    region = args.region
    arn = CLUSTER_ARN_REGION.match(cluster)
    if region is None and arn:
        region = arn.group(1)
    if region is None and config is not None and (explicit or cluster == config.hyperpod.cluster_name):
        region = config.region
    # botocore reads AWS_DEFAULT_REGION but not AWS_REGION (which the AWS CLI v2 and SDKs honour).
    return Target(cluster, region or os.environ.get("AWS_REGION") or None, config)
