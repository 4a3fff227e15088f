"""Rules for ``AWS::EKS::Cluster``: what cdk-nag's EKS1/EKS2 would say, had they seen aws_eks_v2.

cdk-nag's AwsSolutions-EKS1/EKS2 test ``aws_eks.CfnCluster`` instances and never fire for
``aws_eks_v2`` clusters; these rules read the synthesized template, so the construct class does not
matter. Where the template leaves a property out, the rule applies the CloudFormation default
(public endpoint open to 0.0.0.0/0, no logs, no secrets encryption, ``CONFIG_MAP``).
"""

from __future__ import annotations

from collections.abc import Iterator

from hyperpod_cdk.rules.model import Finding, Templates, as_list, as_map, literal, shown
from hyperpod_cdk.specs.public_cidrs import MAX_OPEN_ADDRESSES as MAX_OPEN_ADDRESSES  # re-exported
from hyperpod_cdk.specs.public_cidrs import open_cidrs

EKS_CLUSTER = "AWS::EKS::Cluster"
LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
ACCEPTED_AUTH_MODES = ("API", "API_AND_CONFIG_MAP")


def _flag(value: object) -> bool | None:
    """A CloudFormation boolean (true, "true", false, "false"); None when not literal."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def endpoint_access(templates: Templates, rule_id: str = "HyperPod-EKS1") -> Iterator[Finding]:
    for cluster in templates.resources(EKS_CLUSTER):
        vpc_config = as_map(cluster.properties.get("ResourcesVpcConfig"))
        where = "Properties/ResourcesVpcConfig/EndpointPublicAccess"
        public = _flag(vpc_config.get("EndpointPublicAccess", True))
        if public is False:
            continue
        if public is None:
            yield cluster.finding(rule_id, "EndpointPublicAccess is not a literal; cannot verify it is off", where)
            continue
        cidrs_where = "Properties/ResourcesVpcConfig/PublicAccessCidrs"
        cidrs = vpc_config.get("PublicAccessCidrs")
        if not literal(cidrs):
            yield cluster.finding(rule_id, "public endpoint with PublicAccessCidrs that are not literals", cidrs_where)
            continue
        if not as_list(cidrs):
            yield cluster.finding(
                rule_id,
                "public endpoint without PublicAccessCidrs (the CloudFormation default is 0.0.0.0/0)",
                where,
                cidrs_where,
            )
            continue
        too_open = open_cidrs(as_list(cidrs))
        if too_open:
            shown = ", ".join(too_open[:5]) + (f" and {len(too_open) - 5} more" if len(too_open) > 5 else "")
            yield cluster.finding(
                rule_id, f"public endpoint open to {shown} (more than a /8 of addresses together)", cidrs_where
            )


def control_plane_logs(templates: Templates, rule_id: str = "HyperPod-EKS2") -> Iterator[Finding]:
    for cluster in templates.resources(EKS_CLUSTER):
        where = "Properties/Logging/ClusterLogging/EnabledTypes"
        enabled = as_map(as_map(cluster.properties.get("Logging")).get("ClusterLogging")).get("EnabledTypes", [])
        if not literal(enabled) or not isinstance(enabled, list):
            yield cluster.finding(rule_id, "EnabledTypes is not a literal list; cannot verify the log types", where)
            continue
        types = (as_map(item).get("Type") for item in enabled)
        on = {t for t in types if isinstance(t, str)}  # a list or mapping is unhashable (seventh review, M3)
        missing = [t for t in LOG_TYPES if t not in on]
        if missing:
            yield cluster.finding(rule_id, f"control-plane log types off: {', '.join(missing)}", where)


def secrets_encryption(templates: Templates, rule_id: str = "HyperPod-EKS3") -> Iterator[Finding]:
    for cluster in templates.resources(EKS_CLUSTER):
        configs = as_list(cluster.properties.get("EncryptionConfig"))
        encrypted = any(
            "secrets" in as_list(as_map(c).get("Resources"))
            and as_map(as_map(c).get("Provider")).get("KeyArn") not in (None, "")
            for c in configs
        )
        if not encrypted:
            yield cluster.finding(
                rule_id, "no EncryptionConfig with a KMS key for the 'secrets' resource", "Properties/EncryptionConfig"
            )


def authentication_mode(templates: Templates, rule_id: str = "HyperPod-EKS4") -> Iterator[Finding]:
    for cluster in templates.resources(EKS_CLUSTER):
        mode = as_map(cluster.properties.get("AccessConfig")).get("AuthenticationMode")
        if mode in ACCEPTED_AUTH_MODES:
            continue
        said = "unset (the CloudFormation default is CONFIG_MAP)" if mode is None else shown(mode)
        yield cluster.finding(rule_id, f"AuthenticationMode is {said}", "Properties/AccessConfig/AuthenticationMode")
