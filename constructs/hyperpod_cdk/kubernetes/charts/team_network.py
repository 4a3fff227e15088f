"""Network isolation of a team namespace: one ingress NetworkPolicy per team (review round 8, R8P-H1).

Without it every pod of every team reaches every other pod on every port (the VPC CNI gives pods
VPC addresses behind the node security group, which allows all traffic from itself). A distributed
job's services accept connections from anyone: PyTorch's c10d/TCPStore/RPC have no authorization
(pytorch/pytorch SECURITY.md, "Using distributed features"), and ``hyperpodrun`` serves the operator
on ``0.0.0.0:8080`` (job_agent.py). So another team could run code in a team's job, which mounts that
team's FSx directory. A pod that a NetworkPolicy selects for ingress accepts only what a rule allows
(https://kubernetes.io/docs/concepts/services-networking/network-policies/).

The policy selects every pod of the namespace and admits traffic from:

* pods of the same namespace: a job's own workers (torch.distributed rendezvous, NCCL's TCP
  bootstrap and sockets, the agents among themselves). NCCL over EFA does not pass through the
  kernel's network stack, so the policy neither blocks nor filters it (specs/network_policy.py);
* pods of the platform namespaces in :data:`PLATFORM_SOURCE_NAMESPACES`, selected by the
  ``kubernetes.io/metadata.name`` label, which the API server sets on every namespace and which
  teams cannot change (they have no RBAC on Namespaces);
* the team's ``network_ingress_cidrs`` (none by default), e.g. a load balancer's subnets;
* the pod's own node: the VPC CNI's policy agent always admits the node's IP, so kubelet probes work
  (aws/aws-network-policy-agent pull request #65).

Everything else is refused, in particular pods of other team namespaces: every team namespace has
this policy, so a connection from one team to another is refused at the receiving end whatever the
sender's egress. Egress is not restricted (jobs reach S3, ECR, IMDS through pod identity and the
VPC), and host-network pods of other nodes are refused like any other source.

Enforcement needs the VPC CNI's network policy support, which ``HyperPodEksCluster`` turns on
(``enableNetworkPolicy``); on an imported cluster (``eks.existing``) the cluster's owner turns it on.
Slurm clusters have no Kubernetes pods and get nothing from this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cdk8s
from constructs import Construct

from hyperpod_cdk.kubernetes.charts.api_object import api_object

__all__ = [
    "NAMESPACE_NAME_LABEL",
    "PLATFORM_SOURCE_NAMESPACES",
    "TEAM_NETWORK_POLICY_NAME",
    "add_team_network_policy",
    "team_network_policy_spec",
]

TEAM_NETWORK_POLICY_NAME = "hyperpod-cdk-team-isolation"
#: Set by the API server on every namespace to its name, since Kubernetes 1.22
#: (https://kubernetes.io/docs/reference/labels-annotations-taints/#kubernetes-io-metadata-name).
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
#: Namespace -> why its pods reach team pods. Teams cannot run pods in any of them (config refuses
#: them as team namespaces: specs/namespaces.py, and kube- is a reserved prefix).
PLATFORM_SOURCE_NAMESPACES: dict[str, str] = {
    "aws-hyperpod": "the HyperPod training operator calls each job pod's elastic agent (hyperpodrun, "
    "--server-port 8080 by default)",
    "kube-system": "Kubernetes' and EKS's own add-ons (CoreDNS, metrics-server, the CSI drivers' controllers)",
    "hyperpod-observability": "HyperPod observability's collectors scrape the pods' metrics endpoints",
    "hyperpod-inference-system": "the HyperPod inference operator and its controllers reach the endpoints' pods",
}


def team_network_policy_spec(
    source_namespaces: Sequence[str] = tuple(PLATFORM_SOURCE_NAMESPACES), cidrs: Sequence[str] = ()
) -> dict[str, Any]:
    """A NetworkPolicy spec: every pod of the namespace accepts ingress only from the same namespace, from
    ``source_namespaces`` and from the address ranges ``cidrs``."""
    peers: list[dict[str, Any]] = [
        {"podSelector": {}},
        {
            "namespaceSelector": {
                "matchExpressions": [
                    {"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": sorted(source_namespaces)}
                ]
            }
        },
        *({"ipBlock": {"cidr": str(cidr)}} for cidr in cidrs),
    ]
    return {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": peers}]}


def add_team_network_policy(
    scope: Construct, team_name: str, namespace: str, *, cidrs: Sequence[str] = ()
) -> cdk8s.ApiObject:
    """The team's NetworkPolicy in ``namespace`` (a chart object with id ``<team>-NetworkPolicy``);
    ``cidrs`` are the team's ``network_ingress_cidrs``."""
    return api_object(
        scope,
        f"{team_name}-NetworkPolicy",
        "networking.k8s.io/v1",
        "NetworkPolicy",
        {"name": TEAM_NETWORK_POLICY_NAME, "namespace": namespace},
        {"spec": team_network_policy_spec(cidrs=cidrs)},
    )
