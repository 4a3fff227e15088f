"""Stack outputs that name the commands from a finished deploy to a running job (docs/first-job.md)."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack

from hyperpod_cdk import HyperPodPlatform


def add_first_job_outputs(stack: Stack, platform: HyperPodPlatform) -> None:
    """Access (kubeconfig, tunnel, day-2 grants), the check after deploy and, with a repository, the image URI."""
    # The CLI reads ./hyperpod.yaml by default; the commands run from the repository checkout.
    suffix = ""
    CfnOutput(
        stack,
        "KubeconfigCommand",
        value=f"hyperpod-cdk kubeconfig{suffix}",
        description="Writes the kubeconfig context (the EKS cluster ARN, as `hyp set-cluster-context` names it)"
        " and starts the SSM tunnel when the endpoint is private",
    )
    CfnOutput(
        stack,
        "AccessGrantCommand",
        value=f"hyperpod-cdk access grant PRINCIPAL_ARN --admin{suffix}",
        description="Day-2 access without a redeploy; such entries live outside this stack",
    )
    CfnOutput(
        stack,
        "VerifyCommand",
        value=f"hyperpod-cdk verify --smoke{suffix}",
        description="Checks the training operator, agents, device plugins and runs the smoke job",
    )
    if platform.access_tunnel is not None:
        CfnOutput(
            stack,
            "AccessTunnelInstanceId",
            value=platform.access_tunnel.instance_id,
            description="SSM port-forwarding host for kubectl to the private EKS endpoint",
        )
    if platform.image_repository is not None:
        CfnOutput(
            stack,
            "TrainingImageRepositoryUri",
            value=platform.image_repository.repository_uri,
            description="make image pushes the training image here",
        )
        CfnOutput(
            stack,
            "TrainingImageRegistry",
            value=platform.image_repository.registry,
            description="The value of ${REGISTRY} in dist/jobs (envsubst, or make jobs)",
        )
