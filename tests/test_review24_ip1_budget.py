"""Review round 23 (tools, R23U-M1): IP1's max-flow had no work limit. 200 groups chained over /20 subnets, each
also naming 5,900 zero-address subnets (a 7.2 MiB template) took 118.7 s of CPU: one Dinic phase per group,
each scanning every set -> subnet edge. Subnets used by the same sets are now one node, and the flows of a
pool (and of an input) stop past a budget of edge visits, the pool then reported not checked."""

from __future__ import annotations

import importlib.util
import itertools
import random
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.rules import deploy_network, ip_flow
from hyperpod_cdk.rules.model import NOT_CHECKED


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


work_limits = _load("work_limits")
flow_tests = _load("test_review23_ip1_flow")
group = _load("test_review20_deploy_rules").group  # ml.g5.8xlarge: 30 IPs a node on EKS
IP1 = "HyperPod-IP1"


def _chain(n: int, pads: int, member: Any = None) -> dict[str, Any]:
    """The reviewer's ip1/gen_dinic2.py: group x(i) (written x(n) first) wants 137 x 30 = 4,110 IPs on
    [Y(i-1), Y(i)] (/20: 4,091 usable; Y(n) a /16) plus the /32 pads (no usable address) ``member(k, i)`` says;
    every group fits only by shifting 19 IPs a step down the chain: one Dinic phase per group."""
    cidrs = {f"Y{j}": f"10.{j // 16}.{(j % 16) * 16}.0/20" for j in range(n)} | {f"Y{n}": "10.250.0.0/16"}
    cidrs |= {f"P{k}": f"172.16.{k // 256}.{k % 256}/32" for k in range(pads)}
    groups = [
        group(f"x{i}", 137, [f"Y{i - 1}", f"Y{i}"] + [f"P{k}" for k in range(pads) if member is None or member(k, i)])
        for i in range(n, 0, -1)
    ]
    return flow_tests.cluster(cidrs, *groups, default=("Y0",))


def test_ip1_the_reviewers_chain_with_shared_padding_is_exact_and_fast() -> None:
    """Before: 200 chained groups each naming 1,000 padding subnets took two flows of ~15 s each (201 phases
    over 200,400 edges). The padding, used by every group, is one node now: the exact answer (every group
    fits, but not with 25% headroom) within the hang guard."""
    found = [f for f in work_limits.rule_findings(_chain(200, 1000), IP1, seconds=20) if f.rule_id == IP1]
    assert [f.severity for f in found] == ["warning"]
    # The family most short of the headroom: every subnet but the /16 at the end of the chain (199 groups).
    assert found[0].detail.startswith("subnets 10.12.112.0/20, 172.16.0.0/32, 172.16.0.1/32")


def _distinct_pads(n: int, pads: int) -> Any:
    """Each padding subnet used by its own random half of the groups: no two merge."""
    rng = random.Random(23)
    chosen = [{i for i in range(1, n + 1) if rng.random() < 0.5} for _ in range(pads)]
    return lambda k, i: i in chosen[k]


def test_hall_shortfall_stops_past_its_budget_when_no_subnets_merge() -> None:
    """The chain with 2,000 padding subnets each used by a different half of 200 sets (about 200,000 edges,
    201 phases: tens of millions of edge visits) stops after POOL_WORK_BUDGET visits, within the guard."""
    n, pads, capacity = 200, 2000, 4091
    member = _distinct_pads(n, pads)
    uses = [[i - 1, i] + [n + 1 + k for k in range(pads) if member(k, i)] for i in range(n, 0, -1)]
    supply: list[int | None] = [capacity] * n + [10**6] + [0] * pads
    budget = ip_flow.WorkBudget(ip_flow.POOL_WORK_BUDGET)
    with work_limits.guard(20), pytest.raises(ip_flow.FlowBudgetExceededError):
        ip_flow.hall_shortfall([capacity + 19] * n, uses, supply, budget)
    assert budget.left < 0


def test_ip1_a_pool_past_the_budget_is_not_checked_and_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pool whose flows run out of the budget (made small here) gets a not-checked line naming its groups;
    the pool's union and each exact set are still checked (here they fit with headroom: no other line), and with
    the real budget the flow finds the chain's warning."""
    monkeypatch.setattr(deploy_network, "POOL_WORK_BUDGET", 2000)
    found = [f for f in flow_tests.lint(_chain(30, 60, _distinct_pads(30, 60))) if f.rule_id == IP1]
    assert [f.severity for f in found] == [NOT_CHECKED]
    assert found[0].detail.startswith(
        "groups 'x30', 'x29', 'x28', 'x27', 'x26', 'x25', 'x24', 'x23', 'x22', 'x21', and 20 more share subnets "
        "(30 distinct subnet sets over 91 subnets): fitting their addresses together took more than the flow's "
        "budget of 2,000 edge visits per pool"
    )
    monkeypatch.setattr(deploy_network, "POOL_WORK_BUDGET", ip_flow.POOL_WORK_BUDGET)
    assert [f.severity for f in flow_tests.lint(_chain(30, 60, _distinct_pads(30, 60)))] == ["warning"]


def test_ip1_the_inputs_budget_is_shared_by_its_pools(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two clusters of one input: once the input's budget is spent by the first pool, the second is not checked
    (many pools each just under the pool budget would otherwise add up without bound)."""
    template = _chain(30, 60, _distinct_pads(30, 60))
    template["Resources"]["HP2"] = template["Resources"]["HP"]
    made: list[Any] = []

    class Recorded(ip_flow.WorkBudget):
        def __init__(self, visits: int) -> None:
            super().__init__(visits)
            self.given = visits
            made.append(self)

    monkeypatch.setattr(deploy_network, "WorkBudget", Recorded)
    assert [f.severity for f in flow_tests.lint(template)] == ["warning", "warning"]
    run = made[0]  # the input's budget, made first
    assert run.given == ip_flow.RUN_WORK_BUDGET
    one_pool = (run.given - run.left) // 2
    monkeypatch.setattr(deploy_network, "RUN_WORK_BUDGET", one_pool + one_pool // 2)
    found = flow_tests.lint(template)
    assert [f.severity for f in found] == ["warning", NOT_CHECKED]
    assert "per input" in found[1].detail


def _brute(demands: list[int], uses: list[list[int]], supply: list[int | None]) -> tuple[int, set[int]] | None:
    """The largest shortfall over every union of subnets (a family is short when the sets within it want
    more than its known addresses), and the smallest such union."""
    worst: tuple[int, set[int]] | None = None
    for size in range(1, len(supply) + 1):
        for chosen in itertools.combinations(range(len(supply)), size):
            within = set(chosen)
            if any(supply[j] is None for j in within):
                continue
            wanted = sum(d for d, u in zip(demands, uses, strict=True) if set(u) <= within)
            short = wanted - sum(supply[j] or 0 for j in within)
            if short > 0 and (worst is None or short > worst[0]):
                worst = (short, within)
    return worst


def test_hall_shortfall_with_merged_subnets_matches_a_brute_force_check() -> None:
    """Few sets over many subnets (so most subnets share their sets and merge, unknown supplies among them):
    the flow says short exactly when some family is, with the largest shortfall, naming the real subnets."""
    rng = random.Random(24)
    for _ in range(1500):
        subnets, sets = rng.randint(1, 7), rng.randint(1, 3)
        supply = [None if rng.random() < 0.1 else rng.randint(0, 8) for _ in range(subnets)]
        uses = [sorted(rng.sample(range(subnets), rng.randint(1, subnets))) for _ in range(sets)]
        demands = [rng.randint(0, 12) for _ in range(sets)]
        got = ip_flow.hall_shortfall(demands, uses, supply)
        want = _brute(demands, uses, supply)
        assert bool(got) == (want is not None), (demands, uses, supply, got)
        if want is not None:
            assert all(supply[j] is not None for j in got)
            within = sum(d for d, u in zip(demands, uses, strict=True) if set(u) <= got)
            assert within - sum(supply[j] or 0 for j in got) == want[0], (demands, uses, supply, got)


def test_hall_shortfall_merged_subnets_keep_unknown_and_name_every_member() -> None:
    """Subnets 1 and 2 are used by both sets (one node): an unknown one makes the node never short; known,
    the family most short names both."""
    uses = [[0, 1, 2], [1, 2, 3]]
    assert ip_flow.hall_shortfall([10, 10], uses, [5, 0, None, 5]) == set()
    assert ip_flow.hall_shortfall([10, 10], uses, [5, 0, 2, 5]) == {0, 1, 2, 3}
    assert ip_flow.hall_shortfall([10, 0], uses, [5, 0, 2, 5]) == {0, 1, 2}


def test_ip1_merged_padding_is_reported_by_its_real_subnets() -> None:
    """Groups on [A, P1, P2] and [B, P1, P2]: P1 and P2 (two /28, 11 usable each) merge; each group fits
    alone (270 of 273), not together (540 of 524): the error names all four subnets."""
    cidrs = {"A": "10.0.0.0/24", "B": "10.0.1.0/24", "P1": "10.0.2.0/28", "P2": "10.0.2.16/28"}
    template = flow_tests.cluster(
        cidrs, group("a", 9, ["A", "P1", "P2"]), group("b", 9, ["B", "P1", "P2"]), default=("A",)
    )
    (finding,) = flow_tests.lint(template)
    assert finding.severity is None
    assert finding.detail.startswith(
        "subnets 10.0.0.0/24, 10.0.2.0/28, 10.0.2.16/28, 10.0.1.0/24 have 524 usable addresses but the groups "
        "need 540"
    )
