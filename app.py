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
from hyperpod_cdk.config.messages import error_line  # noqa: E402
from hyperpod_cdk.errors import HyperPodConfigError  # noqa: E402
from hyperpod_cdk.input_limits import escape_controls  # noqa: E402
from infra.app_builder import add_platform, config_path, remove_stale_templates  # noqa: E402


def main() -> int:
    # aws-cdk-lib's built-in CloudFormation validation costs more than the rest of the synth (make
    # bench); it runs when asked (CDK_VALIDATION=true, as make diff/deploy do) and in make test, next
    # to cfn-lint, which checks the same rules. See docs/feature-flags.md.
    validate = os.environ.get("CDK_VALIDATION", "").lower() == "true"
    app = cdk.App(builtin_cloud_formation_validation=validate)
    path = config_path(app.node.try_get_context("config"))
    try:
        config = load_config(path)
        add_platform(app, config)
    except HyperPodConfigError as error:
        # One line naming the file once and the field; no traceback.
        # Controls escaped (a hostile key must not retitle or clear the terminal), as the CLI does.
        print(f"error: {escape_controls(error_line(path, error, shown_as=path.name))}", file=sys.stderr)
        return 1
    assembly = app.synth()
    # A renamed platform (config `name`) leaves the old stack's template behind otherwise.
    remove_stale_templates(Path(assembly.directory))
    return 0


if __name__ == "__main__":
    sys.exit(main())
