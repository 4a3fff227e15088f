"""The shared command-line helpers (cli/arguments.py) and the small shared pieces the commands use:
aws_errors.unless_missing, Check.verdict, output.show, nodes.node_row."""

from __future__ import annotations

import argparse
import json
import types
from typing import Any

import pytest
from botocore.exceptions import ClientError
from rich.console import Console

from hyperpod_cdk.cli import arguments, aws_errors, output
from hyperpod_cdk.cli.access import AccessError
from hyperpod_cdk.cli.drill import DrillError
from hyperpod_cdk.cli.nodes import NODE_COLUMNS, node_row
from hyperpod_cdk.cli.ssh import SshError
from hyperpod_cdk.cli.update_software import UpdateError


def _client_error(code: str, message: str = "it says so") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "DescribeThing")


def test_matching_accepts_whole_matches_only_and_names_what_it_wanted() -> None:
    parse = arguments.matching(r"[a-z]+", "a lowercase word", max_length=5)
    assert parse("abc") == "abc"
    for bad in ("abc1", "ABC", "abcdef", "abc\n"):
        with pytest.raises(argparse.ArgumentTypeError) as err:
            parse(bad)
        assert str(err.value) == f"'{bad}' is not a lowercase word"


def test_int_between_fills_in_its_range() -> None:
    parse = arguments.int_between(2, 9, "a count ({low} to {high})")
    assert parse("2") == 2
    assert parse("9") == 9
    for bad in ("1", "10", "x", "2.5"):
        with pytest.raises(argparse.ArgumentTypeError) as err:
            parse(bad)
        assert str(err.value) == f"'{bad}' is not a count (2 to 9)"


def test_cluster_name_takes_a_name_or_an_arn() -> None:
    arn = "arn:aws:sagemaker:us-west-2:123456789012:cluster/abcdef012345"
    assert arguments.cluster_name("ml-1") == "ml-1"
    assert arguments.cluster_name(arn) == arn
    with pytest.raises(argparse.ArgumentTypeError, match="is not a HyperPod cluster name"):
        arguments.cluster_name("-ml")


@pytest.mark.parametrize(("error", "default"), [(AccessError, 1), (SshError, 1), (DrillError, 1), (UpdateError, 2)])
def test_command_errors_keep_their_exit_codes(error: type[arguments.CommandError], default: int) -> None:
    assert error("why").code == default
    assert error("why", 3).code == 3
    assert str(error("why")) == "why"


def _module() -> types.ModuleType:
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        arguments.add_cluster(parser)
        arguments.add_yes(parser)

    module = types.ModuleType("fake_command")
    vars(module).update(
        COMMAND="thing", HELP="do the thing", DESCRIPTION="Does the thing, at length.", add_arguments=add_arguments
    )
    return module


def test_register_plugs_a_command_module_in_with_its_texts_options_and_handler() -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true")
    root = argparse.ArgumentParser(prog="hp")
    commands = root.add_subparsers(dest="command", required=True)

    def handler(*_: Any) -> int:
        return 0

    parser = arguments.register(
        arguments.add_group(commands, "group", "a group", "group_command"), _module(), [common], handler
    )
    assert parser.description == "Does the thing, at length."
    args = root.parse_args(["group", "thing", "ml-1", "--yes", "--json"])
    assert (args.cluster, args.yes, args.json, args.handler) == ("ml-1", True, True, handler)
    with pytest.raises(SystemExit):
        root.parse_args(["group"])  # the group needs an action
    with pytest.raises(SystemExit):
        root.parse_args(["group", "thing", "-bad-name!"])


def test_tunnel_port_and_switches() -> None:
    parser = argparse.ArgumentParser()
    arguments.add_tunnel_port(parser)
    arguments.add_switches(parser, [("--force", "force it")])
    args = parser.parse_args([])
    assert (args.tunnel_port, args.force) == (arguments.DEFAULT_LOCAL_PORT, False)
    assert parser.parse_args(["--tunnel-port", "9443", "--force"]).tunnel_port == 9443
    for bad in ("80", "70000", "x"):
        with pytest.raises(argparse.ArgumentTypeError, match="is not a port between 1024 and 65535"):
            arguments.port(bad)


def test_unless_missing_returns_aws_message_for_a_missing_resource_only() -> None:
    assert aws_errors.unless_missing(lambda: {"found": 1}) == {"found": 1}

    def missing() -> None:
        raise _client_error("ResourceNotFoundException", "no such cluster")

    assert aws_errors.unless_missing(missing) == aws_errors.Missing("no such cluster")

    def denied() -> None:
        raise _client_error("AccessDeniedException")

    with pytest.raises(ClientError):
        aws_errors.unless_missing(denied)


def test_an_unanswered_call_reads_the_same_as_a_check_row_and_as_a_report_note() -> None:
    exc = _client_error("AccessDeniedException")
    failure, fix = aws_errors.call_failure("eks", exc, "us-west-2")
    assert failure.startswith("access denied calling eks ") and "eks:" in fix
    # preflight's row leads with "cannot check:"; diagnose and clusters list one line per call.
    assert aws_errors.unchecked_reason("eks", exc, "us-west-2") == (f"cannot check: {failure}", fix)
    assert aws_errors.unchecked_note("eks", exc, "us-west-2") == f"{failure}; {fix}"


def test_check_verdict_shows_the_fix_only_when_not_ok() -> None:
    assert output.Check.verdict(True, "c", "fine", "do x") == output.Check("pass", "c", "fine", "")
    assert output.Check.verdict(False, "c", "broken", "do x") == output.Check("fail", "c", "broken", "do x")
    assert output.Check.verdict(False, "c", "meh", "do y", bad="warn").status == "warn"


def test_show_prints_json_or_renders(capsys: pytest.CaptureFixture[str]) -> None:
    drawn: list[Any] = []

    def render(console: Console, data: Any) -> None:
        drawn.append(data)

    output.show({"a": 1}, True, render)
    assert json.loads(capsys.readouterr().out) == {"a": 1}
    assert drawn == []
    output.show({"a": 2}, False, render)
    assert drawn == [{"a": 2}]


def test_node_row_follows_the_columns() -> None:
    node = {
        "instance_group": "workers",
        "instance_id": "i-0123456789abcdef0",
        "logical_id": "ip-10-1-2-3",
        "instance_type": "ml.g5.8xlarge",
        "status": "Running",
        "message": "",
        "launch_time": None,
    }
    assert dict(zip(NODE_COLUMNS, node_row(node), strict=True)) == {
        "Group": "workers",
        "Node": "i-0123456789abcdef0",
        "Logical ID": "ip-10-1-2-3",
        "Type": "ml.g5.8xlarge",
        "Status": "Running",
        "Message": "",
    }
