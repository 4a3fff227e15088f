"""Hall's condition for IP1: can every group's addresses be drawn from the subnets it may use?

Groups (by distinct subnet set) demand addresses; subnets supply them. All demand can be placed iff the
maximum flow source -> set (its demand) -> each subnet of the set (unbounded) -> sink (the subnet's
addresses) equals the total demand (Hall's condition for every family of sets at once, max-flow/min-cut).
When it is short, the subnets reachable from the source in the residual graph are a family's subnets
whose addresses are fewer than what the sets confined to them demand: the one most short (the minimal
minimum cut, the same whichever maximum flow is found).

Review round 22 (R22T-M2, R22T-M3): checking the union of each pair of overlapping sets missed a chain of
three (S1+S2, S2+S3, S3+S4 confined to S1-S4) and took 92 s on 200 wide overlapping sets; one flow per pool
is exact, and Dinic's algorithm on at most MAX_SUBNET_SETS_PER_POOL sets is fast on real inputs.

Review round 23 (R23U-M1): Dinic runs one phase per augmenting-path length (up to about one per set), each
scanning every set -> subnet edge: 200 chained sets each also naming 5,900 zero-address subnets took 118.7 s.
Subnets used by exactly the same sets are one node (their addresses summed: the same flows and the same
minimum cuts), which folds such padding into one node; and every edge visit is charged to a ``WorkBudget``,
so a network built to need many long phases stops early (the caller reports the pool not checked).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence


class FlowBudgetExceededError(Exception):
    """The flow needed more edge visits than its budget: the answer is not known."""


class WorkBudget:
    """Edge visits a flow may still make (shared by the flows of one check)."""

    def __init__(self, visits: int) -> None:
        self.left = visits

    def spend(self, visits: int) -> None:
        self.left -= visits
        if self.left < 0:
            raise FlowBudgetExceededError


class _Network:
    """A flow network on integer capacities (edge e and its reverse e ^ 1), solved with Dinic's algorithm."""

    def __init__(self, nodes: int, budget: WorkBudget) -> None:
        self.budget = budget  # charged for every edge visited; FlowBudgetExceededError past it
        self.edges: list[list[int]] = [[] for _ in range(nodes)]  # edge indexes leaving each node
        self.head: list[int] = []  # the node each edge enters
        self.room: list[int] = []  # residual capacity of each edge

    def add(self, tail: int, head: int, capacity: int) -> None:
        self.edges[tail].append(len(self.head))
        self.head.append(head)
        self.room.append(capacity)
        self.edges[head].append(len(self.head))
        self.head.append(tail)
        self.room.append(0)

    def reachable(self, source: int) -> list[int]:
        """Breadth-first distances from ``source`` over edges with room (-1: not reachable)."""
        distance = [-1] * len(self.edges)
        distance[source] = 0
        queue = deque([source])
        visits = 0
        while queue:
            node = queue.popleft()
            visits += len(self.edges[node])
            for edge in self.edges[node]:
                nxt = self.head[edge]
                if self.room[edge] > 0 and distance[nxt] < 0:
                    distance[nxt] = distance[node] + 1
                    queue.append(nxt)
        self.budget.spend(visits)
        return distance

    def _augment(self, source: int, sink: int, level: list[int], arc: list[int]) -> int:
        """Push flow along one shortest path of the level graph (current-arc pointers: each edge found dead is
        skipped for the rest of the phase); 0 when none is left."""
        path: list[int] = []
        node = source
        visits = 0
        while node != sink:
            edges = self.edges[node]
            while arc[node] < len(edges):
                visits += 1
                edge = edges[arc[node]]
                if self.room[edge] > 0 and level[self.head[edge]] == level[node] + 1:
                    break
                arc[node] += 1
            else:  # a dead end: retreat one edge and skip it
                if not path:
                    self.budget.spend(visits)
                    return 0
                node = self.head[path.pop() ^ 1]
                arc[node] += 1
                continue
            path.append(edge)
            node = self.head[edge]
        self.budget.spend(visits + len(path))
        pushed = min(self.room[e] for e in path)
        for edge in path:
            self.room[edge] -= pushed
            self.room[edge ^ 1] += pushed
        return pushed

    def max_flow(self, source: int, sink: int) -> int:
        total = 0
        while True:
            level = self.reachable(source)
            if level[sink] < 0:
                return total
            arc = [0] * len(self.edges)
            while pushed := self._augment(source, sink, level, arc):
                total += pushed


def _merged_subnets(
    demands: Sequence[int], uses: Sequence[Sequence[int]], supply: Sequence[int | None]
) -> tuple[list[tuple[int, ...]], list[list[int]]]:
    """The subnets used by at least one set with demand, one node per distinct membership: (the sets using
    each node, the subnets of each node). Subnets with the same sets have the same edges, so the flows and
    the reachable side of the minimal minimum cut are the same with them merged (their addresses summed)."""
    members: list[list[int]] = [[] for _ in supply]
    for i, demand in enumerate(demands):
        if demand > 0:
            for j in dict.fromkeys(uses[i]):
                members[j].append(i)
    node_of: dict[tuple[int, ...], int] = {}
    memberships: list[tuple[int, ...]] = []
    subnets_of: list[list[int]] = []
    for j, sets_using in enumerate(members):
        if sets_using:
            key = tuple(sets_using)
            node = node_of.setdefault(key, len(memberships))
            if node == len(memberships):
                memberships.append(key)
                subnets_of.append([])
            subnets_of[node].append(j)
    return memberships, subnets_of


def hall_shortfall(
    demands: Sequence[int],
    uses: Sequence[Sequence[int]],
    supply: Sequence[int | None],
    budget: WorkBudget | None = None,
) -> set[int]:
    """The subnets (indexes into ``supply``) of the family of sets most short of addresses, or an empty set
    when every demand fits.

    ``demands[i]`` addresses are wanted by the groups on set i, which may draw on the subnets ``uses[i]``;
    ``supply[j]`` is subnet j's addresses (None: not known offline, so never short). A set's demand may be
    split across its subnets, as IP1 has always counted it (addresses summed over a set). Raises
    FlowBudgetExceededError when the flow needs more edge visits than ``budget`` (default POOL_WORK_BUDGET).
    """
    total = sum(d for d in demands if d > 0)
    if total <= 0:
        return set()
    memberships, subnets_of = _merged_subnets(demands, uses, supply)
    sets, nodes = len(demands), len(memberships)
    source, sink = sets + nodes, sets + nodes + 1
    network = _Network(sets + nodes + 2, budget if budget is not None else WorkBudget(POOL_WORK_BUDGET))
    for i, demand in enumerate(demands):
        if demand > 0:
            network.add(source, i, demand)
    for node, sets_using in enumerate(memberships):
        for i in sets_using:
            network.add(i, sets + node, total)  # unbounded: no cut of less than the total crosses it
        known = [supply[j] for j in subnets_of[node]]
        addresses = None if None in known else sum(max(0, a or 0) for a in known)
        network.add(sets + node, sink, total if addresses is None else min(addresses, total))
    if network.max_flow(source, sink) >= total:
        return set()
    distance = network.reachable(source)
    return {j for node in range(nodes) if distance[sets + node] >= 0 for j in subnets_of[node]}


# Edge visits one pool's flows (exact and headroom) may make: the project's configs and tests need at most a
# few hundred; about 2 s of CPU here. RUN_WORK_BUDGET bounds all pools of one rule run together.
POOL_WORK_BUDGET = 5_000_000
RUN_WORK_BUDGET = 20_000_000
