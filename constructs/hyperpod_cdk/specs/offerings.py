"""Which instance types SageMaker HyperPod offers in each region (vendored, no AWS calls).

The list is cfn-lint's per-region enum for ``AWS::SageMaker::Cluster`` ``InstanceType`` (the data
behind rule E3644), copied into ``data/hyperpod_instance_types.json`` so that config validation
can use it without cfn-lint at run time. ``make instance-types`` refreshes it from the installed
cfn-lint; a test fails when the copy and cfn-lint disagree.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "hyperpod_instance_types.json"
CFN_LINT_DATA = "data/schemas/extensions/aws_sagemaker_cluster/instancetype_enum.json"


@cache
def offerings() -> dict[str, frozenset[str]]:
    regions = json.loads(DATA.read_text(encoding="utf-8"))["regions"]
    return {region: frozenset(types) for region, types in regions.items()}


def offered_in(region: str) -> frozenset[str] | None:
    """The types offered in ``region``, or None when the list does not cover the region."""
    return offerings().get(region)


def from_cfn_lint() -> dict[str, list[str]]:
    """The same table read from the installed cfn-lint (a dev dependency)."""
    import cfnlint

    raw = json.loads((Path(cfnlint.__file__).parent / CFN_LINT_DATA).read_text(encoding="utf-8"))
    return {region: sorted(value["enum"]) for region, value in sorted(raw.items()) if isinstance(value, dict)}


def refresh() -> None:
    from importlib.metadata import version

    payload = {
        "_source": f"cfn-lint {version('cfn-lint')} {CFN_LINT_DATA} (refresh with `make instance-types`)",
        "regions": from_cfn_lint(),
    }
    DATA.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    refresh()
