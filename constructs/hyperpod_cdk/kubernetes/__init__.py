"""What runs inside EKS: the HyperPod Helm dependencies and their installer, EKS add-ons, cdk8s charts
and the typed HyperPodPyTorchJob builder."""
