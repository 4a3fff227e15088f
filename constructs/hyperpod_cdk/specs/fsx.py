"""What FSx for Lustre accepts for a PERSISTENT_2 SSD file system (pure data, no AWS calls).

The config model and the :class:`~hyperpod_cdk.storage.fsx_lustre.HyperPodFsxLustre` construct both check
values here, so a bad capacity fails the same way in ``hyperpod.yaml`` and in code that uses the
construct directly, before anything reaches CloudFormation (where it would fail after minutes).

Sources:

* Storage capacity, CreateFileSystem ``StorageCapacity``: "For SCRATCH_2, PERSISTENT_2, and
  PERSISTENT_1 deployment types using SSD storage type, the valid values are 1200 GiB, 2400 GiB,
  and increments of 2400 GiB."
  https://docs.aws.amazon.com/fsx/latest/APIReference/API_CreateFileSystem.html
  (the same text in the SDK reference:
  https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/fsx/aws.sdk.kotlin.services.fsx.model/-create-file-system-request/storage-capacity.html).
  Later increases must also be multiples of 2400 GiB and larger than the current size:
  https://docs.aws.amazon.com/fsx/latest/LustreGuide/increase-storage-capacity.html
* Throughput per unit of storage, PERSISTENT_2 SSD: 125, 250, 500 and 1000 MB/s/TiB.
  https://docs.aws.amazon.com/fsx/latest/LustreGuide/managing-throughput-capacity.html
* Data compression: ``NONE`` or ``LZ4``.
  https://docs.aws.amazon.com/fsx/latest/LustreGuide/data-compression.html
"""

from __future__ import annotations

from hyperpod_cdk.errors import HyperPodConfigError

__all__ = [
    "CAPACITY_STEP_GIB",
    "COMPRESSION_TYPES",
    "MIN_CAPACITY_GIB",
    "PERSISTENT_2_THROUGHPUTS",
    "check_capacity",
    "check_compression",
    "check_throughput",
    "valid_capacities",
]

MIN_CAPACITY_GIB = 1200
CAPACITY_STEP_GIB = 2400
PERSISTENT_2_THROUGHPUTS = (125, 250, 500, 1000)
COMPRESSION_TYPES = ("NONE", "LZ4")
#: Daily automatic backups kept for a created PERSISTENT_2 file system. FSx accepts 0 (off) to 90
#: (https://docs.aws.amazon.com/fsx/latest/APIReference/API_LustreFileSystemConfiguration.html) and
#: changes it in place (UpdateFileSystem's LustreConfiguration has AutomaticBackupRetentionDays:
#: https://docs.aws.amazon.com/fsx/latest/APIReference/API_UpdateFileSystemLustreConfiguration.html;
#: not a createOnlyProperty of AWS::FSx::FileSystem in cfn-lint's registry schema). Without
#: DailyAutomaticBackupStartTime FSx picks the daily window itself. A week of backups lets a team's
#: deleted checkpoints be restored (to a new file system) at the cost of the changed blocks kept.
DEFAULT_BACKUP_RETENTION_DAYS = 7
FILE_SYSTEM_ID_PATTERN = r"^fs-[0-9a-f]{8,21}$"
# FSx for Lustre mount names are up to 8 characters (the SageMaker FsxLustreConfig schema says the same).
MOUNT_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,8}$"
DNS_NAME_PATTERN = r"^fs-[0-9a-f]{8,21}\.fsx\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$"


def valid_capacities(up_to: int) -> list[int]:
    """The PERSISTENT_2 SSD capacities up to ``up_to`` GiB: 1200, 2400, 4800, 7200, ..."""
    values = [MIN_CAPACITY_GIB] if up_to >= MIN_CAPACITY_GIB else []
    values += list(range(CAPACITY_STEP_GIB, up_to + 1, CAPACITY_STEP_GIB))
    return values


def check_capacity(gib: int, field: str = "storage.fsx.storage_capacity_gib") -> int:
    """Raise :class:`HyperPodConfigError` on ``field`` unless ``gib`` is 1200 or a multiple of 2400."""
    if isinstance(gib, bool) or not isinstance(gib, int):
        raise HyperPodConfigError(field, f"must be a whole number of GiB, got {gib!r}")
    if gib == MIN_CAPACITY_GIB or (gib >= CAPACITY_STEP_GIB and gib % CAPACITY_STEP_GIB == 0):
        return gib
    lower = max((v for v in valid_capacities(max(gib, 0)) if v < gib), default=None)
    upper = MIN_CAPACITY_GIB if gib < MIN_CAPACITY_GIB else (gib // CAPACITY_STEP_GIB + 1) * CAPACITY_STEP_GIB
    nearest = f"{lower} or {upper}" if lower else f"{upper}"
    raise HyperPodConfigError(
        field,
        f"{gib} GiB is not a PERSISTENT_2 SSD size: FSx for Lustre takes 1200 GiB, 2400 GiB and then "
        f"steps of 2400 GiB (nearest: {nearest})",
    )


def check_throughput(value: int, field: str = "storage.fsx.per_unit_storage_throughput") -> int:
    if value not in PERSISTENT_2_THROUGHPUTS:
        allowed = list(PERSISTENT_2_THROUGHPUTS)
        raise HyperPodConfigError(
            field, f"{value!r} MB/s/TiB is not offered for PERSISTENT_2 SSD; use one of {allowed}"
        )
    return value


def check_compression(value: str, field: str = "storage.fsx.data_compression_type") -> str:
    if value not in COMPRESSION_TYPES:
        raise HyperPodConfigError(field, f"{value!r} is not a Lustre compression type; use NONE or LZ4")
    return value
