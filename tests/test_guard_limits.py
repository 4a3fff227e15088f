"""The replacement guard on hostile or pathological inputs (issue 18, round-6b review R6B-M1..M3).

The same treatment ``hyperpod-cdk lint`` gives them (tests/test_lint_limits.py): a cdk.out that names a
pipe, a link or a file outside itself is refused in one line (exit 2); condition chains are evaluated
once per name and at most MAX_CONDITION_HOPS deep; the comparison does linear work, measured by counting
function calls at two input sizes (a wall-clock limit is only a guard against a hang).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.guard import diff
from hyperpod_cdk.guard.__main__ import main
from hyperpod_cdk.guard.diff import compare_templates
from hyperpod_cdk.guard.values import evaluate_condition, item_label

# Loaded by path (tests use --import-mode=importlib), like cli_fixtures.py.
_spec = importlib.util.spec_from_file_location("work_limits", Path(__file__).with_name("work_limits.py"))
assert _spec and _spec.loader
work_limits = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(work_limits)
calls = work_limits.calls

GUARD_SECONDS = 20  # a guard against a hang, not a benchmark
MAX_STACKS = 500  # guard/__main__.py (as lint's MAX_CDK_OUT_TEMPLATES)
MAX_CONDITION_HOPS = 128  # guard/values.py (as lint's MAX_EVALUATION_DEPTH)
TOPIC = {"Resources": {"A": {"Type": "AWS::SNS::Topic"}}}


def guard(seconds: float = GUARD_SECONDS) -> contextlib.AbstractContextManager[None]:
    return work_limits.guard(seconds)


def run_guard(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with guard():
        status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


def manifest(directory: Path, template_file: str, count: int = 1) -> None:
    artifacts = {
        f"s{i}": {
            "type": "aws:cloudformation:stack",
            "environment": "aws://1/us-west-2",
            "properties": {"templateFile": template_file if i == 0 else f"s{i}.template.json", "stackName": f"s{i}"},
        }
        for i in range(count)
    }
    write(directory / "manifest.json", {"version": "36.0.0", "artifacts": artifacts})


@pytest.fixture
def old(tmp_path: Path) -> Path:
    directory = tmp_path / "old"
    directory.mkdir()
    write(directory / "s0.template.json", TOPIC)
    return directory


def refused(capsys: pytest.CaptureFixture[str], old: Path, new: Path | str, *extra: str) -> str:
    status, out, err = run_guard(capsys, "--old", str(old), "--new", str(new), *extra)
    assert status == 2, out + err
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err, err
    return err


# ------------------------------------------------------------------ R6B-M1: what a cdk.out may name


def test_a_fifo_the_manifest_names_is_refused(tmp_path: Path, old: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Blocked forever in open() before the fix."""
    new = tmp_path / "new"
    new.mkdir()
    os.mkfifo(new / "evil.template.json")
    manifest(new, "evil.template.json")
    assert "not a regular file" in refused(capsys, old, new)


def test_a_fifo_template_without_a_manifest_is_refused(
    tmp_path: Path, old: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = tmp_path / "new"
    new.mkdir()
    os.mkfifo(new / "x.template.json")
    assert "not a regular file" in refused(capsys, old, new)


def test_a_fifo_on_the_command_line_is_refused(tmp_path: Path, old: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.mkfifo(tmp_path / "pipe.json")
    assert "not a regular file" in refused(capsys, old, tmp_path / "pipe.json")


@pytest.mark.parametrize("what", ["template", "manifest"])
def test_a_link_inside_a_cdk_out_is_refused(
    tmp_path: Path, old: Path, capsys: pytest.CaptureFixture[str], what: str
) -> None:
    """A template or manifest that is a symbolic link is not what synth writes: it could point anywhere."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write(elsewhere / "t.json", TOPIC)
    new = tmp_path / "new"
    new.mkdir()
    if what == "template":
        (new / "x.template.json").symlink_to(elsewhere / "t.json")
    else:
        manifest(elsewhere, "s0.template.json")
        (new / "manifest.json").symlink_to(elsewhere / "manifest.json")
    assert "a symbolic link" in refused(capsys, old, new)


def test_a_template_named_on_the_command_line_may_be_a_link(
    tmp_path: Path, old: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The user named it: followed as before (only what a cdk.out holds must be what synth writes)."""
    write(tmp_path / "t.json", TOPIC)
    (tmp_path / "link.json").symlink_to(tmp_path / "t.json")
    status, out, _ = run_guard(capsys, "--old", str(old), "--new", str(tmp_path / "link.json"))
    assert status == 0 and out.startswith("no replacing changes")


@pytest.mark.parametrize("kind", ["relative", "absolute", "through a linked directory"])
def test_a_template_file_outside_the_cdk_out_is_refused(
    tmp_path: Path, old: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    """Read (any file on the machine, only parse errors shown) before the fix."""
    outside = write(tmp_path / "outside.template.json", TOPIC)
    new = tmp_path / "new"
    new.mkdir()
    if kind == "relative":
        name = "../outside.template.json"
    elif kind == "absolute":
        name = str(outside)
    else:
        (new / "sub").symlink_to(tmp_path)
        name = "sub/outside.template.json"
    manifest(new, name)
    # a path is not the plain file name a cdk.out's manifest holds: refused before it is resolved
    assert "is not a file name" in refused(capsys, old, new)


@pytest.mark.parametrize(
    "name",
    ["a/" * 100_000 + "s0.template.json", "s0.template.json\x00x", "s0\n.template.json", "x" * 300 + ".template.json"],
    ids=["100k components", "NUL", "newline", "over 255 characters"],
)
def test_a_template_file_that_is_not_a_plain_name_is_refused_before_it_is_resolved(
    tmp_path: Path, old: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Round 7g M3: Path.resolve() was quadratic in the components (2 MB: 244 s), a NUL was a ValueError
    trace (exit 1), and the error line printed the whole path."""
    resolved: list[Path] = []
    real_resolve = Path.resolve
    monkeypatch.setattr(Path, "resolve", lambda self, strict=False: resolved.append(self) or real_resolve(self, strict))
    new = tmp_path / "new"
    new.mkdir()
    manifest(new, name)
    err = refused(capsys, old, new)
    assert "is not a file name" in err and len(err) < 1_000
    assert not any(len(str(p)) > 4_096 or "\x00" in str(p) for p in resolved)


def test_the_template_file_names_cdk_writes_are_read(
    tmp_path: Path, old: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = tmp_path / "new"
    new.mkdir()
    write(new / "hyperpod-demo_1.2.template.json", TOPIC)
    manifest(new, "hyperpod-demo_1.2.template.json")
    status, out, err = run_guard(capsys, "--old", str(old), "--new", str(new))
    assert (status, err) == (0, ""), err


def test_too_many_stacks_are_refused(tmp_path: Path, old: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new = tmp_path / "new"
    new.mkdir()
    write(new / "s0.template.json", TOPIC)
    manifest(new, "s0.template.json", count=MAX_STACKS + 1)
    assert f"more than {MAX_STACKS} stack templates" in refused(capsys, old, new, "--stack", "s0")


# ------------------------------------------------------------------ R6B-M2: conditions


def _not_chain(length: int) -> dict[str, Any]:
    conditions: dict[str, Any] = {"C0": {"Fn::Equals": ["a", "a"]}}
    conditions.update({f"C{i}": {"Fn::Not": [{"Condition": f"C{i - 1}"}]} for i in range(1, length)})
    return {"Conditions": conditions}


def test_a_long_condition_chain_is_unknown_not_a_recursion_error() -> None:
    """5,000 Fn::Not hops raised RecursionError; past MAX_CONDITION_HOPS the value is unknown (None)."""
    with guard():
        assert evaluate_condition("C4999", _not_chain(5000)) is None
        assert evaluate_condition(f"C{MAX_CONDITION_HOPS + 10}", _not_chain(MAX_CONDITION_HOPS + 11)) is None
        # Within the cap the value is still worked out: C100 is Not applied 100 times to true.
        assert evaluate_condition("C100", _not_chain(101)) is True
        assert evaluate_condition("C99", _not_chain(101)) is False


def test_a_resource_behind_a_long_condition_chain_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The change is reported (its value unknown), never hidden and never a traceback."""
    cluster = {"Type": "AWS::SageMaker::Cluster", "Properties": {"ClusterName": "x"}}
    before = write(tmp_path / "old.json", {"Resources": {"C": cluster}})
    after = write(tmp_path / "new.json", {**_not_chain(5000), "Resources": {"C": {**cluster, "Condition": "C4999"}}})
    status, out, err = run_guard(capsys, "--old", str(before), "--new", str(after))
    assert status == 1 and "Traceback" not in err, err
    assert "[REMOVED] (Condition)" in out and "When it is false, CloudFormation deletes the resource." in out


class CountingConditions(dict[str, Any]):
    """A Conditions section that counts how often a condition is looked up."""

    lookups = 0

    def __getitem__(self, key: str) -> Any:
        CountingConditions.lookups += 1
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        CountingConditions.lookups += 1
        return super().get(key, default)


def test_a_condition_diamond_is_evaluated_once_per_name() -> None:
    """D_i = And[D_{i-1}, D_{i-1}]: 2^levels lookups before the fix (a 40-level diamond hung), now one per name."""
    levels = 16
    conditions = CountingConditions({"D0": {"Fn::Equals": ["a", "a"]}})
    for i in range(1, levels):
        conditions[f"D{i}"] = {"Fn::And": [{"Condition": f"D{i - 1}"}, {"Condition": f"D{i - 1}"}]}
    template: Mapping[str, Any] = {"Conditions": conditions}
    CountingConditions.lookups = 0
    with guard():
        assert evaluate_condition(f"D{levels - 1}", template) is True
    assert CountingConditions.lookups <= 2 * levels, CountingConditions.lookups


# ------------------------------------------------------------------ R6B-M3: linear work


def _chain(length: int, first: str) -> dict[str, Any]:
    """R_i's ClusterName is !Sub "${R_{i-1}}-x": replacing R0 replaces every R_i."""
    resources = {
        f"R{i}": {
            "Type": "AWS::SageMaker::Cluster",
            "Properties": {"ClusterName": first if i == 0 else {"Fn::Sub": f"${{R{i - 1}}}-x"}},
        }
        for i in range(length)
    }
    return {"Resources": resources}


def _groups(count: int, threads: int) -> dict[str, Any]:
    """One cluster with ``count`` instance groups (ThreadsPerCore changes: one finding per group)."""
    groups = [
        {
            "InstanceGroupName": f"g{i}",
            "InstanceType": "ml.g5.8xlarge",
            "InstanceCount": 1,
            "ExecutionRole": "r",
            "LifeCycleConfig": {"SourceS3Uri": "s3://b/x", "OnCreate": "o.sh"},
            "ThreadsPerCore": threads,
        }
        for i in range(count)
    ]
    return {
        "Resources": {
            "C": {"Type": "AWS::SageMaker::Cluster", "Properties": {"ClusterName": "c", "InstanceGroups": groups}}
        }
    }


def _shared_condition(count: int) -> dict[str, Any]:
    """``count`` buckets with ``Condition: C0``, where C0 heads a ``count``-long Fn::Not chain (round 7g M1)."""
    conditions: dict[str, Any] = {f"C{i}": {"Fn::Not": [{"Condition": f"C{i + 1}"}]} for i in range(count - 1)}
    conditions[f"C{count - 1}"] = {"Fn::Equals": [{"Ref": "P"}, "x"]}
    buckets = {f"B{i}": {"Type": "AWS::S3::Bucket", "Condition": "C0"} for i in range(count)}
    return {"Parameters": {"P": {"Type": "String", "Default": "x"}}, "Conditions": conditions, "Resources": buckets}


def _chain_with_hub(length: int, description: str) -> dict[str, Any]:
    """Security groups SG_i with VpcId !Ref SG_{i-1} (one more replaced per round), all listed by one file system."""
    resources: dict[str, Any] = {
        f"SG{i}": {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": description if i == 0 else "d",
                "VpcId": {"Ref": f"SG{i - 1}"} if i else "v",
            },
        }
        for i in range(length)
    }
    resources["Fs"] = {
        "Type": "AWS::FSx::FileSystem",
        "Properties": {
            "FileSystemType": "LUSTRE",
            "SubnetIds": ["subnet-1"],
            "SecurityGroupIds": [{"Ref": f"SG{i}"} for i in range(length)],
        },
    }
    return {"Resources": resources}


SHAPES: dict[str, tuple[Callable[[int], tuple[dict[str, Any], dict[str, Any]]], int]] = {
    # the file system was checked again in every replacement round, each time over its n groups (round 7g M2)
    "replacement chain with a hub": (lambda n: (_chain_with_hub(n, "a"), _chain_with_hub(n, "b")), 100),
    # template_inputs walked the whole condition chain once per resource (round 7g M1: n^2)
    "shared condition chain": (lambda n: (_shared_condition(n), _shared_condition(n)), 150),
    # the fixpoint re-ran every rule of every pair once per newly replaced resource (n^2)
    "replacement chain": (lambda n: (_chain(n, "a"), _chain(n, "b")), 60),
    # _drop_nested compared every finding with every other; _rule_findings scanned the one-sided items per value
    "instance groups": (lambda n: (_groups(n, 1), _groups(n, 2)), 300),
    # the same with groups added on one side (the one-sided scan)
    "groups added": (lambda n: (_groups(n, 1), _groups(2 * n, 1)), 150),
}


def test_the_replacement_chain_is_followed_to_its_end() -> None:
    report = compare_templates(*SHAPES["replacement chain"][0](30))
    assert sorted(f.logical_id for f in report.findings) == sorted(f"R{i}" for i in range(30))
    assert all(f.effect == "replacement" for f in report.findings)
    assert {f.cause for f in report.findings if f.logical_id == "R7"} == {
        "R6 is replaced, so the ID this value resolves to changes"
    }


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_the_comparison_does_linear_work(shape: str) -> None:
    """Twice the input, about twice the calls (the loops before did 3 to 4 times as many)."""
    build, size = SHAPES[shape]
    small, large = build(size), build(2 * size)
    with guard(60):
        ratio = calls(lambda: compare_templates(*large)) / calls(lambda: compare_templates(*small))
    assert ratio < 2.5, f"{shape}: {ratio:.2f}x the calls for 2x the input"


def test_more_findings_than_the_cap_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(diff, "MAX_FINDINGS", 50)
    before, after = write(tmp_path / "old.json", _groups(60, 1)), write(tmp_path / "new.json", _groups(60, 2))
    err = refused(capsys, before, after)
    assert "more than 50 replacing or disruptive changes" in err
    monkeypatch.setattr(diff, "MAX_FINDINGS", 60)
    status, out, _ = run_guard(capsys, "--old", str(before), "--new", str(after))
    assert status == 1 and out.startswith("60 replacing or disruptive changes")


def test_the_caps_are_the_ones_documented_here() -> None:
    from hyperpod_cdk.guard import __main__ as guard_main
    from hyperpod_cdk.guard import values

    assert (guard_main.MAX_STACKS, values.MAX_CONDITION_HOPS) == (MAX_STACKS, MAX_CONDITION_HOPS)


class CountingSet(set[str]):
    lookups = 0

    def __contains__(self, item: object) -> bool:
        CountingSet.lookups += 1
        return super().__contains__(item)


def test_a_long_path_is_looked_up_only_at_lengths_the_index_holds() -> None:
    """A keyed item's name may hold 100,000 dots: trying each prefix would hash 10^10 characters."""
    from hyperpod_cdk.guard.values import _PathIndex

    index = _PathIndex(["InstanceGroups", "InstanceGroups[x"])
    index.paths = CountingSet(index.paths)
    path = "InstanceGroups[" + "a." * 100_000 + "].ThreadsPerCore"
    CountingSet.lookups = 0
    assert list(index.ancestors(path)) == ["InstanceGroups"]
    assert CountingSet.lookups <= 2
    assert index.covers("InstanceGroups[x.y]") and not index.covers("InstanceGroupsX")


def test_a_group_name_full_of_dots_is_compared_quickly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = "a." * 100_000
    before, after = _groups(1, 1), _groups(1, 2)
    for template in (before, after):
        template["Resources"]["C"]["Properties"]["InstanceGroups"][0]["InstanceGroupName"] = name
    after["Resources"]["C"]["Properties"]["InstanceGroups"].append(
        {**after["Resources"]["C"]["Properties"]["InstanceGroups"][0], "InstanceGroupName": name + "b"}
    )
    with guard():
        report = compare_templates(before, after)
    # A name over 80 characters is labelled by its start and a digest (review round 17, tools, L2).
    assert [f.property for f in report.findings] == [f"InstanceGroups[{item_label(name)}].ThreadsPerCore"]


# ------------------------------------------------------------------ round 7g M4: output amplification


@pytest.mark.parametrize(
    "logical_id",
    ["B" * 256, "My-Bucket", "a b", "Ünïcode", ""],
    ids=["256 chars", "dash", "space", "non-ASCII", "empty"],
)
def test_a_logical_id_cloudformation_would_refuse_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], logical_id: str
) -> None:
    """A 1 MB logical ID, referenced by N resources through one YAML alias, was in each of N causes (1 GB)."""
    template = {"Resources": {logical_id: {"Type": "AWS::SNS::Topic"}}}
    before, after = write(tmp_path / "old.json", TOPIC), write(tmp_path / "new.json", template)
    err = refused(capsys, before, after)
    assert "not 1 to 255 letters and digits" in err and len(err) < 500


def _hub(count: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """``count`` replaced subnets, all referenced by one file system's SubnetIds."""

    def build(cidr: str) -> dict[str, Any]:
        resources: dict[str, Any] = {
            f"Subnet{i}": {"Type": "AWS::EC2::Subnet", "Properties": {"CidrBlock": cidr, "VpcId": "vpc-1"}}
            for i in range(count)
        }
        resources["Fs"] = {
            "Type": "AWS::FSx::FileSystem",
            "Properties": {"FileSystemType": "LUSTRE", "SubnetIds": [{"Ref": f"Subnet{i}"} for i in range(count)]},
        }
        return {"Resources": resources}

    return build("10.0.0.0/24"), build("10.0.1.0/24")


def test_a_cause_names_at_most_five_replaced_resources() -> None:
    report = compare_templates(*_hub(40))
    (cause,) = {f.cause for f in report.findings if f.logical_id == "Fs"}
    assert cause is not None and cause.startswith("Subnet0, Subnet1, Subnet10, Subnet11, Subnet12 and 35 more are")


def test_a_long_name_is_cut_in_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = "g" * 100_000
    before, after = _groups(1, 1), _groups(1, 2)
    for template in (before, after):
        resource = template["Resources"]["C"]
        resource["Properties"]["InstanceGroups"][0]["InstanceGroupName"] = name
        resource["Metadata"] = {"aws:cdk:path": "p/" * 50_000}
    old_file, new_file = write(tmp_path / "old.json", before), write(tmp_path / "new.json", after)
    for extra in ((), ("--json",)):
        status, out, _ = run_guard(capsys, "--old", str(old_file), "--new", str(new_file), *extra)
        assert status == 1 and 0 < len(out) < 5_000, len(out)


# ------------------------------------------------------------------ round 7g M1: condition inputs once


def test_a_condition_shared_by_many_resources_is_followed_once_per_template(monkeypatch: pytest.MonkeyPatch) -> None:
    from hyperpod_cdk.guard import conditions

    memos: list[Any] = []
    real = conditions.InputMemo.__init__

    def init(self: Any, *templates: Any) -> None:
        real(self, *templates)
        memos.append(self)

    monkeypatch.setattr(conditions.InputMemo, "__init__", init)
    old, new = _shared_condition(50), _shared_condition(50)
    new["Parameters"]["P"]["Default"] = "y"  # C49 changes, so every bucket's C0 resolves differently
    report = compare_templates(old, new)
    assert len(report.findings) == 50
    assert {f.cause for f in report.findings} == {'condition "C0" changed: parameter P (Default): "x" -> "y"'}
    # Each of the 50 conditions read once per template, not once per bucket (review round 15, tools, M1).
    assert [memo.condition_reads for memo in memos] == [2 * 50]


# ------------------------------------------------------------------ round 7g M2: one walk, then each pair once


def test_each_pair_is_checked_at_most_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once with nothing replaced, once more with the whole replaced set: not once per replacement round."""
    checked: list[str] = []
    real = diff._one_pair
    monkeypatch.setattr(diff, "_one_pair", lambda pair, *rest: checked.append(pair.logical_id) or real(pair, *rest))
    report = compare_templates(_chain_with_hub(40, "a"), _chain_with_hub(40, "b"))
    assert max(checked.count(name) for name in set(checked)) == 2 and checked.count("SG0") == 1
    replaced = {f.logical_id for f in report.findings + report.other_replacements if f.effect == "replacement"}
    assert replaced == {f"SG{i}" for i in range(40)} | {"Fs"}
    (cause,) = {f.cause for f in report.findings if f.logical_id == "Fs"}
    assert cause == "SG0, SG1, SG10, SG11, SG12 and 35 more are replaced, so the ID this value resolves to changes"
