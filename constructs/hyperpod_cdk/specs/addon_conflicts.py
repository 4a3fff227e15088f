"""How each EKS add-on resolves conflicts with what already exists (pure data, with sources)."""

from __future__ import annotations

__all__ = ["CERT_MANAGER", "POD_IDENTITY_AGENT", "RESOLVE_CONFLICTS"]

POD_IDENTITY_AGENT = "eks-pod-identity-agent"
CERT_MANAGER = "cert-manager"

# ResolveConflicts of every add-on, as AWS's own templates set it, and why. CloudFormation has one
# setting for create and update (Terraform splits them): OVERWRITE lets a managed add-on take over
# what exists under its name (EKS's self-managed vpc-cni/kube-proxy/coredns on a new cluster,
# objects the HyperPod Helm chart created) instead of failing, and on update resets hand edits to
# the add-on's configuration values, so settings belong in configuration_values.
# https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateAddon.html (resolveConflicts)
_AWSOME_TF = "awslabs/awsome-distributed-ai 1.architectures/7.sagemaker-hyperpod-eks/terraform-modules/hyperpod-eks-tf/"
_CLUSTER_SETUP = "aws/sagemaker-hyperpod-cluster-setup eks/cloudformation/"
RESOLVE_CONFLICTS: dict[str, tuple[str, str]] = {
    name: (
        "OVERWRITE",
        f"EKS installs a self-managed {name} on every new cluster; OVERWRITE adopts it "
        f"({_CLUSTER_SETUP}eks-template.yaml; {_AWSOME_TF}modules/eks_cluster/main.tf)",
    )
    for name in ("vpc-cni", "kube-proxy", "coredns")
} | {
    POD_IDENTITY_AGENT: (
        "OVERWRITE",
        f"as AWS's templates set it ({_CLUSTER_SETUP}eks-template.yaml; " f"{_AWSOME_TF}modules/eks_cluster/main.tf)",
    ),
    CERT_MANAGER: (
        "OVERWRITE",
        f"cert-manager objects left by an earlier install are adopted "
        f"({_AWSOME_TF}modules/hyperpod_cluster/cert_manager.tf)",
    ),
    "amazon-sagemaker-hyperpod-training-operator": (
        "OVERWRITE",
        "the HyperPod Helm chart already created the aws-hyperpod namespace the operator installs into; "
        f"OVERWRITE on create as in {_AWSOME_TF}modules/hyperpod_training_operator/main.tf (its PRESERVE on "
        "update has no CloudFormation equivalent)",
    ),
    "aws-fsx-csi-driver": (
        "OVERWRITE",
        f"as AWS's templates set it ({_CLUSTER_SETUP}fsx-template.yaml; " f"{_AWSOME_TF}modules/fsx_lustre/main.tf)",
    ),
    "amazon-sagemaker-hyperpod-observability": (
        "OVERWRITE",
        f"as AWS's Terraform updates it ({_AWSOME_TF}modules/observability/eks_addon.tf)",
    ),
    "amazon-sagemaker-hyperpod-taskgovernance": (
        "OVERWRITE",
        f"as AWS's Terraform sets it ({_AWSOME_TF}modules/task_governance)",
    ),
    "amazon-sagemaker-hyperpod-inference": (
        "OVERWRITE",
        f"as AWS's Terraform sets it ({_AWSOME_TF}modules/hyperpod_inference)",
    ),
}
