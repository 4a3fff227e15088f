"""Review round 23, tools, R23T-H3: `lint cdk.out --live` read AWS in one region for every stack.

The clients were made once, for ``--region`` (which won over the manifest's region) or, with stacks in two
regions, for the SDK's default region: QUOTA1 compared a us-east-1 cluster with us-west-2's quota (exit 0), and
a read of one region's subnets in the other failed for all of them. Now each region of the input is read with
its own clients (``factory(region)``, once per region), what they read is added to that region's templates,
and QUOTA1 matches each cluster with its own region's quota. The manifest's region wins over ``--region``, as
it does for the offline rules (TYPE1); ``--region`` is the region of a template the manifest gives none.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from hyperpod_cdk.cli import lint_live
from hyperpod_cdk.cli.main import main

P5 = "ml.p5.48xlarge"
QUOTAS = {"us-west-2": 16, "us-east-1": 4}  # what each region's ListServiceQuotas answers for ml.p5.48xlarge
SUBNETS = {"us-west-2": "subnet-0west", "us-east-1": "subnet-0east"}  # each region's only subnet


def _cluster(name: str, count: int, subnet: str | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {
        "ClusterName": name,
        "Orchestrator": {"Slurm": {}},
        "InstanceGroups": [
            {
                "InstanceGroupName": "gpu",
                "InstanceType": P5,
                "InstanceCount": count,
                "ExecutionRole": "arn:aws:iam::111122223333:role/r",
                "LifeCycleConfig": {"SourceS3Uri": "s3://b/p/", "OnCreate": "on_create.sh"},
                "SlurmConfig": {"NodeType": "Compute"},
            }
        ],
    }
    if subnet:
        props["VpcConfig"] = {"Subnets": [subnet], "SecurityGroupIds": []}
    return {"Type": "AWS::SageMaker::Cluster", "Properties": props}


def _cdk_out(root: Path, stacks: dict[str, tuple[str | None, dict[str, Any]]]) -> Path:
    """A cdk.out with one stack per entry: (region, or None for an environment-agnostic stack; resources)."""
    root.mkdir()
    artifacts = {}
    for name, (region, resources) in stacks.items():
        (root / f"{name}.template.json").write_text(json.dumps({"Resources": resources}))
        artifacts[name] = {
            "type": "aws:cloudformation:stack",
            "environment": f"aws://111122223333/{region or 'unknown-region'}",
            "properties": {"templateFile": f"{name}.template.json"},
        }
    (root / "manifest.json").write_text(json.dumps({"version": "36.0.0", "artifacts": artifacts}))
    return root


def _denied(operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, operation)


class _Pages:
    def __init__(self, quota: int | None) -> None:
        self.quota = quota

    def paginate(self, **_: Any) -> Any:
        if self.quota is None:
            raise _denied("ListServiceQuotas")
        yield {"Quotas": [{"QuotaName": f"{P5} for cluster usage", "Value": float(self.quota)}]}


class _RegionAws:
    """One region's AWS as the clients of that region see it: its quota, its subnets; everything else denied."""

    def __init__(self, region: str, denied: set[str]) -> None:
        self.region, self.denied = region, denied

    def __call__(self, service: str) -> Any:
        if service in self.denied:
            return _Denied()
        return self if service in ("ec2", "service-quotas") else _Denied()

    def get_paginator(self, _name: str) -> _Pages:
        return _Pages(QUOTAS.get(self.region))

    def describe_subnets(self, SubnetIds: list[str]) -> dict[str, Any]:  # noqa: N803
        if any(s != SUBNETS.get(self.region) for s in SubnetIds):  # as EC2 answers an id of another region
            raise ClientError({"Error": {"Code": "InvalidSubnetID.NotFound", "Message": "no"}}, "DescribeSubnets")
        return {
            "Subnets": [{"SubnetId": s, "CidrBlock": "10.0.0.0/24", "AvailableIpAddressCount": 5} for s in SubnetIds]
        }


class _Denied:
    def __getattr__(self, name: str) -> Any:
        def call(*_: Any, **__: Any) -> Any:
            raise _denied(name)

        return call


class _Factory:
    """A clients factory recording each region it is asked for (None: the SDK's default, ``default`` here)."""

    def __init__(self, default: str = "us-west-2", denied: dict[str, set[str]] | None = None) -> None:
        self.asked: list[str | None] = []
        self.default, self.denied = default, denied or {}

    def __call__(self, region: str | None) -> _RegionAws:
        self.asked.append(region)
        where = region or self.default
        return _RegionAws(where, self.denied.get(where, set()))


def _lint(path: Path, factory: _Factory, *extra: str) -> tuple[int, list[dict[str, Any]]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(["lint", str(path), "--live", "--json", *extra], clients_factory=factory)
    return code, json.loads(out.getvalue())["findings"]


def _quota_errors(findings: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(Path(f["file"]).name, f["message"]) for f in findings if f["rule_id"] == "HyperPod-QUOTA1"]


def _two_regions(tmp_path: Path, east: int = 10, west: int = 1) -> Path:
    return _cdk_out(
        tmp_path / "two.out",
        {"East": ("us-east-1", {"HP": _cluster("east", east)}), "West": ("us-west-2", {"HP": _cluster("west", west)})},
    )


def test_two_regions_without_region_compare_each_cluster_with_its_own_regions_quota(tmp_path: Path) -> None:
    """Before: one client set for the SDK default (us-west-2, quota 16): 10 x p5 in us-east-1 passed, exit 0."""
    factory = _Factory()
    code, findings = _lint(_two_regions(tmp_path), factory)
    assert code == 1
    assert _quota_errors(findings) == [
        ("East.template.json", f"10 x {P5} but the account's '{P5} for cluster usage' quota is 4")
    ]
    assert sorted(factory.asked) == ["us-east-1", "us-west-2"]  # one client set per region, no default region


def test_a_cluster_is_not_judged_by_another_regions_smaller_quota(tmp_path: Path) -> None:
    """Before, with the SDK default us-east-1 (quota 4): 10 x p5 in us-west-2 (quota 16) was a false error."""
    code, findings = _lint(_two_regions(tmp_path, east=3, west=10), _Factory(default="us-east-1"))
    assert (code, _quota_errors(findings)) == (0, [])


def test_the_manifests_region_wins_over_region(tmp_path: Path) -> None:
    """As for the offline rules (Templates.region_of: manifest, else --region). Before: --region us-west-2 was read
    for a us-east-1 stack, exit 0."""
    east = _cdk_out(tmp_path / "east.out", {"East": ("us-east-1", {"HP": _cluster("east", 10)})})
    factory = _Factory()
    code, findings = _lint(east, factory, "--region", "us-west-2")
    assert (code, factory.asked) == (1, ["us-east-1"])
    assert _quota_errors(findings) == [
        ("East.template.json", f"10 x {P5} but the account's '{P5} for cluster usage' quota is 4")
    ]
    factory = _Factory()
    code, findings = _lint(_two_regions(tmp_path), factory, "--region", "us-west-2")
    assert code == 1 and sorted(factory.asked) == ["us-east-1", "us-west-2"]
    assert [name for name, _ in _quota_errors(findings)] == ["East.template.json"]


def test_region_is_the_region_of_an_environment_agnostic_stack(tmp_path: Path) -> None:
    """A stack without a region in the manifest is read in --region (else the SDK default), beside the others."""
    out = _cdk_out(
        tmp_path / "mixed.out",
        {"East": ("us-east-1", {"HP": _cluster("east", 3)}), "Agnostic": (None, {"HP": _cluster("any", 10)})},
    )
    factory = _Factory()
    code, findings = _lint(out, factory, "--region", "us-east-1")
    assert factory.asked == ["us-east-1"]  # one region in all: one client set
    # Both stacks are then in us-east-1 (quota 4): 10 + 3 instances share it (R23T-L2), so both are named.
    assert code == 1 and sorted(name for name, _ in _quota_errors(findings)) == [
        "Agnostic.template.json",
        "East.template.json",
    ]
    factory = _Factory()  # no --region: the SDK default (us-west-2 here, quota 16) for the agnostic stack
    code, findings = _lint(out, factory)
    assert (code, _quota_errors(findings)) == (0, [])
    assert sorted(factory.asked, key=str) == [None, "us-east-1"]


def test_a_read_refused_in_one_region_leaves_the_other_regions_checked(tmp_path: Path) -> None:
    """us-east-1 refuses ListServiceQuotas, us-west-2 answers (quota 4 here): the west cluster is still judged;
    the not-checked line names us-east-1. Each region's subnets are read in their region (before: both ids in
    one DescribeSubnets of one region, NotFound, and no subnet of either region was read)."""
    out = _cdk_out(
        tmp_path / "denied.out",
        {
            "East": ("us-east-1", {"HP": _cluster("east", 10, SUBNETS["us-east-1"])}),
            "West": ("us-west-2", {"HP": _cluster("west", 20, SUBNETS["us-west-2"])}),
        },
    )
    factory = _Factory(denied={"us-east-1": {"service-quotas"}})
    code, findings = _lint(out, factory)
    assert code == 1
    assert _quota_errors(findings) == [
        ("West.template.json", f"20 x {P5} but the account's '{P5} for cluster usage' quota is 16")
    ]
    unread = [f["message"] for f in findings if f["rule_id"] == "unresolved"]
    (quotas,) = (m for m in unread if "quotas" in m)
    assert quotas.startswith("not checked: --live could not read HyperPod quotas in us-east-1: "), quotas
    assert not [m for m in unread if "subnets" in m]  # both regions' subnets were read, each in its region
    ip1 = [(Path(f["file"]).name, f["message"]) for f in findings if f["rule_id"] == "HyperPod-IP1"]
    assert {name for name, _ in ip1} == {"East.template.json", "West.template.json"}  # 5 free addresses each


def test_live_reads_at_most_max_live_regions_regions(tmp_path: Path) -> None:
    """500 stacks may name 500 regions: one client set each was unbounded."""
    n = lint_live.MAX_LIVE_REGIONS + 5
    out = _cdk_out(tmp_path / "many.out", {f"S{i}": (f"xx-test-{i}", {"HP": _cluster(f"c{i}", 1)}) for i in range(n)})
    factory = _Factory()
    start = time.process_time()
    code, findings = _lint(out, factory)
    assert time.process_time() - start < 20
    assert len(factory.asked) == lint_live.MAX_LIVE_REGIONS == len(set(factory.asked))
    (line,) = (f["message"] for f in findings if f["rule_id"] == "unresolved" and f["resource"] == "regions")
    prefix = f"not checked: --live reads at most {lint_live.MAX_LIVE_REGIONS} regions; the stacks of 5 more ("
    assert line.startswith(prefix) and line.endswith(", ...) were not read")
    named = line[len(prefix) : -len(", ...) were not read")].split(", ")
    assert len(named) == 3 and not set(named) & set(factory.asked)  # the regions not read
    assert code == 0


def test_an_eks_cluster_of_another_region_is_not_read_in_the_stacks_region(tmp_path: Path) -> None:
    """Its DescribeCluster in the stack's region would answer ResourceNotFound and take that region's other EKS
    reads with it: the one cluster is a not-checked line naming both regions, and no EKS call is made."""
    hp = _cluster("east", 1)
    hp["Properties"]["Orchestrator"] = {"Eks": {"ClusterArn": "arn:aws:eks:us-west-2:111122223333:cluster/hp-eks"}}
    out = _cdk_out(tmp_path / "eks.out", {"East": ("us-east-1", {"HP": hp})})
    _, findings = _lint(out, _Factory())
    eks = [f["message"] for f in findings if f["rule_id"] == "unresolved" and "EKS" in f["message"]]
    assert eks == [
        "not checked: --live did not read EKS cluster hp-eks: its ARN names us-west-2, the stack deploys to us-east-1"
    ]


def test_helm1_matches_a_missing_release_with_its_own_eks_cluster_and_region() -> None:
    """With regions read apart, HELM1 gave every EKS cluster the error of a release missing on any of them
    (another region's, another EKS cluster's): now only the cluster's own EKS cluster in its own region."""
    from hyperpod_cdk.rules.deploy_helm import helm_chart_before_cluster
    from hyperpod_cdk.rules.model import Templates

    def stack(region: str, eks: str, installed: bool) -> dict[str, Any]:
        arn = f"arn:aws:eks:{region}:111122223333:cluster/{eks}"
        cluster = _cluster(f"hp-{region}", 1)
        cluster["Properties"]["Orchestrator"] = {"Eks": {"ClusterArn": arn}}
        release = {"Name": "hyperpod-dependencies", "EksCluster": eks, "Installed": installed}
        return {"Resources": {"HP": cluster, "LiveHelm": {"Type": lint_live.HELM_RELEASE, "Properties": release}}}

    templates = Templates(
        {"East": stack("us-east-1", "eks-east", False), "West": stack("us-west-2", "eks-west", True)},
        regions={"East": "us-east-1", "West": "us-west-2"},
        closed_world=False,
    )
    templates.live.update({("East", "LiveHelm"), ("West", "LiveHelm")})
    found = [(f.template_path, f.detail) for f in helm_chart_before_cluster(templates)]
    assert [path for path, _ in found] == ["East"] and "eks-east" in found[0][1], found
