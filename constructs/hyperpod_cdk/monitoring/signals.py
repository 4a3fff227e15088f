"""HyperPodSignals: the platform's day-2 signals from its ``alerts:`` and ``cost:`` config."""

from __future__ import annotations

from constructs import Construct

from hyperpod_cdk.config import PlatformConfig
from hyperpod_cdk.config.signals import COST_TAG_KEY
from hyperpod_cdk.errors import prop_error
from hyperpod_cdk.monitoring.alert_rules import HyperPodAlertRules
from hyperpod_cdk.monitoring.alerts_topic import HyperPodAlertsTopic
from hyperpod_cdk.monitoring.budget import HyperPodBudget
from hyperpod_cdk.monitoring.cluster_events import HyperPodClusterEventRules
from hyperpod_cdk.monitoring.fsx_alarms import HyperPodFsxAlarms
from hyperpod_cdk.monitoring.prometheus_workspace import HyperPodPrometheusWorkspace


class HyperPodSignals(Construct):
    """Everything that tells operators about a running platform, from ``config.alerts`` (required)
    and ``config.cost``:

    - :class:`HyperPodAlertsTopic` (created KMS-encrypted with the e-mail subscriptions, or imported);
    - :class:`HyperPodClusterEventRules` for the HyperPod cluster (structured cluster events only
      with Continuous node provisioning, which Slurm clusters here do not use);
    - :class:`HyperPodFsxAlarms` for a file system the platform created (its capacity is known);
    - :class:`HyperPodAlertRules` with an AMP workspace (EKS observability add-on);
    - :class:`HyperPodBudget` with ``config.cost``, on the ``hyperpod-cdk:platform`` tag.

    Args:
        config: the platform config; ``alerts`` must be set.
        cluster_name: the HyperPod cluster name.
        fsx_file_system_id / fsx_storage_capacity_gib: a created FSx for Lustre file system. Default: none.
        prometheus_workspace: the AMP workspace of the observability add-on. Default: none.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        cluster_name: str,
        fsx_file_system_id: str | None = None,
        fsx_storage_capacity_gib: int | None = None,
        prometheus_workspace: HyperPodPrometheusWorkspace | None = None,
    ) -> None:
        if not isinstance(config, PlatformConfig):
            raise prop_error(scope, construct_id, "config", f"expected a PlatformConfig, got {type(config).__name__}")
        alerts = config.alerts
        if alerts is None:
            raise prop_error(scope, construct_id, "config", "config.alerts is not set: nothing to send signals to")
        super().__init__(scope, construct_id)
        self.alerts = HyperPodAlertsTopic(self, "Alerts", emails=alerts.email, existing_topic_arn=alerts.sns_topic_arn)
        topic = self.alerts.topic
        continuous = config.orchestrator == "eks" and config.hyperpod.node_provisioning_mode == "Continuous"
        self.cluster_events = HyperPodClusterEventRules(
            self, "ClusterEvents", topic=topic, cluster_name=cluster_name, continuous=continuous
        )
        self.fsx_alarms: HyperPodFsxAlarms | None = None
        if fsx_file_system_id is not None and fsx_storage_capacity_gib is not None:
            self.fsx_alarms = HyperPodFsxAlarms(
                self,
                "FsxAlarms",
                file_system_id=fsx_file_system_id,
                storage_capacity_gib=fsx_storage_capacity_gib,
                topic=topic,
            )
        self.alert_rules: HyperPodAlertRules | None = None
        if prometheus_workspace is not None:
            self.alert_rules = HyperPodAlertRules(self, "AlertRules", workspace=prometheus_workspace, topic=topic)
        self.budget: HyperPodBudget | None = None
        if config.cost is not None:
            self.budget = HyperPodBudget(
                self,
                "Budget",
                monthly_usd=config.cost.monthly_budget_usd,
                thresholds_percent=config.cost.thresholds_percent,
                topic_arn=self.alerts.topic_arn,
                tag_key=COST_TAG_KEY,
                tag_value=config.name,
            )
