"""The HyperPod rule catalogue and a jsii-free entry point for running it.

One table for every place that checks a HyperPod definition: the CDK plugin
(:class:`~hyperpod_cdk.rules.plugin.HyperPodChecks`), ``hyperpod-cdk lint`` (any template, CreateCluster
JSON, cdk.out or Terraform JSON, converted by :mod:`hyperpod_cdk.rules.inputs`) and the cfn-lint rules
(``rules/cfn_lint``). Each rule's ``check`` is a pure function of CloudFormation-shaped
:class:`~hyperpod_cdk.rules.model.Templates`, so config validation and construct props can call the
same rule on the resource they are about to render (``check(Templates({...}))`` or the function itself)
and report its ``id``, ``fix`` and ``source``.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from hyperpod_cdk.rules import deploy, eks, retention, sagemaker, template_shape
from hyperpod_cdk.rules.cdk_out import read_template_files
from hyperpod_cdk.rules.deploy_worlds import other_worlds
from hyperpod_cdk.rules.model import KINDS, NOT_CHECKED, Finding, Json, Rule, Templates
from hyperpod_cdk.specs.service_rules import CMK_DOC, KAR1, KMS1, SYS1

_DHC_DOC = "https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-resiliency-deep-health-checks.html"
_EFA_DOC = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/efa-start.html#efa-start-security"
_SM = "https://docs.aws.amazon.com/sagemaker/latest/dg/"
_EKS_PREREQ_DOC = _SM + "sagemaker-hyperpod-eks-prerequisites.html"
_OPERATOR_DOC = _SM + "sagemaker-eks-operator-install.html"
_CFN_CLUSTER_DOC = (
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-sagemaker-cluster.html"
)

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
        source="https://docs.aws.amazon.com/eks/latest/userguide/cluster-endpoint.html",
    ),
    Rule(
        "HyperPod-EKS2",
        "All five EKS control-plane log types are on",
        "Node-join, health-agent and authentication problems of HyperPod on EKS are diagnosed from these "
        "logs; a type that is off leaves no record. CIS EKS 2.1.1.",
        "List all five types in Logging.ClusterLogging.EnabledTypes (aws_eks_v2: cluster_logging="
        "[ClusterLoggingTypes.API, AUDIT, AUTHENTICATOR, CONTROLLER_MANAGER, SCHEDULER]).",
        eks.control_plane_logs,
        source="https://docs.aws.amazon.com/eks/latest/userguide/control-plane-logs.html",
    ),
    Rule(
        "HyperPod-EKS3",
        "EKS secrets are envelope-encrypted with KMS",
        "EncryptionConfig is create-only: adding it later replaces the EKS cluster and orphans the HyperPod "
        "cluster attached to it. CIS EKS 5.3.1.",
        "Add EncryptionConfig [{Resources: [secrets], Provider: {KeyArn: <rotating, retained key>}}] "
        "(aws_eks_v2: secrets_encryption_key=kms.Key(..., enable_key_rotation=True)).",
        eks.secrets_encryption,
        source="https://docs.aws.amazon.com/eks/latest/userguide/enable-kms.html",
    ),
    Rule(
        "HyperPod-EKS4",
        "EKS authentication mode accepts access entries",
        "HyperPod creates an access entry for its execution role, and EKS refuses access entries on a "
        "CONFIG_MAP-only cluster, so HyperPod cluster creation fails.",
        "Set AccessConfig.AuthenticationMode to API or API_AND_CONFIG_MAP (HyperPodEksCluster sets "
        "API_AND_CONFIG_MAP with add_property_override).",
        eks.authentication_mode,
        source=_EKS_PREREQ_DOC,
        kind="deploy",
    ),
    Rule(
        "HyperPod-SM1",
        "Accelerated instance groups run deep health checks",
        "Without them a faulty GPU, Trainium chip or EFA link is found by a failing training job instead "
        "of before the node joins the cluster.",
        "Set OnStartDeepHealthChecks to [InstanceStress, InstanceConnectivity] on the group "
        f"(InstanceGroup.deep_health_checks; the default for accelerated types). {_DHC_DOC}",
        sagemaker.deep_health_checks,
        source=_DHC_DOC,
    ),
    Rule(
        "HyperPod-SM2",
        "Instance-group EBS volumes use a KMS key where HyperPod accepts one",
        "In Continuous node provisioning mode, node data (container images, kubelet state, data staged on "
        "/opt/sagemaker) is otherwise not encrypted with a key you control, audit and revoke. (A key in any "
        "other mode fails CreateCluster: HyperPod-KMS1.)",
        "With NodeProvisioningMode Continuous, give every instance group InstanceStorageConfigs "
        "[{EbsVolumeConfig: {VolumeSizeInGB: N, VolumeKmsKeyId: <key ARN>}}] (HyperPodCluster volume_key).",
        sagemaker.encrypted_volumes,
        source=CMK_DOC,
    ),
    Rule(
        "HyperPod-SM3",
        "Node recovery is automatic",
        "With None, HyperPod labels faulty nodes but neither reboots nor replaces them, and jobs wait for "
        "an operator.",
        "Set NodeRecovery: Automatic (HyperPodCluster node_recovery, hyperpod.node_recovery).",
        sagemaker.node_recovery,
        source=_SM + "sagemaker-hyperpod-eks-resiliency-node-recovery.html",
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
        source=_EFA_DOC,
        kind="deploy",
    ),
    Rule(
        "HyperPod-RET1",
        "Stateful resources are retained",
        "Data that cannot be recreated is lost with the stack or on replacement, and deleting a KMS key "
        "makes everything it encrypted unreadable, retained or not.",
        "Set both DeletionPolicy (Retain or RetainExceptOnCreate) and UpdateReplacePolicy (Retain): "
        "removal_policy=RemovalPolicy.RETAIN on the construct.",
        retention.stateful_resources_retained,
        source="https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html",
    ),
    # --- deploy rules: the definition fails (or misbehaves) at deploy time --------------------------
    Rule(
        "HyperPod-KMS1",
        KMS1.title,
        "HyperPod accepts VolumeKmsKeyId only for clusters in Continuous node provisioning mode; elsewhere "
        "CreateCluster fails.",
        "Set NodeProvisioningMode: Continuous, or remove VolumeKmsKeyId from every EbsVolumeConfig.",
        deploy.cmk_needs_continuous,
        source=KMS1.source,
        kind="deploy",
    ),
    Rule(
        "HyperPod-KAR1",
        KAR1.title,
        "HyperPod's managed Karpenter needs Continuous provisioning, Automatic node recovery and a ClusterRole "
        "on an EKS cluster; the groups it scales start at 0, without deep health checks or training plans.",
        "Set NodeProvisioningMode: Continuous, NodeRecovery: Automatic and ClusterRole; on groups at 0 remove "
        "OnStartDeepHealthChecks and TrainingPlanArn.",
        deploy.karpenter_prerequisites,
        source=KAR1.source,
        kind="deploy",
    ),
    Rule(
        "HyperPod-SYS1",
        SYS1.title,
        "HyperPod taints a node NoSchedule while its deep health checks run (60-90 minutes); with no other "
        "node, coredns, the HyperPod chart's agents and the add-ons' controllers stay Pending and add-ons "
        "that wait for them time out.",
        "Add a small CPU group with InstanceCount >= 1, no OnStartDeepHealthChecks and no NoSchedule/NoExecute "
        "taint (e.g. ml.m5.xlarge x 1).",
        deploy.system_pod_host,
        severity=SYS1.severity,
        source=SYS1.source,
        kind="deploy",
    ),
    Rule(
        "HyperPod-TYPE1",
        "The instance type is offered by HyperPod in the region",
        "CreateCluster fails for an instance type HyperPod does not offer in the region.",
        "Pick a type from the region's list (hyperpod_cdk/specs/data/hyperpod_instance_types.json, the "
        "same table as cfn-lint's E3644 data) or another region. Needs --region.",
        deploy.instance_type_offered,
        source=_SM + "sagemaker-hyperpod-prerequisites-regions.html",
        kind="deploy",
    ),
    Rule(
        "HyperPod-K8S1",
        "The EKS Kubernetes version is one HyperPod supports and EKS still supports",
        "EKS refuses versions past extended support, HyperPod refuses versions it does not list, and a "
        "version in extended support costs six times as much per cluster-hour.",
        "Set Version to a version in standard support that HyperPod lists.",
        deploy.kubernetes_version_supported,
        source=_EKS_PREREQ_DOC,
        kind="deploy",
    ),
    Rule(
        "HyperPod-IP1",
        "The HyperPod subnets have addresses for every node",
        "Each HyperPod node takes several IPs on EKS (pods get VPC addresses) or one on Slurm; a subnet "
        "that runs out makes CreateCluster or a scale-up fail with insufficient capacity.",
        "Use larger subnets (or more of them), or fewer nodes; keep 25% headroom for replacements.",
        deploy.subnet_ip_capacity,
        source="https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-prerequisites.html",
        kind="deploy",
    ),
    Rule(
        "HyperPod-FSX1",
        "The Lustre file system's security group lets clients in on TCP 988 and 1018-1023",
        "FSx for Lustre clients connect on TCP 988 and 1018-1023; without an inbound rule the mount on the "
        "HyperPod nodes hangs.",
        "Add inbound TCP 988 and 1018-1023 from the HyperPod security group (or the group itself).",
        deploy.lustre_ports,
        source="https://docs.aws.amazon.com/fsx/latest/LustreGuide/limit-access-security-groups.html",
        kind="deploy",
    ),
    Rule(
        "HyperPod-HELM1",
        "The HyperPod Helm chart is installed before the cluster",
        "HyperPod's EKS prerequisites install the chart (health-monitoring agent, device plugins, training "
        "dependencies) before CreateCluster; nodes that join first miss them.",
        "Make the AWS::SageMaker::Cluster DependsOn the Helm chart resource.",
        deploy.helm_chart_before_cluster,
        source=_SM + "sagemaker-hyperpod-eks-install-packages-using-helm-chart.html",
        kind="deploy",
    ),
    Rule(
        "HyperPod-TOP1",
        "The training operator gets its credentials from a standalone pod identity association",
        "From v1.2.1 the training-operator add-on refuses inline pod identity associations, so CreateAddon "
        "fails; without any association the controller has no AWS credentials.",
        "Create an AWS::EKS::PodIdentityAssociation (namespace aws-hyperpod, service account "
        "hp-training-operator-controller-manager) before the add-on, and no PodIdentityAssociations on it.",
        deploy.training_operator_pod_identity,
        source=_OPERATOR_DOC,
        kind="deploy",
    ),
    Rule(
        "HyperPod-ADD1",
        "HyperPod's EKS add-ons resolve conflicts by overwriting",
        "vpc-cni, kube-proxy and coredns exist self-managed on every new cluster, and the HyperPod chart creates "
        "objects some add-ons own; with ResolveConflicts NONE the add-on fails to create.",
        "Set ResolveConflicts: OVERWRITE (settings belong in ConfigurationValues).",
        deploy.addon_resolve_conflicts,
        severity="warning",
        source="https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateAddon.html",
        kind="deploy",
    ),
    Rule(
        "HyperPod-TG1",
        "Task governance is v1.3.0-eksbuild.1 or later next to the training operator",
        "Older task governance releases are incompatible with the HyperPod training operator.",
        "Set the amazon-sagemaker-hyperpod-taskgovernance AddonVersion to v1.3.0-eksbuild.1 or later.",
        deploy.task_governance_version,
        source=_OPERATOR_DOC,
        kind="deploy",
    ),
    Rule(
        "HyperPod-LCS1",
        "The lifecycle script location has the shape HyperPod accepts",
        "SourceS3Uri must match ^(https|s3)://([^/]+)/?(.*)$ and the entry script is a file name under it; a "
        "Slurm cluster without lifecycle scripts has no Slurm.",
        "Set LifeCycleConfig {SourceS3Uri: s3://bucket/prefix/, OnCreate: on_create.sh}.",
        deploy.lifecycle_script_uri,
        source=_CFN_CLUSTER_DOC,
        kind="deploy",
    ),
    Rule(
        "HyperPod-QUOTA1",
        "The account's HyperPod quota covers the instances per type",
        "CreateCluster and scale-ups fail with ResourceLimitExceeded beyond the per-type 'for cluster usage' "
        "quota. Known only with --live (Service Quotas).",
        "Request an increase (aws service-quotas request-service-quota-increase --service-code sagemaker) or "
        "plan fewer instances.",
        deploy.hyperpod_quotas,
        source=_SM + "sagemaker-hyperpod-prerequisites.html#sagemaker-hyperpod-prerequisites-quotas",
        kind="deploy",
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
        source="https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/import-resources-automatically.html",
        kind="deploy",
    ),
    Rule(
        "HyperPod-RET3",
        "Every rule of a retained security group is retained with it, unless it names a group or prefix list "
        "the stack deletes",
        "Ingress and egress rules are separate resources: cdk destroy deletes them and leaves what the "
        "retained group protects (an FSx file system) unreachable. A kept rule whose peer is a security "
        "group or managed prefix list the stack deletes keeps it referenced, so its delete fails.",
        "Set DeletionPolicy Retain on every AWS::EC2::SecurityGroupIngress/Egress of the group, except "
        "rules naming a security group or prefix list the stack deletes (HyperPodSecurityGroup.retain() does both).",
        retention.retained_security_group_rules,
        source="https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html",
    ),
    Rule(
        "HyperPod-CFN1",
        "Every resource is in the template at synth",
        "A Transform (AWS::LanguageExtensions, SAM, a macro) or an Fn::ForEach resource key makes resources "
        "at deploy that no rule has read, or which resources exist rests on more combinations of deploy-time "
        "values than the rules read at synth (16, fewer for large templates), so some deploy rules were not checked.",
        "Write the resources out, or lint the processed template (aws cloudformation get-template "
        "--template-stage Processed, then hyperpod-cdk lint) and acknowledge HyperPodChecks::HyperPod-CFN1 "
        "on the stack with the result.",
        template_shape.unexpanded_resources,
        source="https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/transform-aws-languageextensions.html",
        kind="deploy",
    ),
    Rule(
        "HyperPod-RET4",
        "Nothing kept on delete sits in a network the stack deletes",
        "A retained resource (an RDS instance, a file system) keeps using its subnets, DB subnet group and "
        "security groups; EC2 and RDS refuse to delete them while it does, so cdk destroy ends DELETE_FAILED.",
        "Retain what it uses too (subnets, security groups, the VPC), or let the resource go on delete with a "
        "final snapshot (DeletionPolicy: Snapshot for an RDS instance, as AWS's HyperPod accounting template does).",
        retention.retained_in_deleted_network,
        source="https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBSubnetGroup.html",
    ),
)
RULES_BY_ID: Mapping[str, Rule] = {rule.id: rule for rule in RULES}


def rules_of(kinds: Iterable[str] = KINDS) -> tuple[Rule, ...]:
    """The rules of the given kinds (``deploy``, ``posture``), in catalogue order."""
    wanted = set(kinds)
    unknown = wanted - set(KINDS)
    if unknown:
        raise ValueError(f"kinds: unknown rule kinds {sorted(unknown)}; known: {list(KINDS)}")
    return tuple(rule for rule in RULES if rule.kind in wanted)


# A definition with more findings of one rule than this is reported by its first ones: an input
# that repeats one reference hundreds of thousands of times (YAML aliases) must not fill memory.
MAX_FINDINGS_PER_RULE = 1000


def check(
    templates: Templates | Mapping[str, Mapping[str, Json]],
    *,
    exclude: Iterable[str] = (),
    kinds: Iterable[str] = KINDS,
    include_not_checked: bool = False,
) -> list[Finding]:
    """Run every rule of ``kinds`` (except ``exclude``) over templates keyed by path.

    ``not-checked`` findings (a value known only at deploy) are left out unless asked for. In the closed
    world (a CDK app: ``templates.closed_world``) there are none: each is a finding of the rule's severity
    that says the value is not known at synth, so synth fails until it is known or acknowledged (R19T-H1).
    """
    skipped = set(exclude)
    unknown = skipped - set(RULES_BY_ID)
    if unknown:
        raise ValueError(f"exclude: unknown HyperPod rule ids {sorted(unknown)}; known: {sorted(RULES_BY_ID)}")
    if not isinstance(templates, Templates):
        templates = Templates(templates)
    findings: list[Finding] = []
    for rule in rules_of(kinds):
        if rule.id not in skipped:
            found = rule.check(templates)
            if templates.closed_world:
                found = _unknown_is_a_finding(found)
            kept = (f for f in found if include_not_checked or f.severity != NOT_CHECKED)
            try:
                findings.extend(itertools.islice(kept, MAX_FINDINGS_PER_RULE))
            except Exception as exc:
                raise RuleFailedError(rule.id, exc) from exc
    return findings


class RuleFailedError(RuntimeError):
    """A rule raised on its input: a bug in the rule (the cause is chained), which ``lint`` reports in
    one line instead of a traceback (seventh review, M3)."""

    def __init__(self, rule_id: str, cause: Exception) -> None:
        super().__init__(f"internal error in rule {rule_id}: {type(cause).__name__}")
        self.rule_id = rule_id


# What a finding says when, in a CDK app, the value its rule needs is known only at deploy.
UNKNOWN_AT_SYNTH = (
    "; not known at synth, so the rule cannot pass it: give the value at synth (a literal, or a "
    "CfnParameter default), or acknowledge HyperPodChecks::{rule_id} on the construct with a reason"
)


def _unknown_is_a_finding(findings: Iterable[Finding]) -> Iterator[Finding]:
    """The closed world's rule (docs/lint.md, "In any CDK app"): a value the rule cannot read is never
    passed silently. One place for every rule, where SM1, EFA1 and RET2 once had it one at a time."""
    for finding in findings:
        if finding.severity == NOT_CHECKED:
            detail = finding.detail + UNKNOWN_AT_SYNTH.format(rule_id=finding.rule_id)
            finding = dataclasses.replace(finding, detail=detail, severity=None)
        yield finding


def check_files(
    paths: Iterable[str | Path],
    *,
    exclude: Iterable[str] = (),
    kinds: Iterable[str] = KINDS,
    parameters: Mapping[str, str] | None = None,
    region: str | None = None,
) -> list[Finding]:
    """Run every rule over synthesized template files (``cdk.out/*.template.json``) of one CDK app.

    The templates are read as ``hyperpod-cdk lint`` reads them (parameter defaults or ``parameters``,
    conditions, ``Fn::If``, resources whose condition is false dropped; each template's region from its
    stack's environment in the assembly's ``manifest.json``, else ``region``), and in the closed world: what
    is still unknown is a finding (a cluster in a stack without a region: TYPE1, review round 20, R20T-M2).
    The nested stack templates each stack deploys are read with it (CDK hands a plugin only the stacks'
    templates; review round 22, R22T-H2).
    """
    paths = list(paths)
    files = read_template_files(paths, parameters=parameters, region=region)
    resolved, regions, nested_in, parsed = files.templates, files.regions, files.nested_in, files.parsed
    templates = Templates({path: r.template for path, r in resolved.items()}, regions=regions)
    templates.nested_in.update(nested_in)
    templates.shared_in.update(files.shared_in)
    templates.written.update((path, r.written) for path, r in resolved.items())
    findings = check(templates, exclude=exclude, kinds=kinds)
    # With the nested stacks' templates (R22T-H2), as read once, through the cdk.out reader's guards.
    return findings + other_worlds(
        parsed, parameters or {}, templates, resolved, findings, lambda view: check(view, exclude=exclude, kinds=kinds)
    )
