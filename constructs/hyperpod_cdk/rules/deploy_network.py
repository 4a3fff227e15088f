"""Deploy rules on the network: subnets with too few addresses (IP1), Lustre ports (FSX1)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Mapping

from hyperpod_cdk.rules.deploy_base import IP_HEADROOM_PERCENT, SUBNET, _clusters, _int, _is_eks
from hyperpod_cdk.rules.ip_flow import (
    POOL_WORK_BUDGET,
    RUN_WORK_BUDGET,
    FlowBudgetExceededError,
    WorkBudget,
    hall_shortfall,
)
from hyperpod_cdk.rules.model import (
    NOT_CHECKED,
    Finding,
    Json,
    Resource,
    Templates,
    as_list,
    as_map,
    literal,
    short_text,
    shown,
)
from hyperpod_cdk.rules.sagemaker import _groups, _instance_types, _unknown_instance_types, _unknown_objects
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
_SubnetKey = tuple[str, ...]  # a subnet's reference key (Templates.reference_key)
_SubnetSet = frozenset[_SubnetKey]


class _SubnetPools:
    """A cluster's groups by the subnets they draw addresses from, pooled where those subnets overlap.

    A group's subnets are a set: HyperPod places its nodes in any of them, whatever order the list has.
    Groups whose sets share a subnet compete for its addresses, so they are pooled (union-find over
    subnets) and their demand is compared with the union's addresses (review round 19, R19T-H2: an
    override listing the cluster's subnets in another order, or a set overlapping them, was charged to a
    separate copy of the same addresses). Each distinct list object is keyed once: the cluster's
    ``Subnets`` is shared by every group without an override (R19T-M4: it was keyed again per group).
    """

    def __init__(self, templates: Templates, cluster: Resource, by_id: Mapping[str, Resource]) -> None:
        self._templates, self._cluster, self._by_id = templates, cluster, by_id
        self._keyed: dict[int, tuple[list[Json], _SubnetSet]] = {}  # id(list) -> (the list, kept alive; its keys)
        self._parent: dict[_SubnetKey, _SubnetKey] = {}
        self._value: dict[_SubnetKey, Json] = {}  # a value naming each subnet
        self._position: dict[_SubnetKey, int] = {}  # the order in which the definition first names each
        self._cidr: dict[_SubnetKey, ipaddress.IPv4Network | None] = {}
        self.by_set: dict[_SubnetSet, list[_GroupNeed]] = {}  # the groups drawing on exactly each set

    def keys(self, subnets: list[Json]) -> _SubnetSet:
        known = self._keyed.get(id(subnets))
        if known is None:
            keys: set[_SubnetKey] = set()
            for value in subnets:
                key = self._templates.reference_key(self._cluster.template_path, value)
                if key not in self._value:
                    self._value[key], self._parent[key], self._position[key] = value, key, len(self._position)
                keys.add(key)
            known = self._keyed[id(subnets)] = (subnets, frozenset(keys))
            root = self._find(next(iter(keys)))
            for key in keys:
                self._parent[self._find(key)] = root
        return known[1]

    def _find(self, key: _SubnetKey) -> _SubnetKey:
        root = key
        while self._parent[root] != root:
            root = self._parent[root]
        while self._parent[key] != root:  # path compression: later finds are one step
            self._parent[key], key = root, self._parent[key]
        return root

    def pools(self) -> list[tuple[_SubnetSet, list[_SubnetSet]]]:
        """(the union of the subnets, the exact sets in it) of each pool of overlapping sets."""
        members: dict[_SubnetKey, list[_SubnetSet]] = {}
        for subnet_set in self.by_set:
            members.setdefault(self._find(next(iter(subnet_set))), []).append(subnet_set)
        return [(frozenset().union(*sets), sets) for sets in members.values()]

    def ordered(self, subnets: _SubnetSet) -> list[_SubnetKey]:
        """``subnets`` in the order the definition first names them (messages do not depend on hashing)."""
        return sorted(subnets, key=self._position.__getitem__)

    def cidrs(self, subnets: _SubnetSet) -> list[ipaddress.IPv4Network] | None:
        """The CIDRs of ``subnets`` (None: one is not literal in the templates)."""
        for key in subnets:
            if key not in self._cidr:
                self._cidr[key] = _subnet_cidr(
                    self._templates, self._cluster.template_path, self._value[key], self._by_id
                )
        found = [self._cidr[k] for k in self.ordered(subnets)]
        return None if any(c is None for c in found) else [c for c in found if c]

    def addresses(self, key: _SubnetKey) -> tuple[int | None, bool]:
        """A subnet's addresses, and whether they are the free ones AWS reported (``--live``) rather than the
        usable ones of its CIDR; (None, False) when its CIDR is not literal in the templates."""
        if key not in self._cidr:
            self._cidr[key] = _subnet_cidr(self._templates, self._cluster.template_path, self._value[key], self._by_id)
        cidr = self._cidr[key]
        if cidr is None:
            return None, False
        free = _free_addresses(self._templates, self._cluster.template_path, [self._value[key]], self._by_id)
        return (free, True) if free is not None else (max(0, cidr.num_addresses - AWS_RESERVED_PER_SUBNET), False)


def _groups_by_subnets(templates: Templates, cluster: Resource, by_id: Mapping[str, Resource]) -> _SubnetPools:
    """A cluster's groups by the subnets they draw addresses from (groups sharing subnets share addresses)."""
    kind = Orchestrator.EKS if _is_eks(cluster) else Orchestrator.SLURM
    default_subnets = as_list(as_map(cluster.properties.get("VpcConfig")).get("Subnets"))
    pools = _SubnetPools(templates, cluster, by_id)
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
        needs = pools.by_set.setdefault(pools.keys(subnets), [])
        if unknown:  # a count or type known only at deploy: an entry of 0 nodes marks the set as partial
            needs.append((name, -1, 0, ""))
        elif count is not None:
            needs.append((name, count, max(_ips(t, kind) for t in types), types[0]))
    return pools


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


def _named(groups: list[_GroupNeed], say: Callable[[_GroupNeed], str]) -> str:
    """The first groups as ``say`` puts them, the rest counted (only those shown are formatted: a pool's
    sets are each checked with their groups)."""
    shown_items = ", ".join(map(say, groups[:_GROUPS_SHOWN]))
    return shown_items + (f", and {len(groups) - _GROUPS_SHOWN} more" if len(groups) > _GROUPS_SHOWN else "")


def _quoted_name(group: _GroupNeed) -> str:
    return f"'{short_text(group[0])}'"


def _verdict(
    cluster: Resource,
    rule_id: str,
    pools: _SubnetPools,
    subnets: _SubnetSet,
    all_groups: list[_GroupNeed],
    outrank: int = 3,
) -> Finding | None:
    """What ``all_groups`` drawing on ``subnets`` come to: an error, not checked, a warning, or None (also
    when the verdict's rank is not below ``outrank``: its message is not built)."""
    networks = pools.cidrs(subnets)
    if networks is None:
        return None  # a subnet is not in the template (or its CIDR is not literal): --live resolves it
    supply = [pools.addresses(key) for key in subnets]
    capacity = sum(addresses or 0 for addresses, _ in supply)
    free = [is_free for _, is_free in supply]
    partial = [g for g in all_groups if g[1] < 0]
    groups = [g for g in all_groups if g[1] >= 0]
    nodes = sum(count * per_node for _, count, per_node, _ in groups)
    tight = nodes * (100 + IP_HEADROOM_PERCENT) / 100 > capacity
    severity = None if nodes > capacity else NOT_CHECKED if partial else "warning" if tight else "none"
    if _RANK.get(severity, len(_RANK)) >= outrank:
        return None  # fits, or no worse than what the pool already has: no message to build
    detail = _named(groups, lambda g: f"{_quoted_name(g)} {g[1]} x {g[3]} x {g[2]} IPs")
    shown_cidrs = ", ".join(map(str, networks))
    what = "free addresses now" if all(free) else "usable addresses" if not any(free) else _MIXED_ADDRESSES
    where = "Properties/VpcConfig/Subnets"
    if nodes > capacity:
        return cluster.finding(
            rule_id, f"subnets {shown_cidrs} have {capacity} {what} but the groups need {nodes} ({detail})", where
        )
    if partial:  # the known groups fit; the rest come at deploy (review round 17, R17T-M2)
        return cluster.not_checked(
            rule_id,
            f"subnets {shown_cidrs}: the instance count or type of group "
            f"{_named(partial, _quoted_name)} is not known offline",
            where,
        )
    if nodes * (100 + IP_HEADROOM_PERCENT) / 100 > capacity:
        return cluster.finding(
            rule_id,
            f"subnets {shown_cidrs} have {capacity} {what} and the groups need {nodes} "
            f"({detail}); less than {IP_HEADROOM_PERCENT}% headroom for replacements and updates",
            where,
            severity="warning",
        )
    return None


# A set of subnets some of which AWS reported free addresses for (--live) and some only a CIDR: each counted
# by what is known of it.
_MIXED_ADDRESSES = "addresses (free now where AWS reported them, else usable)"
_RANK: dict[str | None, int] = {None: 0, NOT_CHECKED: 1, "warning": 2}  # which verdict of a pool is reported


def subnet_ip_capacity(templates: Templates, rule_id: str = "HyperPod-IP1") -> Iterator[Finding]:
    by_id = _subnets_by_id(templates)
    budget = WorkBudget(RUN_WORK_BUDGET)  # edge visits of every pool's flows together (review round 23, R23U-M1)
    for cluster in _clusters(templates):
        yield from _unknown_overrides(cluster, rule_id)
        yield from _unknown_objects(cluster, rule_id, "its addresses are not counted", "VpcConfig", "InstanceGroups")
        subnets = as_map(cluster.properties.get("VpcConfig")).get("Subnets")
        if subnets is not None and not isinstance(subnets, list):
            yield cluster.not_checked(
                rule_id, f"VpcConfig.Subnets is not known offline ({shown(subnets)})", "Properties/VpcConfig/Subnets"
            )
        pools = _groups_by_subnets(templates, cluster, by_id)
        for union, sets in pools.pools():
            if len(sets) <= MAX_SUBNET_SETS_PER_POOL:
                try:
                    finding = _pool_verdict(cluster, rule_id, pools, union, sets, budget)
                except FlowBudgetExceededError:
                    yield from _rough_verdict(cluster, rule_id, pools, union, sets)
                    yield _too_much_work(cluster, rule_id, pools, union, sets)
                    continue
                if finding:
                    yield finding
                continue
            yield from _rough_verdict(cluster, rule_id, pools, union, sets)
            yield cluster.not_checked(
                rule_id,
                f"{len(sets)} distinct subnet sets share subnets (more than {MAX_SUBNET_SETS_PER_POOL}): each "
                "set is checked with the groups on exactly it and all of them with the whole pool, not with "
                "the groups on its subsets",
                "Properties/InstanceGroups",
            )


def _rough_verdict(
    cluster: Resource, rule_id: str, pools: _SubnetPools, union: _SubnetSet, sets: list[_SubnetSet]
) -> Iterator[Finding]:
    """The worst verdict of the pool's union and of each exact set: what is checked of a pool without the flow."""
    worst: Finding | None = None
    candidates = [(union, [g for s in sets for g in pools.by_set[s]])] + [(t, pools.by_set[t]) for t in sets]
    for subnet_set, groups in candidates:
        # Only a verdict of a lower rank than the one found is built (the first of the lowest is told).
        outrank = _RANK[worst.severity] if worst else len(_RANK)
        worst = _verdict(cluster, rule_id, pools, subnet_set, groups, outrank) or worst
    if worst:
        yield worst


def _too_much_work(
    cluster: Resource, rule_id: str, pools: _SubnetPools, union: _SubnetSet, sets: list[_SubnetSet]
) -> Finding:
    """The not-checked line of a pool whose flow ran out of its work budget (review round 23, R23U-M1)."""
    groups = [g for s in sets for g in pools.by_set[s]]
    return cluster.not_checked(
        rule_id,
        f"groups {_named(groups, _quoted_name)} share subnets ({len(sets)} distinct subnet sets over "
        f"{len(union):,} subnets): fitting their addresses together took more than the flow's budget of "
        f"{POOL_WORK_BUDGET:,} edge visits per pool ({RUN_WORK_BUDGET:,} per input); only the pool and each "
        "exact set are checked",
        "Properties/InstanceGroups",
    )


# Distinct subnet sets of one pool checked together with one flow (ip_flow.hall_shortfall); past this many
# only the union and each exact set are checked, and a not-checked line says so.
MAX_SUBNET_SETS_PER_POOL = 200


def _pool_verdict(
    cluster: Resource,
    rule_id: str,
    pools: _SubnetPools,
    union: _SubnetSet,
    sets: list[_SubnetSet],
    budget: WorkBudget,
) -> Finding | None:
    """What the groups of one pool come to: Hall's condition checked exactly by one flow (and again with the
    demand grown by the headroom for the warning), the finding naming the subnets most short of addresses
    with every group confined to them.

    Candidates (the union, each set, each union of two overlapping sets) missed a chain: groups on
    [S1, S2], [S2, S3], [S3, S4] beside a wider group are confined to S1-S4, none of them (review round 22,
    R22T-M2), and pairs of 200 wide sets took 92 s (R22T-M3). Both flows draw on one pool budget of at most
    POOL_WORK_BUDGET edge visits, itself drawn from ``budget`` (the input's); FlowBudgetExceededError past it.
    """
    subnets = pools.ordered(union)
    index = {key: j for j, key in enumerate(subnets)}
    supply = [pools.addresses(key)[0] for key in subnets]
    uses = [sorted(index[key] for key in subnet_set) for subnet_set in sets]
    need = [sum(count * per_node for _, count, per_node, _ in pools.by_set[s] if count >= 0) for s in sets]
    given = min(POOL_WORK_BUDGET, max(0, budget.left))
    pool = WorkBudget(given)
    try:
        short = hall_shortfall(need, uses, supply, pool)
        if not short:
            partial = [s for s in sets if any(g[1] < 0 for g in pools.by_set[s])]
            found = _partial_verdict(cluster, rule_id, pools, union, sets, partial) if partial else None
            if found:
                return found
            grown = [n * (100 + IP_HEADROOM_PERCENT) for n in need]
            short = hall_shortfall(grown, uses, [None if a is None else a * 100 for a in supply], pool)
    finally:
        budget.left -= given - pool.left  # what this pool spent (past its budget too) is the input's
    within = frozenset(subnets[j] for j in short)
    groups = [g for s in sets if s <= within for g in pools.by_set[s]]
    return _verdict(cluster, rule_id, pools, within, groups) if short else None


def _partial_verdict(
    cluster: Resource,
    rule_id: str,
    pools: _SubnetPools,
    union: _SubnetSet,
    sets: list[_SubnetSet],
    partial: list[_SubnetSet],
) -> Finding | None:
    """The known groups fit; the rest come at deploy: the pool's union says so (review round 17, R17T-M2), or,
    when a subnet of it is not known offline, the first set holding such a group that is known."""
    candidates = [(union, [g for s in sets for g in pools.by_set[s]])] + [(s, pools.by_set[s]) for s in partial]
    return next(filter(None, (_verdict(cluster, rule_id, pools, t, g) for t, g in candidates)), None)


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
        kind = fsx.properties.get("FileSystemType")
        if not literal(kind):  # a parameter without a default, an Fn::Select (review round 19, R19T-M3)
            yield fsx.not_checked(
                rule_id, f"FileSystemType is not known offline ({shown(kind)})", "Properties/FileSystemType"
            )
            continue
        if kind != "LUSTRE":
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
