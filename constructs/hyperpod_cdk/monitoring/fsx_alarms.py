"""HyperPodFsxAlarms: CloudWatch alarms on an FSx for Lustre file system, sent to the alerts topic."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from hyperpod_cdk.errors import prop_error

# AWS/FSx FreeDataStorageCapacity (bytes, dimension FileSystemId), reported by every Lustre file
# system: https://docs.aws.amazon.com/fsx/latest/LustreGuide/fs-metrics.html (checked 2026-12-06).
NAMESPACE = "AWS/FSx"
FREE_CAPACITY_METRIC = "FreeDataStorageCapacity"
GIB = 1024**3


class HyperPodFsxAlarms(Construct):
    """A low-free-space alarm on an FSx for Lustre file system.

    Fires when the minimum ``FreeDataStorageCapacity`` over 5 minutes stays below
    ``free_percent`` of ``storage_capacity_gib`` for three periods; notifies ``topic`` on alarm
    and on recovery.

    Args:
        file_system_id: the file system (a token is fine).
        storage_capacity_gib: its capacity, for the threshold.
        topic: the alerts topic (its policy must let cloudwatch.amazonaws.com publish).
        free_percent: alarm below this share of free space. Default: 10.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        file_system_id: str,
        storage_capacity_gib: int,
        topic: sns.ITopic,
        free_percent: int = 10,
    ) -> None:
        capacity = storage_capacity_gib
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise prop_error(scope, construct_id, "storage_capacity_gib", "give a positive number of GiB")
        if isinstance(free_percent, bool) or not isinstance(free_percent, int) or not 1 <= free_percent <= 90:
            raise prop_error(scope, construct_id, "free_percent", "give a percentage from 1 to 90")
        super().__init__(scope, construct_id)
        metric = cloudwatch.Metric(
            namespace=NAMESPACE,
            metric_name=FREE_CAPACITY_METRIC,
            dimensions_map={"FileSystemId": file_system_id},
            statistic="Minimum",
            period=Duration.minutes(5),
        )
        self.low_free_capacity = cloudwatch.Alarm(
            self,
            "LowFreeCapacity",
            alarm_description=f"FSx for Lustre {file_system_id}: less than {free_percent}% free",
            metric=metric,
            threshold=storage_capacity_gib * GIB * free_percent / 100,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=3,
            treat_missing_data=cloudwatch.TreatMissingData.MISSING,
        )
        self.low_free_capacity.add_alarm_action(actions.SnsAction(topic))
        self.low_free_capacity.add_ok_action(actions.SnsAction(topic))
