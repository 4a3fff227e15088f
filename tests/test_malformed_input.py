"""Malformed input gives one line and exit status 2, in bounded time: the config loader and the guard.

Each case runs under a wall-clock alarm: before the caps, the alias bombs hung (minutes, GBs) and
deep nesting raised RecursionError tracebacks.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hyperpod_cdk.config import load_config
from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.guard import compare_templates, main
from hyperpod_cdk.input_limits import CONFIG_LIMITS, TEMPLATE_LIMITS, InputLimitError, check_tree, load_yaml

# Loaded by path (tests use --import-mode=importlib), like cli_fixtures.py.
_spec = importlib.util.spec_from_file_location("work_limits", Path(__file__).with_name("work_limits.py"))
assert _spec and _spec.loader
work_limits = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(work_limits)
calls = work_limits.calls

guard_cli = importlib.import_module("hyperpod_cdk.guard.__main__")

SECONDS = 10  # each case takes well under a second once capped


@contextlib.contextmanager
def time_limit(seconds: float = SECONDS) -> Iterator[None]:
    """Fail (instead of hanging the suite) when the body runs longer than ``seconds``."""

    def expired(_signum: int, _frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - started < seconds


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """``a0`` is ``width`` strings; each next level is ``width`` aliases of the previous: width**levels values."""
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ hyperpod.yaml

DEFAULT_CONFIG = (Path(__file__).resolve().parent.parent / "hyperpod.yaml").read_text()

CONFIG_CASES = {
    # The default config with an alias bomb in a list field and in a string field: validation, and
    # the message about the wrong type (which printed the input), walked the expanded tree.
    "bomb_in_list": (
        alias_bomb() + DEFAULT_CONFIG.replace("availability_zone_ids: [usw2-az2]", "availability_zone_ids: *a9"),
        "YAML aliases are expanded",
    ),
    "bomb_in_string": (
        alias_bomb() + DEFAULT_CONFIG.replace("name: hyperpod-demo\n", "name: *a9\n", 1),
        "YAML aliases are expanded",
    ),
    "self_alias": ("name: &a [*a]\n", "refers to itself"),
    "deep_flow": ("name: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    "deep_block": ("".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "v: 1\n", "nested too deeply"),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_config_rejects_with_one_line(tmp_path: Path, case: str) -> None:
    text, expected = CONFIG_CASES[case]
    path = tmp_path / "hyperpod.yaml"
    path.write_text(text)
    with time_limit(), pytest.raises(HyperPodConfigError) as raised:
        load_config(path)
    assert raised.value.field == str(path)
    assert expected in raised.value.message
    assert "\n" not in str(raised.value) and len(raised.value.message) < 200


def test_config_file_size_is_capped(tmp_path: Path) -> None:
    path = tmp_path / "hyperpod.yaml"
    path.write_text("# padding\n" * (CONFIG_LIMITS.max_bytes // 10 + 1))
    with time_limit(), pytest.raises(HyperPodConfigError, match="too large: more than 1 MiB"):
        load_config(path)


def test_config_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "hyperpod.yaml"
    path.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(HyperPodConfigError, match="not UTF-8"):
        load_config(path)


def test_config_within_the_caps_still_loads() -> None:
    """Small anchors and aliases are fine; the default config loads."""
    assert "availability_zone_ids: [usw2-az2]" in DEFAULT_CONFIG and "name: hyperpod-demo\n" in DEFAULT_CONFIG
    assert load_config(Path(__file__).resolve().parent.parent / "hyperpod.yaml").name
    assert load_yaml("a: &x [1, 2]\nb: [*x, *x]\n", CONFIG_LIMITS) == {"a": [1, 2], "b": [[1, 2], [1, 2]]}


# ------------------------------------------------------------------ the replacement guard


def _template_yaml(name_value: str) -> str:
    return f"Resources:\n  Eks:\n    Type: AWS::EKS::Cluster\n    Properties:\n      Name: {name_value}\n"


GUARD_CASES = {
    # 598 bytes in the report; this one is about as small.
    "alias_bomb": (alias_bomb() + _template_yaml("*a9"), "YAML aliases are expanded"),
    "self_alias": (
        "Resources:\n  Eks: &r\n    Type: AWS::EKS::Cluster\n    Properties: {Name: *r}\n",
        "refers to itself",
    ),
    "deep_json": (
        '{"Resources": {"Eks": {"Type": "AWS::EKS::Cluster", "Properties": {"Name": '
        + "[" * 100_000
        + "]" * 100_000
        + "}}}}",
        "nested too deeply",
    ),
    "deep_json_under_recursion_limit": (
        '{"Resources": {"Eks": {"Type": "AWS::EKS::Cluster", "Properties": '
        '{"Name": ' + "[" * 600 + "]" * 600 + "}}}}",
        "nested too deeply",
    ),
    "deep_yaml": (_template_yaml("[" * 5000 + "]" * 5000), "nested too deeply"),
    "integer_logical_id": (
        "Resources:\n  1:\n    Type: AWS::EKS::Cluster\n    Properties: {Name: a}\n",
        "Resources.1: keys must be strings",
    ),
    "integer_property_key": (_template_yaml("a") + "      7: b\n", "Resources.Eks.Properties.7: keys must be strings"),
}


@pytest.mark.parametrize("case", sorted(GUARD_CASES))
def test_guard_rejects_with_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    text, expected = GUARD_CASES[case]
    old = tmp_path / "old.template"
    old.write_text(text)
    new = tmp_path / "new.json"
    new.write_text(json.dumps({"Resources": {"Eks": {"Type": "AWS::EKS::Cluster", "Properties": {"Name": "a"}}}}))
    for argv in (["--old", old, "--new", new], ["--old", new, "--new", old]):
        with time_limit():
            code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        assert code == 2, captured
        assert captured.out == ""
        [line] = captured.err.strip().splitlines()
        assert line.startswith("python -m hyperpod_cdk.guard: error:") and expected in line, line
        assert len(line) < 300


def test_guard_template_size_is_capped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "big.json"
    with big.open("w") as handle:
        handle.write('{"Resources": {}, "Padding": "')
        handle.write("x" * TEMPLATE_LIMITS.max_bytes)
        handle.write('"}')
    with time_limit():
        code = main(["--old", str(big), "--new", str(big)])
    assert code == 2 and "too large: more than 8 MiB" in capsys.readouterr().err


def test_guard_checks_a_template_body_the_api_returned_parsed(monkeypatch, capsys) -> None:
    """GetTemplate hands a JSON body back as a dict: the same caps apply to it."""
    nested: object = "x"
    for _ in range(150):
        nested = [nested]

    class FakeCloudFormation:
        meta = None

        def get_template(self, **_kwargs: object) -> dict[str, object]:
            return {
                "TemplateBody": {"Resources": {"Eks": {"Type": "AWS::EKS::Cluster", "Properties": {"Name": nested}}}}
            }

    monkeypatch.setattr(guard_cli, "client_factory", lambda region: FakeCloudFormation())
    with time_limit():
        code = main(["--old", "stack:demo", "--new", str(Path(__file__).resolve().parent.parent / "hyperpod.yaml")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_check_tree_walks_without_recursion() -> None:
    nested: object = 1
    for _ in range(50_000):  # far beyond the recursion limit
        nested = {"k": nested}
    with time_limit(), pytest.raises(InputLimitError, match="nested too deeply"):
        check_tree(nested, TEMPLATE_LIMITS)


# Any JSON-shaped template within the caps compares without an exception (the diff engine is
# reached by every template the loader accepts).
_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(
        st.sampled_from(
            [
                "Ref",
                "Fn::GetAtt",
                "Fn::Sub",
                "Fn::If",
                "Condition",
                "Name",
                "Subnets",
                "InstanceGroups",
                "InstanceGroupName",
                "Fn::FindInMap",
            ]
        ),
        inner,
        max_size=3,
    ),
    max_leaves=12,
)
_resource = st.fixed_dictionaries(
    {"Type": st.sampled_from(["AWS::SageMaker::Cluster", "AWS::EKS::Cluster", "AWS::KMS::Key", "AWS::EC2::Subnet"])},
    optional={"Properties": _values, "Condition": _values, "DeletionPolicy": _values},
)
_template = st.fixed_dictionaries(
    {"Resources": st.dictionaries(st.sampled_from(["A", "B", "C"]), _resource | _values, max_size=3)},
    optional={
        "Conditions": st.dictionaries(st.sampled_from(["Cond", "Other"]), _values, max_size=2),
        "Parameters": st.dictionaries(st.sampled_from(["P"]), _values, max_size=1),
        "Mappings": _values,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(old=_template, new=_template)
def test_diff_engine_never_raises_on_odd_templates(old: dict, new: dict) -> None:
    compare_templates(old, new)


# ------------------------------------------------------------------ issue 18 item 14: long integers, neuron caps

LONG_INT = "9" * 5000  # Python refuses int <-> str conversions of more than 4300 digits by default


def test_a_huge_integer_in_the_config_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "hyperpod.yaml"
    path.write_text(f"region: us-west-2\nhyperpod:\n  cluster_name: x\n  size: {LONG_INT}\n")
    with pytest.raises(HyperPodConfigError, match="a number is too long: more than 4300 digits"):
        load_config(path)


def test_a_huge_integer_in_a_template_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    template = tmp_path / "t.json"
    template.write_text('{"Resources": {"A": {"Type": "AWS::S3::Bucket", "Properties": {"X": ' + LONG_INT + "}}}}")
    assert main(["--old", str(template), "--new", str(template)]) == 2
    err = capsys.readouterr().err.strip()
    assert "a number is too long" in err and "\n" not in err


@pytest.mark.parametrize(
    "content",
    [
        "[" * 100_000 + "]" * 100_000,  # RecursionError in json.loads
        '{"model_type": "llama", "x": ' + LONG_INT + "}",  # ValueError
        '{"model_type": "llama", "x": [' + ",".join(["0"] * 200_000) + "]}",  # too many values
    ],
)
def test_neuron_check_refuses_hostile_config_json_with_exit_2(
    tmp_path: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from hyperpod_cdk.cli.main import main as cli

    config = tmp_path / "config.json"
    config.write_text(content)
    with time_limit():
        assert cli(["neuron", "check", str(config)]) == 2
    captured = capsys.readouterr()
    assert "not a model's config.json" in captured.err + captured.out
    assert "Traceback" not in captured.err


def test_neuron_check_caps_the_argument_and_unbounded_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hyperpod_cdk.cli.main import main as cli

    assert cli(["neuron", "check", "x" * 100_000]) == 2
    # A device reports size 0 and never ends: the old size check let it be read into memory.
    endless = tmp_path / "config.json"
    endless.symlink_to("/dev/zero")
    with time_limit():
        assert cli(["neuron", "check", str(endless)]) == 2
    assert "too large" in "".join(capsys.readouterr())


# ------------------------------------------------------------------ hyperpod-cdk lint (review M2)

LINT_CASES = {
    # Each one, before the caps: a hang, a RecursionError in the parser or the resolver, a MemoryError.
    "bomb.yaml": (
        "AWSTemplateFormatVersion: '2010-09-09'\n"
        + alias_bomb(levels=8, width=10)
        + "Resources:\n  A:\n    Type: AWS::SNS::Topic\n    Properties: {X: *a8}\n",
        "too large once YAML aliases are expanded",
    ),
    "recursive.yaml": (
        "Resources: &r\n  A:\n    Type: AWS::SNS::Topic\n    Properties: {X: *r}\n",
        "a YAML alias refers to itself",
    ),
    "deep.json": (
        '{"Resources": {"A": {"Type": "AWS::SNS::Topic", "Properties": {"X": ' + "[" * 50_000 + "]" * 50_000 + "}}}}",
        "nested too deeply",
    ),
    "deep_intrinsics.json": (
        '{"Resources": {"A": {"Type": "AWS::SNS::Topic", "Properties": {"X": '
        + '{"Fn::Join": ["", [' * 400
        + '"x"'
        + "]]}" * 400
        + "}}}}",
        "nested too deeply",
    ),
}


@pytest.mark.parametrize("case", sorted(LINT_CASES))
def test_lint_refuses_hostile_templates_with_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    from hyperpod_cdk.cli.main import main as cli_main

    text, expected = LINT_CASES[case]
    path = tmp_path / case
    path.write_text(text)
    with time_limit():
        code = cli_main(["lint", str(path)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert expected in err and len(err.splitlines()) == 1, err


def test_lint_caps_an_unbounded_file(capsys: pytest.CaptureFixture[str]) -> None:
    from hyperpod_cdk.cli.main import main as cli_main

    with time_limit():
        code = cli_main(["lint", "/dev/zero"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == f"error: /dev/zero: too large: more than {TEMPLATE_LIMITS.max_bytes // 2**20} MiB"


def test_lint_caps_cdk_out_templates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hyperpod_cdk.cli.main import main as cli_main

    (tmp_path / "s.template.json").write_text('{"Resources": ' + "[" * 5000 + "]" * 5000 + "}")
    with time_limit():
        code = cli_main(["lint", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "nested too deeply" in err and len(err.splitlines()) == 1


def _sub_bomb(levels: int) -> str:
    value: object = "x"
    for _ in range(levels):
        value = {"Fn::Sub": ["${v}${v}", {"v": value}]}
    return json.dumps(
        {
            "Resources": {
                "C": {"Type": "AWS::SageMaker::Cluster", "Properties": {"ClusterName": value, "InstanceGroups": []}}
            }
        }
    )


def _join_amplifier(copies: int) -> str:
    return json.dumps(
        {
            "Parameters": {"Big": {"Type": "String", "Default": "y" * 1_000_000}},
            "Resources": {
                "C": {
                    "Type": "AWS::SageMaker::Cluster",
                    "Properties": {"ClusterName": {"Fn::Join": ["", [{"Ref": "Big"}] * copies]}, "InstanceGroups": []},
                }
            },
        }
    )


@pytest.mark.parametrize("text", [_sub_bomb(32), _join_amplifier(5_000)], ids=["sub-bomb", "join-amplifier"])
def test_lint_bounds_what_intrinsics_build(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> None:
    """Re-review MEDIUM-B: 1 KB of nested Fn::Sub asked for 2^35 bytes; now the value is just not checked."""
    from hyperpod_cdk.cli.main import main as cli_main

    path = tmp_path / "template.json"
    path.write_text(text)
    with time_limit():
        code = cli_main(["lint", str(path)])
    assert code in (0, 1), capsys.readouterr()


def test_lint_bounds_terraform_dependency_expansion(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Re-review MEDIUM-C: depends_on on a module was expanded resources x dependencies x resources."""
    from hyperpod_cdk.cli.main import main as cli_main

    resources = [
        {
            "address": f"module.m.aws_subnet.s{i}",
            "type": "aws_subnet",
            "name": f"s{i}",
            "values": {"cidr_block": "10.0.0.0/24", "vpc_id": "vpc-1"},
            "depends_on": ["module.m"] * 50,
        }
        for i in range(1_000)
    ]
    path = tmp_path / "show.json"
    path.write_text(json.dumps({"format_version": "1.0", "values": {"root_module": {"resources": resources}}}))
    with time_limit():
        code = cli_main(["lint", str(path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "depends_on expands to over 200,000 dependencies" in err and len(err.splitlines()) == 1


def _split_bomb(copies: int) -> str:
    return json.dumps(
        {
            "Parameters": {"Commas": {"Type": "String", "Default": "," * 4000}},
            "Resources": {
                f"C{i}": {
                    "Type": "AWS::SageMaker::Cluster",
                    "Properties": {
                        "ClusterName": {
                            "Fn::Select": [0, {"Fn::Split": [",", {"Fn::Join": ["", [{"Ref": "Commas"}] * 250]}]}]
                        },
                        "InstanceGroups": [],
                    },
                }
                for i in range(copies)
            },
        }
    )


def _long_parameter(groups: int) -> str:
    return json.dumps(
        {
            "Parameters": {"Big": {"Type": "String", "Default": "y" * 1_000_000}},
            "Resources": {
                "C": {
                    "Type": "AWS::SageMaker::Cluster",
                    "Properties": {
                        "InstanceGroups": [
                            {"InstanceGroupName": {"Ref": "Big"}, "InstanceType": {"Ref": "Big"}, "InstanceCount": 1}
                            for _ in range(groups)
                        ]
                    },
                }
            },
        }
    )


@pytest.mark.parametrize(
    "text",
    [
        _split_bomb(40),
        json.dumps(
            {
                "Resources": {
                    "C": {
                        "Type": "AWS::SageMaker::Cluster",
                        "Properties": {
                            "ClusterName": {"Fn::Select": [0, {"Fn::Split": ["", "abc"]}]},
                            "InstanceGroups": [],
                        },
                    }
                }
            }
        ),
        _long_parameter(2_000),
    ],
    ids=["split-bomb", "split-empty-delimiter", "long-parameter-fan-out"],
)
def test_lint_bounds_split_and_parameters(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> None:
    """Third review: Fn::Split and a 1 MB parameter default (CloudFormation allows 4,096 bytes) fanned out."""
    from hyperpod_cdk.cli.main import main as cli_main

    path = tmp_path / "template.json"
    path.write_text(text)
    with time_limit():
        code = cli_main(["lint", str(path)])
    out = capsys.readouterr()
    assert code in (0, 1) and "Traceback" not in out.err, out.err
    assert max(map(len, out.out.splitlines() or [""])) < 10_000


@pytest.mark.parametrize(
    ("address", "depends_on"),
    [
        ("m." * 30_000 + "aws_subnet.s", []),
        ("module.m.aws_subnet.s", ["[" * 400_000]),
    ],
    ids=["deep-address", "bracket-run"],
)
def test_lint_bounds_terraform_addresses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], address: str, depends_on: list[str]
) -> None:
    """Third review: a 60,000-part address filled the prefix index; a run of '[' made the index regex quadratic."""
    from hyperpod_cdk.cli.main import main as cli_main

    resource = {
        "address": address,
        "type": "aws_subnet",
        "name": "s",
        "values": {"cidr_block": "10.0.0.0/24", "vpc_id": "vpc-1"},
        "depends_on": depends_on,
    }
    path = tmp_path / "show.json"
    path.write_text(json.dumps({"format_version": "1.0", "values": {"root_module": {"resources": [resource]}}}))
    with time_limit():
        code = cli_main(["lint", str(path)])
    err = capsys.readouterr().err.strip()
    assert code in (0, 2) and "Traceback" not in err
    if address.startswith("m."):
        assert code == 2 and "is not a Terraform plan" in err and len(err.splitlines()) == 1


def test_lint_refuses_a_named_pipe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Fourth review: open() of a FIFO blocked until the CI job timed out."""
    from hyperpod_cdk.cli.main import main as cli_main

    pipe = tmp_path / "template.json"
    os.mkfifo(pipe)
    with time_limit():
        code = cli_main(["lint", str(pipe)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.endswith("a named pipe or socket, not a file")


def _yaml_fan_out(count: int) -> str:
    """One long security-group id named ``count`` times by one Lustre file system (YAML aliases)."""
    name = "Sg" + "g" * 1_900
    return (
        f"Resources:\n  ? &id {name}\n  : {{Type: AWS::EC2::SecurityGroup, Properties: {{GroupDescription: g}}}}\n"
        "  Fsx:\n    Type: AWS::FSx::FileSystem\n    Properties:\n      FileSystemType: LUSTRE\n"
        "      SecurityGroupIds: [&r {Ref: *id}" + ", *r" * (count - 1) + "]\n"
    )


def _many_groups_and_rules(count: int) -> str:
    ingress = "".join(
        f"  In{i}: {{Type: AWS::EC2::SecurityGroupIngress, Properties: {{GroupId: sg-{i:08x}, "
        "IpProtocol: tcp, FromPort: 988, ToPort: 988, CidrIp: 10.0.0.0/8}}\n"
        for i in range(count)
    )
    groups = ", ".join(f"sg-{i:08x}" for i in range(count))
    return (
        "Resources:\n  Fsx:\n    Type: AWS::FSx::FileSystem\n    Properties:\n      FileSystemType: LUSTRE\n"
        f"      SecurityGroupIds: [{groups}]\n" + ingress
    )


def _many_eks_clusters(count: int) -> str:
    return (
        "Resources:\n  HelmChart: {Type: 'Custom::HelmChart', Properties: {ServiceToken: x}}\n"
        "  C0: &c\n    Type: AWS::SageMaker::Cluster\n    Properties:\n"
        "      Orchestrator: {Eks: {ClusterArn: arn:aws:eks:us-west-2:111122223333:cluster/e}}\n"
        "      InstanceGroups: []\n" + "".join(f"  C{i}: *c\n" for i in range(1, count))
    )


@pytest.mark.parametrize(
    ("build", "size"),
    [(_yaml_fan_out, 2_000), (_many_groups_and_rules, 400), (_many_eks_clusters, 400)],
    ids=["one-id-named-often", "groups-x-ingress", "clusters-x-resources"],
)
def test_lint_rules_stay_linear(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], build: Callable[[int], str], size: int
) -> None:
    """Fourth review: FSX1 walked every ingress rule per group id, HELM1 every resource per cluster, and one
    YAML-aliased id gave hundreds of thousands of 2,000-character findings.

    Counted, not timed (benchmarks live in bench/): the whole ``lint`` command on twice the input makes
    about twice the function calls (the quadratic loops made about four times as many).
    """
    from hyperpod_cdk.cli.main import main as cli_main
    from hyperpod_cdk.rules.catalog import MAX_FINDINGS_PER_RULE

    codes: list[int] = []

    def lint_once(n: int) -> int:
        path = tmp_path / f"template-{n}.yaml"
        path.write_text(build(n))
        return calls(lambda: codes.append(cli_main(["lint", str(path)])))

    small = lint_once(size)
    capsys.readouterr()
    large = lint_once(2 * size)
    out = capsys.readouterr().out
    assert set(codes) <= {0, 1}
    assert large / small < 2.5, f"{large / small:.2f}x the calls for 2x the input"
    assert len(out.splitlines()) <= 3 * MAX_FINDINGS_PER_RULE
