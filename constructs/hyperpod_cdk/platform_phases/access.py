"""HyperPodPlatform's grants: who may look at, operate on and submit jobs to the platform."""

from __future__ import annotations

import re
import weakref
from typing import TYPE_CHECKING

from aws_cdk import Token
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam

from hyperpod_cdk.errors import HyperPodConfigError

if TYPE_CHECKING:
    from hyperpod_cdk.platform import HyperPodPlatform

# update-kubeconfig (and `hyperpod-cdk kubeconfig`) reads the endpoint and CA with DescribeCluster.
# https://docs.aws.amazon.com/eks/latest/userguide/create-kubeconfig.html
KUBECONFIG_ACTIONS = ["eks:DescribeCluster"]
#: Each platform's submit grants so far: role ARN (a token string for a role of the app) -> team.
_GRANTED: weakref.WeakKeyDictionary[HyperPodPlatform, dict[str, str]] = weakref.WeakKeyDictionary()


def grant_submit(platform: HyperPodPlatform, grantee: iam.IRole, team: str) -> iam.Grant:
    """Map ``grantee`` to ``team``'s Kubernetes group with an EKS access entry (no access policy: the
    operator chart's Role in the team namespace is all it gets) and let it read the cluster endpoint.

    EKS allows one access entry per principal and cluster
    (https://docs.aws.amazon.com/eks/latest/userguide/creating-access-entries.html), so a role already
    named by a team's ``submitter_role_arn`` in the config is refused here.
    """

    def fail(field: str, message: str) -> HyperPodConfigError:
        return HyperPodConfigError(field, message, construct_path=platform.node.path)

    if platform.eks_cluster is None:
        raise fail(
            "grant_submit",
            "Slurm has no Kubernetes teams: Slurm users submit on the login node (hyperpod-cdk ssh), which "
            "needs grant_describe and ssm:StartSession on the cluster's nodes (docs/cli.md, IAM permissions)",
        )
    if not hasattr(grantee, "role_arn"):
        raise fail("grant_submit.grantee", f"expected an iam.IRole, got {type(grantee).__name__}")
    teams = {t.name: t for t in platform.config.kubernetes.teams}
    if team not in teams:
        raise fail("grant_submit.team", f"'{team}' is not a team of config kubernetes.teams {sorted(teams)}")
    arn = grantee.role_arn
    if not Token.is_unresolved(arn) and any(t.submitter_role_arn == arn for t in teams.values()):
        raise fail(
            "grant_submit.grantee",
            f"{arn} is a submitter_role_arn in config kubernetes.teams already " "(one access entry per principal)",
        )
    # The admins' entries and this platform's earlier grants are entries too (review round 30, R30P-M3, L1).
    eks_config = platform.config.eks
    if eks_config is not None and not Token.is_unresolved(arn) and arn in eks_config.admin_principals:
        raise fail(
            "grant_submit.grantee",
            f"{arn} is in config eks.admin_principal_arns, which maps it already (one access entry per "
            "principal); an admin can submit to every team",
        )
    granted = _GRANTED.setdefault(platform, {})
    if arn in granted:  # a token string names the same role object each time it is asked for
        raise fail(
            "grant_submit.grantee",
            f"this role is granted to team '{granted[arn]}' already (one access entry per principal); use "
            "one role per team",
        )
    granted[arn] = team
    entry_id = "SubmitAccess" + re.sub(r"[^A-Za-z0-9]", "", team.title()) + grantee.node.addr[:8]
    eks.CfnAccessEntry(
        platform,
        entry_id,
        cluster_name=platform.eks_cluster.cluster_name,
        principal_arn=arn,
        kubernetes_groups=[teams[team].kubernetes_group],
        type="STANDARD",
    )
    return iam.Grant.add_to_principal(
        grantee=grantee, actions=KUBECONFIG_ACTIONS, resource_arns=[platform.eks_cluster.cluster_arn]
    )
