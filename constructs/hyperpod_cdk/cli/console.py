"""The ``hyperpod-cdk`` console script: the CLI, or one plain line when its extra is missing.

``rich`` (tables, colours) is the ``cli`` extra, not a dependency of the library: a CDK app that
only uses the constructs installs without it. Every CLI module may import it, so the check wraps
the import of the CLI itself rather than each ``import rich``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

INSTALL_HINT = "pip install 'hyperpod-cdk[cli]'"


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hyperpod-cdk``; exit 2 with one line naming the extra if ``rich`` is not installed."""
    try:
        from hyperpod_cdk.cli.main import main as run
    except ImportError as exc:
        if (exc.name or "").partition(".")[0] != "rich":
            raise
        line = f"the hyperpod-cdk CLI needs the 'cli' extra (rich is not installed): {INSTALL_HINT}"
        arguments = list(argv) if argv is not None else sys.argv[1:]
        if "--json" in arguments:  # as cli/output.py prints errors with --json
            print(json.dumps({"error": line, "exit_code": 2}))
        else:
            print(f"error: {line}", file=sys.stderr)
        return 2
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
