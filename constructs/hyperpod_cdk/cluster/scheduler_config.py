"""HyperPodSchedulerConfig: the task-governance cluster policy of a HyperPod cluster."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import CfnResource, Stack, Token
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from hyperpod_cdk._handler_functions import (
    MAX_HANDLER_TIMEOUT,
    cfn_resource,
    handler_code,
    handler_custom_resource,
    handler_function,
    retained_log_group,
)
from hyperpod_cdk.config import HYPERPOD_NAME_PATTERN
from hyperpod_cdk.config.charts import SCHEDULER_CLASS_PATTERN
from hyperpod_cdk.errors import prop_error
from hyperpod_cdk.rules.acknowledge import (
    BUILTIN_UNKNOWN_TYPE,
    OLD_BUILTIN_SCHEMAS,
    acknowledge,
    acknowledge_wildcards,
)
from hyperpod_cdk.specs.cfn_regions import SCHEDULER_CONFIG_TYPE, has_native_type

#: Tag of the handler function, for SCPs that deny invoking or changing it (docs/security-posture.md).
PURPOSE_TAG = ("hyperpod-cdk:purpose", "scheduler-config-eks-access")

# AWS::SageMaker::ClusterSchedulerConfig (cfn-lint 1.58 registry schema): Name 1-63 of
# [a-zA-Z0-9-]; at most 10 PriorityClasses, each Name lower-case [a-z0-9-] and Weight 0-100.
NAME_PATTERN = HYPERPOD_NAME_PATTERN
CLASS_NAME_PATTERN = SCHEDULER_CLASS_PATTERN
MAX_CLASSES = 10
CUSTOM_RESOURCE_TYPE = "Custom::HyperPodClusterSchedulerConfig"
HANDLER_DIR = Path(__file__).resolve().parent / "handlers" / "scheduler_config"
SPEC_ENV = "SCHEDULER_CONFIG_SPEC"


class HyperPodSchedulerConfig(Construct):
    """The task-governance policy of a HyperPod cluster: fair share, idle sharing and priority classes.

    SageMaker turns each priority class into the Kueue WorkloadPriorityClass ``<name>-priority``
    on the EKS cluster; jobs select it with the ``kueue.x-k8s.io/priority-class`` label. Create it
    after the task-governance add-on is running (``HyperPodTaskGovernanceAddon.ready``): SageMaker
    fails a policy created before that (``CreateFailed``).

    Where the region's CloudFormation has ``AWS::SageMaker::ClusterSchedulerConfig``
    (:mod:`hyperpod_cdk.specs.cfn_regions`) that type is used. Elsewhere, and when the stack's
    region is not known at synth, a custom resource makes the same SageMaker API calls (as AWS's
    own HyperPod CloudFormation does). Either way ``name`` and ``cluster_arn`` are create-only:
    changing either creates a new policy and deletes the old one; everything else updates in place.

    Args:
        cluster_arn: ARN of the EKS-orchestrated HyperPod cluster (the ``cluster/<id>`` form that
            ``AWS::SageMaker::Cluster`` returns).
        name: policy name, 1-63 of a-z, A-Z, 0-9 and '-'.
        priority_classes: class name -> weight (0-100), at most 10. Default: none.
        fair_share: teams borrow idle compute by their fair-share weight. Default: True.
        idle_resource_sharing: compute that no quota covers is lent to teams. Default: True.
        description: up to 1024 characters.
        eks_cluster: the EKS cluster behind the HyperPod cluster; the custom resource's role needs
            it (SageMaker associates EKS access policies with the caller's credentials). Required
            when the custom resource is used.
        native: force the CloudFormation type (True) or the custom resource (False). Default: by region.
        log_key: KMS key of the custom resource handler's log group. Default: a new key.
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
        eks_cluster: eks.ICluster | None = None,
        native: bool | None = None,
        log_key: kms.IKey | None = None,
    ) -> None:
        classes = dict(priority_classes or {})
        _check(scope, construct_id, name=name, classes=classes, description=description)
        region = Stack.of(scope).region
        use_native = (
            native
            if native is not None
            else (not Token.is_unresolved(region) and has_native_type(SCHEDULER_CONFIG_TYPE, region))
        )
        if not use_native and eks_cluster is None:
            raise prop_error(
                scope,
                construct_id,
                "eks_cluster",
                f"CloudFormation in {region} has no {SCHEDULER_CONFIG_TYPE}; the custom resource that replaces it "
                "needs the EKS cluster (its role may manage the cluster's access policies)",
            )
        super().__init__(scope, construct_id)
        self.priority_classes = classes
        self.native = use_native
        fair = "Enabled" if fair_share else "Disabled"
        idle = "Enabled" if idle_resource_sharing else "Disabled"
        config: dict[str, Any] = {"FairShare": fair, "IdleResourceSharing": idle}
        if classes:
            config["PriorityClasses"] = [{"Name": n, "Weight": w} for n, w in classes.items()]
        self.function: lambda_.Function | None = None
        if use_native:
            native_resource = sagemaker.CfnClusterSchedulerConfig(
                self,
                "Resource",
                name=name,
                cluster_arn=cluster_arn,
                description=description,
                scheduler_config=sagemaker.CfnClusterSchedulerConfig.SchedulerConfigProperty(
                    fair_share=fair,
                    idle_resource_sharing=idle,
                    priority_classes=[
                        sagemaker.CfnClusterSchedulerConfig.PriorityClassProperty(name=n, weight=w)
                        for n, w in classes.items()
                    ]
                    or None,
                ),
            )
            acknowledge(native_resource, BUILTIN_UNKNOWN_TYPE, OLD_BUILTIN_SCHEMAS)
            self.resource: CfnResource = native_resource
            self._arn = native_resource.attr_cluster_scheduler_config_arn
            return
        assert eks_cluster is not None
        properties: dict[str, Any] = {"Name": name, "ClusterArn": cluster_arn, "SchedulerConfig": config}
        if description:
            properties["Description"] = description
        self.function = self._handler(cluster_arn, eks_cluster, log_key, properties)
        custom = handler_custom_resource(
            self,
            "Resource",
            self.function,
            resource_type=CUSTOM_RESOURCE_TYPE,
            properties=properties,
            after_role_policy=True,
        )
        self.resource = cfn_resource(custom)
        self._arn = custom.get_att_string("ClusterSchedulerConfigArn")

    def _handler(
        self, cluster_arn: str, eks_cluster: eks.ICluster, log_key: kms.IKey | None, properties: dict[str, Any]
    ) -> lambda_.Function:
        stack = Stack.of(self)
        _, log_group = retained_log_group(
            self, "HandlerLogs", "scheduler-config", description="HyperPod scheduler config handler logs", key=log_key
        )
        policies = stack.format_arn(service="sagemaker", resource="cluster-scheduler-config", resource_name="*")
        access_entries = stack.format_arn(
            service="eks",
            resource="access-entry",
            resource_name=f"{eks_cluster.cluster_name}/*",
        )
        function = handler_function(
            self,
            "Handler",
            description="Creates the SageMaker HyperPod cluster scheduler config (hyperpod-cdk)",
            code=handler_code(HANDLER_DIR),  # with the shared CloudFormation-response module
            timeout=MAX_HANDLER_TIMEOUT,
            memory_size=256,
            log_group=log_group,
            # The policy is fixed at synth: the handler refuses events whose properties differ, and acts only
            # on policies tagged with this owner value (unique to this construct).
            environment={
                SPEC_ENV: stack.to_json_string(
                    {
                        "Properties": properties,
                        "Owner": f"{stack.stack_name}/{self.node.addr}",
                    }
                )
            },
            environment_reason="the environment holds the policy's properties (name, cluster ARN, weights) and an "
            "owner tag value, no secrets; Lambda encrypts it at rest with an AWS managed key",
            outside_vpc_reason="calls only the SageMaker API, whose regional endpoint it reaches from the Lambda "
            "service network; nothing in the VPC is involved",
            managed_policies_reason="Lambda's AWS managed basic execution policy: CloudWatch Logs for the handler; "
            "its own access is the scheduler-config calls on this cluster",
            statements=_handler_statements(cluster_arn, eks_cluster, policies, access_entries),
            # The role may associate EKS access policies (SageMaker uses it for task governance), so the
            # function is fenced like the cluster-admin handlers (docs/security-posture.md, R8P-L3).
            purpose_tag=PURPOSE_TAG,
        )
        acknowledge_wildcards(
            function,
            "scheduler-config ids are assigned by SageMaker at creation, and SageMaker manages the access "
            "entries of this one EKS cluster; every call is limited to this account and region",
            resources=[policies, access_entries],
        )
        acknowledge_wildcards(
            function,
            "sagemaker:ListClusterSchedulerConfigs supports no resource-level permission; the handler uses it "
            "to find the policy a retried Create already made",
            resources=["*"],
        )
        return function

    @property
    def scheduler_config_arn(self) -> str:
        return self._arn


def _handler_statements(
    cluster_arn: str, eks_cluster: eks.ICluster, policies: str, access_entries: str
) -> list[iam.PolicyStatement]:
    """The permissions the AWS::SageMaker::ClusterSchedulerConfig handlers list in the registry schema."""
    return [
        iam.PolicyStatement(
            sid="SchedulerConfig",
            actions=[f"sagemaker:{verb}ClusterSchedulerConfig" for verb in ("Create", "Describe", "Update", "Delete")],
            resources=[policies, cluster_arn],
        ),
        # The owner tag: set at creation, read before any update or delete.
        iam.PolicyStatement(sid="OwnerTag", actions=["sagemaker:AddTags", "sagemaker:ListTags"], resources=[policies]),
        # List actions take no resource (Service Authorization Reference, Amazon SageMaker AI: actions).
        iam.PolicyStatement(sid="FindOwnPolicy", actions=["sagemaker:ListClusterSchedulerConfigs"], resources=["*"]),
        iam.PolicyStatement(sid="HyperPodCluster", actions=["sagemaker:DescribeCluster"], resources=[cluster_arn]),
        iam.PolicyStatement(
            sid="EksAccess",
            actions=[
                "eks:DescribeCluster",
                "eks:AssociateAccessPolicy",
                "eks:DisassociateAccessPolicy",
                "eks:DescribeAccessEntry",
                "eks:ListAssociatedAccessPolicies",
            ],
            resources=[eks_cluster.cluster_arn, access_entries],
        ),
    ]


def _check(scope: Construct, construct_id: str, *, name: str, classes: dict[str, int], description: str | None) -> None:
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
