"""The manifest handler applies only the sets fixed at synth (issue 18, item 9).

aws-cdk-lib's kubectl handler applied any manifest an event carried, with cluster-admin: a forged
invoke bound cluster-admin to system:authenticated. These tests forge the same events against
HyperPodManifests' handler and check that kubectl never runs, and that the construct and the
handler agree on the properties of a real synthesized set.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks

REPO = Path(__file__).resolve().parents[1]
HANDLER = REPO / "constructs" / "hyperpod_cdk" / "kubernetes" / "handlers" / "manifests" / "index.py"
_spec = importlib.util.spec_from_file_location("manifests_handler", HANDLER)
index = sys.modules.setdefault("manifests_handler", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(index)

ADMIN_BINDING = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRoleBinding",
    "metadata": {"name": "pwn"},
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:authenticated"}],
}
NAMESPACE_SET = {
    "Kind": "apply",
    "PruneLabel": "hyperpod-cdk.aws/manifest-set=abc",
    "Objects": [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "team-a", "labels": {"hyperpod-cdk.aws/manifest-set": "abc"}},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "fs", "namespace": "team-a"},
            "data": {"id": "{{hyperpod-cdk:0}}"},
        },
    ],
}
WAIT_SET = {
    "Kind": "wait",
    "ObjectType": "namespace",
    "ObjectNames": ["hyperpod-ns-a"],
    "JsonPath": ".status.phase",
    "TimeoutSeconds": 60,
}


class Context:
    def get_remaining_time_in_millis(self) -> int:
        return 900_000


class Cluster:
    """A fake kubectl: records calls; `get` answers from `values`; `get namespace A B -o json
    --ignore-not-found` answers as kubectl does from ``namespaces`` (name -> labels): nothing for none found,
    the object for one name, a List for several."""

    def __init__(
        self,
        values: list[tuple[int, str, str]] | None = None,
        exists: bool = True,
        namespaces: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.calls: list[tuple[list[str], str | None]] = []
        self.values = list(values or [])
        self.exists = exists
        self.namespaces = namespaces or {}

    def kubectl(self, args: list[str], stdin: str | None, limit: float) -> tuple[int, str, str]:
        self.calls.append((args, stdin))
        if args[2:4] == ["get", "namespace"] and "--ignore-not-found" in args:
            names = args[4 : args.index("-o")]
            found = [
                {"kind": "Namespace", "metadata": {"name": n, "labels": self.namespaces[n]}}
                for n in names
                if n in self.namespaces
            ]
            if not found:
                return 0, "", ""
            body = found[0] if len(names) == 1 else {"kind": "List", "items": found}
            return 0, json.dumps(body), ""
        if args[2] == "get":
            return self.values.pop(0) if self.values else (1, "", "NotFound")
        return 0, "applied", ""

    def changes(self) -> list[tuple[list[str], str | None]]:
        """The calls that change the cluster (not the namespace reads)."""
        return [(args, stdin) for args, stdin in self.calls if args[2] != "get"]

    def connect(self, name: str, path: Path) -> bool:
        return self.exists


def bundle(sets: dict[str, Any] | None = None, stored: dict[str, Any] | None = None) -> Any:
    sets = sets if sets is not None else {"Teams": NAMESPACE_SET, "Wait": WAIT_SET}
    stored = stored if stored is not None else sets
    context = {
        "ClusterName": "eks-a",
        "Sets": {n: {"Sha256": index.set_digest(e), "Bucket": "assets", "Key": f"{n}.json"} for n, e in sets.items()},
        "Params": {"0": "fs-0123456789abcdef0"},
    }
    return index.Bundle.from_context(
        json.dumps(context), lambda bucket, key: json.dumps(stored[key.removesuffix(".json")]).encode()
    )


def deps(cluster: Cluster, the_bundle: Any = None) -> Any:
    return index.Deps(
        bundle=the_bundle or bundle(),
        kubectl=cluster.kubectl,
        connect=cluster.connect,
        clock=lambda: 0.0,
        sleep=lambda s: None,
        log=lambda line: None,
    )


def event(request: str = "Create", **properties: Any) -> dict[str, Any]:
    return {
        "RequestType": request,
        "ResourceProperties": {"ServiceToken": "arn:fn", **properties},
        "StackId": "arn:stack",
        "RequestId": "r",
        "LogicalResourceId": "L",
        "ResponseURL": "https://cloudformation-custom-resource-response-uswest2.s3.us-west-2.amazonaws.com/r",
    }


def good(name: str = "Teams") -> dict[str, Any]:
    return bundle().expected(name)


# ------------------------------------------------------------------ forged events never reach kubectl


@pytest.mark.parametrize(
    "forged",
    [
        # aws-cdk-lib's kubectl handler event: the manifest text is in the event.
        {"ClusterName": "eks-a", "Manifest": json.dumps([ADMIN_BINDING])},
        # aws-cdk-lib's Helm event.
        {"ClusterName": "eks-a", "Chart": "evil", "Repository": "https://evil.example", "Release": "x"},
        # a real set name with a manifest added
        {**bundle().expected("Teams"), "Manifest": json.dumps([ADMIN_BINDING])},
        # a real set with another digest, another cluster, other deploy-time values
        {**bundle().expected("Teams"), "Sha256": "0" * 64},
        {**bundle().expected("Teams"), "ClusterName": "other"},
        {**bundle().expected("Teams"), "Params": {"0": "fs-attacker"}},
        {"Set": "NotASet"},
    ],
)
@pytest.mark.parametrize("request_type", ["Create", "Update", "Delete"])
def test_forged_events_are_refused_without_running_kubectl(forged, request_type) -> None:
    cluster = Cluster()
    outcome = index.process(event(request_type, **forged), Context(), deps(cluster))
    assert outcome.status == "FAILED" and "refused" in outcome.reason
    assert cluster.calls == []


def test_a_tampered_s3_object_is_refused() -> None:
    tampered = {**NAMESPACE_SET, "Objects": [ADMIN_BINDING]}
    cluster = Cluster()
    the_bundle = bundle(stored={"Teams": tampered, "Wait": WAIT_SET})
    outcome = index.process(event(**good()), Context(), deps(cluster, the_bundle))
    assert outcome.status == "FAILED" and "not the" in outcome.reason and "fixed at synth" in outcome.reason
    assert cluster.calls == []


# ------------------------------------------------------------------ what a real event does


def test_create_applies_the_synthesized_objects_with_deploy_time_values() -> None:
    cluster = Cluster()
    outcome = index.process(event(**good()), Context(), deps(cluster))
    assert (outcome.status, outcome.physical_id) == ("SUCCESS", "manifests/Teams")
    assert cluster.calls[0][0][2:] == ["get", "namespace", "team-a", "-o", "json", "--ignore-not-found"]
    ((args, stdin),) = cluster.changes()
    assert args[2:] == ["apply", "-f", "-"]
    objects = [json.loads(line) for line in stdin.splitlines()]
    assert objects[1]["data"] == {"id": "fs-0123456789abcdef0"}
    assert [o["kind"] for o in objects] == ["Namespace", "ConfigMap"]


def test_a_retried_create_applies_again_idempotently() -> None:
    cluster = Cluster()
    for _ in range(2):
        assert index.process(event(**good()), Context(), deps(cluster)).status == "SUCCESS"
    assert [c[0][2] for c in cluster.changes()] == ["apply", "apply"]


def test_update_prunes_by_the_set_label() -> None:
    cluster = Cluster()
    update = event("Update", **good())
    update["PhysicalResourceId"] = "manifests/Teams"
    update["OldResourceProperties"] = {**good(), "Sha256": "1" * 64}
    assert index.process(update, Context(), deps(cluster)).status == "SUCCESS"
    ((args, _),) = cluster.changes()
    start = args.index("--prune")
    assert args[start : start + 3] == ["--prune", "-l", "hyperpod-cdk.aws/manifest-set=abc"]
    allowed = {arg.removeprefix("--prune-allowlist=") for arg in args if arg.startswith("--prune-allowlist=")}
    # Review round 11, M2: kubectl's default list left these out, so a dropped PriorityClass or a former
    # team's RoleBinding stayed in the cluster.
    assert {
        "scheduling.k8s.io/v1/PriorityClass",
        "rbac.authorization.k8s.io/v1/RoleBinding",
        "rbac.authorization.k8s.io/v1/Role",
        "core/v1/ResourceQuota",
        "networking.k8s.io/v1/NetworkPolicy",
    } <= allowed
    # kubectl's own defaults stay (an explicit list replaces them), but Namespace: review round 12, M1, a
    # team namespace left the set when the team got a quota, and the prune deleted it with its jobs.
    assert {"core/v1/PersistentVolumeClaim", "batch/v1/Job", "core/v1/ConfigMap"} <= allowed
    assert "core/v1/Namespace" not in allowed
    assert all(kind.count("/") == 2 for kind in allowed)


def test_every_kind_the_charts_write_can_be_pruned_or_is_custom() -> None:
    """Each built-in kind the platform's manifest sets hold is on the prune list (a custom kind cannot be:
    kubectl resolves each entry before the apply's new CRDs are discoverable)."""
    import yaml

    from hyperpod_cdk.config import load_config
    from hyperpod_cdk.kubernetes.charts import dist

    builtin_groups = {
        "",
        "apps",
        "batch",
        "networking.k8s.io",
        "rbac.authorization.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
        "policy",
    }
    config = load_config(Path(__file__).resolve().parents[1] / "examples" / "eks-governed.yaml")
    kinds = set()
    for chart in dist.build_charts(config.kubernetes).values():
        for doc in yaml.safe_load_all(chart) if isinstance(chart, str) else chart.to_json():
            if not doc:
                continue
            group, _, version = doc["apiVersion"].rpartition("/")
            if group in builtin_groups:
                kinds.add(f"{group or 'core'}/{version}/{doc['kind']}")
    kinds.discard("core/v1/Namespace")  # kept on purpose (see PRUNE_ALLOWLIST)
    assert kinds and kinds <= set(index.PRUNE_ALLOWLIST), kinds - set(index.PRUNE_ALLOWLIST)


def test_rollback_to_properties_of_another_function_version_leaves_the_cluster_alone() -> None:
    cluster = Cluster()
    rollback = event("Update", **{**good(), "Sha256": "1" * 64})
    rollback["PhysicalResourceId"] = "manifests/Teams"
    rollback["OldResourceProperties"] = good()
    outcome = index.process(rollback, Context(), deps(cluster))
    assert outcome.status == "SUCCESS" and cluster.calls == []


def test_delete_deletes_the_synthesized_objects_and_a_missing_cluster_is_success() -> None:
    cluster = Cluster()
    delete = event("Delete", **good())
    delete["PhysicalResourceId"] = "manifests/Teams"
    assert index.process(delete, Context(), deps(cluster)).status == "SUCCESS"
    ((args, stdin),) = cluster.changes()
    assert args[2:4] == ["delete", "-f"] and "--ignore-not-found" in args
    assert [json.loads(line)["kind"] for line in stdin.splitlines()] == ["ConfigMap", "Namespace"]
    gone = Cluster(exists=False)
    assert index.process(delete, Context(), deps(gone)).status == "SUCCESS" and gone.calls == []


def test_wait_polls_a_read_only_get_until_the_value_appears() -> None:
    cluster = Cluster(values=[(1, "", "NotFound"), (0, "", ""), (0, "Active", "")])
    outcome = index.process(event(**good("Wait")), Context(), deps(cluster))
    assert outcome.status == "SUCCESS" and outcome.data == {"Value": "Active"}
    assert {c[0][2] for c in cluster.calls} == {"get"}
    assert cluster.calls[0][0][3:] == ["namespace", "hyperpod-ns-a", "-o", "jsonpath={.status.phase}"]


def test_wait_times_out_with_the_object_named() -> None:
    clock = iter(range(0, 1000, 10))
    the_deps = deps(Cluster())
    the_deps.clock = lambda: float(next(clock))
    outcome = index.process(event(**good("Wait")), Context(), the_deps)
    assert outcome.status == "FAILED" and "namespace/hyperpod-ns-a has no .status.phase" in outcome.reason


def test_response_upload_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-west-2")  # the function's own Region: its response bucket's
    attempts = []

    class Response:
        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

        def read(self):
            return b""

    def opener(request, timeout):
        attempts.append(request.full_url)
        if len(attempts) < 3:
            raise OSError("connection reset")
        return Response()

    index.send_response(
        event(**good()), index.Outcome("SUCCESS", "manifests/Teams"), opener=opener, sleep=lambda s: None
    )
    assert len(attempts) == 3


# ------------------------------------------------------------------ construct and handler agree


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory):
    from hyperpod_cdk.kubernetes.manifests import HyperPodManifests

    outdir = tmp_path_factory.mktemp("manifests-cdk.out")
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "ManifestsTest", env=cdk.Environment(account="123456789012", region="us-west-2"))
    vpc = ec2.Vpc(
        stack,
        "Vpc",
        max_azs=2,
        nat_gateways=0,
        subnet_configuration=[ec2.SubnetConfiguration(name="p", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)],
    )
    cluster = eks.Cluster.from_cluster_attributes(
        stack, "Cluster", cluster_name="eks-a", vpc=vpc, cluster_security_group_id="sg-0123456789abcdef0"
    )
    manifests = HyperPodManifests(stack, "Manifests", cluster=cluster, subnets=vpc.isolated_subnets)
    bucket = cdk.CfnParameter(stack, "Id").value_as_string
    manifests.add_manifest(
        "Teams", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"bucket": bucket}}
    )
    manifests.add_wait("Wait", object_type="namespace", object_names=["n"], json_path=".status.phase")
    template = app.synth().get_stack_by_name("ManifestsTest").template
    return template, outdir


def _resolve(value: Any) -> Any:
    """CloudFormation's part: resolve the template's Ref/Fn::Join with fixed values."""
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(str(_resolve(p)) for p in parts)
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return {"Id": "my-bucket"}.get(value["Ref"], value["Ref"])
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        return "cdk-assets"
    if isinstance(value, dict):
        return {k: _resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v) for v in value]
    return value


def test_the_synthesized_sets_pass_the_handler_and_a_forged_one_does_not(synthesized) -> None:
    template, outdir = synthesized
    (function,) = (
        v
        for k, v in template["Resources"].items()
        if v["Type"] == "AWS::Lambda::Function" and k.startswith("ManifestsHandler")
    )
    context = _resolve(function["Properties"]["Environment"]["Variables"]["MANIFEST_CONTEXT"])
    the_bundle = index.Bundle.from_context(context, lambda b, key: (outdir / f"asset.{key}").read_bytes())
    resources = {
        v["Properties"]["Set"]: v for v in template["Resources"].values() if v["Type"] == "Custom::HyperPodManifests"
    }
    assert set(resources) == {"Teams", "Wait"}
    for name, resource in resources.items():
        props = _resolve(resource["Properties"])
        assert the_bundle.differences(props) == [], name
        assert resource["Properties"]["ServiceTimeout"] == "960"
    objects = the_bundle.objects("Teams")
    assert objects[0]["data"] == {"bucket": "my-bucket"}
    assert objects[0]["metadata"]["labels"]["hyperpod-cdk.aws/manifest-set"]
    forged = {**_resolve(resources["Teams"]["Properties"]), "Manifest": json.dumps([ADMIN_BINDING])}
    assert the_bundle.differences(forged) == ["Manifest is not a property of set Teams"]


def test_the_handler_asset_carries_the_shared_eks_auth_module(synthesized) -> None:
    template, outdir = synthesized
    (function,) = (
        v
        for k, v in template["Resources"].items()
        if v["Type"] == "AWS::Lambda::Function" and k.startswith("ManifestsHandler")
    )
    asset_dir = outdir / f"asset.{function['Properties']['Code']['S3Key'].removesuffix('.zip')}"
    shared_modules = ["cfn_response.py", "eks_auth.py", "manifest_sets.py"]
    assert sorted(p.name for p in asset_dir.iterdir()) == sorted(["index.py", *shared_modules])
    assert (asset_dir / "index.py").read_bytes() == HANDLER.read_bytes()
    for shared in shared_modules:
        assert (asset_dir / shared).read_bytes() == (HANDLER.parents[1] / "shared" / shared).read_bytes()


def test_the_handler_may_read_only_its_own_assets(synthesized) -> None:
    template, _ = synthesized
    statements = [
        s
        for v in template["Resources"].values()
        if v["Type"] == "AWS::IAM::Policy" and v["Properties"]["PolicyName"].startswith("ManifestsHandlerServiceRole")
        for s in v["Properties"]["PolicyDocument"]["Statement"]
    ]
    s3 = [s for s in statements if s["Action"] == "s3:GetObject"]
    assert len(s3) == 2 and all(
        ".json" in json.dumps(s["Resource"]) and "*" not in json.dumps(s["Resource"]) for s in s3
    )
    assert {s["Action"] for s in statements} == {"s3:GetObject", "eks:DescribeCluster"}


LABEL_SET = {
    "Kind": "label",
    "ObjectType": "namespace",
    "Labels": {"hyperpod-ns-a": {"pod-security.kubernetes.io/enforce": "baseline"}},
}


def test_labels_are_set_and_removed_but_the_namespace_is_never_deleted() -> None:
    the_bundle = bundle({"Psa": LABEL_SET})
    cluster = Cluster()
    assert index.process(event(**the_bundle.expected("Psa")), Context(), deps(cluster, the_bundle)).status == "SUCCESS"
    delete = event("Delete", **the_bundle.expected("Psa"))
    delete["PhysicalResourceId"] = "manifests/Psa"
    assert index.process(delete, Context(), deps(cluster, the_bundle)).status == "SUCCESS"
    assert [c[0][2:] for c in cluster.calls] == [
        ["label", "namespace", "hyperpod-ns-a", "pod-security.kubernetes.io/enforce=baseline", "--overwrite"],
        ["label", "namespace", "hyperpod-ns-a", "pod-security.kubernetes.io/enforce-"],
    ]


# ------------------------------------------------------------------ namespaces the set did not create


def test_create_over_a_namespace_someone_else_made_applies_nothing_and_its_rollback_deletes_nothing() -> None:
    """R30P-H1: on a cluster the stack does not own, ``kubectl apply`` took over an existing team namespace and
    the stack's delete then deleted it with everything in it."""
    cluster = Cluster(namespaces={"team-a": {"kubernetes.io/metadata.name": "team-a"}})
    outcome = index.process(event(**good()), Context(), deps(cluster))
    assert (outcome.status, outcome.physical_id) == ("FAILED", "manifests/Teams/not-applied")
    assert "namespace team-a already exists and this stack did not create it" in outcome.reason
    assert "kubectl label namespace team-a hyperpod-cdk.aws/manifest-set=abc" in outcome.reason
    assert cluster.changes() == []
    rollback = event("Delete", **good())
    rollback["PhysicalResourceId"] = outcome.physical_id
    assert index.process(rollback, Context(), deps(cluster)).status == "SUCCESS"
    assert cluster.changes() == []


def test_an_update_adding_someone_elses_namespace_applies_nothing() -> None:
    cluster = Cluster(namespaces={"team-a": {"owner": "someone"}})
    update = event("Update", **good())
    update["PhysicalResourceId"] = "manifests/Teams"
    update["OldResourceProperties"] = {**good(), "Sha256": "1" * 64}
    outcome = index.process(update, Context(), deps(cluster))
    assert (outcome.status, outcome.physical_id) == ("FAILED", "manifests/Teams")
    assert cluster.changes() == []


def test_the_sets_own_namespace_is_applied_again_and_deleted() -> None:
    cluster = Cluster(namespaces={"team-a": {"hyperpod-cdk.aws/manifest-set": "abc"}})
    assert index.process(event(**good()), Context(), deps(cluster)).status == "SUCCESS"
    delete = event("Delete", **good())
    delete["PhysicalResourceId"] = "manifests/Teams"
    assert index.process(delete, Context(), deps(cluster)).status == "SUCCESS"
    (_, (args, stdin)) = cluster.changes()
    assert [json.loads(line)["kind"] for line in stdin.splitlines()] == ["ConfigMap", "Namespace"]


def test_delete_keeps_a_namespace_without_the_sets_label() -> None:
    """A namespace labelled for another set (another stack's) or by hand is kept; the set's other objects go."""
    for labels in ({"hyperpod-cdk.aws/manifest-set": "another-stack"}, {}):
        cluster = Cluster(namespaces={"team-a": labels})
        delete = event("Delete", **good())
        delete["PhysicalResourceId"] = "manifests/Teams"
        assert index.process(delete, Context(), deps(cluster)).status == "SUCCESS"
        ((args, stdin),) = cluster.changes()
        assert [json.loads(line)["kind"] for line in stdin.splitlines()] == ["ConfigMap"]


def test_several_namespaces_are_read_in_one_call() -> None:
    two = {
        **NAMESPACE_SET,
        "Objects": [
            *NAMESPACE_SET["Objects"],
            {
                **NAMESPACE_SET["Objects"][0],
                "metadata": {"name": "team-b", "labels": {"hyperpod-cdk.aws/manifest-set": "abc"}},
            },
        ],
    }
    cluster = Cluster(namespaces={"team-a": {"hyperpod-cdk.aws/manifest-set": "abc"}, "team-b": {}})
    the_bundle = bundle({"Teams": two, "Wait": WAIT_SET})
    outcome = index.process(event(**the_bundle.expected("Teams")), Context(), deps(cluster, the_bundle))
    assert outcome.status == "FAILED" and "namespace team-b already exists" in outcome.reason
    assert [args[2:5] for args, _ in cluster.calls] == [["get", "namespace", "team-a"]]


# ------------------------------------------------------------------ namespaces the set may adopt (R31P-M1)

ADOPTING_SET = {**NAMESPACE_SET, "AdoptableNamespaces": ["team-a"]}


def _adopting(cluster: Cluster) -> tuple[Any, Any]:
    the_bundle = bundle({"Teams": ADOPTING_SET, "Wait": WAIT_SET})
    return deps(cluster, the_bundle), the_bundle


def test_an_adoptable_namespace_someone_else_made_is_adopted_and_kept_on_delete() -> None:
    """R31P-M1: a team whose compute quota is taken away gets its Namespace in the set, but SageMaker made
    hyperpod-ns-<team>; refusing it failed every later deploy. It is adopted (labelled) and never deleted."""
    cluster = Cluster(namespaces={"team-a": {"sagemaker.amazonaws.com/quota": "x"}})
    the_deps, the_bundle = _adopting(cluster)
    outcome = index.process(event(**the_bundle.expected("Teams")), Context(), the_deps)
    assert outcome.status == "SUCCESS", outcome.reason
    ((args, stdin),) = cluster.changes()
    namespace = json.loads(stdin.splitlines()[0])
    assert namespace["metadata"]["labels"][index.ADOPTED_LABEL] == "true"
    cluster.namespaces["team-a"] = namespace["metadata"]["labels"]  # as the apply left it
    delete = event("Delete", **the_bundle.expected("Teams"))
    delete["PhysicalResourceId"] = "manifests/Teams"
    assert index.process(delete, Context(), the_deps).status == "SUCCESS"
    (_, (args, stdin)) = cluster.changes()
    assert [json.loads(line)["kind"] for line in stdin.splitlines()] == ["ConfigMap"]


def test_an_adopted_namespace_keeps_its_label_on_every_apply() -> None:
    """kubectl apply removes a label the last apply set and this one leaves out: it is set again each time."""
    labels = {"hyperpod-cdk.aws/manifest-set": "abc", index.ADOPTED_LABEL: "true"}
    cluster = Cluster(namespaces={"team-a": labels})
    the_deps, the_bundle = _adopting(cluster)
    update = event("Update", **the_bundle.expected("Teams"))
    update["PhysicalResourceId"] = "manifests/Teams"
    update["OldResourceProperties"] = {**the_bundle.expected("Teams"), "Sha256": "1" * 64}
    assert index.process(update, Context(), the_deps).status == "SUCCESS"
    ((_, stdin),) = cluster.changes()
    assert json.loads(stdin.splitlines()[0])["metadata"]["labels"][index.ADOPTED_LABEL] == "true"


def test_a_namespace_the_set_made_is_not_marked_adopted() -> None:
    cluster = Cluster()
    the_deps, the_bundle = _adopting(cluster)
    assert index.process(event(**the_bundle.expected("Teams")), Context(), the_deps).status == "SUCCESS"
    ((_, stdin),) = cluster.changes()
    assert index.ADOPTED_LABEL not in json.loads(stdin.splitlines()[0])["metadata"]["labels"]


def test_another_platforms_namespace_is_never_adopted() -> None:
    """R32P-M1: a second platform on the cluster adopted the first one's hyperpod-ns-<team> (the same name) and
    took over its Role, RoleBinding, NetworkPolicy and quotas. A namespace another set labelled is refused."""
    cluster = Cluster(namespaces={"team-a": {"hyperpod-cdk.aws/manifest-set": "another-platform"}})
    the_deps, the_bundle = _adopting(cluster)
    outcome = index.process(event(**the_bundle.expected("Teams")), Context(), the_deps)
    assert (outcome.status, outcome.physical_id) == ("FAILED", "manifests/Teams/not-applied")
    assert cluster.changes() == []


def test_an_adopted_label_on_another_platforms_namespace_is_not_ours() -> None:
    """The adopted label alone does not make a namespace this set's: another platform's adopted one is kept."""
    labels = {"hyperpod-cdk.aws/manifest-set": "another-platform", index.ADOPTED_LABEL: "true"}
    cluster = Cluster(namespaces={"team-a": labels})
    the_deps, the_bundle = _adopting(cluster)
    assert index.process(event(**the_bundle.expected("Teams")), Context(), the_deps).status == "FAILED"
    delete = event("Delete", **the_bundle.expected("Teams"))
    delete["PhysicalResourceId"] = "manifests/Teams"
    assert index.process(delete, Context(), the_deps).status == "SUCCESS"
    ((_, stdin),) = cluster.changes()
    assert [json.loads(line)["kind"] for line in stdin.splitlines()] == ["ConfigMap"]
