"""Lambda assets for the Kubernetes handlers: the handler's folder plus the shared modules it imports.

The staging lives in :mod:`hyperpod_cdk._handler_functions` (below every construct layer, so the
scheduler-config and Grafana handlers use it too); this module keeps its old import path.
"""

from __future__ import annotations

from pathlib import Path

from hyperpod_cdk._handler_functions import (
    SHARED_DIR,
    SHARED_MODULES,
    SHARED_SPECS,
    SPECS_DIR,
    handler_code,
    staged_handler_dir,
)

HANDLERS_DIR = Path(__file__).resolve().parent / "handlers"

__all__ = [
    "HANDLERS_DIR",
    "SHARED_DIR",
    "SHARED_MODULES",
    "SHARED_SPECS",
    "SPECS_DIR",
    "handler_code",
    "staged_handler_dir",
]
