"""Read a ``cdk.out`` for ``hyperpod-cdk lint`` within caps: what ``cdk synth`` writes, nothing else.

The directory may come from anyone (a pull request's build): it is walked without following links and
without entering ``asset.*`` directories; templates and manifests must be regular files; the number of
templates, the bytes read and the JSON values are capped. A cap is one line (:class:`CdkOutError`).
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hyperpod_cdk.input_limits import TEMPLATE_LIMITS, InputLimitError, load_json_counted
from hyperpod_cdk.rules.cfn_template import EvaluationBudget, Resolved, resolve_template

Json = Any


class CdkOutError(ValueError):
    """A cdk.out lint does not read; the message is one line naming the path and the cap."""


# What one cdk.out may hold for lint: a real one has a few templates of some 100 KB (this project's: one to
# three, under 150 KB each) and tens of entries besides the assets. Past a cap the directory is refused in one
# line (exit 2), not read: thousands of templates, or nested assemblies, multiplied time and memory.
MAX_CDK_OUT_TEMPLATES = 500
MAX_CDK_OUT_BYTES = 32 << 20  # templates and manifests read, in all
MAX_CDK_OUT_VALUES = 2 * TEMPLATE_LIMITS.max_nodes  # JSON values of all templates
MAX_CDK_OUT_ENTRIES = 100_000  # directory entries looked at (asset.* directories are not entered)
MAX_CDK_OUT_DEPTH = 8  # nested assemblies (assembly-<stage>/...)


def _cdk_out_files(directory: Path) -> tuple[list[Path], list[Path]]:
    """The templates and manifests of a cdk.out, found within the caps; links and special files refused.

    Links are not followed: a template or manifest that is a symbolic link (to /dev/zero, a FIFO, a file
    outside the directory) is refused, and a linked directory is not entered.
    """
    templates: list[Path] = []
    manifests: list[Path] = []
    entries = 0
    todo = [(directory, 0)]
    while todo:
        folder, depth = todo.pop()
        try:
            with os.scandir(folder) as listing:
                found = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            raise CdkOutError(f"{folder}: cannot list it ({exc.strerror})") from None
        for entry in found:
            entries += 1
            if entries > MAX_CDK_OUT_ENTRIES:
                raise CdkOutError(f"{directory}: more than {MAX_CDK_OUT_ENTRIES:,} entries; not a cdk.out lint reads")
            wanted = entry.name.endswith(".template.json") or entry.name == "manifest.json"
            if entry.is_dir(follow_symlinks=False):
                if depth + 1 > MAX_CDK_OUT_DEPTH:
                    raise CdkOutError(f"{entry.path}: nested more than {MAX_CDK_OUT_DEPTH} levels in {directory}")
                if not entry.name.startswith("asset."):
                    todo.append((Path(entry.path), depth + 1))
            elif wanted and not entry.is_file(follow_symlinks=False):
                raise CdkOutError(f"{entry.path}: a symbolic link, pipe or device, not a file cdk synth writes")
            elif wanted:
                (manifests if entry.name == "manifest.json" else templates).append(Path(entry.path))
                if len(templates) > MAX_CDK_OUT_TEMPLATES:
                    raise CdkOutError(f"{directory}: more than {MAX_CDK_OUT_TEMPLATES} templates; lint fewer at a time")
    return sorted(templates), sorted(manifests)


class _CdkOutReader:
    """Reads the files of one cdk.out within MAX_CDK_OUT_BYTES and MAX_CDK_OUT_VALUES in all."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.bytes_left = MAX_CDK_OUT_BYTES
        self.values_left = MAX_CDK_OUT_VALUES

    def load(self, path: Path) -> Json:
        """Parsed JSON of a regular file (opened without following a link and without blocking on a FIFO)."""
        try:
            descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
        except OSError as exc:
            raise CdkOutError(f"{path}: cannot read it ({exc.strerror})") from None
        with os.fdopen(descriptor, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise CdkOutError(f"{path}: a pipe or device, not a file cdk synth writes")
            data = handle.read(max(min(TEMPLATE_LIMITS.max_bytes, self.bytes_left), 0) + 1)
        if len(data) > TEMPLATE_LIMITS.max_bytes:
            raise CdkOutError(f"{path}: too large: more than {TEMPLATE_LIMITS.max_bytes >> 20} MiB")
        self.bytes_left -= len(data)
        if self.bytes_left < 0:
            raise CdkOutError(f"{self.directory}: more than {MAX_CDK_OUT_BYTES >> 20} MiB of templates and manifests")
        try:
            parsed, values = load_json_counted(data.decode("utf-8"), TEMPLATE_LIMITS)
        except InputLimitError as exc:
            raise CdkOutError(f"{path}: {exc}") from None
        except ValueError as exc:  # invalid JSON or UTF-8
            raise CdkOutError(f"{path}: not readable JSON ({str(exc)[:200]})") from None
        self.values_left -= values
        if self.values_left < 0:
            raise CdkOutError(f"{self.directory}: more than {MAX_CDK_OUT_VALUES:,} JSON values in all")
        return parsed


def read_cdk_out(
    directory: Path, region: str | None, parameters: Mapping[str, str] | None = None
) -> tuple[dict[str, Resolved], str | None]:
    """The templates of a cdk.out (path -> template with what is known offline evaluated, and what is not:
    lint reports it as for a template file, review round 17, R17T-M3) and the one region its manifests name
    (None if none or several). ``parameters`` (``lint --parameter``) apply to each template that declares
    them, as for a template file (review round 19, R19T-M1)."""
    paths, manifests = _cdk_out_files(directory)
    if not paths:
        raise CdkOutError(f"{directory}: no *.template.json here; run `cdk synth` (or pass a template file)")
    reader = _CdkOutReader(directory)
    budget = EvaluationBudget()  # one evaluation budget for all the templates
    templates: dict[str, Resolved] = {}
    for path in paths:
        data = reader.load(path)
        if not isinstance(data, Mapping):
            raise CdkOutError(f"{path}: not a template (a JSON object)")
        templates[str(path)] = resolve_template(data, declared_parameters(data, parameters), region, budget)
    return templates, _cdk_region(reader, manifests)


def declared_parameters(template: Mapping[str, Json], parameters: Mapping[str, str] | None) -> dict[str, str]:
    """The given parameters the template declares (a parameter of one stack is not another's)."""
    declared = template.get("Parameters")
    if not parameters or not isinstance(declared, Mapping):
        return {}
    return {name: value for name, value in parameters.items() if name in declared}


def read_template_files(
    paths: Iterable[str | Path], *, parameters: Mapping[str, str] | None = None, region: str | None = None
) -> tuple[dict[str, Resolved], str | None]:
    """Synthesized templates named by path (the CDK plugin's ``template_paths``), resolved as
    :func:`read_cdk_out` does, and the one region the ``manifest.json`` next to them names.

    These are the files of the app being synthesized, read whole; a cdk.out from elsewhere goes through
    :func:`read_cdk_out` and its caps.
    """
    budget = EvaluationBudget()
    templates: dict[str, Resolved] = {}
    folders: dict[Path, None] = {}
    for path in map(Path, paths):
        data = json.loads(path.read_text(encoding="utf-8"))
        templates[str(path)] = resolve_template(data, declared_parameters(data, parameters), region, budget)
        folders[path.parent] = None
    if region is not None or not folders:
        return templates, region
    manifests = [folder / "manifest.json" for folder in folders if (folder / "manifest.json").is_file()]
    return templates, _cdk_region(_CdkOutReader(next(iter(folders))), manifests)


def _cdk_region(reader: _CdkOutReader, manifests: list[Path]) -> str | None:
    """The one region the assembly's stacks name (``aws://account/region``), if they agree.

    Only the region is read from a manifest: the templates linted are the files found, never paths a
    manifest names (which could point outside the directory or name one template many times).
    """
    regions: set[str] = set()
    for manifest in manifests:
        try:
            artifacts = reader.load(manifest).get("artifacts", {})
        except (CdkOutError, AttributeError):
            if reader.bytes_left < 0 or reader.values_left < 0:
                raise  # the directory's caps, not one unreadable manifest
            continue
        for artifact in artifacts.values() if isinstance(artifacts, Mapping) else ():
            environment = str(artifact.get("environment", "")) if isinstance(artifact, Mapping) else ""
            match = re.fullmatch(r"aws://[^/]+/([a-z0-9-]+)", environment)
            if match and match.group(1) != "unknown-region":
                regions.add(match.group(1))
    return regions.pop() if len(regions) == 1 else None
