"""Preflight on an existing EKS cluster with ``kubernetes.helm_dependencies`` on: is the Helm release the
stack installs already there, installed by someone else (R23P-M1)?

AWS's HyperPod EKS setup installs the chart as ``hyperpod-dependencies`` in ``kube-system`` before a
cluster is attached ("This Helm installation step is required",
https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-install-packages-using-helm-chart.html):
the platform's release name and namespace. The stack's Helm installer refuses such a release on Create
(it carries no ``hyperpod-cdk-owner`` label), so the deploy would fail at the Helm step; this row says
so before the deploy. Helm keeps each release revision as a Secret of type ``helm.sh/release.v1``
labelled ``owner=helm,name=<release>,status,version`` plus the release's own labels (``--labels``,
Helm >= 3.13: https://helm.sh/docs/helm/helm_upgrade/); the row reads those Secrets' labels through
the Kubernetes API the way ``lint --live`` does (:mod:`hyperpod_cdk.cli.kube`).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from hyperpod_cdk.cli import aws_errors, preflight_ownership
from hyperpod_cdk.cli.kube import KubeApi, KubeError, eks_token
from hyperpod_cdk.cli.output import Check
from hyperpod_cdk.cli.preflight_context import Context

# The release the app installs (kubernetes/helm_dependencies.py RELEASE_NAME, NAMESPACE) and the label
# its installer puts on it (handlers/helm_dependencies/helm_spec.py OWNER_LABEL); a test pins all three.
RELEASE_NAME = "hyperpod-dependencies"
NAMESPACE = "kube-system"
OWNER_LABEL = "hyperpod-cdk-owner"
KubeFactory = Any  # (ctx, eks cluster name, DescribeCluster's cluster) -> an object with get(path, **query)


def _default_kube(ctx: Context, name: str, cluster: dict[str, Any]) -> KubeApi:
    session, region = ctx.clients.session, ctx.region
    return KubeApi(
        cluster["endpoint"],
        cluster["certificateAuthority"]["data"],
        lambda: eks_token(session, name, region),
        clock=time.monotonic,
    )


def check_existing_helm_release(ctx: Context, kube: KubeFactory = _default_kube) -> list[Check]:
    cluster_name = ctx.options.existing_eks_cluster or ""
    check, physical_id = f"helm release {NAMESPACE}/{RELEASE_NAME}", f"{NAMESPACE}/{RELEASE_NAME}"
    cluster = aws_errors.unless_missing(ctx.eks_cluster)
    if isinstance(cluster, aws_errors.Missing):
        return []  # the "eks auth mode" row fails already
    by_hand = f"check by hand: helm status {RELEASE_NAME} --namespace {NAMESPACE}"
    if not cluster.get("endpoint") or not (cluster.get("certificateAuthority") or {}).get("data"):
        return [Check("warn", check, f"not checked: DescribeCluster of '{cluster_name}' gave no endpoint", by_hand)]
    try:
        secrets = kube(ctx, cluster_name, cluster).get(
            f"/api/v1/namespaces/{NAMESPACE}/secrets", labelSelector=f"owner=helm,name={RELEASE_NAME}"
        )
    except KubeError as exc:
        return [
            Check(
                "warn",
                check,
                f"not checked: the Kubernetes API of '{cluster_name}' did not list Helm's release Secrets ({exc})",
                f"run from where the endpoint is reachable, with an EKS access entry that may list Secrets in "
                f"{NAMESPACE}; or {by_hand}",
            )
        ]
    latest = _latest_revision(secrets)
    if latest is None:
        return [Check("pass", check, f"not installed on '{cluster_name}': the stack installs it")]
    labels, revision = latest
    holdings = preflight_ownership.stack_holdings(ctx)
    owner = owner_label(cluster_name, ctx.config.kubernetes.helm_dependencies.chart_path, holdings.stack_name)
    if labels.get(OWNER_LABEL) == owner:
        return [Check("pass", check, f"revision {revision} was installed by this stack: the stack upgrades it")]
    if holdings.holds(physical_id):
        # The stack holds it: unlabelled (0.1.0) or labelled otherwise (an earlier label, or a library or nested
        # stack whose name the row did not derive): its update upgrades and relabels it (R25P-L1).
        return [Check("pass", check, f"{preflight_ownership.PART_OF_THIS_STACK} ({holdings.stack_name})")]
    if OWNER_LABEL in labels:  # another hyperpod-cdk stack's (R24P-M1): its installer refuses it too
        return [
            Check(
                "fail",
                check,
                f"'{cluster_name}' already has the Helm release {physical_id} (revision {revision}), installed by "
                f"another hyperpod-cdk stack, not {holdings.stack_name}: the stack's installer refuses to take it "
                "over, and the deploy would fail at the Helm step",
                f"if this config deploys as another stack than {holdings.stack_name}, pass --stack-name; else set "
                "kubernetes.helm_dependencies.enabled: false (the cluster has the chart from the other platform)",
            )
        ]
    return [
        Check(
            "fail",
            check,
            f"'{cluster_name}' already has the Helm release {physical_id} (revision {revision}, "
            f"{labels.get('status', 'status unknown')}), not installed by hyperpod-cdk: the stack's installer "
            "refuses to take it over, and the deploy would fail at the Helm step",
            "set kubernetes.helm_dependencies.enabled: false if the cluster already has the HyperPod chart, or "
            f"`helm uninstall {RELEASE_NAME} --namespace {NAMESPACE}` first",
        )
    ]


def owner_label(cluster_name: str, chart_path: str, stack_name: str) -> str:
    """The label value the stack's installer puts on its release (the handler's ``helm_spec.owner_label``,
    which a test pins to this)."""
    return hashlib.sha256(f"{cluster_name}/{chart_path}/{stack_name}".encode()).hexdigest()[:40]


def _latest_revision(secrets: Any) -> tuple[dict[str, str], int] | None:
    """The labels and number of the release's newest revision Secret (label ``version``), if any."""
    newest: tuple[dict[str, str], int] | None = None
    items = secrets.get("items") if isinstance(secrets, dict) else None
    for item in items if isinstance(items, list) else []:
        labels = ((item or {}).get("metadata") or {}).get("labels") or {}
        version = str(labels.get("version", ""))
        if version.isdigit() and len(version) <= 9 and (newest is None or int(version) > newest[1]):
            newest = (labels, int(version))
    return newest
