"""The one error type users see for bad configuration or construct props."""

from __future__ import annotations


class HyperPodConfigError(ValueError):
    """Invalid configuration or construct props.

    ``field`` is the dotted path of the offending value (``hyperpod.instance_groups[0].instance_count``),
    so a CLI or the CDK app can print a single line that names it and says what is allowed.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")
