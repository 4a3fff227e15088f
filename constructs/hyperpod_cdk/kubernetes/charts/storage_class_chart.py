"""FsxStorageClassChart: a StorageClass whose claims create FSx for Lustre file systems."""

from __future__ import annotations

import cdk8s
from constructs import Construct

from hyperpod_cdk.config.kubernetes import FsxStorageClassConfig
from hyperpod_cdk.kubernetes.charts.api_object import api_object

__all__ = ["FsxStorageClassChart"]

MANAGED_BY = {"app.kubernetes.io/managed-by": "hyperpod-cdk"}
CSI_DRIVER = "fsx.csi.aws.com"


class FsxStorageClassChart(cdk8s.Chart):
    """One ``storage.k8s.io/v1`` StorageClass for dynamic FSx for Lustre provisioning.

    Parameters as the FSx CSI driver documents them (kubernetes-sigs/aws-fsx-csi-driver
    examples/kubernetes/dynamic_provisioning @5b227125): one ``subnetId``, comma-separated
    ``securityGroupIds``, deployment type, throughput, compression, Lustre version and backups;
    ``mountOptions: [flock]`` as AWS's HyperPod setup mounts Lustre. ``reclaimPolicy`` defaults to
    Retain: deleting a claim keeps the file system and its data. A claim stays Pending for the
    5-10 minutes FSx takes to create the file system.

    ``subnet_id`` and ``security_group_id`` may be CDK tokens (resolved when the stack applies the
    chart).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: FsxStorageClassConfig,
        subnet_id: str,
        security_group_id: str,
    ) -> None:
        super().__init__(scope, id, labels=dict(MANAGED_BY), disable_resource_name_hashes=True)
        self.config = config
        api_object(
            self,
            "StorageClass",
            "storage.k8s.io/v1",
            "StorageClass",
            {"name": config.name},
            {
                "provisioner": CSI_DRIVER,
                "parameters": config.parameters(subnet_id=subnet_id, security_group_ids=security_group_id),
                "reclaimPolicy": config.reclaim_policy,
                "volumeBindingMode": "Immediate",
                "mountOptions": ["flock"],
            },
        )
