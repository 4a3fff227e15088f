"""HyperPodTaskGovernance: the cluster policy and team quotas that make task-governance queues exist."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from aws_cdk import CustomResource, Duration
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_kms as kms
from constructs import Construct, IConstruct

from hyperpod_cdk.cluster.compute_quota import HyperPodComputeQuota
from hyperpod_cdk.cluster.scheduler_config import HyperPodSchedulerConfig
from hyperpod_cdk.config.charts import K8sSettings
from hyperpod_cdk.errors import prop_error
from hyperpod_cdk.kubernetes.charts.pod_security import pod_security_labels
from hyperpod_cdk.kubernetes.manifests import HyperPodManifests

MAX_NAME = 63
# How long to wait for SageMaker to create a team's namespace after its quota exists.
NAMESPACE_WAIT = Duration.minutes(10)


def bounded_name(base: str, suffix: str) -> str:
    """``<base>-<suffix>`` cut to the 63 characters SageMaker names allow, kept unique with a hash."""
    name = f"{base}-{suffix}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    keep = MAX_NAME - len(suffix) - len(digest) - 2
    return f"{base[:keep].rstrip('-')}-{digest}-{suffix}"


class HyperPodTaskGovernance(Construct):
    """The SageMaker side of task governance for the teams and priority classes of :class:`K8sSettings`.

    - One cluster scheduler config (``<cluster>-scheduler``; ``AWS::SageMaker::ClusterSchedulerConfig``
      or, where CloudFormation lacks that type, a custom resource): fair share and idle sharing from
      ``settings.scheduler``, and every priority class with a ``weight``.
    - One ``AWS::SageMaker::ComputeQuota`` (``<cluster>-<team>``) per team with a ``compute_quota``,
      after the scheduler config (the order of AWS's walkthrough: add-on, policy, quotas).
    - Per quota team, a kubectl read that waits until SageMaker has created the team's namespace
      ``hyperpod-ns-<team>``, so that manifests for that namespace (the team's Role) are applied
      after it exists. When CloudFormation reports a quota complete relative to the namespace is
      not documented; the wait makes the order hold either way.

    Everything comes after ``after`` (the task-governance add-on's :attr:`ready`). SageMaker itself
    creates the Kueue objects (LocalQueue -> ClusterQueue per team, WorkloadPriorityClasses): no
    Kueue manifest is written here, so a queue never exists without the ClusterQueue behind it.

    Args:
        cluster: the EKS cluster.
        hyperpod_cluster_arn: the ``AWS::SageMaker::Cluster`` ARN.
        hyperpod_cluster_name: its name, the prefix of the policy and quota names.
        settings: teams, priority classes and scheduler settings (task_governance must be on).
        after: what the SageMaker objects are created after.
        log_key: KMS key for the scheduler config handler's logs (regions without the native type).
        manifests: runs the read-only namespace wait (required with quota teams).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.ICluster,
        hyperpod_cluster_arn: str,
        hyperpod_cluster_name: str,
        settings: K8sSettings,
        after: Sequence[IConstruct] = (),
        log_key: kms.IKey | None = None,
        manifests: HyperPodManifests | None = None,
    ) -> None:
        if not settings.task_governance:
            raise prop_error(scope, construct_id, "settings", "task_governance is off; there is nothing to create")
        if manifests is None and settings.quota_teams:
            raise prop_error(
                scope,
                construct_id,
                "manifests",
                "the namespace waits of the quota teams run kubectl: pass a HyperPodManifests",
            )
        super().__init__(scope, construct_id)
        self.scheduler_config = HyperPodSchedulerConfig(
            self,
            "SchedulerConfig",
            cluster_arn=hyperpod_cluster_arn,
            name=bounded_name(hyperpod_cluster_name, "scheduler"),
            priority_classes={pc.name: pc.weight for pc in settings.scheduler_classes if pc.weight is not None},
            fair_share=settings.scheduler.fair_share,
            idle_resource_sharing=settings.scheduler.idle_resource_sharing,
            description="Task governance policy of the HyperPod cluster (hyperpod-cdk)",
            eks_cluster=cluster,
            log_key=log_key,
        )
        for dependency in after:
            self.scheduler_config.node.add_dependency(dependency)

        self.compute_quotas: dict[str, HyperPodComputeQuota] = {}
        self.namespace_wait: CustomResource | None = None
        self.pod_security: CustomResource | None = None
        for team in settings.quota_teams:
            quota = HyperPodComputeQuota(
                self,
                f"Quota-{team.name}",
                cluster_arn=hyperpod_cluster_arn,
                team_name=team.name,
                name=bounded_name(hyperpod_cluster_name, team.name),
                resources=team.compute_quota,
                fair_share_weight=team.fair_share_weight,
                resource_sharing=team.resource_sharing,
                borrow_limit_percent=team.borrow_limit_percent,
                preempt_team_tasks=team.preempt_team_tasks,
            )
            quota.node.add_dependency(self.scheduler_config)
            self.compute_quotas[team.name] = quota
        if self.compute_quotas:
            assert manifests is not None
            # One read-only wait for every team namespace (one set keeps the handler's environment small).
            self.namespace_wait = manifests.add_wait(
                "TeamNamespaces",
                object_type="namespace",
                object_names=[quota.namespace for quota in self.compute_quotas.values()],
                json_path=".status.phase",
                timeout=NAMESPACE_WAIT,
            )
            self.namespace_wait.node.add_dependency(*self.compute_quotas.values())
            # Pod Security admission on the namespaces SageMaker creates (it writes none itself): the team
            # level is enforced, restricted warned and audited (kubernetes/charts/pod_security.py).
            self.pod_security = manifests.add_namespace_labels(
                "TeamNamespacePodSecurity",
                {
                    self.compute_quotas[team.name].namespace: pod_security_labels(team.pod_security)
                    for team in settings.quota_teams
                },
            )
            self.pod_security.node.add_dependency(self.namespace_wait)

    @property
    def ready(self) -> list[IConstruct]:
        """What manifests in the teams' namespaces wait for: the namespace waits (or the policy)."""
        if self.pod_security is not None:
            return [self.pod_security]
        return [self.namespace_wait] if self.namespace_wait is not None else [self.scheduler_config]
