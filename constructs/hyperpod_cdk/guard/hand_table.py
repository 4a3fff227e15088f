"""The hand-written part of the guard's table: what a CloudFormation schema cannot say.

Paths that update in place but still take nodes or data away (``disruptive``), updates
CloudFormation refuses (``blocked``: the KMS key spec, an EKS authentication-mode downgrade),
and the project-specific reason and documentation link for the create-only paths that matter
most. :mod:`hyperpod_cdk.guard.table` merges these rows with the registry schemas'
``createOnlyProperties``; ``tests/test_guard.py`` checks every row against the bundled schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Effect = Literal["replacement", "disruptive", "blocked"]
Kind = Literal["value", "one_way", "grow_only", "list_key"]

CFN_DOCS = "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/"
_HYPERPOD_UPDATE = (
    "https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-operate-cli-command-update-cluster.html"
)


@dataclass(frozen=True)
class GuardedProperty:
    """One property path whose change replaces, disrupts or blocks a resource."""

    resource_type: str
    path: str
    effect: Effect
    reason: str
    doc_url: str
    source: Literal["hand", "schema"] = "hand"
    kind: Kind = "value"
    # Value CloudFormation assumes when the property is absent (so absent == explicit default).
    default: Any = None
    # For kind="one_way": the allowed order of values; moving backwards is blocked.
    order: tuple[str, ...] = ()
    # Only where a hand-written entry disagrees with the bundled schema's createOnlyProperties
    # (a "replacement" path the schema does not list, or a "disruptive"/"blocked" path it does):
    # why. The tests fail on an unexplained disagreement and on a note the schema no longer needs.
    schema_note: str | None = None
    see_also: tuple[str, ...] = field(default=())


def _instance_group_entries(list_name: str) -> list[GuardedProperty]:
    page = f"{CFN_DOCS}aws-properties-sagemaker-cluster-clusterinstancegroup.html"
    page += "#cfn-sagemaker-cluster-clusterinstancegroup-"
    history = "Create-only (whole-cluster replacement) until the June 2026 registry schema; now updated in place, but "
    tail = " The update also fails while deep health checks run."
    entries = [
        ("InstanceType", "every node of the group is replaced by one of the new type and jobs on it are lost."),
        (
            "ExecutionRole",
            "the group's nodes switch to the new role; jobs and lifecycle scripts lose any " "permission it lacks.",
        ),
        ("ThreadsPerCore", "hyper-threading changes only on reprovisioned nodes, so the group's nodes are replaced."),
        ("OverrideVpcConfig", "the group's nodes are reprovisioned in the new subnets / security groups."),
    ]
    out = [
        GuardedProperty(
            "AWS::SageMaker::Cluster",
            f"{list_name}[*].{prop}",
            "disruptive",
            history + what + tail,
            page + prop.lower(),
            see_also=(_HYPERPOD_UPDATE,),
        )
        for prop, what in entries
    ]
    out.append(
        GuardedProperty(
            "AWS::SageMaker::Cluster",
            f"{list_name}[*].InstanceStorageConfigs[*].EbsVolumeConfig.VolumeKmsKeyId",
            "blocked",
            "HyperPod does not support a KMS key transition: the key of a group's EBS volumes (or switching "
            "between an AWS owned and a customer managed key) is fixed when the group is created, so this "
            "update fails. Add a new instance group with the new key, move the work, then remove the old group.",
            "https://docs.aws.amazon.com/sagemaker/latest/dg/smcluster-cmk.html",
            see_also=(page + "instancestorageconfigs",),
        )
    )
    out.append(
        GuardedProperty(
            "AWS::SageMaker::Cluster",
            f"{list_name}[*].InstanceGroupName",
            "disruptive",
            "Groups are matched by name: a renamed or removed group deletes all its nodes "
            "(a rename is a new, empty group). The update also fails while deep health checks run.",
            page + "instancegroupname",
            kind="list_key",
            see_also=(_HYPERPOD_UPDATE,),
        )
    )
    return out


_CLUSTER_PAGE = f"{CFN_DOCS}aws-resource-sagemaker-cluster.html#cfn-sagemaker-cluster-"
_AUTOSCALING_DOC = "https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-autoscaling.html"
_NODECLASS_DOC = "https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-autoscaling-nodeclass.html"


def _scaling_entries(list_name: str) -> list[GuardedProperty]:
    """Group properties of HyperPod's 2026 scaling and AMI-lifecycle features (issue 11)."""
    page = f"{CFN_DOCS}aws-properties-sagemaker-cluster-clusterinstancegroup.html"
    page += "#cfn-sagemaker-cluster-clusterinstancegroup-"
    group = f"{list_name}[*]"
    return [
        GuardedProperty(
            "AWS::SageMaker::Cluster",
            f"{group}.CapacityRequirements",
            "blocked",
            "HyperPod cannot change a group's capacity type (Spot / OnDemand) once the group exists: the update "
            "fails. Add a new group with the other capacity type and move the work to it.",
            page + "capacityrequirements",
            see_also=("https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-spot.html",),
        ),
        GuardedProperty(
            "AWS::SageMaker::Cluster",
            f"{group}.InstanceRequirements",
            "disruptive",
            "Changing a flexible group's instance types (or their order) may replace nodes of types no longer "
            "listed, like an InstanceType change; jobs on them are lost.",
            page + "instancerequirements",
            see_also=(_HYPERPOD_UPDATE,),
        ),
        GuardedProperty(
            "AWS::SageMaker::Cluster",
            f"{group}.ImageReleaseVersion",
            "disruptive",
            "A new AMI release version starts a rolling software update of the group: each node's root volume "
            "is replaced (data on it is lost) and the node is NotReady while it is patched.",
            page + "imagereleaseversion",
            see_also=(
                "https://docs.aws.amazon.com/sagemaker/latest/dg/"
                "sagemaker-hyperpod-eks-operate-cli-command-update-cluster-software.html",
            ),
        ),
        GuardedProperty(
            "AWS::SageMaker::Cluster",
            f"{group}.ImageId",
            "disruptive",
            "A new AMI starts a software update of the group: each node's root volume is replaced.",
            page + "imageid",
        ),
        GuardedProperty(
            "AWS::SageMaker::Cluster",
            f"{group}.KubernetesConfig.Labels.hyperpod-cdk/autoscaler",
            "disruptive",
            "The group moves into or out of Karpenter's control. Into: Karpenter owns the count and scales a group "
            "that has nodes down to 0 first. Out of: Karpenter sees its nodes drift and disrupts them.",
            _NODECLASS_DOC,
            see_also=(_AUTOSCALING_DOC,),
        ),
    ]


_FSX_PAGE = f"{CFN_DOCS}aws-resource-fsx-filesystem.html#cfn-fsx-filesystem-"
_FSX_LUSTRE = (
    f"{CFN_DOCS}aws-properties-fsx-filesystem-lustreconfiguration.html#cfn-fsx-filesystem-lustreconfiguration-"
)
_FSX_LOST = "a new, empty file system replaces the old one: checkpoints and data on it are lost"
_FSX_NESTED_NOTE = (
    "the registry schema lists no LustreConfiguration path as create-only; the CloudFormation resource "
    "specification marks it Immutable (Update requires: Replacement) and the FSx UpdateFileSystem API "
    "cannot change it. Confirm with a change set."
)
_KMS_PAGE = f"{CFN_DOCS}aws-resource-kms-key.html#cfn-kms-key-"
_EKS_PAGE = f"{CFN_DOCS}aws-resource-eks-cluster.html#cfn-eks-cluster-"
_EKS_VPC = f"{CFN_DOCS}aws-properties-eks-cluster-resourcesvpcconfig.html#cfn-eks-cluster-resourcesvpcconfig-"
_EKS_NEW = (
    "a new EKS cluster replaces the old one: Kubernetes objects, access entries and add-ons are lost, and "
    "the HyperPod cluster (Orchestrator.Eks is create-only) is replaced with it"
)
_SUBNET_PAGE = f"{CFN_DOCS}aws-resource-ec2-subnet.html#cfn-ec2-subnet-"
_SUBNET_WHY = (
    "the subnet is replaced (new subnet ID); HyperPod VpcConfig and FSx SubnetIds are create-only, so a "
    "HyperPod or FSx subnet change replaces the cluster / file system too"
)
_SG_PAGE = f"{CFN_DOCS}aws-resource-ec2-securitygroup.html#cfn-ec2-securitygroup-"
_SG_WHY = (
    "the security group is replaced (new group ID), which changes the create-only HyperPod VpcConfig and "
    "FSx SecurityGroupIds that reference it"
)

HAND_TABLE: tuple[GuardedProperty, ...] = (
    # --- SageMaker HyperPod -------------------------------------------------------------------
    GuardedProperty(
        "AWS::SageMaker::Cluster",
        "ClusterName",
        "replacement",
        "Renaming creates a new HyperPod cluster and deletes the old one with every node and running job.",
        f"{CFN_DOCS}aws-resource-sagemaker-cluster.html#cfn-sagemaker-cluster-clustername",
    ),
    GuardedProperty(
        "AWS::SageMaker::Cluster",
        "VpcConfig",
        "replacement",
        "Cluster-level subnets and security groups are fixed at creation: a new (or replaced) subnet or "
        "security group replaces the whole HyperPod cluster.",
        f"{CFN_DOCS}aws-resource-sagemaker-cluster.html#cfn-sagemaker-cluster-vpcconfig",
    ),
    GuardedProperty(
        "AWS::SageMaker::Cluster",
        "Orchestrator.Eks",
        "replacement",
        "A HyperPod cluster cannot move to another EKS cluster: a new EKS cluster ARN (also from a replaced "
        "EKS cluster) replaces the HyperPod cluster.",
        f"{CFN_DOCS}aws-resource-sagemaker-cluster.html#cfn-sagemaker-cluster-orchestrator",
        see_also=(_HYPERPOD_UPDATE,),
    ),
    *_instance_group_entries("InstanceGroups"),
    *_instance_group_entries("RestrictedInstanceGroups"),
    *_scaling_entries("InstanceGroups"),
    # --- Slurm: API-driven configuration (issue 19) ---------------------------------------------
    GuardedProperty(
        "AWS::SageMaker::Cluster",
        "InstanceGroups[*].SlurmConfig",
        "disruptive",
        "Adding SlurmConfig to a running legacy (provisioning_parameters.json) cluster is AWS's migration to "
        "API-driven Slurm, done by this UpdateCluster: first upgrade the cluster software to a HyperPod AMI from "
        "January 2026 or later and back up slurm.conf; HyperPod then rebuilds the partitions from SlurmConfig and "
        "there is no way back to the file (keep slurm.configuration: provisioning-parameters until then; "
        "docs/slurm.md, Migrating). Later, NodeType cannot change at all and a new PartitionNames moves the "
        "group's nodes to another partition.",
        "https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-slurm-api-config-migration.html",
        see_also=(
            "https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-ref.html"
            "#sagemaker-hyperpod-ref-slurm-configuration",
        ),
    ),
    GuardedProperty(
        "AWS::SageMaker::Cluster",
        "Orchestrator.Slurm.AccountingDatabase",
        "disruptive",
        "Attaching an external accounting database moves slurmdbd off the controller's MariaDB, and a cluster "
        "cannot go back to the internal database; the job history kept on the controller stays there.",
        "https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-external-accounting-db-slurm.html",
    ),
    GuardedProperty(
        "AWS::SageMaker::Cluster",
        "NodeProvisioningMode",
        "blocked",
        "Continuous provisioning is chosen when a cluster is created: AWS cannot move an existing Slurm cluster "
        "to it, so this update fails on a running cluster (set it only on a new one).",
        _CLUSTER_PAGE + "nodeprovisioningmode",
        see_also=("https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-scaling-slurm.html",),
    ),
    GuardedProperty(
        "AWS::SageMaker::Cluster",
        "AutoScaling.Mode",
        "disruptive",
        "Turning Karpenter autoscaling on hands the autoscale groups to Karpenter (it scales a group with nodes "
        "down to 0 first); turning it off stops scaling and leaves the nodes Karpenter added without an owner.",
        _CLUSTER_PAGE + "autoscaling",
        default="Disable",
        see_also=(_AUTOSCALING_DOC,),
    ),
    GuardedProperty(
        "AWS::SageMaker::Cluster",
        "ClusterRole",
        "disruptive",
        "HyperPod refuses a ClusterRole change while autoscaling is enabled, so this update fails unless "
        "AutoScaling is turned off in an earlier deploy; a replaced role (new ARN) counts as a change.",
        _CLUSTER_PAGE + "clusterrole",
        see_also=("https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateCluster.html",),
    ),
    GuardedProperty(
        "AWS::SageMaker::Cluster",
        "TieredStorageConfig",
        "disruptive",
        "Tiered storage runs a memory daemon on every node: disabling it (or changing the memory share) "
        "drops the in-memory checkpoints running jobs rely on; they fall back to their S3 checkpoints.",
        _CLUSTER_PAGE + "tieredstorageconfig",
        see_also=("https://docs.aws.amazon.com/sagemaker/latest/dg/managed-tier-checkpointing-setup.html",),
    ),
    # --- EKS ----------------------------------------------------------------------------------
    GuardedProperty("AWS::EKS::Cluster", "Name", "replacement", f"Renaming: {_EKS_NEW}.", _EKS_PAGE + "name"),
    GuardedProperty(
        "AWS::EKS::Cluster", "RoleArn", "replacement", f"A new cluster role: {_EKS_NEW}.", _EKS_PAGE + "rolearn"
    ),
    GuardedProperty(
        "AWS::EKS::Cluster",
        "EncryptionConfig",
        "replacement",
        "Secrets encryption is fixed at creation in CloudFormation (the EKS API's AssociateEncryptionConfig is "
        f"not used): adding, removing or changing the key means {_EKS_NEW}.",
        _EKS_PAGE + "encryptionconfig",
    ),
    GuardedProperty(
        "AWS::EKS::Cluster",
        "AccessConfig.BootstrapClusterCreatorAdminPermissions",
        "replacement",
        f"Fixed at creation: {_EKS_NEW}.",
        f"{CFN_DOCS}aws-properties-eks-cluster-accessconfig.html"
        "#cfn-eks-cluster-accessconfig-bootstrapclustercreatoradminpermissions",
    ),
    GuardedProperty(
        "AWS::EKS::Cluster",
        "AccessConfig.AuthenticationMode",
        "blocked",
        "The authentication mode only moves CONFIG_MAP -> API_AND_CONFIG_MAP -> API; EKS cannot change it "
        "back, so this update fails.",
        "https://docs.aws.amazon.com/eks/latest/userguide/setting-up-access-entries.html",
        kind="one_way",
        default="CONFIG_MAP",
        order=("CONFIG_MAP", "API_AND_CONFIG_MAP", "API"),
        see_also=(f"{CFN_DOCS}aws-properties-eks-cluster-accessconfig.html",),
    ),
    GuardedProperty(
        "AWS::EKS::Cluster",
        "KubernetesNetworkConfig.IpFamily",
        "replacement",
        f"The IP family is fixed at creation: {_EKS_NEW}.",
        f"{CFN_DOCS}aws-properties-eks-cluster-kubernetesnetworkconfig.html#cfn-eks-cluster-kubernetesnetworkconfig-ipfamily",
    ),
    GuardedProperty(
        "AWS::EKS::Cluster",
        "KubernetesNetworkConfig.ServiceIpv4Cidr",
        "replacement",
        f"The service CIDR is fixed at creation: {_EKS_NEW}.",
        f"{CFN_DOCS}aws-properties-eks-cluster-kubernetesnetworkconfig.html"
        "#cfn-eks-cluster-kubernetesnetworkconfig-serviceipv4cidr",
    ),
    GuardedProperty(
        "AWS::EKS::Cluster",
        "ResourcesVpcConfig.SubnetIds",
        "disruptive",
        "Updated in place, but EKS recreates the control-plane network interfaces in the new subnets; nodes "
        "must reach them, and the HyperPod subnets usually change with them (create-only VpcConfig).",
        _EKS_VPC + "subnetids",
    ),
    GuardedProperty(
        "AWS::EKS::Cluster",
        "ResourcesVpcConfig.SecurityGroupIds",
        "disruptive",
        "Updated in place, but the control-plane network interfaces get the new groups: HyperPod nodes lose "
        "the API server until their own security group allows it.",
        _EKS_VPC + "securitygroupids",
    ),
    # --- FSx for Lustre -----------------------------------------------------------------------
    GuardedProperty(
        "AWS::FSx::FileSystem", "KmsKeyId", "replacement", f"New KMS key: {_FSX_LOST}.", _FSX_PAGE + "kmskeyid"
    ),
    GuardedProperty(
        "AWS::FSx::FileSystem", "SubnetIds", "replacement", f"New subnet: {_FSX_LOST}.", _FSX_PAGE + "subnetids"
    ),
    GuardedProperty(
        "AWS::FSx::FileSystem",
        "SecurityGroupIds",
        "replacement",
        f"New security groups: {_FSX_LOST}.",
        _FSX_PAGE + "securitygroupids",
    ),
    GuardedProperty(
        "AWS::FSx::FileSystem", "FileSystemType", "replacement", f"New type: {_FSX_LOST}.", _FSX_PAGE + "filesystemtype"
    ),
    GuardedProperty(
        "AWS::FSx::FileSystem",
        "BackupId",
        "replacement",
        f"Restoring from another backup: {_FSX_LOST}.",
        _FSX_PAGE + "backupid",
    ),
    *(
        GuardedProperty(
            "AWS::FSx::FileSystem",
            f"LustreConfiguration.{prop}",
            "replacement",
            f"{what}: {_FSX_LOST}.",
            _FSX_LUSTRE + prop.lower(),
            schema_note=_FSX_NESTED_NOTE,
        )
        for prop, what in (
            ("DeploymentType", "A new deployment type (SCRATCH/PERSISTENT)"),
            ("ImportPath", "A new S3 import path"),
            ("ExportPath", "A new S3 export path"),
            ("ImportedFileChunkSize", "A new import chunk size"),
            ("DriveCacheType", "A new HDD drive cache"),
            ("EfaEnabled", "Turning EFA on or off"),
        )
    ),
    # "Update requires: Replacement" in the CloudFormation reference, and UpdateFileSystem's
    # LustreConfiguration has no such field (botocore fsx model); absent means false.
    GuardedProperty(
        "AWS::FSx::FileSystem",
        "LustreConfiguration.CopyTagsToBackups",
        "replacement",
        f"Turning tag copying to backups on or off: {_FSX_LOST}.",
        _FSX_LUSTRE + "copytagstobackups",
        schema_note=_FSX_NESTED_NOTE,
        default=False,
    ),
    GuardedProperty(
        "AWS::FSx::FileSystem",
        "LustreConfiguration.PerUnitStorageThroughput",
        "disruptive",
        "Updated in place, but the file system can be briefly unavailable and runs slower while FSx "
        "optimizes; schedule it between training runs.",
        "https://docs.aws.amazon.com/fsx/latest/LustreGuide/managing-throughput-capacity.html",
        see_also=(_FSX_LUSTRE + "perunitstoragethroughput",),
    ),
    # "You can only increase the amount of storage capacity" (FSx for Lustre guide, managing storage capacity):
    # a smaller value fails the update, which rolls back with the file system untouched (R31T-L3).
    GuardedProperty(
        "AWS::FSx::FileSystem",
        "StorageCapacity",
        "blocked",
        "FSx for Lustre storage capacity only grows: a smaller StorageCapacity fails this update (it rolls back).",
        "https://docs.aws.amazon.com/fsx/latest/LustreGuide/managing-storage-capacity.html",
        kind="grow_only",
    ),
    GuardedProperty(
        "AWS::FSx::FileSystem",
        "StorageType",
        "disruptive",
        "Not create-only, but FSx changes the storage type only for some file-system types (otherwise the "
        "update fails) and the migration affects performance; confirm with a change set.",
        _FSX_PAGE + "storagetype",
    ),
    # --- Network ------------------------------------------------------------------------------
    GuardedProperty(
        "AWS::EC2::VPC",
        "CidrBlock",
        "replacement",
        "A new VPC replaces the old one, and with it every subnet, security group, the EKS "
        "cluster and the HyperPod cluster inside it.",
        f"{CFN_DOCS}aws-resource-ec2-vpc.html#cfn-ec2-vpc-cidrblock",
    ),
    GuardedProperty(
        "AWS::EC2::VPCCidrBlock",
        "CidrBlock",
        "replacement",
        "A new secondary CIDR association; the HyperPod subnets inside it are replaced, and with them "
        "the HyperPod cluster.",
        f"{CFN_DOCS}aws-resource-ec2-vpccidrblock.html#cfn-ec2-vpccidrblock-cidrblock",
    ),
    GuardedProperty(
        "AWS::EC2::VPCCidrBlock",
        "VpcId",
        "replacement",
        "The secondary CIDR moves to another VPC: its subnets and the HyperPod cluster are replaced.",
        f"{CFN_DOCS}aws-resource-ec2-vpccidrblock.html#cfn-ec2-vpccidrblock-vpcid",
    ),
    GuardedProperty(
        "AWS::EC2::Subnet", "CidrBlock", "replacement", f"New CIDR: {_SUBNET_WHY}.", _SUBNET_PAGE + "cidrblock"
    ),
    GuardedProperty(
        "AWS::EC2::Subnet",
        "AvailabilityZoneId",
        "replacement",
        f"New AZ: {_SUBNET_WHY}.",
        _SUBNET_PAGE + "availabilityzoneid",
    ),
    GuardedProperty(
        "AWS::EC2::Subnet",
        "AvailabilityZone",
        "replacement",
        f"New AZ: {_SUBNET_WHY}.",
        _SUBNET_PAGE + "availabilityzone",
    ),
    GuardedProperty("AWS::EC2::Subnet", "VpcId", "replacement", f"New VPC: {_SUBNET_WHY}.", _SUBNET_PAGE + "vpcid"),
    GuardedProperty(
        "AWS::EC2::SecurityGroup",
        "GroupDescription",
        "replacement",
        f"Even a description edit: {_SG_WHY}.",
        _SG_PAGE + "groupdescription",
    ),
    GuardedProperty(
        "AWS::EC2::SecurityGroup", "GroupName", "replacement", f"Renaming: {_SG_WHY}.", _SG_PAGE + "groupname"
    ),
    GuardedProperty("AWS::EC2::SecurityGroup", "VpcId", "replacement", f"New VPC: {_SG_WHY}.", _SG_PAGE + "vpcid"),
    # --- Keys, buckets, logs, IAM -------------------------------------------------------------
    *(
        GuardedProperty(
            "AWS::KMS::Key",
            prop,
            "blocked",
            f"{prop} cannot change after the key is created: CloudFormation fails the update, whatever "
            "the UpdateReplacePolicy. Create a second key and move data to it instead.",
            _KMS_PAGE + prop.lower(),
            default=default,
        )
        for prop, default in (
            ("KeySpec", "SYMMETRIC_DEFAULT"),
            ("KeyUsage", "ENCRYPT_DECRYPT"),
            ("MultiRegion", False),
            ("Origin", "AWS_KMS"),
        )
    ),
    GuardedProperty(
        "AWS::S3::Bucket",
        "BucketName",
        "replacement",
        "A new, empty bucket replaces the old one (the old one is kept or deleted by its policies).",
        f"{CFN_DOCS}aws-resource-s3-bucket.html#cfn-s3-bucket-bucketname",
    ),
    GuardedProperty(
        "AWS::Logs::LogGroup",
        "LogGroupName",
        "replacement",
        "A new, empty log group replaces the old one; with a fixed name and Retain the create fails "
        "because the old group still exists.",
        f"{CFN_DOCS}aws-resource-logs-loggroup.html#cfn-logs-loggroup-loggroupname",
    ),
    GuardedProperty(
        "AWS::IAM::Role",
        "RoleName",
        "replacement",
        "A new role (new ARN): roles that reference it, such as the HyperPod execution role of "
        "every instance group, change too.",
        f"{CFN_DOCS}aws-resource-iam-role.html#cfn-iam-role-rolename",
    ),
    GuardedProperty(
        "AWS::IAM::Role",
        "Path",
        "replacement",
        "A new role (new ARN) replaces the old one.",
        f"{CFN_DOCS}aws-resource-iam-role.html#cfn-iam-role-path",
    ),
    # --- Task governance ----------------------------------------------------------------------
    GuardedProperty(
        "AWS::SageMaker::ComputeQuota",
        "ComputeQuotaTarget.TeamName",
        "replacement",
        "A renamed team is a new quota: CloudFormation deletes the old quota first (the type's "
        "replacementStrategy is delete_then_create), so the team has no guaranteed compute until the new one "
        "exists, and SageMaker serves the new name from a new namespace hyperpod-ns-<team>.",
        f"{CFN_DOCS}aws-properties-sagemaker-computequota-computequotatarget.html"
        "#cfn-sagemaker-computequota-computequotatarget-teamname",
    ),
    # --- EKS add-ons and pod identity ---------------------------------------------------------
    GuardedProperty(
        "AWS::EKS::Addon",
        "AddonName",
        "replacement",
        "The add-on is deleted and installed again (for vpc-cni/coredns: a networking/DNS outage).",
        f"{CFN_DOCS}aws-resource-eks-addon.html#cfn-eks-addon-addonname",
    ),
    GuardedProperty(
        "AWS::EKS::Addon",
        "ClusterName",
        "replacement",
        "The add-on is reinstalled; usually follows a replaced EKS cluster.",
        f"{CFN_DOCS}aws-resource-eks-addon.html#cfn-eks-addon-clustername",
    ),
    *(
        GuardedProperty(
            "AWS::EKS::PodIdentityAssociation",
            prop,
            "replacement",
            "The association is recreated: pods of that service account lose AWS credentials until "
            "the new one exists.",
            f"{CFN_DOCS}aws-resource-eks-podidentityassociation.html#cfn-eks-podidentityassociation-" + prop.lower(),
        )
        for prop in ("ClusterName", "Namespace", "ServiceAccount")
    ),
)


# --- schema access --------------------------------------------------------------------------
