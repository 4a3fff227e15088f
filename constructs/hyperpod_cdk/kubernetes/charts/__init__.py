"""Kubernetes objects of the platform, as typed cdk8s charts.

* :class:`HyperPodOperatorChart` - team namespaces (not those SageMaker makes for quota teams), team
  RBAC (group ``hyperpod-team-<team>``), priority classes, optional FSx PV/PVCs. No Kueue objects:
  SageMaker task governance owns them.
* :class:`FsxStorageClassChart` - a StorageClass for dynamically provisioned FSx for Lustre.
* :class:`InferenceEndpointChart` - an example InferenceEndpointConfig for the inference operator.
* :class:`CertManagerIssuersChart` - self-signed and CA ClusterIssuers plus the root CA Certificate.
* :class:`KarpenterChart` - the HyperpodNodeClass and NodePool of HyperPod's managed Karpenter.
* :class:`HyperPodJobChart` / :class:`HyperPodPyTorchJob` - HyperPodPyTorchJobs from the typed
  builder in :mod:`hyperpod_cdk.kubernetes.charts.jobs`; examples in :mod:`hyperpod_cdk.kubernetes.charts.example_jobs`.

Every chart is a ``cdk8s.Chart`` built with keyword arguments, so the CDK app can pass it to
``aws_eks_v2.Cluster.add_cdk8s_chart(id, chart)``; :mod:`hyperpod_cdk.kubernetes.charts.dist` writes the same
charts as YAML and :mod:`hyperpod_cdk.kubernetes.charts.validate` checks the manifests.
"""

from __future__ import annotations

import importlib
from typing import Any

# Imported on first use: the settings models are pure pydantic and are read by the platform
# config and the CLI, which must not pay for starting cdk8s (jsii, Node) just to parse YAML.
_EXPORTS = {
    "CertManagerIssuersChart": "cert_manager_chart",
    "KarpenterChart": "karpenter_chart",
    "ecr_image": "example_jobs",
    "llama3_1_8b_fsdp_job": "example_jobs",
    "smoke_job": "example_jobs",
    "Container": "jobs",
    "ElasticAgentOptions": "jobs",
    "HyperPodJobChart": "jobs",
    "HyperPodPyTorchJob": "jobs",
    "HyperPodPyTorchJobSpec": "jobs",
    "LogMonitoringRule": "jobs",
    "PvcVolume": "jobs",
    "ReplicaSpec": "jobs",
    "Resources": "jobs",
    "RestartPolicy": "jobs",
    "RunPolicy": "jobs",
    "ShmVolume": "jobs",
    "Toleration": "jobs",
    "hyperpodrun_args": "jobs",
    "HyperPodOperatorChart": "operator_chart",
    "FsxStorageClassChart": "storage_class_chart",
    "InferenceEndpointChart": "inference_example",
    "inference_endpoint": "inference_example",
    "task_governance_labels": "jobs",
    "team_role_rules": "operator_chart",
    "ExampleJobSettings": "charts",
    "FsxVolume": "charts",
    "K8sSettings": "charts",
    "PriorityClassSpec": "charts",
    "Team": "charts",
    "parse_k8s_settings": "charts",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hyperpod_cdk.kubernetes.charts' has no attribute {name!r}")
    package = "hyperpod_cdk.config" if module == "charts" else "hyperpod_cdk.kubernetes.charts"
    return getattr(importlib.import_module(f"{package}.{module}"), name)


__all__ = list(_EXPORTS)
