"""The chart tree digest and the sub-chart archives kept only when their sha256 is pinned."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from helm_fetch import READ_CHUNK
from helm_spec import ArchivePin, HandlerError

_BUILT_ARCHIVE = re.compile(r"^charts/[^/]+\.tgz$")


# --------------------------------------------------------------------------- integrity


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def chart_tree_digest(chart_dir: Path) -> tuple[str, int]:
    """sha256 over ``"<sha256>  <path>\\n"`` per file, sorted by path; ``Chart.lock`` and
    ``charts/*.tgz`` (rewritten by ``helm dependency build``) left out. Returns (digest, files)."""
    lines: list[tuple[bytes, str]] = []
    for dirpath, dirnames, filenames in os.walk(chart_dir):
        for name in dirnames + filenames:
            full = Path(dirpath, name)
            if full.is_symlink():
                raise HandlerError(f"{full.relative_to(chart_dir)} is a link; refusing the chart")
        for name in filenames:
            full = Path(dirpath, name)
            rel = full.relative_to(chart_dir).as_posix()
            if rel == "Chart.lock" or _BUILT_ARCHIVE.fullmatch(rel):
                continue
            if not full.is_file():
                raise HandlerError(f"{rel} is not a regular file; refusing the chart")
            lines.append((rel.encode("utf-8"), _file_sha256(full)))
    lines.sort()
    text = "".join(f"{digest}  {rel.decode('utf-8')}\n" for rel, digest in lines)
    return hashlib.sha256(text.encode("utf-8")).hexdigest(), len(lines)


def verify_chart_tree(chart_dir: Path, expected: str) -> int:
    actual, count = chart_tree_digest(chart_dir)
    if actual != expected:
        raise HandlerError(
            f"the chart's files do not match the pinned chart_sha256 (expected {expected}, got {actual} over "
            f"{count} files); refusing to install them"
        )
    return count


def placeholder_chart(pin: ArchivePin) -> str:
    return (
        f"apiVersion: v2\nname: {pin.name}\nversion: {pin.version}\n"
        "description: Placeholder written by hyperpod-cdk for a disabled dependency without a pinned digest.\n"
    )


def settle_archives(
    chart_dir: Path,
    pins: Sequence[ArchivePin],
    values: Mapping[str, Any],
    log: Callable[[str], None] = print,
    *,
    placeholders: bool = True,
) -> list[str]:
    """Leave in ``charts/`` only archives whose sha256 is pinned; return what was kept.

    Archives ``helm dependency build`` made from local sub-chart folders are removed: those
    folders are already in ``charts/`` and verified by the tree digest, so Helm loads them from
    there. A pinned dependency without a digest must be disabled; it gets a placeholder chart
    (not written with ``placeholders=False``: the chart bundle tool leaves that to the installer).
    """
    charts = chart_dir / "charts"
    charts.mkdir(exist_ok=True)
    by_sha = {p.sha256: p for p in pins if p.sha256}
    kept: dict[str, Path] = {}
    removed: list[str] = []
    for archive in sorted(charts.glob("*.tgz")):
        if archive.is_symlink() or not archive.is_file():
            raise HandlerError(f"charts/{archive.name} is not a regular file; refusing the chart")
        digest = _file_sha256(archive)
        pin = by_sha.get(digest)
        if pin is not None and pin.key not in kept:
            kept[pin.key] = archive
            continue
        archive.unlink()
        removed.append(f"{archive.name} (sha256 {digest})")
    if removed:
        log("removed archives that are not pinned: " + ", ".join(removed))
    for pin in pins:
        if pin.key in kept:
            continue
        if pin.sha256 is not None:
            raise HandlerError(
                f"sub-chart {pin.name} {pin.version}: no archive in charts/ matches the pinned sha256 "
                f"{pin.sha256} (found: {', '.join(removed) or 'none'}); refusing to install"
            )
        if values.get(pin.condition) is not False:
            raise HandlerError(
                f"sub-chart {pin.name} {pin.version} has no pinned digest, so it can only stay disabled; "
                f"set {pin.condition} to false"
            )
        if not placeholders:
            continue
        placeholder = charts / pin.name
        if placeholder.exists():
            raise HandlerError(f"charts/{pin.name} already exists; cannot write the placeholder chart")
        placeholder.mkdir()
        (placeholder / "Chart.yaml").write_text(placeholder_chart(pin))
        log(f"{pin.name} {pin.version}: disabled and not pinned, replaced by a placeholder chart")
    return sorted(kept)
