"""The HyperPod elastic agent (``hyperpodrun``) of a HyperPodPyTorchJob (``jobs.py``): its options, the
checks of its flags and the argv builder ``hyperpodrun_args``."""

from __future__ import annotations

import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hyperpod_cdk.kubernetes.charts.job_checks import (
    _BUILDER_FLAGS,
    AGENT_FLAG_DEFAULTS,
    AGENT_LOG_DIR,
    AGENT_LOG_LEVELS,
    _check_int,
    _fail,
    check_nproc_per_node,
)


def _check_signal(path: str, value: Any) -> None:
    if not isinstance(value, str) or value not in signal.Signals.__members__:
        raise _fail(path, f"{value!r} is not a signal name such as SIGTERM or SIGKILL")


def _check_seconds(path: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(path, f"must be a whole number of seconds, 0 or more (got {value!r})")


def _check_port(path: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise _fail(path, f"must be a TCP port, 1-65535 (got {value!r})")


@dataclass(frozen=True)
class ElasticAgentOptions:
    """The flags ``hyperpodrun`` (the HyperPod elastic agent) adds to torchrun's, typed.

    Defaults are the agent's own (see :data:`AGENT_FLAG_DEFAULTS` for the source); only values that
    differ from them are written, except the server address, which is always written so the
    operator and the pod agree on it.

    - ``shutdown_signal`` (``SIGKILL``): the signal sent to workers to stop them.
    - ``shutdown_timeout`` (30 s): time between SIGTERM and SIGKILL.
    - ``server_host`` (``0.0.0.0``) / ``server_port`` (8080): where the agent serves the operator.
    - ``server_log_level`` (``info``): the agent server's log level.
    - ``server_shutdown_timeout`` (300 s): how long the agent server takes to shut down.
    - ``pre_train_script`` / ``pre_train_args`` (none): a script run before training, and its
      arguments as one string; ``post_train_script`` / ``post_train_args`` likewise after it.
    """

    shutdown_signal: str = "SIGKILL"
    shutdown_timeout: int = 30
    server_host: str = "0.0.0.0"
    server_port: int = 8080
    server_log_level: str = "info"
    server_shutdown_timeout: int = 300
    pre_train_script: str | None = None
    pre_train_args: str | None = None
    post_train_script: str | None = None
    post_train_args: str | None = None

    def __post_init__(self) -> None:
        check_agent_values("agent", {key.replace("_", "-"): getattr(self, key) for key in _AGENT_FIELDS}, parsed=True)

    def to_args(self) -> list[str]:
        args = [f"--server-host={self.server_host}", f"--server-port={self.server_port}"]
        for key in _AGENT_FIELDS:
            flag = key.replace("_", "-")
            value = getattr(self, key)
            if flag in ("server-host", "server-port") or value is None or value == AGENT_FLAG_DEFAULTS[flag]:
                continue
            args.append(f"--{flag}={value}")
        return args


_AGENT_FIELDS: tuple[str, ...] = tuple(flag.replace("-", "_") for flag in AGENT_FLAG_DEFAULTS)


def check_agent_values(prefix: str, flags: Mapping[str, Any], *, parsed: bool = False) -> None:
    """Check elastic-agent flag values; ``flags`` maps ``shutdown-timeout`` style names to values.

    From a command line (``parsed=False``) values are strings; the field named in an error is
    ``<prefix>`` plus the attribute (``agent.shutdown_timeout``) or the flag (``--shutdown-timeout``).
    """

    def where(flag: str) -> str:
        return f"{prefix}.{flag.replace('-', '_')}" if parsed else f"{prefix} --{flag}"

    def number(flag: str) -> Any:
        value = flags[flag]
        if not parsed and isinstance(value, str) and value.isdigit():
            return int(value)
        return value

    if "shutdown-signal" in flags:
        _check_signal(where("shutdown-signal"), flags["shutdown-signal"])
    for flag in ("shutdown-timeout", "server-shutdown-timeout"):
        if flag in flags:
            _check_seconds(where(flag), number(flag))
    if "server-port" in flags:
        _check_port(where("server-port"), number("server-port"))
    if "server-host" in flags and (not isinstance(flags["server-host"], str) or not flags["server-host"]):
        raise _fail(where("server-host"), "must be an address to listen on, such as 0.0.0.0")
    if "server-log-level" in flags and flags["server-log-level"] not in AGENT_LOG_LEVELS:
        raise _fail(
            where("server-log-level"), f"{flags['server-log-level']!r} is not one of {', '.join(AGENT_LOG_LEVELS)}"
        )
    for stage in ("pre-train", "post-train"):
        script, args = flags.get(f"{stage}-script"), flags.get(f"{stage}-args")
        if script is not None and (not isinstance(script, str) or not script):
            raise _fail(where(f"{stage}-script"), "must be the path of a script in the image")
        if args is not None and not isinstance(args, str):
            raise _fail(where(f"{stage}-args"), 'must be one string of arguments, such as "a b c"')
        if args is not None and script is None:
            raise _fail(
                where(f"{stage}-args"), f"is passed to the {stage} script, which is not set; " f"set {stage}-script too"
            )


def _agent_flags(argv: Sequence[str]) -> dict[str, str]:
    """``--flag=value`` and ``--flag value`` options before the script in a hyperpodrun command line.

    Names are normalised to dashes (``--log_dir`` is ``log-dir``). A known agent flag takes the next
    word as its value; any other ``--flag value`` pair is a torchrun option whose value is not needed.
    """
    flags: dict[str, str] = {}
    index = 0
    while index < len(argv):
        item = argv[index]
        if not item.startswith("--"):
            break
        key, sep, value = item[2:].partition("=")
        key = key.replace("_", "-")
        if sep:
            flags[key] = value
        elif (key in AGENT_FLAG_DEFAULTS or key in _BUILDER_FLAGS or key == "rdzv-backend") and index + 1 < len(argv):
            flags[key] = argv[index + 1]
            index += 1
        index += 1
    return flags


def check_agent_argv(prefix: str, argv: Sequence[str], *, log_rules: bool) -> dict[str, str]:
    """Check the agent's flags in a hyperpodrun command line; returns them (dash-named).

    The log directory must be the one the agent and the log-monitoring rules use
    (:data:`AGENT_LOG_DIR`); with log-monitoring rules it must be given.
    """
    flags = _agent_flags(argv)
    check_agent_values(prefix, {k: v for k, v in flags.items() if k in AGENT_FLAG_DEFAULTS})
    log_dir = flags.get("log-dir")
    if log_dir is not None and log_dir.rstrip("/") != AGENT_LOG_DIR:
        raise _fail(
            f"{prefix} --log_dir",
            f"{log_dir} is not {AGENT_LOG_DIR}, where the elastic agent saves the "
            "worker logs the log-monitoring rules read; use "
            f"--log_dir={AGENT_LOG_DIR}",
        )
    if log_dir is None and log_rules:
        raise _fail(
            f"{prefix} --log_dir",
            f"log-monitoring rules read the worker logs the agent saves in "
            f"{AGENT_LOG_DIR}; add --log_dir={AGENT_LOG_DIR} (and --tee=3)",
        )
    return flags


def hyperpodrun_args(
    *,
    nnodes: int,
    nproc_per_node: int | str,
    script: str,
    script_args: Sequence[str] = (),
    server_host: str = "0.0.0.0",
    server_port: int = 8080,
    tee: int = 3,
    log_dir: str = AGENT_LOG_DIR,
    agent_args: Sequence[str] = (),
    agent: ElasticAgentOptions | None = None,
) -> list[str]:
    """Arguments for ``command: [hyperpodrun]``: the elastic-agent flags, then the script and its args.

    The agent serves the operator on ``server_host:server_port``; ``tee=3`` copies worker stdout and
    stderr to the container log, and the agent saves them in ``log_dir``, which must be
    ``/tmp/hyperpod`` (what the log-monitoring rules read). The agent's own flags are typed in
    ``agent`` (:class:`ElasticAgentOptions`); ``agent_args`` is for torchrun options only.
    """
    _check_int("hyperpodrun.nnodes", nnodes, 1)
    nproc = check_nproc_per_node("hyperpodrun.nproc_per_node", nproc_per_node)
    _check_port("hyperpodrun.server_port", server_port)
    if not isinstance(script, str) or not script:
        raise _fail("hyperpodrun.script", "the training script path is required")
    if not isinstance(log_dir, str) or log_dir.rstrip("/") != AGENT_LOG_DIR:
        raise _fail(
            "hyperpodrun.log_dir",
            f"{log_dir!r} is not {AGENT_LOG_DIR}, where the elastic agent saves the "
            "worker logs the log-monitoring rules read; leave the default",
        )
    if agent is None:
        agent = ElasticAgentOptions(server_host=server_host, server_port=server_port)
    elif not isinstance(agent, ElasticAgentOptions):
        raise _fail("hyperpodrun.agent", "must be an ElasticAgentOptions")
    elif (server_host, server_port) != ("0.0.0.0", 8080):
        raise _fail("hyperpodrun.server_port", "give the server address in agent=ElasticAgentOptions(...) only")
    for index, item in enumerate(agent_args):
        if not isinstance(item, str):
            raise _fail(f"hyperpodrun.agent_args[{index}]", f"must be a string (got {item!r})")
        key = item[2:].partition("=")[0].replace("_", "-") if item.startswith("--") else ""
        if key in AGENT_FLAG_DEFAULTS:
            raise _fail(
                f"hyperpodrun.agent_args[{index}]",
                f"--{key} is typed: pass " f"agent=ElasticAgentOptions({key.replace('-', '_')}=...) instead",
            )
        if key in _BUILDER_FLAGS:
            raise _fail(
                f"hyperpodrun.agent_args[{index}]",
                f"--{key} is set by hyperpodrun_args itself; " "use its keyword argument",
            )
    return [
        f"--nnodes={nnodes}",
        f"--nproc-per-node={nproc}",
        *agent.to_args(),
        f"--tee={tee}",
        f"--log_dir={AGENT_LOG_DIR}",
        *agent_args,
        script,
        *script_args,
    ]
