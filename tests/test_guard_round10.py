"""Replacement guard: review round 10 (tools) M1 (a parameter read through Fn::Sub) and M2 (labels of long
unresolved group names; YAML templates larger than CloudFormation takes)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.guard import compare_templates, main
from hyperpod_cdk.guard.__main__ import MAX_YAML_TEMPLATE_CHARS, GuardError, parse_template
from hyperpod_cdk.input_limits import bounded_json as _bounded_json

_spec = importlib.util.spec_from_file_location("work_limits", Path(__file__).with_name("work_limits.py"))
assert _spec and _spec.loader
work_limits = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(work_limits)


def _eks(name: Any, default: str) -> dict[str, Any]:
    return {
        "Parameters": {
            "Prefix": {"Type": "String", "Default": "hp"},
            "EKSClusterName": {"Type": "String", "Default": default},
        },
        "Resources": {
            "EKSCluster": {
                "Type": "AWS::EKS::Cluster",
                "Properties": {
                    "Name": name,
                    "RoleArn": "arn:aws:iam::1:role/r",
                    "ResourcesVpcConfig": {"SubnetIds": ["s"]},
                },
            }
        },
    }


@pytest.mark.parametrize(
    "name",
    [
        {"Fn::Sub": "${Prefix}-${EKSClusterName}"},  # the shape of AWS's own EKS template
        {"Fn::Sub": ["${P}-${X}", {"P": {"Ref": "Prefix"}, "X": {"Ref": "EKSClusterName"}}]},
        {"Fn::Join": ["-", [{"Ref": "Prefix"}, {"Ref": "EKSClusterName"}]]},
    ],
)
def test_a_parameter_default_read_through_fn_sub_is_compared(name: Any) -> None:
    """A changed Default renames, so replaces, the cluster: reported whichever way the name reads it."""
    report = compare_templates(_eks(name, "eks"), _eks(name, "eks2"), None)
    assert any(f.logical_id == "EKSCluster" and f.property == "Name" for f in report.findings)
    assert not compare_templates(_eks(name, "eks"), _eks(name, "eks"), None).findings


def test_a_sub_local_variable_is_not_read_as_the_parameter_of_that_name() -> None:
    name = {"Fn::Sub": ["${EKSClusterName}", {"EKSClusterName": "fixed"}]}
    assert not compare_templates(_eks(name, "eks"), _eks(name, "eks2"), None).findings


@pytest.mark.parametrize(
    "value",
    [
        {"Fn::If": ["C", "x" * 5000, "g"]},
        {"b": [1, 2.5, True, None, {"z": "é\u2028"}], "a": "q"},
        ["short"],
        "x" * 200,
    ],
)
def test_the_bounded_label_text_is_the_start_of_the_whole(value: Any) -> None:
    whole = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    for limit in (1, 10, 81, 10_000):
        assert _bounded_json(value, limit) == whole[:limit]


def test_long_unresolved_names_sharing_one_string_are_not_serialised_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Review round 10, M2: each label serialised its whole name (110,000 names holding one aliased
    64,000-character string: 53 s of the run). Now only what a label shows is written out."""
    import types

    from hyperpod_cdk import input_limits

    written = [0]

    def dumps(value: Any, **kwargs: Any) -> str:
        text = json.dumps(value, **kwargs)
        written[0] += len(text)
        return text

    monkeypatch.setattr(input_limits, "json", types.SimpleNamespace(dumps=dumps))
    shared = "x" * 64_000
    groups = [{"InstanceGroupName": {"Fn::If": ["C", shared, str(i)]}, "InstanceCount": 1} for i in range(200)]
    template = {
        "Conditions": {"C": {"Fn::Equals": ["a", "a"]}},
        "Resources": {"X": {"Type": "AWS::SageMaker::Cluster", "Properties": {"InstanceGroups": groups}}},
    }
    with work_limits.guard(60):
        assert not compare_templates(template, template, None).findings
    assert written[0] < 200 * 1_000  # 12.8 million characters before (each name written whole)


def test_a_yaml_template_larger_than_cloudformation_takes_is_refused_before_parsing(tmp_path: Path, capsys) -> None:
    body = "Resources:\n  A:\n    Type: AWS::S3::Bucket\n" + "# pad\n" * (MAX_YAML_TEMPLATE_CHARS // 6 + 1)
    with pytest.raises(GuardError, match=r"a YAML template over 1 MiB; CloudFormation takes at most 1 MB"):
        parse_template(body, "big.yaml")
    path = tmp_path / "big.yaml"
    path.write_text(body)
    assert main(["--old", str(path), "--new", str(path)]) == 2
    assert "over 1 MiB" in capsys.readouterr().err
    # JSON (what cdk.out and get-template hold) keeps the larger cap: it parses fast and has no aliases.
    assert parse_template(json.dumps({"Resources": {"A": {"Type": "AWS::S3::Bucket"}}, "Pad": "x" * (2 << 20)}), "t")


# --- review round 11 (tools) ---------------------------------------------------------------------


@pytest.mark.parametrize("text", ["${ Prefix }-${ EKSClusterName }", "${Prefix}-${EKSClusterName }"])
def test_a_spaced_sub_variable_is_read_as_the_parameter(text: str) -> None:
    """R11T-M1: CloudFormation strips the spaces inside ``${ Name }`` (aws-cloudformation/cfn-lint#236)."""
    name = {"Fn::Sub": text}
    assert any(f.property == "Name" for f in compare_templates(_eks(name, "eks"), _eks(name, "eks2"), None).findings)
    assert not compare_templates(_eks(name, "eks"), _eks(name, "eks"), None).findings


def test_a_spaced_sub_variable_in_a_group_name_resolves() -> None:
    from hyperpod_cdk.guard.group_names import resolve_name

    template = {"Parameters": {"G": {"Type": "String", "Default": "gpu"}}}
    assert resolve_name({"Fn::Sub": "${ G }-a"}, template) == "gpu-a"
    assert resolve_name({"Fn::Sub": "${! G }-a"}, template) == "${G}-a"  # the literal form stays literal


def _counted(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    count = [0]
    original = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return count


def test_an_aliased_sub_is_read_once_per_object(monkeypatch: pytest.MonkeyPatch) -> None:
    """R11T-M2: one Fn::Sub naming N variables, repeated M times by a YAML alias (one object), was read
    M times (a 249 KB YAML: 62 s)."""
    from hyperpod_cdk.guard import values

    sub = {"Fn::Sub": "".join(f"${{V{i}}}" for i in range(50))}
    parameters = {f"V{i}": {"Type": "String", "Default": "x"} for i in range(50)}
    template = {"Parameters": parameters, "Resources": {}}
    reads = _counted(monkeypatch, values, "_read_parameters")
    found, _ = values._inputs_and_conditions([sub] * 400, template)
    assert len(found) == 50 and reads[0] == 1


def test_a_parameter_read_by_many_values_is_compared_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """R11T-M3: a large parameter Default read by G instance groups was compared once per group."""
    from hyperpod_cdk.guard import conditions  # InputMemo moved there (review round 15, tools, M1)

    big = [["x"] * 200] * 50
    groups = [
        {"InstanceGroupName": f"g{i}", "InstanceType": {"Ref": "T"}, "InstanceCount": 1, "ExecutionRole": "e"}
        for i in range(300)
    ]
    template = {
        "Parameters": {"T": {"Type": "String", "Default": big}},
        "Resources": {
            "C": {"Type": "AWS::SageMaker::Cluster", "Properties": {"ClusterName": "c", "InstanceGroups": groups}}
        },
    }
    compared = _counted(monkeypatch, conditions, "_differences")
    assert not compare_templates(template, template, None).findings
    assert compared[0] < 20  # once per label and side pattern, not once per group (300 before)


def _names_read(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A counter of the parameter names ``values._read_parameters`` is given, over the test."""
    from hyperpod_cdk.guard import values

    names_read = [0]
    original = values._read_parameters

    def counting(names: Any, parameters: Any, found: Any) -> None:
        names = list(names)
        names_read[0] += len(names)
        original(names, parameters, found)

    monkeypatch.setattr(values, "_read_parameters", counting)
    return names_read


def test_an_aliased_list_form_sub_is_read_once_per_object(monkeypatch: pytest.MonkeyPatch) -> None:
    """Review round 12, tools, M1: only the string form was remembered, so ``Fn::Sub: [*s, {}]`` copies
    re-read every name of the aliased string (a 987 KB YAML: 147.7 s)."""
    from hyperpod_cdk.guard import values

    text = "".join(f"${{V{i}}}" for i in range(50))
    template = {"Parameters": {f"V{i}": {"Type": "String", "Default": "x"} for i in range(50)}, "Resources": {}}
    names_read = _names_read(monkeypatch)
    found, _ = values._inputs_and_conditions([{"Fn::Sub": [text, {}]} for _ in range(400)], template)
    assert len(found) == 50 and names_read[0] == 50  # 20,000 before


def test_the_string_form_still_reads_what_a_list_forms_local_hides() -> None:
    """Review round 12, tools, L3: a list form whose local variable hides a parameter marked the string as
    read, and the string form of the same aliased string then skipped that parameter."""
    from hyperpod_cdk.guard import values

    text = "${EKSClusterName}"
    template = {"Parameters": {"EKSClusterName": {"Type": "String", "Default": "eks"}}, "Resources": {}}
    found, _ = values._inputs_and_conditions(
        [{"Fn::Sub": text}, {"Fn::Sub": [text, {"EKSClusterName": "x"}]}], template
    )
    assert "parameter EKSClusterName (Default)" in found


def test_mapping_paths_with_dotted_keys_get_distinct_labels() -> None:
    """Review round 12, tools, L1: ["N", "a.b", "c"] and ["N", "a", "b.c"] shared the label "mapping N.a.b.c",
    and since labels are compared once each, one path's answer stood for the other's."""
    from hyperpod_cdk.guard import values

    template = {"Mappings": {"N": {"a.b": {"c": "1"}, "a": {"b.c": "2"}}}, "Resources": {}}
    first, _ = values._inputs_and_conditions({"Fn::FindInMap": ["N", "a.b", "c"]}, template)
    second, _ = values._inputs_and_conditions({"Fn::FindInMap": ["N", "a", "b.c"]}, template)
    assert set(first).isdisjoint(second) and list(first.values()) == ["1"] and list(second.values()) == ["2"]
    plain, _ = values._inputs_and_conditions({"Fn::FindInMap": ["M", "k", "v"]}, {"Mappings": {}, "Resources": {}})
    assert list(plain) == ["mapping M.k.v"]


def test_copies_with_distinct_locals_read_each_name_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Review round 13, tools, M3: the memo was keyed by the copy's local names, so copies of one aliased
    string with one distinct local each re-read all N names (1 MB: 176 s). Each name is read once now."""
    from hyperpod_cdk.guard import values

    text = "".join(f"${{V{i}}}" for i in range(200))
    template = {"Parameters": {f"V{i}": {"Type": "String", "Default": "x"} for i in range(200)}, "Resources": {}}
    names_read = _names_read(monkeypatch)
    copies = [{"Fn::Sub": [text, {f"L{i}": "x"}]} for i in range(500)]
    found, _ = values._inputs_and_conditions(copies, template)
    assert len(found) == 200 and names_read[0] == 200  # 100,000 before
    # A local that hides a name in one copy does not hide it from another.
    hidden = [{"Fn::Sub": "${A}"}, {"Fn::Sub": ["${A}", {"A": "x"}]}]
    shadow = {"Parameters": {"A": {"Type": "String", "Default": "a"}}, "Resources": {}}
    assert "parameter A (Default)" in values._inputs_and_conditions(hidden, shadow)[0]


def test_the_json_report_writes_a_long_aliased_value_only_as_far_as_it_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Review round 14, tools, M1: ``--json`` wrote each finding's whole old/new value to measure it (an
    Fn::Join over one aliased string: 1.21 GB at 124 KB of YAML)."""
    from hyperpod_cdk.guard import output
    from hyperpod_cdk.guard.findings import Finding

    written = [0]
    original = json.dumps

    def dumps(value: Any, **kwargs: Any) -> str:
        text = original(value, **kwargs)
        written[0] += len(text)
        return text

    monkeypatch.setattr(json, "dumps", dumps)  # every module's json.dumps, whichever writes the value
    shared = "a" * 100_000
    value = {"Fn::Join": ["", [shared] * 1_000]}
    finding = Finding("C", "AWS::EKS::Cluster", None, "Name", "replacement", "eks", value, "r", "u")
    shown = output._shown(finding)
    assert len(shown["new"]) <= output.SHOWN_WIDTH and written[0] < 2_000  # 100 million characters before
