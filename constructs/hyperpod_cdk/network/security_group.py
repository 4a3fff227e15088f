"""HyperPodSecurityGroup: EFA- and FSx-ready security group for HyperPod nodes."""

from __future__ import annotations

from typing import Any

import jsii
from aws_cdk import (
    Aspects,
    CfnDeletionPolicy,
    CfnResource,
    IAspect,
    Reference,
    RemovalPolicy,
    Stack,
    Token,
    Tokenization,
)
from aws_cdk import aws_ec2 as ec2
from constructs import Construct, IConstruct

from hyperpod_cdk._cdk_util import closed_security_group
from hyperpod_cdk.errors import typed_props

# FSx for Lustre client traffic: LNet on 988, and 1018-1023 for the Lustre servers.
# https://docs.aws.amazon.com/fsx/latest/LustreGuide/limit-access-security-groups.html
LUSTRE_PORTS = ((988, 988), (1018, 1023))


@jsii.implements(ec2.IConnectable)
@typed_props
class HyperPodSecurityGroup(Construct):
    """A security group whose members can talk to each other freely.

    EFA requires an all-traffic rule **to and from the group itself** in both directions
    (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/efa-start.html#efa-start-security).
    Every rule is a separate ``AWS::EC2::SecurityGroupIngress``/``Egress`` resource: a
    self-reference inside the group's own inline rules is the circular dependency that breaks
    hand-written CloudFormation. The group itself only carries CDK's "disallow all" egress
    placeholder, which keeps EC2 from adding its implicit allow-all egress rule, so the rules
    below are the complete, explicit rule set.

    The same group is attached to the EKS control-plane ENIs, so nodes reach the API server
    and the API server reaches kubelets through the self-referencing rules.

    Args:
        vpc: the VPC.
        allow_internet_egress: all outbound traffic to 0.0.0.0/0 (through NAT). Default True:
            nodes pull images and reach AWS APIs without interface endpoints. False in a closed
            network, which adds :meth:`allow_https_egress` rules for its endpoints instead.
        security_group: an existing group to add the rules to instead of creating one.

    Use :attr:`security_group` (or :attr:`connections`, this is an ``ec2.IConnectable``) wherever an
    ``ISecurityGroup`` is needed; :meth:`allow_eks_control_plane` connects the group to the
    security group of an EKS cluster it was not attached to (an existing cluster).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        allow_internet_egress: bool = True,
        security_group: ec2.ISecurityGroup | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = security_group or closed_security_group(
            self, vpc, "SageMaker HyperPod nodes and EKS control plane (EFA, FSx for Lustre)", "Group"
        )
        group_id = self.security_group.security_group_id

        ec2.CfnSecurityGroupIngress(
            self,
            "SelfIngressAll",
            group_id=group_id,
            ip_protocol="-1",
            source_security_group_id=group_id,
            description="EFA and node-to-node traffic within the group",
        )
        ec2.CfnSecurityGroupEgress(
            self,
            "SelfEgressAll",
            group_id=group_id,
            ip_protocol="-1",
            destination_security_group_id=group_id,
            description="EFA requires egress to the group itself",
        )
        for low, high in LUSTRE_PORTS:
            ec2.CfnSecurityGroupIngress(
                self,
                f"Lustre{low}",
                group_id=group_id,
                ip_protocol="tcp",
                from_port=low,
                to_port=high,
                source_security_group_id=group_id,
                description=f"FSx for Lustre {low}-{high} from the group",
            )
        if allow_internet_egress:
            ec2.CfnSecurityGroupEgress(
                self,
                "InternetEgress",
                group_id=group_id,
                ip_protocol="-1",
                cidr_ip="0.0.0.0/0",
                description="Outbound through NAT: images, AWS APIs, package mirrors",
            )

        self._connections = ec2.Connections(security_groups=[self.security_group])

    def allow_https_egress(
        self, construct_id: str, *, description: str, cidr: str | None = None, prefix_list_id: str | None = None
    ) -> ec2.CfnSecurityGroupEgress:
        """TCP 443 out to one CIDR or managed prefix list: a closed network's way to its VPC
        endpoints (the VPC CIDRs) and the S3 gateway endpoint (the S3 prefix list), instead of
        ``allow_internet_egress``."""
        if (cidr is None) == (prefix_list_id is None):
            raise ValueError("give exactly one of cidr and prefix_list_id")
        return ec2.CfnSecurityGroupEgress(
            self,
            construct_id,
            group_id=self.security_group_id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ip=cidr,
            destination_prefix_list_id=prefix_list_id,
            description=description,
        )

    @property
    def connections(self) -> ec2.Connections:
        """``ec2.IConnectable``: a property, because jsii shows JavaScript properties only (an
        instance attribute is invisible to aws-cdk-lib's own ``Connections`` calls)."""
        return self._connections

    def retain(self) -> list[CfnResource]:
        """Keep the group on stack delete with every rule of it (``DeletionPolicy: Retain``).

        The rules are separate ``SecurityGroupIngress``/``Egress`` resources; CloudFormation would
        delete them with the stack and leave a retained file system in a group without its self
        and Lustre rules, which nothing could reach. Rules added later (a user's
        ``platform.connections.allow_from(...)`` lands under this construct too) are covered: an
        aspect marks them at synth. Except one kind: a rule whose peer is a security group the
        stack deletes (a user's bastion) goes with the stack, because a kept rule naming it makes
        that group's delete fail (see :class:`_RetainRulesOfGroup`). ``UpdateReplacePolicy`` stays
        Delete: a rule replaced on update is still deleted, so no stale copy stays behind. Returns
        the group's own resource (None for a group given as ``security_group``, which this stack
        does not own).
        """
        retained: list[CfnResource] = []
        group = self.security_group.node.default_child
        if isinstance(group, CfnResource):
            group.apply_removal_policy(RemovalPolicy.RETAIN)
            retained.append(group)
        Aspects.of(self).add(_RetainRulesOfGroup(self.security_group))
        return retained

    @property
    def security_group_id(self) -> str:
        return self.security_group.security_group_id

    def allow_eks_control_plane(self, cluster_security_group: ec2.ISecurityGroup) -> None:
        """All traffic both ways between the nodes and an EKS cluster security group.

        Nodes call the API server (443) and the control plane calls kubelets (10250) and admission
        webhooks on any pod port, so the rules are not narrowed. Each direction is a separate
        ``SecurityGroupIngress`` resource owned here (no inline cross-references, no cycles). When
        the cluster is created with this group attached (HyperPodEksCluster), the self-referencing
        rules already cover it and this is not needed.
        """
        cluster_group_id = cluster_security_group.security_group_id
        ec2.CfnSecurityGroupIngress(
            self,
            "FromEksControlPlane",
            group_id=self.security_group_id,
            ip_protocol="-1",
            source_security_group_id=cluster_group_id,
            description="EKS control plane to HyperPod nodes",
        )
        ec2.CfnSecurityGroupIngress(
            self,
            "ToEksControlPlane",
            group_id=cluster_group_id,
            ip_protocol="-1",
            source_security_group_id=self.security_group_id,
            description="HyperPod nodes to the EKS control plane",
        )


# Resource types whose delete takes the peer id with it: a security group, the cluster security group EKS
# creates and deletes with an AWS::EKS::Cluster (ClusterSecurityGroupId; review round 18, L1), a prefix list.
_GROUP = ("AWS::EC2::SecurityGroup", "AWS::EKS::Cluster")
_PREFIX_LIST = ("AWS::EC2::PrefixList",)


@jsii.implements(IAspect)
class _RetainRulesOfGroup:
    """At synth: ``DeletionPolicy: Retain`` on the ingress and egress rules of one security group
    that can outlive the stack.

    A retained FSx for Lustre file system in the group needs the rules between the group and
    itself: inbound TCP 988 and 1018-1023 from the group, and outbound to it
    (https://docs.aws.amazon.com/fsx/latest/LustreGuide/limit-access-security-groups.html). Their
    peer is the retained group, so they are kept. Rules to a CIDR, or to a prefix list or group this
    app does not create (an imported ``sg-``/``pl-`` id, a parameter, an AWS-managed list) are kept too:
    a user's clients may reach the file system through them after the stack is gone.

    Not kept: a rule whose peer is a security group or managed prefix list this app creates and deletes
    (a user's ``bastion.connections.allow_to(platform, ...)``; review round 16, M3, for prefix lists).
    A kept rule would leave that group referenced, and "If you attempt to delete a security group
    that is ... referenced by another security group in the same VPC ... the operation fails with DependencyViolation"
    (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteSecurityGroup.html), so
    ``cdk destroy`` would end in DELETE_FAILED. That peer is gone after the delete anyway.
    """

    RULE_TYPES = ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress")
    KEPT_ON_DELETE = (CfnDeletionPolicy.RETAIN, CfnDeletionPolicy.RETAIN_EXCEPT_ON_CREATE)

    def __init__(self, group: ec2.ISecurityGroup) -> None:
        self._group = group

    def visit(self, node: IConstruct) -> None:
        if not CfnResource.is_cfn_resource(node):
            return
        resource: Any = node
        if resource.cfn_resource_type not in self.RULE_TYPES:
            return
        stack = Stack.of(resource)
        if stack.resolve(resource.group_id) != stack.resolve(self._group.security_group_id):
            return
        if self._peer_is_deleted(resource):
            return
        resource.cfn_options.deletion_policy = CfnDeletionPolicy.RETAIN
        # Stated, not left out: a rule an update replaces is deleted (no stale copy in the group).
        resource.cfn_options.update_replace_policy = CfnDeletionPolicy.DELETE

    @classmethod
    def _peer_is_deleted(cls, rule: Any) -> bool:
        """True when the rule's peer is a security group or a managed prefix list of this app that is not kept
        on delete: EC2 refuses to delete either while a kept rule still names it (review round 16, M3;
        https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteManagedPrefixList.html)."""
        ingress = rule.cfn_resource_type == cls.RULE_TYPES[0]
        if ingress:
            peers = ((rule.source_security_group_id, _GROUP), (rule.source_prefix_list_id, _PREFIX_LIST))
        else:
            peers = ((rule.destination_security_group_id, _GROUP), (rule.destination_prefix_list_id, _PREFIX_LIST))
        return any(cls._deleted_resource(peer, kinds) for peer, kinds in peers)

    @classmethod
    def _deleted_resource(cls, peer: Any, kinds: tuple[str, ...]) -> bool:
        """True when ``peer`` refers to a resource of type ``kind`` this app creates and deletes. Any other
        source of the id (a literal, a parameter, a lookup such as the custom resource that finds AWS's S3
        prefix list: review round 17, L1) is something the stack's delete does not touch."""
        if not isinstance(peer, str) or not Token.is_unresolved(peer):
            return False  # no such peer, or a literal id: something this app does not own
        token = Tokenization.reverse_string(peer).first_token
        if not isinstance(token, Reference) or not CfnResource.is_cfn_resource(token.target):
            return False
        target: Any = token.target
        return target.cfn_resource_type in kinds and target.cfn_options.deletion_policy not in cls.KEPT_ON_DELETE
