"""HyperPodPlatform's prop checks: every bad combination as one line naming the prop, before anything exists."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aws_cdk import Stack, Token
from constructs import Construct

from hyperpod_cdk._cdk_util import cluster_attribute
from hyperpod_cdk.cluster.instance_groups import subnet_cidr
from hyperpod_cdk.config import PlatformConfig, group_demands, parse_config
from hyperpod_cdk.errors import HyperPodConfigError, prop_error
from hyperpod_cdk.network.subnets import HyperPodEgress
from hyperpod_cdk.specs.instance_types import Orchestrator
from hyperpod_cdk.specs.network_plan import plan_existing_subnets


def _check_platform_props(
    scope: Construct,
    construct_id: str,
    *,
    config: Any,
    vpc: Any,
    hyperpod_subnets: Mapping[str, Any] | None,
    control_plane_subnets: Sequence[Any] | None,
    hyperpod_egress: Any,
    eks_cluster: Any,
) -> None:
    """Every prop combination problem, as one line naming the prop, before anything is created (the
    props' types are checked from their annotations first: ``typed_props`` on the constructor)."""

    def fail(prop: str, message: str) -> HyperPodConfigError:
        return prop_error(scope, construct_id, prop, message)

    if not isinstance(config, PlatformConfig):
        raise fail("config", "pass a PlatformConfig: load_config('hyperpod.yaml') or parse_config({...})")
    region = Stack.of(scope).region
    if not Token.is_unresolved(region) and region != config.region:
        raise fail("config.region", f"'{config.region}' but the stack deploys to {region}; make them the same")
    account = Stack.of(scope).account
    if config.account is not None and not Token.is_unresolved(account) and account != config.account:
        raise fail("config.account", f"'{config.account}' but the stack deploys to {account}; make them the same")
    net = config.network
    if hyperpod_subnets is not None and not isinstance(hyperpod_subnets, Mapping):
        raise fail("hyperpod_subnets", f"expected a mapping {{az_id: subnet}}, got {type(hyperpod_subnets).__name__}")
    _check_vpc_props(fail, net, vpc, hyperpod_subnets, control_plane_subnets, hyperpod_egress, eks_cluster)
    if hyperpod_subnets is not None:
        _check_subnets(fail, config, hyperpod_subnets)
    if config.orchestrator == "slurm":
        if eks_cluster is not None:
            raise fail("eks_cluster", "only used with orchestrator: eks")
        return
    _check_eks_props(fail, config, vpc, control_plane_subnets, eks_cluster)


def _check_vpc_props(
    fail: Callable[[str, str], HyperPodConfigError],
    net: Any,
    vpc: Any,
    hyperpod_subnets: Any,
    control_plane_subnets: Any,
    hyperpod_egress: Any,
    eks_cluster: Any,
) -> None:
    """The VPC props: what goes with vpc=, and that the VPC is given one way."""
    if vpc is None and eks_cluster is not None and net.existing is not None:
        pass  # the cluster's VPC comes from config network.existing
    elif vpc is None:
        for prop, value in (
            ("hyperpod_subnets", hyperpod_subnets),
            ("control_plane_subnets", control_plane_subnets),
            ("hyperpod_egress", hyperpod_egress),
        ):
            if value is not None:
                raise fail(prop, "only used with vpc= (an existing VPC)")
    else:
        if net.existing is not None:
            raise fail("vpc", "config.network.existing describes a VPC too; give the VPC one way")
        if hyperpod_subnets is None and hyperpod_egress is None:
            raise fail(
                "hyperpod_subnets",
                "with vpc=, give hyperpod_subnets={az_id: subnet} or hyperpod_egress=HyperPodEgress.nat_gateway(...) "
                "/ .route_table(...) so the platform can add them",
            )
        if hyperpod_subnets is not None and hyperpod_egress is not None:
            raise fail("hyperpod_egress", "only used when the platform adds the HyperPod subnets; drop one of the two")
        if hyperpod_egress is not None and not isinstance(hyperpod_egress, HyperPodEgress):
            raise fail("hyperpod_egress", "expected HyperPodEgress.nat_gateway(id) or HyperPodEgress.route_table(id)")
        if hyperpod_egress is not None and net.hyperpod_cidr_is_secondary:
            cidr = _vpc_cidr(vpc)
            if cidr is None:
                raise fail(
                    "vpc",
                    "its primary CIDR is not known at synth: import it with vpc_cidr_block (decides whether "
                    "network.hyperpod_cidr is added as a secondary block)",
                )


def _check_eks_props(
    fail: Callable[[str, str], HyperPodConfigError],
    config: PlatformConfig,
    vpc: Any,
    control_plane_subnets: Any,
    eks_cluster: Any,
) -> None:
    """EKS: an existing cluster (imported with what the platform needs) or enough control-plane subnets."""
    net = config.network
    cp = (
        control_plane_subnets
        if control_plane_subnets is not None
        else (vpc.private_subnets if vpc is not None else None)
    )
    if eks_cluster is not None:
        if config.eks_config.existing is not None:
            raise fail("eks_cluster", "config.eks.existing describes a cluster too; give the cluster one way")
        if cluster_attribute(eks_cluster, "cluster_security_group") is None:
            raise fail("eks_cluster", "import it with cluster_security_group_id= (the nodes get rules to it)")
        if cluster_attribute(eks_cluster, "vpc") is None:
            raise fail("eks_cluster", "import it with vpc= (the installers run in its VPC)")
        name = eks_cluster.cluster_name
        if not Token.is_unresolved(name) and name != config.eks_config.cluster_name:
            raise fail(
                "eks_cluster",
                f"is {name} but config eks.cluster_name is {config.eks_config.cluster_name}; make them match",
            )
        if vpc is None and net.existing is None:
            raise fail(
                "vpc",
                "with eks_cluster=, pass the cluster's VPC as vpc= (or describe it in config network.existing): the "
                "HyperPod subnets live there",
            )
        if cp is not None and not cp:
            raise fail("control_plane_subnets", "list a private subnet that reaches the cluster endpoint (installers)")
    elif vpc is not None and (cp is None or len(cp) < 2):
        raise fail(
            "control_plane_subnets",
            "EKS needs private subnets in at least two AZs: pass control_plane_subnets= (or a VPC whose "
            "private_subnets has two)",
        )


def _vpc_cidr(vpc: Any) -> str | None:
    """The VPC's primary CIDR when synth knows it (imported VPCs raise through jsii without one)."""
    try:
        value = vpc.vpc_cidr_block
    except Exception:
        return None
    return None if Token.is_unresolved(value) else str(value)


def _check_subnets(fail: Any, config: PlatformConfig, hyperpod_subnets: Mapping[str, Any]) -> None:
    net = config.network
    if set(hyperpod_subnets) != set(net.availability_zone_ids):
        raise fail(
            "hyperpod_subnets",
            f"keys {sorted(hyperpod_subnets)} must be the AZ IDs of config network.availability_zone_ids "
            f"{net.availability_zone_ids}",
        )
    for az_id, subnet in hyperpod_subnets.items():
        if not hasattr(subnet, "subnet_id"):
            raise fail(f"hyperpod_subnets.{az_id}", f"expected an ec2.ISubnet, got {type(subnet).__name__}")
    # The plan against every subnet whose CIDR is known, with the configured headroom.
    cidrs = {az: cidr for az, subnet in hyperpod_subnets.items() if (cidr := subnet_cidr(subnet)) is not None}
    demands = group_demands(config.hyperpod.instance_groups, config.orchestrator, net.availability_zone_ids[0])
    try:
        plan_existing_subnets(
            cidrs,
            {az: d for az, d in demands.items() if az in cidrs},
            net.ip_headroom_percent,
            Orchestrator(config.orchestrator),
            "hyperpod_subnets",
        )
    except HyperPodConfigError as error:
        raise fail(error.field, error.message) from None


def check_added_group(platform: Any, group: Any) -> Any:
    """An instance group ``HyperPodPlatform.add_instance_group`` may add: the config's own checks, run on the
    config with the group added (review round 30, R30P-M1: ``lifecycle_hook: OnInitComplete`` with the bundled
    scripts and the orchestrator-only keys were refused in YAML only), and none the platform cannot honour
    after construction (R30P-M2: an autoscale group was never in the Karpenter NodeClass, built from the
    config). Returns the group as an :class:`InstanceGroup`; raises one line naming the field."""
    config: PlatformConfig = platform.config
    new = platform.cluster.check_instance_group(group)  # the cluster's own checks and messages first
    groups = [*platform.cluster.instance_groups, new]
    where = f"hyperpod.instance_groups[{len(groups) - 1}]({new.name})"
    if new.autoscale:
        raise HyperPodConfigError(
            f"{where}.autoscale",
            "add_instance_group cannot add a group Karpenter scales: the HyperpodNodeClass that lists them is built "
            "from the config when the platform is constructed; put the group in hyperpod.instance_groups",
            construct_path=platform.node.path,
        )
    data = config.model_dump(mode="json", by_alias=True, exclude_unset=True)
    dumped = [g.model_dump(mode="json", by_alias=True, exclude_unset=True) for g in groups]
    data.setdefault("hyperpod", {})["instance_groups"] = dumped
    try:
        parse_config(data)
    except HyperPodConfigError as error:
        raise HyperPodConfigError(error.field, error.message, construct_path=platform.node.path) from None
    return new
