"""The HyperPod rule catalogue and a jsii-free entry point for running it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from hyperpod_cdk.rules import eks, retention, sagemaker
from hyperpod_cdk.rules.model import Finding, Json, Rule, Templates

_DHC_DOC = "https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-resiliency-deep-health-checks.html"
_EFA_DOC = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/efa-start.html#efa-start-security"

RULES: tuple[Rule, ...] = (
    Rule(
        "HyperPod-EKS1",
        "EKS API endpoint is private or allow-listed",
        "Anyone on the internet can reach the Kubernetes API server, with only IAM authentication in "
        "the way. CIS EKS 5.4.1/5.4.2.",
        "Set ResourcesVpcConfig.EndpointPublicAccess to false (aws_eks_v2: "
        "endpoint_access=EndpointAccess.PRIVATE, with the kubectl handler in the VPC), or keep it "
        "public and list your own CIDRs in PublicAccessCidrs (EndpointAccess.PUBLIC_AND_PRIVATE.only_from(...)).",
        eks.endpoint_access,
    ),
    Rule(
        "HyperPod-EKS2",
        "All five EKS control-plane log types are on",
        "Node-join, health-agent and authentication problems of HyperPod on EKS are diagnosed from these "
        "logs; a type that is off leaves no record. CIS EKS 2.1.1.",
        "List all five types in Logging.ClusterLogging.EnabledTypes (aws_eks_v2: cluster_logging="
        "[ClusterLoggingTypes.API, AUDIT, AUTHENTICATOR, CONTROLLER_MANAGER, SCHEDULER]).",
        eks.control_plane_logs,
    ),
    Rule(
        "HyperPod-EKS3",
        "EKS secrets are envelope-encrypted with KMS",
        "EncryptionConfig is create-only: adding it later replaces the EKS cluster and orphans the HyperPod "
        "cluster attached to it. CIS EKS 5.3.1.",
        "Add EncryptionConfig [{Resources: [secrets], Provider: {KeyArn: <rotating, retained key>}}] "
        "(aws_eks_v2: secrets_encryption_key=kms.Key(..., enable_key_rotation=True)).",
        eks.secrets_encryption,
    ),
    Rule(
        "HyperPod-EKS4",
        "EKS authentication mode accepts access entries",
        "HyperPod creates an access entry for its execution role, and EKS refuses access entries on a "
        "CONFIG_MAP-only cluster, so HyperPod cluster creation fails.",
        "Set AccessConfig.AuthenticationMode to API or API_AND_CONFIG_MAP (HyperPodEksCluster sets "
        "API_AND_CONFIG_MAP with add_property_override).",
        eks.authentication_mode,
    ),
    Rule(
        "HyperPod-SM1",
        "Accelerated instance groups run deep health checks",
        "Without them a faulty GPU, Trainium chip or EFA link is found by a failing training job instead "
        "of before the node joins the cluster.",
        "Set OnStartDeepHealthChecks to [InstanceStress, InstanceConnectivity] on the group "
        f"(InstanceGroup.deep_health_checks; the default for accelerated types). {_DHC_DOC}",
        sagemaker.deep_health_checks,
    ),
    Rule(
        "HyperPod-SM2",
        "Instance-group EBS volumes use a KMS key where HyperPod accepts one, and only there",
        "In Continuous node provisioning mode, node data (container images, kubelet state, data staged on "
        "/opt/sagemaker) is otherwise not encrypted with a key you control, audit and revoke; in any other "
        "mode HyperPod rejects a customer managed key and CreateCluster fails.",
        "With NodeProvisioningMode Continuous, give every instance group InstanceStorageConfigs "
        "[{EbsVolumeConfig: {VolumeSizeInGB: N, VolumeKmsKeyId: <key ARN>}}] (HyperPodCluster volume_key); "
        "otherwise leave VolumeKmsKeyId out. https://docs.aws.amazon.com/sagemaker/latest/dg/smcluster-cmk.html",
        sagemaker.encrypted_volumes,
    ),
    Rule(
        "HyperPod-SM3",
        "Node recovery is automatic",
        "With None, HyperPod labels faulty nodes but neither reboots nor replaces them, and jobs wait for "
        "an operator.",
        "Set NodeRecovery: Automatic (HyperPodCluster node_recovery, hyperpod.node_recovery).",
        sagemaker.node_recovery,
    ),
    Rule(
        "HyperPod-EFA1",
        "HyperPod security groups allow all traffic to and from themselves",
        "EFA requires all traffic to and from the group itself; without it NCCL over EFA hangs or falls "
        "back to TCP.",
        "Add AWS::EC2::SecurityGroupIngress {IpProtocol: -1, SourceSecurityGroupId: <group>} and "
        "AWS::EC2::SecurityGroupEgress {IpProtocol: -1, DestinationSecurityGroupId: <group>} as separate "
        f"resources (HyperPodSecurityGroup does). For an imported group that already has them, acknowledge. {_EFA_DOC}",
        sagemaker.efa_self_rules,
    ),
    Rule(
        "HyperPod-RET1",
        "Stateful resources are retained",
        "Data that cannot be recreated is lost with the stack or on replacement, and deleting a KMS key "
        "makes everything it encrypted unreadable, retained or not.",
        "Set both DeletionPolicy (Retain or RetainExceptOnCreate) and UpdateReplacePolicy (Retain): "
        "removal_policy=RemovalPolicy.RETAIN on the construct.",
        retention.stateful_resources_retained,
    ),
    Rule(
        "HyperPod-RET2",
        "Nothing kept on delete holds a name the next deploy needs",
        "A retained resource with a fixed name (a log group, a bucket) outlives cdk destroy and keeps the "
        "name, so the next deploy of the same template fails with AlreadyExists and rolls back.",
        "Let CloudFormation name it, or make the name unique per deployment (include the stack's UUID from "
        "AWS::StackId, as hyperpod_cdk's log groups do); where the name is dictated (EKS writes to "
        "/aws/eks/<cluster>/cluster), keep it static, add Metadata HyperPodAdoptedOnRedeploy saying how, and "
        "deploy with cdk deploy --import-existing-resources. "
        "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/import-resources-automatically.html",
        retention.retained_fixed_names,
    ),
    Rule(
        "HyperPod-RET3",
        "Every rule of a retained security group is retained with it",
        "Ingress and egress rules are separate resources: cdk destroy deletes them and leaves what the "
        "retained group protects (an FSx file system) unreachable.",
        "Set DeletionPolicy Retain on every AWS::EC2::SecurityGroupIngress/Egress of the group "
        "(HyperPodSecurityGroup.retain() does).",
        retention.retained_security_group_rules,
    ),
)
RULES_BY_ID: Mapping[str, Rule] = {rule.id: rule for rule in RULES}


def check(templates: Templates | Mapping[str, Mapping[str, Json]], *, exclude: Iterable[str] = ()) -> list[Finding]:
    """Run every rule (except ``exclude``) over templates keyed by path."""
    skipped = set(exclude)
    unknown = skipped - set(RULES_BY_ID)
    if unknown:
        raise ValueError(f"exclude: unknown HyperPod rule ids {sorted(unknown)}; known: {sorted(RULES_BY_ID)}")
    if not isinstance(templates, Templates):
        templates = Templates(templates)
    findings: list[Finding] = []
    for rule in RULES:
        if rule.id not in skipped:
            findings.extend(rule.check(templates))
    return findings


def check_files(paths: Iterable[str | Path], *, exclude: Iterable[str] = ()) -> list[Finding]:
    """Run every rule over synthesized template files (``cdk.out/*.template.json``)."""
    return check(Templates.from_paths(paths), exclude=exclude)
