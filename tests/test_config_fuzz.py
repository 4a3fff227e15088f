"""Property-based tests of config validation (hypothesis).

Invariants:

1. Any mapping, however broken, either parses or raises one ``HyperPodConfigError`` whose
   ``field`` names the offending value. Nothing else escapes ``parse_config`` (cheap: no jsii,
   hundreds of examples).
2. A config that parses synthesizes with strict built-in CloudFormation validation and passes
   cfn-lint (expensive: a few examples, each a real synth).

Examples start from the default ``hyperpod.yaml`` and mutate instance groups (known and bogus
types, negative/huge counts, invalid and duplicate names), CIDRs, AZ IDs, unknown keys and
wrong types. ``--run-slow`` runs both properties much longer.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hyperpod_cdk.config import parse_config
from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.specs.instance_types import INSTANCE_SPECS

REPO = Path(__file__).resolve().parent.parent
DEFAULT: dict[str, Any] = yaml.safe_load((REPO / "hyperpod.yaml").read_text())
CDK_CONTEXT = json.loads((REPO / "cdk.json").read_text())["context"]
REGION = DEFAULT["region"]

KNOWN_TYPES = sorted(INSTANCE_SPECS)
BOGUS_TYPES = [
    "ml.p5.49xlarge",
    "p5.48xlarge",
    "ml.bogus.huge",
    "",
    "ML.P5.48XLARGE",
    "ml.g5",
    "ml.trn9.32xlarge",
    "ml.p99.48xlarge",
    "ml.g5.8xlarge ",
    "ml..xlarge",
]
US_WEST_2_AZ_IDS = ["usw2-az1", "usw2-az2", "usw2-az3", "usw2-az4"]
JUNK: list[Any] = [None, True, 0, -1, 1.5, "", "x", [], {}, ["a"], {"k": "v"}, 10**30]
# Fresh copies: a shared list placed twice could end up inside itself after a second mutation.
junk = st.sampled_from(JUNK).map(copy.deepcopy)


def _hyperpod_types_in(region: str) -> set[str]:
    """Instance types cfn-lint's data says HyperPod offers in ``region`` (what E3644 checks)."""
    import cfnlint

    data = Path(cfnlint.__file__).parent / "data/schemas/extensions/aws_sagemaker_cluster/instancetype_enum.json"
    return set(json.loads(data.read_text())[region]["enum"])


OFFERED = _hyperpod_types_in(REGION)
# Known types HyperPod does not offer in the default region: built-in validation
# (E3644) would fail synth for them; config validation rejects them (tested below).
NOT_OFFERED_HERE = sorted(set(KNOWN_TYPES) - OFFERED)
SYNTHESIZABLE_TYPES = sorted(set(KNOWN_TYPES) & OFFERED)

# A regular expression shown to the user (what the messages must never contain).
RAW_REGEX = re.compile(r"does not match|\^\[|\]\{|\)\$|\[\^|\\\.")

# --- strategies --------------------------------------------------------------------------------

valid_names = st.from_regex(r"\A[a-z][a-z0-9]{0,6}(-[a-z0-9]{1,4})?\Z")
invalid_names = st.one_of(
    st.sampled_from(["", "-gpu", "gpu-", "bad_name", "has space", "a" * 64, "ünï", "gpu\n"]),
    st.text(max_size=70),
)
group_names = st.one_of(valid_names, valid_names, invalid_names)
instance_types = st.one_of(st.sampled_from(KNOWN_TYPES), st.sampled_from(KNOWN_TYPES), st.sampled_from(BOGUS_TYPES))
counts = st.one_of(
    st.integers(0, 4),
    st.integers(-100, -1),
    st.integers(6000, 10**7),
    st.sampled_from([6758, 6759]),
)


def _cidr(prefix_min: int, prefix_max: int) -> st.SearchStrategy[str]:
    return st.builds(
        lambda addr, prefix: str(ipaddress.IPv4Network(f"{addr}/{prefix}", strict=False)),
        st.ip_addresses(v=4),
        st.integers(prefix_min, prefix_max),
    )


cidrs = st.one_of(
    st.sampled_from(["10.192.0.0/16", "10.1.0.0/16", "10.1.0.0/20", "100.64.0.0/16", "10.192.128.0/17"]),
    _cidr(8, 30),
    st.sampled_from(["10.0.0.300/16", "10.1.0.1/16", "not-a-cidr", "10.1.0.0", "::/0", "0.0.0.0/0", "10.1.0.0/33"]),
)
az_ids = st.one_of(
    st.sampled_from(US_WEST_2_AZ_IDS),
    st.sampled_from(["use1-az1", "usw2-az99", "us-west-2a", "usw2az1", ""]),
)


@st.composite
def instance_group(draw: st.DrawFn) -> dict[str, Any]:
    group: dict[str, Any] = {
        "name": draw(group_names),
        "instance_type": draw(instance_types),
        "instance_count": draw(counts),
    }
    optional = {
        "ebs_volume_size_gb": st.one_of(st.integers(1, 16384), st.integers(-5, 0), st.integers(16385, 10**6)),
        "threads_per_core": st.integers(0, 3),
        "deep_health_checks": st.one_of(
            st.none(),
            st.just([]),
            st.lists(st.sampled_from(["InstanceStress", "InstanceConnectivity", "Bogus"]), max_size=3),
        ),
        "availability_zone_id": az_ids,
        "labels": st.dictionaries(st.sampled_from(["role", "team/x", "Bad Key", ""]), st.text(max_size=70), max_size=2),
        "ips_per_node": st.integers(-1, 5000),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()) and draw(st.booleans()):
            group[key] = draw(strategy)
    return group


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    """The default config with a handful of random mutations, possibly corrupted with junk."""
    data = copy.deepcopy(DEFAULT)
    groups = draw(st.lists(instance_group(), min_size=0, max_size=4))
    if groups and draw(st.booleans()):
        groups.append({**draw(instance_group()), "name": groups[0]["name"]})  # duplicate name
    if draw(st.booleans()):
        data["hyperpod"]["instance_groups"] = groups
    else:
        data["hyperpod"]["instance_groups"] += groups
    net = data["network"]
    if draw(st.booleans()):
        net["vpc_cidr"] = draw(cidrs)
    if draw(st.booleans()):
        net["hyperpod_cidr"] = draw(cidrs)
    if draw(st.booleans()):
        net["availability_zone_ids"] = draw(st.lists(az_ids, min_size=0, max_size=5))
    if draw(st.booleans()):
        data["eks"]["public_access_cidrs"] = draw(st.lists(cidrs, max_size=3))
    if draw(st.booleans()):
        net["ip_headroom_percent"] = draw(st.integers(-10, 500))
    if draw(st.booleans()):
        # an unknown key somewhere
        section = draw(st.sampled_from([data, net, data["eks"], data["hyperpod"]]))
        section[draw(st.sampled_from(["bogus", "instanceGroups", "vpcCidr", "extra"]))] = draw(junk)
    if draw(st.booleans()):
        _corrupt(data, draw)
    return data


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, prefix + (index,))
    return found


def _corrupt(data: dict[str, Any], draw: st.DrawFn) -> None:
    """Replace one value anywhere in the tree with a value of the wrong type."""
    path = draw(st.sampled_from(_paths(data)))
    node: Any = data
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = draw(junk)


def _parse(data: dict[str, Any]):
    """parse_config, asserting the invariant; returns the config or None."""
    try:
        return parse_config(data)
    except HyperPodConfigError as error:
        assert isinstance(error.field, str) and error.field.strip(), f"error without a field: {error!r}"
        assert error.message.strip(), f"error without a message: {error!r}"
        assert not RAW_REGEX.search(error.message), f"raw regex in the message: {error!r}"
        assert error.message.count("(got ") <= 1, f"value repeated: {error!r}"
        return None
    # Anything else (TypeError, KeyError, pydantic's ValidationError, ...) fails the test.


def test_the_default_config_parses():
    assert _parse(copy.deepcopy(DEFAULT)) is not None


@given(configs())
@settings(max_examples=400, deadline=None)
def test_every_config_parses_or_names_the_bad_field(data):
    _parse(data)


@pytest.mark.slow
@given(configs())
@settings(max_examples=20_000, deadline=None)
def test_every_config_parses_or_names_the_bad_field_long(data):
    _parse(data)


# --- synth property ------------------------------------------------------------------------------


@st.composite
def valid_configs(draw: st.DrawFn) -> dict[str, Any]:
    """Configs meant to parse (a rejected one is discarded): varied groups, AZs and CIDRs."""
    data = copy.deepcopy(DEFAULT)
    azs = draw(st.lists(st.sampled_from(US_WEST_2_AZ_IDS), min_size=1, max_size=3, unique=True))
    data["network"]["availability_zone_ids"] = azs
    data["network"]["hyperpod_cidr"] = draw(
        st.sampled_from(["10.1.0.0/16", "10.1.0.0/18", "100.64.0.0/16", "10.192.128.0/17"])
    )
    names = draw(st.lists(valid_names, min_size=1, max_size=3, unique=True))
    groups = []
    for name in names:
        group: dict[str, Any] = {
            "name": name,
            "instance_type": draw(st.sampled_from(SYNTHESIZABLE_TYPES)),
            "instance_count": draw(st.integers(0, 3)),
        }
        if draw(st.booleans()):
            group["availability_zone_id"] = draw(st.sampled_from(azs))
        if draw(st.booleans()):
            group["ebs_volume_size_gb"] = draw(st.integers(1, 16384))
        groups.append(group)
    data["hyperpod"]["instance_groups"] = groups
    if draw(st.booleans()):
        data["eks"]["public_access_cidrs"] = ["203.0.113.0/24"]
    return data


def _synth_and_lint(data: dict[str, Any]) -> None:
    config = _parse(data)
    assume(config is not None)

    import aws_cdk as cdk
    from cfnlint.api import ManualArgs, lint

    from infra.app_builder import add_platform

    with tempfile.TemporaryDirectory() as outdir:
        app = cdk.App(outdir=outdir, context=dict(CDK_CONTEXT))
        stack = add_platform(app, config, nag=False)
        # Strict built-in validation is on (cdk.json); a failure raises RuntimeError here.
        template = app.synth().get_stack_by_name(stack.stack_name).template
    # The regions go in ManualArgs: given a config, lint() takes its regions from it (default us-east-1).
    matches = lint(json.dumps(template), config=ManualArgs(ignore_checks=["W3005"], regions=[config.region]))
    problems = [f"{m.rule.id} {m.message}" for m in matches if m.rule.id[0] in "EW"]
    assert not problems, problems


@given(valid_configs())
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_every_valid_config_synthesizes_and_lints_clean(data):
    _synth_and_lint(data)


@pytest.mark.slow
@given(valid_configs())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_every_valid_config_synthesizes_and_lints_clean_long(data):
    _synth_and_lint(data)


@pytest.mark.parametrize("instance_type", NOT_OFFERED_HERE or ["(none)"])
def test_types_not_offered_in_the_region_are_config_errors(instance_type):
    data = copy.deepcopy(DEFAULT)
    data["hyperpod"]["instance_groups"][1]["instance_type"] = instance_type
    with pytest.raises(HyperPodConfigError) as error:
        parse_config(data)
    assert error.value.field.startswith("hyperpod.instance_groups[1]")
    assert error.value.field.endswith("instance_type")


@given(st.one_of(st.booleans(), st.integers(0, 2**32 - 1)))
@settings(max_examples=20, deadline=None)
def test_non_string_cidrs_are_config_errors(value):
    data = copy.deepcopy(DEFAULT)
    data["eks"]["public_access_cidrs"] = [value]
    with pytest.raises(HyperPodConfigError) as error:
        parse_config(data)
    assert error.value.field.startswith("eks.public_access_cidrs")
