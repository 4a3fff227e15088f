"""Small helpers shared by the constructs."""

from __future__ import annotations

from aws_cdk import aws_logs as logs

_R = logs.RetentionDays
# CloudWatch Logs retention values (days) to the CDK enum, whose Python values are names.
RETENTION_BY_DAYS: dict[int, logs.RetentionDays] = {
    1: _R.ONE_DAY, 3: _R.THREE_DAYS, 5: _R.FIVE_DAYS, 7: _R.ONE_WEEK, 14: _R.TWO_WEEKS,
    30: _R.ONE_MONTH, 60: _R.TWO_MONTHS, 90: _R.THREE_MONTHS, 120: _R.FOUR_MONTHS,
    150: _R.FIVE_MONTHS, 180: _R.SIX_MONTHS, 365: _R.ONE_YEAR, 400: _R.THIRTEEN_MONTHS,
    545: _R.EIGHTEEN_MONTHS, 731: _R.TWO_YEARS, 1096: _R.THREE_YEARS, 1827: _R.FIVE_YEARS,
    3653: _R.TEN_YEARS,
}


def retention(days: int) -> logs.RetentionDays:
    try:
        return RETENTION_BY_DAYS[days]
    except KeyError:
        raise ValueError(
            f"log retention {days} days is not a CloudWatch Logs value: {sorted(RETENTION_BY_DAYS)}"
        ) from None
