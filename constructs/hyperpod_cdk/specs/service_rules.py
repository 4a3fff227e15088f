"""HyperPod's own service rules, in one table: what CreateCluster / UpdateCluster refuse.

One home for each rule (id, severity, message, fix, source URL) and one pure check of it, over
plain facts about a cluster (:class:`ClusterFacts`). Three callers, each naming the field in its
own words:

- the config models (:mod:`hyperpod_cdk.config.hyperpod_checks`): ``hyperpod.node_provisioning_mode``;
- the constructs (:mod:`hyperpod_cdk.cluster.hyperpod`, :mod:`hyperpod_cdk.cluster.slurm`): the prop;
- the lint catalogue (:mod:`hyperpod_cdk.rules.catalog`, :mod:`hyperpod_cdk.rules.deploy`): the
  template property, with the rule's title, fix and source.

Each check returns :class:`Violation` s whose ``subject`` is a neutral name (``SUBJECTS``) that the
caller maps to its field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

_SM = "https://docs.aws.amazon.com/sagemaker/latest/dg/"
CMK_DOC = _SM + "smcluster-cmk.html"
KARPENTER_DOC = _SM + "sagemaker-hyperpod-eks-autoscaling.html"
LABELS_DOC = _SM + "sagemaker-hyperpod-eks-resiliency-node-labels.html"
ACCOUNTING_DOC = _SM + "sagemaker-hyperpod-external-accounting-db-slurm.html"
TIERED_DOC = _SM + "managed-tier-checkpointing-setup.html"

#: What a violation is about; each caller maps these to its own field names.
Subject = Literal[
    "node_provisioning_mode",
    "node_recovery",
    "cluster_role",
    "orchestrator",
    "volume_key",
    "accounting_database",
    "autoscaler",
    "tiered_storage_memory_percent",
]
SUBJECTS: tuple[str, ...] = get_args(Subject)


@dataclass(frozen=True)
class ClusterFacts:
    """What the rules look at, as a config, a construct's props or a template states it.

    ``None`` for ``orchestrator`` means unknown (a template whose orchestrator is an intrinsic).
    """

    node_provisioning_mode: str | None = None
    node_recovery: str | None = "Automatic"
    orchestrator: Literal["eks", "slurm"] | None = None
    customer_managed_key: bool = False
    autoscaler: str | None = None
    has_cluster_role: bool = False
    external_accounting: bool = False
    tiered_storage_memory_percent: object = None


@dataclass(frozen=True)
class Violation:
    rule: ServiceRule
    subject: Subject
    message: str

    def line(self, fields: Mapping[str, str] | None = None) -> str:
        """``message; fix`` as one line, the fix naming ``fields`` (subject -> the caller's field name)."""
        names = {subject: subject.replace("_", " ") for subject in SUBJECTS}
        names.update(fields or {})
        return f"{self.message}; {self.rule.fix.format_map(names)}"


@dataclass(frozen=True)
class ServiceRule:
    """One HyperPod service rule: ``check`` is pure and returns what breaks it (empty: compliant)."""

    id: str
    severity: Literal["error", "warning"]
    title: str
    message: str
    fix: str
    source: str
    check: Callable[[ClusterFacts], list[Violation]] | None = field(default=None, compare=False, repr=False)


def _cmk(facts: ClusterFacts) -> list[Violation]:
    if facts.customer_managed_key and facts.node_provisioning_mode != "Continuous":
        return [Violation(KMS1, "volume_key", KMS1.message)]
    return []


def _karpenter(facts: ClusterFacts) -> list[Violation]:
    if facts.autoscaler is None:
        return []
    found = []
    if facts.node_provisioning_mode != "Continuous":
        found.append(Violation(KAR1, "node_provisioning_mode", "Karpenter autoscaling needs Continuous provisioning"))
    if facts.node_recovery != "Automatic":
        found.append(Violation(KAR1, "node_recovery", "Karpenter autoscaling needs Automatic node recovery"))
    if not facts.has_cluster_role:
        found.append(
            Violation(
                KAR1,
                "cluster_role",
                "Karpenter autoscaling needs the cluster role HyperPod's "
                "Karpenter assumes (HyperPodAutoscalingRole)",
            )
        )
    if facts.orchestrator == "slurm":
        found.append(Violation(KAR1, "orchestrator", "Karpenter autoscaling is for EKS-orchestrated clusters only"))
    return found


def _accounting(facts: ClusterFacts) -> list[Violation]:
    if facts.external_accounting and facts.node_provisioning_mode != "Continuous":
        return [Violation(ACCT1, "accounting_database", ACCT1.message)]
    return []


def _tiered(facts: ClusterFacts) -> list[Violation]:
    value = facts.tiered_storage_memory_percent
    if value is None:
        return []
    if isinstance(value, bool) or not isinstance(value, int) or not 20 <= value <= 100:
        return [Violation(TSC1, "tiered_storage_memory_percent", f"{value!r}: {TSC1.message}")]
    return []


KMS1 = ServiceRule(
    "HyperPod-KMS1",
    "error",
    "A customer managed EBS key only in Continuous node provisioning mode",
    "HyperPod accepts a customer managed EBS key only in Continuous node provisioning mode",
    "set {node_provisioning_mode} to Continuous, or drop {volume_key} (AWS owned key)",
    CMK_DOC,
)
KAR1 = ServiceRule(
    "HyperPod-KAR1",
    "error",
    "Karpenter autoscaling has its prerequisites",
    "HyperPod's managed Karpenter needs Continuous provisioning, Automatic node recovery and a cluster role, "
    "on an EKS cluster",
    "set {node_provisioning_mode} to Continuous, {node_recovery} to Automatic and give {cluster_role}",
    KARPENTER_DOC,
)
ACCT1 = ServiceRule(
    "HyperPod-ACCT1",
    "error",
    "An external Slurm accounting database needs Continuous provisioning",
    "an external accounting database needs Continuous node provisioning",
    "set {node_provisioning_mode} to Continuous (API-driven Slurm; HyperPod AMIs released after 2026-08-30), "
    "or drop {accounting_database}",
    ACCOUNTING_DOC,
)
TSC1 = ServiceRule(
    "HyperPod-TSC1",
    "error",
    "Managed tiered checkpointing takes 20-100% of node memory",
    "must be a whole percentage from 20 to 100",
    "set {tiered_storage_memory_percent} between 20 and 100, or leave it out (off)",
    TIERED_DOC,
)
SYS1 = ServiceRule(
    "HyperPod-SYS1",
    "warning",
    "On EKS, some instance group can host system pods while deep health checks run",
    "no instance group can host system pods (coredns, cert-manager, the HyperPod chart's and add-ons' controllers) "
    "while deep health checks run: every group has 0 instances, runs deep health checks (60-90 minutes under a "
    "NoSchedule taint) or carries a NoSchedule/NoExecute taint",
    "add a small CPU group with at least one instance, no deep health checks and no NoSchedule/NoExecute taint "
    "(e.g. ml.m5.xlarge x 1)",
    LABELS_DOC,
)

# The checks, bound once the functions exist (a rule's check reads its own constants).
SERVICE_RULES: tuple[ServiceRule, ...] = tuple(
    rule if check is None else ServiceRule(**{**rule.__dict__, "check": check})
    for rule, check in ((KMS1, _cmk), (KAR1, _karpenter), (ACCT1, _accounting), (TSC1, _tiered), (SYS1, None))
)
BY_ID = {rule.id: rule for rule in SERVICE_RULES}


def service_rule(rule_id: str) -> ServiceRule:
    return BY_ID[rule_id]


def check_cluster(facts: ClusterFacts) -> list[Violation]:
    """Every rule's violations for ``facts``, in table order."""
    return [found for rule in SERVICE_RULES if rule.check is not None for found in rule.check(facts)]
