"""Lambda assets for the Kubernetes handlers: the handler's folder plus the shared modules it imports.

The handlers share one stdlib-only EKS-auth module (``handlers/shared/eks_auth.py``). At synth its file
is copied next to each handler's own files in a staging folder, and that folder is the asset: plain file
copies, so synth needs no network, no Docker and no bundling image. The asset hash follows the staged
content, so a change to the shared module redeploys every handler that carries it.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

from aws_cdk import aws_lambda as lambda_

HANDLERS_DIR = Path(__file__).resolve().parent / "handlers"
SHARED_DIR = HANDLERS_DIR / "shared"
# What every Kubernetes handler imports from the shared folder.
SHARED_MODULES = ("eks_auth.py",)


@functools.cache
def staged_handler_dir(handler_dir: Path) -> Path:
    """A folder with the handler's ``*.py`` files and the shared modules (staged once per process).

    The folder is copied into the cloud assembly at synth; it is removed when the process exits.
    """
    own = {path.name for path in handler_dir.glob("*.py")}
    clash = own.intersection(SHARED_MODULES)
    if clash:
        raise ValueError(f"{handler_dir.name} has its own {sorted(clash)}: rename it, the shared module has that name")
    staging = Path(tempfile.mkdtemp(prefix=f"hyperpod-cdk-{handler_dir.name}-"))
    atexit.register(shutil.rmtree, staging, ignore_errors=True)
    for name in sorted(own):
        shutil.copyfile(handler_dir / name, staging / name)
    for name in SHARED_MODULES:
        shutil.copyfile(SHARED_DIR / name, staging / name)
    return staging


def handler_code(handler_dir: Path) -> lambda_.Code:
    """``lambda_.Code`` of the staged handler folder (see :func:`staged_handler_dir`)."""
    return lambda_.Code.from_asset(str(staged_handler_dir(handler_dir)))
