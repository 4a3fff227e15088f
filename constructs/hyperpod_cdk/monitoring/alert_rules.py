"""HyperPodAlertRules: Prometheus alert rules in the AMP workspace, routed to the alerts topic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from aws_cdk import Stack
from aws_cdk import aws_aps as aps
from aws_cdk import aws_sns as sns
from constructs import Construct

from hyperpod_cdk.monitoring.prometheus_workspace import HyperPodPrometheusWorkspace

RULES_FILE = Path(__file__).parent / "assets" / "alert-rules.yaml"


def alert_rules() -> dict[str, Any]:
    """The rule file as data (``groups: [{name, rules: [{alert, expr, for, labels, annotations}]}]``)."""
    data: dict[str, Any] = yaml.safe_load(RULES_FILE.read_text())
    return data


def alert_manager_definition(topic_arn: str, region: str) -> str:
    """The AMP alert manager definition: every alert to one SNS receiver.

    Shape from https://docs.aws.amazon.com/prometheus/latest/userguide/AMP-alertmanager-config.html
    and the SNS receiver from .../AMP-alertmanager-receiver-config.html (checked 2026-12-06): AMP
    takes ``alertmanager_config`` as a string inside the definition, and ``sns_configs`` need the
    topic's ``sigv4.region``.
    """
    # Written as text: topic_arn and region are deploy-time tokens, which a YAML dumper would mangle.
    config = (
        "route:\n"
        "  receiver: hyperpod-alerts\n"
        "  group_by: [alertname]\n"
        "  group_wait: 30s\n"
        "  group_interval: 5m\n"
        "  repeat_interval: 4h\n"
        "receivers:\n"
        "  - name: hyperpod-alerts\n"
        "    sns_configs:\n"
        f"      - topic_arn: {topic_arn}\n"
        "        sigv4:\n"
        f"          region: {region}\n"
        "        attributes:\n"
        "          source: hyperpod-amp\n"
    )
    indented = "".join(f"  {line}\n" for line in config.splitlines())
    return f"alertmanager_config: |\n{indented}"


class HyperPodAlertRules(Construct):
    """An ``AWS::APS::RuleGroupsNamespace`` with this library's HyperPod alert rules
    (monitoring/assets/alert-rules.yaml: GPU Xid/ECC, nodes NotReady/unschedulable, job restarts
    and failures, EFA errors), and the workspace's alert manager definition sending every alert
    to ``topic`` (whose policies must let aps.amazonaws.com publish: :class:`HyperPodAlertsTopic`).

    Args:
        workspace: the AMP workspace the observability add-on writes to.
        topic: the alerts topic.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, workspace: HyperPodPrometheusWorkspace, topic: sns.ITopic
    ) -> None:
        super().__init__(scope, construct_id)
        self.namespace = aps.CfnRuleGroupsNamespace(
            self,
            "Rules",
            name="hyperpod-alerts",
            workspace=workspace.workspace_arn,
            data=RULES_FILE.read_text(),
        )
        # AWS::APS::Workspace carries the alert manager definition; setting it is an in-place update.
        workspace.resource.alert_manager_definition = alert_manager_definition(topic.topic_arn, Stack.of(self).region)
