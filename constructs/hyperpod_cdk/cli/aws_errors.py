"""Classify AWS errors into what the CLI tells the user: cannot check, not found, bad credentials."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOTokenLoadError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
    UnknownEndpointError,
)

ACCESS_DENIED = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnauthorizedException",
        "AuthorizationError",
        "NotAuthorized",
    }
)
# The API or the whole service does not exist (or is not enabled) in this region or partition.
UNAVAILABLE = frozenset(
    {
        "UnknownOperationException",
        "InvalidAction",
        "UnsupportedOperation",
        "UnsupportedOperationException",
        "OptInRequired",
        "SubscriptionRequiredException",
        "InvalidEndpointException",
        "NotImplemented",
    }
)
NOT_FOUND = frozenset(
    {
        "ResourceNotFound",
        "ResourceNotFoundException",
        "NoSuchResourceException",
        "NotFoundException",
    }
)
THROTTLED = frozenset({"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"})
# Credentials exist but AWS rejects them.
BAD_CREDENTIALS = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
        "RequestExpired",
        "AuthFailure",
    }
)

# Errors that make every call fail the same way; commands stop with exit code 2 instead of
# reporting each check as unchecked.
SETUP_ERRORS: tuple[type[Exception], ...] = (
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    NoRegionError,
    SSOTokenLoadError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
    CredentialRetrievalError,
)

_IAM_PREFIX = {"service-quotas": "servicequotas"}


def code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "") or "")


def message(exc: ClientError) -> str:
    text = str(exc.response.get("Error", {}).get("Message", "") or "")
    return " ".join(text.split())


def is_access_denied(exc: ClientError) -> bool:
    return code(exc) in ACCESS_DENIED


def is_not_found(exc: ClientError) -> bool:
    """True for a missing resource; SageMaker also says so with a ValidationException."""
    err = code(exc)
    if err in NOT_FOUND or err.endswith(".NotFound"):
        return True
    return err == "ValidationException" and "could not find" in message(exc).lower()


@dataclass(frozen=True)
class Missing:
    """What :func:`unless_missing` returns when AWS says the resource does not exist."""

    message: str


_T = TypeVar("_T")


def unless_missing(call: Callable[[], _T]) -> _T | Missing:
    """``call()``'s result, or :class:`Missing` (with AWS's message) when it fails because the
    resource does not exist; any other error propagates."""
    try:
        return call()
    except ClientError as exc:
        if is_not_found(exc):
            return Missing(message(exc))
        raise


def iam_action(service: str, exc: ClientError) -> str:
    return f"{_IAM_PREFIX.get(service, service)}:{exc.operation_name}"


def setup_error_line(exc: Exception) -> str:
    """One line, with the fix, for an error that no command can work around."""
    if isinstance(exc, NoRegionError):
        return "no AWS region configured: pass --region or set AWS_REGION (or a region in your AWS profile)"
    if isinstance(exc, NoCredentialsError):
        return (
            "no AWS credentials found: run 'aws configure' or 'aws sso login', set AWS_PROFILE, "
            "or export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(exc, PartialCredentialsError):
        return f"incomplete AWS credentials ({exc}): set both the access key ID and the secret access key"
    if isinstance(exc, ProfileNotFound):
        return f"{exc}: check AWS_PROFILE / --profile against ~/.aws/config"
    if isinstance(exc, SSOTokenLoadError | TokenRetrievalError | UnauthorizedSSOTokenError):
        return f"AWS SSO session is missing or expired ({exc}): run 'aws sso login'"
    return f"cannot load AWS credentials ({exc}): check your AWS profile and credential provider"


def call_failure(service: str, exc: Exception, region: str | None = None) -> tuple[str, str]:
    """(what went wrong, fix) for an AWS call that ``exc`` stopped: a check or a report item it could not make."""
    where = f" in {region}" if region else ""
    if isinstance(exc, ClientError):
        err, text, op = code(exc), message(exc), exc.operation_name
        if err in ACCESS_DENIED:
            return (
                f"access denied calling {service} {op} ({err})",
                f"allow {iam_action(service, exc)} for the caller, then rerun",
            )
        if err in UNAVAILABLE:
            return (
                f"{service} {op} is not available{where} ({err})",
                "check this item by hand in the console for the region",
            )
        if is_not_found(exc):
            return (
                f"{service} {op} found nothing ({err}: {text})",
                "check the name and region, or check this item by hand in the console",
            )
        if err in THROTTLED:
            return (f"{service} {op} was throttled ({err})", "rerun in a minute")
        if err in BAD_CREDENTIALS:
            return (
                f"AWS rejected the credentials ({err}: {text})",
                "refresh the credentials ('aws sso login' or new keys), then rerun",
            )
        return (f"{service} {op} failed ({err}: {text})", "rerun; if it persists check by hand")
    if isinstance(exc, EndpointConnectionError | UnknownEndpointError | ConnectTimeoutError):
        return (
            f"no {service} endpoint reachable{where} (service absent there, or no network)",
            "check network access to AWS, or check this item by hand in the console",
        )
    if isinstance(exc, BotoCoreError):
        return (f"{service} call failed ({exc})", "rerun; if it persists check by hand")
    raise exc


CANNOT_CHECK = "cannot check: "


def unchecked_reason(service: str, exc: Exception, region: str | None = None) -> tuple[str, str]:
    """(reason, fix) for a check's row that could not be made because of ``exc``."""
    failure, fix = call_failure(service, exc, region)
    return CANNOT_CHECK + failure, fix


def unchecked_note(service: str, exc: Exception, region: str | None = None) -> str:
    """One line, ``<what went wrong>; <fix>``, for a report that lists what it could not check."""
    failure, fix = call_failure(service, exc, region)
    return f"{failure}; {fix}"
