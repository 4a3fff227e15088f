"""The one error type users see for bad configuration or construct props."""

from __future__ import annotations

from typing import Any, Literal

# Long inputs (a pasted file, an alias bomb) are cut in messages so the line stays readable.
MAX_SHOWN = 80


class HyperPodConfigError(ValueError):
    """Invalid configuration or construct props.

    ``field`` is the dotted path of the offending value (``hyperpod.instance_groups[0].instance_count``),
    so a CLI or the CDK app can print a single line that names it and says what is allowed.
    ``construct_path`` is set when a construct prop (not a config file) was wrong: the line then
    starts with the construct's path in the tree (``MyStack/Platform/HyperPod``).
    """

    def __init__(self, field: str, message: str, *, construct_path: str | None = None) -> None:
        self.field = field
        self.message = message
        self.construct_path = construct_path
        where = f"{construct_path}: {field}" if construct_path else field
        super().__init__(f"{where}: {message}")


def shown(value: Any) -> str:
    """``repr`` of a user's value, cut to :data:`MAX_SHOWN` characters."""
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def prop_error(scope: Any, construct_id: str, prop: str, message: str) -> HyperPodConfigError:
    """A :class:`HyperPodConfigError` for a construct prop, named by the construct's future path.

    Raised before the construct (and anything jsii would do with the bad value) exists.
    """
    parent = getattr(getattr(scope, "node", None), "path", "")
    path = f"{parent}/{construct_id}" if parent else construct_id
    return HyperPodConfigError(prop, message, construct_path=path)


class checked_props:  # noqa: N801 - used as a context manager, reads as a statement
    """Context manager: a :class:`HyperPodConfigError` raised inside names the construct's path.

    ``with checked_props(scope, "HyperPod"): validate(...)`` turns ``instance_groups[0].instance_type: ...``
    into ``Stack/HyperPod: instance_groups[0].instance_type: ...``.
    """

    def __init__(self, scope: Any, construct_id: str) -> None:
        self.scope = scope
        self.construct_id = construct_id

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: Any, _traceback: Any) -> Literal[False]:
        if isinstance(error, HyperPodConfigError) and error.construct_path is None:
            raise prop_error(self.scope, self.construct_id, error.field, error.message) from None
        return False
