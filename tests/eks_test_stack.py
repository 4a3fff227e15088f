"""A small but real EKS + HyperPod test stack, wired like the platform stack.

Shared by the Helm-dependencies and add-on tests (loaded by path: tests/ is not a package).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CDK_CONTEXT = json.loads((REPO / "cdk.json").read_text())["context"]


def build_eks_hyperpod_stack(
    outdir: Path, stack_name: str, cluster_name: str, *, helm_config: Any = None, addons_config: Any = None
) -> tuple[Any, Any, Any, Any]:
    """VPC + HyperPodEksCluster + Helm dependencies + add-ons + HyperPodCluster: (app, stack, helm, addons)."""
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_kms as kms

    from hyperpod_cdk.cluster.eks import HyperPodEksCluster
    from hyperpod_cdk.cluster.hyperpod import HyperPodCluster
    from hyperpod_cdk.config import InstanceGroup
    from hyperpod_cdk.kubernetes.addons import HyperPodKubernetesAddons
    from hyperpod_cdk.kubernetes.helm_dependencies import HyperPodHelmDependencies

    app = cdk.App(outdir=str(outdir), context=dict(CDK_CONTEXT))
    stack = cdk.Stack(app, stack_name, env=cdk.Environment(account="123456789012", region="us-west-2"))
    vpc = ec2.Vpc(
        stack,
        "Vpc",
        max_azs=2,
        nat_gateways=1,
        subnet_configuration=[
            ec2.SubnetConfiguration(name="Public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
            ec2.SubnetConfiguration(name="Private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=24),
        ],
    )
    node_sg = ec2.SecurityGroup(stack, "NodeSg", vpc=vpc)
    eks = HyperPodEksCluster(
        stack,
        "Eks",
        vpc=vpc,
        control_plane_subnets=vpc.private_subnets,
        security_group=node_sg,
        cluster_name=f"{cluster_name}-eks",
    )
    helm = HyperPodHelmDependencies(
        stack, "HelmDependencies", cluster=eks.cluster, subnets=vpc.private_subnets, config=helm_config
    )
    from hyperpod_cdk.kubernetes.manifests import HyperPodManifests

    manifests = HyperPodManifests(
        stack, "Manifests", cluster=eks.cluster, subnets=vpc.private_subnets, kubectl_layer=eks.kubectl_layer
    )
    addons = HyperPodKubernetesAddons(
        stack, "KubernetesAddons", cluster=eks.cluster, config=addons_config, manifests=manifests
    )
    hyperpod = HyperPodCluster(
        stack,
        "HyperPod",
        cluster_name=cluster_name,
        eks_cluster_arn=eks.cluster_arn,
        instance_groups=[InstanceGroup(name="gpu", instance_type="ml.g5.8xlarge", instance_count=1)],
        subnets_by_az_id={"usw2-az1": vpc.private_subnets[0]},
        default_az_id="usw2-az1",
        security_group=node_sg,
        execution_role_arn="arn:aws:iam::123456789012:role/HyperPodExecution",
        lifecycle_source_s3_uri="s3://sagemaker-lifecycle-bucket/eks",
        volume_key=kms.Key(stack, "VolumeKey", enable_key_rotation=True),
    )
    hyperpod.wait_for(*eks.addons, helm.resource)
    addons.install_after(hyperpod.resource)
    return app, stack, helm, addons


def nag_violations(app: Any, prefixes: tuple[str, ...]) -> list[tuple[str, str]]:
    """cdk-nag AwsSolutions violations under the given construct-path prefixes."""
    from cdk_nag import AwsSolutionsChecks

    report = AwsSolutionsChecks().validate_scope(app)
    return [
        (v.rule_name, r.construct_path)
        for v in report.violations
        for r in v.violating_resources
        if (r.construct_path or "").startswith(prefixes)
    ]
