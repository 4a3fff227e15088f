"""Cluster constructs: the EKS control plane (created or imported), the HyperPod cluster on EKS or
Slurm, its instance groups and the execution role."""
