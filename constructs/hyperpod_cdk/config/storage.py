"""The ``storage:`` section: FSx for Lustre created here or imported."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from hyperpod_cdk.config.base import SECURITY_GROUP_ID_PATTERN, Sha256, _Model
from hyperpod_cdk.config.kubernetes import ADDON_VERSION_PATTERN
from hyperpod_cdk.specs.fsx import (
    DEFAULT_BACKUP_RETENTION_DAYS,
    DNS_NAME_PATTERN,
    FILE_SYSTEM_ID_PATTERN,
    MOUNT_NAME_PATTERN,
    check_capacity,
)


class FsxConfig(_Model):
    """FSx for Lustre mounted by every node (Slurm: at /fsx; EKS: a static ``fsx-claim`` volume).

    Created in this stack by default (PERSISTENT_2 SSD, in the default AZ's HyperPod subnet, with
    the HyperPod security group, KMS-encrypted, retained on stack delete), or imported when
    ``file_system_id``, ``dns_name`` and ``mount_name`` are given (then nothing is created).
    """

    storage_capacity_gib: int = Field(
        default=1200, description="1200, 2400, then steps of 2400 GiB (what FSx accepts for PERSISTENT_2 SSD)."
    )
    per_unit_storage_throughput: Literal[125, 250, 500, 1000] = Field(
        default=250, description="MB/s per TiB of storage."
    )
    data_compression_type: Literal["NONE", "LZ4"] = "LZ4"
    file_system_type_version: Literal["2.12", "2.15"] = "2.15"
    automatic_backup_retention_days: Annotated[int, Field(ge=0, le=90)] = Field(
        default=DEFAULT_BACKUP_RETENTION_DAYS,
        description="Daily automatic backups kept this many days (0-90); 0 turns them off. Default 7: a deleted "
        "file can be restored from a backup (into a new file system).",
    )
    retain_on_delete: bool = Field(
        default=True,
        description="DeletionPolicy/UpdateReplacePolicy Retain on the file system and its key; false deletes "
        "them with the stack (and on replacement).",
    )
    file_system_id: Annotated[str | None, Field(pattern=FILE_SYSTEM_ID_PATTERN)] = Field(
        default=None, description="Import an existing file system instead of creating one (with dns_name, mount_name)."
    )
    dns_name: Annotated[str | None, Field(pattern=DNS_NAME_PATTERN)] = None
    mount_name: Annotated[str | None, Field(pattern=MOUNT_NAME_PATTERN)] = None
    security_group_ids: list[Annotated[str, Field(pattern=SECURITY_GROUP_ID_PATTERN)]] = Field(
        default=[],
        max_length=50,  # FSx CreateFileSystem: SecurityGroupIds, at most 50
        description="Imported file system only: its security groups. The platform opens Lustre (TCP 988 and "
        "1018-1023) on them to its nodes, before the cluster is created. The file system must be in the "
        "platform's VPC (network.existing).",
    )
    csi_driver_version: Annotated[str | None, Field(pattern=ADDON_VERSION_PATTERN)] = Field(
        default=None, description="EKS only: version of the aws-fsx-csi-driver add-on; None lets EKS pick."
    )
    efa_client_sha256: Sha256 | None = Field(
        default=None,
        description="sha256 of the FSx user guide's configure-efa-fsx-lustre-client.zip, which nodes with EFA "
        "download and run as root to put Lustre on EFA. The guide publishes it at an unversioned URL without a "
        "checksum, so nodes run it only when you pin the digest of the zip you reviewed; without it Lustre uses TCP.",
    )

    @field_validator("storage_capacity_gib")
    @classmethod
    def _capacity_step(cls, value: int) -> int:
        return check_capacity(value)

    @model_validator(mode="after")
    def _create_or_import(self) -> FsxConfig:
        imported = {"file_system_id": self.file_system_id, "dns_name": self.dns_name, "mount_name": self.mount_name}
        given = [key for key, value in imported.items() if value is not None]
        if given and len(given) != len(imported):
            missing = next(key for key in imported if key not in given)
            raise ValueError(
                f"{missing}: importing a file system needs file_system_id, dns_name and mount_name together"
            )
        if len(set(self.security_group_ids)) != len(self.security_group_ids):
            raise ValueError("security_group_ids: list each group once (EC2 refuses the same rule twice)")
        if self.security_group_ids and not given:
            raise ValueError(
                "security_group_ids: only for an imported file system (file_system_id); one created here uses "
                "the node security group"
            )
        if given:
            create_only = (
                "storage_capacity_gib",
                "per_unit_storage_throughput",
                "data_compression_type",
                "file_system_type_version",
                "automatic_backup_retention_days",
                "retain_on_delete",
            )
            for key in create_only:
                if key in self.model_fields_set:
                    raise ValueError(
                        f"{key}: only for a file system created here; the imported {self.file_system_id} "
                        "keeps its own settings"
                    )
        return self

    @property
    def imported(self) -> bool:
        return self.file_system_id is not None


class StorageConfig(_Model):
    """Shared storage for the cluster."""

    fsx: FsxConfig | None = Field(default=None, description="FSx for Lustre; omit for none.")
