#!/usr/bin/env python3
"""CDK entry point: `cdk synth -c config=hyperpod.yaml`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# jsii must run on a supported Node: prefer the Node 24 the venv ships (see Makefile).
_venv_node = Path(sys.executable).with_name("node")
if "JSII_NODE" not in os.environ and _venv_node.exists():
    os.environ["JSII_NODE"] = str(_venv_node)

import aws_cdk as cdk  # noqa: E402

from hyperpod_cdk.config import load_config  # noqa: E402
from hyperpod_cdk.errors import HyperPodConfigError  # noqa: E402
from infra.app_builder import add_platform, config_path  # noqa: E402


def main() -> int:
    app = cdk.App()
    path = config_path(app.node.try_get_context("config"))
    try:
        config = load_config(path)
        add_platform(app, config)
    except HyperPodConfigError as error:
        # One line naming the field; no traceback.
        print(f"error: {path.name}: {error}", file=sys.stderr)
        return 1
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
