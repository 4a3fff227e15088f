"""boto3 client creation, kept in one injectable object so tests can pass moto or stubbed clients."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import NoRegionError

_CLIENT_CONFIG = Config(
    retries={"max_attempts": 5, "mode": "standard"},
    connect_timeout=10,
    read_timeout=60,
    user_agent_extra="hyperpod-cdk-cli",
)
# For calls that change nodes (BatchReplaceClusterNodes, BatchRebootClusterNodes, ...), which are
# not idempotent: botocore's standard mode resends a request after a read timeout or a dropped
# connection (https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html), so a
# replace the service had already accepted would be sent again. One attempt; the caller retries
# throttling itself, since a throttled request was refused before anything happened.
MUTATION_CONFIG = _CLIENT_CONFIG.merge(Config(retries={"total_max_attempts": 1, "mode": "standard"}))


class Clients:
    """Hands out one boto3 client per (service, region), created on first use.

    ``overrides`` maps a service name (``"eks"``) to a ready client, or any object with the same
    methods; it wins over the session for every region. Tests use it for Stubber-wrapped clients
    next to moto-backed ones.
    """

    def __init__(
        self,
        session: boto3.Session | None = None,
        *,
        region: str | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> None:
        self._session = session if session is not None else boto3.Session()
        self._region = region or self._session.region_name
        self._overrides = dict(overrides or {})
        self._cache: dict[tuple[str, str, int], Any] = {}

    @property
    def session(self) -> boto3.Session:
        """The boto3 session (its credentials also sign EKS tokens)."""
        return self._session

    @property
    def region(self) -> str:
        """The region commands run in; raises NoRegionError when none is configured."""
        if not self._region:
            raise NoRegionError()
        return self._region

    def __call__(self, service: str, region: str | None = None) -> Any:
        return self._client(service, region, _CLIENT_CONFIG)

    def mutating(self, service: str, region: str | None = None) -> Any:
        """A client that sends each request once (:data:`MUTATION_CONFIG`), for calls that must not repeat."""
        return self._client(service, region, MUTATION_CONFIG)

    def _client(self, service: str, region: str | None, config: Config) -> Any:
        if service in self._overrides:
            return self._overrides[service]
        where = region or self.region
        key = (service, where, id(config))
        if key not in self._cache:
            self._cache[key] = self._session.client(service, region_name=where, config=config)
        return self._cache[key]


ClientsFactory = Callable[[str | None], Clients]
"""Builds the Clients for a command from its region (None: the session's default)."""


def default_clients(region: str | None, *, profile: str | None = None) -> Clients:
    """Clients from the named profile (``--profile``; None lets boto3 read ``AWS_PROFILE``)."""
    return Clients(boto3.Session(profile_name=profile), region=region)
