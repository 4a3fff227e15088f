"""EksAccessTunnel: a way from a laptop to a private EKS endpoint without opening it to the internet.

AWS documents three ways to reach a private-only endpoint: a connected network, a bastion host in
the VPC, or a machine inside it (https://docs.aws.amazon.com/eks/latest/userguide/cluster-endpoint.html,
"Accessing a private only API server"). This is the bastion, without SSH and without inbound
rules: Session Manager port forwarding to a remote host
(``AWS-StartPortForwardingSessionToRemoteHost``,
https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-sessions-start.html#sessions-remote-port-forwarding)
carries kubectl's TLS stream from ``127.0.0.1:<port>`` on the laptop to the endpoint's private
ENIs; the SSM agent opens the connection outbound, so the instance needs no open port and no
public IP. ``hyperpod-cdk kubeconfig`` finds it by the tag :data:`TUNNEL_TAG` and starts the session.

Cost (us-west-2, on-demand, December 2026 price list): t4g.nano 0.0042 USD/hour (about 3.07 USD a
month) plus an 8 GiB gp3 root volume (0.64 USD a month). Session Manager itself has no charge for
sessions to EC2 instances (https://aws.amazon.com/systems-manager/pricing/). In a closed network
the ssm, ssmmessages and ec2messages interface endpoints the platform already creates carry the
session, so nothing else is added.
"""

from __future__ import annotations

from typing import Unpack

from aws_cdk import Annotations, Tags
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from hyperpod_cdk._cdk_util import closed_security_group, service_role
from hyperpod_cdk.errors import typed_props
from hyperpod_cdk.network.placement import VpcPlacementProps
from hyperpod_cdk.rules.acknowledge import acknowledge
from hyperpod_cdk.rules.suppress import skip_checkov

__all__ = ["TUNNEL_TAG", "EksAccessTunnel"]

#: Tag key on the tunnel instance; its value is the EKS cluster name (``hyperpod-cdk kubeconfig`` filters on it).
TUNNEL_TAG = "hyperpod-cdk:access-tunnel"
# The SSM agent comes preinstalled on Amazon Linux 2023 AMIs:
# https://docs.aws.amazon.com/systems-manager/latest/userguide/ami-preinstalled-agent.html
SSM_POLICY = "AmazonSSMManagedInstanceCore"
INSTANCE_TYPE = "t4g.nano"
ROOT_VOLUME_GIB = 8
HTTPS = 443


@typed_props
class EksAccessTunnel(Construct):
    """A t4g.nano Amazon Linux 2023 instance that Session Manager forwards kubectl through.

    - No inbound rule, no public IP, no SSH key; IMDSv2 only; encrypted root volume.
    - Outbound: HTTPS only, to ``0.0.0.0/0`` (SSM's public endpoints through the NAT gateway) or,
      with ``internet_egress=False`` (a closed network), to ``vpc_cidr`` where the interface
      endpoints and the EKS endpoint ENIs are.
    - The security group on the EKS control-plane ENIs gets one ingress rule: HTTPS from this
      instance's group.
    - Role: only ``AmazonSSMManagedInstanceCore``; the instance makes no EKS call. Who may
      open a session is decided by IAM on ``ssm:StartSession`` for the caller; kubectl then
      authenticates as the caller, not as the instance. Grant ``ssm:StartSession`` on this instance
      only together with the ``AWS-StartPortForwardingSessionToRemoteHost`` document and, in every
      statement that allows it, ``"Condition": {"BoolIfExists": {"ssm:SessionDocumentAccessCheck":
      "true"}}``: otherwise a caller can open a shell session (``ssm-user`` with sudo) on a host
      whose group reaches 443 on every node (docs/cli.md has the policy;
      https://docs.aws.amazon.com/systems-manager/latest/userguide/getting-started-sessiondocumentaccesscheck.html).

    The AMI is the latest AL2023 arm64 image from its public SSM parameter, read at deploy time
    (no synth lookup); a deploy after a new AMI replaces the instance, which holds no state.

    Args:
        vpc, subnets: :class:`~hyperpod_cdk.network.placement.VpcPlacementProps`; the instance runs in the
            first subnet (give the control-plane subnets).
        endpoint_security_group: the group on the EKS control-plane ENIs.
        cluster_name: the EKS cluster name, written to the :data:`TUNNEL_TAG` tag.
        vpc_cidr: the VPC's CIDR (HTTPS egress in a closed network).
        internet_egress: Default True (HTTPS to anywhere, through NAT).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_security_group: ec2.ISecurityGroup,
        cluster_name: str,
        vpc_cidr: str,
        internet_egress: bool = True,
        **placement: Unpack[VpcPlacementProps],
    ) -> None:
        vpc, subnets = placement["vpc"], placement["subnets"]
        super().__init__(scope, construct_id)
        self.security_group = closed_security_group(
            self, vpc, f"EKS access tunnel of {cluster_name}: no inbound, HTTPS out only"
        )
        egress = ec2.Peer.any_ipv4() if internet_egress else ec2.Peer.ipv4(vpc_cidr)
        self.security_group.add_egress_rule(
            egress, ec2.Port.tcp(HTTPS), "HTTPS to SSM and the EKS endpoint (Session Manager port forwarding)"
        )
        # A separate resource: the endpoint group's own rules stay untouched.
        self.endpoint_ingress = ec2.CfnSecurityGroupIngress(
            self,
            "EndpointIngress",
            group_id=endpoint_security_group.security_group_id,
            source_security_group_id=self.security_group.security_group_id,
            ip_protocol="tcp",
            from_port=HTTPS,
            to_port=HTTPS,
            description="kubectl through the EKS access tunnel",
        )
        self.role = service_role(
            self,
            service="ec2.amazonaws.com",
            managed_policy=SSM_POLICY,
            description=f"EKS access tunnel of {cluster_name}: SSM agent only",
            why_managed_policy="AmazonSSMManagedInstanceCore is the policy AWS documents for the SSM agent; it is "
            "the only permission the tunnel instance has",
        )
        # The subnet decides the AZ; ec2.Instance would read it from the subnet object, which an
        # imported subnet (network.existing) does not know. So the instance gets a stand-in with a
        # placeholder AZ and the property is removed from the template below.
        subnet = ec2.Subnet.from_subnet_attributes(
            self, "Subnet", subnet_id=subnets[0].subnet_id, availability_zone="set-by-subnet"
        )
        Annotations.of(subnet).acknowledge_warning(
            "@aws-cdk/aws-ec2:noSubnetRouteTableId",
            "a stand-in for the instance's subnet only; nothing routes through it",
        )
        self.instance = ec2.Instance(
            self,
            "Instance",
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnets=[subnet]),
            instance_type=ec2.InstanceType(INSTANCE_TYPE),
            machine_image=ec2.MachineImage.latest_amazon_linux2023(cpu_type=ec2.AmazonLinuxCpuType.ARM_64),
            security_group=self.security_group,
            role=self.role,
            require_imdsv2=True,
            associate_public_ip_address=False,
            ebs_optimized=True,
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/xvda",
                    volume=ec2.BlockDeviceVolume.ebs(
                        ROOT_VOLUME_GIB,
                        encrypted=True,
                        volume_type=ec2.EbsDeviceVolumeType.GP3,
                        delete_on_termination=True,
                    ),
                )
            ],
        )
        cfn_instance = self.instance.node.default_child
        assert isinstance(cfn_instance, ec2.CfnInstance)
        cfn_instance.add_property_deletion_override("AvailabilityZone")
        Tags.of(self.instance).add(TUNNEL_TAG, cluster_name)
        acknowledge(
            self.instance,
            "AwsSolutions-EC28",
            "a one-process port-forwarding host: basic monitoring is enough and detailed monitoring costs more "
            "than the instance",
        )
        acknowledge(
            self.instance,
            "AwsSolutions-EC29",
            "the tunnel holds no data and is meant to be replaced (new AMI, stack delete); termination "
            "protection would block the stack's delete",
        )
        skip_checkov(self.instance, "CKV_AWS_126", "basic monitoring is enough for a port-forwarding host")

    @property
    def instance_id(self) -> str:
        return self.instance.instance_id
