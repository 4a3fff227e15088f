"""VPC endpoint policies of a closed network: what may leave the VPC through each endpoint.

Without a policy AWS attaches the default one, full access for any principal to any resource of the
service in any account (https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-access.html).
A pod holding another account's keys could then copy data out of the "no internet" VPC through S3,
STS, CloudWatch Logs and so on. The policies below are a data perimeter in the shape of AWS's own
examples (aws-samples/data-perimeter-policy-examples, ``vpc_endpoint_policies/``), with this
account in place of an organization:

- S3 gateway: buckets of this account (``s3:ResourceAccount``), plus the AWS-owned buckets nodes and
  in-VPC functions need, each with its source below, plus requests AWS services sign themselves.
- Interface endpoints: principals of this account (``aws:PrincipalAccount``) or resources of this
  account (``aws:ResourceAccount``), plus AWS service principals; STS also lets web identities (IAM
  roles for service accounts) assume this account's roles. Only another account's principal acting
  on another account's resource is refused, which is the exfiltration path.

Deploy correctness comes first: a service whose callers inside the VPC are not all known, or whose
support for endpoint policies no primary source settles, keeps the default policy and is listed in
:data:`DEFAULT_POLICY_SERVICES` with the reason (docs/security-posture.md, review round 8).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, Fn

# Services whose interface endpoint gets the account perimeter. Every caller in the VPC signs with a
# role of this account: nodes (the HyperPod execution role: VPC CNI, kubelet image pulls, agents),
# pods (Pod Identity / IRSA roles) and the in-VPC handlers (their own roles; ``eks``, ``sts``).
# Endpoint-policy support, per service page:
# - EC2: https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/interface-vpc-endpoints.html ("Create an endpoint policy");
# - ECR: https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html ("create a single IAM resource
#   policy and attach it to both of the Amazon ECR VPC endpoints");
# - EKS: https://docs.aws.amazon.com/eks/latest/userguide/vpc-interface-endpoints.html ("use VPC endpoint policies");
# - SageMaker API: https://docs.aws.amazon.com/sagemaker/latest/dg/interface-vpc-endpoint.html;
# - CloudWatch Logs: https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/cloudwatch-logs-and-interface-VPC.html;
# - CloudWatch: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-interface-VPC.html;
# - AMP: https://docs.aws.amazon.com/prometheus/latest/userguide/AMP-and-interface-VPC.html;
# - STS: AWS's data-perimeter example vpc_endpoint_policies/sts_endpoint_policy.json.
PERIMETER_SERVICES = frozenset(
    {"ec2", "ecr.api", "ecr.dkr", "sts", "logs", "monitoring", "sagemaker.api", "eks", "aps-workspaces"}
)

#: Interface endpoints that keep AWS's default policy, and why (the documented residual).
DEFAULT_POLICY_SERVICES: dict[str, str] = {
    "ssm": "HyperPod registers its nodes with Systems Manager as sagemaker-cluster targets; which principal "
    "the node's SSM agent signs with is not documented, and a wrong guess cuts off `hyperpod-cdk ssh`",
    "ssmmessages": "same as ssm (Session Manager data channels of the node's agent)",
    "ec2messages": "same as ssm (Run Command messages of the node's agent)",
    "eks-auth": "no primary source says the EKS Auth endpoint accepts an endpoint policy; a policy it "
    "refuses would fail the deploy",
    "grafana-workspace": "browser and API traffic to a workspace URL is not signed by an IAM principal of "
    "this account, so an account condition would lock users out of Grafana",
}


def full_access_policy() -> dict[str, Any]:
    """AWS's default endpoint policy (any principal, any action, any resource), written out.

    ``network.endpoint_policies: aws_default`` writes it rather than dropping ``PolicyDocument``: on an
    existing endpoint, removing the property may leave the old policy in place (AWS's CloudFormation
    coverage roadmap, aws-cloudformation/cloudformation-coverage-roadmap#2527, reports this type keeping
    a removed property's value), and then the escape hatch would not open anything.
    https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-access.html ("Default endpoint policy")
    """
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}],
    }


def _account_condition(key: str) -> dict[str, Any]:
    return {"StringEquals": {key: Aws.ACCOUNT_ID}}


def _allow(sid: str, condition: dict[str, Any], *, principal: Any = "*", action: Any = "*") -> dict[str, Any]:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": principal,
        "Action": action,
        "Resource": "*",
        "Condition": condition,
    }


def _service_principals() -> dict[str, Any]:
    # AWS services rarely sign from a VPC, but some do (for example CloudFormation's presigned
    # response URLs); AWS's examples keep this statement in every endpoint policy.
    return _allow("AllowAwsServicePrincipals", {"Bool": {"aws:PrincipalIsAWSService": "true"}})


def interface_endpoint_policy(service: str) -> dict[str, Any] | None:
    """The platform's endpoint policy for ``service`` (``ecr.api``), or None where the default policy
    stays (:data:`DEFAULT_POLICY_SERVICES`, and services the platform does not create: use
    :func:`account_perimeter_policy` for an endpoint you add yourself)."""
    if service not in PERIMETER_SERVICES:
        return None
    return account_perimeter_policy(service)


def account_perimeter_policy(service: str) -> dict[str, Any]:
    """The account perimeter for an interface endpoint of ``service``: requests by this account's
    principals, to this account's resources, or by AWS services (STS: also web identities to this
    account's roles). For endpoints you add yourself (``sqs``, ``kms``...), if every caller in the
    VPC signs with a role of this account: check the service's page supports endpoint policies."""
    statements = [
        _allow("AllowThisAccountsPrincipals", _account_condition("aws:PrincipalAccount")),
        _allow("AllowRequestsToThisAccountsResources", _account_condition("aws:ResourceAccount")),
        _service_principals(),
    ]
    if service == "sts":
        # IAM roles for service accounts: AssumeRoleWithWebIdentity is not signed by an IAM principal.
        # AWS's STS example admits federated principals to the perimeter's roles the same way.
        statements.append(
            {
                "Sid": "AllowWebIdentitiesToThisAccountsRoles",
                "Effect": "Allow",
                "Principal": {"Federated": "*"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Resource": "*",
                "Condition": _account_condition("aws:ResourceAccount"),
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def _bucket_objects(name: str) -> str:
    return f"arn:{Aws.PARTITION}:s3:::{name}/*"


def aws_owned_bucket_reads() -> list[str]:
    """Object ARNs of the AWS-owned buckets nodes read from, with the region filled in."""
    region = Aws.REGION
    return [
        # ECR image layers: ECR answers a pull with a presigned URL into this bucket
        # (https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html#ecr-minimum-s3-perms).
        _bucket_objects(f"prod-{region}-starport-layer-bucket"),
        # Amazon Linux 2023 and Amazon Linux 2 package repositories (dnf/yum on a node)
        # (https://docs.aws.amazon.com/linux/al2023/ug/live-patching.html,
        # https://docs.aws.amazon.com/linux/al2/ug/al2-live-patching.html).
        _bucket_objects(f"al2023-repos-{region}-de612dc2"),
        _bucket_objects(f"al2023-{region}"),
        _bucket_objects(f"amazonlinux.{region}.amazonaws.com"),
        _bucket_objects(f"amazonlinux-2-repos-{region}"),
        _bucket_objects(f"packages.{region}.amazonaws.com"),
        _bucket_objects(f"repo.{region}.amazonaws.com"),
        # SSM Agent updates, documents and plugins
        # (https://docs.aws.amazon.com/systems-manager/latest/userguide/ssm-agent-minimum-s3-permissions.html).
        _bucket_objects(f"aws-ssm-{region}"),
        _bucket_objects(f"amazon-ssm-{region}"),
        _bucket_objects(f"amazon-ssm-packages-{region}"),
        _bucket_objects(f"{region}-birdwatcher-prod"),
        _bucket_objects(f"aws-ssm-document-attachments-{region}"),
        _bucket_objects(f"aws-ssm-distributor-file-{region}"),
        _bucket_objects(f"patch-baseline-snapshot-{region}"),
    ]


def cloudformation_response_buckets() -> list[str]:
    """Where in-VPC custom-resource handlers PUT their answer (CloudFormation's presigned ResponseURL).

    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cfn-vpce-bucketnames.html: the
    custom-resource bucket name carries the region without dashes (``uswest2``).
    """
    region_without_dashes = Fn.join("", Fn.split("-", Aws.REGION))
    return [
        _bucket_objects(f"cloudformation-custom-resource-response-{region_without_dashes}"),
        _bucket_objects(f"cloudformation-waitcondition-{Aws.REGION}"),
    ]


def s3_gateway_policy() -> dict[str, Any]:
    """The closed network's S3 gateway endpoint policy (see the module docstring)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            # s3:ResourceAccount is meant for exactly this: "write simple IAM or VPCE policies to
            # restrict access to S3 buckets owned by specified AWS accounts"
            # (https://aws.amazon.com/about-aws/whats-new/2020/12/new-iam-condition-keys-amazon-s3-limit-requests-buckets-owned-specific-aws-accounts-specific-tls-versions/).
            _allow("AllowThisAccountsBuckets", _account_condition("s3:ResourceAccount")),
            {
                "Sid": "AllowReadsOfAwsOwnedBuckets",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": aws_owned_bucket_reads(),
            },
            {
                "Sid": "AllowCloudFormationResponses",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": cloudformation_response_buckets(),
            },
            _service_principals(),
        ],
    }
