"""Fetching the chart source (an https URL or S3) and extracting its chart folder, under byte, member
and time limits."""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import tarfile
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from helm_spec import _S3_URI, HandlerError

MAX_DOWNLOAD_BYTES = 256 * 1024 * 1024
# The repository archive at v3.9.0 is 8.4 MiB and 680 members uncompressed; the caps leave room
# for growth while refusing a gzip bomb or a header flood before it costs memory or time.
MAX_EXTRACTED_BYTES = 128 * 1024 * 1024
MAX_MEMBERS = 20_000
READ_CHUNK = 64 * 1024
# One blocking socket read may last this long; the download loop checks the deadline between reads.
SOCKET_TIMEOUT_SECONDS = 10.0


# --------------------------------------------------------------------------- download


def _copy_stream(
    read: Callable[[int], bytes], dest: Path, *, what: str, until: float, clock: Callable[[], float]
) -> str:
    """Copy chunks into ``dest`` until EOF; refuse oversize and stop at ``until``; return the sha256."""
    digest = hashlib.sha256()
    size = 0
    with dest.open("wb") as out:
        while True:
            if clock() > until:
                raise HandlerError(f"downloading {what} did not finish in time; refusing it")
            chunk = read(READ_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_DOWNLOAD_BYTES:
                raise HandlerError(f"{what} is larger than {MAX_DOWNLOAD_BYTES} bytes; refusing it")
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def download_url(url: str, dest: Path, *, until: float, clock: Callable[[], float] = time.monotonic) -> str:
    """Stream ``url`` into ``dest`` (redirects followed) under an overall deadline; return its sha256.

    ``read1`` returns whatever one socket read brings, so a server that trickles bytes cannot keep
    a single read (and the deadline check) waiting; a silent server hits the socket timeout.
    """
    request = urllib.request.Request(url, headers={"User-Agent": "hyperpod-cdk-helm-dependencies"})
    timeout = max(min(SOCKET_TIMEOUT_SECONDS, until - clock()), 0.5)
    try:
        with _open_before(request, timeout=timeout, until=until, clock=clock) as response:
            return _copy_stream(response.read1, dest, what=url, until=until, clock=clock)
    except urllib.error.HTTPError as exc:
        raise HandlerError(f"downloading {url} failed: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise HandlerError(f"downloading {url} failed: {getattr(exc, 'reason', exc)}") from None


def _open_before(request: urllib.request.Request, *, timeout: float, until: float, clock: Callable[[], float]) -> Any:
    """``urlopen`` that gives up at ``until``: the socket timeout applies per read, so a server that
    sends its status line and headers a byte at a time would otherwise hold the request open far past
    the deadline. The connection is opened in a daemon thread and abandoned when the deadline passes."""
    outcome: dict[str, Any] = {}

    def open_it() -> None:
        try:
            outcome["response"] = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - http(s) only
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=open_it, name="download-open", daemon=True)
    worker.start()
    worker.join(max(until - clock(), 0))
    if worker.is_alive():
        raise HandlerError(f"downloading {request.full_url} failed: no response before the deadline")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["response"]


class S3Client(Protocol):
    def get_object(self, *, Bucket: str, Key: str) -> Mapping[str, Any]: ...  # noqa: N803


def download_s3(
    s3: S3Client, uri: str, dest: Path, *, until: float, clock: Callable[[], float] = time.monotonic
) -> str:
    match = _S3_URI.fullmatch(uri)
    if match is None:
        raise HandlerError(f"{uri!r} is not s3://bucket/key")
    bucket, key = match.groups()
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    except Exception as exc:  # botocore ClientError, without importing botocore here
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        hint = " (build and upload it with `make chart-bundle`)" if code in ("NoSuchKey", "404") else ""
        raise HandlerError(f"reading {uri} failed: {exc}{hint}") from None
    try:
        return _copy_stream(body.read, dest, what=uri, until=until, clock=clock)
    except HandlerError:
        raise
    except Exception as exc:  # botocore read timeouts and connection errors
        raise HandlerError(f"reading {uri} failed: {exc}") from None
    finally:
        body.close()


# --------------------------------------------------------------------------- streamed, capped extraction


class _CappedReader:
    """A file-like view that stops after ``limit`` decompressed bytes or at ``until``."""

    def __init__(self, raw: Any, *, limit: int, until: float, clock: Callable[[], float]) -> None:
        self._raw = raw
        self._limit = limit
        self._until = until
        self._clock = clock
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        if self._clock() > self._until:
            raise HandlerError("extracting the archive did not finish in time; refusing it")
        if size is None or size < 0:
            size = self._limit - self.count + 1
        try:
            data: bytes = self._raw.read(size)
        except (OSError, EOFError, zlib.error) as exc:
            raise HandlerError(f"the archive is not a readable gzip stream: {exc}") from None
        self.count += len(data)
        if self.count > self._limit:
            raise HandlerError(f"the archive expands to more than {self._limit} bytes; refusing it")
        return data


def _member_path(name: str) -> PurePosixPath:
    if not name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise HandlerError(f"archive member {name!r} has an absolute path; refusing the archive")
    if any(ch in name for ch in ("\\", "\n", "\r", "\x00")):
        raise HandlerError(f"archive member {name!r} has a backslash or control character; refusing the archive")
    parts = [p for p in name.split("/") if p != ""]
    if any(p in (".", "..") for p in parts):
        raise HandlerError(f"archive member {name!r} leaves the extraction directory; refusing the archive")
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


def extract_chart(
    archive: Path,
    dest: Path,
    *,
    top: str,
    subdir: str,
    until: float,
    clock: Callable[[], float] = time.monotonic,
    revision: str | None = None,
) -> Path:
    """Extract ``<top>/<subdir>/`` of a gzip tarball into ``dest``; return the chart directory.

    The tarball is read as a stream: members are checked one at a time and the reader refuses more
    than MAX_MEMBERS members, MAX_EXTRACTED_BYTES decompressed bytes (headers included) or a
    stream still running at ``until``, so neither a header flood nor a gzip bomb is processed
    first and refused later. Every member must sit under ``top`` (the revision's own directory).
    Inside the chart folder only regular files and directories are accepted: a symlink, hardlink,
    device or FIFO refuses the archive (the chart has none at any pinned revision), which also
    rules out link chains that pass a per-link check. Files are created with O_EXCL|O_NOFOLLOW.
    """
    prefix = PurePosixPath(top, subdir) if subdir else PurePosixPath(top)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    members = 0
    wanted = 0
    written = 0  # bytes written to disk: the stream cap alone misses what a member expands to
    try:
        with archive.open("rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
            reader = _CappedReader(unzipped, limit=MAX_EXTRACTED_BYTES, until=until, clock=clock)
            with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
                for member in tar:
                    members += 1
                    if members > MAX_MEMBERS:
                        raise HandlerError(f"the archive has more than {MAX_MEMBERS} members; refusing it")
                    path = _member_path(member.name)
                    if path.parts[:1] != (top,):
                        raise HandlerError(
                            f"archive member {member.name!r} is outside {top}/; the archive is not the one of "
                            "this revision"
                        )
                    inside = path == prefix or prefix in path.parents
                    if not inside:
                        continue
                    if member.issparse():
                        # A sparse member expands holes to zeros on extraction: bytes the stream cap never sees.
                        raise HandlerError(f"archive member {member.name!r} is a sparse file; refusing the archive")
                    if not (member.isreg() or member.isdir()):
                        kind = "link" if (member.issym() or member.islnk()) else "special file"
                        raise HandlerError(
                            f"archive member {member.name!r} is a {kind}; the chart may hold only files and "
                            "folders, refusing the archive"
                        )
                    target = root.joinpath(*path.parts)
                    wanted += 1
                    if member.isdir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    source = tar.extractfile(member)
                    assert source is not None
                    try:
                        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
                    except FileExistsError:
                        raise HandlerError(
                            f"archive member {member.name!r} appears twice; refusing the archive"
                        ) from None
                    with os.fdopen(fd, "wb") as out:
                        while chunk := source.read(READ_CHUNK):
                            written += len(chunk)
                            if written > MAX_EXTRACTED_BYTES:
                                raise HandlerError(
                                    f"the chart extracts to more than {MAX_EXTRACTED_BYTES // (1024 * 1024)} MiB; "
                                    "refusing the archive"
                                )
                            out.write(chunk)
                comment = tar.pax_headers.get("comment")
    except tarfile.TarError as exc:
        raise HandlerError(f"the source archive is not a readable tarball: {exc}") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise HandlerError(f"the source archive is not a readable gzip tarball: {exc}") from None
    # git archive (which GitHub runs) records the commit in a pax global header.
    if revision is not None and comment is not None and comment != revision:
        raise HandlerError(f"the archive says it is commit {comment}, not {revision}; refusing it")
    chart_dir = root.joinpath(*prefix.parts)
    if wanted == 0 or not chart_dir.is_dir():
        raise HandlerError(f"the archive has no {prefix}/ folder")
    if not (chart_dir / "Chart.yaml").is_file():
        raise HandlerError(f"{prefix}/Chart.yaml is missing")
    return chart_dir
