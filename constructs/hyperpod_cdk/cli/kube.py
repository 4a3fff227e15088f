"""Just enough of the Kubernetes API for the CLI's drills, reached the way ``aws eks get-token`` does.

The endpoint and CA come from ``eks:DescribeCluster``; the bearer token is ``k8s-aws-v1.`` plus a
base64url presigned STS GetCallerIdentity URL that carries the signed header ``x-k8s-aws-id: <EKS
cluster name>``, which is what EKS's authenticator verifies
(https://docs.aws.amazon.com/eks/latest/userguide/cluster-auth.html). It is the same token the Helm
installer Lambda signs (``kubernetes/handlers/helm_dependencies/index.py``, ``eks_token``); that
file must stay self-contained for Lambda, hence this copy. The caller needs an EKS access entry (or
aws-auth mapping) that allows what the drill does: read nodes, pods, events and HyperPodPyTorchJobs,
and patch node labels.

No kubeconfig is written and nothing but the standard library talks HTTP: the CLI needs neither
kubectl nor the kubernetes package.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

# The one EKS-auth module, shared with the Lambda handlers (which carry a copy of it in their assets).
from hyperpod_cdk.kubernetes.handlers.shared.eks_auth import TOKEN_EXPIRES_SECONDS  # noqa: F401
from hyperpod_cdk.kubernetes.handlers.shared.eks_auth import eks_token as eks_token

TOKEN_REFRESH_SECONDS = 10 * 60
REQUEST_TIMEOUT_SECONDS = 30


class KubeError(Exception):
    """A Kubernetes API call failed; ``status`` is the HTTP status (0: no response)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class KubeApi:
    """JSON over HTTPS to one API server, trusting only the cluster's CA."""

    def __init__(
        self,
        endpoint: str,
        ca_data: str,
        token: Callable[[], str],
        *,
        clock: Callable[[], float],
        timeout: float = REQUEST_TIMEOUT_SECONDS,
        tls_server_name: str | None = None,
    ) -> None:
        if not endpoint.startswith("https://"):
            raise KubeError(0, f"the API endpoint {endpoint!r} is not https")
        self.endpoint = endpoint.rstrip("/")
        pem = base64.b64decode(ca_data).decode("ascii")
        self._tls = ssl.create_default_context(cadata=pem)
        # Through an SSM tunnel the endpoint is 127.0.0.1:<port>; the certificate is still checked
        # against the cluster's host name (kubeconfig's tls-server-name).
        self._opener = urllib.request.build_opener(_SniHandler(self._tls, tls_server_name)) if tls_server_name else None
        self._token_source = token
        self._clock = clock
        self._token: tuple[str, float] | None = None
        self._timeout = timeout

    def _bearer(self) -> str:
        now = self._clock()
        if self._token is None or now - self._token[1] > TOKEN_REFRESH_SECONDS:
            self._token = (self._token_source(), now)
        return self._token[0]

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        url = self.endpoint + path + ("?" + urllib.parse.urlencode(query) if query else "")
        data = json.dumps(body).encode("utf-8") if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self._bearer()}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            if self._opener is not None:
                opened = self._opener.open(request, timeout=self._timeout)
            else:
                opened = urllib.request.urlopen(request, timeout=self._timeout, context=self._tls)  # noqa: S310
            with opened as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise KubeError(exc.code, f"{method} {path}: HTTP {exc.code} {_status_message(exc)}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise KubeError(0, f"{method} {path}: cannot reach {self.endpoint} ({reason})") from None

    def get(self, path: str, **query: str) -> Any:
        return self.request("GET", path, query=query or None)

    def merge_patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, body=body, content_type="application/merge-patch+json")


class _SniHandler(urllib.request.HTTPSHandler):
    """HTTPS to the URL's address, with the TLS server name (SNI and certificate check) set apart."""

    def __init__(self, context: ssl.SSLContext, server_name: str) -> None:
        super().__init__(context=context)
        self._context = context
        self._server_name = server_name

    def https_open(self, req: urllib.request.Request) -> Any:
        context, server_name = self._context, self._server_name

        class Connection(http.client.HTTPSConnection):
            def connect(self) -> None:
                sock = socket.create_connection((self.host, self.port), self.timeout)
                self.sock = context.wrap_socket(sock, server_hostname=server_name)

        return self.do_open(Connection, req)


def _status_message(exc: urllib.error.HTTPError) -> str:
    """The ``message`` of a Kubernetes Status body, when the server sent one."""
    try:
        status = json.loads(exc.read() or b"{}")
    except (ValueError, OSError):
        return exc.reason or ""
    return str(status.get("message") or exc.reason or "")
