"""What every preflight check receives (``preflight.py``): the options, the context with its clients and
config, and ``guarded``, which turns an unanswered AWS call into a warn row."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from hyperpod_cdk.cli import aws_errors
from hyperpod_cdk.cli.clients import Clients
from hyperpod_cdk.cli.output import Check
from hyperpod_cdk.config import PlatformConfig, plan_for_config
from hyperpod_cdk.specs.network_plan import GroupDemand

REQUIRED_EKS_ADDONS: tuple[str, ...] = ("vpc-cni", "kube-proxy", "coredns", "eks-pod-identity-agent")
VPC_QUOTA_CODE = "L-F678F1CE"  # "VPCs per Region"
DEFAULT_VPC_QUOTA = 5
REJECTED_CREDENTIALS = "AWS rejected the credentials"
UNREACHABLE = "cannot reach AWS STS"
EC2_PROXY_NOTE = "EC2 offerings are only a proxy for SageMaker HyperPod capacity, not proof either way"

_T = TypeVar("_T")


def sagemaker_quota_name(instance_type: str) -> str:
    """The Service Quotas name of the HyperPod per-type limit, e.g. 'ml.p5.48xlarge for cluster usage'."""
    return f"{instance_type} for cluster usage"


def ec2_instance_type(instance_type: str) -> str:
    return instance_type.removeprefix("ml.")


@dataclass
class PreflightOptions:
    """What the config cannot say yet: resources the deployment would import instead of create."""

    existing_eks_cluster: str | None = None
    existing_subnet_ids: tuple[str, ...] = ()
    existing_vpc_id: str | None = None  # network.existing.vpc_id (see preflight_existing.options_from_config)
    #: The stack that deploys the platform, when it is not the app's ``<name>-platform`` (a stack of the
    #: user's own CDK app holding ``HyperPodPlatform``): what it holds is not "in the way" on an update.
    stack_name: str | None = None

    @property
    def creates_vpc(self) -> bool:
        return not self.existing_subnet_ids and not self.existing_vpc_id


@dataclass
class Context:
    config: PlatformConfig
    clients: Clients
    region: str
    options: PreflightOptions = field(default_factory=PreflightOptions)
    _zones: list[dict[str, Any]] | None = None
    _eks_cluster: dict[str, Any] | None = None

    def zones(self) -> list[dict[str, Any]]:
        """The region's Availability Zones (ec2 DescribeAvailabilityZones), fetched once."""
        if self._zones is None:
            self._zones = self.clients("ec2").describe_availability_zones()["AvailabilityZones"]
        return self._zones

    def eks_cluster(self) -> dict[str, Any]:
        """eks DescribeCluster's ``cluster`` for ``options.existing_eks_cluster``, fetched once."""
        if self._eks_cluster is None:
            name = self.options.existing_eks_cluster or ""
            self._eks_cluster = self.clients("eks").describe_cluster(name=name)["cluster"]
        return self._eks_cluster

    def zone_id_for_name(self, name: str) -> str | None:
        return next((z["ZoneId"] for z in self.zones() if z.get("ZoneName") == name), None)

    def group_demands_by_az(self) -> dict[str, list[GroupDemand]]:
        """Per-AZ node IP demand, from the same subnet plan the CDK app builds."""
        return {plan.az_id: list(plan.groups) for plan in plan_for_config(self.config)}


def guarded(name: str, service: str, ctx: Context, fn: Callable[[], list[Check]]) -> list[Check]:
    """Run one check; turn an AWS error it cannot get past into a ``warn`` row naming the cause."""
    try:
        return fn()
    except aws_errors.SETUP_ERRORS:
        raise
    except (ClientError, BotoCoreError) as exc:
        reason, fix = aws_errors.unchecked_reason(service, exc, ctx.region)
        return [Check("warn", name, reason, fix)]


def describe_existing(ctx: Context, check: str, what: str, fix: str, call: Callable[[], _T]) -> _T | Check:
    """``call()``'s answer about a resource the config names, or the ``fail`` row ``check`` reports when
    AWS says ``what`` does not exist (or answers with nothing); ``fix`` names the setting to correct.
    Any other AWS error propagates to :func:`guarded`."""
    found = aws_errors.unless_missing(call)
    if isinstance(found, aws_errors.Missing) or not found:
        detail = f": {found.message}" if isinstance(found, aws_errors.Missing) else ""
        return Check("fail", check, f"{what} not found in {ctx.region}{detail}", fix)
    return found
