"""What the guard reports: one :class:`Finding` per replacing, disruptive or blocked change."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from hyperpod_cdk.guard.values import MISSING

# Most severe first: the order findings are listed in.
SEVERITY = ("blocked", "replacement", "removed", "disruptive")
LOGICAL_ID_PROPERTY = "(logical ID)"


@dataclass
class Finding:
    """One replacing, disruptive or blocked change."""

    logical_id: str
    resource_type: str
    cdk_path: str | None
    property: str
    effect: str
    old: Any
    new: Any
    reason: str
    doc_url: str
    cause: str | None = None
    guarded: bool = True
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["old"] = None if self.old is MISSING else self.old
        data["new"] = None if self.new is MISSING else self.new
        return data


@dataclass
class GuardReport:
    findings: list[Finding] = field(default_factory=list)
    # Replacements of types the guard does not report on (kept for the cascade and a summary line).
    other_replacements: list[Finding] = field(default_factory=list)
    schema_region: str = ""
    # AWS::CloudFormation::Stack resources of the new template: their templates are not compared (R30T-L5).
    nested_stacks: int = 0

    @property
    def blocking(self) -> bool:
        return bool(self.findings)
