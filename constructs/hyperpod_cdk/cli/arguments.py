"""What the ``hyperpod-cdk`` commands share on the command line, said once.

Argument types that check a value and name the fix in one line, the subcommand set-up every
command module repeats (parents, help, description, handler), and the options several commands
take: the target cluster, the SSM tunnel's local port, ``--yes``. Imports argparse and re only,
so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

__all__ = [
    "CLUSTER_HELP",
    "CLUSTER_PATTERN",
    "DEFAULT_LOCAL_PORT",
    "CommandError",
    "add_cluster",
    "add_command",
    "add_group",
    "add_switches",
    "add_tunnel_port",
    "add_yes",
    "cluster_name",
    "int_between",
    "matching",
    "port",
    "register",
]

CLUSTER_HELP = "HyperPod cluster name or ARN (default: the config's hyperpod.cluster_name)"
# SageMaker's ClusterName accepts a name or a cluster ARN.
CLUSTER_PATTERN = re.compile(
    r"^(arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:cluster/[a-z0-9]{12}|[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62})$"
)
# Local end of the SSM port-forwarding tunnel to a private EKS endpoint (kubeconfig, verify, jobs).
DEFAULT_LOCAL_PORT = 8443


class CommandError(Exception):
    """A problem the user can fix; ``code`` is the exit status (``default_code`` unless given)."""

    default_code = 1

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = self.default_code if code is None else code


# ----------------------------------------------------------------------------- argument types


def matching(pattern: str | re.Pattern[str], what: str, *, max_length: int | None = None) -> Callable[[str], str]:
    """An argparse type that accepts a value ``pattern`` matches in full (and no longer than
    ``max_length``), else fails with ``'<value>' is not <what>``."""
    compiled = re.compile(pattern)

    def parse(value: str) -> str:
        if (max_length is not None and len(value) > max_length) or not compiled.fullmatch(value):
            raise argparse.ArgumentTypeError(f"'{value}' is not {what}")
        return value

    return parse


def int_between(low: int, high: int, what: str) -> Callable[[str], int]:
    """An argparse type for a whole number from ``low`` to ``high``; ``what`` names it in the error
    and may say ``{low}`` and ``{high}``."""
    described = what.format(low=low, high=high)

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = low - 1
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"'{value}' is not {described}")
        return number

    return parse


cluster_name = matching(CLUSTER_PATTERN, "a HyperPod cluster name (letters, digits, hyphens; max 63) or cluster ARN")


def port(value: str) -> int:
    """A local TCP port a user may bind (1024 to 65535)."""
    if not value.isdigit() or not 1024 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"'{value}' is not a port between 1024 and 65535")
    return int(value)


# ----------------------------------------------------------------------------- parsers


def add_command(
    commands: Any,
    name: str,
    parents: Sequence[argparse.ArgumentParser],
    handler: Callable[..., int] | None,
    **texts: str | None,
) -> argparse.ArgumentParser:
    """Register subcommand ``name`` under ``commands`` with the common options of ``parents``;
    ``texts`` are argparse's ``help`` and ``description``; ``handler`` runs it."""
    parser: argparse.ArgumentParser = commands.add_parser(name, parents=list(parents), **texts)
    if handler is not None:
        parser.set_defaults(handler=handler)
    return parser


def add_group(commands: Any, name: str, help: str, dest: str, metavar: str = "ACTION") -> Any:
    """Command ``name`` whose actions are subcommands (``nodes list``, ``drill node-fault``); returns
    the subparsers to add them to, one of which must be given."""
    group = commands.add_parser(name, help=help)
    return group.add_subparsers(dest=dest, required=True, metavar=metavar)


def register(
    commands: Any, module: ModuleType, parents: Sequence[argparse.ArgumentParser], handler: Callable[..., int]
) -> argparse.ArgumentParser:
    """Subcommand ``module.COMMAND`` with the module's ``HELP`` and ``DESCRIPTION`` texts and the
    arguments its ``add_arguments(parser)`` adds: how a command module plugs into ``cli/main.py``."""
    parser = add_command(commands, module.COMMAND, parents, handler, help=module.HELP, description=module.DESCRIPTION)
    module.add_arguments(parser)
    return parser


def add_cluster(parser: argparse.ArgumentParser, *, option: bool = False, help: str | None = CLUSTER_HELP) -> None:
    """The target cluster: an optional first positional ``CLUSTER``, or ``--cluster`` where a
    positional would clash with the command's own (node names)."""
    if option:
        parser.add_argument("--cluster", type=cluster_name, metavar="CLUSTER", help=help)
    else:
        parser.add_argument("cluster", type=cluster_name, nargs="?", metavar="CLUSTER", help=help)


def add_tunnel_port(parser: argparse.ArgumentParser, flag: str = "--tunnel-port", help: str | None = None) -> None:
    """The local port of the SSM tunnel a private EKS endpoint is reached through."""
    parser.add_argument(
        flag,
        type=port,
        default=DEFAULT_LOCAL_PORT,
        metavar="PORT",
        help=help or f"local port of the SSM tunnel for a private endpoint (default {DEFAULT_LOCAL_PORT})",
    )


def add_switches(parser: argparse.ArgumentParser, switches: Sequence[tuple[str, str]]) -> None:
    """On/off options, as (flag, help) pairs."""
    for flag, text in switches:
        parser.add_argument(flag, action="store_true", help=text)


def add_yes(parser: argparse.ArgumentParser) -> None:
    """``--yes``/``-y`` for commands that ask before changing something."""
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
