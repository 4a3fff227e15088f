"""Typed settings for the Kubernetes side of the platform (the ``kubernetes:`` key of ``hyperpod.yaml``).

The charts take plain keyword arguments; :class:`K8sSettings` is the validated bundle a config
file produces, with defaults that give a usable cluster (one team, three priority classes, task
governance off). :func:`parse_k8s_settings` turns a mapping into settings or raises one
:class:`~hyperpod_cdk.errors.HyperPodConfigError` naming the field, the same way the platform
config does.

Naming conventions follow what SageMaker HyperPod itself uses, so jobs submitted with the
HyperPod CLI (``hyp``) land in the same places: team namespaces are ``hyperpod-ns-<team>`` and
Kueue local queues ``hyperpod-ns-<team>-localqueue`` (``HYPERPOD_NAMESPACE_PREFIX`` and
``SAGEMAKER_MANAGED_LOCAL_QUEUE_SUFFIX`` in the sagemaker-hyperpod package).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hyperpod_cdk.config.messages import explain, first_error, register_hints
from hyperpod_cdk.errors import HyperPodConfigError

__all__ = [
    "DEFAULT_PRIORITY_CLASSES",
    "ExampleJobSettings",
    "FsxVolume",
    "K8sSettings",
    "PriorityClassSpec",
    "Team",
    "parse_k8s_settings",
]

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# Same shape as config.IAM_PRINCIPAL_PATTERN (kept local so this package does not import config).
IAM_PRINCIPAL_PATTERN = r"^arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:(role|user|assumed-role)/[\w+=,.@/-]+$"
# AWS::SageMaker::ComputeQuota TeamName allows at most 40 characters of [a-z0-9-].
TEAM_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$"

STORAGE_SIZE_PATTERN = r"^[0-9]+(Gi|Ti)$"
register_hints({
    DNS_LABEL_PATTERN: "a Kubernetes name: lowercase letters, digits and hyphens, starting and ending with a "
    "letter or digit",
    DNS_SUBDOMAIN_PATTERN: "a Kubernetes name: lowercase letters, digits, '-' and '.', each part starting and "
    "ending with a letter or digit",
    IAM_PRINCIPAL_PATTERN: "an IAM role or user ARN such as arn:aws:iam::123456789012:role/Admin",
    TEAM_NAME_PATTERN: "a team name: lowercase letters, digits and hyphens, starting and ending with a letter "
    "or digit, at most 40 characters",
    STORAGE_SIZE_PATTERN: "a size in Gi or Ti such as 1200Gi",
})

NAMESPACE_PREFIX = "hyperpod-ns-"
LOCAL_QUEUE_SUFFIX = "-localqueue"
CLUSTER_QUEUE_SUFFIX = "-clusterqueue"
TEAM_GROUP_PREFIX = "hyperpod-team-"
# Pod priorities above one billion are reserved for system-critical pods.
MAX_USER_PRIORITY = 1_000_000_000


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class Team(_Model):
    """A team that submits training jobs into its own namespace.

    The operator chart binds the Kubernetes group :attr:`kubernetes_group` to a Role that may
    create/get/list/watch/delete HyperPodPyTorchJobs and read pods and their logs in
    :attr:`effective_namespace` only. The CDK side maps ``submitter_role_arn`` to that group with
    an EKS access entry (``kubernetesGroups=[team.kubernetes_group]``, no access policy).
    """

    name: Annotated[str, Field(pattern=TEAM_NAME_PATTERN)]
    namespace: Annotated[str | None, Field(max_length=63, pattern=DNS_LABEL_PATTERN)] = Field(
        default=None, description="Defaults to hyperpod-ns-<name>, the namespace HyperPod task governance uses."
    )
    submitter_role_arn: Annotated[str | None, Field(pattern=IAM_PRINCIPAL_PATTERN)] = Field(
        default=None, description="IAM role or user mapped to this team's Kubernetes group by an access entry."
    )
    local_queue: Annotated[str | None, Field(max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)] = Field(
        default=None, description="Kueue LocalQueue name (task governance only); default <namespace>-localqueue."
    )
    cluster_queue: Annotated[str | None, Field(max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)] = Field(
        default=None, description="Kueue ClusterQueue the LocalQueue points at; default <namespace>-clusterqueue."
    )

    @property
    def effective_namespace(self) -> str:
        return self.namespace or f"{NAMESPACE_PREFIX}{self.name}"

    @property
    def kubernetes_group(self) -> str:
        """The Kubernetes RBAC group the team's IAM principal is mapped to."""
        return f"{TEAM_GROUP_PREFIX}{self.name}"

    @property
    def effective_local_queue(self) -> str:
        return self.local_queue or f"{self.effective_namespace}{LOCAL_QUEUE_SUFFIX}"

    @property
    def effective_cluster_queue(self) -> str:
        return self.cluster_queue or f"{self.effective_namespace}{CLUSTER_QUEUE_SUFFIX}"


class PriorityClassSpec(_Model):
    """A ``scheduling.k8s.io/v1`` PriorityClass for training pods."""

    name: Annotated[str, Field(max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)]
    value: Annotated[int, Field(ge=-2_147_483_648, le=MAX_USER_PRIORITY)]
    description: Annotated[str, Field(max_length=1024)] = ""
    preemption_policy: Literal["PreemptLowerPriority", "Never"] = "PreemptLowerPriority"
    global_default: bool = False

    @field_validator("name")
    @classmethod
    def _not_system(cls, value: str) -> str:
        if value.startswith("system-"):
            raise ValueError("names starting with 'system-' are reserved by Kubernetes")
        return value


DEFAULT_PRIORITY_CLASSES: tuple[PriorityClassSpec, ...] = (
    PriorityClassSpec(
        name="hyperpod-training-high", value=1000,
        description="Urgent training jobs; may preempt lower-priority training pods.",
    ),
    PriorityClassSpec(
        name="hyperpod-training", value=100,
        description="Regular training jobs.",
    ),
    PriorityClassSpec(
        name="hyperpod-training-low", value=10, preemption_policy="Never",
        description="Best-effort experiments; never preempt other pods.",
    ),
)


class FsxVolume(_Model):
    """A statically provisioned FSx for Lustre file system, exposed to every team namespace.

    The operator chart emits one PersistentVolume per team (a PV binds to exactly one claim) and a
    PersistentVolumeClaim ``claim_name`` in each team namespace, so jobs mount it as
    ``persistentVolumeClaim: {claimName: fsx-claim}``. Needs the FSx CSI driver (``fsx.csi.aws.com``).
    Values may be CDK tokens when the file system is created in the same stack.
    """

    file_system_id: Annotated[str, Field(min_length=1)] = Field(description="fs-0123456789abcdef0")
    dns_name: Annotated[str, Field(min_length=1)]
    mount_name: Annotated[str, Field(min_length=1)]
    storage_capacity: Annotated[str, Field(pattern=STORAGE_SIZE_PATTERN)] = "1200Gi"
    claim_name: Annotated[str, Field(max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)] = "fsx-claim"


class ExampleJobSettings(_Model):
    """Inputs for the example jobs that ``dist`` renders (they are never deployed by the stack)."""

    instance_type: Annotated[str, Field(pattern=r"^ml\.[a-z0-9-]+\.[a-z0-9]+$")] = "ml.p5.48xlarge"
    nodes: Annotated[int, Field(ge=1, le=6758)] = 2
    image: Annotated[str | None, Field(min_length=1)] = Field(
        default=None,
        description="Training image with hyperpod-elastic-agent; default <account>.dkr.ecr.<region>"
        ".amazonaws.com/fsdp:pytorch2.7.1 (or ${REGISTRY}fsdp:pytorch2.7.1 in dist/ when no account is set).",
    )
    smoke_image: Annotated[str, Field(min_length=1)] = "public.ecr.aws/docker/library/python:3.12-slim"
    team: Annotated[str | None, Field(pattern=TEAM_NAME_PATTERN)] = Field(
        default=None, description="Team whose namespace the examples run in; default the first team."
    )


class K8sSettings(_Model):
    """Everything the Kubernetes charts need beyond the platform config."""

    teams: Annotated[list[Team], Field(max_length=100)] = [Team(name="training")]
    task_governance: bool = Field(
        default=False,
        description="True when the HyperPod task-governance add-on (Kueue) is installed: emit a Kueue "
        "LocalQueue per team and label example jobs with it.",
    )
    priority_classes: Annotated[list[PriorityClassSpec], Field(max_length=50)] = list(DEFAULT_PRIORITY_CLASSES)
    fsx: FsxVolume | None = None
    cert_manager_namespace: Annotated[str, Field(max_length=63, pattern=DNS_LABEL_PATTERN)] = "cert-manager"
    examples: ExampleJobSettings = ExampleJobSettings()

    @model_validator(mode="after")
    def _unique(self) -> K8sSettings:
        seen_names: set[str] = set()
        seen_namespaces: set[str] = set()
        for team in self.teams:
            if team.name in seen_names:
                raise ValueError(f"teams: team name '{team.name}' is used twice")
            if team.effective_namespace in seen_namespaces:
                raise ValueError(f"teams: namespace '{team.effective_namespace}' is used by two teams")
            seen_names.add(team.name)
            seen_namespaces.add(team.effective_namespace)
        names = [pc.name for pc in self.priority_classes]
        if len(set(names)) != len(names):
            raise ValueError("priority_classes: each name may appear once")
        if sum(pc.global_default for pc in self.priority_classes) > 1:
            raise ValueError("priority_classes: at most one class may be global_default")
        if self.examples.team is not None and self.examples.team not in seen_names:
            raise ValueError(f"examples: team '{self.examples.team}' is not one of the teams {sorted(seen_names)}")
        return self

    def team(self, name: str | None = None) -> Team:
        """The named team, or the first one."""
        if not self.teams:
            raise HyperPodConfigError("kubernetes.teams", "no team is configured; the example jobs need one")
        if name is None:
            return self.teams[0]
        for team in self.teams:
            if team.name == name:
                return team
        raise HyperPodConfigError("kubernetes.teams", f"no team named '{name}'")


def parse_k8s_settings(data: Mapping[str, Any] | None, *, prefix: str = "kubernetes") -> K8sSettings:
    """Validate the ``kubernetes:`` section; raise one :class:`HyperPodConfigError` naming the field."""
    values = dict(data or {})
    try:
        return K8sSettings.model_validate(values)
    except ValidationError as exc:
        raise explain(first_error(exc.errors(), values), values, K8sSettings, prefix) from None
