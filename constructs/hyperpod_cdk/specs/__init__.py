"""Pure data and arithmetic, no CDK and no config models: instance types and their IPs per node,
HyperPod offerings per region, subnet plans, FSx limits, the Slurm layout, Kubernetes versions."""
