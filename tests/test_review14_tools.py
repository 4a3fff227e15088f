"""Review round 14 (tools): values that a YAML alias makes huge, used as a key or shown in a message.

M2: lint's ``Templates.reference_key`` used the JSON text of a whole expression as a key (1.23 GB of
memory for 124 KB of aliased YAML; a MemoryError, exit 2, at 1 MB). L1: several rules ``repr()``-ed a
whole value into a message. And the class: the YAML reader now caps the expanded text too, not only
the count of values, so no later walk can build gigabytes out of a small file.
"""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.cli.main import main as cli_main
from hyperpod_cdk.input_limits import (
    CONFIG_LIMITS,
    EXPANDED_TEXT_FACTOR,
    TEMPLATE_LIMITS,
    InputLimitError,
    Limits,
    ValueDigests,
    load_yaml,
)
from hyperpod_cdk.rules import deploy_addons, deploy_network, eks
from hyperpod_cdk.rules.model import SHOWN_CHARS, Templates, shown

_spec = importlib.util.spec_from_file_location("work_limits", Path(__file__).with_name("work_limits.py"))
assert _spec and _spec.loader
work_limits = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(work_limits)

BIG = "a" * 1_000_000  # one string object, as a YAML alias shares it
REFS = 2_000  # 2 GB of text once expanded: json.dumps of it runs out of memory or time


def _templates(resources: dict[str, Any]) -> Templates:
    return Templates({"t.json": {"Resources": resources}}, closed_world=False)


def _join(*parts: str) -> dict[str, Any]:
    return {"Fn::Join": ["", list(parts)]}


def test_a_reference_key_of_an_aliased_expression_is_a_digest_built_once() -> None:
    templates = _templates({})
    value = _join(*([BIG] * REFS))
    with work_limits.guard(20):
        key = templates.reference_key("t.json", value)
    assert key[0] == "expression" and len(key[2]) == 32
    work = work_limits.calls(lambda: templates.reference_key("t.json", _join(*([BIG] * REFS))))
    assert work < 30_000, work  # one hash of the string, then one memo hit for each of 2,000 references


def test_reference_keys_are_equal_exactly_when_the_expressions_are() -> None:
    templates = _templates({})
    long_a = _join("x" * 5_000, "a")
    long_b = _join("x" * 5_000, "b")  # starts like long_a for 5,000 characters: a cut text would match
    assert templates.reference_key("t.json", long_a) != templates.reference_key("t.json", long_b)
    assert templates.reference_key("t.json", long_a) == templates.reference_key("t.json", _join("x" * 5_000, "a"))
    assert templates.reference_key("t.json", {"Ref": "P"}) == ("parameter", "t.json", "P")
    assert templates.reference_key("t.json", "sg-1") == ("literal", "sg-1")


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(7 if depth < 3 else 4)
    if kind == 0:
        return rng.choice(["", "a", "b", "ab", '"', "\\", "é", "a" * 90, "a" * 91])
    if kind == 1:
        return rng.choice([0, 1, -1, 2, 10**20])
    if kind == 2:
        return rng.choice([0.5, 1.0, 1e300])
    if kind == 3:
        return rng.choice([True, False, None])
    if kind in (4, 5):
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(3))]
    return {rng.choice("abc"): _random_value(rng, depth + 1) for _ in range(rng.randrange(3))}


def test_value_digests_agree_with_the_sorted_json_text() -> None:
    """Over 4,000 random pairs (many equal, some only alike), digests are equal exactly when the compact
    sorted-key JSON texts are: the key lint used before, so no rule's matching changed."""
    rng = random.Random(14)
    digests = ValueDigests()
    equal_seen = 0
    for _ in range(4_000):
        left, right = _random_value(rng), _random_value(rng)
        same_text = json.dumps(left, sort_keys=True) == json.dumps(right, sort_keys=True)
        equal_seen += same_text
        assert (digests(left) == digests(right)) == same_text, (left, right)
    assert equal_seen > 100


def test_messages_show_only_the_start_of_an_aliased_value() -> None:
    """L1: AuthenticationMode (EKS4), ResolveConflicts (ADD1) and a subnet group's names (IP1) were written
    whole into the message before it was cut."""
    huge = {"Fn::Join": ["", [BIG] * REFS]}
    templates = _templates(
        {
            "Eks": {"Type": "AWS::EKS::Cluster", "Properties": {"AccessConfig": {"AuthenticationMode": huge}}},
            "Vpc": {"Type": "AWS::EKS::Addon", "Properties": {"AddonName": "vpc-cni", "ResolveConflicts": BIG}},
        }
    )
    with work_limits.guard(20):
        findings = [*eks.authentication_mode(templates), *deploy_addons.addon_resolve_conflicts(templates)]
    assert len(findings) == 2
    assert all("a" * SHOWN_CHARS not in finding.detail for finding in findings), [f.detail for f in findings]
    assert len(shown(huge)) == SHOWN_CHARS and len(shown(BIG)) == SHOWN_CHARS + 2  # quoted
    assert shown("API") == "'API'" and shown({"Ref": "M"}) == '{"Ref":"M"}'


def test_many_groups_sharing_subnets_are_named_up_to_a_limit() -> None:
    groups = [
        {"InstanceGroupName": f"g{index}-{'n' * 500}", "InstanceType": "ml.p5.48xlarge", "InstanceCount": 10}
        for index in range(200)
    ]
    templates = _templates(
        {
            "Subnet": {"Type": "AWS::EC2::Subnet", "Properties": {"CidrBlock": "10.0.0.0/24"}},
            "Cluster": {
                "Type": "AWS::SageMaker::Cluster",
                "Properties": {
                    "Orchestrator": {"Eks": {"ClusterArn": "arn:aws:eks:us-west-2:111111111111:cluster/x"}},
                    "VpcConfig": {"Subnets": [{"Ref": "Subnet"}], "SecurityGroupIds": ["sg-1"]},
                    "InstanceGroups": groups,
                },
            },
        }
    )
    (finding,) = deploy_network.subnet_ip_capacity(templates)
    assert "and 190 more" in finding.detail and "'g0-nnn" in finding.detail and "…' 10 x" in finding.detail
    assert "'g9-" in finding.detail and "'g10-" not in finding.detail


def _alias_yaml(length: int, refs: int) -> str:
    return f"s: &s {'x' * length}\nl: [{', '.join(['*s'] * refs)}]\n"


def test_yaml_expanded_text_is_capped_at_a_multiple_of_the_file_cap() -> None:
    limits = Limits(max_bytes=10_000, max_nodes=100_000, max_depth=8)
    assert limits.text_chars == EXPANDED_TEXT_FACTOR * 10_000
    load_yaml(_alias_yaml(1_000, 30), limits)  # 31,000 characters expanded: a hand-written anchor or two
    with pytest.raises(InputLimitError, match=r"^too large once YAML aliases are expanded: more than 39 KiB of text"):
        load_yaml(_alias_yaml(1_000, 40), limits)
    keys = "k: &k " + "y" * 5_000 + "\nl: [" + ", ".join(f"{{*k : {i}}}" for i in range(10)) + "]\n"
    with pytest.raises(InputLimitError, match="of text"):  # mapping keys count too: 55,000 characters
        load_yaml(keys, limits)
    assert Limits(max_bytes=10, max_nodes=10, max_depth=2, max_text_chars=5).text_chars == 5
    assert CONFIG_LIMITS.text_chars == 4 * 1024 * 1024 and TEMPLATE_LIMITS.text_chars == 32 * 1024 * 1024


def test_lint_refuses_the_reviewers_reference_key_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The round-14 reproduction at 1 MB: an ingress GroupId joining one aliased string 10,000 times."""
    template = tmp_path / "m2.yaml"
    body = (
        "Resources:\n  Ing:\n    Type: AWS::EC2::SecurityGroupIngress\n    Properties:\n      IpProtocol: '-1'\n"
        f"      GroupId: {{Fn::Join: ['', [&s {'a' * 940_000}, {', '.join(['*s'] * 10_000)}]]}}\n"
        "      SourceSecurityGroupId: sg-1\n"
    )
    template.write_text(body)
    with work_limits.guard(30):
        code = cli_main(["lint", "--region", "us-west-2", str(template)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "more than 32 MiB of text" in err, err
