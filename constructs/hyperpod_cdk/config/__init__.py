"""The platform configuration (``hyperpod.yaml``): typed pydantic models, no CDK.

:mod:`hyperpod_cdk.config.platform` holds the top-level :class:`PlatformConfig`; its sections live in
:mod:`~hyperpod_cdk.config.network`, :mod:`~hyperpod_cdk.config.eks`, :mod:`~hyperpod_cdk.config.hyperpod`
and :mod:`~hyperpod_cdk.config.storage` (HyperPod's service rules in
:mod:`~hyperpod_cdk.config.hyperpod_checks`), the loaders in :mod:`~hyperpod_cdk.config.loading` and the
shared model base in :mod:`~hyperpod_cdk.config.base`; :mod:`~hyperpod_cdk.config.kubernetes` the ``kubernetes:``
section (Helm dependencies, add-ons) and :mod:`~hyperpod_cdk.config.charts` the chart settings
(teams, priority classes, example jobs) it extends.
"""

from hyperpod_cdk.config.platform import (
    AZ_ID_PATTERN,
    EKS_NAME_PATTERN,
    HYPERPOD_NAME_PATTERN,
    IAM_PRINCIPAL_PATTERN,
    REGION_PATTERN,
    EksConfig,
    ExistingEks,
    ExistingNetwork,
    ExistingSubnet,
    FsxConfig,
    FsxMount,
    HyperPodConfig,
    InstanceGroup,
    NetworkConfig,
    PlatformConfig,
    ScheduledUpdate,
    StorageConfig,
    Taint,
    az_id_prefix,
    check_offered,
    group_demands,
    json_schema,
    load_config,
    parse_config,
    plan_for_config,
    system_pod_groups,
)

__all__ = [
    "AZ_ID_PATTERN",
    "EKS_NAME_PATTERN",
    "HYPERPOD_NAME_PATTERN",
    "IAM_PRINCIPAL_PATTERN",
    "REGION_PATTERN",
    "EksConfig",
    "ExistingEks",
    "ExistingNetwork",
    "ExistingSubnet",
    "FsxConfig",
    "FsxMount",
    "HyperPodConfig",
    "InstanceGroup",
    "NetworkConfig",
    "PlatformConfig",
    "ScheduledUpdate",
    "StorageConfig",
    "Taint",
    "az_id_prefix",
    "check_offered",
    "group_demands",
    "json_schema",
    "load_config",
    "parse_config",
    "plan_for_config",
    "system_pod_groups",
]
