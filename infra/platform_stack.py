"""HyperPodPlatformStack: this repository's one stack, a thin shell around HyperPodPlatform."""

from __future__ import annotations

from aws_cdk import CfnOutput, Environment, Stack, Tags
from constructs import Construct

from hyperpod_cdk import HyperPodPlatform, PlatformConfig
from infra.first_job_outputs import add_first_job_outputs


class HyperPodPlatformStack(Stack):
    """A stack in ``config.region`` (and ``config.account`` when set) holding one :class:`HyperPodPlatform`,
    with the outputs an operator needs after a deploy."""

    def __init__(self, scope: Construct, construct_id: str, *, config: PlatformConfig) -> None:
        orchestrated_by = "EKS" if config.orchestrator == "eks" else "Slurm"
        # Read by aws-cdk-lib's Vpc before the platform places each subnet by AZ ID: set first.
        self._az_ids = config.control_plane_az_ids
        super().__init__(
            scope,
            construct_id,
            env=Environment(account=config.account, region=config.region),
            description=f"SageMaker HyperPod on {orchestrated_by}: {config.hyperpod.cluster_name} (hyperpod-cdk)",
        )
        # Stack-level singletons (aws-cdk-lib providers) sit outside the platform construct.
        for key, value in config.tags.items():
            Tags.of(self).add(key, value)
        # "Default" leaves the platform out of logical IDs: resources keep the IDs they had when
        # this stack built them itself, so the refactor into the library replaces nothing.
        self.platform = HyperPodPlatform(self, "Default", config=config)
        platform = self.platform
        CfnOutput(self, "HyperPodClusterArn", value=platform.cluster_arn)
        CfnOutput(self, "LifecycleScriptsUri", value=platform.lifecycle.source_s3_uri)
        CfnOutput(self, "ExecutionRoleArn", value=platform.execution_role.role_arn)
        if platform.eks_cluster is not None:
            CfnOutput(self, "EksClusterName", value=platform.eks_cluster.cluster_name)
            add_first_job_outputs(self, platform)
        if platform.fsx is not None:
            CfnOutput(self, "FsxFileSystemId", value=platform.fsx.file_system_id)
            CfnOutput(self, "FsxDnsName", value=platform.fsx.dns_name)
            CfnOutput(self, "FsxMountName", value=platform.fsx.mount_name)

    @property
    def availability_zones(self) -> list[str]:
        """The control-plane AZ IDs, in place of AZ names.

        aws-cdk-lib's ``Vpc`` reads this to lay out its subnets: for a stack with an account, the
        default asks the CLI to look AZ names up with credentials at synth (and synthesizes
        ``dummy1a`` until then), for one without, ``Fn::GetAZs``. HyperPodNetwork places every
        subnet by ``AvailabilityZoneId`` and drops the name, so the IDs stand in and synth needs no
        lookup. (A property, so jsii routes aws-cdk-lib's read to this override.)
        """
        return list(self._az_ids)
