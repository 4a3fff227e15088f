"""Kubernetes objects of the platform, as typed cdk8s charts.

* :class:`HyperPodOperatorChart` - team namespaces, team RBAC (group ``hyperpod-team-<team>``),
  priority classes, Kueue LocalQueues when task governance is on, optional FSx PV/PVCs.
* :class:`CertManagerIssuersChart` - self-signed and CA ClusterIssuers plus the root CA Certificate.
* :class:`HyperPodJobChart` / :class:`HyperPodPyTorchJob` - HyperPodPyTorchJobs from the typed
  builder in :mod:`hyperpod_cdk.k8s.jobs`; examples in :mod:`hyperpod_cdk.k8s.example_jobs`.

Every chart is a ``cdk8s.Chart`` built with keyword arguments, so the CDK app can pass it to
``aws_eks_v2.Cluster.add_cdk8s_chart(id, chart)``; :mod:`hyperpod_cdk.k8s.dist` writes the same
charts as YAML and :mod:`hyperpod_cdk.k8s.validate` checks the manifests.
"""

from hyperpod_cdk.k8s.cert_manager_chart import CertManagerIssuersChart
from hyperpod_cdk.k8s.example_jobs import ecr_image, llama3_1_8b_fsdp_job, smoke_job
from hyperpod_cdk.k8s.jobs import (
    Container,
    HyperPodJobChart,
    HyperPodPyTorchJob,
    HyperPodPyTorchJobSpec,
    LogMonitoringRule,
    PvcVolume,
    ReplicaSpec,
    Resources,
    RestartPolicy,
    RunPolicy,
    ShmVolume,
    Toleration,
    hyperpodrun_args,
)
from hyperpod_cdk.k8s.operator_chart import HyperPodOperatorChart, team_role_rules
from hyperpod_cdk.k8s.settings import (
    ExampleJobSettings,
    FsxVolume,
    K8sSettings,
    PriorityClassSpec,
    Team,
    parse_k8s_settings,
)

__all__ = [
    "CertManagerIssuersChart",
    "Container",
    "ExampleJobSettings",
    "FsxVolume",
    "HyperPodJobChart",
    "HyperPodOperatorChart",
    "HyperPodPyTorchJob",
    "HyperPodPyTorchJobSpec",
    "K8sSettings",
    "LogMonitoringRule",
    "PriorityClassSpec",
    "PvcVolume",
    "ReplicaSpec",
    "Resources",
    "RestartPolicy",
    "RunPolicy",
    "ShmVolume",
    "Team",
    "Toleration",
    "ecr_image",
    "hyperpodrun_args",
    "llama3_1_8b_fsdp_job",
    "parse_k8s_settings",
    "smoke_job",
    "team_role_rules",
]
