"""Deploy rules: a HyperPod definition that CloudFormation, CreateCluster or the first boot rejects.

Each rule reads templates in the CloudFormation shape (a template, a CreateCluster request or a
Terraform resource converted by :mod:`hyperpod_cdk.rules.inputs`) and yields findings. A value the
rule needs but that is known only at deploy (an intrinsic left by the resolver) gives a
``not-checked`` finding, never a guess. The sources are cited in :mod:`hyperpod_cdk.rules.catalog`.

The rules live by family in :mod:`~hyperpod_cdk.rules.deploy_cluster`,
:mod:`~hyperpod_cdk.rules.deploy_network` and :mod:`~hyperpod_cdk.rules.deploy_addons`; this module
keeps the names importable from ``hyperpod_cdk.rules.deploy``.
"""

from __future__ import annotations

from hyperpod_cdk.rules.deploy_addons import (
    addon_resolve_conflicts,
    helm_chart_before_cluster,
    task_governance_version,
    training_operator_pod_identity,
)
from hyperpod_cdk.rules.deploy_base import (
    EKS_ADDON,
    EKS_CLUSTER,
    IP_HEADROOM_PERCENT,
    LIVE_HELM_RELEASE,
    LIVE_MARK,
    LIVE_QUOTA,
    LIVE_S3_OBJECT,
    POD_IDENTITY_ASSOCIATION,
    REPELLING_EFFECTS,
    SOURCE_S3_URI,
    SUBNET,
    TASK_GOVERNANCE,
    TASK_GOVERNANCE_MIN,
    TRAINING_OPERATOR,
)
from hyperpod_cdk.rules.deploy_cluster import (
    cmk_needs_continuous,
    hyperpod_quotas,
    instance_type_offered,
    karpenter_prerequisites,
    kubernetes_version_supported,
    lifecycle_script_uri,
    system_pod_host,
)
from hyperpod_cdk.rules.deploy_network import LUSTRE_PORTS, lustre_ports, subnet_ip_capacity

__all__ = [
    "EKS_ADDON",
    "EKS_CLUSTER",
    "IP_HEADROOM_PERCENT",
    "LIVE_HELM_RELEASE",
    "LIVE_MARK",
    "LIVE_QUOTA",
    "LIVE_S3_OBJECT",
    "LUSTRE_PORTS",
    "POD_IDENTITY_ASSOCIATION",
    "REPELLING_EFFECTS",
    "SOURCE_S3_URI",
    "SUBNET",
    "TASK_GOVERNANCE",
    "TASK_GOVERNANCE_MIN",
    "TRAINING_OPERATOR",
    "addon_resolve_conflicts",
    "cmk_needs_continuous",
    "helm_chart_before_cluster",
    "hyperpod_quotas",
    "instance_type_offered",
    "karpenter_prerequisites",
    "kubernetes_version_supported",
    "lifecycle_script_uri",
    "lustre_ports",
    "subnet_ip_capacity",
    "system_pod_host",
    "task_governance_version",
    "training_operator_pod_identity",
]
