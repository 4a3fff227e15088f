"""``hyperpod-cdk lint`` findings of review round 15 (tools): R15T-M4, M5, M6, M8, L2, L3 (issue 18).

Work is counted in function calls (``sys.setprofile``) at n and 2n, as tests/test_lint_limits.py does: a
linear rule does about twice the work for twice the input, a quadratic one four times. Wall-clock limits are
only guards against a hang.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from hyperpod_cdk.cli import lint_live
from hyperpod_cdk.cli.main import main as cli_main
from hyperpod_cdk.rules import cfn_template
from hyperpod_cdk.rules.catalog import check
from hyperpod_cdk.rules.cfn_template import resolve_template
from hyperpod_cdk.rules.deploy_base import _int
from hyperpod_cdk.rules.inputs import load_data
from hyperpod_cdk.rules.model import Templates

# Loaded by path (tests use --import-mode=importlib), like cli_fixtures.py.
_spec = importlib.util.spec_from_file_location("work_limits", Path(__file__).with_name("work_limits.py"))
assert _spec and _spec.loader
work_limits = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(work_limits)
calls = work_limits.calls


def guard(seconds: float = 60) -> contextlib.AbstractContextManager[None]:
    return work_limits.guard(seconds)


def cluster(props: dict[str, Any]) -> dict[str, Any]:
    return {"Type": "AWS::SageMaker::Cluster", "Properties": props}


run = work_limits.rule_findings
ratio_of_calls = work_limits.rule_call_ratio


# ------------------------------------------------------------------ R15T-M4: EFA1


def _clusters_sharing_a_group(n: int) -> dict[str, Any]:
    """n clusters naming one group whose n inline rules to other groups come before its self rules."""
    ingress = [{"IpProtocol": "-1", "SourceSecurityGroupId": f"sg-{i:08x}"} for i in range(n)]
    egress = [{"IpProtocol": "-1", "DestinationSecurityGroupId": f"sg-{i:08x}"} for i in range(n)]
    ingress.append({"IpProtocol": "-1", "SourceSecurityGroupId": {"Ref": "SG"}})
    egress.append({"IpProtocol": "-1", "DestinationSecurityGroupId": {"Fn::GetAtt": ["SG", "GroupId"]}})
    group = {"GroupDescription": "d", "VpcId": "vpc-1", "SecurityGroupIngress": ingress, "SecurityGroupEgress": egress}
    resources: dict[str, Any] = {"SG": {"Type": "AWS::EC2::SecurityGroup", "Properties": group}}
    vpc = {"SecurityGroupIds": [{"Ref": "SG"}], "Subnets": ["subnet-1"]}
    resources.update({f"C{i}": cluster({"VpcConfig": vpc}) for i in range(n)})
    return {"Resources": resources}


def test_efa1_reads_a_shared_groups_inline_rules_once() -> None:
    """Every cluster rescanned the shared group's inline rules: clusters x rules (8 MB ran > 400 s)."""
    assert run(_clusters_sharing_a_group(3), "HyperPod-EFA1") == []
    ratio = ratio_of_calls(_clusters_sharing_a_group, 150, "HyperPod-EFA1")
    assert ratio < 2.5, f"{ratio:.2f}x the calls for 2x the clusters and rules"


def test_efa1_still_finds_a_shared_group_without_its_self_rule() -> None:
    template = _clusters_sharing_a_group(3)
    template["Resources"]["SG"]["Properties"]["SecurityGroupEgress"].pop()
    findings = run(template, "HyperPod-EFA1")
    assert [f.logical_id for f in findings] == ["C0", "C1", "C2"]
    assert all("all-traffic egress to itself" in f.detail and "ingress" not in f.detail for f in findings)


# ------------------------------------------------------------------ R15T-M8: KMS1


def _keyed_volumes_and_a_long_mode(n: int) -> dict[str, Any]:
    """n volumes with a key; NodeProvisioningMode a list of n strings whose only intrinsic is last."""
    groups = [
        {
            "InstanceGroupName": f"g{i}",
            "InstanceType": "ml.c5.large",
            "InstanceCount": 1,
            "InstanceStorageConfigs": [{"EbsVolumeConfig": {"VolumeKmsKeyId": "k"}}],
        }
        for i in range(n)
    ]
    mode = ["a"] * n + [{"Fn::GetAtt": ["X", "Y"]}]
    return {"Resources": {"C": cluster({"NodeProvisioningMode": mode, "InstanceGroups": groups})}}


def test_kms1_judges_the_provisioning_mode_once_per_cluster() -> None:
    """The mode value was walked again for every keyed volume: volumes x its size (946 KB took 155 s)."""
    findings = run(_keyed_volumes_and_a_long_mode(3), "HyperPod-KMS1")
    assert [f.severity for f in findings] == ["not-checked"] * 3
    ratio = ratio_of_calls(_keyed_volumes_and_a_long_mode, 300, "HyperPod-KMS1")
    assert ratio < 2.5, f"{ratio:.2f}x the calls for 2x the volumes and mode items"


@pytest.mark.parametrize(("mode", "errors"), [(None, 2), ("Continuous", 0)])
def test_kms1_still_reports_each_keyed_volume(mode: str | None, errors: int) -> None:
    template = _keyed_volumes_and_a_long_mode(2)
    props = template["Resources"]["C"]["Properties"]
    props.pop("NodeProvisioningMode")
    if mode:
        props["NodeProvisioningMode"] = mode
    findings = run(template, "HyperPod-KMS1")
    assert [(f.severity, f.locations[0].split("/")[2]) for f in findings] == [(None, "0"), (None, "1")][:errors]


# ------------------------------------------------------------------ R15T-L2: counts that are not numbers


@pytest.mark.parametrize(
    "count", ["²", "1" * 5_000, "١", " 7 " * 20], ids=["superscript", "5000-digits", "arabic", "long"]
)
def test_a_count_that_is_no_number_is_not_checked_instead_of_an_internal_error(count: str) -> None:
    """``str.isdigit()`` took "²" and 5,000 digits, then ``int()`` raised: "internal error in rule SYS1", exit 2."""
    group = {"InstanceGroupName": "g", "InstanceType": "ml.c5.large", "InstanceCount": count}
    template = {"Resources": {"C": cluster({"Orchestrator": {"Eks": {"ClusterArn": "a"}}, "InstanceGroups": [group]})}}
    findings = run(template, "HyperPod-SYS1")
    assert [(f.severity, f.detail.split(";")[0]) for f in findings] == [
        ("not-checked", "instance counts, deep health checks or taints are not known offline (or not a number)")
    ]
    assert not [f for f in check(Templates({"t": template}, closed_world=False)) if f.rule_id == "HyperPod-SYS1"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (" 12 ", 12),
        ("0", 0),
        (7, 7),
        (True, None),
        ("²", None),
        ("1" * 19, None),
        (10**18, None),
        (-3, -3),
        ("-3", None),
    ],
)
def test_int_reads_only_short_ascii_numbers(value: Any, expected: int | None) -> None:
    assert _int(value) == expected


def test_the_cli_lints_a_superscript_count_with_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    group = {"InstanceGroupName": "g", "InstanceType": "ml.c5.large", "InstanceCount": "²"}
    props = {"Orchestrator": {"Eks": {"ClusterArn": "a"}}, "InstanceGroups": [group]}
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"Resources": {"C": cluster(props)}}), encoding="utf-8")
    with guard():
        assert cli_main(["lint", str(path)]) == 0
    assert "internal error" not in capsys.readouterr().out


# ------------------------------------------------------------------ R15T-M5: KAR1 never guesses


def _karpenter_cluster(**props: Any) -> dict[str, Any]:
    group = {"InstanceGroupName": "sys", "InstanceType": "ml.m5.xlarge", "InstanceCount": 1}
    base = {
        "NodeProvisioningMode": "Continuous",
        "NodeRecovery": "Automatic",
        "ClusterRole": "arn:aws:iam::111122223333:role/k",
        "AutoScaling": {"Mode": "Enable", "AutoScalerType": "Karpenter"},
        "Orchestrator": {"Eks": {"ClusterArn": "arn:aws:eks:us-west-2:111122223333:cluster/x"}},
        "InstanceGroups": [group],
    }
    parameters = {"Mode": {"Type": "String"}, "Recovery": {"Type": "String"}, "Count": {"Type": "Number"}}
    return {"Parameters": parameters, "Resources": {"C": cluster({**base, **props})}}


def _kar1(template: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(f.severity, f.locations[0]) for f in run(template, "HyperPod-KAR1")]


def test_kar1_reports_unknown_mode_and_recovery_as_not_checked() -> None:
    """A parameter without a default was taken as Continuous/Automatic: "no findings", exit 0."""
    template = _karpenter_cluster(NodeProvisioningMode={"Ref": "Mode"}, NodeRecovery={"Ref": "Recovery"})
    assert _kar1(template) == [
        ("not-checked", "Properties/NodeProvisioningMode"),
        ("not-checked", "Properties/NodeRecovery"),
    ]
    assert _kar1(_karpenter_cluster()) == []
    # One unknown, one wrong: the wrong one is still an error.
    assert _kar1(_karpenter_cluster(NodeProvisioningMode={"Ref": "Mode"}, NodeRecovery="None")) == [
        ("not-checked", "Properties/NodeProvisioningMode"),
        (None, "Properties/NodeRecovery"),
    ]


def test_kar1_groups_with_an_unknown_count_or_checks_are_not_checked() -> None:
    unknown_count = {"InstanceGroupName": "k", "InstanceCount": {"Ref": "Count"}, "OnStartDeepHealthChecks": ["x"]}
    unknown_checks = {"InstanceGroupName": "z", "InstanceCount": 0, "OnStartDeepHealthChecks": {"Ref": "Mode"}}
    plain = {"InstanceGroupName": "p", "InstanceCount": {"Ref": "Count"}}
    template = _karpenter_cluster(InstanceGroups=[unknown_count, unknown_checks, plain])
    assert _kar1(template) == [
        ("not-checked", "Properties/InstanceGroups/0/InstanceCount"),
        ("not-checked", "Properties/InstanceGroups/1/OnStartDeepHealthChecks"),
    ]
    at_zero = {"InstanceGroupName": "k", "InstanceCount": 0, "OnStartDeepHealthChecks": ["x"], "TrainingPlanArn": "a"}
    assert _kar1(_karpenter_cluster(InstanceGroups=[at_zero])) == [
        (None, "Properties/InstanceGroups/0/OnStartDeepHealthChecks"),
        (None, "Properties/InstanceGroups/0/TrainingPlanArn"),
    ]


def test_the_cli_says_not_checked_for_parameterised_karpenter_prerequisites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.json"
    template = _karpenter_cluster(NodeProvisioningMode={"Ref": "Mode"}, NodeRecovery={"Ref": "Recovery"})
    path.write_text(json.dumps(template), encoding="utf-8")
    with guard():
        assert cli_main(["lint", str(path), "--region", "us-west-2"]) == 0  # a region: TYPE1 can check
    out = capsys.readouterr().out
    assert "NodeProvisioningMode is not known offline" in out and "NodeRecovery is not known offline" in out
    assert "2 not-checked" in out
    with guard():
        assert cli_main(["lint", str(path), "--parameter", "Mode=Standard", "--parameter", "Recovery=None"]) == 1


# ------------------------------------------------------------------ R15T-M6: the resolver never raises


def _topic_name(value: Any, **sections: Any) -> dict[str, Any]:
    return {**sections, "Resources": {"T": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": value}}}}


# Each was a traceback (OverflowError, IndexError, UnicodeEncodeError), exit 1; and the siblings.
UNEVALUATED = {
    "select-inf": _topic_name({"Fn::Select": [float("inf"), ["a", "b"]]}),
    "select-nan": _topic_name({"Fn::Select": [float("nan"), ["a", "b"]]}),
    "select-float": _topic_name({"Fn::Select": [1.5, ["a", "b"]]}),
    "select-bool": _topic_name({"Fn::Select": [True, ["a", "b"]]}),
    "select-negative": _topic_name({"Fn::Select": [-1, ["a", "b"]]}),
    "select-superscript": _topic_name({"Fn::Select": ["²", ["a", "b"]]}),
    "select-5000-digits": _topic_name({"Fn::Select": ["1" * 5000, ["a", "b"]]}),
    "select-from-a-string": _topic_name({"Fn::Select": [0, "abc"]}),
    "select-from-a-mapping": _topic_name(
        {"Fn::Select": [0, {"Fn::FindInMap": ["M", "k", "v"]}]}, Mappings={"M": {"k": {"v": {"0": "x"}}}}
    ),
    "findinmap-into-a-string": _topic_name({"Fn::FindInMap": ["M", 0, 5]}, Mappings={"M": "abc"}),
    "findinmap-into-a-list": _topic_name({"Fn::FindInMap": ["M", "k", 0]}, Mappings={"M": {"k": ["a"]}}),
    "findinmap-mappings-a-list": _topic_name({"Fn::FindInMap": [0, 0, 0]}, Mappings=[["x"]]),
    "findinmap-list-key": _topic_name({"Fn::FindInMap": [["M"], "k", "v"]}, Mappings={"M": {"k": {"v": "x"}}}),
    "surrogate-default": _topic_name({"Ref": "P"}, Parameters={"P": {"Type": "String", "Default": "\ud800"}}),
}


@pytest.mark.parametrize("name", sorted(UNEVALUATED))
def test_a_value_the_resolver_cannot_evaluate_stays_unknown(name: str) -> None:
    resolved = resolve_template(UNEVALUATED[name])
    assert (
        resolved.template["Resources"]["T"]["Properties"]["DisplayName"]
        == (UNEVALUATED[name]["Resources"]["T"]["Properties"]["DisplayName"])
    )
    assert len(resolved.unresolved) == 1


@pytest.mark.parametrize(("index", "expected"), [(0, "a"), (1, "b"), ("1", "b"), (" 1", None), (2, None), ("01", "b")])
def test_select_still_takes_whole_numbers_and_their_digits(index: Any, expected: str | None) -> None:
    value = resolve_template(_topic_name({"Fn::Select": [index, ["a", "b"]]})).template["Resources"]["T"]
    got = value["Properties"]["DisplayName"]
    assert got == (expected if expected is not None else {"Fn::Select": [index, ["a", "b"]]})


def test_find_in_map_still_reads_three_levels() -> None:
    template = _topic_name({"Fn::FindInMap": ["M", "k", "v"]}, Mappings={"M": {"k": {"v": "x"}}})
    assert resolve_template(template).template["Resources"]["T"]["Properties"]["DisplayName"] == "x"


def test_a_parameter_default_of_4096_utf8_bytes_is_still_used() -> None:
    template = _topic_name({"Ref": "P"}, Parameters={"P": {"Type": "String", "Default": "é" * 2048}})
    assert resolve_template(template).template["Resources"]["T"]["Properties"]["DisplayName"] == "é" * 2048


def test_a_python_error_in_evaluation_is_not_known_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The backstop: whatever else a malformed value raises leaves it unevaluated, one unresolved entry."""

    def broken(_self: Any, _arg: Any) -> Any:
        raise OverflowError("boom")

    monkeypatch.setitem(cfn_template._FUNCTIONS, "Fn::Split", broken)
    resolved = resolve_template(_topic_name({"Fn::Split": [",", "a,b"]}))
    assert resolved.unresolved == [("Resources/T/Properties/DisplayName", "not evaluated offline (OverflowError)")]


@pytest.mark.parametrize("name", ["select_inf.yaml", "select_inf.json", "findinmap_index.json", "surrogate.json"])
def test_the_cli_lints_these_templates_without_a_traceback(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = {
        "select_inf.yaml": "Resources:\n  T:\n    Type: AWS::SNS::Topic\n    Properties:\n"
        "      DisplayName: !Select [.inf, [a, b]]\n",
        "select_inf.json": '{"Resources":{"T":{"Type":"AWS::SNS::Topic","Properties":'
        '{"DisplayName":{"Fn::Select":[Infinity,["a","b"]]}}}}}',
        "findinmap_index.json": json.dumps(UNEVALUATED["findinmap-into-a-string"]),
        "surrogate.json": json.dumps(UNEVALUATED["surrogate-default"]),
    }
    path = tmp_path / name
    path.write_text(texts[name], encoding="utf-8")
    with guard():
        assert cli_main(["lint", str(path)]) == 0
    assert "no findings" in capsys.readouterr().out


# ------------------------------------------------------------------ R15T-L3: lint --live


class _InstantAws:
    """A stand-in for the AWS clients that answers at once: every script exists but ``missing``."""

    def __init__(self, missing: str = "") -> None:
        self.heads: list[str] = []
        self.missing = missing

    def __call__(self, _service: str) -> _InstantAws:
        return self

    def get_caller_identity(self) -> dict[str, str]:
        return {"Account": "111122223333"}

    def head_object(self, Bucket: str, Key: str, ExpectedBucketOwner: str) -> dict[str, Any]:  # noqa: N803
        self.heads.append(Key)
        if Key == self.missing:
            raise ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "HeadObject")
        return {}


def _groups_with_scripts(n: int) -> dict[str, Any]:
    groups = [
        {
            "InstanceGroupName": f"g{i}",
            "InstanceType": "ml.c5.large",
            "InstanceCount": 1,
            "LifeCycleConfig": {"SourceS3Uri": "s3://bucket/p", "OnCreate": f"s{i}.sh"},
        }
        for i in range(n)
    ]
    return {"Resources": {"C": cluster({"Orchestrator": {"Eks": {"ClusterArn": "a"}}, "InstanceGroups": groups})}}


def test_live_looks_up_at_most_max_live_scripts_and_says_so() -> None:
    """One HeadObject per distinct script, uncapped (20,000 scripts: 20,000 calls)."""
    for n in (lint_live.MAX_LIVE_SCRIPTS + 50, 2 * lint_live.MAX_LIVE_SCRIPTS + 100):
        aws = _InstantAws(missing="p/s0.sh")
        lint_input = load_data(_groups_with_scripts(n), "t.json", region="us-west-2")
        lint_live._lifecycle_scripts(lint_input, aws)
        assert len(aws.heads) == lint_live.MAX_LIVE_SCRIPTS
        more = n - lint_live.MAX_LIVE_SCRIPTS
        assert lint_input.unresolved == [
            (
                "t.json",
                "live/lifecycle scripts",
                f"--live looks up at most {lint_live.MAX_LIVE_SCRIPTS} lifecycle scripts; {more:,} more were not read",
            )
        ]
        findings = run(lint_input.templates, "HyperPod-LCS1")
        assert [f.locations for f in findings] == [("Properties/InstanceGroups/0/LifeCycleConfig/SourceS3Uri",)]


def test_live_adds_to_one_copy_of_the_resources() -> None:
    """Each pseudo-resource copied the template's whole Resources: scripts x resources."""
    template = _groups_with_scripts(3)
    lint_input = load_data(template, "t.json", region="us-west-2")
    original = lint_input.templates.templates["t.json"]["Resources"]
    lint_live._add(lint_input, "A", {"Type": "X"})
    first = lint_input.templates.templates["t.json"]["Resources"]
    lint_live._add(lint_input, "B", {"Type": "X"})
    assert lint_input.templates.templates["t.json"]["Resources"] is first
    assert list(first) == ["C", "A", "B"] and list(original) == ["C"]  # the input's own mapping is not changed
    assert lint_input.templates.live == {("t.json", "A"), ("t.json", "B")}
