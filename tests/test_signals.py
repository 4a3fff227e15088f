"""Day-2 signals (issue 20): examples/eks-observed.yaml synthesized once with cdk-nag and strict
validation, plus one Slurm synth, the alert-rule and dashboard assets, and the config checks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from hyperpod_cdk.config import parse_config
from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.monitoring import cluster_events
from hyperpod_cdk.monitoring.alert_rules import RULES_FILE, alert_manager_definition, alert_rules
from hyperpod_cdk.monitoring.grafana_dashboards import DASHBOARD_DIR, dashboards_digest
from hyperpod_cdk.monitoring.metric_sources import METRIC_SOURCES

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "eks-observed.yaml"
CFN_LINT = Path(sys.executable).with_name("cfn-lint")
GIB = 1024**3


@pytest.fixture(scope="module")
def observed(synth, tmp_path_factory):
    return synth(EXAMPLE, tmp_path_factory.mktemp("observed.out"))


@pytest.fixture(scope="module")
def slurm_alerts(synth, tmp_path_factory):
    data = yaml.safe_load((REPO / "examples" / "slurm.yaml").read_text())
    data["alerts"] = {"email": ["ops@example.com"]}
    data["cost"] = {"monthly_budget_usd": 1234.5}
    path = tmp_path_factory.mktemp("slurm-alerts") / "slurm-alerts.yaml"
    path.write_text(yaml.safe_dump(data))
    return synth(path, tmp_path_factory.mktemp("slurm-alerts.out"))


def one(s, cfn_type: str) -> tuple[str, dict]:
    return s.one(cfn_type)


def topic_ref(s) -> dict:
    return {"Ref": one(s, "AWS::SNS::Topic")[0]}


# ------------------------------------------------------------------------------ topic


def test_topic_is_kms_encrypted_with_the_email_subscription(observed):
    topic_id, topic = one(observed, "AWS::SNS::Topic")
    key_ref = topic["Properties"]["KmsMasterKeyId"]
    key_id = key_ref["Fn::GetAtt"][0]
    key = observed.template["Resources"][key_id]
    assert key["Type"] == "AWS::KMS::Key" and key["Properties"]["EnableKeyRotation"] is True
    (sub,) = observed.resources("AWS::SNS::Subscription").values()
    assert sub["Properties"] == {
        "Protocol": "email",
        "TopicArn": {"Ref": topic_id},
        "Endpoint": "hyperpod-oncall@example.com",
    }


def _principals(statement: dict) -> set[str]:
    service = statement["Principal"]["Service"]
    return {service} if isinstance(service, str) else set(service)


def test_events_aps_budgets_and_cloudwatch_may_publish_and_encrypt(observed):
    wanted = {"events.amazonaws.com", "aps.amazonaws.com", "budgets.amazonaws.com", "cloudwatch.amazonaws.com"}
    (policy,) = observed.resources("AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    publish = [s for s in statements if s.get("Sid") == "AlertPublishers"]
    assert len(publish) == 1 and _principals(publish[0]) == wanted - {"events.amazonaws.com"}
    assert "sns:Publish" in publish[0]["Action"]
    assert "aws:SourceAccount" in publish[0]["Condition"]["StringEquals"]
    # R24P-L1: EventBridge's statement is AWS's documented one, with no condition it may not send.
    (events,) = (s for s in statements if s.get("Sid") == "AlertEvents")
    assert _principals(events) == {"events.amazonaws.com"} and events["Action"] == "sns:Publish"
    assert "Condition" not in events
    # TLS required of every publisher (enforce_ssl)
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
    )
    key_id = one(observed, "AWS::SNS::Topic")[1]["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    key_statements = observed.template["Resources"][key_id]["Properties"]["KeyPolicy"]["Statement"]
    (encrypt,) = (s for s in key_statements if s.get("Sid") == "AlertPublishersEncrypt")
    assert _principals(encrypt) == wanted
    assert set(encrypt["Action"]) == {"kms:GenerateDataKey*", "kms:Decrypt"}


def test_no_service_may_publish_or_use_the_key_outside_the_statements_the_project_writes(observed):
    """R23P-L2: aws-cdk-lib's SNS rule target added an unconditioned ``events.amazonaws.com`` publish
    statement to the topic and another key statement, beside the project's conditioned ones."""
    (policy,) = observed.resources("AWS::SNS::TopicPolicy").values()
    allowed = [s.get("Sid") for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert allowed == ["AlertPublishers", "AlertEvents"], allowed
    key_id = one(observed, "AWS::SNS::Topic")[1]["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    key_statements = observed.template["Resources"][key_id]["Properties"]["KeyPolicy"]["Statement"]
    service = [s for s in key_statements if "Service" in s.get("Principal", {})]
    assert [s.get("Sid") for s in service] == ["AlertPublishersEncrypt"]


# ------------------------------------------------------------------------------ EventBridge


def test_event_rules_send_the_hyperpod_events_to_the_topic(observed):
    rules = observed.resources("AWS::Events::Rule")
    patterns = {json.dumps(r["Properties"]["EventPattern"], sort_keys=True): r for r in rules.values()}
    expected = cluster_events.event_patterns("hyperpod-observed", continuous=True)
    assert len(rules) == 3
    for pattern in expected.values():
        rule = patterns[json.dumps(pattern, sort_keys=True)]
        assert rule["Properties"]["State"] == "ENABLED"
        (target,) = rule["Properties"]["Targets"]
        assert target["Arn"] == topic_ref(observed)
    detail_types = {p["detail-type"][0] for p in expected.values()}
    assert detail_types == {
        "SageMaker HyperPod Cluster State Change",
        "SageMaker HyperPod Cluster Node Health Event",
        "SageMaker HyperPod Cluster Event",
    }
    assert {p["source"][0] for p in expected.values()} == {"aws.sagemaker"}
    assert (
        expected["ClusterStatus"]["detail"]
        == expected["NodeHealth"]["detail"]
        == {"ClusterName": ["hyperpod-observed"]}
    )
    assert expected["ClusterEvents"]["detail"]["EventDetails"] == {
        "ClusterName": ["hyperpod-observed"],
        "EventLevel": ["Warn", "Error"],
    }


def test_structured_cluster_events_only_with_continuous_provisioning():
    assert set(cluster_events.event_patterns("c", continuous=False)) == {"ClusterStatus", "NodeHealth"}


# ------------------------------------------------------------------------------ alarms, budget, tag


def test_fsx_free_capacity_alarm(observed):
    (alarm,) = observed.resources("AWS::CloudWatch::Alarm").values()
    props = alarm["Properties"]
    assert (props["Namespace"], props["MetricName"], props["Statistic"]) == (
        "AWS/FSx",
        "FreeDataStorageCapacity",
        "Minimum",
    )
    fsx_id = one(observed, "AWS::FSx::FileSystem")[0]
    assert props["Dimensions"] == [{"Name": "FileSystemId", "Value": {"Ref": fsx_id}}]
    assert props["Threshold"] == pytest.approx(1200 * GIB * 0.10)
    assert props["ComparisonOperator"] == "LessThanThreshold"
    assert props["AlarmActions"] == [topic_ref(observed)] and props["OKActions"] == [topic_ref(observed)]


def test_budget_has_the_amount_and_notifies_the_topic(observed):
    (budget,) = observed.resources("AWS::Budgets::Budget").values()
    data = budget["Properties"]["Budget"]
    assert data["BudgetLimit"] == {"Amount": 20000, "Unit": "USD"}
    assert (data["BudgetType"], data["TimeUnit"]) == ("COST", "MONTHLY")
    assert data["CostFilters"] == {"TagKeyValue": ["user:hyperpod-cdk:platform$hyperpod-observed"]}
    notes = budget["Properties"]["NotificationsWithSubscribers"]
    assert [(n["Notification"]["NotificationType"], n["Notification"]["Threshold"]) for n in notes] == [
        ("ACTUAL", 50),
        ("ACTUAL", 80),
        ("ACTUAL", 100),
        ("FORECASTED", 100),
    ]
    assert all(n["Subscribers"] == [{"SubscriptionType": "SNS", "Address": topic_ref(observed)}] for n in notes)


@pytest.mark.parametrize(
    "cfn_type",
    [
        "AWS::SageMaker::Cluster",
        "AWS::EKS::Cluster",
        "AWS::FSx::FileSystem",
        "AWS::APS::Workspace",
        "AWS::Grafana::Workspace",
        "AWS::SNS::Topic",
    ],
)
def test_costly_resources_carry_the_cost_allocation_tag(observed, cfn_type):
    for resource in observed.resources(cfn_type).values():
        tags = resource["Properties"]["Tags"]
        pairs = {(t["Key"], t["Value"]) for t in tags} if isinstance(tags, list) else set(tags.items())
        assert ("hyperpod-cdk:platform", "hyperpod-observed") in pairs


# ------------------------------------------------------------------------------ AMP rules + alert manager


def test_amp_rules_and_alert_manager_route_to_the_topic(observed):
    (namespace,) = observed.resources("AWS::APS::RuleGroupsNamespace").values()
    workspace_id, workspace = one(observed, "AWS::APS::Workspace")
    assert namespace["Properties"]["Workspace"] == {"Fn::GetAtt": [workspace_id, "Arn"]}
    assert yaml.safe_load(namespace["Properties"]["Data"]) == alert_rules()
    parts = workspace["Properties"]["AlertManagerDefinition"]["Fn::Join"][1]
    assert topic_ref(observed) in parts
    text = "".join(p if isinstance(p, str) else "arn:aws:sns:us-west-2:123456789012:t" for p in parts)
    config = yaml.safe_load(yaml.safe_load(text)["alertmanager_config"])
    (receiver,) = config["receivers"]
    assert config["route"]["receiver"] == receiver["name"]
    assert receiver["sns_configs"][0]["sigv4"] == {"region": "us-west-2"}
    assert receiver["sns_configs"][0]["topic_arn"] == "arn:aws:sns:us-west-2:123456789012:t"


def test_alert_manager_definition_is_valid_yaml_for_a_literal_arn():
    doc = yaml.safe_load(alert_manager_definition("arn:aws:sns:eu-west-1:123456789012:x", "eu-west-1"))
    inner = yaml.safe_load(doc["alertmanager_config"])
    assert inner["receivers"][0]["sns_configs"][0]["topic_arn"] == "arn:aws:sns:eu-west-1:123456789012:x"


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects, from a real PromQL parse (raises ValueError on bad PromQL)."""
    names: set[str] = set()

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def all_rules() -> list[dict[str, Any]]:
    return [rule for group in alert_rules()["groups"] for rule in group["rules"]]


def test_alert_rules_are_well_formed_and_cover_the_issue_signals():
    rules = all_rules()
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        # Prometheus durations ("0m" is valid in a rule's for:, which the parser's duration helper rejects)
        assert re.fullmatch(r"(\d+(ms|s|m|h|d|w|y))+", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert {"summary", "description"} <= set(rule["annotations"])
        assert metric_names(rule["expr"]), rule["alert"]
        assert re.search(r"(==|>|<)\s*\d", rule["expr"]), f"{rule['alert']}: no threshold"
    exprs = " ".join(r["expr"] for r in rules)
    for signal in (
        "DCGM_FI_DEV_XID_ERRORS",
        "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
        "kube_node_status_condition",
        "kube_node_spec_unschedulable",
        "hyperpod_training_operator_jobs_restarted_total",
        "node_amazonefa_rx_drops",
    ):
        assert signal in exprs


def test_every_metric_in_rules_and_dashboards_has_a_cited_source():
    used = {m for r in all_rules() for m in metric_names(r["expr"])}
    for path in DASHBOARD_DIR.glob("*.json"):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                used |= metric_names(target["expr"])
    assert used - set(METRIC_SOURCES) == set()
    header = RULES_FILE.read_text().split("groups:")[0]
    for rule in all_rules():
        for metric in metric_names(rule["expr"]):
            assert metric in header, f"{metric} is not cited in the rule file's header"


def test_metric_names_sees_through_grouping_and_matchers_and_rejects_bad_promql():
    assert metric_names('sum by (reason) (increase(x_total{a="b"}[5m])) > 3 or max by (h) (y) > 0') == {"x_total", "y"}
    with pytest.raises(ValueError):
        metric_names("sum(rate(x_total[5m])")


def test_dashboards_are_ours_and_read_the_amp_data_source():
    boards = {p.stem: json.loads(p.read_text()) for p in DASHBOARD_DIR.glob("*.json")}
    assert set(boards) == {"cluster", "training", "tasks", "inference", "efa"}
    for key, body in boards.items():
        assert body["uid"] == f"hyperpod-cdk-{key}"
        assert body["panels"]
        for panel in body["panels"]:
            assert panel["datasource"] == {"type": "prometheus", "uid": "hyperpod-amp"}


def test_grafana_custom_resource_carries_the_dashboard_digest(observed):
    (custom,) = observed.resources("Custom::HyperPodGrafanaDashboards").values()
    props = custom["Properties"]
    assert props["DashboardsSha256"] == dashboards_digest()
    assert props["GrafanaUrl"]["Fn::Join"][1][0] == "https://"
    grafana_id = one(observed, "AWS::Grafana::Workspace")[0]
    assert props["WorkspaceId"] == {"Fn::GetAtt": [grafana_id, "Id"]}
    statements = [
        s
        for p in observed.resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "GrafanaServiceAccountToken"
    ]
    (statement,) = statements
    assert "grafana:CreateWorkspaceServiceAccountToken" in statement["Action"]
    assert "*" not in json.dumps(statement["Resource"])


def test_grafana_handler_has_the_properties_fixed_at_synth(observed):
    """Review M1: the handler takes workspace, URLs and region from its environment, not the event."""
    (custom,) = observed.resources("Custom::HyperPodGrafanaDashboards").values()
    props = custom["Properties"]
    assert props["ServiceTimeout"] == "960"
    tag = {"Key": "hyperpod-cdk:purpose", "Value": "grafana-admin-token"}
    (function,) = (
        f for f in observed.resources("AWS::Lambda::Function").values() if tag in f["Properties"].get("Tags", [])
    )
    assert props["ServiceToken"]["Fn::GetAtt"][0] in {
        k for k, v in observed.resources("AWS::Lambda::Function").items() if v is function
    }
    spec = function["Properties"]["Environment"]["Variables"]["GRAFANA_DASHBOARDS_SPEC"]
    rendered = json.dumps(spec)
    grafana_id = one(observed, "AWS::Grafana::Workspace")[0]
    for key in ("WorkspaceId", "GrafanaUrl", "PrometheusUrl", "Region", "DashboardsSha256"):
        assert key in rendered
    assert dashboards_digest() in rendered and grafana_id in rendered


def test_dashboard_digest_changes_with_the_content(tmp_path, monkeypatch):
    from hyperpod_cdk.monitoring import grafana_dashboards

    for path in DASHBOARD_DIR.glob("*.json"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    monkeypatch.setattr(grafana_dashboards, "DASHBOARD_DIR", tmp_path)
    before = grafana_dashboards.dashboards_digest()
    (tmp_path / "efa.json").write_text((tmp_path / "efa.json").read_text().replace("EFA", "Efa"))
    assert grafana_dashboards.dashboards_digest() != before


# ------------------------------------------------------------------------------ template gates


def test_cfn_lint_finds_no_errors(observed):
    template = observed.outdir / f"{observed.stack.stack_name}.template.json"
    result = subprocess.run(
        [str(CFN_LINT), "--format", "json", "--regions", "us-west-2", "--ignore-checks", "W3005", "--", str(template)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[:3000]


def test_checkov_fails_nothing_and_every_skip_has_a_reason(observed):
    template = observed.outdir / f"{observed.stack.stack_name}.template.json"
    result = subprocess.run(
        [
            str(CFN_LINT.with_name("checkov")),
            "-f",
            str(template),
            "--framework",
            "cloudformation",
            "--compact",
            "--skip-download",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    report = json.loads(result.stdout)
    results = (report[0] if isinstance(report, list) else report)["results"]
    assert [f"{c['check_id']} {c['resource']}" for c in results["failed_checks"]] == []
    assert len(results["passed_checks"]) > 100
    assert all(
        len((c.get("check_result", {}).get("suppress_comment") or "").strip()) >= 20 for c in results["skipped_checks"]
    )


# ------------------------------------------------------------------------------ Slurm


def test_slurm_gets_the_same_topic_events_alarm_and_budget(slurm_alerts):
    s = slurm_alerts
    assert len(s.resources("AWS::SNS::Topic")) == 1
    patterns = [r["Properties"]["EventPattern"] for r in s.resources("AWS::Events::Rule").values()]
    assert sorted(p["detail-type"][0] for p in patterns) == [
        "SageMaker HyperPod Cluster Node Health Event",
        "SageMaker HyperPod Cluster State Change",
    ]
    assert len(s.resources("AWS::CloudWatch::Alarm")) == 1
    (budget,) = s.resources("AWS::Budgets::Budget").values()
    assert budget["Properties"]["Budget"]["BudgetLimit"]["Amount"] == 1234.5
    assert s.resources("AWS::APS::RuleGroupsNamespace") == {}


# ------------------------------------------------------------------------------ config


BASE = yaml.safe_load(EXAMPLE.read_text())


def with_changes(**changes: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(BASE))
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"alerts": None}, "cost", "alerts topic"),
        ({"alerts": {}}, "alerts", "email addresses or sns_topic_arn"),
        ({"alerts": {"email": ["not-an-address"]}}, "alerts.email[0]", "e-mail address"),
        (
            {"alerts": {"sns_topic_arn": "arn:aws:sqs:us-west-2:123456789012:q"}},
            "alerts.sns_topic_arn",
            "SNS topic ARN",
        ),
        (  # R25P-L3: nor one of another account
            {"account": "111111111111", "alerts": {"sns_topic_arn": "arn:aws:sns:us-west-2:123456789012:ops"}},
            "alerts.sns_topic_arn",
            "give a topic of 111111111111",
        ),
        (  # R23U-L3: an event rule cannot target a topic of another region
            {"alerts": {"sns_topic_arn": "arn:aws:sns:us-east-1:123456789012:ops"}},
            "alerts.sns_topic_arn",
            "give a topic of us-west-2",
        ),
        ({"cost": {"monthly_budget_usd": 0}}, "cost.monthly_budget_usd", ""),
        ({"cost": {"monthly_budget_usd": 10, "thresholds_percent": [80, 80]}}, "cost", "listed twice"),
    ],
)
def test_bad_signal_config_names_the_field(changes, field, words):
    with pytest.raises(HyperPodConfigError) as caught:
        parse_config(with_changes(**changes))
    message = str(caught.value)
    assert field in message and words in message and "\n" not in message


def test_imported_topic_is_used_as_is():
    config = parse_config(with_changes(alerts={"sns_topic_arn": "arn:aws:sns:us-west-2:123456789012:ops"}))
    assert config.alerts is not None and config.alerts.sns_topic_arn.endswith(":ops")


# ------------------------------------------------------------------------------ construct props


@pytest.fixture(scope="module")
def bare_stack():
    import aws_cdk as cdk

    app = cdk.App()
    return cdk.Stack(app, "Props", env=cdk.Environment(account="123456789012", region="us-west-2"))


def test_construct_props_fail_with_one_line_naming_the_prop(bare_stack):
    from aws_cdk import aws_sns as sns

    from hyperpod_cdk.monitoring.alerts_topic import HyperPodAlertsTopic
    from hyperpod_cdk.monitoring.budget import HyperPodBudget
    from hyperpod_cdk.monitoring.fsx_alarms import HyperPodFsxAlarms

    topic = sns.Topic(bare_stack, "T")
    cases = [
        (lambda: HyperPodAlertsTopic(bare_stack, "A1"), "emails"),
        (lambda: HyperPodAlertsTopic(bare_stack, "A2", emails="ops@example.com"), "emails"),
        (
            lambda: HyperPodBudget(
                bare_stack, "B1", monthly_usd=0, thresholds_percent=[80], topic_arn="x", tag_key="k", tag_value="v"
            ),
            "monthly_usd",
        ),
        (
            lambda: HyperPodBudget(
                bare_stack,
                "B2",
                monthly_usd=10,
                thresholds_percent=list(range(1, 11)),
                topic_arn="x",
                tag_key="k",
                tag_value="v",
            ),
            "thresholds_percent",
        ),
        (
            lambda: HyperPodFsxAlarms(bare_stack, "F1", file_system_id="fs-1", storage_capacity_gib=True, topic=topic),
            "storage_capacity_gib",
        ),
        (
            lambda: HyperPodFsxAlarms(
                bare_stack, "F2", file_system_id="fs-1", storage_capacity_gib=1200, topic=topic, free_percent=95
            ),
            "free_percent",
        ),
    ]
    for build, prop in cases:
        with pytest.raises(HyperPodConfigError) as caught:
            build()
        assert caught.value.field == prop and "\n" not in str(caught.value)
        assert "Props/" in str(caught.value)


def test_imported_topic_gets_subscriptions_but_no_policy(bare_stack):
    from aws_cdk.assertions import Template

    from hyperpod_cdk.monitoring.alerts_topic import HyperPodAlertsTopic

    alerts = HyperPodAlertsTopic(
        bare_stack, "Imported", emails=["a@example.com"], existing_topic_arn="arn:aws:sns:us-west-2:123456789012:ops"
    )
    assert alerts.key is None and alerts.topic_arn == "arn:aws:sns:us-west-2:123456789012:ops"
    template = Template.from_stack(bare_stack).to_json()
    subs = [r for r in template["Resources"].values() if r["Type"] == "AWS::SNS::Subscription"]
    assert {"Protocol": "email", "TopicArn": "arn:aws:sns:us-west-2:123456789012:ops", "Endpoint": "a@example.com"} in [
        s["Properties"] for s in subs
    ]
    assert not any(r["Type"] == "AWS::SNS::TopicPolicy" and "Imported" in k for k, r in template["Resources"].items())


def test_the_event_rules_refuse_an_imported_topic_of_another_region():
    """R23U-L3: aws-cdk-lib's SnsTopic target named the topic as its target resource, so Rule refused an
    imported topic of another region at synth; the project's target keeps that (an EventBridge rule's targets
    must be in its region)."""
    import aws_cdk as cdk
    from aws_cdk import aws_sns as sns

    def rules(arn: str) -> None:
        stack = cdk.Stack(cdk.App(), "S", env=cdk.Environment(account="111111111111", region="us-west-2"))
        topic = sns.Topic.from_topic_arn(stack, "T", arn)
        cluster_events.HyperPodClusterEventRules(stack, "Events", topic=topic, cluster_name="hp", continuous=False)

    rules("arn:aws:sns:us-west-2:111111111111:alerts")
    with pytest.raises(Exception, match="CrossAccountRule|another|region|account"):
        rules("arn:aws:sns:us-east-1:111111111111:alerts")
