"""The answer to CloudFormation: the outcome of one request, PUT to its presigned ResponseURL."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Outcome:
    status: str
    physical_id: str
    reason: str = ""
    data: dict[str, str] = field(default_factory=dict)


def send_response(
    event: Mapping[str, Any],
    outcome: Outcome,
    *,
    log_stream: str = "",
    attempts: int = 4,
    opener: Callable[..., Any] = urllib.request.urlopen,
) -> None:
    reason = outcome.reason or "OK"
    if log_stream:
        reason = f"{reason} (CloudWatch log stream {log_stream})" if outcome.status == "FAILED" else reason
    body = {
        "Status": outcome.status,
        "Reason": reason[:3000],
        "PhysicalResourceId": outcome.physical_id,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "NoEcho": False,
        "Data": outcome.data,
    }
    payload = json.dumps(body).encode("utf-8")
    request = urllib.request.Request(
        event["ResponseURL"],
        data=payload,
        method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(payload))},
    )
    for attempt in range(1, attempts + 1):
        try:
            with opener(request, timeout=30) as response:  # noqa: S310 - the presigned S3 URL from CloudFormation
                response.read()
            return
        except (urllib.error.URLError, OSError) as exc:
            print(f"sending the response failed (attempt {attempt}): {exc}")
            if attempt == attempts:
                raise
            time.sleep(min(2**attempt, 10))
