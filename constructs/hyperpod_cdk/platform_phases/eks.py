"""HyperPodPlatform, EKS phase: the control plane (or yours), the HyperPod cluster, then the Kubernetes side."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TypedDict, cast

import cdk8s
from aws_cdk import Annotations, Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_kms as kms
from aws_cdk.aws_lambda import ILayerVersion
from constructs import IConstruct

from hyperpod_cdk._cdk_util import cluster_attribute
from hyperpod_cdk.cluster.access_tunnel import EksAccessTunnel
from hyperpod_cdk.cluster.autoscaling_role import HyperPodAutoscalingRole
from hyperpod_cdk.cluster.eks import HyperPodEksCluster
from hyperpod_cdk.cluster.hyperpod import HyperPodCluster
from hyperpod_cdk.cluster.imported_eks import ImportedEksCluster, warn_unverifiable_cluster
from hyperpod_cdk.cluster.kubectl import kubectl_layer, warn_about_support
from hyperpod_cdk.config.charts import NAMESPACE_PREFIX, FsxVolume
from hyperpod_cdk.errors import checked_props
from hyperpod_cdk.kubernetes.addons.base import POD_IDENTITY_AGENT
from hyperpod_cdk.kubernetes.addons.fsx_csi_driver import FsxCsiDriverAddon
from hyperpod_cdk.kubernetes.addons.kubernetes_addons import HyperPodKubernetesAddons
from hyperpod_cdk.kubernetes.charts.cert_manager_chart import CertManagerIssuersChart
from hyperpod_cdk.kubernetes.charts.example_jobs import FSDP_REPOSITORY
from hyperpod_cdk.kubernetes.charts.fsx_team_volumes import FSX_ROOT_TEAMS_WARNING_ID
from hyperpod_cdk.kubernetes.charts.karpenter_chart import NODE_CLASS_CRD, KarpenterChart
from hyperpod_cdk.kubernetes.charts.operator_chart import HyperPodOperatorChart
from hyperpod_cdk.kubernetes.charts.storage_class_chart import FsxStorageClassChart
from hyperpod_cdk.kubernetes.helm_dependencies import HyperPodHelmDependencies
from hyperpod_cdk.kubernetes.manifests import HyperPodManifests
from hyperpod_cdk.kubernetes.readiness import HyperPodReadiness
from hyperpod_cdk.kubernetes.task_governance import HyperPodTaskGovernance
from hyperpod_cdk.lifecycle.lifecycle_scripts import HyperPodLifecycleScripts, bundled_scripts
from hyperpod_cdk.specs.images import mirrored_image
from hyperpod_cdk.storage.training_image_repository import TrainingImageRepository

if TYPE_CHECKING:
    from hyperpod_cdk.platform import HyperPodPlatform


def build_eks(platform: HyperPodPlatform, eks_cluster: eks.ICluster | None) -> None:
    cfg = platform.config.eks_config
    base_addons: list[IConstruct] = []
    if eks_cluster is None and cfg.existing is None:
        platform.eks = HyperPodEksCluster.from_config(
            platform,
            "Eks",
            platform.config,
            vpc=platform.vpc,
            control_plane_subnets=platform.control_plane_subnets,
            security_group=platform.security_group,
            log_key=platform.logs_key,
        )
        # jsii's generated ICluster protocol lags the class (mypy only); the object is a Cluster.
        cluster = cast(eks.ICluster, platform.eks.cluster)
        layer = platform.eks.kubectl_layer
        base_addons = list(platform.eks.addons)
        if platform.config.network.closed:
            # aws_eks_v2 warns that isolated subnets have no internet: in a closed network that is
            # the design, and the interface endpoints it asks for (STS, EKS, ECR, S3, ...) exist.
            Annotations.of(platform.eks.cluster).acknowledge_warning(
                "@aws-cdk/aws-eks:isolatedSubnetsForKubectlPrivateSubnets",
                "closed network: the kubectl handler reaches AWS through the VPC endpoints of HyperPodEndpoints",
            )
        # Its kubectl provider runs in the VPC and calls EKS and Lambda: the endpoints come first.
        for ready in platform._network_ready:
            platform.eks.cluster.node.add_dependency(ready)
        if cfg.access_tunnel:
            platform.access_tunnel = EksAccessTunnel(
                platform,
                "AccessTunnel",
                vpc=platform.vpc,
                subnets=platform.control_plane_subnets,
                endpoint_security_group=platform.security_group,
                cluster_name=cfg.cluster_name,
                vpc_cidr=platform.vpc.vpc_cidr_block,
                internet_egress=not platform.config.network.closed,
            )
    elif eks_cluster is None:
        assert cfg.existing is not None
        imported = ImportedEksCluster(
            platform,
            "Eks",
            cluster_name=cfg.cluster_name,
            cluster_security_group_id=cfg.existing.cluster_security_group_id,
            vpc=platform.vpc,
            subnets=platform.control_plane_subnets,
            kubernetes_version=cfg.kubernetes_version,
        )
        cluster, layer = imported.cluster, imported.kubectl_layer
    else:
        cluster = eks_cluster
        with checked_props(platform, "Eks"):
            layer = kubectl_layer(platform, "KubectlLayer", cfg.kubernetes_version)
        warn_unverifiable_cluster(platform, cfg.cluster_name)
        warn_about_support(platform, cfg.kubernetes_version)
    if platform.eks is None:
        # Created elsewhere: connect the nodes and the control plane both ways.
        platform.node_security_group.allow_eks_control_plane(cluster_attribute(cluster, "cluster_security_group"))
    platform.eks_cluster = cluster
    platform.kubectl_layer = layer

    platform.lifecycle = HyperPodLifecycleScripts(
        platform,
        "LifecycleScripts",
        source_dir=bundled_scripts("eks"),
        encryption_key=platform.data_key,
        shared_dirs=[bundled_scripts("common")],
        json_files=platform._fsx_lustre_file(),
        log_key=platform.logs_key,
    )
    platform.execution_role_construct = platform._execution_role(eks_cluster=cluster)
    if platform.fsx is not None:
        platform.execution_role_construct.allow_lustre_client()
    helm_enabled = platform.config.kubernetes.helm_dependencies.enabled
    hp = platform.config.hyperpod
    platform.autoscaling_role = None
    if hp.autoscaler is not None:
        platform.autoscaling_role = HyperPodAutoscalingRole(platform, "AutoscalingRole", volume_key=platform.data_key)
    platform.cluster = HyperPodCluster(
        platform,
        "HyperPod",
        eks_cluster=cluster,
        node_provisioning_mode=platform.config.node_provisioning_mode,  # type: ignore[arg-type]
        assume_helm_installed=not helm_enabled,
        autoscaler=hp.autoscaler,
        cluster_role=platform.autoscaling_role.role if platform.autoscaling_role else None,
        tiered_storage_memory_percent=hp.tiered_storage_memory_percent,
        fsx=platform.fsx,
        **platform._cluster_props(),
    )
    # HyperPod validates the EKS side at creation: add-ons first. Nodes use every policy of the
    # execution role from their first boot (ENIs, pod identity, the lifecycle bucket and its
    # key), so the cluster waits for the whole role construct, default policy included.
    platform.cluster.wait_for(*base_addons, platform.execution_role_construct, *platform._network_ready)
    _add_kubernetes_side(platform, cluster, created_here=platform.eks is not None)
    if platform.config.kubernetes.examples.image_repository:
        platform.image_repository = TrainingImageRepository(
            platform, "TrainingImages", repository_name=f"{platform.config.name}/{FSDP_REPOSITORY}"
        )


class _KubectlHandlerProps(TypedDict):
    """What each of the platform's in-VPC kubectl handlers (Helm, manifests, readiness) is given."""

    cluster: eks.ICluster
    subnets: Sequence[ec2.ISubnet]
    kubectl_layer: ILayerVersion | None
    log_key: kms.IKey


def _add_kubernetes_side(platform: HyperPodPlatform, cluster: eks.ICluster, *, created_here: bool) -> None:
    """Helm dependencies before HyperPod; readiness gates, add-ons and this project's charts after it."""
    k8s = platform.config.kubernetes
    handler = _KubectlHandlerProps(
        cluster=cluster,
        subnets=platform.control_plane_subnets,
        kubectl_layer=platform.kubectl_layer,
        log_key=platform.logs_key,
    )
    if k8s.helm_dependencies.enabled:
        platform.helm_dependencies = HyperPodHelmDependencies(
            platform, "HelmDependencies", config=k8s.helm_dependencies, **handler
        )
        # HyperPod rejects a cluster whose EKS side lacks these ("missing required dependencies").
        platform.cluster.wait_for(platform.helm_dependencies.resource)
        platform.helm_dependencies.wait_for(*platform._network_ready)

    # The platform's manifests and kubectl waits, through a handler that applies only what was
    # synthesized (aws-cdk-lib's kubectl provider would apply any manifest an event carries).
    platform.manifests = HyperPodManifests(platform, "Manifests", **handler)
    for ready in platform._network_ready:
        platform.manifests.access_entry.node.add_dependency(ready)

    # In Continuous mode the HyperPod cluster is created before any node exists, and add-ons count
    # as created while DEGRADED: the readiness gate waits for a node that can host system pods and
    # the pod identity agent before any add-on (see HyperPodReadiness).
    platform.readiness = HyperPodReadiness(platform, "Readiness", manifests=platform.manifests, **handler)
    platform.node_gate = platform.readiness.add_node_gate(
        hyperpod_cluster_name=platform.config.hyperpod.cluster_name,
        instance_groups=platform.config.system_instance_groups,
        after=[platform.cluster.resource],
    )

    # An existing cluster brings its own pod identity agent (preflight checks it).
    assume = () if created_here else (POD_IDENTITY_AGENT,)
    kubernetes_version = platform.config.eks_config.kubernetes_version
    fsx_cfg = platform.config.storage.fsx
    driver_cfg = k8s.addons.fsx_csi_driver
    if platform.fsx is not None or driver_cfg.enabled:
        # Defined before the other add-ons: the inference operator requires it.
        platform.fsx_csi_driver = FsxCsiDriverAddon(
            platform,
            "FsxCsiDriver",
            cluster=cluster,
            file_system_arns=[platform.fsx.file_system_arn()] if platform.fsx is not None else [],
            dynamic_provisioning=driver_cfg.storage_class is not None,
            version=driver_cfg.version or (fsx_cfg.csi_driver_version if fsx_cfg is not None else None),
            configuration_values=driver_cfg.configuration_values,
            assume_installed=assume,
            kubernetes_version=kubernetes_version,
        )
    platform.addons = HyperPodKubernetesAddons(
        platform,
        "KubernetesAddons",
        cluster=cluster,
        config=k8s.addons,
        assume_installed=assume,
        kubernetes_version=kubernetes_version,
        hyperpod_cluster_arn=platform.cluster.cluster_arn,
        encryption_key=platform.data_key,
        fsx_csi_driver=platform.fsx_csi_driver,
        manifests=platform.manifests,
    )
    # The add-ons' pods need a Ready HyperPod node (the FSx CSI driver above included).
    platform.addons.install_after(platform.node_gate)
    platform.cert_manager_gate = None
    if platform.addons.cert_manager is not None:
        # cert-manager's deployments Available and its webhook answering, before the issuers and
        # every add-on that needs cert-manager (the training and inference operators).
        platform.cert_manager_gate = platform.readiness.add_cert_manager_gate(after=[platform.addons.cert_manager])
        platform.addons.wait_for_cert_manager(platform.cert_manager_gate)

    if platform.fsx is not None:
        assert fsx_cfg is not None
        # Per team namespace a static PV of /teams/<team> + PVC fsx-claim (deploy-time tokens).
        capacity = platform.fsx.storage_capacity_gib or fsx_cfg.storage_capacity_gib
        k8s = k8s.model_copy(
            update={
                "fsx": FsxVolume(
                    file_system_id=platform.fsx.file_system_id,
                    dns_name=platform.fsx.dns_name,
                    mount_name=platform.fsx.mount_name,
                    storage_capacity=f"{capacity}Gi",
                    directory_image=mirrored_image(k8s.examples.smoke_image, k8s.image_mirror),
                )
            }
        )
    elif k8s.fsx is not None:
        # kubernetes.fsx (a file system made elsewhere): its directory Job pulls from the mirror too.
        directory_image = mirrored_image(k8s.fsx.directory_image, k8s.image_mirror)
        k8s = k8s.model_copy(update={"fsx": k8s.fsx.model_copy(update={"directory_image": directory_image})})

    # Task governance: the scheduler config and team quotas, after Kueue runs. SageMaker makes the
    # quota teams' namespaces and queues; the operator chart's Roles for them wait for the namespaces.
    if platform.addons.task_governance is not None:
        platform.task_governance = HyperPodTaskGovernance(
            platform,
            "TaskGovernance",
            cluster=cluster,
            hyperpod_cluster_arn=platform.cluster.cluster_arn,
            hyperpod_cluster_name=platform.config.hyperpod.cluster_name,
            settings=k8s,
            after=[platform.addons.task_governance.ready],
            log_key=platform.logs_key,
            manifests=platform.manifests,
        )

    # Namespaces, team RBAC, priority classes (and the FSx claim when set).
    operator_chart = HyperPodOperatorChart.from_settings(cdk8s.App(), "operator", k8s)
    # A team's hyperpod-ns-<team> is the namespace SageMaker task governance makes for it while it has a compute
    # quota (registry schema of AWS::SageMaker::ComputeQuota: TeamName "materialized as Kubernetes namespace
    # hyperpod-ns-<TeamName>"): found there, it is adopted and kept on destroy, not refused (R31P-M1).
    sagemaker_named = [
        t.effective_namespace for t in k8s.teams if t.effective_namespace == f"{NAMESPACE_PREFIX}{t.name}"
    ]
    operator_manifest = platform.manifests.add_chart(
        "OperatorChart", operator_chart, adoptable_namespaces=sagemaker_named
    )
    if operator_chart.fsx_root_teams:
        Annotations.of(platform).add_warning_v2(
            FSX_ROOT_TEAMS_WARNING_ID,
            f"teams {', '.join(operator_chart.fsx_root_teams)} have pod_security: privileged, so their pods can mount "
            "the whole FSx file system and read or delete every team's /teams/<team> directory",
        )
    if platform.task_governance is not None:
        operator_manifest.node.add_dependency(*platform.task_governance.ready)
    operator_manifest.node.add_dependency(platform.cluster.resource)
    # Each team's IAM principal is mapped to the Kubernetes group its Role is bound to.
    for index, (principal_arn, group) in enumerate(operator_chart.submitter_access):
        eks.CfnAccessEntry(
            platform,
            f"TeamAccess{index}",
            cluster_name=cluster.cluster_name,
            principal_arn=principal_arn,
            kubernetes_groups=[group],
            type="STANDARD",
        )

    _add_karpenter_objects(platform)

    if platform.cert_manager_gate is not None:
        issuers = CertManagerIssuersChart(cdk8s.App(), "cert-manager", namespace=k8s.cert_manager_namespace)
        issuers_manifest = platform.manifests.add_chart("CertManagerIssuersChart", issuers)
        # Issuers are cert-manager CRs the webhook admits: only once the gate saw it answer.
        issuers_manifest.node.add_dependency(platform.cert_manager_gate)

    storage_class = driver_cfg.storage_class
    if storage_class is not None:
        assert platform.fsx_csi_driver is not None
        # New file systems go next to the nodes of the default AZ, with the node security group
        # (which allows Lustre's ports 988 and 1018-1023 within itself).
        chart = FsxStorageClassChart(
            cdk8s.App(),
            "fsx-storage-class",
            config=storage_class,
            subnet_id=platform.default_hyperpod_subnet.subnet_id,
            security_group_id=platform.security_group.security_group_id,
        )
        storage_manifest = platform.manifests.add_chart("FsxStorageClassChart", chart)
        storage_manifest.node.add_dependency(platform.fsx_csi_driver)


def _add_karpenter_objects(platform: HyperPodPlatform) -> None:
    """The HyperpodNodeClass and NodePool, once HyperPod has installed Karpenter's CRDs."""
    hp = platform.config.hyperpod
    manifests = platform.manifests
    assert manifests is not None  # created by _add_kubernetes_side
    if hp.autoscaler is None:
        platform.karpenter_manifest = None
        return
    # HyperPod installs the CRDs when AutoScaling reaches InService, which can trail the cluster
    # resource (Spot page: apply the NodeClass only after AutoScaling.Status is InService). The
    # kubectl handler polls `kubectl get` every 10 s while the object is NotFound; 12 minutes stays
    # inside the handler's 15-minute Lambda timeout.
    crd_ready = manifests.add_wait(
        "KarpenterCrdReady",
        object_type="customresourcedefinition",
        object_names=[NODE_CLASS_CRD],
        json_path=".metadata.name",
        timeout=Duration.minutes(12),
    )
    crd_ready.node.add_dependency(platform.cluster.resource)
    chart = KarpenterChart(
        cdk8s.App(), "karpenter", instance_groups=[g.name for g in hp.instance_groups if g.autoscale]
    )
    platform.karpenter_manifest = manifests.add_chart("KarpenterChart", chart)
    platform.karpenter_manifest.node.add_dependency(crd_ready)
