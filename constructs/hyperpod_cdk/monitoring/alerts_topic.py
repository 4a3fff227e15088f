"""HyperPodAlertsTopic: the one SNS topic every platform alert goes to."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from hyperpod_cdk.errors import prop_error

# The AWS services that publish to the topic, each needing sns:Publish on the topic and, for an
# encrypted topic, kms:GenerateDataKey* + kms:Decrypt on its key (checked 2026-12-06):
# - events: EventBridge rules (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions)
# - aps: the AMP alert manager, which also calls sns:GetTopicAttributes
#   (https://docs.aws.amazon.com/prometheus/latest/userguide/AMP-alertmanager-receiver-AMPpermission.html)
# - budgets: AWS Budgets notifications (https://docs.aws.amazon.com/cost-management/latest/userguide/budgets-sns-policy.html)
# - cloudwatch: CloudWatch alarm actions (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html)
# Key policy shape: https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
PUBLISHERS = ("events.amazonaws.com", "aps.amazonaws.com", "budgets.amazonaws.com", "cloudwatch.amazonaws.com")
# EventBridge publishes under the topic policy AWS's EventBridge guide gives (its SNS permissions section), which
# has no condition: the guide documents no aws:SourceAccount in EventBridge's requests, and a statement that
# needs one would drop every cluster event in silence (review round 24, R24P-L1). Another account's rule can
# deliver to this topic only through an execution role (eb-service-cross-account.html), which no statement
# here names. The other publishers' guides condition on aws:SourceAccount, and so does this policy for them.
UNCONDITIONED_PUBLISHERS = ("events.amazonaws.com",)
MAX_EMAILS = 20


class HyperPodAlertsTopic(Construct):
    """An SNS topic for HyperPod alerts, created KMS-encrypted or imported.

    Created (``existing_topic_arn`` None): a standard topic with a rotating, retained KMS key, TLS
    required of publishers, and a topic policy that lets EventBridge, Amazon Managed Service for
    Prometheus, AWS Budgets and CloudWatch alarms of this account publish (the key lets them encrypt).
    Imported: its policies are the owner's; docs/alerts.md lists the statements those publishers need.

    Args:
        emails: addresses subscribed to the topic (each confirms from its inbox). Default: none.
        existing_topic_arn: an existing topic to use instead of creating one. Default: None.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        emails: Sequence[str] = (),
        existing_topic_arn: str | None = None,
    ) -> None:
        if isinstance(emails, str) or len(emails) > MAX_EMAILS:
            raise prop_error(scope, construct_id, "emails", f"give a list of at most {MAX_EMAILS} addresses")
        if not emails and existing_topic_arn is None:
            raise prop_error(scope, construct_id, "emails", "give at least one address, or existing_topic_arn")
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.key: kms.Key | None = None
        if existing_topic_arn is not None:
            self.topic: sns.ITopic = sns.Topic.from_topic_arn(self, "Topic", existing_topic_arn)
        else:
            self.key = kms.Key(
                self,
                "Key",
                description="HyperPod alerts topic",
                enable_key_rotation=True,
                removal_policy=RemovalPolicy.RETAIN,
            )
            self.key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="AlertPublishersEncrypt",
                    principals=[iam.ServicePrincipal(p) for p in PUBLISHERS],
                    actions=["kms:GenerateDataKey*", "kms:Decrypt"],
                    resources=["*"],  # a key policy's resource is the key itself
                )
            )
            topic = sns.Topic(
                self,
                "Topic",
                display_name="HyperPod alerts",
                master_key=self.key,
                enforce_ssl=True,
            )
            conditioned = [p for p in PUBLISHERS if p not in UNCONDITIONED_PUBLISHERS]
            topic.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="AlertPublishers",
                    principals=[iam.ServicePrincipal(p) for p in conditioned],
                    actions=["sns:Publish", "sns:GetTopicAttributes"],
                    resources=[topic.topic_arn],
                    conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
                )
            )
            topic.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="AlertEvents",
                    principals=[iam.ServicePrincipal(p) for p in UNCONDITIONED_PUBLISHERS],
                    actions=["sns:Publish"],
                    resources=[topic.topic_arn],
                )
            )
            self.topic = topic
        for address in emails:
            # Named by the address, not its position: removing one address keeps the others subscribed.
            digest = hashlib.sha256(address.lower().encode()).hexdigest()[:10]
            sns.Subscription(
                self,
                f"Email{digest}",
                topic=self.topic,
                protocol=sns.SubscriptionProtocol.EMAIL,
                endpoint=address,
            )

    @property
    def topic_arn(self) -> str:
        return self.topic.topic_arn
