"""Typed settings for the Kubernetes side of the platform (the ``kubernetes:`` key of ``hyperpod.yaml``).

The charts take plain keyword arguments; :class:`K8sSettings` is the validated bundle a config
file produces, with defaults that give a usable cluster (one team, three priority classes, task
governance off). :func:`parse_k8s_settings` turns a mapping into settings or raises one
:class:`~hyperpod_cdk.errors.HyperPodConfigError` naming the field, the same way the platform
config does.

Naming conventions follow what SageMaker HyperPod itself uses, so jobs submitted with the
HyperPod CLI (``hyp``) land in the same places: team namespaces are ``hyperpod-ns-<team>`` and
Kueue local queues ``hyperpod-ns-<team>-localqueue`` (``HYPERPOD_NAMESPACE_PREFIX`` and
``SAGEMAKER_MANAGED_LOCAL_QUEUE_SUFFIX`` in aws/sagemaker-hyperpod-cli
``src/sagemaker/hyperpod/cli/constants/command_constants.py``).

Task governance (``kubernetes.addons.task_governance.enabled``): SageMaker owns the Kueue objects.
A team's ``compute_quota`` becomes an ``AWS::SageMaker::ComputeQuota``, from which SageMaker makes
the namespace ``hyperpod-ns-<team>``, the LocalQueue ``hyperpod-ns-<team>-localqueue`` and the
ClusterQueue ``hyperpod-ns-<team>-clusterqueue`` it points at; each weighted priority class
becomes a class of the ``AWS::SageMaker::ClusterSchedulerConfig``, which SageMaker turns into the
Kueue WorkloadPriorityClass ``<name>-priority``. This project never writes Kueue objects itself, so
no LocalQueue exists without its ClusterQueue.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from hyperpod_cdk.config.base import IAM_PRINCIPAL_PATTERN as IAM_PRINCIPAL_PATTERN
from hyperpod_cdk.config.base import (
    INSTANCE_TYPE_PATTERN,
    Cidr,
    DnsSubdomain,
    IamPrincipalArn,
    NodeCount,
    _Model,
)
from hyperpod_cdk.config.messages import explain, first_error, register_hints
from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.specs.kubernetes_names import DNS_LABEL_PATTERN as DNS_LABEL_PATTERN
from hyperpod_cdk.specs.kubernetes_names import DNS_SUBDOMAIN_PATTERN as DNS_SUBDOMAIN_PATTERN
from hyperpod_cdk.specs.namespaces import reserved_namespace_reason

__all__ = [
    "DEFAULT_PRIORITY_CLASSES",
    "ExampleJobSettings",
    "FsxVolume",
    "K8sSettings",
    "PriorityClassSpec",
    "QuotaResource",
    "SchedulerSettings",
    "Team",
    "parse_k8s_settings",
]

# AWS::SageMaker::ComputeQuota TeamName allows at most 40 characters of [a-z0-9-]; the scheduler
# config's PriorityClass Name has the same pattern (cfn-lint 1.58 schemas of both types).
TEAM_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$"
SCHEDULER_CLASS_PATTERN = TEAM_NAME_PATTERN
#: Deprecated alias (issue 21, removed in the next release): config.INSTANCE_TYPE_PATTERN is the one pattern.
HYPERPOD_INSTANCE_TYPE_PATTERN = INSTANCE_TYPE_PATTERN

STORAGE_SIZE_PATTERN = r"^[0-9]+(Gi|Ti)$"
#: The example smoke job's image; also what creates the team directories on FSx (FsxVolume).
SMOKE_IMAGE = "public.ecr.aws/docker/library/python:3.12-slim"
#: Largest uid/gid: 2**32 - 1 is (uid_t)-1, "no change" for chown(2).
MAX_POSIX_ID = 2**32 - 2
FSX_OWNER_PATTERN = r"^[0-9]{1,10}:[0-9]{1,10}$"
#: An image reference starts with a letter or digit and has no spaces: one starting with '-' would
#: reach `crane copy` as an option (seventh review, L2).
IMAGE_REFERENCE_PATTERN = r"^[A-Za-z0-9][^\s]*$"
register_hints(
    {
        IMAGE_REFERENCE_PATTERN: "an image reference such as public.ecr.aws/docker/library/python:3.12-slim "
        "(starting with a letter or digit, no spaces)",
        FSX_OWNER_PATTERN: "a numeric uid:gid such as 1000:1000",
        DNS_LABEL_PATTERN: "a Kubernetes name: lowercase letters, digits and hyphens, starting and ending with a "
        "letter or digit",
        DNS_SUBDOMAIN_PATTERN: "a Kubernetes name: lowercase letters, digits, '-' and '.', each part starting and "
        "ending with a letter or digit",
        TEAM_NAME_PATTERN: "a team name: lowercase letters, digits and hyphens, starting and ending with a letter "
        "or digit, at most 40 characters",
        STORAGE_SIZE_PATTERN: "a size in Gi or Ti such as 1200Gi",
    }
)

NAMESPACE_PREFIX = "hyperpod-ns-"
LOCAL_QUEUE_SUFFIX = "-localqueue"
CLUSTER_QUEUE_SUFFIX = "-clusterqueue"
# A scheduler-config class "training" appears in the cluster as the Kueue WorkloadPriorityClass
# "training-priority". No AWS page states the rule in words; AWS's examples all use it
# (awslabs/awsome-distributed-ai task-governance README and manifests, the sagemaker-hyperpod-cli
# task-governance walkthrough JOB_PRIO=training-priority).
WORKLOAD_PRIORITY_SUFFIX = "-priority"
TEAM_GROUP_PREFIX = "hyperpod-team-"
# Pod priorities above one billion are reserved for system-critical pods.
MAX_USER_PRIORITY = 1_000_000_000
# AWS::SageMaker::ClusterSchedulerConfig takes at most 10 priority classes.
MAX_SCHEDULER_CLASSES = 10
# AWS::SageMaker::ComputeQuota takes at most 15 resource entries.
MAX_QUOTA_RESOURCES = 15


class QuotaResource(_Model):
    """One instance type of a team's compute quota (``ComputeQuotaResourceConfig``).

    Give ``count`` (whole instances) or any of ``accelerators``, ``vcpu`` and ``memory_gib``; SageMaker
    fills the dimensions left out in proportion to the instance type.
    """

    instance_type: Annotated[str, Field(pattern=INSTANCE_TYPE_PATTERN)]
    count: Annotated[int | None, Field(ge=1, le=10_000_000)] = None
    accelerators: Annotated[int | None, Field(ge=1, le=10_000_000)] = None
    vcpu: Annotated[float | None, Field(gt=0)] = None
    memory_gib: Annotated[float | None, Field(gt=0)] = None

    @model_validator(mode="after")
    def _something_is_asked(self) -> QuotaResource:
        if self.count is None and self.accelerators is None and self.vcpu is None and self.memory_gib is None:
            raise ValueError("count: give count, accelerators, vcpu or memory_gib for this instance type")
        return self


ResourceSharing = Literal["LendAndBorrow", "Lend", "DontLend"]
_QUOTA_ONLY = ("fair_share_weight", "resource_sharing", "borrow_limit_percent", "preempt_team_tasks")


class Team(_Model):
    """A team that submits training jobs into its own namespace.

    The operator chart binds the Kubernetes group :attr:`kubernetes_group` to a Role that may
    create/get/list/watch/delete HyperPodPyTorchJobs and read pods and their logs in
    :attr:`effective_namespace` only. The CDK side maps ``submitter_role_arn`` to that group with
    an EKS access entry (``kubernetesGroups=[team.kubernetes_group]``, no access policy).

    With task governance, ``compute_quota`` gives the team an ``AWS::SageMaker::ComputeQuota``:
    SageMaker then owns the namespace ``hyperpod-ns-<name>`` and its queues, and jobs go to
    :attr:`queue_name`. The other quota keys map one to one to that resource.
    """

    name: Annotated[str, Field(pattern=TEAM_NAME_PATTERN)]
    namespace: Annotated[str | None, Field(max_length=63, pattern=DNS_LABEL_PATTERN)] = Field(
        default=None, description="Defaults to hyperpod-ns-<name>, the namespace HyperPod task governance uses."
    )
    submitter_role_arn: IamPrincipalArn | None = Field(
        default=None, description="IAM role or user mapped to this team's Kubernetes group by an access entry."
    )
    compute_quota: Annotated[list[QuotaResource], Field(max_length=MAX_QUOTA_RESOURCES)] = Field(
        default=[],
        description="Task governance: the team's guaranteed compute, per instance type (AWS::SageMaker::ComputeQuota).",
    )
    fair_share_weight: Annotated[int | None, Field(ge=0, le=100)] = Field(
        default=None, description="Share of idle compute when fair share is on (0-100; SageMaker's default 0)."
    )
    resource_sharing: ResourceSharing = Field(
        default="LendAndBorrow",
        description="Lend idle quota to other teams and borrow theirs (LendAndBorrow), only lend, or neither.",
    )
    borrow_limit_percent: Annotated[int | None, Field(ge=1, le=500)] = Field(
        default=None,
        description="LendAndBorrow only: how much beyond its quota the team may borrow, in percent of the quota "
        "(SageMaker's default 50; documented range 1-500).",
    )
    preempt_team_tasks: Literal["LowerPriority", "Never"] = Field(
        default="LowerPriority", description="Whether the team's higher-priority tasks preempt its lower ones."
    )
    priority_classes: Annotated[list[str] | None, Field(max_length=50)] = Field(
        default=None,
        description="The kubernetes.priority_classes this team's pods may name (default: all of them). Kubernetes' "
        "system-node-critical and system-cluster-critical, and the S3 CSI driver's mount-s3-* classes, are never "
        "allowed: a ResourceQuota in the team namespace admits no pod with a class outside this list.",
    )
    pod_security: Literal["baseline", "restricted", "privileged"] = Field(
        default="baseline",
        description="Pod Security Standard enforced on the team's namespace (Pod Security admission label "
        "pod-security.kubernetes.io/enforce); restricted is always warned and audited. baseline refuses "
        "privileged pods, hostPath volumes, hostNetwork/hostPID/hostIPC and added capabilities outside its list.",
    )

    fsx_owner: Annotated[str | None, Field(pattern=FSX_OWNER_PATTERN)] = Field(
        default=None,
        description="uid:gid the FSx directory Job gives the team's /teams/<team> when it creates it (mode 0770), "
        "so pods running as that user or group (every pod_security: restricted team runs non-root) can write it. "
        "Default: root:root, mode 0755.",
    )
    dynamic_fsx_claims: Annotated[int, Field(ge=0, le=1000)] = Field(
        default=0,
        description="Claims of the dynamic FSx StorageClass (kubernetes.addons.fsx_csi_driver.storage_class) the "
        "team's namespace may hold; each one creates a file system. Default 0: a ResourceQuota refuses them, "
        "including generic ephemeral volumes in a job's pod template.",
    )
    extra_volume_claims: Annotated[int, Field(ge=0, le=1000)] = Field(
        default=0,
        description="PersistentVolumeClaims the team's namespace may hold beyond the platform's fsx-claim and "
        "dynamic_fsx_claims: claims an admin creates for the team (of a static volume pre-bound with claimRef) "
        "or that an operator creates there for the team. A ResourceQuota counts every claim of the namespace, "
        "generic ephemeral volumes included. Default 0.",
    )
    network_ingress_cidrs: Annotated[list[Cidr], Field(max_length=20)] = Field(
        default=[],
        description="Addresses outside the cluster's pods whose traffic the team's pods accept besides their own "
        "namespace and the platform's (e.g. the subnets of a load balancer in front of the team's inference "
        "endpoints). A range holding pod addresses (the HyperPod subnets), the whole VPC or 0.0.0.0/0 is refused: "
        "it would let other teams' pods in again.",
    )

    @field_validator("network_ingress_cidrs")
    @classmethod
    def _not_every_address(cls, cidrs: list[Any]) -> list[Any]:
        # The pods' own ranges are checked against network: in config/kubernetes_checks.py (R9P-L3).
        if any(cidr.prefixlen == 0 for cidr in cidrs):
            raise ValueError(
                "0.0.0.0/0 holds every pod address, so it would let other teams' pods in; list only the ranges "
                "that send the team traffic, such as a load balancer's subnets"
            )
        return cidrs

    @model_validator(mode="before")
    @classmethod
    def _queues_are_sagemakers(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            for key in ("local_queue", "cluster_queue"):
                if key in data:
                    raise ValueError(
                        f"{key}: SageMaker task governance creates and names the team queues itself "
                        "(hyperpod-ns-<team>-localqueue -> -clusterqueue); remove the key and give the team a "
                        "compute_quota"
                    )
        return data

    @property
    def fsx_owner_ids(self) -> tuple[int, int] | None:
        """``fsx_owner`` as (uid, gid), or None (root)."""
        if self.fsx_owner is None:
            return None
        uid, gid = self.fsx_owner.split(":")
        return int(uid), int(gid)

    @model_validator(mode="after")
    def _fsx_owner_fits(self) -> Team:
        ids = self.fsx_owner_ids
        if ids is not None and max(ids) > MAX_POSIX_ID:
            raise ValueError(f"fsx_owner: uid and gid are at most {MAX_POSIX_ID} (got {self.fsx_owner})")
        return self

    @model_validator(mode="after")
    def _namespace_is_the_teams_own(self) -> Team:
        reason = reserved_namespace_reason(self.effective_namespace)
        if reason is not None:
            raise ValueError(
                f"namespace: '{self.effective_namespace}' cannot hold a team ({reason}); give the team a namespace "
                f"of its own, e.g. {NAMESPACE_PREFIX}{self.name}"
            )
        return self

    @model_validator(mode="after")
    def _quota_keys_fit(self) -> Team:
        if not self.compute_quota:
            stray = [key for key in _QUOTA_ONLY if key in self.model_fields_set]
            if stray:
                raise ValueError(f"{stray[0]}: only used with compute_quota; give the team a compute_quota")
            return self
        if self.namespace is not None and self.namespace != f"{NAMESPACE_PREFIX}{self.name}":
            raise ValueError(
                f"namespace: a team with a compute quota lives in {NAMESPACE_PREFIX}{self.name}, the namespace "
                "SageMaker creates for it; remove namespace"
            )
        if self.borrow_limit_percent is not None and self.resource_sharing != "LendAndBorrow":
            raise ValueError("borrow_limit_percent: only used with resource_sharing: LendAndBorrow")
        types = [resource.instance_type for resource in self.compute_quota]
        for instance_type in types:
            if types.count(instance_type) > 1:
                raise ValueError(f"compute_quota: {instance_type} is listed twice; give one entry per instance type")
        return self

    @property
    def effective_namespace(self) -> str:
        return self.namespace or f"{NAMESPACE_PREFIX}{self.name}"

    @property
    def kubernetes_group(self) -> str:
        """The Kubernetes RBAC group the team's IAM principal is mapped to."""
        return f"{TEAM_GROUP_PREFIX}{self.name}"

    @property
    def has_quota(self) -> bool:
        return bool(self.compute_quota)

    @property
    def queue_name(self) -> str | None:
        """The SageMaker-managed LocalQueue jobs are labeled with; None for a team without a quota."""
        return f"{NAMESPACE_PREFIX}{self.name}{LOCAL_QUEUE_SUFFIX}" if self.compute_quota else None

    @property
    def cluster_queue_name(self) -> str | None:
        """The SageMaker-managed ClusterQueue behind :attr:`queue_name`."""
        return f"{NAMESPACE_PREFIX}{self.name}{CLUSTER_QUEUE_SUFFIX}" if self.compute_quota else None


class PriorityClassSpec(_Model):
    """A ``scheduling.k8s.io/v1`` PriorityClass for training pods."""

    name: DnsSubdomain
    value: Annotated[int, Field(ge=-2_147_483_648, le=MAX_USER_PRIORITY)]
    description: Annotated[str, Field(max_length=1024)] = ""
    preemption_policy: Literal["PreemptLowerPriority", "Never"] = "PreemptLowerPriority"
    global_default: bool = False
    weight: Annotated[int | None, Field(ge=0, le=100)] = Field(
        default=None,
        description="Task governance: the class's weight (0-100) in the cluster scheduler config, which makes "
        "it the Kueue WorkloadPriorityClass <name>-priority. Classes without a weight are Kubernetes-only.",
    )

    @field_validator("name")
    @classmethod
    def _not_system(cls, value: str) -> str:
        if value.startswith("system-"):
            raise ValueError("names starting with 'system-' are reserved by Kubernetes")
        return value

    @property
    def workload_priority_class(self) -> str | None:
        """The Kueue WorkloadPriorityClass SageMaker makes of a weighted class (job label value)."""
        return f"{self.name}{WORKLOAD_PRIORITY_SUFFIX}" if self.weight is not None else None


DEFAULT_PRIORITY_CLASSES: tuple[PriorityClassSpec, ...] = (
    PriorityClassSpec(
        name="hyperpod-training-high",
        value=1000,
        weight=100,
        description="Urgent training jobs; may preempt lower-priority training pods.",
    ),
    PriorityClassSpec(
        name="hyperpod-training",
        value=100,
        weight=50,
        description="Regular training jobs.",
    ),
    PriorityClassSpec(
        name="hyperpod-training-low",
        value=10,
        weight=10,
        preemption_policy="Never",
        description="Best-effort experiments; never preempt other pods.",
    ),
)


class FsxVolume(_Model):
    """A statically provisioned FSx for Lustre file system, one directory of it per team namespace.

    The operator chart emits per team a PersistentVolume of the directory ``/teams/<team>`` (a Lustre
    fileset mount) and a PersistentVolumeClaim ``claim_name`` in the team's namespace, so jobs mount
    their team's directory as ``persistentVolumeClaim: {claimName: fsx-claim}`` and see no other
    team's data. The root is mounted only by the admin claim ``fsx-root`` in namespace
    ``hyperpod-cdk-fsx``, where a Job per team (image ``directory_image``) creates the team directory.
    Needs the FSx CSI driver (``fsx.csi.aws.com``). Values may be CDK tokens when the file system is
    created in the same stack.
    """

    file_system_id: Annotated[str, Field(min_length=1)] = Field(description="fs-0123456789abcdef0")
    dns_name: Annotated[str, Field(min_length=1)]
    mount_name: Annotated[str, Field(min_length=1)]
    storage_capacity: Annotated[str, Field(pattern=STORAGE_SIZE_PATTERN)] = "1200Gi"
    claim_name: DnsSubdomain = "fsx-claim"
    directory_image: Annotated[str, Field(pattern=IMAGE_REFERENCE_PATTERN)] = Field(
        default=SMOKE_IMAGE,
        description="Image (with python3) of the Jobs that create each team's directory /teams/<team>; the "
        "platform uses kubernetes.examples.smoke_image (its copy under image_mirror when set).",
    )


class ExampleJobSettings(_Model):
    """Inputs for the example jobs that ``dist`` renders (they are never deployed by the stack)."""

    instance_type: Annotated[str | None, Field(pattern=INSTANCE_TYPE_PATTERN)] = Field(
        default=None,
        description="Instance type the training example runs on; it must be an instance group's. Default: the "
        "first ml.p5 group, else the first NVIDIA group, else the first Trainium group (a Neuron job).",
    )
    nodes: NodeCount | None = Field(
        default=None,
        description="Replicas (one pod per node); at most the instance count of that type. Default: 2, or fewer "
        "when the groups have fewer.",
    )
    image: Annotated[str | None, Field(pattern=IMAGE_REFERENCE_PATTERN)] = Field(
        default=None,
        description="Training image with hyperpod-elastic-agent; default <account>.dkr.ecr.<region>"
        ".amazonaws.com/fsdp:pytorch2.7.1 (or ${REGISTRY}fsdp:pytorch2.7.1 in dist/ when no account is set).",
    )
    smoke_image: Annotated[str, Field(pattern=IMAGE_REFERENCE_PATTERN)] = SMOKE_IMAGE
    image_repository: bool = Field(
        default=True,
        description="EKS: an ECR repository <name>/fsdp for the training image (immutable tags, scan on push, "
        "lifecycle rule, deleted with the stack); `make image` pushes to it and ${REGISTRY} in dist/ jobs is its "
        "registry prefix (stack output TrainingImageRegistry).",
    )
    team: Annotated[str | None, Field(pattern=TEAM_NAME_PATTERN)] = Field(
        default=None, description="Team whose namespace the examples run in; default the first team."
    )
    priority_class: DnsSubdomain | None = Field(
        default=None,
        description="Priority class of the example jobs (pod priorityClassName, and with task governance the "
        "Kueue priority label when the class has a weight); default none.",
    )


class SchedulerSettings(_Model):
    """The task-governance cluster policy (``AWS::SageMaker::ClusterSchedulerConfig``).

    Both values are always written out, so nothing depends on a service default: the API reference
    documents FairShare's default (Enabled) but not IdleResourceSharing's.
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_SchedulerConfig.html
    """

    fair_share: bool = Field(
        default=True,
        description="Teams borrow idle compute by their fair_share_weight (off: first come, first served).",
    )
    idle_resource_sharing: bool = Field(
        default=True, description="Compute no quota covers is computed and lent to teams that borrow."
    )


class K8sSettings(_Model):
    """Everything the Kubernetes charts need beyond the platform config."""

    teams: Annotated[list[Team], Field(max_length=100)] = [Team(name="training")]
    task_governance: bool = Field(
        default=False,
        description="True when the HyperPod task-governance add-on (Kueue) is installed: teams may have "
        "compute quotas, weighted priority classes go to the scheduler config, example jobs get the Kueue labels.",
    )
    priority_classes: Annotated[list[PriorityClassSpec], Field(max_length=50)] = list(DEFAULT_PRIORITY_CLASSES)
    scheduler: SchedulerSettings = Field(
        default=SchedulerSettings(), description="Task governance: fair share and idle-compute sharing."
    )
    fsx: FsxVolume | None = None
    cert_manager_namespace: Annotated[str, Field(max_length=63, pattern=DNS_LABEL_PATTERN)] = "cert-manager"
    examples: ExampleJobSettings = ExampleJobSettings()
    fsx_storage_class: DnsSubdomain | None = Field(
        default=None,
        description="The StorageClass whose claims create FSx file systems (dynamic provisioning): each team "
        "namespace gets a ResourceQuota of teams[].dynamic_fsx_claims claims of it (default 0). The platform "
        "config fills it from addons.fsx_csi_driver.storage_class.",
    )

    @model_validator(mode="after")
    def _unique(self) -> K8sSettings:
        seen_names: set[str] = set()
        seen_namespaces: set[str] = set()
        for index, team in enumerate(self.teams):
            if team.name in seen_names:
                raise ValueError(f"teams: team name '{team.name}' is used twice")
            if team.effective_namespace == self.cert_manager_namespace:
                raise HyperPodConfigError(
                    f"kubernetes.teams[{index}]({team.name}).namespace",
                    f"'{team.effective_namespace}' is the cert-manager namespace; give the team a namespace of its own",
                )
            if team.effective_namespace in seen_namespaces:
                raise ValueError(f"teams: namespace '{team.effective_namespace}' is used by two teams")
            seen_names.add(team.name)
            seen_namespaces.add(team.effective_namespace)
        # EKS keeps one access entry per principal ("You can't specify the same ARN in more than one access
        # entry", CreateAccessEntry API), and each team's role gets its own: a shared role fails the deploy
        # (review round 13, L1).
        mapped: dict[str, str] = {}
        for index, team in enumerate(self.teams):
            role = team.submitter_role_arn
            if role and role in mapped:
                raise HyperPodConfigError(
                    f"kubernetes.teams[{index}]({team.name}).submitter_role_arn",
                    f"team '{mapped[role]}' already maps this role (EKS allows one access entry per role); "
                    "give each team its own role",
                )
            if role:
                mapped[role] = team.name
        names = [pc.name for pc in self.priority_classes]
        if len(set(names)) != len(names):
            raise ValueError("priority_classes: each name may appear once")
        if sum(pc.global_default for pc in self.priority_classes) > 1:
            raise ValueError("priority_classes: at most one class may be global_default")
        if self.examples.team is not None and self.examples.team not in seen_names:
            raise ValueError(f"examples: team '{self.examples.team}' is not one of the teams {sorted(seen_names)}")
        if self.examples.priority_class is not None and self.examples.priority_class not in names:
            raise ValueError(
                f"examples: priority_class '{self.examples.priority_class}' is not one of the priority_classes {names}"
            )
        self._team_classes_exist(names)
        self._task_governance_fits()
        self._dynamic_fsx_claims_have_a_class()
        return self

    def _dynamic_fsx_claims_have_a_class(self) -> None:
        for index, team in enumerate(self.teams):
            if team.dynamic_fsx_claims and self.fsx_storage_class is None:
                raise HyperPodConfigError(
                    f"kubernetes.teams[{index}]({team.name}).dynamic_fsx_claims",
                    "there is no dynamic FSx StorageClass to claim from; set "
                    "kubernetes.addons.fsx_csi_driver.storage_class or remove the key",
                )

    def _team_classes_exist(self, names: list[str]) -> None:
        for index, team in enumerate(self.teams):
            unknown = [name for name in team.priority_classes or () if name not in names]
            if unknown:
                raise HyperPodConfigError(
                    f"kubernetes.teams[{index}]({team.name}).priority_classes",
                    f"'{unknown[0]}' is not one of kubernetes.priority_classes {names}",
                )
        example_class = self.examples.priority_class
        if not example_class or not self.teams:
            return
        example_team = self.team(self.examples.team)
        if example_team.priority_classes is not None and example_class not in example_team.priority_classes:
            raise HyperPodConfigError(
                "kubernetes.examples.priority_class",
                f"team '{example_team.name}' may not use '{example_class}' (its priority_classes "
                f"{example_team.priority_classes}); pick one of those or add it to the team",
            )

    def _task_governance_fits(self) -> None:
        for index, team in enumerate(self.teams):
            if team.has_quota and not self.task_governance:
                raise HyperPodConfigError(
                    f"kubernetes.teams[{index}]({team.name}).compute_quota",
                    "compute quotas need task governance; set kubernetes.addons.task_governance.enabled: true",
                )
        if not self.task_governance:
            return
        weighted = self.scheduler_classes
        if len(weighted) > MAX_SCHEDULER_CLASSES:
            raise ValueError(
                f"priority_classes: {len(weighted)} classes have a weight, but the cluster scheduler config takes at "
                f"most {MAX_SCHEDULER_CLASSES}; drop the weight of the others"
            )
        for index, pc in enumerate(self.priority_classes):
            if pc.weight is not None and not re.fullmatch(SCHEDULER_CLASS_PATTERN, pc.name):
                raise HyperPodConfigError(
                    f"kubernetes.priority_classes[{index}].name",
                    f"'{pc.name}' has a weight, so it is a scheduler-config class: at most 40 characters of a-z, 0-9 "
                    "and '-' (no dots)",
                )

    @property
    def scheduler_classes(self) -> list[PriorityClassSpec]:
        """The priority classes with a weight: the cluster scheduler config's classes."""
        return [pc for pc in self.priority_classes if pc.weight is not None]

    @property
    def inference_example(self) -> bool:
        """True when dist/ writes the inference example (an S3-sourced InferenceEndpointConfig in the
        examples team's namespace). These settings alone install no operator; the platform config's
        ``kubernetes:`` section follows ``addons.inference_operator.enabled``."""
        return False

    @property
    def quota_teams(self) -> list[Team]:
        """Teams with a compute quota (task governance only)."""
        return [team for team in self.teams if team.has_quota]

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
