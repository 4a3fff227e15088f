"""Reading ``hyperpod.yaml``: parse, load and the JSON Schema of :class:`PlatformConfig`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ValidationError,
)

from hyperpod_cdk import input_limits
from hyperpod_cdk.config.base import _VALIDATING
from hyperpod_cdk.config.messages import explain, first_error, yaml_error_message
from hyperpod_cdk.config.platform import PlatformConfig
from hyperpod_cdk.errors import HyperPodConfigError


def _explain(error: Any, data: Any, root: type[BaseModel] | None = None) -> HyperPodConfigError:
    """One plain line for a pydantic error (see :mod:`hyperpod_cdk.config.messages`)."""
    return explain(error, data, root or PlatformConfig)


def parse_config(data: Any) -> PlatformConfig:
    """Validate a mapping; raise one :class:`HyperPodConfigError` for the first problem found."""
    token = _VALIDATING.set(True)
    try:
        return PlatformConfig.model_validate(data)
    except ValidationError as exc:
        raise _explain(first_error(exc.errors(), data), data) from None
    finally:
        _VALIDATING.reset(token)


def load_config(path: str | Path) -> PlatformConfig:
    """Read and validate a YAML config file."""
    file = Path(path)
    try:
        text = input_limits.read_text(file, input_limits.CONFIG_LIMITS)
    except OSError as exc:
        raise HyperPodConfigError(str(file), f"cannot read the config file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise HyperPodConfigError(str(file), "the config file is not UTF-8 text") from None
    except input_limits.InputLimitError as exc:
        raise HyperPodConfigError(str(file), str(exc)) from None
    try:
        # Capped: an alias bomb or deep nesting would otherwise hang or overflow in validation.
        data = input_limits.load_yaml(text, input_limits.CONFIG_LIMITS)
    except input_limits.InputLimitError as exc:
        raise HyperPodConfigError(str(file), str(exc)) from None
    except yaml.YAMLError as exc:
        raise HyperPodConfigError(str(file), yaml_error_message(exc)) from None
    if not isinstance(data, dict):
        raise HyperPodConfigError(str(file), "the config must be a YAML mapping (name:, region:, network: ...)")
    return parse_config(data)


def json_schema() -> dict[str, Any]:
    """The JSON Schema editors use for completion and validation of ``hyperpod.yaml``."""
    return PlatformConfig.model_json_schema()
