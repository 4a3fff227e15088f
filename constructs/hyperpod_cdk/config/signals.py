"""Day-2 signal settings: where alerts go (``alerts:``) and the monthly budget (``cost:``).

.. code-block:: yaml

    alerts:
      email: [oncall@example.com]   # each address confirms the subscription from its inbox
      sns_topic_arn: null           # or an existing topic; null creates a KMS-encrypted one
    cost:
      monthly_budget_usd: 50000
      thresholds_percent: [80, 100] # ACTUAL spend notifications; a FORECASTED one at the last value
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from hyperpod_cdk.config.base import _Model
from hyperpod_cdk.config.messages import register_hints

# A practical e-mail shape (SNS confirms the address itself): local@domain.tld, no spaces.
EMAIL_PATTERN = r"^[^@\s]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$"
# https://docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html: names of 1-256 of A-Z a-z 0-9 _ -
# (".fifo" only for FIFO topics, which EventBridge, AMP and Budgets cannot all publish to).
SNS_TOPIC_ARN_PATTERN = r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$"
register_hints(
    {
        EMAIL_PATTERN: "an e-mail address such as oncall@example.com",
        SNS_TOPIC_ARN_PATTERN: "a standard SNS topic ARN such as arn:aws:sns:us-west-2:123456789012:hyperpod-alerts",
    }
)
# Tag key every resource of a platform with a `cost:` section carries (value: the platform name); the
# budget filters on it once it is activated as a cost allocation tag (docs/cost.md).
COST_TAG_KEY = "hyperpod-cdk:platform"


class AlertsConfig(_Model):
    """One SNS topic for every platform alert: HyperPod cluster events, CloudWatch alarms, AMP alert
    rules and the budget. Created KMS-encrypted unless ``sns_topic_arn`` names an existing topic."""

    email: Annotated[list[Annotated[str, Field(pattern=EMAIL_PATTERN)]], Field(max_length=20)] = Field(
        default=[], description="E-mail addresses subscribed to the topic (each confirms from its inbox)."
    )
    sns_topic_arn: Annotated[str | None, Field(pattern=SNS_TOPIC_ARN_PATTERN)] = Field(
        default=None,
        description="Use this existing topic; its topic and key policies must let events, aps, budgets and "
        "cloudwatch publish (docs/alerts.md).",
    )

    @model_validator(mode="after")
    def _somewhere_to_go(self) -> AlertsConfig:
        if not self.email and self.sns_topic_arn is None:
            raise ValueError("give email addresses or sns_topic_arn: a topic nobody reads alerts no one")
        if len(set(self.email)) != len(self.email):
            raise ValueError("email: an address is listed twice")
        return self


class CostConfig(_Model):
    """A monthly AWS Budgets budget over the resources carrying the platform's cost allocation tag."""

    monthly_budget_usd: Annotated[float, Field(gt=0, le=1_000_000_000)] = Field(
        description="Monthly budget in US dollars."
    )
    thresholds_percent: Annotated[list[Annotated[int, Field(ge=1, le=1000)]], Field(min_length=1, max_length=9)] = (
        Field(default=[80, 100], description="Notify the alerts topic when actual spend passes each percentage.")
    )

    @model_validator(mode="after")
    def _distinct(self) -> CostConfig:
        if len(set(self.thresholds_percent)) != len(self.thresholds_percent):
            raise ValueError("thresholds_percent: a percentage is listed twice")
        return self
