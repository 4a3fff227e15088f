"""cert-manager issuers for in-cluster TLS (``cert-manager.io/v1``).

cert-manager itself (its CRDs and controller, in the ``cert-manager`` namespace) is a prerequisite
of the HyperPod training operator and is installed as an EKS add-on; this chart only adds the
issuers workloads use:

1. a self-signed ``ClusterIssuer`` whose only job is to sign the root CA;
2. a CA ``Certificate`` (``isCA: true``) in the cert-manager namespace, stored in ``ca_secret_name``;
3. a CA ``ClusterIssuer`` backed by that secret. Services request certificates from it with
   ``issuerRef: {kind: ClusterIssuer, name: <ca_issuer_name>}``; clients trust ``ca.crt`` from any
   issued secret.

A ClusterIssuer reads its CA secret from cert-manager's *cluster resource namespace*, which is the
namespace cert-manager runs in unless ``--cluster-resource-namespace`` was changed; so the
Certificate must live there. The CRDs must exist before this chart is applied.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

import cdk8s
from constructs import Construct

from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.kubernetes.charts.api_object import api_object
from hyperpod_cdk.specs.kubernetes_names import is_dns_subdomain

__all__ = ["CERT_MANAGER_API_VERSION", "CertManagerIssuersChart"]

CERT_MANAGER_API_VERSION = "cert-manager.io/v1"
_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")
_KEY_SIZES = {"ECDSA": (256, 384, 521), "RSA": (2048, 3072, 4096)}


def _go_duration_hours(field: str, value: str) -> float:
    if not isinstance(value, str) or not _DURATION.match(value):
        raise HyperPodConfigError(field, f"{value!r} is not a Go duration such as 8760h or 720h0m0s")
    unit_hours = {
        "ns": 1 / 3.6e12,
        "us": 1 / 3.6e9,
        "µs": 1 / 3.6e9,
        "ms": 1 / 3.6e6,
        "s": 1 / 3600,
        "m": 1 / 60,
        "h": 1.0,
    }
    return sum(
        float(number) * unit_hours[unit]
        for number, _, unit in re.findall(r"([0-9]+(\.[0-9]+)?)(ns|us|µs|ms|s|m|h)", value)
    )


class CertManagerIssuersChart(cdk8s.Chart):
    """A self-signed ClusterIssuer, a root CA Certificate and a CA ClusterIssuer backed by it.

    The defaults give a ten-year ECDSA P-256 root renewed 30 days before expiry. The names are
    exposed as attributes (``ca_issuer_name`` is the one workloads reference).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        namespace: str = "cert-manager",
        self_signed_issuer_name: str = "hyperpod-selfsigned",
        ca_issuer_name: str = "hyperpod-ca",
        ca_certificate_name: str = "hyperpod-root-ca",
        ca_secret_name: str = "hyperpod-root-ca",
        ca_common_name: str = "hyperpod-cdk in-cluster root CA",
        duration: str = "87600h",
        renew_before: str = "720h",
        key_algorithm: Literal["ECDSA", "RSA"] = "ECDSA",
        key_size: int = 256,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            scope,
            id,
            labels={"app.kubernetes.io/managed-by": "hyperpod-cdk", **(labels or {})},
            disable_resource_name_hashes=True,
        )
        for field, value in (
            ("namespace", namespace),
            ("self_signed_issuer_name", self_signed_issuer_name),
            ("ca_issuer_name", ca_issuer_name),
            ("ca_certificate_name", ca_certificate_name),
            ("ca_secret_name", ca_secret_name),
        ):
            if not is_dns_subdomain(value):
                raise HyperPodConfigError(f"cert_manager.{field}", f"{value!r} is not a valid Kubernetes name")
        if len(namespace) > 63 or "." in namespace:
            raise HyperPodConfigError("cert_manager.namespace", f"{namespace!r} is not a valid namespace name")
        if self_signed_issuer_name == ca_issuer_name:
            raise HyperPodConfigError("cert_manager.ca_issuer_name", "must differ from self_signed_issuer_name")
        if not ca_common_name or len(ca_common_name) > 64:
            raise HyperPodConfigError("cert_manager.ca_common_name", "must be 1-64 characters (X.509 limit)")
        if key_algorithm not in _KEY_SIZES:
            raise HyperPodConfigError("cert_manager.key_algorithm", f"{key_algorithm!r} is not ECDSA or RSA")
        if key_size not in _KEY_SIZES[key_algorithm]:
            raise HyperPodConfigError(
                "cert_manager.key_size", f"{key_algorithm} takes one of {_KEY_SIZES[key_algorithm]} (got {key_size})"
            )
        if _go_duration_hours("cert_manager.renew_before", renew_before) >= _go_duration_hours(
            "cert_manager.duration", duration
        ):
            raise HyperPodConfigError("cert_manager.renew_before", f"{renew_before} must be shorter than {duration}")

        self.ca_namespace = namespace
        self.self_signed_issuer_name = self_signed_issuer_name
        self.ca_issuer_name = ca_issuer_name
        self.ca_secret_name = ca_secret_name

        api = CERT_MANAGER_API_VERSION
        self_signed = api_object(
            self,
            "SelfSignedIssuer",
            api,
            "ClusterIssuer",
            {"name": self_signed_issuer_name},
            {"spec": {"selfSigned": {}}},
        )
        certificate = api_object(
            self,
            "RootCertificate",
            api,
            "Certificate",
            {"name": ca_certificate_name, "namespace": namespace},
            {
                "spec": {
                    "isCA": True,
                    "commonName": ca_common_name,
                    "secretName": ca_secret_name,
                    "duration": duration,
                    "renewBefore": renew_before,
                    # Keep the CA key across renewals so certificates it already signed still verify.
                    "privateKey": {"algorithm": key_algorithm, "size": key_size, "rotationPolicy": "Never"},
                    "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": self_signed_issuer_name},
                }
            },
        )
        certificate.add_dependency(self_signed)
        ca_spec = {"spec": {"ca": {"secretName": ca_secret_name}}}
        ca_issuer = api_object(self, "CaIssuer", api, "ClusterIssuer", {"name": ca_issuer_name}, ca_spec)
        ca_issuer.add_dependency(certificate)
