"""Preflight: the CIDR block and subnets the platform adds to an existing VPC are still free.

With ``network.existing`` and no ``existing.hyperpod_subnets``, the platform creates the HyperPod
subnets in the user's VPC from ``network.hyperpod_cidr``, and associates that block with the VPC
when it lies outside the VPC's CIDR. A file system created here is kept on ``cdk destroy`` by
default, and with it its subnet and that CIDR association (``HyperPodPlatform``
``_retain_network_of_file_system``: EC2 cannot delete them while the file system's network
interfaces sit there). They stay in the user's VPC with the same CIDRs, so a redeploy of the same
config fails: "A subnet CIDR block must not overlap the CIDR block of an existing subnet in the VPC"
(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSubnet.html), and a CIDR block
associated with a VPC must not overlap one it already has
(https://docs.aws.amazon.com/vpc/latest/userguide/vpc-cidr-blocks.html). Synth cannot see the
account, so this row reads it before the deploy, and names what is in the way and how to clear it.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from hyperpod_cdk.cli import preflight_ownership
from hyperpod_cdk.cli.output import Check
from hyperpod_cdk.config import plan_for_config
from hyperpod_cdk.errors import HyperPodConfigError

if TYPE_CHECKING:  # preflight imports this module
    from hyperpod_cdk.cli.preflight_context import Context

HYPERPOD_CIDR = "hyperpod cidr"
_LIVE_ASSOCIATION_STATES = ("associating", "associated")
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def check_hyperpod_cidr_free(ctx: Context) -> list[Check]:
    """Nothing in the existing VPC overlaps ``network.hyperpod_cidr`` or the subnets planned in it."""
    network = ctx.config.network
    existing = network.existing
    if existing is None or existing.hyperpod_subnets:
        return []  # the platform adds no subnets: nothing of its own can be in the way
    try:
        planned = [(p.az_id, ipaddress.ip_network(str(p.cidr))) for p in plan_for_config(ctx.config)]
    except HyperPodConfigError:
        return []  # the "subnet plan" row already fails with the reason
    vpc_id = ctx.options.existing_vpc_id or existing.vpc_id
    ec2 = ctx.clients("ec2")
    hyperpod_cidr = ipaddress.ip_network(str(network.hyperpod_cidr))
    found = _subnets_in_the_way(ec2, vpc_id, planned)
    if network.hyperpod_cidr_is_secondary:
        found = {**_associations_in_the_way(ec2, vpc_id, hyperpod_cidr), **found}
    # An update: what the config's own stack created is in the VPC already, and stays (preflight_ownership).
    holdings = preflight_ownership.stack_holdings(ctx) if found else None
    own = [i for i in found if holdings is not None and holdings.holds(i)]
    in_the_way = {i: reason for i, reason in found.items() if i not in own}
    if not in_the_way:
        detail = ", ".join(f"{az_id} {cidr}" for az_id, cidr in planned)
        return [
            Check(
                "pass",
                HYPERPOD_CIDR,
                f"{hyperpod_cidr} and the planned subnets ({detail}) {_free(vpc_id, own, holdings)}",
            )
        ]
    problems = list(in_the_way.values())
    subnets = [i for i in in_the_way if i.startswith("subnet-")]
    associations = [i for i in in_the_way if not i.startswith("subnet-")]
    file_systems = _file_systems_in(ctx, subnets)
    if file_systems:
        problems.append(f"FSx file system(s) {', '.join(file_systems)} sit in {', '.join(subnets)}")
    fix = _fix(file_systems, subnets, associations)
    if holdings is not None and holdings.unknown:
        note, fix_head = preflight_ownership.unknown_note(holdings.unknown, f"stack {holdings.stack_name}")
        return [Check("warn", HYPERPOD_CIDR, "; ".join(problems) + f"; {note}", fix_head + fix)]
    return [Check("fail", HYPERPOD_CIDR, "; ".join(problems), fix)]


def _associations_in_the_way(ec2: Any, vpc_id: str, hyperpod_cidr: _Network) -> dict[str, str]:
    """Association ID -> why, for each live CIDR block of the VPC that overlaps ``network.hyperpod_cidr``."""
    vpcs = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
    found: dict[str, str] = {}
    for block in vpcs[0].get("CidrBlockAssociationSet", []) if vpcs else []:
        state = (block.get("CidrBlockState") or {}).get("State")
        cidr = block.get("CidrBlock")
        if state in _LIVE_ASSOCIATION_STATES and cidr and ipaddress.ip_network(cidr).overlaps(hyperpod_cidr):
            association = str(block.get("AssociationId"))
            found[association] = (
                f"network.hyperpod_cidr {hyperpod_cidr} overlaps {cidr}, already associated with {vpc_id} "
                f"({association})"
            )
    return found


def _subnets_in_the_way(ec2: Any, vpc_id: str, planned: list[tuple[str, _Network]]) -> dict[str, str]:
    """Subnet ID -> why, for each subnet of the VPC that overlaps a planned HyperPod subnet."""
    found: dict[str, str] = {}
    pages = ec2.get_paginator("describe_subnets").paginate(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
    for subnet in (s for page in pages for s in page.get("Subnets", [])):
        cidr = ipaddress.ip_network(subnet["CidrBlock"])
        clashes = [f"{az_id} {plan}" for az_id, plan in planned if plan.overlaps(cidr)]
        if clashes:
            found[subnet["SubnetId"]] = (
                f"subnet {subnet['SubnetId']} ({cidr}{_stack_of(subnet)}) overlaps the planned HyperPod subnet "
                f"{', '.join(clashes)}"
            )
    return found


def _free(vpc_id: str, own: list[str], holdings: preflight_ownership.StackHoldings | None) -> str:
    if not own or holdings is None:
        return f"are free in {vpc_id}"
    verb = "is" if len(own) == 1 else "are"
    return (
        f"are free in {vpc_id} but for {', '.join(own)}, which {verb} {preflight_ownership.PART_OF_THIS_STACK} "
        f"({holdings.stack_name}): an update keeps them"
    )


def _stack_of(subnet: dict[str, Any]) -> str:
    """', created by stack X' from the tag CloudFormation puts on what it creates, if the subnet has it."""
    tags = {t.get("Key"): t.get("Value") for t in subnet.get("Tags", [])}
    stack = tags.get("aws:cloudformation:stack-name")
    return f", created by stack {stack}" if stack else ""


def _file_systems_in(ctx: Context, subnets: list[str]) -> list[str]:
    """The FSx file systems with network interfaces in ``subnets`` (a best effort: no answer, no names)."""
    if not subnets:
        return []
    try:
        pages = ctx.clients("fsx").get_paginator("describe_file_systems").paginate()
        return [
            fs["FileSystemId"]
            for page in pages
            for fs in page.get("FileSystems", [])
            if set(fs.get("SubnetIds", [])) & set(subnets)
        ]
    except (ClientError, BotoCoreError):
        return []


def _fix(file_systems: list[str], subnets: list[str], associations: list[str]) -> str:
    steps = [f"aws fsx delete-file-system --file-system-id {fs}" for fs in file_systems or ["<file-system-id>"]]
    steps += [f"aws ec2 delete-subnet --subnet-id {subnet}" for subnet in subnets]
    steps += [f"aws ec2 disassociate-vpc-cidr-block --association-id {a}" for a in associations]
    return (
        "if your own CDK app deploys this platform in a stack not named <name>-platform, rerun with --stack-name "
        "<that stack> (what it holds passes); "
        "if a cdk destroy kept these for a retained file system (docs/deploy.md, 'Deploy again after destroy'): "
        "either leave that file system where it is and set a network.hyperpod_cidr that overlaps nothing above, "
        "or, once its data is no longer needed (back it up first if in doubt), delete what was kept, in this order, "
        "waiting for the file system to be gone: "
        + "; ".join(steps)
        + ". Otherwise pick a network.hyperpod_cidr that overlaps no subnet or CIDR block of the VPC"
    )


__all__ = ["HYPERPOD_CIDR", "check_hyperpod_cidr_free"]
