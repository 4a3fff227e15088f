"""``hyperpod-cdk lint`` on small hostile inputs the four security reviews did not try (issue 18).

Condition chains, mapping values handed out many times, a cdk.out that is not what ``cdk synth`` writes,
rule loops that were quadratic (or exponential) on the input, and finding text that drives the terminal.
Work is measured by counting function calls (``sys.setprofile``) at two input sizes: a linear rule does
about twice the work for twice the input, a quadratic one four times. Wall-clock limits are only guards.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.cli.main import main as cli_main
from hyperpod_cdk.rules import cdk_out, inputs
from hyperpod_cdk.rules.catalog import check
from hyperpod_cdk.rules.cfn_template import MAX_TEMPLATE_CHARS, MAX_UNRESOLVED, resolve_template
from hyperpod_cdk.rules.model import MAX_NAME_CHARS, Templates

# Loaded by path (tests use --import-mode=importlib), like cli_fixtures.py.
_spec = importlib.util.spec_from_file_location("work_limits", Path(__file__).with_name("work_limits.py"))
assert _spec and _spec.loader
work_limits = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(work_limits)
calls = work_limits.calls

GUARD_SECONDS = 60  # a guard against a hang, not a benchmark


def guard(seconds: float = GUARD_SECONDS) -> contextlib.AbstractContextManager[None]:
    return work_limits.guard(seconds)


def lint(path: Path, *args: str) -> int:
    with guard():
        return cli_main(["lint", *args, str(path)])


def cluster(props: dict[str, Any]) -> dict[str, Any]:
    return {"Type": "AWS::SageMaker::Cluster", "Properties": props}


# ------------------------------------------------------------------ conditions


def _condition_chain(length: int) -> dict[str, Any]:
    conditions: dict[str, Any] = {f"C{i}": {"Fn::Not": [{"Condition": f"C{i + 1}"}]} for i in range(length)}
    conditions[f"C{length}"] = {"Fn::Equals": ["a", "a"]}
    return {"Conditions": conditions, "Resources": {"A": {**cluster({"InstanceGroups": []}), "Condition": "C0"}}}


def _deep_condition_chain(length: int, nesting: int) -> dict[str, Any]:
    conditions: dict[str, Any] = {}
    for i in range(length):
        value: Any = {"Condition": f"D{i + 1}"}
        for _ in range(nesting):
            value = {"Fn::And": [value, {"Fn::Equals": ["a", "a"]}]}
        conditions[f"D{i}"] = value
    conditions[f"D{length}"] = {"Fn::Equals": ["a", "a"]}
    return {"Conditions": conditions, "Resources": {"A": {**cluster({"InstanceGroups": []}), "Condition": "D0"}}}


@pytest.mark.parametrize(
    "template", [_condition_chain(5_000), _deep_condition_chain(60, 40)], ids=["chain-5000", "60-hops-x-40-deep"]
)
def test_a_long_condition_chain_is_not_checked_instead_of_a_recursion_error(template: dict[str, Any]) -> None:
    """Each condition names the next: the evaluator recursed once per hop until RecursionError (a trace)."""
    with guard():
        resolved = resolve_template(template)
    assert resolved.unresolved == [("Resources/A", "condition C0 is not known offline (resource may not exist)")] or (
        resolved.unresolved[0][1].startswith("condition D0 is not known offline")
    )
    assert "A" in resolved.template["Resources"]


def test_short_condition_chains_and_cycles_still_evaluate() -> None:
    """Within the depth cap a chain has its value; a cycle is unknown; a diamond chain is evaluated once per name."""
    resolved = resolve_template(_condition_chain(11))  # C0 = not not ... (11 times) true = false
    assert resolved.dropped == ["A"]
    cycle = {
        "Conditions": {"A": {"Fn::Not": [{"Condition": "B"}]}, "B": {"Fn::Not": [{"Condition": "A"}]}},
        "Resources": {"R": {**cluster({"NodeRecovery": {"Fn::If": ["A", "x", "y"]}}), "Condition": "B"}},
    }
    assert [why for _, why in resolve_template(cycle).unresolved] == [
        "condition B is not known offline (resource may not exist)",
        "condition A is not known offline",
    ]
    diamond = {f"C{i}": {"Fn::And": [{"Condition": f"C{i + 1}"}, {"Condition": f"C{i + 1}"}]} for i in range(60)}
    diamond["C60"] = {"Fn::Equals": ["a", "a"]}
    with guard():
        kept = resolve_template({"Conditions": diamond, "Resources": {"A": {"Type": "X", "Condition": "C0"}}})
    assert kept.dropped == [] and kept.unresolved == []


# ------------------------------------------------------------------ values handed out many times


def test_find_in_map_spends_the_evaluation_budget() -> None:
    """A 100,000-item mapping list named 5,000 times was handed out by reference 5,000 times (5e8 values for
    the rules to walk, from 1 MB); now each use spends its size, and past the budget the rest are not checked."""
    items = 100_000
    template = {
        "Mappings": {"M": {"k": {"v": ["sg-1"] * items}}},
        "Resources": {
            "F": {
                "Type": "AWS::FSx::FileSystem",
                "Properties": {
                    "FileSystemType": "LUSTRE",
                    "SecurityGroupIds": [{"Fn::FindInMap": ["M", "k", "v"]}] * 5_000,
                },
            }
        },
    }
    resolved = resolve_template(template)
    values = resolved.template["Resources"]["F"]["Properties"]["SecurityGroupIds"]
    evaluated = sum(1 for v in values if isinstance(v, list))
    assert 0 < evaluated <= MAX_TEMPLATE_CHARS // (items * len("sg-1"))
    assert any("over 16,777,216 characters" in why for _, why in resolved.unresolved)


def test_select_and_ref_spend_the_budget_too() -> None:
    big = [["x" * 1000] * 1000]  # one item of a million characters
    template = {
        "Parameters": {"L": {"Type": "String", "Default": "a,b"}},
        "Mappings": {"M": {"k": {"v": big}}},
        "Resources": {
            "A": {
                "Type": "AWS::SNS::Topic",
                "Properties": {"X": [{"Fn::Select": [0, {"Fn::FindInMap": ["M", "k", "v"]}]}] * 40},
            }
        },
    }
    resolved = resolve_template(template)
    evaluated = sum(1 for v in resolved.template["Resources"]["A"]["Properties"]["X"] if isinstance(v, list))
    assert 0 < evaluated < 40


def test_functions_lint_does_not_evaluate_stay_unevaluated() -> None:
    """Fn::Cidr with a count of 2^31, Fn::GetAZs, Fn::Base64, Fn::ToJsonString, Fn::Length are "not checked":
    the evaluator never builds what they would (a guard: they were never evaluated)."""
    functions = {
        "Fn::Cidr": ["10.0.0.0/8", 2**31, 0],
        "Fn::GetAZs": "",
        "Fn::Base64": {"Fn::Join": ["", ["x"] * 10]},
        "Fn::ToJsonString": {"a": ["b"] * 10},
        "Fn::Length": ["a"] * 10,
    }
    template = {
        "Resources": {"A": {"Type": "AWS::SNS::Topic", "Properties": {k: {k: v} for k, v in functions.items()}}}
    }
    with guard():
        resolved = resolve_template(template)
    assert resolved.template["Resources"]["A"]["Properties"] == template["Resources"]["A"]["Properties"]
    assert len(resolved.unresolved) == len(functions)


def test_unresolved_paths_are_capped_and_short() -> None:
    """2,000 unknown Fn::If under 20 keys of 1,000 characters recorded 2,000 paths of 20 KB each
    (the fourth-review-era resolver ran out of memory on a 1 MB version of this)."""
    inner: Any = {f"x{i}": {"Fn::If": ["Unknown", "a", "b"]} for i in range(2 * MAX_UNRESOLVED)}
    for _ in range(20):
        inner = {"k" * 1000: inner}
    template = {
        "Parameters": {"P": {"Type": "String"}},
        "Conditions": {"Unknown": {"Fn::Equals": [{"Ref": "P"}, "x"]}},
        "Resources": {"A": {"Type": "AWS::SNS::Topic", "Properties": inner}},
    }
    resolved = resolve_template(template)
    assert len(resolved.unresolved) == MAX_UNRESOLVED
    assert resolved.unresolved_more == MAX_UNRESOLVED
    assert max(len(where) for where, _ in resolved.unresolved) < 3_000


# ------------------------------------------------------------------ cdk.out


def _lint_error(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    code = lint(path)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    return err


def test_cdk_out_template_count_is_capped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(cdk_out.MAX_CDK_OUT_TEMPLATES + 1):
        (tmp_path / f"s{i}.template.json").write_text('{"Resources": {}}')
    assert _lint_error(tmp_path, capsys) == f"error: {tmp_path}: more than 500 templates; lint fewer at a time"


def test_cdk_out_bytes_are_capped_manifests_included(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cdk_out, "MAX_CDK_OUT_BYTES", 1 << 20)
    (tmp_path / "s.template.json").write_text('{"Resources": {}}')
    manifest = json.dumps({"artifacts": {f"a{i}": {"environment": "aws://1/us-west-2"} for i in range(8_000)}})
    for i in range(5):
        (tmp_path / f"assembly-{i}").mkdir()
        (tmp_path / f"assembly-{i}" / "manifest.json").write_text(manifest)
    assert _lint_error(tmp_path, capsys) == f"error: {tmp_path}: more than 1 MiB of templates and manifests"


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "outside"])
def test_cdk_out_refuses_links_pipes_and_devices(tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    """A FIFO named *.template.json blocked lint forever; a link was followed to /dev/zero or out of the directory."""
    out = tmp_path / "cdk.out"
    out.mkdir()
    target = out / "a.template.json"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "dev-zero":
        target.symlink_to("/dev/zero")
    else:
        outside = tmp_path / "elsewhere.json"
        outside.write_text(json.dumps({"Resources": {"C": cluster({"NodeRecovery": "None", "InstanceGroups": []})}}))
        target.symlink_to(outside)
    assert _lint_error(out, capsys).endswith(
        "a.template.json: a symbolic link, pipe or device, not a file cdk synth writes"
    )


def test_cdk_out_nesting_is_capped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path
    for level in range(cdk_out.MAX_CDK_OUT_DEPTH + 2):
        folder = folder / f"assembly-{level}"
    folder.mkdir(parents=True)
    (folder / "s.template.json").write_text('{"Resources": {}}')
    assert "nested more than 8 levels" in _lint_error(tmp_path, capsys)


def test_a_synthesized_cdk_out_still_lints(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"artifacts": {"S": {"environment": "aws://1/us-west-2"}}}))
    (tmp_path / "S.template.json").write_text('{"Resources": {}}')
    (tmp_path / "asset.abc").mkdir()
    (tmp_path / "asset.abc" / "x.template.json").write_text("not json: assets are not read")
    loaded = inputs.load(tmp_path)
    assert list(loaded.templates.templates) == [str(tmp_path / "S.template.json")]
    assert loaded.templates.region == "us-west-2"


# ------------------------------------------------------------------ rule loops


def _subnets_by_literal_id(n: int) -> dict[str, Any]:
    subnets = {
        f"S{i}": {"Type": "AWS::EC2::Subnet", "Properties": {"SubnetId": f"subnet-{i:08x}", "CidrBlock": "10.0.0.0/24"}}
        for i in range(n)
    }
    groups = [
        {
            "InstanceGroupName": f"g{j}",
            "InstanceType": "ml.m5.xlarge",
            "InstanceCount": 1,
            "OverrideVpcConfig": {"Subnets": [f"subnet-{(j + k) % n:08x}" for k in range(20)]},
        }
        for j in range(n // 5)
    ]
    eks = {"Orchestrator": {"Eks": {"ClusterArn": "arn"}}, "VpcConfig": {"Subnets": ["subnet-00000000"]}}
    return {"Resources": {**subnets, "C": cluster({**eks, "InstanceGroups": groups})}}


def _efa_groups_and_rules(n: int) -> dict[str, Any]:
    rules = {
        f"R{i}": {
            "Type": "AWS::EC2::SecurityGroupIngress",
            "Properties": {"GroupId": f"sg-{i:08x}", "IpProtocol": "-1", "SourceSecurityGroupId": f"sg-{i:08x}"},
        }
        for i in range(n)
    }
    vpc = {"SecurityGroupIds": [f"sg-{i:08x}" for i in range(n)], "Subnets": []}
    return {"Resources": {**rules, "C": cluster({"VpcConfig": vpc, "InstanceGroups": []})}}


def _helm_behind_a_chain(n: int) -> dict[str, Any]:
    resources: dict[str, Any] = {"HelmChart": {"Type": "Custom::HelmChart", "Properties": {}}}
    for i in range(n):
        resources[f"R{i}"] = {"Type": "AWS::SNS::Topic", "DependsOn": [f"R{i + 1}"] if i < n - 1 else ["HelmChart"]}
    for j in range(n):
        resources[f"K{j}"] = {**cluster({"Orchestrator": {"Eks": {"ClusterArn": "a"}}}), "DependsOn": ["R0"]}
    return {"Resources": resources}


def _lustre_group_named_often(n: int) -> dict[str, Any]:
    resources: dict[str, Any] = {
        f"R{i}": {
            "Type": "AWS::EC2::SecurityGroupIngress",
            "Properties": {"GroupId": "sg-1", "IpProtocol": "tcp", "FromPort": 1, "ToPort": 1},
        }
        for i in range(n)
    }
    resources["All"] = {"Type": "AWS::EC2::SecurityGroupIngress", "Properties": {"GroupId": "sg-1", "IpProtocol": "-1"}}
    resources["F"] = {
        "Type": "AWS::FSx::FileSystem",
        "Properties": {"FileSystemType": "LUSTRE", "SecurityGroupIds": ["sg-1"] * n},
    }
    return {"Resources": resources}


def _addons_and_associations(n: int) -> dict[str, Any]:
    addon = {"Type": "AWS::EKS::Addon", "Properties": {"AddonName": "amazon-sagemaker-hyperpod-training-operator"}}
    association = {"Type": "AWS::EKS::PodIdentityAssociation", "Properties": {"Namespace": "aws-hyperpod"}}
    return {"Resources": {**{f"A{i}": addon for i in range(n)}, **{f"P{i}": association for i in range(n)}}}


def _live_objects_and_groups(n: int) -> dict[str, Any]:
    objects = {
        f"O{i}": {"Type": "HyperPod::Live::S3Object", "Properties": {"Uri": f"s3://b/{i}.sh", "Exists": False}}
        for i in range(n)
    }
    config = {"SourceS3Uri": "s3://b/", "OnCreate": "on_create.sh"}
    groups = [{"InstanceGroupName": f"g{j}", "LifeCycleConfig": config} for j in range(n)]
    return {"Resources": {**objects, "C": cluster({"InstanceGroups": groups})}}


SHAPES: dict[str, tuple[Callable[[int], dict[str, Any]], int]] = {
    "IP1-literal-subnet-ids": (_subnets_by_literal_id, 200),
    "EFA1-group-ids-x-rules": (_efa_groups_and_rules, 200),
    "HELM1-clusters-x-chain": (_helm_behind_a_chain, 200),
    "FSX1-positions-x-rules": (_lustre_group_named_often, 200),
    "TOP1-addons-x-associations": (_addons_and_associations, 200),
    "LCS1-groups-x-live-objects": (_live_objects_and_groups, 200),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_rules_do_linear_work(shape: str) -> None:
    """Twice the input, about twice the calls (2.0 here; the loops before did 3.0 to 4.0 times as many)."""
    build, size = SHAPES[shape]
    small, large = (Templates({"t": build(n)}, closed_world=False) for n in (size, 2 * size))
    for templates in (small, large):  # HyperPod::Live::* stand for what `lint --live` read and recorded
        resources = templates.templates["t"]["Resources"]
        templates.live.update(("t", k) for k, r in resources.items() if r["Type"].startswith("HyperPod::Live::"))
    with guard():
        ratio = calls(lambda: check(large, include_not_checked=True)) / calls(
            lambda: check(small, include_not_checked=True)
        )
    assert ratio < 2.5, f"{shape}: {ratio:.2f}x the calls for 2x the input"


def _retained_names(levels: int) -> dict[str, Any]:
    resources = {
        f"L{i}": {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Retain",
            "Properties": {"LogGroupName": {"Fn::Join": ["", [{"Ref": f"L{i + 1}"}] * 8]}},
        }
        for i in range(levels)
    }
    resources[f"L{levels}"] = {
        "Type": "AWS::Logs::LogGroup",
        "DeletionPolicy": "Retain",
        "Properties": {"LogGroupName": "x"},
    }
    return {"Resources": resources}


def test_retained_name_chains_are_walked_once() -> None:
    """RET2 followed every path through names that join 8 references to the next name: 8^levels steps."""
    small, large = (Templates({"t": _retained_names(n)}) for n in (4, 8))
    with guard():
        ratio = calls(lambda: check(large, kinds=["deploy"])) / calls(lambda: check(small, kinds=["deploy"]))
    assert ratio < 3, f"{ratio:.1f}x the calls for twice the levels"


# ------------------------------------------------------------------ output


def test_a_long_logical_id_does_not_multiply_the_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 100 KB logical id on 200 findings printed 20 MB (500 MB from a 500 KB input with 1,000)."""
    groups = [{"InstanceGroupName": f"g{i}", "InstanceCount": 1} for i in range(200)]
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"Resources": {"L" * 100_000: cluster({"InstanceGroups": groups})}}))
    assert lint(path, "--region", "us-west-2") == 1  # with a region, TYPE1 has no "not checked" line
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 201 and max(map(len, out.splitlines())) < 1_000
    assert lint(path, "--sarif") == 1
    sarif = json.loads(capsys.readouterr().out)
    names = [loc["name"] for r in sarif["runs"][0]["results"] for loc in r["locations"][0]["logicalLocations"]]
    assert max(map(len, names)) <= MAX_NAME_CHARS + len("…(cut)")


def test_terminal_controls_in_finding_text_are_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A logical id or group name with ESC, BEL, CSI (\\x9b) or a right-to-left override reached the terminal raw."""
    group = {"InstanceGroupName": "\x1b[2J\x1b[1;1Hok\x07\x9b2J", "InstanceType": "ml.m5.xlarge", "InstanceCount": 1}
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"Resources": {"\x1b]0;title\x07\u202eC": cluster({"InstanceGroups": [group]})}}))
    assert lint(path) == 1
    out = capsys.readouterr().out
    assert not any(c in out for c in "\x1b\x07\x9b\u202e")
    assert "\\x1b]0;title\\x07\\u202eC" in out and "group '\\x1b[2J\\x1b[1;1Hok\\x07\\x9b2J'" in out
    assert lint(path, "--json") == 1
    rows = json.loads(capsys.readouterr().out)["findings"]
    assert rows[0]["resource"] == "\x1b]0;title\x07\u202eC"  # JSON keeps the value, escaped by the encoder


def test_an_error_line_naming_a_hostile_file_is_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "\x1b[31mred.json"
    path.write_text("[")
    err = _lint_error(path, capsys)
    assert "\x1b" not in err and "\\x1b[31mred.json" in err


@pytest.mark.parametrize(
    "data",
    [
        {"format_version": "1.0", "values": ["x"]},
        {"format_version": "1.0", "values": {"root_module": "x"}},
        {
            "format_version": "1.0",
            "values": {"root_module": {"resources": [{"type": "aws_sagemaker_cluster", "values": "x"}]}},
        },
        {
            "format_version": "1.0",
            "values": {"root_module": {"resources": [{"type": "aws_eks_cluster", "values": {"vpc_config": "x"}}]}},
        },
    ],
    ids=["values-list", "root-string", "values-string", "block-string"],
)
def test_terraform_json_of_the_wrong_shape_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: dict[str, Any]
) -> None:
    """A value of another JSON type than the provider's schema ended in an AttributeError or TypeError trace."""
    path = tmp_path / "show.json"
    path.write_text(json.dumps(data))
    err = _lint_error(path, capsys)
    assert "Traceback" not in err and ("not `terraform show -json` output" in err), err
