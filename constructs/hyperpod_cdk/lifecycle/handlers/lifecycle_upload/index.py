"""CloudFormation custom resource: copy the synthesized lifecycle scripts into their content-hash prefix.

HyperPod runs ``on_create.sh`` from that prefix as root on every node it creates, replaces or adds, so
the only thing this function may ever write there is what ``cdk synth`` packaged (review round 15,
platform, H2: aws-cdk-lib's BucketDeployment handler, which this replaces, took its sources, its
destination prefix and byte-for-byte text substitutions from the event, so one forged invoke could
rewrite the live ``on_create.sh``).

**Fixed at deploy by CloudFormation, never by the event.** Everything it acts on is in the function's
environment (``LIFECYCLE_UPLOAD_SPEC``, JSON): the asset objects (bucket and key of each zip CDK
uploaded), the values CloudFormation resolved for each zip's markers (deploy-time values such as a file
system id in a generated JSON file), the destination bucket and the prefix. Changing it takes
``lambda:UpdateFunctionConfiguration``; invoking the function only re-copies the same files. The event
is read for its request type and where to answer (the shared ``cfn_response``), nothing else.

Create and Update copy every file of every zip, in the spec's order, into ``<prefix><path>`` (later
zips may not repeat a path: the construct refuses that at synth). Delete copies nothing and deletes
nothing: nodes of a running cluster re-run the scripts of their prefix when they are replaced, so old
prefixes stay, as ``BucketDeployment(prune=False, retain_on_delete=True)`` kept them.
"""

from __future__ import annotations

import json
import os
import posixpath
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# In the Lambda the shared cfn_response.py sits next to this file (copied in at synth by
# hyperpod_cdk._handler_functions); loaded from the source tree (tests), the shared folder is added.
_SHARED = Path(__file__).resolve().parent.parent.parent.parent / "kubernetes" / "handlers" / "shared"
if _SHARED.is_dir() and str(_SHARED) not in sys.path:
    sys.path.append(str(_SHARED))

from cfn_response import Outcome, send_response  # noqa: E402

SPEC_ENV = "LIFECYCLE_UPLOAD_SPEC"
PHYSICAL_ID = "hyperpod-cdk-lifecycle-scripts"
#: What one deploy may write: the zips go through /tmp (the function has TMP_BYTES of it) and each
#: member is streamed to S3, so memory holds one upload part at a time, not a file (review round 16, M1).
MAX_EXPANDED_BYTES = 1536 * 1024 * 1024
#: A file with markers (a generated JSON document) is read whole to substitute them: it is kilobytes.
MAX_MARKED_BYTES = 16 * 1024 * 1024


class SpecError(ValueError):
    """The environment's spec is missing or malformed (a function not deployed by this construct)."""


def load_spec(environ: Mapping[str, str]) -> dict[str, Any]:
    try:
        spec = json.loads(environ[SPEC_ENV])
    except (KeyError, ValueError) as exc:
        raise SpecError(f"{SPEC_ENV} is missing or not JSON: {exc}") from None
    sources = spec.get("sources") if isinstance(spec, dict) else None
    if not isinstance(sources, list) or not all(
        isinstance(s, dict) and isinstance(s.get("bucket"), str) and isinstance(s.get("key"), str) for s in sources
    ):
        raise SpecError(f"{SPEC_ENV} has no list of sources with a bucket and a key")
    prefix = spec.get("prefix")
    if not isinstance(spec.get("bucket"), str) or not isinstance(prefix, str) or not prefix.startswith("lifecycle/"):
        raise SpecError(f"{SPEC_ENV} names no destination bucket and lifecycle/ prefix")
    return dict(spec)


def _member_path(name: str) -> str | None:
    """The zip member's relative path, or None for a folder entry; refuses an absolute or escaping path."""
    if name.endswith("/"):
        return None
    path = posixpath.normpath(name)
    if path.startswith(("/", "../")) or path in ("..", ".") or "\\" in name:
        raise ValueError(f"zip member {name!r} is not a relative path inside the prefix")
    return path


def _substituted(data: bytes, markers: Mapping[str, Any], json_escape: bool) -> bytes:
    for marker, value in markers.items():
        text = json.dumps(str(value))[1:-1] if json_escape else str(value)
        data = data.replace(str(marker).encode(), text.encode())
    return data


def upload(spec: Mapping[str, Any], s3: Any) -> list[str]:
    """Copy every file of the spec's zips into the destination prefix; returns the keys written.

    Each zip is downloaded to a temporary file and each member streamed to S3 (``upload_fileobj``), so a
    large staged file (an installer next to the scripts) needs disk, not memory; the sizes are checked
    against the caps before anything is written, so an oversized source fails at once, naming itself.
    """
    written: list[str] = []
    budget = MAX_EXPANDED_BYTES
    for source in spec["sources"]:
        markers = source.get("markers") or {}
        # Before the download: /tmp holds one zip, and a zip past the cap would fill it first (review round 17, L2).
        size = s3.head_object(Bucket=source["bucket"], Key=source["key"])["ContentLength"]
        if size > budget:
            raise ValueError(
                f"{source['key']} is {size // 2**20} MiB, over what one deploy may copy "
                f"({MAX_EXPANDED_BYTES // 2**20} MiB in all): keep large files out of the scripts folder"
            )
        with tempfile.TemporaryFile() as body:
            s3.download_fileobj(source["bucket"], source["key"], body)
            body.seek(0)
            with zipfile.ZipFile(body) as archive:
                members = [(info, _member_path(info.filename)) for info in archive.infolist()]
                for info, _path in members:
                    budget -= info.file_size
                    if budget < 0:
                        raise ValueError(
                            f"the lifecycle assets expand past {MAX_EXPANDED_BYTES // 2**20} MiB at "
                            f"{info.filename} ({source['key']}): keep large files out of the scripts folder"
                        )
                    if markers and info.file_size > MAX_MARKED_BYTES:
                        raise ValueError(f"{info.filename} has deploy-time values and is over {MAX_MARKED_BYTES} bytes")
                for info, path in members:
                    if path is None:
                        continue
                    key = spec["prefix"] + path
                    if markers:
                        data = _substituted(archive.read(info), markers, bool(source.get("json_escape")))
                        s3.put_object(Bucket=spec["bucket"], Key=key, Body=data)
                    else:
                        with archive.open(info) as member:
                            s3.upload_fileobj(member, spec["bucket"], key)
                    written.append(key)
    return written


def process(event: Mapping[str, Any], s3: Any, spec: Mapping[str, Any]) -> Outcome:
    request = event.get("RequestType")
    data = {"BucketName": spec["bucket"], "Prefix": spec["prefix"]}
    if request in ("Create", "Update"):
        keys = upload(spec, s3)
        print(f"wrote {len(keys)} files under s3://{spec['bucket']}/{spec['prefix']}")
    elif request != "Delete":
        raise ValueError(f"unknown RequestType {request!r}")
    # Delete keeps the files (see the module docstring); its physical id is whatever CloudFormation holds.
    physical = str(event.get("PhysicalResourceId") or PHYSICAL_ID) if request == "Delete" else PHYSICAL_ID
    return Outcome("SUCCESS", physical, data=data)


def handler(event: Mapping[str, Any], context: Any) -> None:
    import boto3

    print(json.dumps({key: value for key, value in event.items() if key in ("RequestType", "LogicalResourceId")}))
    log_stream = getattr(context, "log_stream_name", "")
    try:
        outcome = process(event, boto3.client("s3"), load_spec(os.environ))
    except Exception as error:  # every failure goes back to CloudFormation, never a timeout
        print(f"FAILED: {error!r}")
        fallback = str(event.get("PhysicalResourceId") or PHYSICAL_ID)
        outcome = Outcome("FAILED", fallback, reason=str(error) or type(error).__name__)
    send_response(event, outcome, log_stream=log_stream)
