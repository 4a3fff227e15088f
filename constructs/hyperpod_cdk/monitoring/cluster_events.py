"""HyperPodClusterEventRules: EventBridge rules that send a HyperPod cluster's events to the alerts topic."""

from __future__ import annotations

from typing import Any

import jsii
from aws_cdk import aws_events as events
from aws_cdk import aws_sns as sns
from aws_cdk.interfaces import aws_events as events_refs
from constructs import Construct

from hyperpod_cdk.errors import prop_error

# Source and detail-types of the HyperPod events SageMaker sends to EventBridge, from
# https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-sagemaker.html and
# https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html (checked 2026-12-06).
SOURCE = "aws.sagemaker"
CLUSTER_STATE_CHANGE = "SageMaker HyperPod Cluster State Change"
NODE_HEALTH_EVENT = "SageMaker HyperPod Cluster Node Health Event"
# Structured cluster events (provisioning, scaling, replacement, reboot, patching), Continuous
# provisioning only; record shape detail.EventDetails.{ClusterName, EventLevel: Info|Warn|Error}:
# https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-cluster-events-reference.html
CLUSTER_EVENT = "SageMaker HyperPod Cluster Event"
ALERT_LEVELS = ("Warn", "Error")


@jsii.implements(events.IRuleTarget)
class _TopicTarget:
    """The topic as a rule target, granting nothing.

    aws-cdk-lib's ``targets.SnsTopic`` adds a topic-policy statement and a key statement for
    ``events.amazonaws.com`` with no condition (review round 23, R23P-L2); the topic's own policy already lets
    EventBridge publish when ``aws:SourceAccount`` is this account (:class:`HyperPodAlertsTopic`), and an
    owner's topic (``sns_topic_arn``) has the owner's policy.
    """

    def __init__(self, topic: sns.ITopic) -> None:
        self._topic = topic

    def bind(self, rule: events_refs.IRuleRef, id: str | None = None) -> events.RuleTargetConfig:  # noqa: A002 - jsii name
        # target_resource: aws-cdk-lib then refuses an imported topic of another account or region (R23U-L3).
        return events.RuleTargetConfig(arn=self._topic.topic_arn, target_resource=self._topic)


def event_patterns(cluster_name: str, *, continuous: bool) -> dict[str, dict[str, Any]]:
    """The EventBridge patterns by rule id, as CloudFormation ``EventPattern`` values."""
    patterns: dict[str, dict[str, Any]] = {
        # Every status change of this cluster (Creating, InService, Updating, Failed, RollingBack, ...);
        # the documented example carries detail.ClusterName.
        "ClusterStatus": {
            "source": [SOURCE],
            "detail-type": [CLUSTER_STATE_CHANGE],
            "detail": {"ClusterName": [cluster_name]},
        },
        # Nodes turning unhealthy (health-monitoring agent, deep health checks) or healthy again; the
        # documented example carries detail.ClusterName, InstanceId and HealthSummary.{HealthStatus,
        # HealthStatusReason, RepairAction, Recommendation} (automating-sagemaker-with-eventbridge, section
        # "SageMaker HyperPod cluster node health").
        "NodeHealth": {
            "source": [SOURCE],
            "detail-type": [NODE_HEALTH_EVENT],
            "detail": {"ClusterName": [cluster_name]},
        },
    }
    if continuous:
        # Warnings and errors only: failed scaling and instance creation, replacements, reboots.
        patterns["ClusterEvents"] = {
            "source": [SOURCE],
            "detail-type": [CLUSTER_EVENT],
            "detail": {"EventDetails": {"ClusterName": [cluster_name], "EventLevel": list(ALERT_LEVELS)}},
        }
    return patterns


class HyperPodClusterEventRules(Construct):
    """EventBridge rules on the default bus that send one HyperPod cluster's events to an SNS topic.

    - ``ClusterStatus``: "SageMaker HyperPod Cluster State Change" of this cluster.
    - ``NodeHealth``: "SageMaker HyperPod Cluster Node Health Event" of this cluster's nodes.
    - ``ClusterEvents`` (``continuous`` only): "SageMaker HyperPod Cluster Event" at Warn or Error level.

    Args:
        topic: where the events go (its policy must let events.amazonaws.com publish).
        cluster_name: the HyperPod cluster's name.
        continuous: the cluster uses Continuous node provisioning, which structured events need.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, topic: sns.ITopic, cluster_name: str, continuous: bool
    ) -> None:
        if not isinstance(cluster_name, str) or not cluster_name:
            raise prop_error(scope, construct_id, "cluster_name", "give the HyperPod cluster's name")
        super().__init__(scope, construct_id)
        self.rules: dict[str, events.Rule] = {}
        for rule_id, pattern in event_patterns(cluster_name, continuous=continuous).items():
            rule = events.Rule(
                self,
                rule_id,
                description=f"HyperPod {cluster_name}: {rule_id} to the alerts topic",
                event_pattern=events.EventPattern(
                    source=pattern["source"],
                    detail_type=pattern["detail-type"],
                    detail=pattern.get("detail"),
                ),
            )
            rule.add_target(_TopicTarget(topic))
            self.rules[rule_id] = rule
