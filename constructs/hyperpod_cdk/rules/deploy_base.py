"""What the deploy rules share: the resource types they read and how they read a cluster.

The rules themselves: :mod:`hyperpod_cdk.rules.deploy_cluster` (the cluster definition),
:mod:`hyperpod_cdk.rules.deploy_network` (subnets, Lustre ports) and
:mod:`hyperpod_cdk.rules.deploy_addons` (Helm chart, EKS add-ons); :mod:`hyperpod_cdk.rules.deploy`
re-exports them all.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from hyperpod_cdk.rules.model import Json, Resource, Templates, as_list, as_map
from hyperpod_cdk.rules.sagemaker import GROUP_LISTS, SAGEMAKER_CLUSTER, _intrinsic

EKS_CLUSTER = "AWS::EKS::Cluster"
# What `hyperpod-cdk lint --live` read from AWS (hyperpod_cdk.cli.lint_live), as pseudo-resources.
LIVE_S3_OBJECT = "HyperPod::Live::S3Object"
LIVE_QUOTA = "HyperPod::Live::Quota"
LIVE_HELM_RELEASE = "HyperPod::Live::HelmRelease"
LIVE_MARK = "hyperpod-cdk:live"
EKS_ADDON = "AWS::EKS::Addon"
POD_IDENTITY_ASSOCIATION = "AWS::EKS::PodIdentityAssociation"
SUBNET = "AWS::EC2::Subnet"
TRAINING_OPERATOR = "amazon-sagemaker-hyperpod-training-operator"
TASK_GOVERNANCE = "amazon-sagemaker-hyperpod-taskgovernance"
# The training-operator guide's troubleshooting table: "Incompatible Task Governance Version: ensure
# HyperPod task governance is version v1.3.0-eksbuild.1 or higher" (sagemaker-eks-operator-install.html).
TASK_GOVERNANCE_MIN = "v1.3.0-eksbuild.1"
REPELLING_EFFECTS = ("NoSchedule", "NoExecute")
# The AWS::SageMaker::Cluster schema's LifeCycleConfig.SourceS3Uri pattern, ^(https|s3)://([^/]+)/?(.*)$,
# written so that a failed match is linear: the schema's form rescans the rest for every split of the
# bucket when a newline follows a "/" (review round 16, R16T-L1). It takes the same strings.
SOURCE_S3_URI = re.compile(r"(?:https|s3)://[^/]+(?:/[^\n]*)?\n?\Z")
# Headroom for replacement nodes and rolling updates before a subnet is called tight (config default).
IP_HEADROOM_PERCENT = 25


# A count, port or quota the rules read has at most 18 digits. Longer is no number CloudFormation takes,
# and `str.isdigit()` also accepts "²" and other non-ASCII digits that `int()` refuses, as it refuses
# text over 4,300 digits (review round 15, tools, L2): such a value is not a number the rule can use.
MAX_INT_DIGITS = 18


def _int(value: Json) -> int | None:
    """A whole number (or its ASCII digits as text) within :data:`MAX_INT_DIGITS` digits, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if abs(value) < 10**MAX_INT_DIGITS else None
    if isinstance(value, str) and len(value) <= 2 * MAX_INT_DIGITS:
        text = value.strip()
        if text.isascii() and text.isdigit() and len(text) <= MAX_INT_DIGITS:
            return int(text)
    return None


def _clusters(templates: Templates) -> Iterator[Resource]:
    yield from templates.resources(SAGEMAKER_CLUSTER)


def _all_groups(cluster: Resource) -> Iterator[tuple[str, Json, Mapping[str, Json]]]:
    """(location, name, group) of each instance group, restricted ones too; the name as the definition
    gives it, else ``#index``. A group that is one intrinsic is left to ``_unknown_objects`` (R19T-M3)."""
    for kind in GROUP_LISTS:
        for index, group in enumerate(as_list(cluster.properties.get(kind))):
            if _intrinsic(group):
                continue
            group = as_map(group)
            yield f"Properties/{kind}/{index}", group.get("InstanceGroupName", f"#{index}"), group


def _is_eks(cluster: Resource) -> bool:
    return "Eks" in as_map(cluster.properties.get("Orchestrator"))


def _partial(templates: Templates, cluster: Resource) -> bool:
    """An UpdateCluster request: it may list only some groups and never names the orchestrator (recorded by
    the loader in ``templates.partial``; a template's own metadata does not count, review round 8 L7)."""
    return (cluster.template_path, cluster.logical_id) in templates.partial


def _has_value(value: Json) -> bool:
    return value not in (None, "")


def _live(templates: Templates, resource: Resource) -> bool:
    """Read from AWS by `lint --live` (recorded by it, never taken from the template's own metadata)."""
    return templates.is_live(resource)
