"""Network constructs: the VPC (HyperPodNetwork), HyperPod subnets by AZ ID (HyperPodSubnets) and the
node security group (HyperPodSecurityGroup)."""
