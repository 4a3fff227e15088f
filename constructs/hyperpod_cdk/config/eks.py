"""The ``eks:`` section: the EKS control plane created here, or an existing cluster."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import (
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from hyperpod_cdk.config.base import (
    EKS_NAME_PATTERN,
    SECURITY_GROUP_ID_PATTERN,
    Cidr,
    IamPrincipalArn,
    LogRetentionDays,
    _Model,
)
from hyperpod_cdk.specs.kubernetes_versions import DEFAULT_VERSION, KubernetesVersion, check_version
from hyperpod_cdk.specs.public_cidrs import open_cidrs


class ExistingEks(_Model):
    """An EKS cluster that already exists; ``eks.cluster_name`` and ``eks.kubernetes_version`` name it.

    Its authentication mode cannot be read at synth: ``hyperpod-cdk preflight`` checks it.
    """

    cluster_security_group_id: Annotated[str, Field(pattern=SECURITY_GROUP_ID_PATTERN)] = Field(
        description="The cluster security group EKS created; HyperPod nodes and it get rules to each other."
    )


class EksConfig(_Model):
    """The EKS control plane HyperPod attaches to: created here, or ``existing``."""

    cluster_name: Annotated[str, Field(pattern=EKS_NAME_PATTERN)]
    kubernetes_version: Annotated[KubernetesVersion, BeforeValidator(check_version)] = Field(
        default=DEFAULT_VERSION,
        description="A version HyperPod accepts. One past EKS extended support is an error; one in extended "
        "support synthesizes with a warning stating the price (6x the standard hourly rate).",
    )
    public_access_cidrs: list[Cidr] = Field(default=[], description="Empty means a private-only endpoint.")
    admin_principal_arn: IamPrincipalArn | None = Field(
        default=None, description="IAM role or user that gets cluster-admin through an access entry."
    )
    admin_principal_arns: Annotated[list[IamPrincipalArn], Field(max_length=20)] = Field(
        default=[], description="More IAM roles or users that get cluster-admin (one access entry each)."
    )
    access_tunnel: bool = Field(
        default=False,
        description="A t4g.nano instance with no inbound rules in the control-plane subnets, reached with SSM "
        "port forwarding: `hyperpod-cdk kubeconfig` tunnels kubectl to the private endpoint (about 4 USD/month).",
    )
    log_retention_days: LogRetentionDays = 365
    existing: ExistingEks | None = Field(
        default=None, description="Use an existing cluster (in network.existing's VPC) instead of creating one."
    )

    @field_validator("public_access_cidrs")
    @classmethod
    def _no_open_endpoint(cls, value: list[ipaddress.IPv4Network]) -> list[ipaddress.IPv4Network]:
        for cidr in value:
            if cidr.prefixlen == 0:
                raise ValueError("0.0.0.0/0 opens the API endpoint to the internet; list your own CIDRs")
        too_open = open_cidrs(list(value))
        if too_open:
            # The same rule as the lint pack's HyperPod-EKS1 (specs/public_cidrs.py), so synth never fails later.
            raise ValueError(
                f"{', '.join(too_open[:5])} together admit more than a /8 of addresses to the API endpoint; "
                "list your own, narrower CIDRs"
            )
        return value

    @model_validator(mode="after")
    def _existing_keys(self) -> EksConfig:
        if self.existing is not None:
            for key in (
                "public_access_cidrs",
                "admin_principal_arn",
                "admin_principal_arns",
                "access_tunnel",
                "log_retention_days",
            ):
                if key in self.model_fields_set:
                    raise ValueError(
                        f"{key}: only for a cluster created here; the existing {self.cluster_name} keeps its own"
                    )
        return self

    @property
    def admin_principals(self) -> list[str]:
        """Every principal that gets cluster-admin: ``admin_principal_arn`` first, then ``admin_principal_arns``."""
        named = ([self.admin_principal_arn] if self.admin_principal_arn else []) + list(self.admin_principal_arns)
        return list(dict.fromkeys(named))
