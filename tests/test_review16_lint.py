"""``hyperpod-cdk lint`` findings of review round 16 (tools): R16T-M1, M2, L1, L2, L3 (issue 18).

Work is counted in function calls (``sys.setprofile``) at n and 2n, as tests/test_review15_lint.py does: a
linear rule does about twice the work for twice the input, a quadratic one four times. Wall-clock limits are
only guards against a hang.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.cli.main import main as cli_main
from hyperpod_cdk.rules.cfn_template import EvaluationBudget, _size, resolve_template
from hyperpod_cdk.rules.deploy_addons import _version_key
from hyperpod_cdk.rules.deploy_base import SOURCE_S3_URI
from hyperpod_cdk.rules.model import NOT_CHECKED

# Loaded by path (tests use --import-mode=importlib), like cli_fixtures.py.
_spec = importlib.util.spec_from_file_location("work_limits", Path(__file__).with_name("work_limits.py"))
assert _spec and _spec.loader
work_limits = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(work_limits)
calls = work_limits.calls


def guard(seconds: float = 60) -> contextlib.AbstractContextManager[None]:
    return work_limits.guard(seconds)


run = work_limits.rule_findings
ratio_of_calls = work_limits.rule_call_ratio


RETAIN = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}


# ------------------------------------------------------------------ R16T-M1: RET2


def _log_groups_naming_one_bucket(n: int) -> dict[str, Any]:
    """n retained log groups named after bucket X, whose fixed name is a Select from n + 2 items."""
    name = {"Fn::Select": [0, ["hp-name", *(f"x{i}" for i in range(n)), {"Ref": "AWS::AccountId"}]]}
    resources: dict[str, Any] = {"X": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": name}}}
    for i in range(n):
        group_name = {"Fn::Join": ["-", [{"Ref": "X"}, f"logs{i}"]]}
        resources[f"L{i}"] = {"Type": "AWS::Logs::LogGroup", **RETAIN, "Properties": {"LogGroupName": group_name}}
    return {"Resources": resources}


def test_ret2_walks_a_shared_name_once() -> None:
    """Every retained log group walked X's name again: groups x name size (963 KB ran 68 s)."""
    assert len(run(_log_groups_naming_one_bucket(3), "HyperPod-RET2")) == 3
    ratio = ratio_of_calls(_log_groups_naming_one_bucket, 150, "HyperPod-RET2")
    assert ratio < 2.5, f"{ratio:.2f}x the calls for 2x the log groups and name"


def _named(kind: str, prop: str, name: Any, retained: bool = True) -> dict[str, Any]:
    return {"Type": kind, **(RETAIN if retained else {}), "Properties": {prop: name}}


def test_ret2_a_name_read_inside_an_open_cycle_is_not_kept_for_later_resources() -> None:
    """R names A; A's name uses B's and AWS::StackId; B's uses A's; C names B. Walking R settles A, but B was
    answered while A was still open ("fixed", as a cycle is): kept for C, it made C a false finding."""
    bucket = {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": {"Fn::Join": ["-", [{"Ref": "B"}, "a"]]}}}
    bucket["Properties"]["BucketName"]["Fn::Join"][1].append({"Ref": "AWS::StackId"})
    resources = {
        "R": _named("AWS::Logs::LogGroup", "LogGroupName", {"Fn::Join": ["-", [{"Ref": "A"}, "r"]]}),
        "A": bucket,
        "B": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": {"Fn::Join": ["-", [{"Ref": "A"}]]}}},
        "C": _named("AWS::Logs::LogGroup", "LogGroupName", {"Fn::Join": ["-", [{"Ref": "B"}, "c"]]}),
    }
    assert run({"Resources": resources}, "HyperPod-RET2") == []


def test_ret2_a_cycle_that_reaches_the_stack_id_differs_whichever_name_is_walked_first() -> None:
    """A's name uses B's and AWS::StackId, B's uses A's: both differ per deployment, so neither is reported.

    A shared memo must not keep B's answer from the walk of A (made while A was still open: "fixed")."""
    for first in ("A", "B"):
        a = _named("AWS::S3::Bucket", "BucketName", {"Fn::Join": ["-", [{"Ref": "B"}, {"Ref": "AWS::StackId"}]]})
        b = _named("AWS::Logs::LogGroup", "LogGroupName", {"Fn::Join": ["-", [{"Ref": "A"}, "x"]]})
        resources = {"A": a, "B": b} if first == "A" else {"B": b, "A": a}
        assert run({"Resources": resources}, "HyperPod-RET2") == []


def test_ret2_still_reports_a_cycle_of_fixed_names_and_skips_generated_ones() -> None:
    a = _named("AWS::S3::Bucket", "BucketName", {"Fn::Join": ["-", [{"Ref": "B"}, "a"]]})
    b = _named("AWS::Logs::LogGroup", "LogGroupName", {"Fn::Join": ["-", [{"Ref": "A"}, "b"]]})
    generated = {"Type": "AWS::S3::Bucket", "Properties": {}}
    c = _named("AWS::Logs::LogGroup", "LogGroupName", {"Fn::Join": ["-", [{"Ref": "G"}, "c"]]})
    findings = run({"Resources": {"A": a, "B": b, "G": generated, "C": c}}, "HyperPod-RET2")
    assert sorted(f.logical_id for f in findings) == ["A", "B"]


# ------------------------------------------------------------------ R16T-M2: RET4


def _instances_in_one_subnet_group(n: int, subnet_retained: bool = True) -> dict[str, Any]:
    """n retained DB instances in DB subnet group G, which lists subnet S n times."""
    subnet = {"Type": "AWS::EC2::Subnet", "Properties": {"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/24"}}
    group = {"Type": "AWS::RDS::DBSubnetGroup", **RETAIN}
    group["Properties"] = {"DBSubnetGroupDescription": "d", "SubnetIds": [{"Ref": "S"}] * n}
    resources: dict[str, Any] = {"S": {**subnet, **(RETAIN if subnet_retained else {})}, "G": group}
    for i in range(n):
        props = {"DBSubnetGroupName": {"Ref": "G"}, "Engine": "mysql", "DBInstanceClass": "db.t3.micro"}
        resources[f"D{i}"] = {"Type": "AWS::RDS::DBInstance", **RETAIN, "Properties": props}
    return {"Resources": resources}


def test_ret4_walks_a_shared_subnet_group_once() -> None:
    """Every retained DB instance walked G's subnet references again: instances x references (72 s)."""
    assert run(_instances_in_one_subnet_group(3), "HyperPod-RET4") == []
    ratio = ratio_of_calls(_instances_in_one_subnet_group, 150, "HyperPod-RET4")
    assert ratio < 2.5, f"{ratio:.2f}x the calls for 2x the instances and subnet references"


def test_ret4_still_reports_a_deleted_subnet_through_the_group_for_every_instance() -> None:
    findings = run(_instances_in_one_subnet_group(3, subnet_retained=False), "HyperPod-RET4")
    expected = [("G", "Properties/SubnetIds")] + [(f"D{i}", "Properties/DBSubnetGroupName") for i in range(3)]
    assert [(f.logical_id, f.locations[0]) for f in findings] == expected
    assert all("uses AWS::EC2::Subnet S (through G), which the stack deletes" in f.detail for f in findings[1:])


# ------------------------------------------------------------------ R16T-L1: LCS1's SourceS3Uri pattern


def test_source_s3_uri_takes_what_the_schema_pattern_takes() -> None:
    """Every string of up to 5 characters after each prefix, over the characters that matter."""
    schema = re.compile(r"^(https|s3)://([^/]+)/?(.*)$")
    for length in range(6):
        for chars in itertools.product("a/\n\r:", repeat=length):
            for prefix in ("s3://", "https://", "s3:/", "http://", ""):
                uri = prefix + "".join(chars)
                assert bool(SOURCE_S3_URI.match(uri)) == bool(schema.match(uri)), repr(uri)


def test_source_s3_uri_with_a_newline_after_a_slash_is_linear() -> None:
    """The schema's pattern retried every split of the bucket: 100 KB took 34 s. A hang guard, not a benchmark."""
    uri = "s3://" + "a" * 200_000 + "/x\ny"
    with guard(10):
        assert SOURCE_S3_URI.match(uri) is None


# ------------------------------------------------------------------ R16T-L2: TG1


def _addons(version: str) -> dict[str, Any]:
    def addon(name: str, **props: Any) -> dict[str, Any]:
        return {"Type": "AWS::EKS::Addon", "Properties": {"AddonName": name, "ClusterName": "c", **props}}

    return {
        "Resources": {
            "Op": addon("amazon-sagemaker-hyperpod-training-operator"),
            "Tg": addon("amazon-sagemaker-hyperpod-taskgovernance", AddonVersion=version),
        }
    }


@pytest.mark.parametrize(
    "version",
    ["1" * 5000 + ".0.0", "v1.3.0-eksbuild." + "9" * 5000, "v1.3.0-eksbuild.1234567890"],
    ids=["5000-digit-major", "5000-digit-build", "10-digit-build"],
)
def test_tg1_a_version_with_a_huge_part_is_not_checked(version: str) -> None:
    """int() of a part over 4,300 digits raised ValueError: "internal error in rule HyperPod-TG1", exit 2."""
    findings = run(_addons(version), "HyperPod-TG1")
    assert [(f.severity, f.rule_id) for f in findings] == [(NOT_CHECKED, "HyperPod-TG1")]
    assert len(findings[0].detail) < 300


@pytest.mark.parametrize(("version", "errors"), [("v1.2.9-eksbuild.7", 1), ("v1.3.0-eksbuild.1", 0), ("2.0.0", 0)])
def test_tg1_still_compares_versions(version: str, errors: int) -> None:
    findings = run(_addons(version), "HyperPod-TG1")
    assert sum(f.severity is None for f in findings) == errors
    assert _version_key(version) is not None


def test_the_cli_lints_a_huge_addon_version_with_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps(_addons("1" * 5000 + ".0.0")))
    assert cli_main(["lint", str(path)]) == 0
    assert "internal error" not in capsys.readouterr().err


# ------------------------------------------------------------------ R16T-L3: the budget counts "" as 1


def test_an_empty_string_costs_one() -> None:
    assert _size("", {}) == 1
    assert _size(["", "", ""], {}) == 4  # the list and its three items


def test_each_ref_to_a_list_of_empty_strings_pays_for_its_items() -> None:
    """A CommaDelimitedList default of 4,095 commas is 4,096 items; each Ref cost 1 and every rule walked it."""
    refs = 50
    topics = {f"T{i}": {"Type": "AWS::SNS::Topic", "Properties": {"Tags": {"Ref": "P"}}} for i in range(refs)}
    template = {"Parameters": {"P": {"Type": "CommaDelimitedList", "Default": "," * 4095}}, "Resources": topics}
    budget = EvaluationBudget()
    before = budget.chars_left
    resolve_template(template, budget=budget)
    assert before - budget.chars_left >= refs * 4096
