"""Readiness gate handlers (CloudFormation provider framework): wait until EKS can take the next step.

Two entry points of one asset:

``on_event`` (outside the VPC)
    Create/Update: records when the wait started (``Data.StartedAt``). Delete: nothing to undo.

``is_complete`` (in the VPC, with kubectl from the kubectl layer)
    Called every ``query_interval`` until it returns ``IsComplete: true`` or raises. Each call runs
    one pass of the check named by the ``Check`` property; after ``TimeoutSeconds`` it raises an
    error that names the object that did not become ready and what to look at (CloudFormation shows
    it as the resource's status reason). Delete completes at once.

Checks (the waits AWS's own Terraform performs, awslabs/awsome-distributed-ai
``1.architectures/7.sagemaker-hyperpod-eks/terraform-modules/hyperpod-eks-tf/scripts/wait-for-hyperpod-nodes.sh``
and ``modules/hyperpod_cluster/cert_manager.tf``):

``nodes``
    At least one node of the HyperPod cluster (label ``sagemaker.amazonaws.com/cluster-name``) from
    one of ``InstanceGroups`` (``sagemaker.amazonaws.com/instance-group-name``) is Ready,
    schedulable and free of NoSchedule/NoExecute taints (HyperPod taints a node while its deep
    health checks run), and a pod of the ``eks-pod-identity-agent`` DaemonSet is Ready.
``cert-manager``
    The ``Deployments`` in ``Namespace`` report ``Available``, and the cert-manager webhook accepts
    a server-side dry run of an Issuer. Webhook errors that go away on their own (no endpoints yet,
    connection refused, CA bundle not injected yet, CRD not served yet) are retried until the
    timeout; any other rejection fails at once.

Standard library + boto3 (in the Lambda runtime) only.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_KUBECTL = "/opt/kubectl/kubectl"
CLUSTER_NAME_LABEL = "sagemaker.amazonaws.com/cluster-name"
GROUP_LABEL = "sagemaker.amazonaws.com/instance-group-name"
POD_IDENTITY_SELECTOR = "app.kubernetes.io/name=eks-pod-identity-agent"
REPELLING_EFFECTS = ("NoSchedule", "NoExecute")
PROBE_ISSUER = "hyperpod-cdk-readiness-probe"
KUBECTL_TIMEOUT_SECONDS = 45
# Access entries take effect within seconds; an authentication failure this long after the start is real.
AUTH_GRACE_SECONDS = 180

# Webhook and API errors that go away without anyone acting (retried until the timeout).
TRANSIENT = re.compile(
    r"failed calling webhook|connection refused|no endpoints available|x509|certificate signed by unknown"
    r"|context deadline exceeded|Client\.Timeout|i/o timeout|TLS handshake timeout|EOF|service unavailable"
    r"|ServiceUnavailable|the server could not find the requested resource|no matches for kind"
    r"|ensure CRDs are installed|TooManyRequests|the server is currently unable|connection reset",
    re.IGNORECASE,
)
FORBIDDEN = re.compile(r"forbidden", re.IGNORECASE)
UNAUTHORIZED = re.compile(r"unauthorized|must be logged in", re.IGNORECASE)


class NotReadyError(Exception):
    """The check failed for good: CloudFormation gets this message as the failure reason."""


@dataclass(frozen=True)
class Kubectl:
    """Runs kubectl with a kubeconfig; tests replace ``runner``."""

    kubeconfig: str
    binary: str = DEFAULT_KUBECTL
    runner: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run

    def __call__(self, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
        argv = [self.binary, "--kubeconfig", self.kubeconfig, "--request-timeout", "20s", *args]
        try:
            proc = self.runner(argv, input=stdin, capture_output=True, text=True, timeout=KUBECTL_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            return 124, "", f"kubectl {' '.join(args)} timed out after {KUBECTL_TIMEOUT_SECONDS}s"
        return proc.returncode, proc.stdout, proc.stderr.strip()

    def get_json(self, *args: str) -> tuple[dict[str, Any] | None, str]:
        """(object, "") or (None, error text)."""
        code, out, err = self("get", *args, "-o", "json")
        if code != 0:
            return None, err or f"kubectl get exited {code}"
        try:
            return json.loads(out), ""
        except ValueError:
            return None, "kubectl returned output that is not JSON"


@dataclass
class Pass:
    """The outcome of one pass of a check."""

    ready: bool
    status: str  # what is (not yet) ready, for the log and the timeout message
    check_hint: str = ""  # what to look at when this state lasts until the timeout
    last_error: str = ""


# --------------------------------------------------------------------------- nodes


def _condition(obj: Mapping[str, Any], kind: str) -> bool:
    for condition in obj.get("status", {}).get("conditions", []) or []:
        if condition.get("type") == kind:
            return bool(condition.get("status") == "True")
    return False


def node_verdict(node: Mapping[str, Any]) -> str:
    """ "" when the node can host system pods, else why not."""
    if not _condition(node, "Ready"):
        return "NotReady"
    if node.get("spec", {}).get("unschedulable"):
        return "cordoned"
    taints = [t for t in node.get("spec", {}).get("taints", []) or [] if t.get("effect") in REPELLING_EFFECTS]
    if taints:
        return "tainted " + ", ".join(f"{t.get('key')}={t.get('value', '')}:{t.get('effect')}" for t in taints)
    return ""


def check_nodes(kubectl: Kubectl, props: Mapping[str, Any]) -> Pass:
    hyperpod = str(props["HyperPodClusterName"])
    groups = [str(g) for g in props.get("InstanceGroups") or []]
    nodes, error = kubectl.get_json("nodes", "-l", f"{CLUSTER_NAME_LABEL}={hyperpod}")
    hint = (
        f"aws sagemaker list-cluster-nodes --cluster-name {hyperpod} (status and lifecycle-script failures), the "
        f"lifecycle-script log group /aws/sagemaker/Clusters/{hyperpod}/<cluster id> in CloudWatch, and that the "
        "HyperPod subnets reach the EKS endpoint"
    )
    if nodes is None:
        return Pass(False, f"cannot list nodes: {error}", hint, error)
    items = nodes.get("items", [])
    mine = [n for n in items if n.get("metadata", {}).get("labels", {}).get(GROUP_LABEL) in groups]
    if not mine:
        seen = sorted({n.get("metadata", {}).get("labels", {}).get(GROUP_LABEL, "?") for n in items})
        return Pass(
            False,
            f"no node of instance group(s) {groups} of HyperPod cluster {hyperpod} has joined "
            f"({len(items)} HyperPod node(s) in other groups: {seen})"
            if items
            else f"no node of HyperPod cluster {hyperpod} has joined EKS yet (waiting for instance group(s) {groups})",
            hint,
        )
    verdicts = {n["metadata"]["name"]: node_verdict(n) for n in mine}
    ready = sorted(name for name, why in verdicts.items() if not why)
    if not ready:
        states = "; ".join(f"{name}: {why}" for name, why in sorted(verdicts.items()))
        return Pass(
            False,
            f"no node of instance group(s) {groups} can host system pods yet ({states})",
            "kubectl describe node <name> (conditions, taints; a deep health check taints the node until it "
            "passes), and the node's kubelet and VPC CNI (aws-node) pods",
        )
    pods, error = kubectl.get_json("pods", "-n", "kube-system", "-l", POD_IDENTITY_SELECTOR)
    agent_hint = (
        "kubectl -n kube-system describe daemonset eks-pod-identity-agent and its pods (image pulls need the "
        "ECR endpoints or a NAT route)"
    )
    if pods is None:
        return Pass(False, f"node(s) {ready} ready; cannot list the pod identity agent: {error}", agent_hint, error)
    running = [p["metadata"]["name"] for p in pods.get("items", []) if _condition(p, "Ready")]
    if not running:
        return Pass(
            False,
            f"node(s) {ready} ready; no pod of DaemonSet kube-system/eks-pod-identity-agent is Ready yet",
            agent_hint,
        )
    return Pass(True, f"node(s) {ready} ready; pod identity agent {running[0]} Ready")


# --------------------------------------------------------------------------- cert-manager


def probe_issuer(namespace: str) -> str:
    return json.dumps(
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Issuer",
            "metadata": {"name": PROBE_ISSUER, "namespace": namespace},
            "spec": {"selfSigned": {}},
        }
    )


def check_cert_manager(kubectl: Kubectl, props: Mapping[str, Any]) -> Pass:
    namespace = str(props.get("Namespace") or "cert-manager")
    wanted = [str(d) for d in props.get("Deployments") or []]
    deployments, error = kubectl.get_json("deployments", "-n", namespace)
    hint = (
        f"kubectl -n {namespace} get pods and describe the Pending ones: no node that tolerates their taints, "
        "or no pod slot left on it (HyperPod nodes have one ENI, so small instance types host few pods)"
    )
    if deployments is None:
        return Pass(False, f"cannot list deployments in {namespace}: {error}", hint, error)
    by_name = {d["metadata"]["name"]: d for d in deployments.get("items", [])}
    pending = []
    for name in wanted:
        item = by_name.get(name)
        if item is None:
            pending.append(f"{namespace}/{name} does not exist yet")
        elif not _condition(item, "Available"):
            status = item.get("status", {})
            pending.append(
                f"{namespace}/{name} not Available ({status.get('readyReplicas', 0)}/{status.get('replicas', 0)} ready)"
            )
    if pending:
        return Pass(False, "deployment " + "; ".join(pending), hint)
    code, _, err = kubectl("create", "--dry-run=server", "-o", "name", "-f", "-", stdin=probe_issuer(namespace))
    if code == 0:
        return Pass(True, f"deployments {wanted} Available; the webhook accepts cert-manager resources")
    if TRANSIENT.search(err):
        return Pass(
            False,
            "the cert-manager webhook does not answer yet",
            (
                f"kubectl -n {namespace} logs deployment/cert-manager-webhook and deployment/cert-manager-cainjector, "
                "and that the control plane reaches the webhook pod (node security group)"
            ),
            err,
        )
    raise NotReadyError(f"the cert-manager webhook rejected a dry-run Issuer in {namespace}: {err}")


CHECKS: dict[str, Callable[[Kubectl, Mapping[str, Any]], Pass]] = {
    "nodes": check_nodes,
    "cert-manager": check_cert_manager,
}


# --------------------------------------------------------------------------- EKS access


def kubectl_for(cluster_name: str, workdir: Path) -> Kubectl:
    import boto3  # the Lambda runtime ships boto3
    from eks_auth import eks_token, write_kubeconfig  # the shared EKS-auth module, copied next to this file

    session = boto3.Session()
    region = os.environ.get("AWS_REGION") or session.region_name or "us-east-1"
    cluster = session.client("eks", region_name=region).describe_cluster(name=cluster_name)["cluster"]
    kubeconfig = str(
        write_kubeconfig(
            workdir / "kubeconfig",
            cluster_name=cluster_name,
            endpoint=cluster["endpoint"],
            ca_data=cluster["certificateAuthority"]["data"],
            token=eks_token(session, cluster_name, region),
            user="readiness",
        )
    )
    return Kubectl(kubeconfig, binary=os.environ.get("KUBECTL_BINARY", DEFAULT_KUBECTL))


# --------------------------------------------------------------------------- the handlers


@dataclass
class Gate:
    """One is_complete pass: run the check, decide between done, wait and fail."""

    props: Mapping[str, Any]
    started_at: float
    now: float
    log: Callable[[str], None] = print
    errors: list[str] = field(default_factory=list)

    @property
    def elapsed(self) -> float:
        return self.now - self.started_at

    def timeout(self) -> int:
        try:
            return int(self.props.get("TimeoutSeconds", 1800))
        except (TypeError, ValueError):
            raise NotReadyError(
                f"TimeoutSeconds must be a whole number, got {self.props.get('TimeoutSeconds')!r}"
            ) from None

    def decide(self, outcome: Pass) -> bool:
        if outcome.ready:
            self.log(f"ready after {self.elapsed:.0f}s: {outcome.status}")
            return True
        error = outcome.last_error
        if error and FORBIDDEN.search(error):
            raise NotReadyError(
                f"{outcome.status}. The readiness handler's role may not read this: check its EKS access entry "
                "and the ClusterRole hyperpod-cdk-readiness"
            )
        if error and UNAUTHORIZED.search(error) and self.elapsed > AUTH_GRACE_SECONDS:
            raise NotReadyError(
                f"{outcome.status}. The readiness handler cannot authenticate: check its EKS access entry"
            )
        limit = self.timeout()
        if self.elapsed >= limit:
            check = str(self.props.get("Check"))
            raise NotReadyError(
                f"readiness check '{check}' timed out after {limit // 60} min: {outcome.status}."
                + (f" Check: {outcome.check_hint}." if outcome.check_hint else "")
                + (f" Last error: {error}" if error else "")
            )
        suffix = f" ({error})" if error else ""
        self.log(f"not ready after {self.elapsed:.0f}s of {limit}s: {outcome.status}{suffix}")
        return False


def _started_at(event: Mapping[str, Any], fallback: float) -> float:
    try:
        return float((event.get("Data") or {}).get("StartedAt", fallback))
    except (TypeError, ValueError):
        return fallback


def on_event(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """Provider-framework onEvent: start the clock (nothing is created, so Delete is a no-op)."""
    request = event.get("RequestType")
    props = event.get("ResourceProperties") or {}
    if request == "Delete":
        return {"PhysicalResourceId": event.get("PhysicalResourceId")}
    check = str(props.get("Check"))
    if check not in CHECKS:
        raise NotReadyError(f"unknown Check {check!r}; expected one of {sorted(CHECKS)}")
    physical = event.get("PhysicalResourceId") or f"{props.get('ClusterName')}/{check}"
    return {"PhysicalResourceId": physical, "Data": {"StartedAt": str(time.time())}}


def run_pass(event: Mapping[str, Any], kubectl: Kubectl, *, now: float, log: Callable[[str], None] = print) -> bool:
    props = event.get("ResourceProperties") or {}
    gate = Gate(props, _started_at(event, now), now, log)
    return gate.decide(CHECKS[str(props.get("Check"))](kubectl, props))


def is_complete(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """Provider-framework isComplete: one pass of the check."""
    if event.get("RequestType") == "Delete":
        return {"IsComplete": True}
    props = event.get("ResourceProperties") or {}
    with tempfile.TemporaryDirectory(prefix="readiness-") as workdir:
        try:
            kubectl = kubectl_for(str(props["ClusterName"]), Path(workdir))
        except Exception as exc:  # botocore errors without importing botocore here
            now = time.time()
            gate = Gate(props, _started_at(event, now), now)
            done = gate.decide(
                Pass(
                    False,
                    f"cannot reach EKS cluster {props.get('ClusterName')}: {exc}",
                    "the handler's subnets reach the EKS API (NAT or VPC endpoints)",
                    str(exc),
                )
            )
            return {"IsComplete": done}
        return {"IsComplete": run_pass(event, kubectl, now=time.time())}
