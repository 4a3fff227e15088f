"""How old the project's dated tables are, and how to refresh each (pure Python).

HyperPod's instance types, the Kubernetes versions it accepts, add-on versions and what Neuron
trains change every few months; the HyperPod skill asks to "always verify against current
documentation". Each table here records the day it was last checked against its sources; one older
than :data:`MAX_TABLE_AGE_DAYS` gets a warning naming the command or steps that refresh it
(``hyperpod-cdk preflight`` shows it as a ``warn`` row, ``hyperpod-cdk neuron check`` prints it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from hyperpod_cdk.specs import kubernetes_versions, neuron

# EKS and HyperPod publish changes to versions, add-ons and instance types about every quarter
# (the EKS release calendar adds a Kubernetes version roughly every four months), so a table
# unchecked for 90 days may miss one.
MAX_TABLE_AGE_DAYS = 90


@dataclass(frozen=True)
class DatedTable:
    name: str
    checked: dt.date
    refresh: str


def tables() -> tuple[DatedTable, ...]:
    """Every dated table, with the day it was last checked and how to refresh it."""
    # The tables below were last re-checked against their sources on 2026-11-30 (the date the
    # Kubernetes-version module states for its calendar, and the commit that refreshed them all).
    checked_together = dt.date(2026, 11, 30)
    return (
        DatedTable(
            "Neuron architectures (specs/data/neuron_architectures.json)",
            dt.date.fromisoformat(neuron.table_date()),
            "re-check the sources `hyperpod-cdk neuron check <model> --json` lists, update the JSON and its as_of",
        ),
        DatedTable(
            "HyperPod instance types per region (specs/data/hyperpod_instance_types.json)",
            checked_together,
            "pip install -U cfn-lint && make instance-types",
        ),
        DatedTable(
            "instance specifications (specs/data/instance_types.json)",
            checked_together,
            "make instance-types, then add rows for new types from the HyperPod VPC IP table",
        ),
        DatedTable(
            "Kubernetes versions (specs/kubernetes_versions.py)",
            checked_together,
            "compare with the EKS release calendar and HyperPod's 'Kubernetes version support' "
            "(https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-prerequisites.html)",
        ),
        DatedTable(
            "EKS add-on versions (specs/addon_versions.py)",
            checked_together,
            "aws eks describe-addon-versions --addon-name <add-on> --kubernetes-version <version>",
        ),
    )


def today() -> dt.date:
    """The day ages are measured on (kubernetes_versions.today, so one clock is pinned in tests)."""
    return kubernetes_versions.today()


def stale(on: dt.date | None = None, max_age_days: int = MAX_TABLE_AGE_DAYS) -> list[tuple[DatedTable, int]]:
    """(table, age in days) for every table older than ``max_age_days`` on ``on`` (default today)."""
    day = on or today()
    aged = [(table, (day - table.checked).days) for table in tables()]
    return [(table, age) for table, age in aged if age > max_age_days]


def warning(table: DatedTable, age: int) -> str:
    return (
        f"{table.name} was last checked {table.checked.isoformat()} ({age} days ago, more than "
        f"{MAX_TABLE_AGE_DAYS}); refresh: {table.refresh}"
    )


__all__ = ["MAX_TABLE_AGE_DAYS", "DatedTable", "stale", "tables", "today", "warning"]
