"""``hyperpod-cdk verify [--smoke]``: after a deploy, does the training operator work?

The checks are the training operator guide's validation and troubleshooting steps (seed 000;
https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-eks-operator-install.html), one row each
with pass/fail and the fix:

- the ``amazon-sagemaker-hyperpod-training-operator`` add-on is ACTIVE, and its controller pod
  (``hp-training-operator-…-controller-manager-…`` in ``aws-hyperpod``) is Running and ready;
- its EKS Pod Identity association exists (service account ``hp-training-operator-controller-manager``);
- cert-manager's webhook answers: a server-side dry-run create of a self-signed Issuer goes
  through the webhook, which must admit it;
- the health-monitoring agent runs on every accelerated HyperPod node (its DaemonSet's affinity
  only places it on GPU and Trainium types);
- device plugins advertise ``nvidia.com/gpu``, ``aws.amazon.com/neuron`` and
  ``vpc.amazonaws.com/efa`` on the nodes whose instance type has them, in the counts the type has;
- the nodes' AMI: no add-on health issue names an incompatible AMI, and every kubelet runs the
  control plane's minor version (no AWS API states the operator's minimum AMI; the fix is
  UpdateClusterSoftware either way);
- task governance, when installed with the operator, is v1.3.0-eksbuild.1 or newer;
- ``--smoke``: the smoke job (dist/jobs/smoke.yaml) is created, watched until it completes, and deleted.
  Its manifest comes from the same builder as ``dist``, which imports cdk8s: ``--smoke`` (only)
  starts the Node.js runtime the project installs into ``.venv``.

A private endpoint is reached through the SSM tunnel ``hyperpod-cdk kubeconfig`` opens (local
port ``--tunnel-port``), with the certificate checked against the endpoint's host name.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable
from typing import Any

from hyperpod_cdk.cli import aws_errors, errors_table, output
from hyperpod_cdk.cli.access import AccessError, api_endpoint, eks_of
from hyperpod_cdk.cli.arguments import add_cluster, add_tunnel_port
from hyperpod_cdk.cli.clients import Clients
from hyperpod_cdk.cli.kube import KubeApi, KubeError, eks_token
from hyperpod_cdk.cli.output import Check
from hyperpod_cdk.config import PlatformConfig
from hyperpod_cdk.specs.addon_compat import task_governance_problem
from hyperpod_cdk.specs.instance_types import spec_for

__all__ = ["add_arguments", "kube_for", "run", "run_checks"]

OPERATOR_ADDON = "amazon-sagemaker-hyperpod-training-operator"
TASK_GOVERNANCE_ADDON = "amazon-sagemaker-hyperpod-taskgovernance"
HYPERPOD_NAMESPACE = "aws-hyperpod"
OPERATOR_SERVICE_ACCOUNT = "hp-training-operator-controller-manager"
HEALTH_AGENT_PREFIX = "health-monitoring-agent"
# Set on every HyperPod node by the health-monitoring agent and HyperPod itself.
HEALTH_LABEL = "sagemaker.amazonaws.com/node-health-status"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
GPU, NEURON, EFA = "nvidia.com/gpu", "aws.amazon.com/neuron", "vpc.amazonaws.com/efa"
JOBS_PATH = "/apis/sagemaker.amazonaws.com/v1/namespaces/{ns}/hyperpodpytorchjobs"
SMOKE_TIMEOUT_SECONDS = 900
_clock: Callable[[], float] = time.monotonic
_sleep: Callable[[float], None] = time.sleep


COMMAND = "verify"
HELP = "check the training operator, its dependencies and the nodes after a deploy (--smoke runs a job)"
DESCRIPTION = __doc__.split("\n\n")[1] if __doc__ else None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_cluster(parser)
    parser.add_argument("--smoke", action="store_true", help="also submit the smoke job, wait for it, delete it")
    add_tunnel_port(parser)


def kube_for(clients: Clients, eks_cluster: dict[str, Any], tunnel_port: int) -> KubeApi:
    """A Kubernetes API client: the endpoint itself, or 127.0.0.1:<tunnel_port> when it is private."""
    vpc = eks_cluster.get("resourcesVpcConfig") or {}
    (endpoint, ca), server_name = api_endpoint(eks_cluster), None
    if not vpc.get("endpointPublicAccess", True):
        server_name = endpoint.removeprefix("https://").split("/", 1)[0]
        endpoint = f"https://127.0.0.1:{tunnel_port}"
    session, name, region = clients.session, eks_cluster["name"], clients.region
    return KubeApi(
        endpoint,
        ca,
        lambda: eks_token(session, name, region),
        clock=_clock,
        tls_server_name=server_name,
    )


_row = Check.verdict


def _addon(clients: Clients, eks_name: str, addon: str) -> dict[str, Any] | None:
    found = aws_errors.unless_missing(lambda: clients("eks").describe_addon(clusterName=eks_name, addonName=addon))
    return None if isinstance(found, aws_errors.Missing) else dict(found["addon"])


def _ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and all(c.get("ready") for c in status.get("containerStatuses") or [])


def run_checks(clients: Clients, eks_cluster: dict[str, Any], api: KubeApi) -> list[Check]:
    name = eks_cluster["name"]
    rows: list[Check] = []
    operator = _addon(clients, name, OPERATOR_ADDON)
    status = operator.get("status") if operator else None
    issues = [f"{i.get('code')}: {i.get('message')}" for i in ((operator or {}).get("health") or {}).get("issues", [])]
    rows.append(
        _row(
            status == "ACTIVE",
            "training operator add-on",
            f"{OPERATOR_ADDON} {operator.get('addonVersion')} is {status}"
            + (f" ({'; '.join(issues)})" if issues else "")
            if operator
            else f"{OPERATOR_ADDON} is not installed",
            "set kubernetes.addons.training_operator.enabled: true (with cert_manager) and deploy"
            if operator is None
            else _fix_for(issues, errors_table.EKS_ADDONS.fix),
        )
    )
    pods = api.get(f"/api/v1/namespaces/{HYPERPOD_NAMESPACE}/pods").get("items", [])
    controllers = [
        p
        for p in pods
        if p["metadata"]["name"].startswith("hp-training-operator") and "controller-manager" in p["metadata"]["name"]
    ]
    ready = [p for p in controllers if _ready(p)]
    rows.append(
        _row(
            bool(ready),
            "training operator controller",
            f"{ready[0]['metadata']['name']} is Running"
            if ready
            else (
                f"{controllers[0]['metadata']['name']} is {controllers[0].get('status', {}).get('phase')}"
                if controllers
                else f"no controller pod in {HYPERPOD_NAMESPACE}"
            ),
            f"kubectl -n {HYPERPOD_NAMESPACE} describe pod -l app.kubernetes.io/name=hp-training-operator; "
            + errors_table.CERT_MANAGER_MISSING.fix,
        )
    )
    associations = (
        clients("eks")
        .list_pod_identity_associations(
            clusterName=name, namespace=HYPERPOD_NAMESPACE, serviceAccount=OPERATOR_SERVICE_ACCOUNT
        )
        .get("associations", [])
    )
    rows.append(
        _row(
            bool(associations),
            "operator pod identity",
            f"{len(associations)} association(s) for {HYPERPOD_NAMESPACE}/{OPERATOR_SERVICE_ACCOUNT}"
            if associations
            else f"no pod identity association for {HYPERPOD_NAMESPACE}/{OPERATOR_SERVICE_ACCOUNT}",
            errors_table.OPERATOR_POD_IDENTITY.fix,
        )
    )
    rows.append(_webhook_row(api))
    nodes = [n for n in api.get("/api/v1/nodes").get("items", []) if HEALTH_LABEL in n["metadata"].get("labels", {})]
    rows.append(_health_agent_row(nodes, pods))
    rows += _device_rows(nodes)
    rows.append(_ami_row(nodes, eks_cluster.get("version"), issues))
    governance = _addon(clients, name, TASK_GOVERNANCE_ADDON)
    if governance is not None and operator is not None:
        version = governance.get("addonVersion")
        try:
            problem = task_governance_problem(version, True) if version else None
        except ValueError:
            problem = None
        rows.append(
            _row(
                problem is None,
                "task governance version",
                problem or f"{TASK_GOVERNANCE_ADDON} {version}",
                errors_table.TASK_GOVERNANCE_VERSION.fix,
            )
        )
    return rows


def _fix_for(issues: list[str], default: str) -> str:
    matched = errors_table.match_messages([("add-on", issue) for issue in issues])
    return matched[0][0].fix if matched else default


def _webhook_row(api: KubeApi) -> Check:
    issuer = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Issuer",
        "metadata": {"name": "hyperpod-cdk-verify", "namespace": "cert-manager"},
        "spec": {"selfSigned": {}},
    }
    try:
        api.request(
            "POST", "/apis/cert-manager.io/v1/namespaces/cert-manager/issuers", query={"dryRun": "All"}, body=issuer
        )
    except KubeError as exc:
        return _row(False, "cert-manager webhook", str(exc), errors_table.CERT_MANAGER_MISSING.fix)
    return _row(True, "cert-manager webhook", "a dry-run Issuer was admitted", "")


def _expected(node: dict[str, Any]) -> dict[str, int]:
    spec = spec_for(node["metadata"].get("labels", {}).get(INSTANCE_TYPE_LABEL, ""))
    if spec is None:
        return {}
    wanted = {
        GPU: spec.accelerators if spec.accelerator == "nvidia" else 0,
        NEURON: spec.accelerators if spec.accelerator == "neuron" else 0,
        EFA: spec.efa,
    }
    return {resource: count for resource, count in wanted.items() if count}


def _health_agent_row(nodes: list[dict[str, Any]], pods: list[dict[str, Any]]) -> Check:
    accelerated = [n["metadata"]["name"] for n in nodes if {GPU, NEURON} & set(_expected(n))]
    covered = {
        p.get("spec", {}).get("nodeName")
        for p in pods
        if p["metadata"]["name"].startswith(HEALTH_AGENT_PREFIX) and _ready(p)
    }
    missing = [n for n in accelerated if n not in covered]
    return _row(
        not missing,
        "health-monitoring agent",
        f"running on all {len(accelerated)} accelerated HyperPod node(s)"
        if not missing
        else f"not running on {', '.join(missing)}",
        f"kubectl -n {HYPERPOD_NAMESPACE} get ds; the agent comes with the HyperPod Helm chart "
        "(kubernetes.helm_dependencies); check the node's taints and the DaemonSet's events",
    )


def _device_rows(nodes: list[dict[str, Any]]) -> list[Check]:
    rows = []
    for resource in (GPU, NEURON, EFA):
        short = []
        total = 0
        for node in nodes:
            wanted = _expected(node).get(resource, 0)
            if not wanted:
                continue
            total += 1
            have = int((node.get("status", {}).get("allocatable") or {}).get(resource, 0) or 0)
            if have < wanted:
                short.append(f"{node['metadata']['name']} has {have} of {wanted}")
        if total:
            plugin = {GPU: "nvidia-device-plugin", NEURON: "neuron-device-plugin", EFA: "aws-efa-k8s-device-plugin"}
            rows.append(
                _row(
                    not short,
                    f"device plugin {resource}",
                    f"advertised on all {total} node(s) that have it" if not short else "; ".join(short),
                    f"kubectl -n kube-system get ds {plugin[resource]} (part of the HyperPod Helm chart); a node "
                    "that stays short needs a reboot: hyperpod-cdk nodes reboot",
                )
            )
    return rows


def _ami_row(nodes: list[dict[str, Any]], control_plane: str | None, issues: list[str]) -> Check:
    ami_issues = [i for i in issues if errors_table.OPERATOR_AMI.matches(i)]
    behind = []
    for node in nodes:
        kubelet = node.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", "")
        minor = ".".join(kubelet.lstrip("v").split(".")[:2])
        if control_plane and minor and minor != control_plane:
            behind.append(f"{node['metadata']['name']} kubelet {kubelet}")
    ok = not ami_issues and not behind
    reason = (
        "; ".join(ami_issues + behind)
        if not ok
        else (f"every node's kubelet is on {control_plane}; no add-on reports an incompatible AMI")
    )
    return _row(ok, "HyperPod AMI", reason, errors_table.OPERATOR_AMI.fix)


def smoke(api: KubeApi, manifest: dict[str, Any], timeout: float = SMOKE_TIMEOUT_SECONDS) -> Check:
    """Create the smoke job, wait for Completed (or Failed), delete it."""
    ns, job = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
    path = JOBS_PATH.format(ns=ns)
    try:
        api.request("POST", path, body=manifest)
    except KubeError as exc:
        return _row(
            False,
            "smoke job",
            f"could not create {ns}/{job}: {exc}",
            "check the team namespace exists (dist/operator.yaml) and your access entry may create jobs",
        )
    started = _clock()
    outcome = ""
    try:
        while _clock() - started < timeout:
            conditions = {
                c.get("type"): c
                for c in (api.get(f"{path}/{job}").get("status") or {}).get("conditions", [])
                if c.get("status") == "True"
            }
            # The sagemaker-hyperpod SDK documents the condition types as "Complete or Failed";
            # "Completed"/"Succeeded" are accepted too, since no primary source shows a finished job's status.
            if {"Complete", "Completed", "Succeeded"} & set(conditions):
                outcome = "completed"
                break
            if "Failed" in conditions:
                outcome = f"failed: {conditions['Failed'].get('message', '')}"
                break
            _sleep(5)
    finally:
        with contextlib.suppress(KubeError):
            api.request("DELETE", f"{path}/{job}")
    if outcome == "completed":
        return _row(True, "smoke job", f"{ns}/{job} completed in {_clock() - started:.0f} s and was deleted", "")
    return _row(
        False,
        "smoke job",
        f"{ns}/{job} {outcome or f'did not finish within {timeout:.0f} s'}",
        f"kubectl -n {ns} describe hyperpodpytorchjob {job}; hyperpod-cdk jobs status {job} -n {ns}",
    )


def smoke_manifest(config: PlatformConfig | None) -> dict[str, Any]:
    """The smoke job exactly as dist/jobs/smoke.yaml writes it (same builder, same settings)."""
    from hyperpod_cdk.config.charts import K8sSettings
    from hyperpod_cdk.kubernetes.charts.example_jobs import smoke_job
    from hyperpod_cdk.kubernetes.charts.jobs import task_governance_labels
    from hyperpod_cdk.specs.images import mirrored_image

    settings = config.kubernetes if config is not None and config.orchestrator == "eks" else K8sSettings()
    team = settings.team(settings.examples.team)
    labels = task_governance_labels(team) if settings.task_governance and team.has_quota else {}
    spec = smoke_job(
        namespace=team.effective_namespace,
        image=mirrored_image(settings.examples.smoke_image, getattr(settings, "image_mirror", None)),  # R35P-M3
        queue_name=labels.get("queue_name"),
        kueue_priority_class=labels.get("kueue_priority_class"),
    )
    return spec.to_manifest()


def run(args: argparse.Namespace, cluster: str, clients: Clients, config: PlatformConfig | None) -> int:
    try:
        eks_cluster = eks_of(clients, cluster)
        api = kube_for(clients, eks_cluster, args.tunnel_port)
    except AccessError as exc:
        output.error(str(exc), code=exc.code)
        return exc.code
    try:
        rows = run_checks(clients, eks_cluster, api)
        if args.smoke:
            rows.append(smoke(api, smoke_manifest(config)))
    except KubeError as exc:
        hint = (
            "run `hyperpod-cdk kubeconfig` in another terminal (it opens the tunnel)"
            if exc.status == 0
            else ("your IAM principal needs an access entry: hyperpod-cdk access grant <your ARN> --admin")
        )
        output.error(f"{exc} ({hint})", code=1)
        return 1
    if args.json:
        output.print_json([row.to_dict() for row in rows])
    else:
        output.console().print(output.checks_table(rows, title=f"verify {cluster} ({eks_cluster['name']})"))
    return 1 if any(row.status == "fail" for row in rows) else 0
