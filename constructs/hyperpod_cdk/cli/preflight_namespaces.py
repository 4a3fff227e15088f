"""Preflight on an existing EKS cluster: is a team namespace the stack creates already there (R30P-H1)?

The operator chart creates each team's namespace (``kubernetes.teams[].namespace``, default
``hyperpod-ns-<team>``; a team with a ``compute_quota`` gets SageMaker's instead). On a cluster the stack does
not own, that name may be taken already: task governance makes ``hyperpod-ns-<team>``, and another stack or a
person may have made it. The manifests handler refuses to take over a namespace its set did not create, so the
deploy would fail at that set and roll back; this row says so before the deploy. A namespace the set created
carries its ``hyperpod-cdk.aws/manifest-set`` label (kubernetes/manifests.py ``PRUNE_LABEL``; a test pins it),
whose value the row computes for the app's stack.
"""

from __future__ import annotations

from typing import Any

from hyperpod_cdk.cli import aws_errors, preflight_ownership
from hyperpod_cdk.cli.kube import KubeError
from hyperpod_cdk.cli.output import Check
from hyperpod_cdk.cli.preflight_context import Context
from hyperpod_cdk.cli.preflight_helm_release import KubeFactory, _default_kube
from hyperpod_cdk.config.charts import NAMESPACE_PREFIX
from hyperpod_cdk.kubernetes.handlers.shared.manifest_sets import set_label_value

SET_LABEL = "hyperpod-cdk.aws/manifest-set"


def created_namespaces(ctx: Context) -> list[tuple[str, str]]:
    """(namespace, config field) of each team namespace the operator chart creates."""
    return [
        (team.effective_namespace, f"kubernetes.teams[{index}]({team.name}).namespace")
        for index, team in enumerate(ctx.config.kubernetes.teams)
        if not team.has_quota
    ]


def check_team_namespaces(ctx: Context, kube: KubeFactory = _default_kube) -> list[Check]:
    planned = created_namespaces(ctx)
    cluster_name = ctx.options.existing_eks_cluster or ""
    cluster = aws_errors.unless_missing(ctx.eks_cluster)
    if not planned or isinstance(cluster, aws_errors.Missing):
        return []  # nothing to create, or the "eks auth mode" row fails already
    check = "team namespaces"
    if not cluster.get("endpoint") or not (cluster.get("certificateAuthority") or {}).get("data"):
        return [Check("warn", check, f"not checked: DescribeCluster of '{cluster_name}' gave no endpoint")]
    try:
        listed = kube(ctx, cluster_name, cluster).get("/api/v1/namespaces")
    except KubeError as exc:
        return [
            Check(
                "warn",
                check,
                f"not checked: the Kubernetes API of '{cluster_name}' did not list namespaces ({exc})",
                "run from where the endpoint is reachable, with an EKS access entry that may list namespaces; or "
                "check by hand: kubectl get namespace " + " ".join(name for name, _ in planned),
            )
        ]
    labels = _labels_by_name(listed)
    adoptable = {f"{NAMESPACE_PREFIX}{team.name}" for team in ctx.config.kubernetes.teams}
    # The label the app's operator chart set carries (infra/: the platform is the stack's "Default" child).
    stack = ctx.options.stack_name or preflight_ownership.platform_stack_name(ctx.config)
    own = set_label_value(f"{stack}/Default/Manifests", "OperatorChart")
    rows: list[Check] = []
    for name, field in planned:
        row = f"namespace {name}"
        if name not in labels:
            rows.append(Check("pass", row, f"not on '{cluster_name}' yet: the stack creates it"))
        elif labels[name].get(SET_LABEL) == own:
            rows.append(Check("pass", row, "made by this stack's operator chart: an update keeps it"))
        elif SET_LABEL in labels[name] and ctx.options.stack_name:
            rows.append(
                Check(
                    "warn",
                    row,
                    "made by a hyperpod-cdk manifest set; whether this stack's cannot be told for a stack of your own "
                    "app (the deploy refuses another stack's)",
                )
            )
        elif name in adoptable and SET_LABEL not in labels[name]:  # SageMaker's (R31P-M1), not a platform's (R32P-M1)
            rows.append(
                Check("pass", row, "task governance's namespace name: the stack adopts it and keeps it on destroy")
            )
        else:
            rows.append(
                Check(
                    "fail",
                    row,
                    f"'{cluster_name}' already has namespace {name}, not made by this stack ({field}): the stack "
                    "refuses to take it over (a destroy would delete it with everything in it), so the deploy "
                    "would fail and roll back",
                    f"give the team another namespace in {field}; or, to hand this one to the stack (it is then "
                    "deleted on destroy), deploy once: the failure names the `kubectl label namespace` command",
                )
            )
    return rows


def _labels_by_name(listed: Any) -> dict[str, dict[str, Any]]:
    items = listed.get("items") if isinstance(listed, dict) else None
    found: dict[str, dict[str, Any]] = {}
    for item in items if isinstance(items, list) else []:
        metadata = (item or {}).get("metadata") if isinstance(item, dict) else None
        if isinstance(metadata, dict) and isinstance(metadata.get("name"), str):
            labels = metadata.get("labels")
            found[metadata["name"]] = labels if isinstance(labels, dict) else {}
    return found
