"""HyperPodFsxLustre: the shared FSx for Lustre file system HyperPod nodes mount at /fsx."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import jsii
from aws_cdk import RemovalPolicy, Stack, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_fsx as fsx
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from hyperpod_cdk.config.messages import pattern_message
from hyperpod_cdk.errors import HyperPodConfigError, checked_props, prop_error, typed_props
from hyperpod_cdk.specs.fsx import (
    DEFAULT_BACKUP_RETENTION_DAYS,
    DNS_NAME_PATTERN,
    FILE_SYSTEM_ID_PATTERN,
    MOUNT_NAME_PATTERN,
    check_capacity,
    check_compression,
    check_throughput,
)

DEPLOYMENT_TYPE = "PERSISTENT_2"
DEFAULT_LUSTRE_VERSION = "2.15"


@dataclass(frozen=True)
class LustreMount:
    """What a client needs to mount a Lustre file system: ``mount -t lustre <dns>@tcp:/<mount> /fsx``.

    Values may be CloudFormation tokens (a file system created in the same stack).
    """

    file_system_id: str
    dns_name: str
    mount_name: str


class IHyperPodFileSystem(ec2.IConnectable, Protocol):
    """A Lustre file system HyperPod nodes mount: created (:class:`HyperPodFsxLustre`) or imported
    (:class:`ImportedFsxLustre`). It is an ``ec2.IConnectable`` (its groups, default port 988), so
    ``client.connections.allow_to_default_port(file_system, ...)`` opens LNet to it."""

    @property
    def mount(self) -> LustreMount:
        """``file_system_id``, ``dns_name`` and ``mount_name`` together."""
        ...

    @property
    def file_system_id(self) -> str: ...

    @property
    def dns_name(self) -> str: ...

    @property
    def mount_name(self) -> str: ...

    @property
    def imported(self) -> bool:
        """True when the file system was created outside this app."""
        ...

    def file_system_arn(self) -> str:
        """The file system's ARN (for IAM)."""
        ...

    def grant_describe(self, grantee: iam.IGrantable) -> iam.Grant:
        """``fsx:DescribeFileSystems`` for ``grantee`` (the EFA Lustre client check needs it)."""
        ...


# FSx authorizes DescribeFileSystems on "*" only: it has no resource type in the service authorization
# reference (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonfsx.html).
_DESCRIBE_ACTIONS = ["fsx:DescribeFileSystems"]


def _lustre_connections(security_groups: Sequence[ec2.ISecurityGroup]) -> ec2.Connections:
    # LNet listens on 988; the servers also use 1018-1023, which the node group's own rules cover.
    # https://docs.aws.amazon.com/fsx/latest/LustreGuide/limit-access-security-groups.html
    return ec2.Connections(security_groups=list(security_groups), default_port=ec2.Port.tcp(988))


class LustreFileSystemBase(Construct):
    """What a created (:class:`HyperPodFsxLustre`) and an imported (:class:`ImportedFsxLustre`) file
    system share: the mount attributes, the ARN and the grants.

    Subclasses call :meth:`_set_mount` and set :attr:`kms_key` and :attr:`storage_capacity_gib`.
    """

    #: ``file_system_id``, ``dns_name`` and ``mount_name`` together.
    mount: LustreMount
    file_system_id: str
    dns_name: str
    mount_name: str
    #: The ``AWS::FSx::FileSystem``, or None when imported.
    resource: fsx.CfnFileSystem | None
    #: True when the file system was created outside this app.
    imported: bool
    kms_key: kms.IKey | None

    def _set_mount(self, mount: LustreMount, resource: fsx.CfnFileSystem | None) -> None:
        """:attr:`mount` and :attr:`resource`, and the attributes read from them."""
        self.mount, self.resource, self.imported = mount, resource, resource is None
        self.file_system_id, self.dns_name, self.mount_name = mount.file_system_id, mount.dns_name, mount.mount_name

    def file_system_arn(self) -> str:
        """ARN of the file system (for IAM): the resource's, or built from the imported id in this
        stack's partition, region and account."""
        if self.resource is not None:
            return self.resource.attr_resource_arn
        return Stack.of(self).format_arn(service="fsx", resource="file-system", resource_name=self.file_system_id)

    def grant_describe(self, grantee: iam.IGrantable) -> iam.Grant:
        """``fsx:DescribeFileSystems`` for ``grantee`` (FSx authorizes it on ``*`` only)."""
        return iam.Grant.add_to_principal(grantee=grantee, actions=_DESCRIBE_ACTIONS, resource_arns=["*"])


@jsii.implements(ec2.IConnectable)
@typed_props
class HyperPodFsxLustre(LustreFileSystemBase):
    """A PERSISTENT_2 FSx for Lustre file system next to the HyperPod nodes, or an imported one.

    Created (``storage_capacity_gib`` given):

    - ``AWS::FSx::FileSystem`` of type LUSTRE, deployment PERSISTENT_2 (SSD), Lustre 2.15, in
      ``subnet`` (the HyperPod subnet of the default AZ: Lustre traffic stays in the AZ) with
      ``security_group`` (the HyperPod node group, which already allows 988 and 1018-1023 from
      itself, so nodes and file servers reach each other without new rules).
    - Encrypted with a customer managed KMS key (a new rotating, retained key unless ``kms_key``).
    - ``DeletionPolicy`` and ``UpdateReplacePolicy`` Retain by default: checkpoints and datasets
      outlive the stack; delete the file system yourself when it is no longer needed.
    - Capacity, throughput and compression are checked at synth against what FSx accepts
      (:mod:`hyperpod_cdk.specs.fsx`).

    Imported (:meth:`from_attributes`): no resource is created; the same three attributes are
    exposed, so everything downstream (CSI volumes, Slurm mounts) works the same way.

    Attributes: :attr:`file_system_id`, :attr:`dns_name`, :attr:`mount_name`, :attr:`mount`,
    :attr:`resource` (None when imported), :attr:`kms_key` (None when imported), and
    :attr:`connections` (an ``ec2.IConnectable``: its security groups, default port Lustre's 988).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        subnet: ec2.ISubnet,
        security_group: ec2.ISecurityGroup,
        storage_capacity_gib: int = 1200,
        per_unit_storage_throughput: int = 250,
        data_compression_type: str = "LZ4",
        file_system_type_version: str = DEFAULT_LUSTRE_VERSION,
        automatic_backup_retention_days: int = DEFAULT_BACKUP_RETENTION_DAYS,
        kms_key: kms.IKey | None = None,
        retain: bool = True,
        field_prefix: str = "storage.fsx",
    ) -> None:
        with checked_props(scope, construct_id):
            check_capacity(storage_capacity_gib, f"{field_prefix}.storage_capacity_gib")
            check_throughput(per_unit_storage_throughput, f"{field_prefix}.per_unit_storage_throughput")
            check_compression(data_compression_type, f"{field_prefix}.data_compression_type")
            if not 0 <= automatic_backup_retention_days <= 90:
                raise HyperPodConfigError(
                    f"{field_prefix}.automatic_backup_retention_days",
                    f"must be 0 (off) to 90 days, got {automatic_backup_retention_days}",
                )
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY
        self.kms_key: kms.IKey | None = kms_key or kms.Key(
            self,
            "Key",
            description=f"FSx for Lustre file system of {Stack.of(self).stack_name}",
            enable_key_rotation=True,
            removal_policy=removal,
        )
        self.storage_capacity_gib = storage_capacity_gib
        self._connections = _lustre_connections([security_group])
        resource = fsx.CfnFileSystem(
            self,
            "Resource",
            file_system_type="LUSTRE",
            file_system_type_version=file_system_type_version,
            storage_type="SSD",
            storage_capacity=storage_capacity_gib,
            subnet_ids=[subnet.subnet_id],
            security_group_ids=[security_group.security_group_id],
            kms_key_id=self.kms_key.key_id,
            lustre_configuration=fsx.CfnFileSystem.LustreConfigurationProperty(
                deployment_type=DEPLOYMENT_TYPE,
                per_unit_storage_throughput=per_unit_storage_throughput,
                data_compression_type=data_compression_type,
                automatic_backup_retention_days=automatic_backup_retention_days,
                # No CopyTagsToBackups: CloudFormation replaces the file system to change it (a file
                # system deployed without it would be replaced by an upgrade that sets it).
            ),
        )
        # DeletionPolicy and UpdateReplacePolicy: a replacement (new subnet, key or deployment
        # type) must never silently drop the old file system with the data on it.
        resource.apply_removal_policy(removal)
        self._set_mount(
            LustreMount(
                file_system_id=resource.ref,
                dns_name=resource.attr_dns_name,
                mount_name=resource.attr_lustre_mount_name,
            ),
            resource,
        )

    @classmethod
    def from_attributes(
        cls,
        scope: Construct,
        construct_id: str,
        *,
        file_system_id: str,
        dns_name: str,
        mount_name: str,
        security_groups: Sequence[ec2.ISecurityGroup] = (),
        field_prefix: str = "storage.fsx",
    ) -> ImportedFsxLustre:
        """An existing file system (created elsewhere, reachable from the HyperPod subnet and group).

        ``security_groups``: the file system's groups, for :attr:`connections` (default none: then
        ``connections`` is an error, since a rule to no group would silently allow nothing).
        """
        for field, value, pattern in (
            ("file_system_id", file_system_id, FILE_SYSTEM_ID_PATTERN),
            ("dns_name", dns_name, DNS_NAME_PATTERN),
            ("mount_name", mount_name, MOUNT_NAME_PATTERN),
        ):
            if not Token.is_unresolved(value) and not re.fullmatch(pattern, value):
                raise prop_error(scope, construct_id, f"{field_prefix}.{field}", pattern_message(value, pattern))
        return ImportedFsxLustre(
            scope,
            construct_id,
            mount=LustreMount(file_system_id, dns_name, mount_name),
            security_groups=security_groups,
        )

    @property
    def connections(self) -> ec2.Connections:
        """``ec2.IConnectable``: the file system's security group, default port 988 (LNet).

        A property, because jsii shows JavaScript properties only: aws-cdk-lib's own
        ``Connections.allow_from(file_system, ...)`` reads it from JavaScript.
        """
        return self._connections


@jsii.implements(ec2.IConnectable)
class ImportedFsxLustre(LustreFileSystemBase):
    """A Lustre file system created outside this app (:meth:`HyperPodFsxLustre.from_attributes`).

    Creates nothing; :attr:`resource`, :attr:`kms_key` and :attr:`storage_capacity_gib` are None.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        mount: LustreMount,
        security_groups: Sequence[ec2.ISecurityGroup] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self._set_mount(mount, None)
        self.kms_key: kms.IKey | None = None
        self.storage_capacity_gib: int | None = None
        self._connections = _lustre_connections(security_groups) if security_groups else None

    @property
    def connections(self) -> ec2.Connections:
        """``ec2.IConnectable``: the security groups given at import, default port 988 (LNet)."""
        if self._connections is None:
            raise HyperPodConfigError(
                "security_groups",
                "imported without its security groups; pass security_groups= to HyperPodFsxLustre.from_attributes "
                "to connect to it",
                construct_path=self.node.path,
            )
        return self._connections
