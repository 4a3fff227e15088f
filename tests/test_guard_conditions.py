"""Replacement guard: resources removed through a Condition, and values that resolve through
parameter defaults, mappings and conditions (issue 14, item 4)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from hyperpod_cdk.guard import compare_templates, main
from hyperpod_cdk.guard.diff import CONDITION_PROPERTY, evaluate_condition, template_inputs

NEVER = {"Fn::Equals": ["a", "b"]}


def _write(path: Path, template: dict) -> Path:
    path.write_text(json.dumps(template))
    return path


def _hyperpod_id(template: dict) -> str:
    (logical_id,) = (k for k, v in template["Resources"].items() if v["Type"] == "AWS::SageMaker::Cluster")
    return logical_id


def test_a_never_condition_on_the_real_hyperpod_cluster_is_refused(platform, tmp_path, capsys):
    """The reported case: ``Condition: Never`` on the cluster said "no replacing changes", exit 0."""
    old = platform.template
    new = copy.deepcopy(old)
    cluster_id = _hyperpod_id(new)
    new.setdefault("Conditions", {})["Never"] = NEVER
    new["Resources"][cluster_id]["Condition"] = "Never"
    old_file, new_file = _write(tmp_path / "old.json", old), _write(tmp_path / "new.json", new)
    code = main(["--old", str(old_file), "--new", str(new_file)])
    out = capsys.readouterr().out
    assert code == 1, out
    assert f"{cluster_id} (AWS::SageMaker::Cluster)" in out
    assert "[REMOVED] (Condition)" in out and "false with the parameter defaults" in out


def _cluster(**extra) -> dict:
    return {
        "Type": "AWS::SageMaker::Cluster",
        "Properties": {
            "ClusterName": "hp",
            "InstanceGroups": [{"InstanceGroupName": "gpu", "InstanceType": "ml.g5.8xlarge", "InstanceCount": 2}],
        },
        **extra,
    }


def _findings(old: dict, new: dict) -> dict[tuple[str, str], object]:
    return {(f.logical_id, f.property): f for f in compare_templates(old, new).findings}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (NEVER, "false with the parameter defaults"),
        ({"Fn::Equals": [{"Ref": "Enabled"}, "yes"]}, "true with the parameter defaults, but a deploy"),
        ({"Fn::Equals": [{"Ref": "AWS::Region"}, "us-west-2"]}, "When it is false"),
    ],
)
def test_added_condition_is_a_removal(condition, expected):
    params = {"Enabled": {"Type": "String", "Default": "yes"}}
    old = {"Parameters": params, "Resources": {"HyperPod": _cluster()}}
    new = {
        "Parameters": params,
        "Conditions": {"Gate": condition},
        "Resources": {"HyperPod": _cluster(Condition="Gate")},
    }
    finding = _findings(old, new)[("HyperPod", CONDITION_PROPERTY)]
    assert finding.effect == "removed"
    assert expected in finding.reason
    assert "now exists only while condition" in (finding.cause or "")


def test_changed_condition_definition_or_parameter_default_is_a_removal():
    def template(default: str, definition: dict) -> dict:
        return {
            "Parameters": {"Keep": {"Type": "String", "Default": default}},
            "Conditions": {"Keep": definition},
            "Resources": {
                "Logs": {
                    "Type": "AWS::Logs::LogGroup",
                    "Condition": "Keep",
                    "DeletionPolicy": "Retain",
                    "Properties": {},
                }
            },
        }

    keep = {"Fn::Equals": [{"Ref": "Keep"}, "true"]}
    assert compare_templates(template("true", keep), template("true", keep)).findings == []
    # Same condition name, new definition.
    [changed] = compare_templates(template("true", keep), template("true", {"Fn::Not": [keep]})).findings
    assert (changed.logical_id, changed.property, changed.effect) == ("Logs", CONDITION_PROPERTY, "removed")
    assert "condition Keep" in (changed.cause or "") and "kept but no longer managed" in changed.reason
    # Same definition, the parameter default it reads changed.
    [flipped] = compare_templates(template("true", keep), template("false", keep)).findings
    assert 'parameter Keep (Default): "true" -> "false"' in (flipped.cause or "")
    assert "false with the parameter defaults" in flipped.reason


def test_conditions_on_unguarded_types_and_removed_conditions_pass():
    old = {
        "Conditions": {"Never": NEVER},
        "Resources": {
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {}},
            "HyperPod": _cluster(Condition="Never"),
        },
    }
    new = copy.deepcopy(old)
    new["Resources"]["Fn"]["Condition"] = "Never"  # not a guarded or stateful type
    del new["Resources"]["HyperPod"]["Condition"]  # unconditional now: created, not deleted
    assert compare_templates(old, new).findings == []


@pytest.mark.parametrize("section", ["Parameters", "Mappings", "Conditions"])
def test_guarded_value_resolving_through_a_changed_entry_is_reported(section):
    values = {
        "Parameters": {"Ref": "GpuType"},
        "Mappings": {"Fn::FindInMap": ["Types", "gpu", "type"]},
        "Conditions": {"Fn::If": ["Big", "ml.g5.12xlarge", "ml.g5.8xlarge"]},
    }

    def template(big: bool) -> dict:
        cluster = _cluster()
        cluster["Properties"]["InstanceGroups"][0]["InstanceType"] = values[section]
        gpu_type = "ml.g5.12xlarge" if big else "ml.g5.8xlarge"
        return {
            "Parameters": {"GpuType": {"Type": "String", "Default": gpu_type}},
            "Mappings": {"Types": {"gpu": {"type": gpu_type}, "cpu": {"type": "ml.m5.large"}}},
            "Conditions": {"Big": {"Fn::Equals": ["x", "x" if big else "y"]}},
            "Resources": {"HyperPod": cluster},
        }

    finding = _findings(template(False), template(True))[("HyperPod", "InstanceGroups[gpu].InstanceType")]
    assert finding.effect == "disruptive"
    assert "written the same but resolves differently" in (finding.cause or "")
    # Entries the value does not use may change freely.
    unrelated = template(False)
    unrelated["Mappings"]["Types"]["cpu"]["type"] = "ml.m5.xlarge"
    unrelated["Parameters"]["Other"] = {"Type": "String", "Default": "x"}
    assert compare_templates(template(False), unrelated).findings == []


def test_template_inputs_follow_conditions_transitively():
    template = {
        "Parameters": {"P": {"Type": "String", "Default": "a"}},
        "Mappings": {"M": {"k": {"v": 1}}},
        "Conditions": {
            "Outer": {"Fn::And": [{"Condition": "Inner"}, {"Fn::Equals": ["x", "x"]}]},
            "Inner": {"Fn::Equals": [{"Ref": "P"}, {"Fn::FindInMap": ["M", "k", "v"]}]},
        },
    }
    inputs = template_inputs({"Fn::If": ["Outer", 1, 2]}, template)
    assert set(inputs) == {"condition Outer", "condition Inner", "parameter P (Default)", "mapping M.k.v"}
    assert evaluate_condition("Outer", template) is False  # "a" != "1"
    template["Parameters"]["P"]["Default"] = "1"
    assert evaluate_condition("Outer", template) is True
    template["Conditions"]["Loop"] = {"Condition": "Loop"}
    assert evaluate_condition("Loop", template) is None
