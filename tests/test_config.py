"""Config validation: every bad value is one HyperPodConfigError naming the field."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hyperpod_cdk.config import json_schema, load_config, parse_config
from hyperpod_cdk.errors import HyperPodConfigError

REPO = Path(__file__).resolve().parent.parent
DEFAULT = yaml.safe_load((REPO / "hyperpod.yaml").read_text())


def _with(path: str, value):
    """The default config with one value replaced (dotted path, [i] for list items)."""
    data = copy.deepcopy(DEFAULT)
    node = data
    parts = path.replace("[", ".[").split(".")
    for part in parts[:-1]:
        node = node[int(part[1:-1])] if part.startswith("[") else node.setdefault(part, {})
    last = parts[-1]
    if last.startswith("["):
        node[int(last[1:-1])] = value
    else:
        node[last] = value
    return data


def test_default_config_is_valid_and_small():
    config = load_config(REPO / "hyperpod.yaml")
    assert config.orchestrator == "eks"
    assert sum(g.instance_count for g in config.hyperpod.instance_groups) == 2
    assert config.hyperpod.instance_groups[1].effective_deep_health_checks == ["InstanceStress", "InstanceConnectivity"]
    assert config.hyperpod.instance_groups[0].effective_deep_health_checks == []


@pytest.mark.parametrize(
    ("path", "value", "field", "message"),
    [
        (
            "hyperpod.instance_groups[1].instance_type",
            "ml.p5.49xlarge",
            "hyperpod.instance_groups[1](gpu).instance_type",
            "not a SageMaker HyperPod instance type",
        ),
        (
            "hyperpod.instance_groups[1].instance_count",
            -1,
            "hyperpod.instance_groups[1](gpu).instance_count",
            "greater than or equal to 0",
        ),
        (
            "hyperpod.instance_groups[1].instance_count",
            7000,
            "hyperpod.instance_groups[1](gpu).instance_count",
            "less than or equal to 6758",
        ),
        # Every node count refuses a YAML boolean (yes/true), which pydantic would read as 1 node.
        (
            "hyperpod.instance_groups[1].min_instance_count",
            True,
            "hyperpod.instance_groups[1](gpu).min_instance_count",
            "write the count as a number",
        ),
        (
            "hyperpod.instance_groups[1].max_instance_count",
            True,
            "hyperpod.instance_groups[1](gpu).max_instance_count",
            "write the count as a number",
        ),
        (
            "hyperpod.instance_groups[1].max_instance_count",
            6759,
            "hyperpod.instance_groups[1](gpu).max_instance_count",
            "less than or equal to 6758",
        ),
        (
            "hyperpod.instance_groups[0].threads_per_core",
            4,
            "hyperpod.instance_groups[0](system).threads_per_core",
            "1 or 2",
        ),
        (
            "hyperpod.instance_groups[0].ebs_volume_size_gb",
            20000,
            "hyperpod.instance_groups[0](system).ebs_volume_size_gb",
            "16384",
        ),
        (
            "hyperpod.instance_groups[0].name",
            "bad_name",
            "hyperpod.instance_groups[0](bad_name).name",
            "'bad_name' is not a valid name: letters, digits and hyphens",
        ),
        (
            "hyperpod.instance_groups[0].deep_health_checks",
            ["InstanceStress"],
            "hyperpod.instance_groups[0](system).deep_health_checks",
            "does not support deep health checks",
        ),
        (
            "hyperpod.instance_groups[0].taints",
            [{"key": "a", "effect": "Sometimes"}],
            "hyperpod.instance_groups[0](system).taints[0].effect",
            "NoSchedule",
        ),
        (
            "hyperpod.instance_groups[1].training_plan_arn",
            "arn:aws:sagemaker:us-west-2:1:plan",
            "hyperpod.instance_groups[1](gpu).training_plan_arn",
            "is not a training plan ARN such as arn:aws:sagemaker:",
        ),
        ("hyperpod.cluster_name", "my_cluster", "hyperpod.cluster_name", "'my_cluster' is not a valid name"),
        ("hyperpod.node_recovery", "Sometimes", "hyperpod.node_recovery", "'Automatic' or 'None'"),
        (
            "network.availability_zone_ids",
            ["us-west-2a"],
            "network.availability_zone_ids[0]",
            "'us-west-2a' is an AZ name; use its AZ ID such as usw2-az1",
        ),
        (
            "network.availability_zone_ids",
            ["use1-az1"],
            "network.availability_zone_ids[0]",
            "not an AZ ID of us-west-2",
        ),
        ("network.vpc_cidr", "10.0.0.0/8", "network.vpc_cidr", "between /16 and /24"),
        ("network.vpc_cidr", "10.0.0.300/16", "network.vpc_cidr", "IPv4"),
        ("network.hyperpod_cidr", "10.192.0.0/12", "network.hyperpod_cidr", "between /16 and /28"),
        ("network.hyperpod_cidr", "10.1.0.0/27", "network.hyperpod_cidr", "instance group 'gpu' does not fit"),
        ("eks.public_access_cidrs", ["0.0.0.0/0"], "eks.public_access_cidrs", "opens the API endpoint"),
        (
            "eks.public_access_cidrs",
            ["0.0.0.0/1", "128.0.0.0/1"],
            "eks.public_access_cidrs",
            "together admit more than a /8",
        ),
        ("eks.public_access_cidrs", ["52.0.0.0/7"], "eks.public_access_cidrs", "together admit more than a /8"),
        ("eks.kubernetes_version", "1.20", "eks.kubernetes_version", "use one of 1.30, 1.31, 1.32, 1.33, 1.34, 1.35"),
        ("eks.kubernetes_version", 1.3, "eks.kubernetes_version", "write the version as text"),
        ("eks.kubernetes_version", "1.36", "eks.kubernetes_version", "EKS offers it but HyperPod does not list it"),
        (
            "eks.admin_principal_arn",
            "arn:aws:iam::12:role/x",
            "eks.admin_principal_arn",
            "is not an IAM role or user ARN",
        ),
        ("region", "mars-1", "region", "'mars-1' is not an AWS region name such as us-west-2"),
        ("network.flow_log_retention_days", 10, "network.flow_log_retention_days", "365"),
    ],
)
def test_bad_value_names_the_field(path, value, field, message):
    with pytest.raises(HyperPodConfigError) as caught:
        parse_config(_with(path, value))
    assert caught.value.field == field
    assert message in caught.value.message
    assert "\n" not in str(caught.value)


def test_unknown_key_is_rejected():
    data = _with("hyperpod.instance_groups[1].instance_cnt", 2)
    with pytest.raises(HyperPodConfigError) as caught:
        parse_config(data)
    assert caught.value.field == "hyperpod.instance_groups[1](gpu).instance_cnt"
    assert "unknown key" in caught.value.message


def test_duplicate_group_name_is_rejected():
    data = copy.deepcopy(DEFAULT)
    data["hyperpod"]["instance_groups"][1]["name"] = "system"
    with pytest.raises(HyperPodConfigError) as caught:
        parse_config(data)
    assert caught.value.field == "hyperpod.instance_groups"
    assert "'system' is used twice" in caught.value.message


def test_missing_required_key():
    data = copy.deepcopy(DEFAULT)
    del data["eks"]["cluster_name"]
    with pytest.raises(HyperPodConfigError, match=r"eks.cluster_name: required key is missing"):
        parse_config(data)


def test_group_in_unlisted_az_is_rejected():
    data = _with("hyperpod.instance_groups[1].availability_zone_id", "usw2-az1")
    with pytest.raises(HyperPodConfigError) as caught:
        parse_config(data)
    assert caught.value.field == "hyperpod.instance_groups[1].availability_zone_id"
    assert "add it to network.availability_zone_ids" in caught.value.message


def test_unknown_type_is_allowed_with_explicit_ips_per_node():
    data = _with("hyperpod.instance_groups[1].instance_type", "ml.p7.48xlarge")
    data["hyperpod"]["instance_groups"][1]["ips_per_node"] = 100
    config = parse_config(data)
    assert config.hyperpod.instance_groups[1].ips_per_node == 100


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(HyperPodConfigError, match="cannot read the config file"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(HyperPodConfigError, match="line 2, column 1: not valid YAML"):
        load_config(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just text\n")
    with pytest.raises(HyperPodConfigError, match="must be a YAML mapping"):
        load_config(scalar)


def test_published_json_schema_is_current():
    published = json.loads((REPO / "schema" / "hyperpod.schema.json").read_text())
    assert published == json_schema(), "run `make schema` to regenerate schema/hyperpod.schema.json"


def test_app_prints_one_line_for_a_bad_config(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_with("hyperpod.instance_groups[1].instance_count", -3)))
    result = subprocess.run(
        [sys.executable, str(REPO / "app.py")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **__import__("os").environ,
            "CDK_CONTEXT_JSON": json.dumps({"config": str(bad)}),
            "CDK_OUTDIR": str(tmp_path / "out"),
        },
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: bad.yaml: hyperpod.instance_groups[1](gpu).instance_count: "
        "Input should be greater than or equal to 0 (got -3)"
    )
    assert "Traceback" not in result.stderr


def test_vendored_instance_offerings_match_cfn_lint():
    from hyperpod_cdk.specs.offerings import from_cfn_lint, offerings

    assert {
        region: sorted(types) for region, types in offerings().items()
    } == from_cfn_lint(), "cfn-lint's HyperPod instance-type data changed: run `make instance-types`"


def test_type_not_offered_in_the_region_is_rejected():
    with pytest.raises(HyperPodConfigError) as caught:
        parse_config(_with("hyperpod.instance_groups[1].instance_type", "ml.trn2.48xlarge"))
    assert caught.value.field == "hyperpod.instance_groups[1](gpu).instance_type"
    assert "not offered by SageMaker HyperPod in us-west-2" in caught.value.message
