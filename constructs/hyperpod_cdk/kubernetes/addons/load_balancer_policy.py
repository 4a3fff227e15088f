"""IAM statements of the AWS Load Balancer Controller that the inference add-on bundles.

Transcribed action by action from the controller's published policy
(kubernetes-sigs/aws-load-balancer-controller, docs/install/iam_policy.json, the form that tags
with ``elbv2.k8s.aws/cluster``), including the actions later releases added: security groups per
VPC (``ec2:GetSecurityGroupsForVpc``, which ELBv2's CreateLoadBalancer needs), IPAM pools, route
tables, capacity reservations, IP pools and rule priorities. The inference add-on's chart bundles
controller chart 1.13.2 (= v2.13, per aws/sagemaker-hyperpod-cli helm_chart/HyperPodHelmChart/
charts/inference-operator/Chart.yaml). Load balancer and target group ARNs are narrowed to this
account and region. Where the controller needs ``*`` (describe calls, creating things whose ARN
does not exist yet), the published conditions on the controller's own tag keep most of it to
resources it created; not all: like the published policy, ``ec2:AuthorizeSecurityGroupIngress`` /
``RevokeSecurityGroupIngress`` and the ELBv2 listener and rule actions stay unconditioned on ``*``,
so this role can open any security group of the account. That is the controller's documented need
(it edits the node security groups), and the acknowledgment on the role says so.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

CLUSTER_TAG = "elbv2.k8s.aws/cluster"

DESCRIBE_ACTIONS = (
    "ec2:DescribeAccountAttributes",
    "ec2:DescribeAddresses",
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeInternetGateways",
    "ec2:DescribeVpcs",
    "ec2:DescribeVpcPeeringConnections",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeInstances",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeTags",
    "ec2:GetCoipPoolUsage",
    "ec2:DescribeCoipPools",
    "ec2:GetSecurityGroupsForVpc",
    "ec2:DescribeIpamPools",
    "ec2:DescribeRouteTables",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeListenerCertificates",
    "elasticloadbalancing:DescribeSSLPolicies",
    "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetGroupAttributes",
    "elasticloadbalancing:DescribeTargetHealth",
    "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeTrustStores",
    "elasticloadbalancing:DescribeListenerAttributes",
    "elasticloadbalancing:DescribeCapacityReservation",
)
INTEGRATION_ACTIONS = (
    "cognito-idp:DescribeUserPoolClient",
    "acm:ListCertificates",
    "acm:DescribeCertificate",
    "iam:ListServerCertificates",
    "iam:GetServerCertificate",
    "waf-regional:GetWebACL",
    "waf-regional:GetWebACLForResource",
    "waf-regional:AssociateWebACL",
    "waf-regional:DisassociateWebACL",
    "wafv2:GetWebACL",
    "wafv2:GetWebACLForResource",
    "wafv2:AssociateWebACL",
    "wafv2:DisassociateWebACL",
    "shield:GetSubscriptionState",
    "shield:DescribeProtection",
    "shield:CreateProtection",
    "shield:DeleteProtection",
)
OWNED_LB_ACTIONS = (
    "elasticloadbalancing:ModifyLoadBalancerAttributes",
    "elasticloadbalancing:SetIpAddressType",
    "elasticloadbalancing:SetSecurityGroups",
    "elasticloadbalancing:SetSubnets",
    "elasticloadbalancing:DeleteLoadBalancer",
    "elasticloadbalancing:ModifyTargetGroup",
    "elasticloadbalancing:ModifyTargetGroupAttributes",
    "elasticloadbalancing:DeleteTargetGroup",
    "elasticloadbalancing:ModifyListenerAttributes",
    "elasticloadbalancing:ModifyCapacityReservation",
    "elasticloadbalancing:ModifyIpPools",
)
LISTENER_ACTIONS = (
    "elasticloadbalancing:SetWebAcl",
    "elasticloadbalancing:ModifyListener",
    "elasticloadbalancing:AddListenerCertificates",
    "elasticloadbalancing:RemoveListenerCertificates",
    "elasticloadbalancing:ModifyRule",
    "elasticloadbalancing:SetRulePriorities",
)


def elb_arns(scope: Construct) -> dict[str, list[str]]:
    """Target group, load balancer and listener(-rule) ARN patterns in this account and region."""
    stack = Stack.of(scope)
    prefix = f"arn:{stack.partition}:elasticloadbalancing:{stack.region}:{stack.account}"
    ec2_prefix = f"arn:{stack.partition}:ec2:{stack.region}:{stack.account}"
    return {
        "balancers": [f"{prefix}:targetgroup/*/*", f"{prefix}:loadbalancer/net/*/*", f"{prefix}:loadbalancer/app/*/*"],
        "listeners": [
            f"{prefix}:listener/net/*/*/*",
            f"{prefix}:listener/app/*/*/*",
            f"{prefix}:listener-rule/net/*/*/*",
            f"{prefix}:listener-rule/app/*/*/*",
        ],
        "target_groups": [f"{prefix}:targetgroup/*/*"],
        "security_groups": [f"{ec2_prefix}:security-group/*"],
    }


def load_balancer_controller_statements(scope: Construct) -> list[iam.PolicyStatement]:
    """The controller's statements, in the published order."""
    arns = elb_arns(scope)
    request_tag = f"aws:RequestTag/{CLUSTER_TAG}"
    resource_tag = f"aws:ResourceTag/{CLUSTER_TAG}"
    return [
        iam.PolicyStatement(
            actions=["iam:CreateServiceLinkedRole"],
            resources=["*"],
            conditions={"StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}},
        ),
        iam.PolicyStatement(actions=list(DESCRIBE_ACTIONS), resources=["*"]),
        iam.PolicyStatement(actions=list(INTEGRATION_ACTIONS), resources=["*"]),
        iam.PolicyStatement(
            actions=["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"], resources=["*"]
        ),
        iam.PolicyStatement(actions=["ec2:CreateSecurityGroup"], resources=["*"]),
        iam.PolicyStatement(
            actions=["ec2:CreateTags"],
            resources=arns["security_groups"],
            conditions={"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}, "Null": {request_tag: "false"}},
        ),
        iam.PolicyStatement(
            actions=["ec2:CreateTags", "ec2:DeleteTags"],
            resources=arns["security_groups"],
            conditions={"Null": {request_tag: "true", resource_tag: "false"}},
        ),
        iam.PolicyStatement(
            actions=["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:DeleteSecurityGroup"],
            resources=["*"],
            conditions={"Null": {resource_tag: "false"}},
        ),
        iam.PolicyStatement(
            actions=["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"],
            resources=["*"],
            conditions={"Null": {request_tag: "false"}},
        ),
        iam.PolicyStatement(
            actions=[
                "elasticloadbalancing:CreateListener",
                "elasticloadbalancing:DeleteListener",
                "elasticloadbalancing:CreateRule",
                "elasticloadbalancing:DeleteRule",
            ],
            resources=["*"],
        ),
        iam.PolicyStatement(
            actions=["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"],
            resources=arns["balancers"],
            conditions={"Null": {request_tag: "true", resource_tag: "false"}},
        ),
        iam.PolicyStatement(
            actions=["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"],
            resources=arns["listeners"],
        ),
        iam.PolicyStatement(
            actions=list(OWNED_LB_ACTIONS),
            resources=["*"],
            conditions={"Null": {resource_tag: "false"}},
        ),
        iam.PolicyStatement(
            actions=["elasticloadbalancing:AddTags"],
            resources=arns["balancers"],
            conditions={
                "StringEquals": {"elasticloadbalancing:CreateAction": ["CreateTargetGroup", "CreateLoadBalancer"]},
                "Null": {request_tag: "false"},
            },
        ),
        iam.PolicyStatement(
            actions=["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
            resources=arns["target_groups"],
        ),
        iam.PolicyStatement(actions=list(LISTENER_ACTIONS), resources=["*"]),
    ]


def wildcard_resources(scope: Construct) -> list[str]:
    """Every wildcard resource the statements use (for the cdk-nag acknowledgment)."""
    arns = elb_arns(scope)
    return ["*", *arns["balancers"], *arns["listeners"], *arns["security_groups"]]
