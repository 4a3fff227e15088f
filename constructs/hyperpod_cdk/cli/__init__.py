"""``hyperpod-cdk``: the ops CLI (preflight, diagnose, nodes).

The CLI reads the same ``hyperpod.yaml`` as the CDK app but never imports ``aws_cdk``: start-up
stays fast and the commands work where Node/jsii are not installed. Subnet sizing comes from
:mod:`hyperpod_cdk.specs.network_plan` and :mod:`hyperpod_cdk.specs.instance_types`, the same code the
constructs use.
"""

from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI (see :func:`hyperpod_cdk.cli.main.main`)."""
    from hyperpod_cdk.cli.main import main as _main

    return _main(argv)
