"""Seventh security review (round 7): hostile YAML values, aliased references, unhashable shapes,
surrogates and bidi controls must give one line (exit 2) or findings, never a traceback or hours of work."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk import input_limits
from hyperpod_cdk.cli import output
from hyperpod_cdk.cli.main import main as cli_main
from hyperpod_cdk.config.loading import load_config
from hyperpod_cdk.errors import HyperPodConfigError, shown
from hyperpod_cdk.guard import values
from hyperpod_cdk.rules import catalog, dependencies
from hyperpod_cdk.rules.model import Finding, Templates
from tests.test_lint_limits import guard

EKS_CLUSTER = {
    "Type": "AWS::SageMaker::Cluster",
    "Properties": {
        "ClusterName": "c",
        "Orchestrator": {"Eks": {"ClusterArn": "arn:aws:eks:us-west-2:111122223333:cluster/x"}},
        "NodeRecovery": "Automatic",
        "InstanceGroups": [],
    },
}
HELM = {"Type": "Custom::HelmChart", "Properties": {"Chart": "hyperpod"}}

# ------------------------------------------------------------------ M1: constructor errors, long ints

BAD_VALUES = {
    "hex": "0x" + "f" * 20_000,
    "binary": "0b" + "1" * 50_000,
    "octal": "0" + "7" * 20_000,
    "sexagesimal": "1" + ":0" * 3000,
    "date": "2001-02-30",
    "float tag": '!!float "x"',
    "int tag": '!!int "0xZZ"',
    "timestamp tag": '!!timestamp "2001-99-01"',
}


@pytest.mark.parametrize("value", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_a_config_value_yaml_cannot_build_is_one_config_error(tmp_path: Path, value: str) -> None:
    path = tmp_path / "hyperpod.yaml"
    path.write_text(f"name: demo\nregion: {value}\n")
    with pytest.raises(HyperPodConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert "\n" not in message and len(message) < 300
    assert "line 2" in message or "too long" in message


@pytest.mark.parametrize("value", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_lint_reads_such_a_value_in_one_line(tmp_path: Path, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "Resources:\n  C:\n    Type: AWS::EKS::Cluster\n    Properties:\n      ResourcesVpcConfig:\n"
        f"        EndpointPublicAccess: true\n        PublicAccessCidrs: [{value}]\n"
    )
    with guard():
        code = cli_main(["lint", "--posture", str(path)])
    err = capsys.readouterr().err.strip()
    if value == BAD_VALUES["date"]:  # lint's CloudFormation loader reads dates as strings: findings
        assert code == 1 and not err
    else:
        assert code == 2 and err.startswith("error: ") and "\n" not in err


def test_the_guard_loader_refuses_a_long_hex_integer() -> None:
    with pytest.raises(input_limits.InputLimitError, match="too long"):
        input_limits.load_yaml("a: 0x" + "f" * 4000 + "\n", input_limits.TEMPLATE_LIMITS)
    # 4,300 decimal digits still load (the limit Python itself sets).
    assert input_limits.load_yaml("a: 0x" + "f" * 3500 + "\n", input_limits.TEMPLATE_LIMITS)["a"] > 0


def test_shown_survives_an_integer_repr_refuses() -> None:
    assert shown(16**20_000) == f"<integer of {(16 ** 20_000).bit_length()} bits>"


# ------------------------------------------------------------------ M2: aliased Fn::Sub names

NAMES = "".join(f"${{n{i}}}" for i in range(200_000))


def _aliased_names_template(aliases: int) -> dict[str, Any]:
    sub = {"Fn::Sub": NAMES}  # one object, as a YAML alias gives
    topic = {"Type": "AWS::SNS::Topic", "Properties": {"L": [sub] * aliases, "W": [[[sub]] * aliases] * aliases}}
    return {"Resources": {"Cluster": EKS_CLUSTER, "HelmChart": HELM, "R": topic}}


def test_helm1_merges_an_aliased_sub_once() -> None:
    """Before: 1,000 + 1,000 x 1,000 aliases x 200,000 names: 200 billion set insertions."""
    template = _aliased_names_template(1000)
    with guard(20):
        found = catalog.check(Templates({"t": template}), kinds=["deploy"], include_not_checked=True)
        walk = dependencies.ReferenceWalk()
        names = walk.names(template["Resources"]["R"]["Properties"])
    assert len(names) == 200_000
    # Each distinct node is merged once into each parent: the names into the Sub, the Sub into its
    # three lists, those into the properties.
    assert dependencies.MAX_REFERENCE_WORK - walk.work_left <= 200_000 * 7
    assert any(f.rule_id == "HyperPod-HELM1" for f in found)


def test_helm1_says_not_checked_past_the_work_cap() -> None:
    """Distinct wrappers of one aliased Sub each merge its names: 1,000 of them pass the cap."""
    sub = {"Fn::Sub": NAMES}
    topic = {"Type": "AWS::SNS::Topic", "Properties": {"W": [[sub] for _ in range(1000)]}}
    template = {"Resources": {"Cluster": EKS_CLUSTER, "HelmChart": HELM, "R": topic}}
    with guard(20):
        found = catalog.check(Templates({"t": template}), kinds=["deploy"], include_not_checked=True)
    helm1 = [f for f in found if f.rule_id == "HyperPod-HELM1"]
    assert helm1 and all("too many to follow" in f.detail for f in helm1)


def test_the_guard_walks_an_aliased_node_once() -> None:
    sub = {"Fn::Sub": NAMES}
    inner = [sub] * 1000
    with guard(20):
        assert len(values.references({"A": [inner] * 1000})) == 200_000


# ------------------------------------------------------------------ M3: unhashable shapes


def _write(tmp_path: Path, name: str, data: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("depends", [[["C"]], [5, {"x": 1}]])
def test_a_depends_on_holding_lists_is_not_a_traceback(
    tmp_path: Path, depends: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = {"Type": "AWS::S3::Bucket", "DependsOn": depends}
    path = _write(tmp_path, "t.json", {"Resources": {"Cluster": EKS_CLUSTER, "HelmChart": HELM, "B": bucket}})
    assert cli_main(["lint", "--json", str(path)]) in (0, 1)
    assert json.loads(capsys.readouterr().out)


def test_eks2_ignores_a_log_type_that_is_not_a_string(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    eks = {
        "Type": "AWS::EKS::Cluster",
        "Properties": {"Logging": {"ClusterLogging": {"EnabledTypes": [{"Type": ["api"]}]}}},
    }
    path = _write(tmp_path, "t.json", {"Resources": {"E": eks}})
    assert cli_main(["lint", "--posture", "--json", str(path)]) == 1
    rows = json.loads(capsys.readouterr().out)["findings"]
    assert any(r["rule_id"] == "HyperPod-EKS2" and "api" in r["message"] for r in rows)


def test_terraform_log_types_must_be_strings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = {
        "format_version": "1.2",
        "values": {
            "root_module": {
                "resources": [
                    {
                        "address": "aws_eks_cluster.c",
                        "type": "aws_eks_cluster",
                        "name": "c",
                        "provider_name": "registry.terraform.io/hashicorp/aws",
                        "values": {"name": "c", "enabled_cluster_log_types": [["api"]]},
                    }
                ]
            }
        },
    }
    path = _write(tmp_path, "plan.json", plan)
    assert cli_main(["lint", "--posture", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "unexpected type" in err and "\n" not in err


def test_a_rule_that_raises_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(_templates: Templates) -> Iterator[Finding]:
        raise KeyError("bug")
        yield  # pragma: no cover

    rule = dataclasses.replace(catalog.RULES[0], check=broken)
    monkeypatch.setattr(catalog, "RULES", (rule,))
    path = _write(tmp_path, "t.json", {"Resources": {"B": {"Type": "AWS::S3::Bucket"}}})
    assert cli_main(["lint", "--posture", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {path}: internal error in rule {rule.id}: KeyError"
    # The library still raises (chained to the real cause), so tests see real bugs.
    with pytest.raises(catalog.RuleFailedError) as raised:
        catalog.check(Templates({"t": {"Resources": {}}}), kinds=["deploy", "posture"])
    assert isinstance(raised.value.__cause__, KeyError)


# ------------------------------------------------------------------ M4, L4: surrogates and bidi controls


def test_escape_controls_escapes_lone_surrogates() -> None:
    assert input_limits.escape_controls("Cluster\ud800") == "Cluster\\ud800"
    assert input_limits.escape_controls("x\udfff\u202e") == "x\\udfff\\u202e"


@pytest.mark.parametrize("form", [[], ["--json"], ["--sarif"]])
def test_lint_prints_a_finding_with_a_surrogate(
    tmp_path: Path, form: list[str], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"Resources": {"Cluster\ud800": EKS_CLUSTER, "HelmChart": HELM}}), encoding="utf-8")
    assert cli_main(["lint", *form, str(path)]) == 1
    out = capsysbinary.readouterr().out.decode("utf-8")
    if form:
        assert json.loads(out)
    else:
        assert "Cluster\\ud800" in out


def test_plain_removes_bidi_controls() -> None:
    text = "ok\u202e  :deriF deliaf\u202c\u2066\u2069\u200e\u200f\u061c"
    assert output.plain(text) == "ok  :deriF deliaf"
    assert output.escape("a\u202eb") == "ab"


# ------------------------------------------------------------------ L1: the existing kubeconfig is read with caps


def test_a_deeply_nested_kubeconfig_is_one_line(tmp_path: Path) -> None:
    from hyperpod_cdk.cli import access

    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    entry = {"cluster": {"name": "c"}, "user": {"name": "c"}, "context": {"name": "c", "context": {}}}
    with pytest.raises(access.AccessError) as raised:
        access.merge_kubeconfig(kubeconfig, entry)
    assert "nested too deeply" in str(raised.value) and "\n" not in str(raised.value)


# ------------------------------------------------------------------ L2: image names are never crane flags


@pytest.mark.parametrize("field", ["smoke_image", "image"])
def test_an_image_reference_starting_with_a_dash_is_refused(tmp_path: Path, field: str) -> None:
    import yaml

    data = yaml.safe_load((Path(__file__).parent.parent / "hyperpod.yaml").read_text())
    data.setdefault("kubernetes", {}).setdefault("examples", {})[field] = "--insecure=1/x:y"
    path = tmp_path / "hyperpod.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(HyperPodConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert f"kubernetes.examples.{field}" in message and "image reference" in message and "\n" not in message
