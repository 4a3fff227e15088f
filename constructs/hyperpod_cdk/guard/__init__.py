"""Replacement guard: catch template changes that would replace or disrupt platform resources.

Library use::

    from hyperpod_cdk.guard import compare_templates
    report = compare_templates(deployed_template, new_template, region="us-west-2")
    for finding in report.findings:
        print(finding.logical_id, finding.property, finding.effect)

Command line: ``python -m hyperpod_cdk.guard --old stack:NAME --new cdk.out`` (see ``__main__``).
"""

from __future__ import annotations

from hyperpod_cdk.guard.diff import compare_templates
from hyperpod_cdk.guard.findings import Finding, GuardReport
from hyperpod_cdk.guard.table import (
    GUARDED_TYPES,
    HAND_TABLE,
    STATEFUL_TYPES,
    GuardedProperty,
    full_table,
    guarded_properties,
    schema_create_only,
)

__all__ = [
    "GUARDED_TYPES",
    "HAND_TABLE",
    "STATEFUL_TYPES",
    "Finding",
    "GuardReport",
    "GuardedProperty",
    "compare_templates",
    "full_table",
    "guarded_properties",
    "main",
    "schema_create_only",
]


def main(argv: list[str] | None = None) -> int:
    """The ``python -m hyperpod_cdk.guard`` command; returns its exit status."""
    # Imported here so that ``python -m hyperpod_cdk.guard`` does not import __main__ twice.
    from hyperpod_cdk.guard.__main__ import main as _main

    return _main(argv)
