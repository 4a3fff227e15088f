"""Review round 9, platform (issue 18): the project's own examples fit the claim quota (R9P-L1) and a
team's ``network_ingress_cidrs`` cannot re-admit the other teams' pods (R9P-L3). R9P-L2 (0 GPUs) is in
tests/test_k8s_jobs.py, R9P-L4 (endpoint policies of added endpoints) in tests/test_closed_network.py."""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path
from typing import Any

import cdk8s
import pytest
import yaml

from hyperpod_cdk.config import load_config, parse_config
from hyperpod_cdk.config.charts import parse_k8s_settings
from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.kubernetes.charts import HyperPodOperatorChart, dist
from hyperpod_cdk.kubernetes.charts.claim_quota import VOLUME_CLAIM_QUOTA_NAME, example_volume_claims

REPO = Path(__file__).resolve().parents[1]


def _example(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / "examples" / name).read_text(encoding="utf-8")))


def _with_serving_cidrs(config: dict[str, Any], cidrs: list[str]) -> dict[str, Any]:
    config = copy.deepcopy(config)
    teams = config.setdefault("kubernetes", {}).setdefault("teams", [{"name": "training"}, {"name": "serving"}])
    serving = next(team for team in teams if team["name"] == "serving")
    serving["network_ingress_cidrs"] = cidrs
    return config


# --- R9P-L3: network_ingress_cidrs ------------------------------------------------------------------

GOVERNED = _example("eks-governed.yaml")  # vpc_cidr 10.192.0.0/16, hyperpod_cidr 10.1.0.0/16 (secondary)


@pytest.mark.parametrize(
    ("cidr", "message"),
    [
        ("0.0.0.0/0", "0.0.0.0/0 holds every pod address, so it would let other teams' pods in"),
        ("10.1.0.0/16", "10.1.0.0/16 overlaps network.hyperpod_cidr 10.1.0.0/16, where every team's pods get"),
        ("10.1.32.0/24", "10.1.32.0/24 overlaps network.hyperpod_cidr 10.1.0.0/16"),
        ("10.0.0.0/8", "10.0.0.0/8 overlaps network.hyperpod_cidr 10.1.0.0/16"),
        ("10.192.0.0/16", "10.192.0.0/16 holds the whole VPC (network.vpc_cidr 10.192.0.0/16)"),
        ("10.192.0.0/15", "10.192.0.0/15 holds the whole VPC (network.vpc_cidr 10.192.0.0/16)"),
    ],
)
def test_ingress_ranges_holding_pod_addresses_or_the_vpc_are_refused(cidr: str, message: str) -> None:
    """The team's NetworkPolicy admits these ranges as ipBlock peers, and the VPC CNI's policy agent
    matches pod addresses against ipBlock: a range holding the HyperPod subnets (or everything) lets
    every other team's pods in again."""
    with pytest.raises(HyperPodConfigError) as info:
        parse_config(_with_serving_cidrs(GOVERNED, [cidr]))
    assert info.value.field == "kubernetes.teams[1](serving).network_ingress_cidrs"
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_a_load_balancers_subnets_outside_the_pod_range_stay_allowed() -> None:
    """The documented use (docs/inference.md): the subnets of a load balancer, in the VPC's primary CIDR
    (the control-plane subnets), not in the HyperPod subnets."""
    config = parse_config(_with_serving_cidrs(GOVERNED, ["10.192.2.0/24", "10.192.3.0/24", "192.168.0.0/24"]))
    serving = config.kubernetes.team("serving")
    assert [str(cidr) for cidr in serving.network_ingress_cidrs] == ["10.192.2.0/24", "10.192.3.0/24", "192.168.0.0/24"]


def test_with_an_existing_eks_cluster_no_range_is_admitted() -> None:
    """Review round 10, M1: the existing cluster's own node groups may give team pods addresses in any
    subnet (a load balancer's included), so with eks.existing the key is refused outright."""
    existing = _example("existing-vpc-and-eks.yaml")
    for cidrs in (["10.0.1.0/24"], ["192.168.0.0/24"]):
        with pytest.raises(HyperPodConfigError) as info:
            parse_config(_with_serving_cidrs(existing, cidrs))
        assert info.value.field == "kubernetes.teams[1](serving).network_ingress_cidrs"
        assert "not with eks.existing" in str(info.value) and "\n" not in str(info.value)
    parse_config(existing)  # without the key the example is unchanged


def test_an_existing_vpc_checks_its_own_hyperpod_subnets_and_cidr() -> None:
    existing = _example("existing-vpc-and-eks.yaml")  # vpc 10.0.0.0/16, HyperPod subnet 10.0.64.0/18
    del existing["eks"]["existing"]  # an EKS cluster created here, in the existing VPC
    with pytest.raises(HyperPodConfigError) as info:
        parse_config(_with_serving_cidrs(existing, ["10.0.100.0/24"]))
    assert info.value.field == "kubernetes.teams[1](serving).network_ingress_cidrs"
    assert "overlaps network.existing.hyperpod_subnets.usw2-az2 10.0.64.0/18" in str(info.value)
    parse_config(_with_serving_cidrs(existing, ["10.0.1.0/24"]))  # a subnet of the VPC outside the pods'
    # HyperPod subnets the platform adds from a secondary hyperpod_cidr: the existing VPC's CIDR holds no pod.
    added = copy.deepcopy(existing)
    del added["network"]["existing"]["hyperpod_subnets"]
    added["network"]["existing"]["nat_gateway_id"] = "nat-0123456789abcdef0"
    added["network"].update(hyperpod_cidr="10.1.0.0/16", availability_zone_ids=["usw2-az2"])
    with pytest.raises(HyperPodConfigError, match=r"10.1.8.0/24 overlaps network.hyperpod_cidr 10.1.0.0/16"):
        parse_config(_with_serving_cidrs(added, ["10.1.8.0/24"]))
    with pytest.raises(HyperPodConfigError, match=r"holds the whole VPC \(network.existing.vpc_cidr 10.0.0.0/16\)"):
        parse_config(_with_serving_cidrs(added, ["10.0.0.0/16"]))


def test_every_address_is_refused_without_a_platform_config_too() -> None:
    """The chart's settings alone (a library user's HyperPodOperatorChart) know no VPC, but 0.0.0.0/0
    holds every pod of any VPC; IPv6 ranges are no IPv4 network at all."""
    for cidr, field in (("0.0.0.0/0", "network_ingress_cidrs"), ("::/0", "network_ingress_cidrs[0]")):
        with pytest.raises(HyperPodConfigError) as info:
            parse_k8s_settings({"teams": [{"name": "serving", "network_ingress_cidrs": [cidr]}]})
        assert info.value.field == f"kubernetes.teams[0](serving).{field}"


# --- R9P-L1: the project's examples fit the claim quota ----------------------------------------------

EKS_EXAMPLES = sorted(
    path
    for path in [REPO / "hyperpod.yaml", *(REPO / "examples").glob("*.yaml")]
    if yaml.safe_load(path.read_text(encoding="utf-8")).get("orchestrator", "eks") == "eks"
)


def _claims_made(docs: list[dict[str, Any]]) -> Counter[str]:
    """Claims the manifests lead to, by namespace, counted from the manifests themselves: each
    PersistentVolumeClaim; the model claim of an InferenceEndpointConfig whose model comes from S3 or
    FSx (the operator mounts it through the CSI driver, Persistent mode only: a claim in the endpoint's
    namespace); one per generic ephemeral volume of each replica of a job's pod template."""
    made: Counter[str] = Counter()
    for doc in docs:
        namespace = doc["metadata"].get("namespace", "default")
        if doc["kind"] == "PersistentVolumeClaim":
            made[namespace] += 1
        elif doc["kind"] == "InferenceEndpointConfig":
            source = doc["spec"]["modelSourceConfig"]["modelSourceType"]
            made[namespace] += source in ("s3", "fsx")
        elif doc["kind"] == "HyperPodPyTorchJob":
            for replicas in doc["spec"]["replicaSpecs"]:
                volumes = replicas["template"]["spec"].get("volumes", [])
                made[namespace] += replicas.get("replicas", 1) * sum("ephemeral" in v for v in volumes)
    return made


def _claim_quotas(docs: list[dict[str, Any]]) -> dict[str, int]:
    return {
        doc["metadata"]["namespace"]: int(doc["spec"]["hard"]["persistentvolumeclaims"])
        for doc in docs
        if doc["kind"] == "ResourceQuota" and doc["metadata"]["name"] == VOLUME_CLAIM_QUOTA_NAME
    }


@pytest.mark.parametrize("example", EKS_EXAMPLES, ids=lambda path: path.name)
def test_every_example_namespace_admits_the_claims_of_the_projects_own_manifests(
    example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make dist` of each shipped EKS config: every namespace its manifests put a claim in (directly, or
    through the inference operator) has a claim quota admitting at least that many, and the chart the
    CDK app applies (HyperPodOperatorChart.from_settings of the platform config) has the same quotas."""
    assert dist.main(["--config", str(example), "--out", str(tmp_path), "--no-validate"]) == 0, capsys.readouterr()
    docs = [
        doc
        for path in sorted(tmp_path.rglob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if doc
    ]
    quotas = _claim_quotas(docs)
    for namespace, claims in _claims_made(docs).items():
        assert namespace in quotas, f"{example.name}: {namespace} has claims but no claim quota"
        assert (
            claims <= quotas[namespace]
        ), f"{example.name}: {namespace} needs {claims} claims, quota {quotas[namespace]}"
    config = load_config(example)
    applied = HyperPodOperatorChart.from_settings(cdk8s.App(), "operator", config.kubernetes)
    assert _claim_quotas([dict(doc) for doc in applied.to_json()]) == quotas


def test_the_governed_examples_inference_endpoint_gets_exactly_its_model_claim() -> None:
    """eks-governed writes an S3-sourced endpoint into research's namespace: research may hold that one
    claim, serving none; without the inference operator nobody gets it."""
    config = load_config(REPO / "examples" / "eks-governed.yaml")
    assert config.kubernetes.inference_example
    assert example_volume_claims(config.kubernetes) == {"research": 1}
    chart = HyperPodOperatorChart.from_settings(cdk8s.App(), "operator", config.kubernetes)
    quotas = _claim_quotas([dict(doc) for doc in chart.to_json()])
    assert quotas == {"hyperpod-ns-research": 1, "hyperpod-ns-serving": 0}
    off = HyperPodOperatorChart.from_settings(cdk8s.App(), "off", config.kubernetes, inference_example=False)
    assert set(_claim_quotas([dict(doc) for doc in off.to_json()]).values()) == {0}
    with pytest.raises(HyperPodConfigError) as info:
        HyperPodOperatorChart(cdk8s.App(), "bad", example_claims={"nobody": 1})
    assert info.value.field == "example_claims"
