"""Round 6b, L6: the handlers' shared response code answers only CloudFormation's presigned S3 response URL.

A forged invoke could name any ``ResponseURL`` and have the handler PUT its answer (reasons, ``Data``) there.
CloudFormation's bucket is ``cloudformation-custom-resource-response-<Region without dashes>``
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/vpc-interface-endpoints.html).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

SHARED = Path(__file__).resolve().parent.parent / "constructs/hyperpod_cdk/kubernetes/handlers/shared/cfn_response.py"
_spec = importlib.util.spec_from_file_location("cfn_response_under_test", SHARED)
assert _spec and _spec.loader
cfn_response = sys.modules.setdefault(_spec.name, importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(cfn_response)  # registered first: dataclasses look their module up in sys.modules

SIGNED = "/arn%3Aaws%3Acloudformation%3Aus-west-2%3A1%3Astack/s/g%7CL%7Cr?X-Amz-Signature=abc"


@pytest.mark.parametrize(
    ("url", "region"),
    [
        (f"https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com{SIGNED}", "us-east-1"),
        (f"https://cloudformation-custom-resource-response-uswest2.s3.us-west-2.amazonaws.com{SIGNED}", "us-west-2"),
        (f"https://cloudformation-custom-resource-response-euwest1.s3-eu-west-1.amazonaws.com{SIGNED}", "eu-west-1"),
        (
            f"https://cloudformation-custom-resource-response-usgovwest1.s3.us-gov-west-1.amazonaws.com{SIGNED}",
            "us-gov-west-1",
        ),
        (
            f"https://cloudformation-custom-resource-response-cnnorth1.s3.cn-north-1.amazonaws.com.cn{SIGNED}",
            "cn-north-1",
        ),
        (
            f"https://cloudformation-custom-resource-response-cnnorthwest1.s3-cn-northwest-1.amazonaws.com.cn{SIGNED}",
            "cn-northwest-1",
        ),
        (f"https://CloudFormation-Custom-Resource-Response-UsEast1.S3.AmazonAWS.com:443{SIGNED}", "us-east-1"),
    ],
)
def test_cloudformation_response_urls_are_accepted(url: str, region: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", region)
    assert cfn_response.is_cloudformation_response_url(url)


@pytest.mark.parametrize(
    ("url", "region"),
    [
        # Review round 9 (tools), L7: S3 reserves no prefix; on the global host only the function's own
        # Region ties the bucket to CloudFormation's.
        (f"https://cloudformation-custom-resource-response-attackerbucket1.s3.amazonaws.com{SIGNED}", "us-east-1"),
        (f"https://cloudformation-custom-resource-response-uswest2.s3.amazonaws.com{SIGNED}", "us-east-1"),
        (f"https://cloudformation-custom-resource-response-uswest2.s3.us-west-2.amazonaws.com{SIGNED}", "us-east-1"),
        (f"https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com{SIGNED}", ""),  # no AWS_REGION
    ],
)
def test_a_response_bucket_of_another_region_is_refused(url: str, region: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", region)
    assert not cfn_response.is_cloudformation_response_url(url)


@pytest.mark.parametrize(
    "url",
    [
        f"http://cloudformation-custom-resource-response-useast1.s3.amazonaws.com{SIGNED}",  # not https
        f"https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com:8443{SIGNED}",  # port
        f"https://evil.example{SIGNED}",
        f"https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com.evil.example{SIGNED}",
        f"https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com@evil.example{SIGNED}",
        f"https://x@cloudformation-custom-resource-response-useast1.s3.amazonaws.com{SIGNED}",  # userinfo
        f"https://my-bucket.s3.amazonaws.com{SIGNED}",  # another bucket
        f"https://cloudformation-custom-resource-response-useast1.s3.eu-west-1.amazonaws.com{SIGNED}",  # Region
        f"https://cloudformation-custom-resource-response-us-east-1.s3.us-east-1.amazonaws.com{SIGNED}",  # dashes
        f"https://s3.amazonaws.com/cloudformation-custom-resource-response-useast1{SIGNED}",  # path style
        f"https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com.{SIGNED}",  # trailing dot
        "https://[::1",
        "",
        None,
        ["https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/"],
    ],
)
def test_other_urls_are_refused(url: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    assert not cfn_response.is_cloudformation_response_url(url)


def _event(url: Any) -> dict[str, Any]:
    return {"StackId": "s", "RequestId": "r", "LogicalResourceId": "L", "ResponseURL": url}


def test_a_refused_url_is_logged_and_nothing_is_sent(capsys: pytest.CaptureFixture[str]) -> None:
    sent: list[Any] = []
    outcome = cfn_response.Outcome("SUCCESS", "id", data={"Token": "secret-data"})
    url = "https://collector.evil.example/path?X-Amz-Signature=abc"
    cfn_response.send_response(_event(url), outcome, opener=lambda *a, **k: sent.append(a), sleep=lambda s: None)
    assert sent == []
    out = capsys.readouterr().out
    assert "not sending the response" in out and "https://collector.evil.example" in out
    assert "Signature" not in out and "secret-data" not in out
    cfn_response.send_response(_event(None), outcome, opener=lambda *a, **k: sent.append(a), sleep=lambda s: None)
    assert sent == [] and "not a URL: NoneType" in capsys.readouterr().out
    # The log names the host only: not user information or a port the forged event carries.
    with_user = "https://user:hunter2@collector.evil.example:8443/path"
    cfn_response.send_response(_event(with_user), outcome, opener=lambda *a, **k: sent.append(a), sleep=lambda s: None)
    out = capsys.readouterr().out
    assert sent == [] and "https://collector.evil.example)" in out and "hunter2" not in out and "8443" not in out


CLOUDFORMATION_URL = f"https://cloudformation-custom-resource-response-uswest2.s3.us-west-2.amazonaws.com{SIGNED}"


def _sent(monkeypatch: pytest.MonkeyPatch, outcome: Any, url: str = CLOUDFORMATION_URL) -> list[Any]:
    """The requests ``send_response`` makes for ``outcome`` to ``url``, from a function in us-west-2."""
    monkeypatch.setenv("AWS_REGION", "us-west-2")

    class Ok:
        def __enter__(self) -> Ok:
            return self

        def __exit__(self, *exc: object) -> bool:
            return False

    requests: list[Any] = []

    def opener(request: Any, timeout: float) -> Ok:
        requests.append(request)
        return Ok()

    cfn_response.send_response(_event(url), outcome, opener=opener)
    return requests


def test_a_cloudformation_url_is_sent_once(monkeypatch: pytest.MonkeyPatch) -> None:
    requests = _sent(monkeypatch, cfn_response.Outcome("SUCCESS", "id"))
    assert [request.full_url for request in requests] == [CLOUDFORMATION_URL]


def test_a_non_ascii_reason_keeps_the_response_under_4096_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Review round 11, tools, L3: the reason was cut at 3,000 characters; 3,000 four-byte characters
    made a 12 KB body, which CloudFormation refuses, and the failure's reason was lost."""
    (request,) = _sent(monkeypatch, cfn_response.Outcome("FAILED", "id", reason="\U0001f4a5" * 5000))
    assert len(request.data) <= 4096
    assert json.loads(request.data)["Reason"].startswith("\U0001f4a5")


@pytest.mark.parametrize("reason", ['"' * 5000, "\x1b[31m" * 2000, "\u0001" * 4000, "\U0001f4a5" * 5000])
def test_a_reason_that_grows_when_escaped_still_fits(monkeypatch: pytest.MonkeyPatch, reason: str) -> None:
    """Review round 12, tools, L2: the reason was cut to 3,000 bytes before JSON escaping, and quotes or
    control characters grew the body to 5-18 KB."""
    (request,) = _sent(monkeypatch, cfn_response.Outcome("FAILED", "id", reason=reason))
    assert len(request.data) <= 4096 and reason.startswith(json.loads(request.data)["Reason"][:10])
