"""Known HyperPod-on-EKS failure messages and what to do about them.

``diagnose`` matches these patterns against the cluster's FailureMessage and every node's status
message. The wording of causes and fixes is this project's own; the patterns are the fragments
HyperPod and EC2 put in those messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class KnownError:
    """One row of the table of known failures."""

    key: str
    """Stable id, in ``diagnose --json`` output."""
    patterns: tuple[str, ...]
    """Regular expressions (case-insensitive) that identify the failure in a message; ``()`` for a row
    that a check adds from evidence rather than from a message."""
    cause: str
    """What went wrong, in one sentence."""
    fix: str
    """What to do about it."""

    def matches(self, text: str) -> bool:
        return any(re.search(p, text, re.IGNORECASE) for p in self.patterns)


INSUFFICIENT_CAPACITY = KnownError(
    key="insufficient-capacity",
    patterns=(r"InsufficientCapacity", r"do(es)? not have sufficient capacity", r"insufficient .*capacity"),
    cause="SageMaker had no free capacity for the instance type in the group's Availability Zone.",
    fix=(
        "Place the group in another AZ (availability_zone_id, listed in network.availability_zone_ids), "
        "reserve capacity with a training plan (training_plan_arn), and run 'hyperpod-cdk preflight' "
        "to confirm the '<type> for cluster usage' quota covers the count."
    ),
)
CONFIG_MAP_AUTH = KnownError(
    key="config-map-auth",
    patterns=(r"CONFIG_MAP authentication mode (is|are) not supported",),
    cause="The EKS cluster only uses the aws-auth ConfigMap; HyperPod registers nodes through access entries.",
    fix=(
        "aws eks update-cluster-config --name <eks-cluster> --access-config "
        "authenticationMode=API_AND_CONFIG_MAP, wait until the update is Successful, then retry."
    ),
)
MISSING_DEPENDENCIES = KnownError(
    key="missing-dependencies",
    patterns=(r"missing required dependencies",),
    cause="The HyperPod Helm chart (health-monitoring agent, device plugins, training operator) is not "
    "installed in the EKS cluster.",
    fix=(
        "Install the HyperPod dependencies Helm chart before creating the cluster; this project's stack "
        "does so ahead of the AWS::SageMaker::Cluster, so redeploy it, or install the chart by hand on an "
        "imported EKS cluster."
    ),
)
SUBNETS_IAM = KnownError(
    key="execution-role-vpc",
    patterns=(
        r"Unable to retrieve subnets?",
        r"not authorized to perform:? ec2:",
        r"UnauthorizedOperation",
    ),
    cause="The instance groups' execution role cannot read or use the VPC (subnets, security groups, ENIs).",
    fix=(
        "Give the execution role the EC2 VPC permissions from the HyperPod IAM prerequisites (describe "
        "subnets, security groups, VPCs and DHCP options; create, describe and delete network interfaces "
        "and their permissions), and check the subnet IDs exist in the cluster's VPC."
    ),
)
LIFECYCLE_SCRIPTS = KnownError(
    key="lifecycle-scripts",
    patterns=(r"Lifecycle scripts? did not run successfully", r"lifecycle (config|script)s? .*(fail|error)"),
    cause="A lifecycle script (on_create) failed on the node, or the node could not download it.",
    fix=(
        "Read the lifecycle log streams listed above (aws logs tail <log group> --follow), and check the "
        "execution role can read the scripts' S3 prefix (s3:GetObject, s3:ListBucket, and kms:Decrypt for "
        "an encrypted bucket)."
    ),
)
VPC_QUOTA = KnownError(
    key="vpc-quota",
    patterns=(r"VpcLimitExceeded", r"maximum number of VPCs"),
    cause="The region's VPC quota (5 per Region by default) is used up, so the stack could not create its VPC.",
    fix=(
        "Delete unused VPCs, or request an increase of 'VPCs per Region' (service-quotas, code L-F678F1CE), "
        "then redeploy."
    ),
)
NODE_CHURN = KnownError(
    key="node-churn",
    patterns=(),
    cause="Nodes are stuck in Pending or cycle through ShuttingDown: HyperPod keeps replacing nodes that "
    "never become healthy.",
    fix=(
        "Check in order: capacity/quota for the type (preflight), deep health check results in the node "
        "messages, subnet free IPs and routes to the EKS endpoint, the execution role's HYPERPOD_LINUX access "
        "entry, and that the HyperPod Helm chart is installed."
    ),
)
EKS_ADDONS = KnownError(
    key="eks-addons",
    patterns=(),
    cause="EKS add-ons HyperPod nodes rely on are missing or not ACTIVE.",
    fix="aws eks create-addon --cluster-name <eks-cluster> --addon-name <name> (or repair the DEGRADED one).",
)
ACCESS_ENTRY = KnownError(
    key="access-entry",
    patterns=(),
    cause="The execution role has no HYPERPOD_LINUX access entry, so nodes cannot join the EKS cluster.",
    fix=(
        "HyperPod creates it at cluster creation; if it was removed: aws eks create-access-entry "
        "--cluster-name <eks-cluster> --principal-arn <execution role> --type HYPERPOD_LINUX."
    ),
)

# The training operator guide's troubleshooting rows (seed 000, "Troubleshooting"; AWS's install page
# https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-eks-operator-install.html). Patterns match
# what add-on health issues, pod events and job conditions say; `verify` reports them as rows too.
OPERATOR_AMI = KnownError(
    key="operator-ami",
    patterns=(r"(incompatible|unsupported|outdated) (HyperPod )?AMI", r"AMI .*(not (supported|compatible)|too old)"),
    cause="The nodes run a HyperPod AMI older than the training operator supports.",
    fix=(
        "Update the nodes to the latest HyperPod AMI: hyperpod-cdk nodes update-software <cluster> "
        "(the UpdateClusterSoftware API), then reinstall or repair the training operator add-on."
    ),
)
TASK_GOVERNANCE_VERSION = KnownError(
    key="task-governance-version",
    patterns=(r"task ?governance.*(v1\.[0-2]\.\d|version)",),
    cause="Task governance is older than v1.3.0-eksbuild.1, which the training operator needs.",
    fix=(
        "Upgrade the amazon-sagemaker-hyperpod-taskgovernance add-on to v1.3.0-eksbuild.1 or newer (remove "
        "kubernetes.addons.task_governance.version, or raise it, and redeploy)."
    ),
)
OPERATOR_POD_IDENTITY = KnownError(
    key="operator-pod-identity",
    patterns=(r"pod ?identity", r"AssumeRoleForPodIdentity", r"eks-auth"),
    cause="The training operator cannot get AWS credentials: its EKS Pod Identity association, the "
    "eks-pod-identity-agent add-on or the role's permissions are missing.",
    fix=(
        "Check: aws eks list-pod-identity-associations --cluster-name <eks-cluster> --namespace aws-hyperpod "
        "shows hp-training-operator-controller-manager with a role that has "
        "AmazonSageMakerHyperPodTrainingOperatorAccess; "
        "eks-pod-identity-agent is ACTIVE; in a private VPC the eks-auth and sagemaker.api endpoints exist."
    ),
)
ELASTIC_AGENT_MISSING = KnownError(
    key="elastic-agent-missing",
    patterns=(
        r"hyperpodrun.*(not found|no such file)",
        r"executable file not found.*hyperpodrun",
        r"No module named '?hyperpod_elastic_agent",
    ),
    cause="The job's image has no HyperPod elastic agent, so its pods cannot start the hyperpodrun launcher.",
    fix=(
        "Build the image with `pip install hyperpod-elastic-agent` (images/fsdp/Dockerfile does; make image) and "
        "start training with command [hyperpodrun] instead of torchrun."
    ),
)
OPERATOR_LOGS = KnownError(
    key="operator-logs",
    patterns=(r"log_dir", r"/tmp/hyperpod"),
    cause="Log monitoring sees nothing: the training logs are not on stdout or not under /tmp/hyperpod.",
    fix=(
        "Print progress to sys.stdout and run hyperpodrun with --tee=3 --log_dir=/tmp/hyperpod (the dist/ jobs "
        "do); a log rule's pattern must match a line the job actually prints."
    ),
)
CERT_MANAGER_MISSING = KnownError(
    key="cert-manager-missing",
    patterns=(r"cert-manager", r"webhook .*(refused|timeout|no endpoints)"),
    cause="The training operator's webhooks need cert-manager, which is missing or not ready.",
    fix=(
        "Install the cert-manager add-on before the training operator (kubernetes.addons.cert_manager.enabled: "
        "true) and check kubectl -n cert-manager get pods shows the webhook Running."
    ),
)

MESSAGE_PATTERNS: tuple[KnownError, ...] = (
    INSUFFICIENT_CAPACITY,
    CONFIG_MAP_AUTH,
    MISSING_DEPENDENCIES,
    SUBNETS_IAM,
    LIFECYCLE_SCRIPTS,
    VPC_QUOTA,
    OPERATOR_AMI,
    TASK_GOVERNANCE_VERSION,
    OPERATOR_POD_IDENTITY,
    ELASTIC_AGENT_MISSING,
    CERT_MANAGER_MISSING,
)

GENERIC_NEXT_STEPS: tuple[str, ...] = (
    "Run 'hyperpod-cdk preflight' against the config to recheck quotas, AZs, EKS auth mode and add-ons.",
    "Read the lifecycle script logs: aws logs tail {log_group} --follow",
    "Watch node status: hyperpod-cdk nodes list {cluster} (and kubectl get nodes once nodes join).",
    "Look for failed CreateCluster/UpdateCluster calls in CloudTrail, and at the CloudFormation stack events.",
)


def next_steps(cluster: str, log_group: str) -> list[str]:
    """The generic steps, always printed, filled in for one cluster."""
    return [step.format(cluster=cluster, log_group=log_group) for step in GENERIC_NEXT_STEPS]


def match_messages(texts: Iterable[tuple[str, str]]) -> list[tuple[KnownError, str]]:
    """(known error, evidence) for each known error any (source, text) pair matches, once each."""
    found: dict[str, tuple[KnownError, str]] = {}
    for source, text in texts:
        if not text:
            continue
        for known in MESSAGE_PATTERNS:
            if known.key not in found and known.matches(text):
                found[known.key] = (known, f"{source}: {text}")
    return list(found.values())
