"""Synth plugin (closed world): a whole VpcConfig, OverrideVpcConfig or InstanceGroups behind one intrinsic
is a finding for EFA1 / SM1, never silence (review round 9, tools, L3; lint reports them as not checked)."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.rules import check_files

# The round-8 cluster template, loaded by path (tests use --import-mode=importlib).
_spec = importlib.util.spec_from_file_location("rules_round8", Path(__file__).with_name("test_rules_round8.py"))
assert _spec and _spec.loader
round8 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(round8)

SG = "sg-0123456789abcdef0"
OTHER = "sg-0fedcba9876543210"


def _vpc_config_if(props: dict[str, Any]) -> str:
    props["VpcConfig"] = {
        "Fn::If": [
            "C",
            {"SecurityGroupIds": [SG], "Subnets": {"Ref": "Subnets"}},
            {"SecurityGroupIds": [OTHER], "Subnets": {"Ref": "Subnets"}},
        ]
    }
    return "Properties/VpcConfig"


def _override_if(props: dict[str, Any]) -> str:
    props["InstanceGroups"][1]["OverrideVpcConfig"] = {
        "Fn::If": ["C", {"SecurityGroupIds": [OTHER], "Subnets": ["subnet-1"]}, {"Ref": "AWS::NoValue"}]
    }
    return "Properties/InstanceGroups/1/OverrideVpcConfig"


def _groups_if(props: dict[str, Any]) -> str:
    groups = copy.deepcopy(props["InstanceGroups"])
    props["InstanceGroups"] = {"Fn::If": ["C", groups, groups]}
    return "Properties/InstanceGroups"


SHAPES = {"VpcConfig": _vpc_config_if, "OverrideVpcConfig": _override_if, "InstanceGroups": _groups_if}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_the_plugin_reports_efa1_when_the_enclosing_object_is_one_intrinsic(tmp_path: Path, shape: str) -> None:
    template = round8._cluster_template()
    location = SHAPES[shape](template["Resources"]["Cluster"]["Properties"])
    path = tmp_path / "t.json"
    path.write_text(json.dumps(template))
    posture = [f for f in round8._efa1(check_files([path])) if location in f.locations]
    assert posture and posture[0].severity is None and "cannot verify" in posture[0].detail, posture


def test_the_plugin_reports_sm1_when_instance_groups_is_one_intrinsic(tmp_path: Path) -> None:
    template = round8._cluster_template()
    props = template["Resources"]["Cluster"]["Properties"]
    del props["InstanceGroups"][1]["OnStartDeepHealthChecks"]
    _groups_if(props)
    path = tmp_path / "t.json"
    path.write_text(json.dumps(template))
    sm1 = [f for f in check_files([path]) if f.rule_id == "HyperPod-SM1"]
    assert [f.locations for f in sm1] == [("Properties/InstanceGroups",)]


def test_the_plugin_is_quiet_on_the_literal_template(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps(round8._cluster_template()))
    assert not [f for f in check_files([path]) if f.rule_id == "HyperPod-SM1"]
    assert all("one intrinsic" not in f.detail for f in round8._efa1(check_files([path])))
