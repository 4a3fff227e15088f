"""HyperPodEndpoints: the interface VPC endpoints a closed (internet-less) HyperPod network needs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Unpack

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import custom_resources as cr
from constructs import Construct

from hyperpod_cdk._cdk_util import closed_security_group
from hyperpod_cdk._handler_functions import retained_log_group
from hyperpod_cdk.config import PlatformConfig
from hyperpod_cdk.config.kubernetes_checks import GRAFANA_REGIONS
from hyperpod_cdk.errors import prop_error, typed_props
from hyperpod_cdk.network.endpoint_policies import full_access_policy, interface_endpoint_policy
from hyperpod_cdk.network.placement import VpcPlacementProps
from hyperpod_cdk.rules.acknowledge import acknowledge, acknowledge_managed_policies, acknowledge_wildcards
from hyperpod_cdk.rules.suppress import skip_handler_checks

# Why each service, with its source:
# - ec2: the VPC CNI plugin assigns pod IPs through EC2 (awsome-distributed-ai Terraform
#   modules/vpc_endpoints/main.tf, "CRITICAL - AWS CNI plugin needs this"; EKS private clusters
#   guide https://docs.aws.amazon.com/eks/latest/userguide/private-clusters.html).
# - ecr.api, ecr.dkr: image pulls; the layers come from S3 through the gateway endpoint (same guide).
# - sts: IAM roles for service accounts and regional STS (same guide).
# - logs, monitoring: CloudWatch Logs and metrics from nodes and agents (same guide; awsome).
# - ssm, ssmmessages, ec2messages: SSM agent sessions to the nodes (awsome closed-network example).
# - sagemaker.api, eks-auth: "in a private VPC you must add PrivateLink endpoints" for the HyperPod
#   training operator; eks-auth is EKS Pod Identity
#   (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-eks-operator-install.html).
# - eks: the in-VPC handlers (manifests, Helm installer, readiness) call eks:DescribeCluster.
# - no lambda: the in-VPC functions call eks, sts and s3 only, and the readiness provider framework
#   (which invokes Lambda) runs outside the VPC (review round 8, R8P-M1).
# - aps-workspaces, grafana-workspace: the observability add-on writes to AMP; AWS's observability
#   templates add both endpoints (grafana-workspace only where Amazon Managed Grafana exists).
COMMON_SERVICES = (
    "ec2",
    "ecr.api",
    "ecr.dkr",
    "sts",
    "logs",
    "monitoring",
    "ssm",
    "ssmmessages",
    "ec2messages",
    "sagemaker.api",
)
EKS_SERVICES = ("eks", "eks-auth")
OBSERVABILITY_SERVICES = ("aps-workspaces",)
# grafana-workspace only where Amazon Managed Grafana exists: GRAFANA_REGIONS, the list the config
# checks use (config/kubernetes_checks.py, from aws/sagemaker-hyperpod-cluster-setup AMGRegionMapping).


def closed_network_services(config: PlatformConfig) -> tuple[str, ...]:
    """The interface endpoint services a closed network needs for this config (S3 is a gateway)."""
    services = list(COMMON_SERVICES)
    if config.orchestrator == "eks":
        services += EKS_SERVICES
        if config.kubernetes.addons.observability.enabled:
            services += OBSERVABILITY_SERVICES
            if config.region in GRAFANA_REGIONS:
                services.append("grafana-workspace")
    return tuple(services)


def _endpoint_id(service: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[.-]", service)) + "Endpoint"


@typed_props
class HyperPodEndpoints(Construct):
    """Interface VPC endpoints with private DNS, one security group allowing HTTPS from the VPC.

    - One ``AWS::EC2::VPCEndpoint`` (Interface, ``PrivateDnsEnabled``) per service in
      ``subnets`` (one per AZ). Private DNS needs the VPC's DNS support and hostnames, which CDK's
      ``Vpc`` turns on. Nothing else changes for clients: the regional service names resolve to
      the endpoints' addresses.
    - A security group with TCP 443 ingress from every CIDR in ``client_cidrs`` (the primary and
      the secondary HyperPod CIDR: HyperPod nodes live in the secondary one) and no egress.
    - :attr:`s3_prefix_list_id`: the id of the regional S3 managed prefix list, read at deploy
      time (``ec2:DescribeManagedPrefixLists``; synth does no lookups), so security groups that
      allow no internet egress can still allow HTTPS to the S3 gateway endpoint.
    - An endpoint policy on each service in
      :data:`~hyperpod_cdk.network.endpoint_policies.PERIMETER_SERVICES`: requests by this account's
      principals or to this account's resources only (the others keep AWS's default policy; see
      :data:`~hyperpod_cdk.network.endpoint_policies.DEFAULT_POLICY_SERVICES`).

    Args:
        vpc, subnets: :class:`~hyperpod_cdk.network.placement.VpcPlacementProps`; the endpoint interfaces go
            in the subnets (at most one per AZ).
        client_cidrs: CIDRs allowed to connect (443).
        services: endpoint service names (``ecr.api``); see :func:`closed_network_services`.
        endpoint_perimeter: the account-perimeter policy on the services that take one; False writes
            AWS's full-access policy out on those. Default True.
        log_key: KMS key for the log group of the S3 prefix-list lookup (retained, one year), made when
            :attr:`s3_prefix_list_id` is first read. Default: a new logs key.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        client_cidrs: Sequence[str],
        services: Sequence[str],
        endpoint_perimeter: bool = True,
        log_key: kms.IKey | None = None,
        **placement: Unpack[VpcPlacementProps],
    ) -> None:
        vpc, subnets = placement["vpc"], placement["subnets"]
        if not client_cidrs:
            raise prop_error(scope, construct_id, "client_cidrs", "give the VPC CIDRs allowed to use the endpoints")
        if len(set(services)) != len(services):
            raise prop_error(scope, construct_id, "services", "list each service once")
        super().__init__(scope, construct_id)
        self.security_group = closed_security_group(self, vpc, "Interface VPC endpoints: HTTPS from the VPC CIDRs")
        for cidr in client_cidrs:
            self.security_group.add_ingress_rule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(443), f"HTTPS from {cidr}")
        self.endpoints: dict[str, ec2.InterfaceVpcEndpoint] = {}
        for service in services:
            self.endpoints[service] = ec2.InterfaceVpcEndpoint(
                self,
                _endpoint_id(service),
                vpc=vpc,
                service=ec2.InterfaceVpcEndpointAwsService(service),
                subnets=ec2.SubnetSelection(subnets=list(subnets)),
                security_groups=[self.security_group],
                private_dns_enabled=True,
                # Not "open": that would allow only the primary CIDR; the rules above cover both.
                open=False,
            )
            policy = interface_endpoint_policy(service)
            if policy is not None and not endpoint_perimeter:
                policy = full_access_policy()  # written out: see full_access_policy
            if policy is not None:
                endpoint_resource = self.endpoints[service].node.default_child
                assert isinstance(endpoint_resource, ec2.CfnVPCEndpoint)
                endpoint_resource.policy_document = policy
        self._prefix_list: cr.AwsCustomResource | None = None
        self._log_key = log_key

    @property
    def s3_prefix_list_id(self) -> str:
        """``pl-...`` of ``com.amazonaws.<region>.s3`` (a deploy-time lookup, created on first use)."""
        if self._prefix_list is None:
            name = f"com.amazonaws.{Stack.of(self).region}.s3"
            call = cr.AwsSdkCall(
                service="EC2",
                action="describeManagedPrefixLists",
                parameters={"Filters": [{"Name": "prefix-list-name", "Values": [name]}]},
                physical_resource_id=cr.PhysicalResourceId.of(name),
                output_paths=["PrefixLists.0.PrefixListId"],
            )
            # aws-cdk-lib's singleton function logs to a retained, encrypted group of ours, not to Lambda's
            # default group with no retention and no key (review round 19, R19P-L2).
            _, log_group = retained_log_group(
                self,
                "S3PrefixListLogs",
                "s3-prefix-list-lookup",
                description="HyperPod closed network: S3 prefix-list lookup logs",
                key=self._log_key,
            )
            self._prefix_list = cr.AwsCustomResource(
                self,
                "S3PrefixList",
                on_create=call,
                on_update=call,
                log_group=log_group,
                policy=cr.AwsCustomResourcePolicy.from_sdk_calls(resources=cr.AwsCustomResourcePolicy.ANY_RESOURCE),
                install_latest_aws_sdk=False,
            )
            self._acknowledge_lookup(self._prefix_list)
        return self._prefix_list.get_response_field("PrefixLists.0.PrefixListId")

    def _acknowledge_lookup(self, lookup: cr.AwsCustomResource) -> None:
        acknowledge_wildcards(
            lookup,
            "ec2:DescribeManagedPrefixLists has no resource-level permissions (it reads which "
            "addresses the regional S3 prefix list holds); the role can do nothing else",
            resources=["*"],
        )
        # The function is a stack-wide singleton aws-cdk-lib creates for every AwsCustomResource.
        singleton = Stack.of(self).node.try_find_child("AWS679f53fac002430cb0da5b7982bd2287")
        if singleton is None:
            return
        acknowledge_managed_policies(
            singleton,
            "aws-cdk-lib's AwsCustomResource function uses the AWS managed Lambda basic execution policy "
            "for its own CloudWatch Logs; its role is internal to aws-cdk-lib",
        )
        acknowledge(
            singleton,
            "AwsSolutions-L1",
            "aws-cdk-lib pins the runtime of its AwsCustomResource function; it moves with aws-cdk-lib",
        )
        skip_handler_checks(
            singleton,
            outside_vpc_reason="it calls the public EC2 API once per deployment to read the S3 prefix list id; "
            "it reaches nothing inside the VPC, which has no internet route",
        )

    @classmethod
    def for_config(
        cls,
        scope: Construct,
        construct_id: str,
        config: PlatformConfig,
        *,
        vpc: ec2.IVpc,
        subnets: Sequence[ec2.ISubnet],
        log_key: kms.IKey | None = None,
    ) -> HyperPodEndpoints:
        net = config.network
        cidrs = [str(net.vpc_cidr)]
        if net.hyperpod_cidr_is_secondary:
            cidrs.append(str(net.hyperpod_cidr))
        return cls(
            scope,
            construct_id,
            vpc=vpc,
            subnets=subnets,
            client_cidrs=cidrs,
            services=closed_network_services(config),
            endpoint_perimeter=net.endpoint_policies == "account",
            log_key=log_key,
        )
