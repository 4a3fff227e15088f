"""``python -m hyperpod_cdk.guard``: refuse a deploy that would replace or disrupt platform resources.

    python -m hyperpod_cdk.guard --old stack:hyperpod-demo-platform --new cdk.out
    python -m hyperpod_cdk.guard --old cdk.out.deployed --new cdk.out --json

``--old`` is the deployed template (``stack:NAME``, read with CloudFormation GetTemplate,
stage ``Original``; ``stack:`` alone takes the stack name from ``--new``), a saved synth
(a cdk.out directory) or a template file. ``--new`` is a cdk.out directory or a template file.

Exit status: 0 no replacing change (or all accepted with ``--allow-replacement``),
1 replacing/disruptive/blocked changes found, 2 bad arguments, unreadable input or an AWS error.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hyperpod_cdk.guard.comparable import TemplateNotComparableError, check_comparable
from hyperpod_cdk.guard.diff import TooManyFindingsError, compare_templates
from hyperpod_cdk.guard.group_names import GroupNameTooLargeError
from hyperpod_cdk.guard.output import format_text, to_json
from hyperpod_cdk.guard.table import schemas_available
from hyperpod_cdk.input_limits import (
    TEMPLATE_LIMITS,
    BoundedSafeLoader,
    InputLimitError,
    UnreadableInputError,
    check_tree,
    escape_controls,
    escape_lines,
    load_json,
    load_yaml,
    read_regular_text,
)

PROG = "python -m hyperpod_cdk.guard"


class GuardError(Exception):
    """A problem with the arguments or inputs: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line instead of usage + message
        raise GuardError(message)


@dataclass
class Loaded:
    template: dict[str, Any]
    label: str
    stack_name: str | None = None
    region: str | None = None


# --- templates from files and cloud assemblies ----------------------------------------------


class _CfnLoader(BoundedSafeLoader):
    """YAML with CloudFormation short forms (!Ref, !GetAtt, !Sub ...) turned into their long form."""


def _short_form(loader: BoundedSafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _short_form)


# YAML is parsed in pure Python (about 4.5 s per MiB here) and its aliases multiply what the guard walks;
# CloudFormation's own cap is 1 MB of template body in S3 (51,200 bytes inline), so a larger YAML file
# describes no stack that can exist (review round 10, tools, M2: two 8 MiB YAML files took 72 s to parse).
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html
MAX_YAML_TEMPLATE_CHARS = 1024 * 1024


def parse_template(text: str, label: str) -> dict[str, Any]:
    """JSON or YAML (with short forms), within :data:`TEMPLATE_LIMITS` (size, aliases, depth, string keys)."""
    try:
        try:
            data = load_json(text, TEMPLATE_LIMITS)
        except InputLimitError:
            raise
        except ValueError:  # not JSON: try YAML
            if len(text) > MAX_YAML_TEMPLATE_CHARS:
                raise GuardError(
                    f"{label}: a YAML template over 1 MiB; CloudFormation takes at most 1 MB of template "
                    "body, so no deployed stack has one (compare the JSON of `get-template` or a cdk.out)"
                ) from None
            data = load_yaml(text, TEMPLATE_LIMITS, _CfnLoader)
    except InputLimitError as exc:
        raise GuardError(f"{label}: {exc}") from None
    except yaml.YAMLError:
        raise GuardError(f"{label}: neither JSON nor YAML") from None
    return _checked_template(data, label)


def _checked_template(data: Any, label: str) -> dict[str, Any]:
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise GuardError(f"{label}: not a CloudFormation template (no Resources section)")
    try:
        check_comparable(data, label)
    except TemplateNotComparableError as exc:
        raise GuardError(str(exc)) from None
    return data


# The most stacks one cdk.out may list (the same cap as `hyperpod-cdk lint`'s MAX_CDK_OUT_TEMPLATES).
MAX_STACKS = 500


def _read_text(path: Path, *, follow_links: bool = False) -> str:
    """A regular file's text within TEMPLATE_LIMITS; a FIFO, device or (inside a cdk.out) a link is refused.

    Only a file named on the command line is read through a link: a cdk.out is written by synth, and a
    link or pipe in it (or a manifest pointing elsewhere) would make the guard read or wait on anything.
    """
    try:
        return read_regular_text(path, TEMPLATE_LIMITS, follow_links=follow_links)
    except UnreadableInputError as exc:
        shown = str(path)[:200]
        where = f"{shown}:" if exc.kind == "limit" else f"cannot read {shown}:"
        raise GuardError(f"{where} {exc.reason}") from None


# What the CDK writes as a stack artifact's templateFile: a plain name in the assembly's own directory
# (`<artifact id>.template.json`; a stage's stacks sit in their own nested assembly directory, named the
# same way). Checked before Path.resolve(), which is quadratic in the number of path components.
_TEMPLATE_FILE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,255}\.template\.json")


def _template_in(directory: Path, template_file: str, manifest_file: Path) -> Path:
    """``directory / template_file``, refused when the manifest points outside the cdk.out directory."""
    if not _TEMPLATE_FILE_NAME.fullmatch(template_file):
        raise GuardError(
            f"{str(manifest_file)[:200]}: templateFile {template_file[:200]!r} is not a file name in "
            f"{str(directory)[:200]} such as <stack>.template.json; a cdk.out names its templates that way "
            "(synth again)"
        )
    inside = directory.resolve()
    target = (inside / template_file).resolve()
    if Path(template_file).is_absolute() or not target.is_relative_to(inside):
        raise GuardError(
            f"{str(manifest_file)[:200]}: templateFile {template_file[:200]!r} is outside {str(directory)[:200]}; "
            "a cdk.out names its templates relative to itself (synth again)"
        )
    return directory / template_file


def _too_many(directory: Path) -> GuardError:
    return GuardError(f"{directory}: more than {MAX_STACKS} stack templates; not a cdk.out the guard reads")


def _globbed_stacks(directory: Path) -> list[tuple[str, str, Path, str | None]]:
    templates: list[Path] = []
    for template in directory.glob("*.template.json"):
        templates.append(template)
        if len(templates) > MAX_STACKS:
            raise _too_many(directory)
    return [
        (t.name.removesuffix(".template.json"), t.name.removesuffix(".template.json"), t, None)
        for t in sorted(templates)
    ]


def _manifest_stacks(directory: Path) -> list[tuple[str, str, Path, str | None]]:
    """(artifact id, stack name, template file, region) for each stack in a cloud assembly."""
    manifest_file = directory / "manifest.json"
    if not os.path.lexists(manifest_file):
        return _globbed_stacks(directory)
    try:
        manifest = load_json(_read_text(manifest_file), TEMPLATE_LIMITS)
    except InputLimitError as exc:
        raise GuardError(f"{manifest_file}: {exc}") from None
    except ValueError:
        raise GuardError(f"{manifest_file}: not valid JSON") from None
    if not isinstance(manifest, dict):
        raise GuardError(f"{manifest_file}: not a cloud assembly manifest (no artifacts)")
    artifacts = manifest.get("artifacts")
    stacks: list[tuple[str, str, Path, str | None]] = []
    for artifact_id, artifact in artifacts.items() if isinstance(artifacts, dict) else ():
        if not isinstance(artifact, dict) or artifact.get("type") != "aws:cloudformation:stack":
            continue
        props = artifact.get("properties")
        props = props if isinstance(props, dict) else {}
        template_file = props.get("templateFile")
        if not isinstance(template_file, str):
            continue
        if len(stacks) >= MAX_STACKS:
            raise _too_many(directory)
        env = str(artifact.get("environment", ""))
        region = env.rsplit("/", 1)[-1] if env.startswith("aws://") else None
        if region in ("", "unknown-region"):
            region = None
        path = _template_in(directory, template_file, manifest_file)
        stacks.append((artifact_id, str(props.get("stackName") or artifact_id), path, region))
    return stacks


def load_path(source: str, stack: str | None = None, prefer: str | None = None) -> Loaded:
    """A template file, or one stack of a cdk.out dir: ``stack`` if given, else ``prefer`` or the only one."""
    path = Path(source)
    try:
        is_dir = path.is_dir()
        exists = is_dir or path.exists()
    except OSError as exc:  # ENAMETOOLONG, EACCES ...: pathlib ignores only "no such file" (review round 19, R19T-L1)
        raise GuardError(f"cannot read {source[:200]}: {exc.strerror or exc}") from None
    if is_dir:
        stacks = _manifest_stacks(path)
        if not stacks:
            raise GuardError(f"{path}: no stack templates in this directory (run `make synth` first)")
        names = ", ".join(s[1] for s in stacks)
        chosen = [s for s in stacks if (stack or prefer) in (s[0], s[1])]
        if stack and not chosen:
            raise GuardError(f"{path}: no stack named {stack} (found: {names})")
        if not chosen:
            if len(stacks) > 1:
                raise GuardError(f"{path} holds several stacks ({names}); choose one with --stack")
            chosen = stacks
        _, stack_name, template_file, region = chosen[0]
        template = parse_template(_read_text(template_file), str(template_file))
        return Loaded(template, str(template_file), stack_name, region)
    if not exists:
        raise GuardError(f"cannot read {source[:200]}: no such file or directory")
    return Loaded(parse_template(_read_text(path, follow_links=True), source), source)


# --- the deployed template --------------------------------------------------------------------


def _default_client(region: str | None) -> Any:
    import boto3

    return boto3.client("cloudformation", region_name=region) if region else boto3.client("cloudformation")


# Tests replace this with a function returning a stubbed client.
client_factory: Callable[[str | None], Any] = _default_client


def load_stack(name: str, region: str | None) -> Loaded:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client = client_factory(region)
        response = client.get_template(StackName=name, TemplateStage="Original")
        used_region = getattr(getattr(client, "meta", None), "region_name", None) or region
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise GuardError(
            f"cannot read stack {name}: {error.get('Code', 'error')}: {error.get('Message', exc)}"
        ) from None
    except BotoCoreError as exc:
        raise GuardError(f"cannot read stack {name}: {exc}") from None
    body = response.get("TemplateBody")
    label = f"stack:{name}"
    if isinstance(body, dict):  # boto3 parses a JSON body
        try:
            check_tree(body, TEMPLATE_LIMITS)
        except InputLimitError as exc:
            raise GuardError(f"{label}: {exc}") from None
        template = _checked_template(body, label)
    elif isinstance(body, str):
        if len(body.encode("utf-8")) > TEMPLATE_LIMITS.max_bytes:
            raise GuardError(f"{label}: too large: more than {TEMPLATE_LIMITS.max_bytes // (1024 * 1024)} MiB")
        template = parse_template(body, label)
    else:
        raise GuardError(f"{label}: GetTemplate returned no template body")
    return Loaded(dict(template), label, name, used_region)


# --- command ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="List changes between two templates that replace, disrupt or block HyperPod platform "
        "resources; exit 1 when there are any (unless --allow-replacement).",
    )
    parser.add_argument(
        "--old",
        required=True,
        metavar="FILE|DIR|stack:NAME",
        help="deployed template: stack:NAME (GetTemplate), a saved cdk.out dir or a template file",
    )
    parser.add_argument("--new", required=True, metavar="FILE|DIR", help="new synth: a cdk.out dir or a template file")
    parser.add_argument("--stack", metavar="NAME", help="stack to pick when a cdk.out dir holds several")
    parser.add_argument("--region", help="AWS region for stack:NAME and for the resource schemas")
    parser.add_argument(
        "--allow-replacement", action="store_true", help="print the changes but exit 0 (the replacement is intended)"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def run(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    new = load_path(args.new, args.stack)
    if args.old.startswith("stack:"):
        name = args.old.removeprefix("stack:") or args.stack or new.stack_name
        if not name:
            raise GuardError("stack: needs a name (stack:NAME), or a cdk.out dir as --new to take it from")
        old = load_stack(name, args.region or new.region)
    else:
        old = load_path(args.old, args.stack, prefer=new.stack_name)
    region = args.region or new.region or old.region
    if not schemas_available():
        print(f"{PROG}: note: cfn-lint is not installed; only the built-in table is checked", file=sys.stderr)
    try:
        report = compare_templates(old.template, new.template, region)
    except (TooManyFindingsError, GroupNameTooLargeError) as exc:
        raise GuardError(f"{old.label} -> {new.label}: {exc}") from None
    allowed = bool(args.allow_replacement)
    if args.json:
        print(to_json(report, old_label=old.label, new_label=new.label, allowed=allowed))
    else:
        # A template's names reach the terminal escaped (sixth review, L1), as lint's do.
        print(escape_lines(format_text(report, old_label=old.label, new_label=new.label, allowed=allowed)))
    return 1 if report.blocking and not allowed else 0


def main(argv: list[str] | None = None) -> int:
    """Run the guard; return the exit status (0 clean or allowed, 1 changes found, 2 error)."""
    try:
        return run(argv)
    except GuardError as exc:
        print(f"{PROG}: error: {escape_controls(str(exc))}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # output piped into `head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
