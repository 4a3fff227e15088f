"""Where CloudFormation has the newer SageMaker types this project uses (pure data).

From the per-region provider index of the CloudFormation registry that cfn-lint 1.58 bundles
(``cfnlint/data/schemas/providers/<region>.json``, schema date 2026-10-20), commercial partition
only. ``tests/test_task_governance.py`` compares these sets with the installed cfn-lint, so a
cfn-lint upgrade that adds a region fails the suite until the set is updated here.

Observed, not documented: ``AWS::SageMaker::ClusterSchedulerConfig`` is missing from regions that
have ``AWS::SageMaker::ComputeQuota`` (us-west-2 among them), and the ComputeQuota schema's own
description names regions whose registry lacks the type. Where a type is missing the template
cannot be deployed with it, so the code works from these sets, not from the descriptions.
"""

from __future__ import annotations

SCHEDULER_CONFIG_TYPE = "AWS::SageMaker::ClusterSchedulerConfig"
COMPUTE_QUOTA_TYPE = "AWS::SageMaker::ComputeQuota"

NATIVE_TYPE_REGIONS: dict[str, frozenset[str]] = {
    SCHEDULER_CONFIG_TYPE: frozenset(
        {
            "ap-northeast-1",
            "ap-south-1",
            "eu-central-1",
            "eu-north-1",
            "eu-south-2",
            "us-east-1",
            "us-west-1",
        }
    ),
    COMPUTE_QUOTA_TYPE: frozenset(
        {
            "ap-south-1",
            "ap-southeast-1",
            "ap-southeast-2",
            "ca-central-1",
            "eu-central-1",
            "eu-west-1",
            "eu-west-2",
            "sa-east-1",
            "us-east-1",
            "us-east-2",
            "us-west-2",
        }
    ),
}


def has_native_type(resource_type: str, region: str) -> bool:
    """True when CloudFormation in ``region`` has ``resource_type`` (per the bundled registry index)."""
    return region in NATIVE_TYPE_REGIONS.get(resource_type, frozenset())
