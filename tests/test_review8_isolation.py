"""Review round 8 (issue 18): teams on one pod network (R8P-H1), static volumes claimed through generic
ephemeral volumes (R8P-M2) and the gated-model trust in any namespace (R8P-L2).

The NetworkPolicy and ResourceQuota checks below evaluate the objects the way Kubernetes does (the
parts of the semantics these objects use), so they say what a pod of one namespace may reach and what
a claim is admitted, not only that an object exists.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import cdk8s
import pytest
import yaml

from hyperpod_cdk.config.charts import FsxVolume
from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.kubernetes.charts import HyperPodOperatorChart, parse_k8s_settings
from hyperpod_cdk.kubernetes.charts.claim_quota import VOLUME_CLAIM_QUOTA_NAME
from hyperpod_cdk.kubernetes.charts.example_jobs import llama3_1_8b_fsdp_job
from hyperpod_cdk.kubernetes.charts.team_network import PLATFORM_SOURCE_NAMESPACES, TEAM_NETWORK_POLICY_NAME
from hyperpod_cdk.kubernetes.charts.validate import validate_manifests
from hyperpod_cdk.specs.namespaces import RESERVED_NAMESPACES

REPO = Path(__file__).resolve().parents[1]
FSX = FsxVolume(file_system_id="fs-0123456789abcdef0", dns_name="fs.example", mount_name="abcdefgh")
TEAMS = ("hyperpod-ns-alpha", "hyperpod-ns-beta", "hyperpod-ns-gamma")


def _chart_docs(beta: dict[str, Any]) -> list[dict[str, Any]]:
    settings = parse_k8s_settings(
        {
            "task_governance": True,
            "fsx": FSX,
            "fsx_storage_class": "fsx-sc",
            "teams": [
                {"name": "alpha"},
                {"name": "beta", "dynamic_fsx_claims": 2, **beta},
                {"name": "gamma", "compute_quota": [{"instance_type": "ml.p5.48xlarge", "count": 1}]},
            ],
        }
    )
    return [dict(d) for d in HyperPodOperatorChart.from_settings(cdk8s.App(), "review8", settings).to_json()]


@pytest.fixture(scope="module")
def net_docs() -> list[dict[str, Any]]:
    """Three teams (one SageMaker-owned quota namespace) with FSx: settings main already accepted."""
    return _chart_docs({})


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    """The same with one extra volume claim granted to beta."""
    return _chart_docs({"extra_volume_claims": 1})


# --- NetworkPolicy evaluation (networking.k8s.io/v1; the selectors these policies use) --------------


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        value = labels.get(expr["key"])
        if expr["operator"] == "In" and value not in expr["values"]:
            return False
        if expr["operator"] == "NotIn" and value in expr["values"]:
            return False
        if expr["operator"] == "Exists" and value is None:
            return False
    return True


def _peer_admits(peer: dict[str, Any], policy_ns: str, src_ns: str, src_labels: dict[str, str]) -> bool:
    if "ipBlock" in peer:
        return False  # the sources below are pods, not address ranges
    ns_labels = {"kubernetes.io/metadata.name": src_ns}
    # Without a namespaceSelector a peer means the policy's own namespace.
    ns_ok = _selects(peer["namespaceSelector"], ns_labels) if "namespaceSelector" in peer else src_ns == policy_ns
    return ns_ok and _selects(peer.get("podSelector", {}), src_labels)


def ingress_allowed(
    docs: list[dict[str, Any]], dst_ns: str, dst_labels: dict[str, str], src_ns: str, src_labels: dict[str, str]
) -> bool:
    """Whether Kubernetes admits a connection from a pod of ``src_ns`` to a pod of ``dst_ns``."""
    policies = [
        d
        for d in docs
        if d["kind"] == "NetworkPolicy"
        and d["metadata"]["namespace"] == dst_ns
        and "Ingress" in d["spec"].get("policyTypes", ["Ingress"])
        and _selects(d["spec"]["podSelector"], dst_labels)
    ]
    if not policies:
        return True  # a pod no ingress policy selects is not isolated
    return any(
        _peer_admits(peer, dst_ns, src_ns, src_labels)
        for policy in policies
        for rule in policy["spec"].get("ingress", [])
        for peer in rule.get("from", [])
    )


def test_no_team_reaches_another_teams_pods(net_docs: list[dict[str, Any]]) -> None:
    """R8P-H1: team A's pod could open team B's TCPStore / agent port. Every team namespace, SageMaker's
    quota namespace included, now refuses ingress from the other teams."""
    worker = {"app": "train"}
    for dst in TEAMS:
        for src in TEAMS:
            assert ingress_allowed(net_docs, dst, worker, src, {"any": "label"}) is (src == dst), (src, dst)
        assert not ingress_allowed(net_docs, dst, worker, "default", {})


def test_the_operator_kube_system_and_scrapers_still_reach_team_pods(net_docs: list[dict[str, Any]]) -> None:
    for dst in TEAMS:
        for src in ("aws-hyperpod", "kube-system", "hyperpod-observability", "hyperpod-inference-system"):
            assert ingress_allowed(net_docs, dst, {"app": "train"}, src, {"control-plane": "x"}), (src, dst)
    # Each source namespace is one no team can be given (config refuses it, or kube- is reserved).
    for ns in PLATFORM_SOURCE_NAMESPACES:
        assert ns in RESERVED_NAMESPACES or ns.startswith("kube-")


def test_the_example_job_pods_reach_each_other_inside_their_namespace(net_docs: list[dict[str, Any]]) -> None:
    """torch.distributed rendezvous, NCCL's TCP bootstrap and the agents talk pod to pod inside the
    job's namespace, which every team policy admits; the operator reaches hyperpodrun's port from
    aws-hyperpod."""
    job = llama3_1_8b_fsdp_job(image="example.invalid/fsdp:1", namespace="hyperpod-ns-beta").to_manifest()
    ns = job["metadata"]["namespace"]
    pod_labels = job["spec"]["replicaSpecs"][0]["template"].get("metadata", {}).get("labels", {})
    assert ingress_allowed(net_docs, ns, pod_labels, ns, pod_labels)
    assert ingress_allowed(net_docs, ns, pod_labels, "aws-hyperpod", {})
    assert not ingress_allowed(net_docs, ns, pod_labels, "hyperpod-ns-alpha", pod_labels)


def test_the_policies_are_valid_and_come_after_their_namespace(net_docs: list[dict[str, Any]]) -> None:
    policies = [d for d in net_docs if d["kind"] == "NetworkPolicy"]
    assert sorted(p["metadata"]["namespace"] for p in policies) == list(TEAMS)
    assert {p["metadata"]["name"] for p in policies} == {TEAM_NETWORK_POLICY_NAME}
    assert all(p["spec"]["policyTypes"] == ["Ingress"] for p in policies)  # egress stays open
    validate_manifests(policies)
    order = [(d["kind"], d["metadata"].get("namespace", d["metadata"]["name"])) for d in net_docs]
    for ns in ("hyperpod-ns-alpha", "hyperpod-ns-beta"):  # chart-made namespaces (gamma's is SageMaker's)
        assert order.index(("Namespace", ns)) < order.index(("NetworkPolicy", ns))


def test_network_ingress_cidrs_add_address_ranges_and_bad_ones_name_the_field() -> None:
    settings = parse_k8s_settings({"teams": [{"name": "serving", "network_ingress_cidrs": ["10.192.8.0/24"]}]})
    chart = HyperPodOperatorChart.from_settings(cdk8s.App(), "cidrs", settings)
    (policy,) = (d for d in chart.to_json() if d["kind"] == "NetworkPolicy")
    assert {"ipBlock": {"cidr": "10.192.8.0/24"}} in policy["spec"]["ingress"][0]["from"]
    validate_manifests([policy])
    with pytest.raises(HyperPodConfigError, match=r"teams.*network_ingress_cidrs"):
        parse_k8s_settings({"teams": [{"name": "serving", "network_ingress_cidrs": ["10.0.0.300/24"]}]})


def test_the_vpc_cni_addon_enforces_network_policies(platform: Any) -> None:
    """Without enforcement a NetworkPolicy is only an object: the vpc-cni add-on turns it on
    (EKS user guide, cni-network-policy-configure)."""
    addons = {r["Properties"]["AddonName"]: r["Properties"] for r in platform.resources("AWS::EKS::Addon").values()}
    assert json.loads(addons["vpc-cni"]["ConfigurationValues"]) == {"enableNetworkPolicy": "true"}
    assert "ConfigurationValues" not in addons["kube-proxy"]


# --- R8P-M2: PersistentVolumeClaims per team namespace ---------------------------------------------


def _claim_quota(docs: list[dict[str, Any]], ns: str) -> int:
    (quota,) = (
        d
        for d in docs
        if d["kind"] == "ResourceQuota"
        and d["metadata"]["namespace"] == ns
        and d["metadata"]["name"] == VOLUME_CLAIM_QUOTA_NAME
    )
    return int(quota["spec"]["hard"]["persistentvolumeclaims"])


def _claims_in(docs: list[dict[str, Any]], ns: str) -> int:
    return sum(1 for d in docs if d["kind"] == "PersistentVolumeClaim" and d["metadata"]["namespace"] == ns)


def test_a_team_cannot_claim_a_static_volume_through_an_ephemeral_volume(docs: list[dict[str, Any]]) -> None:
    """R8P-M2: a pod's ephemeral volumeClaimTemplate (volumeName: s3-models-pv, storageClassName: "")
    is a claim of no storage class, which the FSx class quota never counted. The count quota admits
    the chart's own claims and the team's allowances, and nothing more."""
    for ns in TEAMS:
        chart_claims = _claims_in(docs, ns)
        assert chart_claims == 1  # fsx-claim
        allowance = {"hyperpod-ns-beta": 2 + 1}.get(ns, 0)  # dynamic_fsx_claims + extra_volume_claims
        assert _claim_quota(docs, ns) == chart_claims + allowance
    # With nothing granted, the ephemeral claim is one claim too many: refused at admission.
    assert _claims_in(docs, "hyperpod-ns-alpha") + 1 > _claim_quota(docs, "hyperpod-ns-alpha")
    validate_manifests([d for d in docs if d["metadata"]["name"] == VOLUME_CLAIM_QUOTA_NAME])


def test_without_fsx_a_team_namespace_holds_no_claim() -> None:
    chart = HyperPodOperatorChart.from_settings(
        cdk8s.App(), "no-fsx", parse_k8s_settings({"teams": [{"name": "alpha"}]})
    )
    assert _claim_quota([dict(d) for d in chart.to_json()], "hyperpod-ns-alpha") == 0


def test_extra_volume_claims_is_checked() -> None:
    with pytest.raises(HyperPodConfigError, match=r"extra_volume_claims"):
        parse_k8s_settings({"teams": [{"name": "alpha", "extra_volume_claims": -1}]})


def test_the_static_volume_example_is_pre_bound_with_claim_ref() -> None:
    """The docs' S3 static PersistentVolume reserves itself for one claim (claimRef), so no other
    namespace's claim (ephemeral or not) can bind it."""
    text = (REPO / "docs" / "kubernetes-addons.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    manifests = [doc for block in blocks for doc in yaml.safe_load_all(block) if isinstance(doc, dict)]
    volumes = [d for d in manifests if d.get("kind") == "PersistentVolume" and "s3.csi.aws.com" in str(d)]
    assert volumes, "docs/kubernetes-addons.md has no static S3 PersistentVolume example"
    claims = {
        (d["metadata"]["namespace"], d["metadata"]["name"]): d
        for d in manifests
        if d.get("kind") == "PersistentVolumeClaim"
    }
    for pv in volumes:
        ref = pv["spec"]["claimRef"]
        claim = claims[(ref["namespace"], ref["name"])]
        assert claim["spec"]["volumeName"] == pv["metadata"]["name"]
        assert claim["spec"]["storageClassName"] == pv["spec"]["storageClassName"] == ""
    validate_manifests([*volumes, *claims.values()])


# --- R8P-L2 ------------------------------------------------------------------------------------------


def test_the_gated_model_trust_is_documented_as_synthesized() -> None:
    """R8P-L2: no AWS source limits the namespaces the inference operator makes its
    hyperpod-inference-service-account* accounts in, so the trust keeps AWS's `*` and the docs say what
    that gives a team."""
    from hyperpod_cdk.kubernetes.addons.inference_operator import GATED_MODEL_SERVICE_ACCOUNTS

    posture = (REPO / "docs" / "security-posture.md").read_text()
    inference = (REPO / "docs" / "inference.md").read_text()
    subject = f"system:serviceaccount:*:{GATED_MODEL_SERVICE_ACCOUNTS}"
    assert subject in posture and subject in inference
    assert "R8P-L2" in posture
