"""What the HyperPod training operator's users need around it: team namespaces, RBAC, priorities.

The operator itself (its CRD, controller and webhook) is installed as the
``amazon-sagemaker-hyperpod-training-operator`` EKS add-on; this chart adds what a multi-team
cluster needs on top:

* one Namespace per team (``hyperpod-ns-<team>`` by default, the name HyperPod task governance uses),
  except for teams with a compute quota: SageMaker creates and owns their namespace;
* per team a Role + RoleBinding for the Kubernetes group ``hyperpod-team-<team>``: create, get,
  list, watch and delete ``hyperpodpytorchjobs.sagemaker.amazonaws.com`` and read pods and their
  logs, in that namespace only. The CDK side maps the team's IAM principal to that group with an
  EKS access entry (``kubernetesGroups``); :attr:`HyperPodOperatorChart.team_groups` lists the
  group names to use;
* scheduling.k8s.io/v1 PriorityClasses for training pods;
* per team a NetworkPolicy that admits ingress only from the namespace itself and the platform's
  namespaces (team_network.py), and a ResourceQuota on the number of PVCs (claim_quota.py);
* no Kueue objects: with task governance, SageMaker creates each quota team's LocalQueue
  ``hyperpod-ns-<team>-localqueue`` together with the ClusterQueue it points at (from the team's
  ``AWS::SageMaker::ComputeQuota``), and overwrites changes made by others. A chart-made
  LocalQueue could name a ClusterQueue that does not exist, so none is written;
  :attr:`HyperPodOperatorChart.team_queues` lists the SageMaker-managed queue names. Apply this
  chart after the quota teams' namespaces exist (HyperPodTaskGovernance.ready);
* optionally (``fsx=``), per team a statically provisioned FSx for Lustre PersistentVolume of the
  team's own directory ``/teams/<team>`` and a ``fsx-claim`` PersistentVolumeClaim in its namespace,
  plus the admin claim ``fsx-root`` of the whole file system (fsx_team_volumes.py says how).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cdk8s
from constructs import Construct

from hyperpod_cdk.config.charts import (
    DEFAULT_PRIORITY_CLASSES,
    FsxVolume,
    K8sSettings,
    PriorityClassSpec,
    Team,
    parse_k8s_settings,
)
from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.kubernetes.charts.api_object import api_object
from hyperpod_cdk.kubernetes.charts.claim_quota import (
    VOLUME_CLAIM_QUOTA_NAME,
    example_volume_claims,
    volume_claim_quota_spec,
)
from hyperpod_cdk.kubernetes.charts.fsx_team_volumes import add_admin_volume, add_team_volume
from hyperpod_cdk.kubernetes.charts.pod_security import pod_security_labels
from hyperpod_cdk.kubernetes.charts.team_network import add_team_network_policy

__all__ = ["HYPERPOD_JOB_RESOURCE", "HyperPodOperatorChart", "team_role_rules"]

HYPERPOD_API_GROUP = "sagemaker.amazonaws.com"
HYPERPOD_JOB_RESOURCE = "hyperpodpytorchjobs"
MANAGED_BY = {"app.kubernetes.io/managed-by": "hyperpod-cdk"}


def _example_claims(given: Mapping[str, int] | None, teams: Sequence[Team]) -> dict[str, int]:
    names = [team.name for team in teams]
    for name, count in (given or {}).items():
        if name not in names:
            raise HyperPodConfigError("example_claims", f"'{name}' is not one of the teams {names}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise HyperPodConfigError(f"example_claims[{name}]", f"must be a whole number, 0 or more (got {count!r})")
    return dict(given or {})


def team_role_rules() -> list[dict[str, Any]]:
    """The RBAC rules a team's submitters get in their own namespace (least privilege)."""
    return [
        {
            "apiGroups": [HYPERPOD_API_GROUP],
            "resources": [HYPERPOD_JOB_RESOURCE],
            "verbs": ["create", "get", "list", "watch", "delete"],
        },
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
        # Read-only, own namespace: why a pod waits (`kubectl describe`, `hyperpod-cdk jobs status`): R31P-L3.
        {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["get", "list", "watch"]},
    ]


# Since Kubernetes 1.17 any namespace may use the two critical classes (kubernetes/kubernetes#76310),
# so a team pod naming one would preempt other teams' pods and system pods. A ResourceQuota whose
# PriorityClass scope lists a class and allows 0 pods refuses such pods at admission
# (https://kubernetes.io/docs/concepts/policy/resource-quotas/#resource-quota-per-priorityclass).
SYSTEM_PRIORITY_CLASSES = ("system-cluster-critical", "system-node-critical")
# Classes the add-ons bring, refused to teams as well (review round 11, M3: the Mountpoint for S3 CSI
# driver v2 installs mount-s3-critical at 1,000,000,000, above every platform class, and no team quota
# named it). Source: awslabs/mountpoint-s3-csi-driver, charts/aws-mountpoint-s3-csi-driver values
# mountpointPod.priorityClassName / preemptingPriorityClassName / headroomPriorityClassName.
ADDON_PRIORITY_CLASSES = ("mount-s3-critical", "mount-s3-headroom", "mount-s3-preempting-critical")
PRIORITY_QUOTA_NAME = "hyperpod-cdk-priority-classes"
# A pod's generic ephemeral volume makes the ephemeral-volume controller create a PVC in the pod's
# namespace, whatever the team's RBAC (https://kubernetes.io/docs/concepts/storage/ephemeral-volumes/,
# "Security"); with the dynamic FSx class each one is a new file system. A storage-class quota caps them
# (https://kubernetes.io/docs/concepts/policy/resource-quotas/#storage-resource-quota).
FSX_CLAIM_QUOTA_NAME = "hyperpod-cdk-fsx-claims"


def storage_class_claim_quota_spec(storage_class: str, claims: int) -> dict[str, Any]:
    """A ResourceQuota spec that admits at most ``claims`` PVCs of ``storage_class``."""
    return {"hard": {f"{storage_class}.storageclass.storage.k8s.io/persistentvolumeclaims": str(claims)}}


def priority_class_quota_spec(forbidden: Sequence[str]) -> dict[str, Any]:
    """A ResourceQuota spec that admits no pod naming one of ``forbidden``; other pods are not counted."""
    return {
        "hard": {"pods": "0"},
        "scopeSelector": {
            "matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": list(forbidden)}]
        },
    }


class HyperPodOperatorChart(cdk8s.Chart):
    """Team namespaces, team RBAC, priority classes, each team's priority-class quota, claim-count quota
    and NetworkPolicy, and the FSx claim.

    With ``fsx_storage_class`` (the dynamic FSx StorageClass), each team namespace also gets a quota of
    ``teams[].dynamic_fsx_claims`` claims of that class (default 0). ``example_claims`` (team name to
    count; default none, :meth:`from_settings` derives it with
    :func:`~hyperpod_cdk.kubernetes.charts.claim_quota.example_volume_claims`) adds the claims the
    platform's example manifests lead to in a team's namespace to its claim-count quota.

    Every keyword has a default, so ``HyperPodOperatorChart(cdk8s.App(), "operator")`` works; use
    :meth:`from_settings` to build it from the ``kubernetes:`` config section.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        teams: Sequence[Team] = (Team(name="training"),),
        task_governance: bool = False,
        priority_classes: Sequence[PriorityClassSpec] = DEFAULT_PRIORITY_CLASSES,
        fsx: FsxVolume | None = None,
        fsx_storage_class: str | None = None,
        labels: Mapping[str, str] | None = None,
        example_claims: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(scope, id, labels={**MANAGED_BY, **(labels or {})}, disable_resource_name_hashes=True)
        # Re-validating through the settings model gives the same uniqueness checks and errors.
        settings = parse_k8s_settings(
            {
                "teams": list(teams),
                "task_governance": task_governance,
                "priority_classes": list(priority_classes),
                "fsx": fsx,
                "fsx_storage_class": fsx_storage_class,
            }
        )
        self.fsx_storage_class = settings.fsx_storage_class
        self.teams: tuple[Team, ...] = tuple(settings.teams)
        self.example_claims: dict[str, int] = _example_claims(example_claims, self.teams)
        self.task_governance = task_governance
        self.team_groups: dict[str, str] = {team.name: team.kubernetes_group for team in self.teams}
        self.team_namespaces: dict[str, str] = {team.name: team.effective_namespace for team in self.teams}
        # (IAM principal, Kubernetes group) pairs for the EKS access entries the CDK side creates.
        self.submitter_access: list[tuple[str, str]] = [
            (team.submitter_role_arn, team.kubernetes_group) for team in self.teams if team.submitter_role_arn
        ]
        # The SageMaker-managed LocalQueue of each quota team (created from its compute quota).
        self.team_queues: dict[str, str] = {
            team.name: team.queue_name for team in self.teams if team.queue_name is not None
        }

        self.priority_class_names: tuple[str, ...] = tuple(pc.name for pc in settings.priority_classes)
        for pc in settings.priority_classes:
            api_object(
                self,
                f"PriorityClass-{pc.name}",
                "scheduling.k8s.io/v1",
                "PriorityClass",
                {"name": pc.name},
                {
                    "value": pc.value,
                    "globalDefault": pc.global_default,
                    "preemptionPolicy": pc.preemption_policy,
                    **({"description": pc.description} if pc.description else {}),
                },
            )
        # Teams whose pods may mount Lustre themselves (privileged): the fileset does not stop them.
        self.fsx_root_teams: list[str] = [
            t.name for t in self.teams if fsx is not None and t.pod_security == "privileged"
        ]
        # FSx: an admin claim of the root, and per team a claim of its own directory only.
        self._fsx_admin = add_admin_volume(self, fsx) if fsx is not None else None
        for team in self.teams:
            self._team(team, fsx)

    @classmethod
    def from_settings(
        cls, scope: Construct, id: str, settings: K8sSettings, *, inference_example: bool | None = None
    ) -> HyperPodOperatorChart:
        """The chart of the ``kubernetes:`` settings. ``inference_example`` (default
        ``settings.inference_example``) says whether the inference example is written (dist.py)."""
        return cls(
            scope,
            id,
            teams=settings.teams,
            task_governance=settings.task_governance,
            priority_classes=settings.priority_classes,
            fsx=settings.fsx,
            fsx_storage_class=settings.fsx_storage_class,
            example_claims=example_volume_claims(settings, inference=inference_example),
        )

    def _team(self, team: Team, fsx: FsxVolume | None) -> None:
        namespace = team.effective_namespace
        team_label = {"hyperpod-cdk/team": team.name, **pod_security_labels(team.pod_security)}
        # SageMaker creates and manages a quota team's namespace (registry schema of
        # AWS::SageMaker::ComputeQuota: TeamName "materialized as Kubernetes namespace hyperpod-ns-<TeamName>").
        ns = (
            None
            if team.has_quota
            else api_object(
                self, f"{team.name}-Namespace", "v1", "Namespace", {"name": namespace, "labels": team_label}
            )
        )
        role_name = "hyperpod-job-submitter"
        role = api_object(
            self,
            f"{team.name}-Role",
            "rbac.authorization.k8s.io/v1",
            "Role",
            {"name": role_name, "namespace": namespace},
            {"rules": team_role_rules()},
        )
        binding = api_object(
            self,
            f"{team.name}-RoleBinding",
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            {"name": f"{role_name}-{team.name}", "namespace": namespace},
            {
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": team.kubernetes_group}],
            },
        )
        quota = api_object(
            self,
            f"{team.name}-PriorityClassQuota",
            "v1",
            "ResourceQuota",
            {"name": PRIORITY_QUOTA_NAME, "namespace": namespace},
            {"spec": priority_class_quota_spec(self.forbidden_priority_classes(team))},
        )
        if self.fsx_storage_class is not None:
            claims = api_object(
                self,
                f"{team.name}-FsxClaimQuota",
                "v1",
                "ResourceQuota",
                {"name": FSX_CLAIM_QUOTA_NAME, "namespace": namespace},
                {"spec": storage_class_claim_quota_spec(self.fsx_storage_class, team.dynamic_fsx_claims)},
            )
            if ns is not None:
                claims.add_dependency(ns)
        # Every claim of the namespace counts, ephemeral ones too (claim_quota.py, R8P-M2).
        chart_claims = (1 if fsx is not None else 0) + self.example_claims.get(team.name, 0)
        volume_claims = api_object(
            self,
            f"{team.name}-VolumeClaimQuota",
            "v1",
            "ResourceQuota",
            {"name": VOLUME_CLAIM_QUOTA_NAME, "namespace": namespace},
            {"spec": volume_claim_quota_spec(chart_claims + team.dynamic_fsx_claims + team.extra_volume_claims)},
        )
        # Ingress only from the namespace itself and the platform's namespaces (team_network.py, R8P-H1).
        network_policy = add_team_network_policy(
            self, team.name, namespace, cidrs=[str(cidr) for cidr in team.network_ingress_cidrs]
        )
        if ns is not None:
            for obj in (role, quota, volume_claims, network_policy):
                obj.add_dependency(ns)
        binding.add_dependency(role)
        if fsx is not None:
            add_team_volume(self, team, fsx, admin_namespace=self._fsx_admin, team_namespace=ns)

    def forbidden_priority_classes(self, team: Team) -> list[str]:
        """Priority classes no pod of ``team`` may name: Kubernetes' critical classes, and the
        platform's classes outside ``team.priority_classes`` (when the team lists any)."""
        allowed = set(self.priority_class_names if team.priority_classes is None else team.priority_classes)
        return sorted({*SYSTEM_PRIORITY_CLASSES, *ADDON_PRIORITY_CLASSES, *(set(self.priority_class_names) - allowed)})
