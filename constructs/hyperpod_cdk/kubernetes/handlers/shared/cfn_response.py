"""The CloudFormation side of a custom-resource handler: the properties as CloudFormation sends them,
and the answer PUT to the request's presigned ``ResponseURL``.

Standard library only. The synth copies this file into the asset of each handler that answers
CloudFormation itself (``hyperpod_cdk._handler_functions``); the handlers import it as ``cfn_response``.

The answer is retried: a lost response leaves the stack waiting until ServiceTimeout, and Lambda
retries an asynchronous invoke that raised, which would run the whole request (a second Create) again.
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-responses.html

It goes only to CloudFormation's own response bucket (round 6b, L6): an invoke that names another
``ResponseURL`` would otherwise have the handler PUT its answer (reasons, ``Data``) wherever it says.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, field
from typing import Any

#: Properties CloudFormation adds to every custom resource event; never part of a synthesized spec.
CFN_PROPERTIES = frozenset({"ServiceToken", "ServiceTimeout"})
RESPONSE_ATTEMPTS = 4
# The whole response object may be at most 4096 bytes; the reason gets most of it.
REASON_LIMIT = 3000


@dataclass(frozen=True)
class Outcome:
    """What one request came to: the answer's status, physical id, reason and ``Data``."""

    status: str
    physical_id: str
    reason: str = ""
    data: dict[str, str] = field(default_factory=dict)


def canonical(value: Any, *, none: str = "None", ignore: Set[str] = frozenset()) -> Any:
    """A value as CloudFormation hands it to the function: every scalar a string (booleans
    ``true``/``false``, None as ``none``), without the mapping keys in ``ignore`` at any depth."""
    if isinstance(value, Mapping):
        return {str(k): canonical(v, none=none, ignore=ignore) for k, v in value.items() if k not in ignore}
    if isinstance(value, list | tuple):
        return [canonical(v, none=none, ignore=ignore) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return none
    return str(value)


# CloudFormation answers custom resources through a presigned URL into its bucket
# ``cloudformation-custom-resource-response-<Region without dashes>`` ("uswest2"), one per Region
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/vpc-interface-endpoints.html), in the
# S3 virtual-hosted forms: the global ``.s3.amazonaws.com``, the Regional ``.s3.<region>.`` and the
# legacy ``.s3-<region>.``, under ``amazonaws.com`` or, in the China partition, ``amazonaws.com.cn``.
# The bucket is the one of the function's own Region (``AWS_REGION``, which Lambda always sets:
# https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime):
# S3 reserves no bucket-name prefix, so ``...-response-anything`` could be anyone's (review round 9, L7).
_RESPONSE_HOST = re.compile(
    r"cloudformation-custom-resource-response-(?P<bucket_region>[a-z0-9]+)"
    r"\.s3(?:[.-](?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9]+))?\.amazonaws\.com(?:\.cn)?"
)


def is_cloudformation_response_url(url: object, region: str | None = None) -> bool:
    """Whether ``url`` is an https URL into CloudFormation's response bucket of ``region`` (default: the
    function's own, ``AWS_REGION``); the host's Region, when it names one, is that Region too. The
    tests' single seam: they replace this function in the loaded module to answer a local server; nothing
    a deployed function reads can widen it (``AWS_REGION`` is set by Lambda, not by the stack)."""
    region = os.environ.get("AWS_REGION", "") if region is None else region
    if not isinstance(url, str) or not region:
        return False
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    match = _RESPONSE_HOST.fullmatch(parts.hostname or "")
    if parts.scheme != "https" or port not in (None, 443) or parts.username is not None or match is None:
        return False
    if match["bucket_region"] != region.lower().replace("-", ""):
        return False
    return match["region"] is None or match["region"] == region.lower()


def _fitting(text: str, limit: int) -> str:
    """The longest start of ``text`` whose JSON form (UTF-8, escapes included) fits in ``limit`` bytes:
    quotes and control characters grow when escaped (review round 12, tools, L2)."""

    def size(part: str) -> int:
        return len(json.dumps(part, ensure_ascii=False).encode("utf-8", "replace"))

    if size(text) <= limit:
        return text
    low, high = 0, min(len(text), limit)  # each character takes at least one byte
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if size(text[:middle]) <= limit else (low, middle - 1)
    return text[:low]


def _origin(url: object) -> str:
    """``https://host`` of a URL, for the log: never its path or query (a presigned URL's signature), user
    information or port."""
    try:
        parts = urllib.parse.urlsplit(url) if isinstance(url, str) else None
    except ValueError:
        parts = None
    return f"{parts.scheme}://{parts.hostname or ''}"[:200] if parts else f"not a URL: {type(url).__name__}"


def send_response(
    event: Mapping[str, Any],
    outcome: Outcome,
    *,
    log_stream: str = "",
    attempts: int = RESPONSE_ATTEMPTS,
    opener: Callable[..., Any] = urllib.request.urlopen,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """PUT the outcome to the event's ResponseURL, retried with backoff; raises after the last attempt.
    A ResponseURL that is not CloudFormation's (:func:`is_cloudformation_response_url`) is logged, by
    its scheme and host only, and nothing is sent.

    ``log_stream``: named in the reason of a failure, so the stack event says where the details are.
    """
    url = event.get("ResponseURL")
    if not is_cloudformation_response_url(url):
        print(f"not sending the response: ResponseURL is not CloudFormation's response bucket ({_origin(url)})")
        return
    reason = outcome.reason or "OK"
    if log_stream and outcome.status == "FAILED":
        reason = f"{reason} (CloudWatch log stream {log_stream})"
    body = {
        "Status": outcome.status,
        # Cut by UTF-8 bytes, not characters: the whole response must stay under 4,096 bytes, and a
        # non-ASCII reason cut at 3,000 characters could be 12,000 bytes (review round 11, tools, L3).
        "Reason": _fitting(reason, REASON_LIMIT),
        "PhysicalResourceId": outcome.physical_id,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "NoEcho": False,
        "Data": dict(outcome.data),
    }
    payload = json.dumps(body, ensure_ascii=False).encode("utf-8", "replace")  # UTF-8, as REASON_LIMIT counts
    request = urllib.request.Request(
        str(url),
        data=payload,
        method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(payload))},
    )
    for attempt in range(1, attempts + 1):
        try:
            # urlopen raises HTTPError (a URLError) for an error status; the body is not needed.
            with opener(request, timeout=30):  # noqa: S310 - the presigned S3 URL from CloudFormation
                return
        except (urllib.error.URLError, OSError) as exc:
            print(f"sending the response failed (attempt {attempt}): {exc}")
            if attempt == attempts:
                raise
            sleep(min(2**attempt, 10))
