"""What enforces Kubernetes NetworkPolicies on a HyperPod EKS cluster, and what it leaves out.

The Amazon VPC CNI (the only CNI HyperPod supports) enforces NetworkPolicies itself once its add-on
configuration sets ``enableNetworkPolicy``: a node agent in the ``aws-node`` pods attaches eBPF
programs to each pod's host-side veth, and EKS runs the network policy controller on the control
plane. Sources, read for each fact below:

- EKS user guide, "Restrict Pod network traffic with Kubernetes network policies"
  (https://docs.aws.amazon.com/eks/latest/userguide/cni-network-policy-configure.html; source
  awsdocs/amazon-eks-user-guide doc_source/cni-network-policy.md): EKS 1.25 or later, VPC CNI 1.14
  or later, Linux kernel 5.10 or later, the BPF file system mounted (every EKS AMI for 1.27 and
  later mounts it); enabled by the add-on configuration value ``{"enableNetworkPolicy": "true"}``;
  policies apply to the pod's primary interface (``eth0``) only; EC2 Linux nodes only.
- The same page, "Policy enforcement at Pod startup": in the default *standard* mode a new pod
  starts with all traffic allowed until its policies are attached; *strict* mode denies until then
  but needs a policy for everything pods reach, CoreDNS included, so it is not turned on here.
- aws/amazon-vpc-cni-k8s docs/network-policy-faq.md: host-network pods are not covered; the
  FAQ's "not supported on GPU instances" rests on AMIs older than kernel 5.10, which the user guide
  above supersedes (EKS-optimized accelerated AMIs v20231116 and later have 5.10).
- aws/aws-network-policy-agent pull request #65 (pkg/ebpf/bpf_client.go): the agent always allows
  traffic to and from the node's own IP, so kubelet liveness/readiness probes keep working under an
  ingress policy (the Kubernetes NetworkPolicy rule "a pod cannot block access from its node").
- SageMaker HyperPod EKS prerequisites
  (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-prerequisites.html):
  HyperPod requires VPC CNI 1.18.3 or later and Kubernetes 1.28 or later, above both minimums. No
  HyperPod document says whether HyperPod's own EKS AMI mounts the BPF file system or which kernel
  it runs; that is checked on a node (docs/security-posture.md, "Team network isolation").

EFA traffic (NCCL over libfabric) goes from the process to the EFA device through OS bypass, not
through ``eth0`` and its eBPF programs, so a NetworkPolicy neither blocks a job's own EFA traffic
nor filters EFA traffic between teams; the node security group does (self-referencing).
"""

from __future__ import annotations

from typing import Any

__all__ = ["VPC_CNI_NETWORK_POLICY_CONFIGURATION"]

#: The vpc-cni add-on configuration values that turn on NetworkPolicy enforcement (EKS user guide above).
VPC_CNI_NETWORK_POLICY_CONFIGURATION: dict[str, Any] = {"enableNetworkPolicy": "true"}
