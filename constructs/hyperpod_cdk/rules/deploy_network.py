"""Deploy rules on the network: subnets with too few addresses (IP1), Lustre ports (FSX1)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping

from hyperpod_cdk.rules.deploy_base import IP_HEADROOM_PERCENT, SUBNET, _clusters, _int, _is_eks
from hyperpod_cdk.rules.model import Finding, Json, Resource, Templates, as_list, as_map, literal, short_text
from hyperpod_cdk.rules.sagemaker import _groups, _instance_types, _unknown_instance_types
from hyperpod_cdk.specs.instance_types import Orchestrator, spec_for
from hyperpod_cdk.specs.network_plan import AWS_RESERVED_PER_SUBNET

# --------------------------------------------------------------------------- IP1


def _subnets_by_id(templates: Templates) -> dict[str, Resource]:
    """Subnets described by a literal ``SubnetId`` (Terraform state, --live), indexed once per rule run:
    looking each id up among all resources was clusters x groups x subnet ids x resources."""
    by_id: dict[str, Resource] = {}
    for subnet in templates.resources(SUBNET):
        subnet_id = subnet.properties.get("SubnetId")
        if isinstance(subnet_id, str):
            by_id.setdefault(subnet_id, subnet)
    return by_id


def _subnet_cidr(
    templates: Templates, template_path: str, value: Json, by_id: Mapping[str, Resource]
) -> ipaddress.IPv4Network | None:
    """The CIDR of a subnet the template defines, or (a literal id) one it describes with ``SubnetId``."""
    key = templates.reference_key(template_path, value)
    subnet: Resource | None = None
    if key[0] == "resource":
        subnet = templates.resource(key[1], key[2])
    elif key[0] == "literal":
        subnet = by_id.get(key[1])  # Terraform state and --live describe existing subnets by id
    if subnet is None or subnet.type != SUBNET:
        return None
    cidr = subnet.properties.get("CidrBlock")
    try:
        return ipaddress.IPv4Network(cidr) if isinstance(cidr, str) else None
    except ValueError:
        return None


_GroupNeed = tuple[str, int, int, str]  # group name, node count, IPs per node, instance type
_GROUPS_SHOWN = 10  # groups named in one finding (each name cut to 80 characters); the rest are counted
_SubnetsKey = tuple[tuple[str, ...], ...]  # the reference keys of a group's subnets, in order


def _groups_by_subnets(
    templates: Templates, cluster: Resource, by_id: Mapping[str, Resource]
) -> tuple[
    dict[_SubnetsKey, list[_GroupNeed]],
    dict[_SubnetsKey, list[ipaddress.IPv4Network] | None],
    dict[_SubnetsKey, int | None],
]:
    """A cluster's groups keyed by the subnets they draw addresses from (groups sharing subnets share
    addresses), with those subnets' CIDRs (None: not literal in the templates) and free addresses (``--live``)."""
    kind = Orchestrator.EKS if _is_eks(cluster) else Orchestrator.SLURM
    default_subnets = as_list(as_map(cluster.properties.get("VpcConfig")).get("Subnets"))
    by_subnets: dict[_SubnetsKey, list[_GroupNeed]] = {}
    cidrs: dict[_SubnetsKey, list[ipaddress.IPv4Network] | None] = {}
    free: dict[_SubnetsKey, int | None] = {}
    for _index, name, group in _groups(cluster):
        count = _int(group.get("InstanceCount"))
        types = [t for t in _instance_types(group) if spec_for(t) is not None]
        override = as_map(group.get("OverrideVpcConfig")).get("Subnets")
        if override is not None and not isinstance(override, list):
            continue  # subnets known only at deploy: subnet_ip_capacity says so (review round 17, R17T-M2)
        subnets = as_list(override) or default_subnets
        unknown = not literal(group.get("InstanceCount")) or _unknown_instance_types(group)
        if not subnets or (not unknown and (count is None or not types)):
            continue
        keyed = tuple(templates.reference_key(cluster.template_path, s) for s in subnets)
        needs = by_subnets.setdefault(keyed, [])
        if unknown:  # a count or type known only at deploy: an entry of 0 nodes marks the set as partial
            needs.append((name, -1, 0, ""))
        elif count is not None:
            needs.append((name, count, max(_ips(t, kind) for t in types), types[0]))
        if keyed not in cidrs:
            found = [_subnet_cidr(templates, cluster.template_path, s, by_id) for s in subnets]
            cidrs[keyed] = None if any(c is None for c in found) else [c for c in found if c]
            free[keyed] = _free_addresses(templates, cluster.template_path, subnets, by_id)
    return by_subnets, cidrs, free


def _unknown_overrides(cluster: Resource, rule_id: str) -> Iterator[Finding]:
    """A group whose OverrideVpcConfig.Subnets is known only at deploy is not checked, nor charged to the
    cluster's subnets (review round 17, R17T-M2: it was read as "no override", a false error)."""
    for index, name, group in _groups(cluster):
        override = as_map(group.get("OverrideVpcConfig")).get("Subnets")
        if override is not None and not isinstance(override, list):
            yield cluster.not_checked(
                rule_id,
                f"group '{short_text(name)}': OverrideVpcConfig.Subnets is not known offline",
                f"Properties/InstanceGroups/{index}/OverrideVpcConfig/Subnets",
            )


def subnet_ip_capacity(templates: Templates, rule_id: str = "HyperPod-IP1") -> Iterator[Finding]:
    by_id = _subnets_by_id(templates)
    for cluster in _clusters(templates):
        yield from _unknown_overrides(cluster, rule_id)
        by_subnets, cidrs, free = _groups_by_subnets(templates, cluster, by_id)
        for keyed, groups in by_subnets.items():
            networks = cidrs.get(keyed)
            if networks is None:
                continue  # the subnet is not in the template (or its CIDR is not literal): --live resolves it
            available = free.get(keyed)
            capacity = (
                available if available is not None else sum(n.num_addresses - AWS_RESERVED_PER_SUBNET for n in networks)
            )
            partial = [n for n, c, _, _ in groups if c < 0]
            groups = [g for g in groups if g[1] >= 0]
            nodes = sum(count * per_node for _, count, per_node, _ in groups)
            detail = ", ".join(f"'{short_text(n)}' {c} x {t} x {p} IPs" for n, c, p, t in groups[:_GROUPS_SHOWN])
            detail += f", and {len(groups) - _GROUPS_SHOWN} more" if len(groups) > _GROUPS_SHOWN else ""
            shown = ", ".join(map(str, networks))
            what = "free addresses now" if available is not None else "usable addresses"
            if nodes > capacity:
                yield cluster.finding(
                    rule_id,
                    f"subnets {shown} have {capacity} {what} but the groups need {nodes} ({detail})",
                    "Properties/VpcConfig/Subnets",
                )
            elif partial:  # the known groups fit; the rest come at deploy (review round 17, R17T-M2)
                names = ", ".join(f"'{short_text(n)}'" for n in partial[:_GROUPS_SHOWN])
                names += f", and {len(partial) - _GROUPS_SHOWN} more" if len(partial) > _GROUPS_SHOWN else ""
                yield cluster.not_checked(
                    rule_id,
                    f"subnets {shown}: the instance count or type of group {names} is not known offline",
                    "Properties/VpcConfig/Subnets",
                )
            elif nodes * (100 + IP_HEADROOM_PERCENT) / 100 > capacity:
                yield cluster.finding(
                    rule_id,
                    f"subnets {shown} have {capacity} {what} and the groups need {nodes} "
                    f"({detail}); less than {IP_HEADROOM_PERCENT}% headroom for replacements and updates",
                    "Properties/VpcConfig/Subnets",
                    severity="warning",
                )


def _free_addresses(
    templates: Templates, template_path: str, subnets: list[Json], by_id: Mapping[str, Resource]
) -> int | None:
    """Free addresses AWS reported for every subnet (``--live``), else None."""
    total = 0
    for value in subnets:
        key = templates.reference_key(template_path, value)
        subnet = by_id.get(key[1]) if key[0] == "literal" else None
        count = _int(subnet.properties.get("AvailableIpAddressCount")) if subnet else None
        if count is None:
            return None
        total += count
    return total


def _ips(instance_type: str, kind: Orchestrator) -> int:
    from hyperpod_cdk.specs.instance_types import ips_per_node

    return ips_per_node(instance_type, kind)


# --------------------------------------------------------------------------- FSX1

LUSTRE_PORTS = ((988, 988), (1018, 1023))


def _covers(entry: Mapping[str, Json], low: int, high: int) -> bool:
    protocol = str(entry.get("IpProtocol", ""))
    if protocol in ("-1", "all"):
        return True
    if protocol not in ("tcp", "6"):
        return False
    start, end = _int(entry.get("FromPort")), _int(entry.get("ToPort"))
    return start is not None and end is not None and start <= low and high <= end


_IMPORTED = "imported"  # _lustre_ports_missing: the group's rules are not in the definition


def _lustre_ports_missing(
    templates: Templates, key: tuple[str, ...], ingress_by_group: Mapping[tuple[str, ...], list[Mapping[str, Json]]]
) -> list[str] | None:
    """The Lustre port ranges a group's ingress misses ([_IMPORTED] for an imported group without rules here);
    None when its rules are not known offline."""
    group = templates.resource(key[1], key[2]) if key[0] == "resource" else None
    rules = [as_map(e) for e in as_list(group.properties.get("SecurityGroupIngress"))] if group else []
    rules.extend(ingress_by_group.get(key, []))
    if group is None and not rules:
        # An imported group (or one given at deploy) whose rules are not in the definition: not checked,
        # never passed silently (review round 17, R17T-M2).
        return [_IMPORTED]
    if any(not literal(r.get("FromPort")) or not literal(r.get("IpProtocol")) for r in rules):
        return None
    return [
        f"{low}" if low == high else f"{low}-{high}"
        for low, high in LUSTRE_PORTS
        if not any(_covers(r, low, high) for r in rules)
    ]


def lustre_ports(templates: Templates, rule_id: str = "HyperPod-FSX1") -> Iterator[Finding]:
    # Ingress rules by the group they belong to, once: not once per group id an FSx names (an input with
    # thousands of both would otherwise take minutes).
    ingress_by_group: dict[tuple[str, ...], list[Mapping[str, Json]]] = {}
    for rule in templates.resources("AWS::EC2::SecurityGroupIngress"):
        if "GroupId" in rule.properties:
            group_key = templates.reference_key(rule.template_path, rule.properties["GroupId"])
            ingress_by_group.setdefault(group_key, []).append(rule.properties)
    # What each group lacks, once per group: not once per position naming it (one id named 50,000 times
    # next to 5,000 rules was 250 million port checks).
    verdicts: dict[tuple[str, ...], list[str] | None] = {}
    for fsx in templates.resources("AWS::FSx::FileSystem"):
        if fsx.properties.get("FileSystemType") != "LUSTRE":
            continue
        listed = fsx.properties.get("SecurityGroupIds")
        if listed is not None and not isinstance(listed, list):  # review round 17, R17T-M2
            yield fsx.not_checked(rule_id, "SecurityGroupIds is not known offline", "Properties/SecurityGroupIds")
        for position, value in enumerate(as_list(listed)):
            key = templates.reference_key(fsx.template_path, value)
            if key not in verdicts:
                verdicts[key] = _lustre_ports_missing(templates, key, ingress_by_group)
            missing = verdicts[key]
            if missing is None:
                yield fsx.not_checked(
                    rule_id,
                    f"security group {key[-1]} has rules not known offline",
                    f"Properties/SecurityGroupIds/{position}",
                )
            elif missing == [_IMPORTED]:
                yield fsx.not_checked(
                    rule_id,
                    f"security group {short_text(str(key[-1]))} is not defined here: its rules are not known "
                    "offline (--live reads them)",
                    f"Properties/SecurityGroupIds/{position}",
                )
            elif missing:
                yield fsx.finding(
                    rule_id,
                    f"security group {key[-1]} of the Lustre file system allows no inbound TCP "
                    f"{' and '.join(missing)}; clients cannot mount it",
                    f"Properties/SecurityGroupIds/{position}",
                )
