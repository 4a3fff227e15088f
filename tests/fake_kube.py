"""A fake HTTPS Kubernetes API for CLI tests (loaded by path, like cli_fixtures.py).

Same idea as the server in test_cli_drill.py: a throwaway certificate the client gets as the
EKS cluster's CA, and a check that every request carries an EKS token (a presigned STS
GetCallerIdentity URL that signs ``x-k8s-aws-id``). The certificate also names ``DNS_NAME``, so a
client that connects to 127.0.0.1 with ``tls-server-name`` = that name (an SSM tunnel) verifies.
Routes map a path to a JSON body, or to a callable ``(method, query, body) -> (status, body)``.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import ssl
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DNS_NAME = "ABCDEF0123456789.gr7.us-west-2.eks.amazonaws.com"
Route = Any  # dict | list | Callable[[str, dict, Any], tuple[int, Any]]


def certificate() -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-kube-apiserver")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.DNSName(DNS_NAME.lower()),
                ]
            ),
            False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def token_is_eks(token: str) -> bool:
    prefix, _, encoded = token.partition(".")
    if prefix != "k8s-aws-v1":
        return False
    url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(url).query))
    return query.get("Action") == "GetCallerIdentity" and "x-k8s-aws-id" in query.get("X-Amz-SignedHeaders", "")


class FakeKube:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, str, Any]] = []

    def handle(self, method: str, raw_path: str, body: Any) -> tuple[int, Any]:
        parsed = urllib.parse.urlparse(raw_path)
        self.requests.append((method, parsed.path, body))
        route = self.routes.get(parsed.path)
        if route is None:
            return 404, {"kind": "Status", "message": f"{parsed.path} not found"}
        if callable(route):
            return route(method, dict(urllib.parse.parse_qsl(parsed.query)), body)
        return 200, route


def _handler(state: FakeKube) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            return None

        def _do(self) -> None:
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            if not token_is_eks(token):
                status, body = 401, {"kind": "Status", "message": "Unauthorized"}
            else:
                length = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(length)) if length else None
                status, body = state.handle(self.command, self.path, payload)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = do_PATCH = _do  # noqa: N815

    return Handler


@contextmanager
def serve(tmp_path: Path) -> Iterator[tuple[FakeKube, int, str]]:
    """(state, port, base64 CA) of a running fake API on 127.0.0.1."""
    cert, key = certificate()
    (tmp_path / "kube-cert.pem").write_bytes(cert)
    (tmp_path / "kube-key.pem").write_bytes(key)
    state = FakeKube()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(tmp_path / "kube-cert.pem", tmp_path / "kube-key.pem")
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state, server.server_address[1], base64.b64encode(cert).decode()
    finally:
        server.shutdown()
        server.server_close()


def load(name: str, here: Path) -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"{name}_{id(here)}", here.with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ExecRoute = Callable[[str, dict[str, str], Any], tuple[int, Any]]
