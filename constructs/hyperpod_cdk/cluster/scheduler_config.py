"""HyperPodSchedulerConfig: the task-governance cluster policy of a HyperPod cluster."""

from __future__ import annotations

import re
from collections.abc import Mapping

from aws_cdk import Token
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from hyperpod_cdk.errors import prop_error
from hyperpod_cdk.rules.acknowledge import BUILTIN_UNKNOWN_TYPE, OLD_BUILTIN_SCHEMAS, acknowledge

# AWS::SageMaker::ClusterSchedulerConfig (cfn-lint 1.58 registry schema): Name 1-63 of
# [a-zA-Z0-9-]; at most 10 PriorityClasses, each Name lower-case [a-z0-9-] and Weight 0-100.
NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
CLASS_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$"
MAX_CLASSES = 10


class HyperPodSchedulerConfig(Construct):
    """An ``AWS::SageMaker::ClusterSchedulerConfig``: fair share, idle sharing and priority classes.

    SageMaker turns each priority class into the Kueue WorkloadPriorityClass ``<name>-priority``
    on the EKS cluster; jobs select it with the ``kueue.x-k8s.io/priority-class`` label. Create it
    after the task-governance add-on is running (``HyperPodTaskGovernanceAddon.ready``): SageMaker
    fails a policy created before that (``CreateFailed``).

    ``name`` and ``cluster_arn`` are create-only: changing either replaces the policy. Everything
    else updates in place.

    Args:
        cluster_arn: ARN of the EKS-orchestrated HyperPod cluster (the ``cluster/<id>`` form that
            ``AWS::SageMaker::Cluster`` returns).
        name: policy name, 1-63 of a-z, A-Z, 0-9 and '-'.
        priority_classes: class name -> weight (0-100), at most 10. Default: none.
        fair_share: teams borrow idle compute by their fair-share weight. Default: True.
        idle_resource_sharing: compute that no quota covers is lent to teams. Default: True.
        description: up to 1024 characters.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster_arn: str,
        name: str,
        priority_classes: Mapping[str, int] | None = None,
        fair_share: bool = True,
        idle_resource_sharing: bool = True,
        description: str | None = None,
    ) -> None:
        classes = dict(priority_classes or {})
        _check(scope, construct_id, name=name, classes=classes, description=description)
        super().__init__(scope, construct_id)
        self.priority_classes = classes
        self.resource = sagemaker.CfnClusterSchedulerConfig(
            self, "Resource",
            name=name,
            cluster_arn=cluster_arn,
            description=description,
            scheduler_config=sagemaker.CfnClusterSchedulerConfig.SchedulerConfigProperty(
                fair_share="Enabled" if fair_share else "Disabled",
                idle_resource_sharing="Enabled" if idle_resource_sharing else "Disabled",
                priority_classes=[
                    sagemaker.CfnClusterSchedulerConfig.PriorityClassProperty(name=class_name, weight=weight)
                    for class_name, weight in classes.items()
                ] or None,
            ),
        )

        acknowledge(self.resource, BUILTIN_UNKNOWN_TYPE, OLD_BUILTIN_SCHEMAS)

    @property
    def scheduler_config_arn(self) -> str:
        return self.resource.attr_cluster_scheduler_config_arn


def _check(
    scope: Construct, construct_id: str, *, name: str, classes: dict[str, int], description: str | None
) -> None:
    def fail(prop: str, message: str) -> Exception:
        return prop_error(scope, construct_id, prop, message)

    if not Token.is_unresolved(name) and not re.fullmatch(NAME_PATTERN, name):
        raise fail("name", f"'{name}' must be 1-63 characters of a-z, A-Z, 0-9 and '-', alphanumeric at both ends")
    if len(classes) > MAX_CLASSES:
        raise fail("priority_classes", f"{len(classes)} classes; a scheduler config takes at most {MAX_CLASSES}")
    for class_name, weight in classes.items():
        if not re.fullmatch(CLASS_NAME_PATTERN, class_name):
            raise fail("priority_classes", f"'{class_name}' must be at most 40 characters of a-z, 0-9 and '-'")
        if not Token.is_unresolved(weight) and not (isinstance(weight, int) and 0 <= weight <= 100):
            raise fail(f"priority_classes.{class_name}", f"weight must be an integer 0-100, got {weight!r}")
    if description is not None and len(description) > 1024:
        raise fail("description", "at most 1024 characters")
