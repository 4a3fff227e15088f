"""What keeps one team out of another's way: namespaces of its own, and no critical priority classes.

Fifth independent review (issue 18), findings F2 and F4: a team could name `system-node-critical`
and preempt everyone, and a team could be given `kube-system` or a platform namespace.
"""

from __future__ import annotations

from typing import Any

import cdk8s
import pytest

from hyperpod_cdk.config.charts import QuotaResource
from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.kubernetes.charts import HyperPodOperatorChart, Team, parse_k8s_settings
from hyperpod_cdk.kubernetes.charts.operator_chart import PRIORITY_QUOTA_NAME, team_role_rules
from hyperpod_cdk.kubernetes.charts.validate import validate_manifests
from hyperpod_cdk.specs.namespaces import RESERVED_NAMESPACES


@pytest.fixture(scope="module")
def chart() -> HyperPodOperatorChart:
    settings = parse_k8s_settings(
        {
            "task_governance": True,
            "teams": [
                {"name": "alpha"},
                {"name": "beta", "priority_classes": ["hyperpod-training-low"]},
                {"name": "gamma", "compute_quota": [{"instance_type": "ml.p5.48xlarge", "count": 1}]},
            ],
        }
    )
    return HyperPodOperatorChart.from_settings(cdk8s.App(), "isolation", settings)


def quotas(chart: HyperPodOperatorChart) -> dict[str, dict[str, Any]]:
    return {
        d["metadata"]["namespace"]: d
        for d in chart.to_json()
        if d["kind"] == "ResourceQuota" and d["metadata"]["name"] == PRIORITY_QUOTA_NAME
    }


def test_every_team_namespace_refuses_the_critical_priority_classes(chart: HyperPodOperatorChart) -> None:
    by_ns = quotas(chart)
    # One per team, SageMaker-owned quota namespaces included.
    assert sorted(by_ns) == ["hyperpod-ns-alpha", "hyperpod-ns-beta", "hyperpod-ns-gamma"]
    for quota in by_ns.values():
        spec = quota["spec"]
        assert spec["hard"] == {"pods": "0"}
        (expression,) = spec["scopeSelector"]["matchExpressions"]
        assert expression["scopeName"] == "PriorityClass" and expression["operator"] == "In"
        assert {"system-node-critical", "system-cluster-critical"} <= set(expression["values"])
        # Review round 11, M3: the S3 CSI driver v2's classes (1e9, above every platform class) too.
        assert {"mount-s3-critical", "mount-s3-preempting-critical", "mount-s3-headroom"} <= set(expression["values"])


def test_a_team_limited_to_some_classes_is_refused_the_others(chart: HyperPodOperatorChart) -> None:
    by_ns = quotas(chart)
    values = lambda ns: by_ns[ns]["spec"]["scopeSelector"]["matchExpressions"][0]["values"]  # noqa: E731
    addon = ["mount-s3-critical", "mount-s3-headroom", "mount-s3-preempting-critical"]
    assert values("hyperpod-ns-alpha") == sorted([*addon, "system-cluster-critical", "system-node-critical"])
    assert values("hyperpod-ns-beta") == sorted(
        [*addon, "hyperpod-training", "hyperpod-training-high", "system-cluster-critical", "system-node-critical"]
    )


def test_the_quota_is_valid_and_the_team_cannot_change_it(chart: HyperPodOperatorChart) -> None:
    docs = [d for d in chart.to_json() if d["kind"] == "ResourceQuota"]
    assert validate_manifests(docs) == ["kubernetes"] * len(docs)
    granted = {resource for rule in team_role_rules() for resource in rule["resources"]}
    assert "resourcequotas" not in granted


def test_the_quota_waits_for_the_namespace_the_chart_creates(chart: HyperPodOperatorChart) -> None:
    kinds = [(d["kind"], d["metadata"].get("namespace", d["metadata"]["name"])) for d in chart.to_json()]
    assert kinds.index(("Namespace", "hyperpod-ns-alpha")) < kinds.index(("ResourceQuota", "hyperpod-ns-alpha"))


@pytest.mark.parametrize(
    "namespace",
    [
        "kube-system",
        "mount-s3",  # review round 11, M1: the S3 CSI driver v2's mounter pods
        "kube-public",
        "kube-node-lease",
        "kube-anything",
        "hyperpod-cdk-later",
        *sorted(RESERVED_NAMESPACES),
    ],
)
def test_a_system_or_platform_namespace_cannot_hold_a_team(namespace: str) -> None:
    with pytest.raises(HyperPodConfigError) as error:
        parse_k8s_settings({"teams": [{"name": "ops", "namespace": namespace}]})
    message = str(error.value)
    assert message.startswith("kubernetes.teams[0](ops).namespace:")
    assert f"'{namespace}' cannot hold a team" in message and "hyperpod-ns-ops" in message
    assert "\n" not in message


def test_a_team_built_in_python_is_refused_the_same_way() -> None:
    with pytest.raises(HyperPodConfigError, match=r"namespace: 'aws-hyperpod' cannot hold a team"):
        Team(name="ops", namespace="aws-hyperpod")


def test_a_moved_cert_manager_namespace_is_reserved_too() -> None:
    with pytest.raises(HyperPodConfigError, match=r"teams\[1\]\(ops\)\.namespace: 'certs' is the cert-manager"):
        parse_k8s_settings(
            {"cert_manager_namespace": "certs", "teams": [{"name": "a"}, {"name": "ops", "namespace": "certs"}]}
        )


def test_a_namespace_of_the_teams_own_is_still_fine() -> None:
    settings = parse_k8s_settings({"teams": [{"name": "ops", "namespace": "ops-training"}]})
    assert settings.teams[0].effective_namespace == "ops-training"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"teams": [{"name": "a", "priority_classes": ["nope"]}]}, "kubernetes.teams[0](a).priority_classes"),
        (
            {"teams": [{"name": "a", "priority_classes": []}], "examples": {"priority_class": "hyperpod-training"}},
            "kubernetes.examples.priority_class",
        ),
    ],
)
def test_team_priority_classes_are_checked(data: dict[str, Any], field: str) -> None:
    with pytest.raises(HyperPodConfigError) as error:
        parse_k8s_settings(data)
    assert str(error.value).startswith(f"{field}:")


def test_quota_teams_keep_their_sagemaker_namespace() -> None:
    team = Team(name="research", compute_quota=[QuotaResource(instance_type="ml.p5.48xlarge", count=1)])
    assert team.effective_namespace == "hyperpod-ns-research"


def test_no_namespace_the_charts_write_can_hold_a_team() -> None:
    """Every namespace the operator chart itself writes into (FSx administration included) is refused
    as a team namespace (review round 6a, N1)."""
    settings = parse_k8s_settings(
        {
            "teams": [{"name": "alpha"}],
            "fsx": {"file_system_id": "fs-0123456789abcdef0", "dns_name": "fs.example", "mount_name": "abcdefgh"},
        }
    )
    chart = HyperPodOperatorChart.from_settings(cdk8s.App(), "namespaces", settings)
    written = {
        d["metadata"].get("namespace") or d["metadata"]["name"] for d in chart.to_json() if d["kind"] == "Namespace"
    }
    written |= {d["metadata"]["namespace"] for d in chart.to_json() if d["metadata"].get("namespace")}
    platform_owned = written - {"hyperpod-ns-alpha"}
    assert platform_owned  # the FSx admin namespace at least
    for namespace in platform_owned:
        with pytest.raises(HyperPodConfigError, match="cannot hold a team"):
            Team(name="ops", namespace=namespace)


def test_two_teams_cannot_map_one_submitter_role() -> None:
    """Review round 13, L1: EKS keeps one access entry per role, and each team's role gets its own entry,
    so a role two teams share failed the deploy; now it is one config line naming the second team."""
    from hyperpod_cdk.config.charts import parse_k8s_settings

    role = "arn:aws:iam::123456789012:role/submitters"
    with pytest.raises(HyperPodConfigError) as info:
        parse_k8s_settings(
            {"teams": [{"name": "a", "submitter_role_arn": role}, {"name": "b", "submitter_role_arn": role}]}
        )
    assert info.value.field == "kubernetes.teams[1](b).submitter_role_arn"
    assert "team 'a' already maps this role" in str(info.value) and "\n" not in str(info.value)
    other = "arn:aws:iam::123456789012:role/other"
    parse_k8s_settings(
        {"teams": [{"name": "a", "submitter_role_arn": role}, {"name": "b", "submitter_role_arn": other}]}
    )
