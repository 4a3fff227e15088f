"""Fifth review L9: the guard refuses templates it cannot compare as written.

The reviewer's steps: moving the FSx file system into ``Fn::ForEach::`` (under the
``AWS::LanguageExtensions`` transform) was reported once as removed, and after that a replacing
change inside the loop body gave "No replacing changes" and exit 0. Now either template with a
``Transform`` or a ``Fn::ForEach::`` key in ``Resources`` is one line and exit 2.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from hyperpod_cdk.guard import compare_templates, main
from hyperpod_cdk.guard.comparable import TemplateNotComparableError

FSX = {
    "Type": "AWS::FSx::FileSystem",
    "DeletionPolicy": "Retain",
    "Properties": {"FileSystemType": "LUSTRE", "StorageCapacity": 1200, "KmsKeyId": "key-a"},
}
PLAIN = {"Resources": {"Fsx636578FC": FSX}}


def _foreach(kms: str) -> dict:
    body = copy.deepcopy(FSX)
    body["Properties"]["KmsKeyId"] = kms
    return {
        "Transform": "AWS::LanguageExtensions",
        "Resources": {"Fn::ForEach::Fs": ["X", ["636578FC"], {"Fsx${X}": body}]},
    }


def _write(path: Path, template: dict) -> str:
    path.write_text(json.dumps(template))
    return str(path)


def _run(capsys, old: dict, new: dict, tmp_path: Path) -> tuple[int, str]:
    code = main(["--old", _write(tmp_path / "old.json", old), "--new", _write(tmp_path / "new.json", new)])
    return code, capsys.readouterr().err


def test_replacing_change_inside_foreach_is_not_reported_as_clean(tmp_path: Path, capsys) -> None:
    # The reviewer's step 2: both templates loop; the loop body's KMS key changes (a replacement).
    code, err = _run(capsys, _foreach("key-a"), _foreach("key-b"), tmp_path)
    assert code == 2
    assert err.count("\n") == 1
    assert "has Transform AWS::LanguageExtensions" in err and "--template-stage Processed" in err


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ({"Resources": {"Fn::ForEach::Fs": ["X", ["a"], {"Fsx${X}": FSX}]}}, "has Fn::ForEach::Fs in Resources"),
        (
            {"Transform": ["AWS::Serverless-2016-10-31"], "Resources": {"F": FSX}},
            "Transform AWS::Serverless-2016-10-31",
        ),
        (
            {"Transform": {"Name": "AWS::Include", "Parameters": {"Location": "s3://b/k"}}, "Resources": {"F": FSX}},
            "Transform AWS::Include",
        ),
    ],
)
@pytest.mark.parametrize("side", ["old", "new"])
def test_either_template_with_a_transform_or_foreach_is_one_line_exit_2(
    tmp_path: Path, capsys, template: dict, expected: str, side: str
) -> None:
    old, new = (template, PLAIN) if side == "old" else (PLAIN, template)
    code, err = _run(capsys, old, new, tmp_path)
    assert code == 2
    assert expected in err and f"{side}.json" in err
    assert err.count("\n") == 1


def test_library_compare_refuses_too() -> None:
    with pytest.raises(TemplateNotComparableError, match="the new template has Fn::ForEach::Fs"):
        compare_templates(PLAIN, {"Resources": {"Fn::ForEach::Fs": ["X", ["a"], {"Fsx${X}": FSX}]}})


def test_plain_templates_still_compare() -> None:
    changed = copy.deepcopy(PLAIN)
    changed["Resources"]["Fsx636578FC"]["Properties"]["KmsKeyId"] = "key-b"
    report = compare_templates(PLAIN, changed)
    assert [(f.property, f.effect) for f in report.findings] == [("KmsKeyId", "replacement")]


def test_an_fn_transform_intrinsic_is_refused_too(tmp_path: Path, capsys) -> None:
    """Sixth review, L2: the intrinsic runs a macro on part of a template without a top-level Transform."""
    body = copy.deepcopy(FSX)
    body["Properties"] = {"Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": "s3://b/fsx.yaml"}}}
    code, err = _run(capsys, PLAIN, {"Resources": {"Fsx636578FC": body}}, tmp_path)
    assert code == 2 and err.count("\n") == 1
    assert "has Fn::Transform" in err


def test_the_guard_prints_template_text_with_terminal_controls_escaped(tmp_path: Path, capsys) -> None:
    """Sixth review, L1: a logical id or a Transform name must not drive the operator's terminal."""
    evil = "Evil\x1b]0;PWNED\x07\x1b[2J\u202eX"
    old = {"Resources": {"Fsx": FSX}}
    new = {"Resources": {"Fsx": {**FSX, "Properties": {**FSX["Properties"], "KmsKeyId": evil}}}}
    code = main(["--old", _write(tmp_path / "old.json", old), "--new", _write(tmp_path / "new.json", new)])
    captured = capsys.readouterr()
    assert code == 1
    assert "\x1b" not in captured.out and "\u202e" not in captured.out
    assert "PWNED" in captured.out
    # such a logical ID is refused (round 7g, M4), and the refusal line is escaped too
    code, err = _run(capsys, PLAIN, {"Resources": {evil: FSX}}, tmp_path)
    assert code == 2 and "\x1b" not in err and "Evil\\x1b]0;PWNED" in err
    code, err = _run(capsys, PLAIN, {"Transform": "Macro\x1b[2J", "Resources": {}}, tmp_path)
    assert code == 2 and "\x1b" not in err and "Macro\\x1b[2J" in err


@pytest.mark.parametrize("new_value", [True, False])
def test_turning_copy_tags_to_backups_on_replaces_the_file_system(tmp_path: Path, capsys, new_value: bool) -> None:
    """Review round 7g, H2: CloudFormation replaces an FSx for Lustre file system to change
    CopyTagsToBackups; absent means false, so only a real change is reported."""
    with_tags = copy.deepcopy(FSX)
    with_tags["Properties"]["LustreConfiguration"] = {"CopyTagsToBackups": new_value}
    code = main(
        [
            "--old",
            _write(tmp_path / "old.json", PLAIN),
            "--new",
            _write(tmp_path / "new.json", {"Resources": {"Fsx636578FC": with_tags}}),
        ]
    )
    out = capsys.readouterr().out
    if new_value:
        assert code == 1 and "LustreConfiguration.CopyTagsToBackups" in out
    else:
        assert code == 0


def _cluster(groups: list[dict], autoscaling: dict | None = None) -> dict:
    props: dict = {"ClusterName": "c", "InstanceGroups": groups}
    if autoscaling:
        props["AutoScaling"] = autoscaling
    return {"Resources": {"HyperPod": {"Type": "AWS::SageMaker::Cluster", "Properties": props}}}


def _group(name: str, labels: dict | None = None) -> dict:
    group: dict = {"InstanceGroupName": name, "InstanceType": "ml.g5.8xlarge", "InstanceCount": 0}
    if labels:
        group["KubernetesConfig"] = {"Labels": labels}
    return group


@pytest.mark.parametrize(
    ("old", "reported"),
    [
        (_cluster([_group("keep"), _group("auto", {"hyperpod-cdk/autoscaler": "karpenter"})]), True),
        (_cluster([_group("keep"), _group("auto")], {"Mode": "Enable"}), True),
        (_cluster([_group("keep"), _group("auto")]), False),  # a group with no nodes, no autoscaler
    ],
)
def test_removing_a_karpenter_group_is_reported_though_its_count_is_0(
    tmp_path: Path, capsys, old: dict, reported: bool
) -> None:
    """Review round 7g, H1: an autoscale group's template count is 0, but Karpenter runs its nodes."""
    new = copy.deepcopy(old)
    new["Resources"]["HyperPod"]["Properties"]["InstanceGroups"] = [_group("keep")]
    code = main(["--old", _write(tmp_path / "old.json", old), "--new", _write(tmp_path / "new.json", new)])
    out = capsys.readouterr().out
    if reported:
        assert code == 1 and "instance group 'auto' is removed" in out and "Karpenter owns its size" in out
    else:
        assert code == 0


def test_an_fn_transform_in_mappings_is_refused_too(tmp_path: Path, capsys) -> None:
    """Review round 7g, L2: a macro in Mappings or Conditions changes what FindInMap or a Condition gives."""
    mapped = {"Mappings": {"Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": "s3://b/m"}}}, **PLAIN}
    code, err = _run(capsys, PLAIN, mapped, tmp_path)
    assert code == 2 and "has Fn::Transform" in err


def test_a_huge_integer_in_a_set_valued_list_is_compared_not_a_trace(tmp_path: Path, capsys) -> None:
    """Review round 7g, L1: the sort key no longer turns integers into floats."""
    # SageMaker VpcConfig.Subnets is a set (insertionOrder false in its schema), so it is sorted.
    hp = {"Type": "AWS::SageMaker::Cluster", "Properties": {"VpcConfig": {"Subnets": [10**400, 1]}}}
    template = {"Resources": {"Hp": hp}}
    code = main(["--old", _write(tmp_path / "a.json", template), "--new", _write(tmp_path / "b.json", template)])
    assert code == 0
