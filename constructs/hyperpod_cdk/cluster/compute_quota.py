"""HyperPodComputeQuota: one team's guaranteed compute on a HyperPod cluster (task governance)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from aws_cdk import CfnResource, Token
from constructs import Construct
from pydantic import ValidationError

from hyperpod_cdk.config.charts import MAX_QUOTA_RESOURCES, NAMESPACE_PREFIX, TEAM_NAME_PATTERN, QuotaResource
from hyperpod_cdk.errors import prop_error
from hyperpod_cdk.rules.acknowledge import BUILTIN_UNKNOWN_TYPE, OLD_BUILTIN_SCHEMAS, acknowledge

# aws-cdk-lib 2.275 has no L1 class for this type (no CfnComputeQuota), so it is a CfnResource.
RESOURCE_TYPE = "AWS::SageMaker::ComputeQuota"
# Same Name rule as the scheduler config (cfn-lint 1.58 registry schema of the type).
NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"


class HyperPodComputeQuota(Construct):
    """An ``AWS::SageMaker::ComputeQuota``: a team's share of the cluster, per instance type.

    SageMaker materializes the team as the namespace ``hyperpod-ns-<team_name>`` with the LocalQueue
    ``hyperpod-ns-<team_name>-localqueue`` pointing at the ClusterQueue
    ``hyperpod-ns-<team_name>-clusterqueue`` (registry schema of the type; aws/sagemaker-hyperpod-cli
    ``cli/constants/command_constants.py``). Create it after the task-governance add-on is running.

    ``name``, ``cluster_arn`` and ``team_name`` are create-only. A replacement deletes the old
    quota before creating the new one (the type's ``replacementStrategy: delete_then_create``),
    so the team is briefly without a quota.

    Args:
        cluster_arn: ARN of the EKS-orchestrated HyperPod cluster (``cluster/<id>`` form).
        team_name: the team (at most 40 of a-z, 0-9, '-').
        name: quota name, 1-63 of a-z, A-Z, 0-9 and '-'.
        resources: 1-15 :class:`~hyperpod_cdk.config.charts.QuotaResource` (or mappings with its keys).
        fair_share_weight: 0-100. Default: SageMaker's (0).
        resource_sharing: ``LendAndBorrow`` (default), ``Lend`` or ``DontLend``.
        borrow_limit_percent: LendAndBorrow only, 1-500. Default: SageMaker's (50).
        preempt_team_tasks: ``LowerPriority`` (default) or ``Never``.
        enabled: ``ActivationState``. Default: True.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster_arn: str,
        team_name: str,
        name: str,
        resources: Sequence[QuotaResource | Mapping[str, Any]],
        fair_share_weight: int | None = None,
        resource_sharing: Literal["LendAndBorrow", "Lend", "DontLend"] = "LendAndBorrow",
        borrow_limit_percent: int | None = None,
        preempt_team_tasks: Literal["LowerPriority", "Never"] = "LowerPriority",
        enabled: bool = True,
        description: str | None = None,
    ) -> None:
        def fail(prop: str, message: str) -> Exception:
            return prop_error(scope, construct_id, prop, message)

        if not re.fullmatch(TEAM_NAME_PATTERN, team_name):
            raise fail("team_name", f"'{team_name}' must be at most 40 characters of a-z, 0-9 and '-'")
        if not Token.is_unresolved(name) and not re.fullmatch(NAME_PATTERN, name):
            raise fail("name", f"'{name}' must be 1-63 characters of a-z, A-Z, 0-9 and '-'")
        if not 1 <= len(resources) <= MAX_QUOTA_RESOURCES:
            raise fail("resources", f"give 1-{MAX_QUOTA_RESOURCES} instance types, got {len(resources)}")
        checked: list[QuotaResource] = []
        for index, resource in enumerate(resources):
            try:
                checked.append(
                    resource if isinstance(resource, QuotaResource) else QuotaResource.model_validate(resource)
                )
            except ValidationError as exc:
                raise fail(f"resources[{index}]", str(exc.errors()[0]["msg"]).removeprefix("Value error, ")) from None
        if fair_share_weight is not None and not 0 <= fair_share_weight <= 100:
            raise fail("fair_share_weight", f"must be 0-100, got {fair_share_weight}")
        if resource_sharing not in ("LendAndBorrow", "Lend", "DontLend"):
            raise fail("resource_sharing", f"must be LendAndBorrow, Lend or DontLend, got {resource_sharing!r}")
        if borrow_limit_percent is not None:
            if resource_sharing != "LendAndBorrow":
                raise fail("borrow_limit_percent", "only used with resource_sharing LendAndBorrow")
            # The schema admits 0-10000; the service documents 1-500.
            if not 1 <= borrow_limit_percent <= 500:
                raise fail("borrow_limit_percent", f"must be 1-500, got {borrow_limit_percent}")
        if preempt_team_tasks not in ("LowerPriority", "Never"):
            raise fail("preempt_team_tasks", f"must be LowerPriority or Never, got {preempt_team_tasks!r}")
        super().__init__(scope, construct_id)
        self.team_name = team_name
        sharing: dict[str, Any] = {"Strategy": resource_sharing}
        if borrow_limit_percent is not None:
            sharing["BorrowLimit"] = borrow_limit_percent
        target: dict[str, Any] = {"TeamName": team_name}
        if fair_share_weight is not None:
            target["FairShareWeight"] = fair_share_weight
        properties: dict[str, Any] = {
            "Name": name,
            "ClusterArn": cluster_arn,
            "ActivationState": "Enabled" if enabled else "Disabled",
            "ComputeQuotaTarget": target,
            "ComputeQuotaConfig": {
                "ComputeQuotaResources": [_resource(r) for r in checked],
                "ResourceSharingConfig": sharing,
                "PreemptTeamTasks": preempt_team_tasks,
            },
        }
        if description is not None:
            properties["Description"] = description
        self.resource = CfnResource(self, "Resource", type=RESOURCE_TYPE, properties=properties)
        acknowledge(self.resource, BUILTIN_UNKNOWN_TYPE, OLD_BUILTIN_SCHEMAS)

    @property
    def compute_quota_arn(self) -> str:
        return self.resource.get_att("ComputeQuotaArn").to_string()

    @property
    def namespace(self) -> str:
        """The namespace SageMaker creates for the team."""
        return f"{NAMESPACE_PREFIX}{self.team_name}"


def _resource(resource: QuotaResource) -> dict[str, Any]:
    out: dict[str, Any] = {"InstanceType": resource.instance_type}
    for key, value in (
        ("Count", resource.count),
        ("Accelerators", resource.accelerators),
        ("VCpu", resource.vcpu),
        ("MemoryInGiB", resource.memory_gib),
    ):
        if value is not None:
            out[key] = value
    return out
