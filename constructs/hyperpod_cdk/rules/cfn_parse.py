"""Read a CloudFormation template's text (JSON or YAML with the short-form intrinsics) within caps.

:mod:`hyperpod_cdk.rules.cfn_template` then evaluates what is known offline.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml

from hyperpod_cdk.input_limits import TEMPLATE_LIMITS, BoundedSafeLoader, InputLimitError, load_json, load_yaml

Json = Any


class TemplateError(ValueError):
    """The file is not a CloudFormation template this reader understands (one line for the user)."""


# --------------------------------------------------------------------------- YAML with short forms


class _CfnLoader(BoundedSafeLoader):
    """Safe YAML with CloudFormation's short forms, within TEMPLATE_LIMITS (depth, aliases)."""


def _short_form(loader: yaml.Loader, suffix: str, node: yaml.Node) -> Json:
    name = "Ref" if suffix == "Ref" else ("Condition" if suffix == "Condition" else f"Fn::{suffix}")
    if isinstance(node, yaml.ScalarNode):
        value: Json = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _short_form)
# CloudFormation keeps dates and times as text (AWSTemplateFormatVersion: 2010-09-09).
_CfnLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_template(text: str, source: str = "template") -> Mapping[str, Json]:
    """A template from JSON or YAML text; raises :class:`TemplateError` with one line."""
    stripped = text.lstrip()
    try:
        # Caps on depth and on values after alias expansion: an alias bomb, a self-referencing
        # alias or deep nesting is one line, not a hang, a MemoryError or a RecursionError.
        if stripped.startswith("{"):
            data = load_json(text, TEMPLATE_LIMITS)
        else:
            data = load_yaml(text, TEMPLATE_LIMITS, loader=_CfnLoader)
    except InputLimitError as exc:
        raise TemplateError(f"{source}: {exc}") from None
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TemplateError(f"{source}: not valid JSON or YAML ({first})") from None
    if not isinstance(data, Mapping):
        raise TemplateError(f"{source}: a template is a mapping with a Resources section")
    return data
