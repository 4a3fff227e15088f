"""Hall's condition for IP1: can every group's addresses be drawn from the subnets it may use?

Groups (by distinct subnet set) demand addresses; subnets supply them. All demand can be placed iff the
maximum flow source -> set (its demand) -> each subnet of the set (unbounded) -> sink (the subnet's
addresses) equals the total demand (Hall's condition for every family of sets at once, max-flow/min-cut).
When it is short, the subnets reachable from the source in the residual graph are a family's subnets
whose addresses are fewer than what the sets confined to them demand: the one most short (the minimal
minimum cut, the same whichever maximum flow is found).

Review round 22 (R22T-M2, R22T-M3): checking the union of each pair of overlapping sets missed a chain of
three (S1+S2, S2+S3, S3+S4 confined to S1-S4) and took 92 s on 200 wide overlapping sets; one flow per pool
is exact, and Dinic's algorithm on at most MAX_SUBNET_SETS_PER_POOL sets stays in the milliseconds to a second.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence


class _Network:
    """A flow network on integer capacities (edge e and its reverse e ^ 1), solved with Dinic's algorithm."""

    def __init__(self, nodes: int) -> None:
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
        while queue:
            node = queue.popleft()
            for edge in self.edges[node]:
                nxt = self.head[edge]
                if self.room[edge] > 0 and distance[nxt] < 0:
                    distance[nxt] = distance[node] + 1
                    queue.append(nxt)
        return distance

    def _augment(self, source: int, sink: int, level: list[int], arc: list[int]) -> int:
        """Push flow along one shortest path of the level graph (current-arc pointers: each edge found dead is
        skipped for the rest of the phase); 0 when none is left."""
        path: list[int] = []
        node = source
        while node != sink:
            edges = self.edges[node]
            while arc[node] < len(edges):
                edge = edges[arc[node]]
                if self.room[edge] > 0 and level[self.head[edge]] == level[node] + 1:
                    break
                arc[node] += 1
            else:  # a dead end: retreat one edge and skip it
                if not path:
                    return 0
                node = self.head[path.pop() ^ 1]
                arc[node] += 1
                continue
            path.append(edge)
            node = self.head[edge]
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


def hall_shortfall(demands: Sequence[int], uses: Sequence[Sequence[int]], supply: Sequence[int | None]) -> set[int]:
    """The subnets (indexes into ``supply``) of the family of sets most short of addresses, or an empty set
    when every demand fits.

    ``demands[i]`` addresses are wanted by the groups on set i, which may draw on the subnets ``uses[i]``;
    ``supply[j]`` is subnet j's addresses (None: not known offline, so never short). A set's demand may be
    split across its subnets, as IP1 has always counted it (addresses summed over a set).
    """
    total = sum(demands)
    if total <= 0:
        return set()
    sets, subnets = len(demands), len(supply)
    source, sink = sets + subnets, sets + subnets + 1
    network = _Network(sets + subnets + 2)
    for i, demand in enumerate(demands):
        if demand > 0:
            network.add(source, i, demand)
            for j in uses[i]:
                network.add(i, sets + j, total)  # unbounded: no cut of less than the total crosses it
    for j, addresses in enumerate(supply):
        network.add(sets + j, sink, total if addresses is None else max(0, min(addresses, total)))
    if network.max_flow(source, sink) >= total:
        return set()
    distance = network.reachable(source)
    return {j for j in range(subnets) if distance[sets + j] >= 0}
