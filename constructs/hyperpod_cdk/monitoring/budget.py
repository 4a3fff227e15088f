"""HyperPodBudget: a monthly AWS Budgets cost budget over the platform's cost allocation tag."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_budgets as budgets
from constructs import Construct

from hyperpod_cdk.errors import prop_error

# Budgets filters a cost budget on a user tag as "user:<key>$<value>" under CostFilters.TagKeyValue,
# and only once the key is activated as a cost allocation tag (docs/cost.md):
# https://docs.aws.amazon.com/cost-management/latest/userguide/budgets-create-filters.html and
# https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_budgets_Budget.html (checked 2026-12-06).
# A budget has at most 10 notifications: https://docs.aws.amazon.com/cost-management/latest/userguide/budgets-managing-costs.html
MAX_NOTIFICATIONS = 10


def tag_filter(key: str, value: str) -> str:
    return f"user:{key}${value}"


class HyperPodBudget(Construct):
    """An ``AWS::Budgets::Budget`` (COST, MONTHLY, USD) over resources tagged ``tag_key=tag_value``.

    One ACTUAL-spend notification per threshold and one FORECASTED at the highest, each to the SNS
    topic (whose policies must let budgets.amazonaws.com publish: :class:`HyperPodAlertsTopic`).

    Args:
        monthly_usd: the monthly amount in US dollars.
        thresholds_percent: notify when actual spend passes each percentage of it.
        topic_arn: the alerts topic.
        tag_key: the cost allocation tag key every platform resource carries.
        tag_value: its value (the platform name).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        monthly_usd: float,
        thresholds_percent: Sequence[int],
        topic_arn: str,
        tag_key: str,
        tag_value: str,
    ) -> None:
        if isinstance(monthly_usd, bool) or not isinstance(monthly_usd, int | float) or monthly_usd <= 0:
            raise prop_error(scope, construct_id, "monthly_usd", "give a positive amount in US dollars")
        thresholds = list(thresholds_percent)
        if not thresholds or len(thresholds) + 1 > MAX_NOTIFICATIONS:
            raise prop_error(
                scope, construct_id, "thresholds_percent", f"give 1 to {MAX_NOTIFICATIONS - 1} percentages"
            )
        super().__init__(scope, construct_id)
        subscriber = budgets.CfnBudget.SubscriberProperty(subscription_type="SNS", address=topic_arn)

        def notify(kind: str, percent: int) -> budgets.CfnBudget.NotificationWithSubscribersProperty:
            return budgets.CfnBudget.NotificationWithSubscribersProperty(
                notification=budgets.CfnBudget.NotificationProperty(
                    notification_type=kind,
                    comparison_operator="GREATER_THAN",
                    threshold=percent,
                    threshold_type="PERCENTAGE",
                ),
                subscribers=[subscriber],
            )

        self.resource = budgets.CfnBudget(
            self,
            "Resource",
            budget=budgets.CfnBudget.BudgetDataProperty(
                budget_type="COST",
                time_unit="MONTHLY",
                budget_limit=budgets.CfnBudget.SpendProperty(amount=monthly_usd, unit="USD"),
                cost_filters={"TagKeyValue": [tag_filter(tag_key, tag_value)]},
            ),
            notifications_with_subscribers=[
                *(notify("ACTUAL", p) for p in sorted(thresholds)),
                notify("FORECASTED", max(thresholds)),
            ],
        )
