"""Review round 22 (tools): IP1 checks Hall's condition exactly with one max-flow per pool (R22T-M2: a chain of
three overlapping sets beside a wider group was never a candidate; R22T-M3: the pair unions took 92 s)."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.rules import deploy_network
from hyperpod_cdk.rules.catalog import check
from hyperpod_cdk.rules.inputs import from_cloudformation
from hyperpod_cdk.rules.ip_flow import hall_shortfall
from hyperpod_cdk.rules.model import NOT_CHECKED, Finding


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


work_limits = _load("work_limits")
group = _load("test_review20_deploy_rules").group  # ml.g5.8xlarge: 30 IPs a node on EKS

IP1 = "HyperPod-IP1"


def lint(template: dict[str, Any]) -> list[Finding]:
    loaded = from_cloudformation(template, "t.yaml", region="us-west-2")
    return [f for f in check(loaded.templates, kinds=("deploy",), include_not_checked=True) if f.rule_id == IP1]


def cluster(cidrs: dict[str, str], *groups: dict[str, Any], default: tuple[str, ...]) -> dict[str, Any]:
    subnets = {
        name: {"Type": "AWS::EC2::Subnet", "Properties": {"VpcId": "vpc-1", "CidrBlock": cidr}}
        for name, cidr in cidrs.items()
    }
    hp = {
        "Type": "AWS::SageMaker::Cluster",
        "Properties": {
            "ClusterName": "hp",
            "NodeRecovery": "Automatic",
            "Orchestrator": {"Eks": {"ClusterArn": "arn:aws:eks:us-west-2:111111111111:cluster/x"}},
            "VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": [{"Ref": s} for s in default]},
            "InstanceGroups": list(groups),
        },
    }
    return {"Resources": {**subnets, "HP": hp}}


# The reviewer's ip1/wchain3.yaml: S1, S4 /24 (251 usable), S2, S3 /23 (507), S5 /21.
WCHAIN = {"S1": "10.0.0.0/24", "S2": "10.0.2.0/23", "S3": "10.0.4.0/23", "S4": "10.0.1.0/24", "S5": "10.0.8.0/21"}
WCHAIN_CIDRS = "10.0.0.0/24, 10.0.2.0/23, 10.0.4.0/23, 10.0.1.0/24"


def wchain(a: int, b: int, c: int, *, wide: bool = True) -> dict[str, Any]:
    groups = [group("a", a, ["S1", "S2"]), group("b", b, ["S2", "S3"]), group("c", c, ["S3", "S4"])]
    if wide:
        return cluster(WCHAIN, *groups, group("d", 1), default=("S1", "S2", "S3", "S4", "S5"))
    return cluster(WCHAIN, *groups, default=("S1", "S2", "S3", "S4"))


@pytest.mark.parametrize("wide", [True, False], ids=["beside a wider group", "the pool is the chain"])
def test_ip1_a_chain_of_three_overlapping_sets_is_an_error(wide: bool) -> None:
    """'a' 20 on S1+S2, 'b' 13 on S2+S3, 'c' 20 on S3+S4 need 1,590 of S1-S4's 1,516 addresses; with the
    1-node group 'd' on the cluster's S1-S5 there was no IP1 finding at all (exit 0)."""
    (finding,) = lint(wchain(20, 13, 20, wide=wide))
    assert finding.severity is None  # an error
    assert finding.detail.startswith(
        f"subnets {WCHAIN_CIDRS} have 1516 usable addresses but the groups need 1590 ('a' 20 x ml.g5.8xlarge x "
        "30 IPs, 'b' 13 x ml.g5.8xlarge x 30 IPs, 'c' 20 x ml.g5.8xlarge x 30 IPs)"
    )


def test_ip1_a_chain_of_three_short_of_headroom_is_a_warning_on_the_chain() -> None:
    """1,260 of 1,516 addresses: fits, with less than 25% headroom only on S1-S4 (each set and each pair of
    sets has its 25%), so only the flow with the demand grown by the headroom sees it."""
    (finding,) = lint(wchain(16, 10, 16))
    assert finding.severity == "warning"
    assert finding.detail.startswith(f"subnets {WCHAIN_CIDRS} have 1516 usable addresses and the groups need 1260")
    assert finding.detail.endswith("less than 25% headroom for replacements and updates")


CHAIN4 = {f"S{i + 1}": f"10.0.{i}.0/24" for i in range(5)} | {"S6": "10.0.8.0/21"}


def test_ip1_a_chain_of_four_beside_a_wider_group_is_an_error() -> None:
    """Four groups of 11 on [S1,S2] .. [S4,S5] (/24s) need 1,320 of S1-S5's 1,255: every triple of them fits."""
    groups = [group(name, 11, [f"S{i + 1}", f"S{i + 2}"]) for i, name in enumerate("abce")]
    found = lint(cluster(CHAIN4, *groups, group("d", 1), default=tuple(CHAIN4)))
    assert [f.severity for f in found] == [None]
    assert found[0].detail.startswith(
        "subnets 10.0.0.0/24, 10.0.1.0/24, 10.0.2.0/24, 10.0.3.0/24, 10.0.4.0/24 have 1255 usable addresses but "
        "the groups need 1320"
    )


def test_ip1_overlapping_sets_that_fit_only_when_shared_well_are_not_flagged() -> None:
    """'a' 7 on S1+S2, 'b' 6 on S2 only, 'c' 7 on S2+S3: 600 of S1-S3's 753 addresses, 25% headroom on every
    family of sets (the tightest is all three: 750 of 753 with it). No finding."""
    cidrs = {"S1": "10.0.0.0/24", "S2": "10.0.1.0/24", "S3": "10.0.2.0/24", "S4": "10.0.8.0/21"}
    groups = [group("a", 7, ["S1", "S2"]), group("b", 6, ["S2"]), group("c", 7, ["S2", "S3"]), group("d", 1)]
    assert not lint(cluster(cidrs, *groups, default=("S1", "S2", "S3", "S4")))
    assert not lint(wchain(12, 8, 12))  # the chain of three at 960 of 1,516


def test_ip1_a_group_known_only_at_deploy_is_still_not_checked_when_the_rest_fit() -> None:
    partial = group("p", 1, ["S3", "S4"])
    partial["InstanceCount"] = {"Ref": "Count"}
    template = wchain(12, 8, 12)
    template["Resources"]["HP"]["Properties"]["InstanceGroups"].append(partial)
    template["Parameters"] = {"Count": {"Type": "Number"}}
    (finding,) = lint(template)
    assert finding.severity == NOT_CHECKED
    assert "the instance count or type of group 'p' is not known offline" in finding.detail


def test_hall_shortfall_names_the_family_most_short() -> None:
    """Sets 0 [0,1], 1 [1,2], 2 [2,3], 3 [0..4] (subnet 4 unknown offline: never short)."""
    uses = [[0, 1], [1, 2], [2, 3], [0, 1, 2, 3, 4]]
    assert hall_shortfall([5, 5, 5, 100], uses, [4, 4, 4, 4, None]) == set()
    assert hall_shortfall([5, 5, 5, 1], uses, [4, 4, 4, 2, 10]) == {0, 1, 2, 3}
    assert hall_shortfall([5, 5, 0, 0], uses, [4, 1, 4, 4, 10]) == {0, 1, 2}


def _windows(subnets: int, width: int, nodes: int) -> dict[str, Any]:
    """The reviewer's ip1/windows.py: 200 groups (the set cap), group i on the ring window [7i, 7i + width)."""
    cidrs = {f"S{i}": f"10.{i // 256}.{i % 256}.0/24" for i in range(subnets)}
    groups = [
        group(f"g{i}", nodes, [f"S{(i * 7 + j) % subnets}" for j in range(width)])
        for i in range(deploy_network.MAX_SUBNET_SETS_PER_POOL)
    ]
    return cluster(cidrs, *groups, default=("S0",))


def test_ip1_one_flow_per_pool_stays_bounded_at_the_set_cap() -> None:
    """R22T-M3: 200 groups on windows of 700 of 1,400 subnets took 92 s and 1.4 GB with the pair unions (and
    8 s past a 2,000,000-subnet work budget that left pairs unchecked). One flow: every family checked,
    the error found when the demand exceeds the addresses by 1%, well within the hang guard."""
    fits = work_limits.rule_findings(_windows(1400, 700, 46), IP1, seconds=60)
    assert not [f for f in fits if f.rule_id == IP1]
    start = time.process_time()
    short = [f for f in work_limits.rule_findings(_windows(1400, 700, 59), IP1, seconds=60) if f.rule_id == IP1]
    assert [f.severity for f in short] == [None]  # 354,000 IPs wanted of 351,400
    assert short[0].detail.startswith("subnets 10.0.0.0/24, 10.0.1.0/24, 10.0.2.0/24")  # all 1,400 (cut)
    assert time.process_time() - start < 20


def test_ip1_counts_each_subnet_by_what_is_known_of_it_when_only_some_have_free_counts() -> None:
    """--live: an existing subnet (a /22, but 10 addresses free now) beside one the template creates (a /24,
    251 usable). Before, a set with one subnet lacking a free count was counted by CIDR alone (1,270: no
    finding); each subnet now counts what is known of it (261)."""
    template = cluster({"S1": "10.0.0.0/24"}, group("a", 10), default=("S1",))
    template["Resources"]["Existing"] = {
        "Type": "AWS::EC2::Subnet",
        "Properties": {"SubnetId": "subnet-0123", "CidrBlock": "10.0.4.0/22", "AvailableIpAddressCount": 10},
    }
    template["Resources"]["HP"]["Properties"]["VpcConfig"]["Subnets"].append("subnet-0123")
    (finding,) = lint(template)
    assert finding.severity is None
    assert finding.detail.startswith(
        "subnets 10.0.0.0/24, 10.0.4.0/22 have 261 addresses (free now where AWS reported them, else usable) but "
        "the groups need 300"
    )
