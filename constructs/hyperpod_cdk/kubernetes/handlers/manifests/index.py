"""Custom resource handler: apply Kubernetes manifests fixed at synth, or wait for an object.

Runs in a Lambda function inside the VPC with the kubectl layer. Standard library + boto3 only.

**What it applies is fixed at synth.** Every manifest set and every wait of the construct is a
JSON S3 asset written at synth; the function's environment (``MANIFEST_CONTEXT``) holds each
set's sha256 and S3 location, and the handler refuses an object whose digest differs. Strings
that are deploy-time values (a file system id, a subnet id) are placeholders ``{{hyperpod-cdk:N}}``
in the sets; their values are in ``MANIFEST_CONTEXT`` too (resolved by CloudFormation). An event only names a set
(``Set``) and must carry exactly the properties the handler derives from its own copy (cluster,
set, sha256 of the set, the values of its placeholders); anything else is refused without touching
the cluster. So invoking the function can at most re-apply, wait for or delete what was
synthesized: never apply a manifest the caller chose (aws-cdk-lib's kubectl handler applies the
manifest text of the event).

One exception keeps stack rollbacks working: an Update whose ``OldResourceProperties`` match this
function while the new ones do not is CloudFormation rolling the resource back before the function
code; it answers SUCCESS without touching the cluster.

Apply sets: Create and Update run ``kubectl apply`` (idempotent, so a retried Create is harmless);
Update prunes objects of the set's label that left the set. Delete runs ``kubectl delete
--ignore-not-found``; a cluster that no longer exists is success.

Namespaces the set did not create are never taken over (review round 30, R30P-H1): on a cluster the stack
does not own, ``kubectl apply`` adopted a team namespace that already existed, and the stack's delete then
deleted it with everything in it (Kubernetes deletes a namespace's objects with it:
https://kubernetes.io/docs/tasks/administer-cluster/namespaces/#deleting-a-namespace). So Create and Update
first read the set's namespaces (``kubectl get namespace``): one that exists without the set's label fails the
request before anything is applied (a refused Create's physical id ends ``/not-applied``, and its rollback
Delete touches nothing), and Delete leaves out every namespace that does not carry the set's label. A
namespace the set names as adoptable (``AdoptableNamespaces``, fixed at synth: a team's ``hyperpod-ns-<team>``,
which SageMaker task governance makes for a team with a compute quota) is adopted instead when no hyperpod-cdk
set labelled it: applied with ``hyperpod-cdk.aws/adopted`` as well, and a namespace carrying the set's label and
that one is kept on Delete (review round 31, R31P-M1: taking a team's quota away failed every later deploy;
R32P-M1: another platform's namespace of that name was adopted too, and its objects taken over).

Labels (objects this app does not own, such as the namespaces SageMaker task governance creates):
Create and Update run ``kubectl label --overwrite``; Delete removes the keys (never the object).

Waits: Create and Update poll ``kubectl get`` of one object until the JSONPath has a value or the
timeout passes (read-only). Delete does nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# In the Lambda the shared modules (eks_auth, cfn_response, manifest_sets) sit next to this file, copied in at
# synth by hyperpod_cdk._handler_functions; loaded from the source tree (tests), the shared folder is added.
_SHARED = Path(__file__).resolve().parent.parent / "shared"
if _SHARED.is_dir() and str(_SHARED) not in sys.path:
    sys.path.append(str(_SHARED))

from cfn_response import CFN_PROPERTIES, Outcome, canonical, send_response  # noqa: E402, F401 - index.* API
from manifest_sets import placeholder_key, placeholders_in, set_digest  # noqa: E402, F401 - index.* API

MAX_SET_BYTES = 8 * 1024 * 1024
CONTEXT_ENV = "MANIFEST_CONTEXT"
KUBECTL_TIMEOUT_SECONDS = 300
WAIT_INTERVAL_SECONDS = 10
# What the handler keeps for the response and cleanup at the end of the invocation.
SAFETY_SECONDS = 30

# What `kubectl apply --prune` may delete: kubectl's own default list but Namespace
# (kubernetes/kubernetes staging/src/k8s.io/kubectl/pkg/util/prune/prune.go) plus the built-in kinds the
# operator chart writes that it leaves out. Without them a PriorityClass dropped from the config stayed,
# no longer in any team's forbidden list, and a namespace given to another team kept the old team's
# RoleBinding (review round 11, platform, M2). Only objects carrying the set's own label are pruned.
# Custom kinds are not listed: kubectl resolves every entry, and a CRD the same apply creates may not
# be discoverable yet.
PRUNE_ALLOWLIST = (
    "core/v1/ConfigMap",
    "core/v1/Endpoints",
    "core/v1/PersistentVolumeClaim",
    "core/v1/Pod",
    "core/v1/ReplicationController",
    "core/v1/Secret",
    "core/v1/Service",
    "batch/v1/Job",
    "batch/v1/CronJob",
    "networking.k8s.io/v1/Ingress",
    "apps/v1/DaemonSet",
    "apps/v1/Deployment",
    "apps/v1/ReplicaSet",
    "apps/v1/StatefulSet",
    # Not core/v1/Namespace, though kubectl's default has it: a team namespace leaves the set when the team
    # gets a compute_quota (SageMaker then owns it) while the set still writes into it, and pruning it
    # deleted the team's jobs, claims and queue (review round 12, platform, M1). A removed team's namespace
    # is kept, with what is in it.
    "core/v1/PersistentVolume",
    # The operator chart's kinds kubectl's default leaves out:
    "core/v1/ResourceQuota",
    "core/v1/ServiceAccount",
    "networking.k8s.io/v1/NetworkPolicy",
    "rbac.authorization.k8s.io/v1/Role",
    "rbac.authorization.k8s.io/v1/RoleBinding",
    "rbac.authorization.k8s.io/v1/ClusterRole",
    "rbac.authorization.k8s.io/v1/ClusterRoleBinding",
    "scheduling.k8s.io/v1/PriorityClass",
    "storage.k8s.io/v1/StorageClass",
)


class HandlerError(Exception):
    """A failure CloudFormation gets as the reason."""


class NotAppliedError(HandlerError):
    """A failure before anything was applied: a Create's rollback Delete must not touch the cluster."""


#: Ends the physical id of a Create refused before anything was applied.
NOT_APPLIED = "/not-applied"
#: Label of a namespace the set adopted (it existed before): kept on Delete.
ADOPTED_LABEL = "hyperpod-cdk.aws/adopted"


def substitute(value: Any, params: Mapping[str, str]) -> Any:
    """Replace whole-string placeholders with their deploy-time values."""
    if isinstance(value, Mapping):
        return {k: substitute(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, params) for v in value]
    key = placeholder_key(value)
    if key is not None:
        if key not in params:
            raise HandlerError(f"placeholder {key} has no value in {CONTEXT_ENV}")
        return params[key]
    return value


@dataclass
class Bundle:
    """``MANIFEST_CONTEXT`` (set digests and S3 locations, deploy-time values) and the sets read so far."""

    cluster_name: str
    digests: Mapping[str, str]
    locations: Mapping[str, tuple[str, str]]
    params: Mapping[str, str]
    reader: Callable[[str, str], bytes]
    sets: dict[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_context(cls, context_json: str, reader: Callable[[str, str], bytes]) -> Bundle:
        context = json.loads(context_json)
        sets = context["Sets"]
        return cls(
            cluster_name=str(context["ClusterName"]),
            digests={str(n): str(s["Sha256"]) for n, s in sets.items()},
            locations={str(n): (str(s["Bucket"]), str(s["Key"])) for n, s in sets.items()},
            params={str(k): str(v) for k, v in context["Params"].items()},
            reader=reader,
        )

    def entry(self, name: str) -> Mapping[str, Any]:
        """The set as synthesized, read from its S3 asset and checked against the digest fixed at synth."""
        if name not in self.sets:
            bucket, key = self.locations[name]
            entry = json.loads(self.reader(bucket, key))
            digest = set_digest(entry)
            if digest != self.digests[name]:
                raise HandlerError(
                    f"s3://{bucket}/{key} has sha256 {digest}, not the {self.digests[name]} fixed at synth; "
                    "refusing to apply it"
                )
            self.sets[name] = entry
        return self.sets[name]

    def expected(self, name: str) -> dict[str, Any]:
        """The properties a request for set ``name`` must carry (what the construct synthesized)."""
        return {
            "ClusterName": self.cluster_name,
            "Set": name,
            "Sha256": self.digests[name],
            "Params": {str(i): self.params.get(str(i), "") for i in placeholders_in(self.entry(name))},
        }

    def differences(self, properties: Any) -> list[str]:
        if not isinstance(properties, Mapping):
            return ["the request has no properties"]
        name = properties.get("Set")
        if not isinstance(name, str) or name not in self.digests:
            return [f"set {name!r} is not one of this function's sets"]
        if canonical(properties.get("Sha256")) != self.digests[name]:
            return ["Sha256 differs"]  # checked before reading S3
        got = canonical({k: v for k, v in properties.items() if k not in CFN_PROPERTIES})
        want = canonical(self.expected(name))
        return [
            f"{key} differs" if key in want else f"{key} is not a property of set {name}"
            for key in sorted(set(got) | set(want))
            if got.get(key) != want.get(key)
        ]

    def objects(self, name: str) -> list[dict[str, Any]]:
        return [substitute(obj, self.params) for obj in self.entry(name)["Objects"]]


@dataclass
class Deps:
    """What the handler talks to; tests replace them."""

    bundle: Bundle | None
    kubectl: Callable[[list[str], str | None, float], tuple[int, str, str]]
    connect: Callable[[str, Path], bool]  # writes a kubeconfig; False when the cluster is gone
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    log: Callable[[str], None] = print
    kubeconfig: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "manifests-kubeconfig")


def _remaining(context: Any) -> float:
    getter = getattr(context, "get_remaining_time_in_millis", None)
    return (getter() / 1000.0 if getter else 900.0) - SAFETY_SECONDS


def _kubectl(deps: Deps, args: list[str], stdin: str | None, limit: float) -> str:
    code, out, err = deps.kubectl(["--kubeconfig", str(deps.kubeconfig), *args], stdin, limit)
    if code != 0:
        raise HandlerError(f"kubectl {args[0]} failed ({code}): {(err or out).strip()[-1500:]}")
    return out


def _set_namespaces(objects: list[dict[str, Any]]) -> list[str]:
    return [
        str(obj["metadata"]["name"])
        for obj in objects
        if obj.get("kind") == "Namespace" and isinstance(obj.get("metadata"), Mapping) and obj["metadata"].get("name")
    ]


def _live_namespace_labels(deps: Deps, names: list[str], limit: float) -> dict[str, Mapping[str, Any]]:
    """The labels of each named namespace that exists (one ``kubectl get``)."""
    if not names:
        return {}
    out = _kubectl(deps, ["get", "namespace", *names, "-o", "json", "--ignore-not-found"], None, limit)
    if not out.strip():
        return {}
    data = json.loads(out)
    items = data.get("items", []) if data.get("kind") == "List" else [data]
    return {str(item["metadata"]["name"]): item["metadata"].get("labels") or {} for item in items}


def _kept_namespaces(
    deps: Deps, entry: Mapping[str, Any], names: list[str], limit: float
) -> tuple[list[str], list[str], set[str]]:
    """(the namespaces of ``names`` that exist without the set's label: someone else's; those the set adopted
    earlier (its label and the adopted one); of the first, those no hyperpod-cdk set labelled)."""
    key, _, value = str(entry["PruneLabel"]).partition("=")
    live = _live_namespace_labels(deps, names, limit)
    ours = {n for n, labels in live.items() if labels.get(key) == value}
    adopted = [n for n in sorted(ours) if live[n].get(ADOPTED_LABEL) == "true"]
    foreign = [n for n in live if n not in ours]
    return foreign, adopted, {n for n in foreign if key not in live[n]}


def apply_set(deps: Deps, name: str, entry: Mapping[str, Any], *, update: bool, limit: float) -> None:
    assert deps.bundle is not None
    objects = deps.bundle.objects(name)
    foreign, adopted, unlabelled = _kept_namespaces(deps, entry, _set_namespaces(objects), limit)
    # Only a namespace no hyperpod-cdk set made (SageMaker's): another stack's is its own (R32P-M1).
    adoptable = set(entry.get("AdoptableNamespaces") or ()) & unlabelled
    adopted += [n for n in foreign if n in adoptable]
    foreign = [n for n in foreign if n not in adoptable]
    for obj in objects:  # applied with the label every time: an apply without it would remove it
        if obj.get("kind") == "Namespace" and obj["metadata"].get("name") in adopted:
            obj["metadata"].setdefault("labels", {})[ADOPTED_LABEL] = "true"
    if foreign:
        raise NotAppliedError(
            f"namespace {', '.join(foreign)} already exists and this stack did not create it (no label "
            f"{entry['PruneLabel']}): applying would take it over, and deleting the stack would delete it with "
            "everything in it. Give the team another namespace (hyperpod-cdk: kubernetes.teams[].namespace), or "
            f"hand it to this stack, which then deletes it on destroy: kubectl label namespace {foreign[0]} "
            f"{entry['PruneLabel']}; nothing was applied"
        )
    stream = "\n".join(json.dumps(obj) for obj in objects)
    args = ["apply", "-f", "-"]
    if update:
        # Objects that left the set, of the kinds in PRUNE_ALLOWLIST.
        args += ["--prune", "-l", str(entry["PruneLabel"]), *(f"--prune-allowlist={kind}" for kind in PRUNE_ALLOWLIST)]
    deps.log(f"applying {len(entry['Objects'])} object(s) of set {name}")
    deps.log(_kubectl(deps, args, stream, limit).rstrip())


def delete_set(deps: Deps, name: str, entry: Mapping[str, Any], limit: float) -> None:
    assert deps.bundle is not None
    objects = deps.bundle.objects(name)
    foreign, adopted, _ = _kept_namespaces(deps, entry, _set_namespaces(objects), limit)
    kept = {*foreign, *adopted}
    if kept:
        deps.log(f"keeping namespace {', '.join(sorted(kept))}: not created by this set ({entry['PruneLabel']})")
    stream = "\n".join(
        json.dumps(obj)
        for obj in reversed(objects)
        if not (obj.get("kind") == "Namespace" and str(obj["metadata"].get("name")) in kept)
    )
    deps.log(_kubectl(deps, ["delete", "-f", "-", "--ignore-not-found", "--wait=false"], stream, limit).rstrip())


def label(deps: Deps, entry: Mapping[str, Any], *, remove: bool, limit: float) -> None:
    """Set (or remove) labels on objects this app does not own; a missing object is fine on remove."""
    assert deps.bundle is not None
    for object_name, labels in entry["Labels"].items():
        object_name = str(substitute(object_name, deps.bundle.params))
        pairs = [f"{k}-" for k in sorted(labels)] if remove else [f"{k}={v}" for k, v in sorted(labels.items())]
        args = ["label", str(entry["ObjectType"]), object_name, *pairs]
        if not remove:
            args.append("--overwrite")
        code, out, err = deps.kubectl(["--kubeconfig", str(deps.kubeconfig), *args], None, limit)
        if code != 0 and not (remove and "NotFound" in (err or "")):
            raise HandlerError(
                f"kubectl label {entry['ObjectType']}/{object_name} failed ({code}): " f"{(err or out).strip()[-1500:]}"
            )
        deps.log((out or err).strip())


def wait_for(deps: Deps, entry: Mapping[str, Any], limit: float) -> str:
    """Poll ``kubectl get`` until every object has a value at the JSONPath; return the values."""
    assert deps.bundle is not None
    deadline = deps.clock() + min(float(entry["TimeoutSeconds"]), limit)
    values = []
    for name in entry["ObjectNames"]:
        object_name = str(substitute(name, deps.bundle.params))
        args = ["get", str(entry["ObjectType"]), object_name]
        if entry.get("Namespace"):
            args += ["-n", str(substitute(entry["Namespace"], deps.bundle.params))]
        args += ["-o", f"jsonpath={{{entry['JsonPath']}}}"]
        while True:
            code, out, err = deps.kubectl(["--kubeconfig", str(deps.kubeconfig), *args], None, 60)
            if code == 0 and out.strip():
                values.append(out.strip())
                break
            last = (err or "empty").strip()[-500:]
            if deps.clock() + WAIT_INTERVAL_SECONDS > deadline:
                raise HandlerError(
                    f"{entry['ObjectType']}/{object_name} has no {entry['JsonPath']} after "
                    f"{entry['TimeoutSeconds']} s (last: {last})"
                )
            deps.sleep(WAIT_INTERVAL_SECONDS)
    return ",".join(values)


def _act(
    deps: Deps, request: Any, name: str, entry: Mapping[str, Any], *, physical: str, old_id: str, limit: float
) -> Outcome:
    """Carry out a request whose properties match the synthesized set."""
    assert deps.bundle is not None  # process() answered already without one
    if request == "Delete" and (entry["Kind"] == "wait" or old_id.endswith(NOT_APPLIED)):
        return Outcome("SUCCESS", old_id)
    if not deps.connect(deps.bundle.cluster_name, deps.kubeconfig):
        if request == "Delete":
            deps.log(f"EKS cluster {deps.bundle.cluster_name} no longer exists; nothing to delete")
            return Outcome("SUCCESS", old_id)
        raise HandlerError(f"EKS cluster {deps.bundle.cluster_name} does not exist")
    if request in ("Create", "Update"):
        if entry["Kind"] == "wait":
            return Outcome("SUCCESS", physical, data={"Value": wait_for(deps, entry, limit)[:1000]})
        if entry["Kind"] == "label":
            label(deps, entry, remove=False, limit=limit)
            return Outcome("SUCCESS", physical)
        apply_set(deps, name, entry, update=request == "Update", limit=limit)
        return Outcome("SUCCESS", physical)
    if request == "Delete":
        if entry["Kind"] == "label":
            label(deps, entry, remove=True, limit=limit)
        else:
            delete_set(deps, name, entry, limit)
        return Outcome("SUCCESS", old_id)
    raise HandlerError(f"unknown RequestType {request!r}")


def process(event: Mapping[str, Any], context: Any, deps: Deps) -> Outcome:
    """Handle one CloudFormation request; never raises."""
    request = event.get("RequestType")
    properties = event.get("ResourceProperties")
    name = properties.get("Set") if isinstance(properties, Mapping) else None
    physical = f"manifests/{name}" if isinstance(name, str) else "manifests/refused"
    old_id = str(event.get("PhysicalResourceId") or physical)
    if deps.bundle is None:
        return Outcome("FAILED", old_id, reason=f"the function has no valid {CONTEXT_ENV}")
    try:
        problems = deps.bundle.differences(properties)
        rollback = (
            bool(problems) and request == "Update" and not deps.bundle.differences(event.get("OldResourceProperties"))
        )
    except Exception as exc:  # noqa: BLE001 - S3 errors, a digest mismatch: answer, never apply
        deps.log(f"FAILED reading the set: {exc}")
        return Outcome("FAILED", old_id if request != "Create" else "manifests/refused", reason=str(exc))
    if problems:
        if rollback:
            deps.log("update away from this function's manifests (a rollback); not touching the cluster")
            return Outcome("SUCCESS", old_id, reason="rollback: left the objects as they are")
        deps.log("REFUSED: " + "; ".join(problems))
        reason = (
            "refused: the request does not match the manifests fixed in this function at synth ("
            + "; ".join(problems)
            + "); nothing was done"
        )
        return Outcome("FAILED", old_id if request != "Create" else "manifests/refused", reason=reason)
    assert isinstance(name, str)
    entry = deps.bundle.entry(name)
    limit = _remaining(context)
    try:
        return _act(deps, request, name, entry, physical=physical, old_id=old_id, limit=limit)
    except NotAppliedError as exc:
        deps.log(f"FAILED: {exc}")
        return Outcome("FAILED", physical + NOT_APPLIED if request == "Create" else old_id, reason=str(exc))
    except HandlerError as exc:
        deps.log(f"FAILED: {exc}")
        return Outcome("FAILED", physical if request == "Create" else old_id, reason=str(exc))
    except Exception as exc:  # noqa: BLE001 - CloudFormation must always get an answer
        deps.log(traceback.format_exc())
        return Outcome("FAILED", physical if request == "Create" else old_id, reason=f"{type(exc).__name__}: {exc}")


def _run_kubectl(args: list[str], stdin: str | None, limit: float) -> tuple[int, str, str]:
    binary = os.environ.get("KUBECTL_BINARY", "/opt/kubectl/kubectl")
    try:
        proc = subprocess.run(  # noqa: S603 - argv built here, never by a shell
            [binary, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=max(min(limit, KUBECTL_TIMEOUT_SECONDS), 5),
        )
    except subprocess.TimeoutExpired:
        return 124, "", f"kubectl {args[2] if len(args) > 2 else ''} timed out"
    return proc.returncode, proc.stdout, proc.stderr


def _connect(cluster_name: str, kubeconfig: Path) -> bool:
    import boto3  # the Lambda runtime ships boto3
    from eks_auth import eks_token, write_kubeconfig  # the shared EKS-auth module, copied next to this file

    session = boto3.Session()
    region = os.environ.get("AWS_REGION") or session.region_name or "us-east-1"
    client = session.client("eks", region_name=region)
    try:
        cluster = client.describe_cluster(name=cluster_name)["cluster"]
    except client.exceptions.ResourceNotFoundException:
        return False
    write_kubeconfig(
        kubeconfig,
        cluster_name=cluster_name,
        endpoint=cluster["endpoint"],
        ca_data=cluster["certificateAuthority"]["data"],
        token=eks_token(session, cluster_name, region),
    )
    return True


def _read_s3(bucket: str, key: str) -> bytes:
    import boto3  # the Lambda runtime ships boto3

    body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    data: bytes = body.read(MAX_SET_BYTES + 1)
    if len(data) > MAX_SET_BYTES:
        raise HandlerError(f"s3://{bucket}/{key} is over {MAX_SET_BYTES} bytes")
    return data


def handler(event: Mapping[str, Any], context: Any) -> None:
    """Lambda entry point."""
    print(
        json.dumps(
            {k: v for k, v in event.items() if k not in ("ResponseURL", "ResourceProperties", "OldResourceProperties")},
            default=str,
        )
    )
    try:
        bundle: Bundle | None = Bundle.from_context(os.environ[CONTEXT_ENV], _read_s3)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        print(f"cannot load the manifests: {exc}")
        bundle = None
    deps = Deps(bundle=bundle, kubectl=_run_kubectl, connect=_connect)
    send_response(event, process(event, context, deps))
