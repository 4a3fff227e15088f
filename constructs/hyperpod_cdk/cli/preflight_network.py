"""Preflight checks of the network and an imported EKS cluster (``preflight.py``): the subnet plan, existing
subnets' free addresses, and the cluster's version, endpoint, auth mode and add-ons."""

from __future__ import annotations

import ipaddress
from typing import Any

from hyperpod_cdk.cli import preflight_existing, preflight_ownership
from hyperpod_cdk.cli.output import Check
from hyperpod_cdk.cli.preflight_context import REQUIRED_EKS_ADDONS, Context, describe_existing
from hyperpod_cdk.config import plan_for_config
from hyperpod_cdk.config.addons import ADDON_PREREQUISITES
from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.specs.network_plan import AWS_RESERVED_PER_SUBNET, SubnetPlan

# --------------------------------------------------------------------------- subnets


def check_subnet_plan(ctx: Context) -> list[Check]:
    """The subnets the stack would create (a plan that does not fit already failed config loading)."""
    try:
        plans = plan_for_config(ctx.config)
    except HyperPodConfigError as exc:
        return [Check("fail", "subnet plan", f"{exc.field}: {exc.message}", "edit the config as the reason says")]
    detail = "; ".join(f"{p.az_id} {p.cidr}: needs {p.required_ips} of {p.capacity}" for p in plans)
    return [Check("pass", "subnet plan", detail)]


def check_existing_subnets(ctx: Context) -> list[Check]:
    ids = list(ctx.options.existing_subnet_ids)
    subnets = describe_existing(
        ctx,
        "subnets",
        ", ".join(ids),
        "check network.existing.hyperpod_subnets (or --existing-subnet-ids) and --region",
        lambda: ctx.clients("ec2").describe_subnets(SubnetIds=ids)["Subnets"],
    )
    if isinstance(subnets, Check):
        return [subnets]
    by_az: dict[str, list[dict[str, Any]]] = {}
    for subnet in subnets:
        by_az.setdefault(subnet["AvailabilityZoneId"], []).append(subnet)
    demands = ctx.group_demands_by_az()
    headroom = ctx.config.network.ip_headroom_percent
    rows: list[Check] = []
    for az in sorted(set(by_az) | set(demands)):
        name = f"subnet IPs {az}"
        groups = [g for g in demands.get(az, []) if g.instance_count > 0]
        here = by_az.get(az, [])
        ids_here = ", ".join(s["SubnetId"] for s in here)
        if not groups:
            rows.append(Check("pass", name, f"{ids_here}: no planned nodes in this AZ"))
            continue
        names = ", ".join(g.name for g in groups)
        if not here:
            rows.append(
                Check(
                    "fail",
                    name,
                    f"instance group(s) {names} are planned in {az} but no --existing-subnet-ids subnet is there "
                    f"(given subnets are in {', '.join(sorted(by_az)) or 'no AZ'})",
                    f"add a subnet in {az}, or set the groups' availability_zone_id to an AZ of the given subnets",
                )
            )
            continue
        free = sum(int(s.get("AvailableIpAddressCount", 0)) for s in here)
        node_ips = sum(g.ips for g in groups)
        # SubnetPlan adds the AWS-reserved addresses; AvailableIpAddressCount already excludes them.
        plan = SubnetPlan(az, ipaddress.IPv4Network(here[0]["CidrBlock"]), tuple(groups), headroom)
        with_headroom = plan.required_ips - AWS_RESERVED_PER_SUBNET
        detail = ", ".join(f"{g.name} {g.instance_count} x {g.ips_per_node}" for g in groups)
        where = f"{free} free IPs in {ids_here}"
        if free < node_ips:
            rows.append(
                Check(
                    "fail",
                    name,
                    f"{where}; the nodes need {node_ips} ({detail})",
                    "use a bigger subnet (or add one in this AZ), free addresses, or plan fewer nodes",
                )
            )
        elif free < with_headroom:
            rows.append(
                Check(
                    "warn",
                    name,
                    f"{where} cover the {node_ips} node IPs but not the {headroom}% headroom ({with_headroom})",
                    "free addresses or add a subnet, or lower network.ip_headroom_percent",
                )
            )
        else:
            rows.append(
                Check(
                    "pass",
                    name,
                    f"{where}; the plan needs {with_headroom} with {headroom}% headroom ({detail})",
                )
            )
    return rows


# --------------------------------------------------------------------------- imported EKS cluster


def check_eks_cluster(ctx: Context) -> list[Check]:
    cluster_name = ctx.options.existing_eks_cluster or ""
    cluster = describe_existing(
        ctx,
        "eks auth mode",
        f"EKS cluster '{cluster_name}'",
        "check eks.cluster_name (or --existing-eks-cluster) and --region",
        ctx.eks_cluster,
    )
    if isinstance(cluster, Check):
        return [cluster]
    rows: list[Check] = []
    status = cluster.get("status")
    if status and status != "ACTIVE":
        rows.append(
            Check(
                "warn",
                "eks cluster",
                f"'{cluster_name}' is {status}, not ACTIVE",
                f"wait: aws eks wait cluster-active --name {cluster_name}",
            )
        )
    rows.extend(preflight_existing.cluster_matches_config(ctx, cluster))
    mode = (cluster.get("accessConfig") or {}).get("authenticationMode")
    fix_mode = (
        f"aws eks update-cluster-config --name {cluster_name} --access-config "
        "authenticationMode=API_AND_CONFIG_MAP (then wait for the update to finish)"
    )
    if mode in ("API", "API_AND_CONFIG_MAP"):
        rows.append(Check("pass", "eks auth mode", f"'{cluster_name}' uses {mode} (access entries work)"))
    elif mode == "CONFIG_MAP":
        rows.append(
            Check(
                "fail",
                "eks auth mode",
                f"'{cluster_name}' uses CONFIG_MAP; HyperPod needs access entries (API or API_AND_CONFIG_MAP)",
                fix_mode,
            )
        )
    else:
        rows.append(
            Check(
                "warn",
                "eks auth mode",
                f"EKS did not report an authentication mode for '{cluster_name}'",
                f"check: aws eks describe-cluster --name {cluster_name} --query cluster.accessConfig",
            )
        )
    return rows


def check_eks_addons(ctx: Context) -> list[Check]:
    cluster_name = ctx.options.existing_eks_cluster or ""
    eks = ctx.clients("eks")
    present: set[str] = set()
    for page in eks.get_paginator("list_addons").paginate(clusterName=cluster_name):
        present.update(page.get("addons", []))
    return [_required_addons(eks, cluster_name, present), *_addons_already_there(ctx, cluster_name, present)]


def _required_addons(eks: Any, cluster_name: str, present: set[str]) -> Check:
    missing = [a for a in REQUIRED_EKS_ADDONS if a not in present]
    if missing:
        return Check(
            "fail",
            "eks add-ons",
            f"'{cluster_name}' lacks the EKS add-on(s) {', '.join(missing)} HyperPod requires "
            "(self-managed installs do not count)",
            " && ".join(f"aws eks create-addon --cluster-name {cluster_name} --addon-name {a}" for a in missing),
        )
    unhealthy = []
    for addon in REQUIRED_EKS_ADDONS:
        status = eks.describe_addon(clusterName=cluster_name, addonName=addon)["addon"].get("status")
        if status != "ACTIVE":
            unhealthy.append(f"{addon} is {status}")
    if unhealthy:
        return Check(
            "warn",
            "eks add-ons",
            "; ".join(unhealthy),
            f"check: aws eks describe-addon --cluster-name {cluster_name} --addon-name <name>",
        )
    return Check("pass", "eks add-ons", f"{', '.join(REQUIRED_EKS_ADDONS)} are ACTIVE")


def _addons_already_there(ctx: Context, cluster_name: str, present: set[str]) -> list[Check]:
    """A row per add-on the stack creates that the cluster already has. The config's own stack holding it
    (an update) passes. Otherwise CreateAddon answers ResourceInUseException and the deploy rolls back: a
    ``fail``, whose fix depends on who holds it (``preflight_ownership``). Another stack's add-on must not be
    deleted from under it: that stack would then track an add-on EKS no longer has, and its next update of it
    fails NotFound. An add-on no stack holds can be let go with ``delete-addon --preserve``: the software
    stays and the stack's add-on (``ResolveConflicts: OVERWRITE``) takes it over as a self-managed install
    (https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateAddon.html, resolveConflicts). The add-ons
    are the config's (the same ``kubernetes.addons`` keys the platform builds them from)."""
    config = ctx.config
    if config.orchestrator != "eks":
        return []
    created = config.kubernetes.addons.created_addons(fsx_csi_driver_installed=config.storage.fsx is not None)
    there = {name: key for name, key in created.items() if name in present}
    if not there:
        return []
    holdings = preflight_ownership.stack_holdings(ctx)
    return [_addon_row(ctx, cluster_name, name, key, holdings) for name, key in there.items()]


def _addon_row(
    ctx: Context, cluster_name: str, name: str, key: str, holdings: preflight_ownership.StackHoldings
) -> Check:
    check, physical_id, stack = f"eks add-on {name}", f"{cluster_name}|{name}", holdings.stack_name
    if holdings.holds(physical_id):
        return Check("pass", check, f"{preflight_ownership.PART_OF_THIS_STACK} ({stack}): an update keeps it")
    addons = ctx.config.kubernetes.addons
    needed_by = [k for k, needs in ADDON_PREREQUISITES.items() if key in needs and getattr(addons, k).enabled]
    users = " and ".join(f"kubernetes.addons.{k}" for k in needed_by)
    verb = "needs" if len(needed_by) == 1 else "need"
    turn_off = f"set kubernetes.addons.{key}.enabled: false to keep the cluster's own"
    if key == "fsx_csi_driver" and not addons.fsx_csi_driver.enabled:
        turn_off = "remove storage.fsx (it installs the driver)"
    there = f"'{cluster_name}' already has the EKS add-on {name}, which this stack creates"
    owner = preflight_ownership.Owner() if holdings.unknown else preflight_ownership.owning_stack(ctx, physical_id)
    if owner.stack is not None:
        fix = preflight_ownership.OWN_APP_HINT.format(stack=owner.stack) + "; otherwise "
        fix += f"do not delete it from under {owner.stack} (that stack would then track an add-on EKS no longer has); "
        if needed_by:
            fix += (
                f"{users} {verb} the platform's own, so the config cannot turn it off: the two stacks cannot both "
                f"own it (have {owner.stack} drop it from its template first, or deploy this platform to another "
                "cluster)"
            )
        else:
            fix += turn_off.replace("the cluster's own", f"{owner.stack}'s")
        return Check("fail", check, f"{there}, but it is owned by stack {owner.stack}: CreateAddon would fail", fix)
    fix = (
        f"aws eks delete-addon --cluster-name {cluster_name} --addon-name {name} --preserve (keeps its "
        "software; the stack then takes the add-on over)"
    )
    fix += f"; {users} {verb} the platform's own, so the config cannot turn it off" if needed_by else f", or {turn_off}"
    unknown, who = (holdings.unknown, f"stack {stack}") if holdings.unknown else (owner.unknown, "another stack")
    if unknown:
        note, fix_head = preflight_ownership.unknown_note(unknown, who)
        return Check("warn", check, f"{there}; {note}", fix_head + fix)
    return Check("fail", check, f"{there}: the deploy would fail with 'Addon already exists'", fix)
