"""Config error messages are plain: hints instead of regexes, did-you-mean, YAML line and column."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from hyperpod_cdk.config import InstanceGroup, json_schema, load_config, parse_config
from hyperpod_cdk.config.charts import K8sSettings, parse_k8s_settings
from hyperpod_cdk.config.messages import error_line, pattern_hint
from hyperpod_cdk.errors import HyperPodConfigError

REPO = Path(__file__).resolve().parent.parent
DEFAULT: dict[str, Any] = yaml.safe_load((REPO / "hyperpod.yaml").read_text())


def _error(mutate) -> HyperPodConfigError:
    data = copy.deepcopy(DEFAULT)
    mutate(data)
    with pytest.raises(HyperPodConfigError) as caught:
        parse_config(data)
    return caught.value


def _patterns(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                found.add(value)
            found |= _patterns(value)
    elif isinstance(node, list):
        for value in node:
            found |= _patterns(value)
    return found


def test_every_schema_pattern_has_a_plain_hint() -> None:
    patterns = _patterns(json_schema()) | _patterns(K8sSettings.model_json_schema())
    missing = sorted(p for p in patterns if pattern_hint(p) is None)
    assert not missing, f"add a register_hints() entry for: {missing}"


def test_az_name_gets_the_az_id_hint() -> None:
    error = _error(lambda d: d["network"].__setitem__("availability_zone_ids", ["usw2-az1", "us-west-2b"]))
    assert error.field == "network.availability_zone_ids[1]"
    assert error.message == (
        "'us-west-2b' is an AZ name; use its AZ ID such as usw2-az2 "
        "(`aws ec2 describe-availability-zones --region us-west-2` shows the mapping for your account)"
    )


def test_az_id_typo_shows_the_region_prefix() -> None:
    error = _error(lambda d: d["hyperpod"]["instance_groups"][1].__setitem__("availability_zone_id", "usw2az1"))
    assert error.field == "hyperpod.instance_groups[1](gpu).availability_zone_id"
    assert error.message.startswith("'usw2az1' is not an AZ ID such as usw2-az1")


def test_az_name_as_a_subnet_key() -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["network"]["existing"] = {
            "vpc_id": "vpc-0123456789abcdef0",
            "vpc_cidr": "10.0.0.0/16",
            "control_plane_subnet_ids": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
            "hyperpod_subnets": {"us-west-2a": {"subnet_id": "subnet-0123456789abcdef2", "cidr": "10.1.0.0/20"}},
        }
        del d["network"]["availability_zone_ids"]

    error = _error(mutate)
    assert error.field == "network.existing.hyperpod_subnets.us-west-2a"
    assert error.message.startswith("key 'us-west-2a' is an AZ name; use its AZ ID such as usw2-az1")


@pytest.mark.parametrize(
    ("mutate", "field", "message"),
    [
        (
            lambda d: d["hyperpod"]["instance_groups"][1].__setitem__("instance_cont", 2),
            "hyperpod.instance_groups[1](gpu).instance_cont",
            "unknown key; did you mean 'instance_count'?",
        ),
        (lambda d: d.__setitem__("netwrk", {}), "netwrk", "unknown key; did you mean 'network'?"),
        (
            lambda d: d["eks"].__setitem__("kubernetesVersion", "1.33"),
            "eks.kubernetesVersion",
            "unknown key; did you mean 'kubernetes_version'?",
        ),
        (
            lambda d: d["hyperpod"]["instance_groups"][0].__setitem__("taints", [{"key": "a", "efect": "NoSchedule"}]),
            "hyperpod.instance_groups[0](system).taints[0].efect",
            "unknown key; did you mean 'effect'?",
        ),
        (
            lambda d: d.setdefault("kubernetes", {}).__setitem__("helm_dependency", {}),
            "kubernetes.helm_dependency",
            "unknown key; did you mean 'helm_dependencies'?",
        ),
    ],
    ids=["group", "top-level", "camel-case", "in-list-item", "kubernetes"],
)
def test_unknown_key_suggests_the_closest(mutate, field: str, message: str) -> None:
    error = _error(mutate)
    assert (error.field, error.message) == (field, message)


def test_unknown_key_without_a_close_match_lists_the_keys() -> None:
    taint = {"key": "a", "effect": "NoSchedule", "zzz": 1}
    error = _error(lambda d: d["hyperpod"]["instance_groups"][0].__setitem__("taints", [taint]))
    assert error.message == "unknown key; allowed here: key, value, effect"


def test_choice_typo_suggests_the_choice() -> None:
    error = _error(lambda d: d["hyperpod"].__setitem__("node_recovery", "automatic"))
    assert error.field == "hyperpod.node_recovery"
    assert error.message == "Input should be 'Automatic' or 'None' (got 'automatic'); did you mean 'Automatic'?"


def test_value_is_shown_once() -> None:
    error = _error(lambda d: d["network"].__setitem__("vpc_cidr", "10.0.0.0/8"))
    assert error.message == "VPC CIDR must be between /16 and /24 (got /8)"
    error = _error(lambda d: d["hyperpod"]["instance_groups"][1].__setitem__("instance_count", "two"))
    assert error.message.count("'two'") == 1


def test_model_built_in_python_gets_the_same_hints() -> None:
    with pytest.raises(HyperPodConfigError) as caught:
        InstanceGroup(name="gpu", instance_type="ml.g5.8xlarge", instance_count=1, instance_cont=2)
    assert caught.value.field == "InstanceGroup.instance_cont"
    assert caught.value.message == "unknown key; did you mean 'instance_count'?"


def test_chart_settings_use_the_same_messages() -> None:
    with pytest.raises(HyperPodConfigError) as caught:
        parse_k8s_settings({"teams": [{"name": "Research"}]})
    assert caught.value.field == "kubernetes.teams[0](Research).name"
    assert caught.value.message.startswith("'Research' is not a team name: lowercase letters")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "name: demo\nregion: [us-west-2\n",
            "line 3, column 1: not valid YAML: expected ',' or ']', but got '<stream end>' "
            "(while parsing a flow sequence at line 2, column 9)",
        ),
        ("name: demo\n  region: us-west-2\n", "line 2, column 9: not valid YAML: mapping values are not allowed here"),
        (
            "name: demo\n\tregion: x\n",
            "line 2, column 1: not valid YAML: found character '\\t' that cannot start any " "token",
        ),
    ],
    ids=["unclosed", "indent", "tab"],
)
def test_yaml_error_gives_line_column_and_reason(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "hyperpod.yaml"
    path.write_text(text)
    with pytest.raises(HyperPodConfigError) as caught:
        load_config(path)
    assert caught.value.message == expected
    line = error_line(str(path), caught.value)
    assert line == f"{path}: {expected}"
    assert line.count("hyperpod.yaml") == 1


def test_error_line_names_the_file_and_the_field() -> None:
    error = HyperPodConfigError("hyperpod.cluster_name", "required key is missing")
    assert error_line("hyperpod.yaml", error) == "hyperpod.yaml: hyperpod.cluster_name: required key is missing"
