"""What both HyperPod cluster constructs share: the ``IHyperPodCluster`` interface, grants, importers.

aws-cdk's pattern (``ClusterBase`` in aws-eks-v2 ``cluster.ts``, ``BucketBase`` in aws-s3): one abstract
base holds the grants and the attributes, the created cluster and the imported one both extend it.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, Required, TypedDict, runtime_checkable

from aws_cdk import ArnFormat, IResource, Resource, Stack, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct, IConstruct

from hyperpod_cdk._cdk_util import depend_on
from hyperpod_cdk.cluster.instance_groups import (
    DEFAULT_IP_HEADROOM_PERCENT,
    acknowledge_region_offerings,
    as_instance_group,
    check_cluster_props,
    check_deploy_inputs,
    cluster_tags,
    instance_group_property,
)
from hyperpod_cdk.config import InstanceGroup
from hyperpod_cdk.errors import checked_props, prop_error
from hyperpod_cdk.lifecycle.lifecycle_scripts import HyperPodLifecycleScripts
from hyperpod_cdk.specs.instance_types import Orchestrator

# Read-only calls on one cluster (the ``hyperpod-cdk`` status and diagnose commands need these).
# All take the cluster as their resource: "Actions, resources, and condition keys for Amazon SageMaker
# AI", resource type ``cluster``, https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html
DESCRIBE_ACTIONS: tuple[str, ...] = (
    "sagemaker:DescribeCluster",
    "sagemaker:ListClusterNodes",
    "sagemaker:DescribeClusterNode",
    "sagemaker:ListClusterEvents",
)
# Node operations an operator runs on a live cluster (docs/cli.md): soft reboot, hardware replacement,
# AMI updates and on-demand deep health checks.
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_BatchRebootClusterNodes.html
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_BatchReplaceClusterNodes.html
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateClusterSoftware.html
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_StartClusterHealthCheck.html
NODE_OPERATION_ACTIONS: tuple[str, ...] = (
    *DESCRIBE_ACTIONS,
    "sagemaker:BatchRebootClusterNodes",
    "sagemaker:BatchReplaceClusterNodes",
    "sagemaker:UpdateClusterSoftware",
    "sagemaker:StartClusterHealthCheck",
)
# A cluster name (CreateCluster ``ClusterName``) and the id at the end of its ARN (12 lowercase
# letters and digits, API_StartClusterHealthCheck "Pattern").
_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
_ARN = re.compile(r"arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:cluster/[a-z0-9]{12}")


@runtime_checkable
class IHyperPodCluster(IResource, Protocol):
    """A HyperPod cluster, created in this app or imported (an ``IResource``: it has ``env`` and ``stack``)."""

    @property
    def cluster_name(self) -> str:
        """The cluster's name."""
        ...

    @property
    def cluster_arn(self) -> str:
        """The cluster's ARN (``arn:aws:sagemaker:<region>:<account>:cluster/<12-character id>``)."""
        ...

    @property
    def orchestrator(self) -> str:
        """``"eks"`` or ``"slurm"``."""
        ...

    def grant(self, grantee: iam.IGrantable, *actions: str) -> iam.Grant:
        """Let ``grantee`` call ``actions`` on this cluster only."""
        ...

    def grant_describe(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` describe the cluster, its nodes and its events."""
        ...

    def grant_node_operations(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` describe, reboot, replace, update and health-check the cluster's nodes."""
        ...

    @classmethod
    def __subclasshook__(cls, other: type) -> bool:
        # Protocols with properties refuse issubclass(), which isinstance() reaches through jsii's
        # ABC metaclass: say "yes" by the members instead.
        members = ("cluster_arn", "cluster_name", "orchestrator", "grant_node_operations", "node", "env", "stack")
        return all(any(m in vars(base) for base in other.__mro__) for m in members) or NotImplemented


class HyperPodClusterBase(Resource):
    """Grants and attributes shared by :class:`HyperPodCluster`, :class:`HyperPodSlurmCluster` and imports.

    Subclasses set ``_cluster_arn``, ``_cluster_name`` and ``_orchestrator``, which the properties return.
    """

    _cluster_arn: str
    _cluster_name: str
    _orchestrator: str

    @property
    def cluster_arn(self) -> str:
        """The cluster's ARN (``Fn::GetAtt ClusterArn`` when this app creates the cluster)."""
        return self._cluster_arn

    @property
    def cluster_name(self) -> str:
        """The cluster's name (``Ref`` when this app creates the cluster)."""
        return self._cluster_name

    @property
    def orchestrator(self) -> str:
        """``"eks"`` or ``"slurm"``."""
        return self._orchestrator

    def grant(self, grantee: iam.IGrantable, *actions: str) -> iam.Grant:
        """Let ``grantee`` call ``actions`` (``sagemaker:...``) on this cluster's ARN only."""
        return iam.Grant.add_to_principal(grantee=grantee, actions=list(actions), resource_arns=[self.cluster_arn])

    def grant_describe(self, grantee: iam.IGrantable) -> iam.Grant:
        """DescribeCluster, ListClusterNodes, DescribeClusterNode and ListClusterEvents on this cluster."""
        return self.grant(grantee, *DESCRIBE_ACTIONS)

    def grant_node_operations(self, grantee: iam.IGrantable) -> iam.Grant:
        """What an operator needs on the nodes: describe, plus reboot, replace, software update and
        on-demand deep health checks, scoped to this cluster's ARN (``BatchDeleteClusterNodes`` is not
        included: scaling down goes through the instance groups; grant it with :meth:`grant`)."""
        return self.grant(grantee, *NODE_OPERATION_ACTIONS)


NodeRecovery = Literal["Automatic", "None"]


class SharedClusterProps(TypedDict, total=False):
    """The props both cluster constructs take (``**shared: Unpack[SharedClusterProps]``, PEP 692); the keys
    not required default to :data:`SHARED_CLUSTER_DEFAULTS`, else None. :meth:`CreatedHyperPodCluster._check_props`
    checks them.

    Keys:
        cluster_name: 1-63 letters, digits and hyphens. Required.
        instance_groups: :class:`InstanceGroup` models or mappings of their fields; more can be
            added with ``add_instance_group`` before synth. Required.
        subnets_by_az_id: HyperPod subnets keyed by AZ ID; groups pinned to an AZ other than
            ``default_az_id`` get an ``OverrideVpcConfig`` with that AZ's subnet. Required.
        default_az_id: the AZ ID of the cluster-level ``VpcConfig`` subnet. Required.
        security_group: HyperPod node security group. Required.
        execution_role: instance execution role (``iam.IRole``); the cluster waits for it and its
            policies. ``execution_role_arn`` is its deprecated string form. One of the two is required.
        lifecycle_scripts: the :class:`HyperPodLifecycleScripts` (their URI and entry script).
            ``lifecycle_source_s3_uri`` (``s3://bucket/prefix/``) is its deprecated string form. One of
            the two is required.
        volume_key: customer managed KMS key for the instance groups' EBS volumes (HyperPod accepts one
            in Continuous provisioning mode only; it cannot be changed later). Default: none (AWS owned key).
        on_create: entry script. Default: the scripts' ``on_create``, else ``on_create.sh``.
        node_recovery: ``"Automatic"`` (default) or ``"None"``.
        ip_headroom_percent: spare IPs each known subnet must keep above the nodes' (0-400), in the
            constructor and in ``add_instance_group``. Default 25 (``network.ip_headroom_percent``).
    """

    cluster_name: Required[str]
    instance_groups: Required[Sequence[InstanceGroup | Mapping[str, Any]]]
    subnets_by_az_id: Required[Mapping[str, ec2.ISubnet]]
    default_az_id: Required[str]
    security_group: Required[ec2.ISecurityGroup]
    execution_role: iam.IRole | None
    execution_role_arn: str | None
    lifecycle_scripts: HyperPodLifecycleScripts | None
    lifecycle_source_s3_uri: str | None
    volume_key: kms.IKey | None
    on_create: str | None
    node_recovery: NodeRecovery
    ip_headroom_percent: int


#: The defaults of :class:`SharedClusterProps` keys other than None.
SHARED_CLUSTER_DEFAULTS: Mapping[str, Any] = {
    "node_recovery": "Automatic",
    "ip_headroom_percent": DEFAULT_IP_HEADROOM_PERCENT,
}


@dataclass(frozen=True)
class CheckedClusterProps:
    """The props both cluster constructors share, checked (:meth:`CreatedHyperPodCluster._check_props`)."""

    orchestrator: Orchestrator
    cluster_name: str
    groups: list[InstanceGroup]
    subnets_by_az_id: Mapping[str, ec2.ISubnet]
    default_az_id: str
    security_group_ids: list[str]
    node_recovery: str
    ip_headroom_percent: int
    volume_key: kms.IKey | None
    deploy: DeployInputs

    def check_groups(self, scope: Construct, groups: list[InstanceGroup]) -> None:
        """:func:`check_cluster_props` for ``groups`` in this cluster: the constructor's, and with each one
        :meth:`CreatedHyperPodCluster.add_instance_group` adds."""
        check_cluster_props(
            scope,
            cluster_name=self.cluster_name,
            groups=groups,
            subnets_by_az_id=self.subnets_by_az_id,
            default_az_id=self.default_az_id,
            node_recovery=self.node_recovery,
            orchestrator=self.orchestrator,
            ip_headroom_percent=self.ip_headroom_percent,
        )

    def group_property(
        self, group: InstanceGroup, *, execution_role_arn: str | None = None, **orchestrator_props: Any
    ) -> sagemaker.CfnCluster.ClusterInstanceGroupProperty:
        """``group``'s ``InstanceGroups`` entry; ``execution_role_arn`` overrides the cluster's role."""
        return instance_group_property(
            group,
            default_az_id=self.default_az_id,
            subnets_by_az_id=self.subnets_by_az_id,
            security_group_ids=self.security_group_ids,
            execution_role_arn=execution_role_arn or self.deploy.execution_role_arn,
            lifecycle_source_s3_uri=self.deploy.lifecycle_source_s3_uri,
            on_create=self.deploy.on_create,
            volume_key=self.volume_key,
            kubernetes=self.orchestrator is Orchestrator.EKS,
            **orchestrator_props,
        )


class CreatedHyperPodCluster(HyperPodClusterBase):
    """A cluster this app creates (``AWS::SageMaker::Cluster`` as :attr:`resource`), EKS or Slurm.

    A subclass sets :attr:`ORCHESTRATOR`, checks its props with :meth:`_check_props` (given its constructor's
    ``locals()`` while they are still its arguments: the shared props are read by name) before it calls
    ``super().__init__``, and creates the resource with :meth:`_create_resource`, which keeps what
    :meth:`add_instance_group` needs to check and render a new group as the constructor did.
    """

    #: The orchestrator of the clusters this class creates and imports.
    ORCHESTRATOR: ClassVar[Orchestrator]
    #: (typed prop, its deprecated string form) pairs of the constructor, kept for one release:
    #: :meth:`_check_props` refuses both and warns about the string.
    DEPRECATED_FORMS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("execution_role", "execution_role_arn"),
        ("lifecycle_scripts", "lifecycle_source_s3_uri"),
    )
    resource: sagemaker.CfnCluster
    instance_groups: list[InstanceGroup]

    @classmethod
    def _check_props(
        cls, scope: Construct, construct_id: str, shared: SharedClusterProps, constructor_args: Mapping[str, Any]
    ) -> CheckedClusterProps:
        """The :class:`SharedClusterProps` given (``shared``) with their defaults, in the order they are checked
        (after the types: ``typed_props`` on the subclass): the :attr:`DEPRECATED_FORMS` (read from ``shared``
        and ``constructor_args``, the subclass constructor's ``locals()``), the deploy inputs, then the groups,
        names, AZs, region offerings and subnet sizes (:func:`check_cluster_props`). Each error is one line
        naming the prop."""
        args: dict[str, Any] = {**SHARED_CLUSTER_DEFAULTS, **shared}
        given = {**constructor_args, **args}
        execution_role, execution_role_arn = args.get("execution_role"), args.get("execution_role_arn")
        lifecycle_scripts, lifecycle_source_s3_uri = args.get("lifecycle_scripts"), args.get("lifecycle_source_s3_uri")
        on_create = args.get("on_create")
        deprecated_forms(
            scope,
            construct_id,
            cls.__name__,
            *((typed, given.get(typed), legacy, given.get(legacy)) for typed, legacy in cls.DEPRECATED_FORMS),
        )
        # With the typed props the cluster waits for the role (and its default policy: nodes use every
        # policy from their first boot); the scripts' URI already resolves only after their upload.
        waits: list[IConstruct] = []
        if execution_role is not None:
            execution_role_arn = execution_role.role_arn
            waits.append(execution_role)
        elif execution_role_arn is None:
            raise prop_error(scope, construct_id, "execution_role", "required")
        if lifecycle_scripts is not None:
            if not hasattr(lifecycle_scripts, "source_s3_uri"):
                raise prop_error(
                    scope,
                    construct_id,
                    "lifecycle_scripts",
                    f"expected HyperPodLifecycleScripts, got {type(lifecycle_scripts).__name__}",
                )
            lifecycle_source_s3_uri = lifecycle_scripts.source_s3_uri
            on_create = on_create or lifecycle_scripts.on_create
        elif lifecycle_source_s3_uri is None:
            raise prop_error(scope, construct_id, "lifecycle_scripts", "required")
        deploy = DeployInputs(execution_role_arn, lifecycle_source_s3_uri, on_create or "on_create.sh", tuple(waits))
        with checked_props(scope, construct_id):
            check_deploy_inputs(deploy.execution_role_arn, deploy.lifecycle_source_s3_uri)
            groups = [as_instance_group(g, f"instance_groups[{i}]") for i, g in enumerate(args["instance_groups"])]
            props = CheckedClusterProps(
                orchestrator=cls.ORCHESTRATOR,
                cluster_name=args["cluster_name"],
                groups=groups,
                subnets_by_az_id=args["subnets_by_az_id"],
                default_az_id=args["default_az_id"],
                security_group_ids=[args["security_group"].security_group_id],
                node_recovery=args["node_recovery"],
                ip_headroom_percent=args["ip_headroom_percent"],
                volume_key=args.get("volume_key"),
                deploy=deploy,
            )
            props.check_groups(scope, groups)
        return props

    def _create_resource(
        self,
        scope: Construct,
        construct_id: str,
        props: CheckedClusterProps,
        *,
        render: Callable[[InstanceGroup], sagemaker.CfnCluster.ClusterInstanceGroupProperty],
        check: Callable[[list[InstanceGroup]], None],
        tags: Mapping[str, str] | None,
        **orchestrator_props: Any,
    ) -> None:
        """Create :attr:`resource` (``Resource``) from the checked props, and keep ``render`` and ``check``
        (what the subclass adds to :func:`check_cluster_props`) for :meth:`add_instance_group`."""
        self._scope_check = (scope, construct_id)
        self._props = props
        self._render_group = render
        self._check_groups = check
        self.subnets_by_az_id = dict(props.subnets_by_az_id)
        self.default_az_id = props.default_az_id
        self.ip_headroom_percent = props.ip_headroom_percent
        self.instance_groups = props.groups
        self.resource = sagemaker.CfnCluster(
            self,
            "Resource",
            cluster_name=props.cluster_name,
            vpc_config=sagemaker.CfnCluster.VpcConfigProperty(
                security_group_ids=props.security_group_ids,
                subnets=[props.subnets_by_az_id[props.default_az_id].subnet_id],
            ),
            instance_groups=[render(g) for g in props.groups],
            node_recovery=props.node_recovery,
            tags=cluster_tags(tags),
            **orchestrator_props,
        )
        self._cluster_arn = self.resource.attr_cluster_arn
        self._cluster_name = self.resource.ref
        self._orchestrator = self.ORCHESTRATOR.value
        acknowledge_region_offerings(self.resource)
        # Nodes use every policy of the roles from their first boot: the cluster waits for them.
        self.wait_for(*props.deploy.wait_for)

    def wait_for(self, *dependencies: IConstruct) -> None:
        """Create the cluster only after ``dependencies`` (add-ons, Helm charts, the file system, ...) exist."""
        depend_on(self.resource, dependencies)

    def check_instance_group(self, group: InstanceGroup | Mapping[str, Any]) -> InstanceGroup:
        """The checks :meth:`add_instance_group` runs, without adding the group: it as an
        :class:`InstanceGroup`, or one line naming the field."""
        scope, construct_id = self._scope_check
        with checked_props(scope, construct_id):
            index = len(self.instance_groups)
            new = as_instance_group(group, f"instance_groups[{index}]")
            groups = [*self.instance_groups, new]
            self._props.check_groups(scope, groups)
            self._check_groups(groups)
        return new

    def add_instance_group(self, group: InstanceGroup | Mapping[str, Any]) -> InstanceGroup:
        """Add an instance group (before synth), with the same checks as the constructor."""
        new = self.check_instance_group(group)
        groups = [*self.instance_groups, new]
        self.instance_groups = groups
        self.resource.instance_groups = [self._render_group(g) for g in groups]
        return new

    @classmethod
    def from_cluster_arn(
        cls, scope: Construct, construct_id: str, cluster_arn: str, *, cluster_name: str
    ) -> IHyperPodCluster:
        """A cluster of this class's orchestrator created elsewhere, by ARN (``cluster/<12-character id>``)
        and name."""
        return cls.from_cluster_attributes(scope, construct_id, cluster_name=cluster_name, cluster_arn=cluster_arn)

    @classmethod
    def from_cluster_attributes(
        cls,
        scope: Construct,
        construct_id: str,
        *,
        cluster_name: str,
        cluster_arn: str | None = None,
        cluster_id: str | None = None,
    ) -> IHyperPodCluster:
        """A cluster of this class's orchestrator created elsewhere: its name and its ARN, or its name and id.

        A HyperPod ARN ends in the cluster's generated 12-character id, not its name, so a name alone does
        not give the ARN: pass the ARN (``aws sagemaker describe-cluster``), or the name with ``cluster_id``.
        An ARN that is not of that form is rejected (one line naming ``cluster_arn``).
        """

        def fail(prop: str, message: str) -> Exception:
            return prop_error(scope, construct_id, prop, message)

        name: str | None = cluster_name  # None from a caller that skips type checks
        if name is None:
            raise fail("cluster_name", "give the cluster's name (the ARN ends in its id, not its name)")
        if not Token.is_unresolved(name) and not _NAME.fullmatch(name):
            raise fail("cluster_name", f"'{name}' is not a HyperPod cluster name (1-63 letters, digits, hyphens)")
        if cluster_arn is None:
            if cluster_id is None:
                raise fail("cluster_arn", "give the cluster's ARN, or cluster_id (the 12 characters at its end)")
            if not Token.is_unresolved(cluster_id) and not re.fullmatch(r"[a-z0-9]{12}", cluster_id):
                raise fail(
                    "cluster_id", f"'{cluster_id}' is not a HyperPod cluster id (12 lowercase letters and digits)"
                )
            cluster_arn = Stack.of(scope).format_arn(
                service="sagemaker",
                resource="cluster",
                resource_name=cluster_id,
                arn_format=ArnFormat.SLASH_RESOURCE_NAME,
            )
        elif not Token.is_unresolved(cluster_arn) and not _ARN.fullmatch(cluster_arn):
            hint = (
                " (a HyperPod ARN ends in the cluster's id, not its name)" if cluster_arn.endswith(f"/{name}") else ""
            )
            raise fail(
                "cluster_arn",
                f"'{cluster_arn}' is not a HyperPod cluster ARN "
                f"arn:aws:sagemaker:<region>:<account>:cluster/<12-character id>{hint}",
            )
        return ImportedHyperPodCluster(
            scope, construct_id, cluster_name=name, cluster_arn=cluster_arn, orchestrator=cls.ORCHESTRATOR.value
        )


class ImportedHyperPodCluster(HyperPodClusterBase):
    """A HyperPod cluster created outside this app (``from_cluster_arn`` / ``from_cluster_attributes``)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, cluster_name: str, cluster_arn: str, orchestrator: str
    ) -> None:
        super().__init__(scope, construct_id, environment_from_arn=cluster_arn)
        self._cluster_name = cluster_name
        self._cluster_arn = cluster_arn
        self._orchestrator = orchestrator


@dataclass(frozen=True)
class DeployInputs:
    """The execution role, lifecycle scripts and their entry script, as ARNs/URIs, and what to wait for."""

    execution_role_arn: str
    lifecycle_source_s3_uri: str
    on_create: str
    wait_for: tuple[IConstruct, ...]


# Frames of this library and of jsii's runtime stand between a deprecated prop and the user's line.
_LIBRARY = str(Path(__file__).resolve().parent.parent)


def _user_stacklevel() -> int:
    """``warnings.warn``'s stacklevel, seen from its caller, of the first frame outside this library and jsii."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and (
        frame.f_code.co_filename.startswith(_LIBRARY + os.sep) or f"{os.sep}jsii{os.sep}" in frame.f_code.co_filename
    ):
        frame, level = frame.f_back, level + 1
    return level


def deprecated_forms(scope: Construct, construct_id: str, owner: str, *pairs: tuple[str, Any, str, Any]) -> None:
    """For each (typed prop, its value, deprecated string prop, its value): refuse both, and warn
    (``DeprecationWarning`` at the user's line, past the constructor, its checks and jsii) when the
    string form is given."""
    for typed, typed_value, legacy, legacy_value in pairs:
        if typed_value is not None and legacy_value is not None:
            raise prop_error(scope, construct_id, legacy, f"give {typed} or {legacy}, not both")
        if legacy_value is not None:
            warnings.warn(
                f"{owner}({legacy}=...) is deprecated and will be removed in the next release; pass {typed}=",
                DeprecationWarning,
                stacklevel=_user_stacklevel(),
            )
