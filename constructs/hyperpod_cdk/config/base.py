"""Shared building blocks of the config models: the ``_Model`` base, field patterns and their hints.

Every public config model derives from :class:`_Model`, so a model built in Python raises the same
one-line :class:`~hyperpod_cdk.errors.HyperPodConfigError` as the YAML loader.
"""

from __future__ import annotations

import contextvars
import ipaddress
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from hyperpod_cdk.config.messages import explain, first_error, register_hints
from hyperpod_cdk.errors import HyperPodConfigError, shown
from hyperpod_cdk.specs.fsx import (
    DNS_NAME_PATTERN,
    FILE_SYSTEM_ID_PATTERN,
    MOUNT_NAME_PATTERN,
)
from hyperpod_cdk.specs.kubernetes_names import DNS_SUBDOMAIN_PATTERN
from hyperpod_cdk.specs.slurm import PARTITION_HINT, PARTITION_PATTERN

# Patterns come from the AWS::SageMaker::Cluster and AWS::EKS::Cluster CloudFormation schemas.
HYPERPOD_NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
EKS_NAME_PATTERN = r"^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$"
AZ_ID_PATTERN = r"^[a-z]{2,5}[0-9]-az[0-9]{1,2}$"
REGION_PATTERN = r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$"
IAM_PRINCIPAL_PATTERN = r"^arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:(role|user|assumed-role)/[\w+=,.@/-]+$"
TRAINING_PLAN_PATTERN = r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:[0-9]{12}:training-plan/[a-zA-Z0-9-]+$"
IMAGE_ID_PATTERN = r"^(ami-[0-9a-f]{8,17}|default)$"
INSTANCE_TYPE_PATTERN = r"^ml\.[a-z0-9-]+\.[a-z0-9]+$"
LABEL_KEY_PATTERN = r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
# EC2 resource IDs: the prefix, then 8 (older resources) or 17 hex digits.
VPC_ID_PATTERN = r"^vpc-[0-9a-f]{8}([0-9a-f]{9})?$"
SUBNET_ID_PATTERN = r"^subnet-[0-9a-f]{8}([0-9a-f]{9})?$"
SECURITY_GROUP_ID_PATTERN = r"^sg-[0-9a-f]{8}([0-9a-f]{9})?$"
NAT_GATEWAY_ID_PATTERN = r"^nat-[0-9a-f]{8}([0-9a-f]{9})?$"
ROUTE_TABLE_ID_PATTERN = r"^rtb-[0-9a-f]{8}([0-9a-f]{9})?$"
PLATFORM_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,30}$"
ACCOUNT_PATTERN = r"^[0-9]{12}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"

# AWS::SageMaker::Cluster ScheduledUpdateConfig.ScheduleExpression, anchored: cron(min hour day month weekday year).
SCHEDULE_PATTERN = (
    r"^cron\((?:[0-5][0-9]|[0-9]|) (?:[01][0-9]|2[0-3]|[0-9]) (?:[1-9]|0[1-9]|[12][0-9]|3[01]|\?) "
    r"(?:[1-9]|0[1-9]|1[0-2]|\*|\*/(?:[1-9]|1[0-2])|) "
    r"(?:MON|TUE|WED|THU|FRI|SAT|SUN|[1-7]|\?|L|(?:[1-7]#[1-5])|(?:[1-7]L)) (?:20[2-9][0-9]|\*|)\)$"
)
IMAGE_RELEASE_VERSION_PATTERN = r"^[0-9]+\.[0-9]+\.[0-9]+$"
# CloudWatch alarm names: 1-255 characters, not blank (AWS::SageMaker::Cluster AlarmDetails allows 256).
ALARM_NAME_PATTERN = r"^[^\x00-\x1f]*[^\s\x00-\x1f][^\x00-\x1f]*$"
# The schema's MountPath pattern without its look-aheads: absolute, no empty segment, no trailing slash.
MOUNT_PATH_PATTERN = r"^(/[a-zA-Z0-9._-]+)+$"

DeepHealthCheck = Literal["InstanceStress", "InstanceConnectivity"]
CapacityType = Literal["OnDemand", "Spot"]
AutoPatchStrategy = Literal["WhenIdle", "WhenAllIdle"]
NetworkInterfaceType = Literal["efa", "efa-only"]
LifecycleHook = Literal["OnCreate", "OnInitComplete"]
SlurmNodeType = Literal["Controller", "Login", "Compute"]
# CloudWatch Logs accepts only these retention values.
LogRetentionDays = Literal[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653]

_DIRECTIONS = {
    "east": "e",
    "west": "w",
    "north": "n",
    "south": "s",
    "central": "c",
    "northeast": "ne",
    "northwest": "nw",
    "southeast": "se",
    "southwest": "sw",
}


# An AZ name is the region plus a letter (us-west-2b); which AZ ID it maps to differs per account.
_AZ_NAME = re.compile(r"([a-z]{2}(?:-gov)?-[a-z]+-[0-9])([a-z])")


def _az_id_message(value: str, data: Any) -> str:
    name = _AZ_NAME.fullmatch(value)
    if name:
        region, letter = name.groups()
        example = f"{az_id_prefix(region) or 'usw2'}-az{ord(letter) - ord('a') + 1}"
        return (
            f"'{value}' is an AZ name; use its AZ ID such as {example} "
            f"(`aws ec2 describe-availability-zones --region {region}` shows the mapping for your account)"
        )
    region = data.get("region") if isinstance(data, Mapping) else None
    prefix = az_id_prefix(region) if isinstance(region, str) else None
    return (
        f"{shown(value)} is not an AZ ID such as {prefix or 'usw2'}-az1 "
        "(`aws ec2 describe-availability-zones` lists the AZ IDs of a region)"
    )


register_hints(
    {
        HYPERPOD_NAME_PATTERN: "a valid name: letters, digits and hyphens, starting and ending with a letter or "
        "digit, at most 63 characters",
        EKS_NAME_PATTERN: "a valid EKS cluster name: letters, digits, hyphens and underscores, starting with a "
        "letter or digit, at most 100 characters",
        AZ_ID_PATTERN: _az_id_message,
        REGION_PATTERN: "an AWS region name such as us-west-2",
        IAM_PRINCIPAL_PATTERN: "an IAM role or user ARN such as arn:aws:iam::123456789012:role/Admin",
        TRAINING_PLAN_PATTERN: "a training plan ARN such as "
        "arn:aws:sagemaker:us-west-2:123456789012:training-plan/my-plan",
        IMAGE_ID_PATTERN: "an AMI ID such as ami-0123456789abcdef0, or default",
        LABEL_KEY_PATTERN: "a Kubernetes label key: an optional DNS prefix and '/', then at most 63 letters, "
        "digits, '-', '_' or '.', starting and ending with a letter or digit",
        VPC_ID_PATTERN: "a VPC ID such as vpc-0123456789abcdef0",
        SUBNET_ID_PATTERN: "a subnet ID such as subnet-0123456789abcdef0",
        SECURITY_GROUP_ID_PATTERN: "a security group ID such as sg-0123456789abcdef0",
        NAT_GATEWAY_ID_PATTERN: "a NAT gateway ID such as nat-0123456789abcdef0",
        ROUTE_TABLE_ID_PATTERN: "a route table ID such as rtb-0123456789abcdef0",
        PLATFORM_NAME_PATTERN: "a valid platform name: lowercase letters, digits and hyphens, starting with a "
        "letter, at most 31 characters",
        ACCOUNT_PATTERN: "a 12-digit AWS account ID",
        SHA256_PATTERN: "a SHA-256 digest: 64 lowercase hex characters",
        INSTANCE_TYPE_PATTERN: "a SageMaker instance type such as ml.p5.48xlarge",
        PARTITION_PATTERN: PARTITION_HINT,
        FILE_SYSTEM_ID_PATTERN: "an FSx file system ID such as fs-0123456789abcdef0",
        DNS_NAME_PATTERN: "an FSx DNS name such as fs-0123456789abcdef0.fsx.us-west-2.amazonaws.com",
        MOUNT_NAME_PATTERN: "an FSx mount name: 1 to 8 letters, digits, '_' or '-' "
        "(aws fsx describe-file-systems shows it as LustreConfiguration.MountName)",
        IMAGE_RELEASE_VERSION_PATTERN: "a HyperPod AMI release version such as 1.2.3 (major.minor.patch)",
        ALARM_NAME_PATTERN: "a CloudWatch alarm name: not blank, no control characters",
        MOUNT_PATH_PATTERN: "an absolute path such as /fsx/data, without a trailing '/'",
        SCHEDULE_PATTERN: "a HyperPod schedule such as cron(0 3 ? * SUN *): cron(minutes hours day-of-month month "
        "day-of-week year), with ? for either day field",
    }
)


def az_id_prefix(region: str) -> str | None:
    """``us-east-1`` -> ``use1``: the prefix every AZ ID of that region carries (None if unknown)."""
    match = re.fullmatch(r"([a-z]{2})(-gov)?-([a-z]+)-([0-9])", region)
    if not match or match.group(3) not in _DIRECTIONS:
        return None
    area, gov, direction, number = match.groups()
    return f"{area}{'g' if gov else ''}{_DIRECTIONS[direction]}{number}"


def _count_not_bool(value: Any) -> Any:
    # YAML reads yes/true as a boolean, which pydantic would take as 1 node.
    if isinstance(value, bool):
        raise ValueError(f"write the count as a number (YAML read {value!r} as a boolean)")
    return value


Count = Annotated[int, BeforeValidator(_count_not_bool)]
#: CreateCluster's range for an instance group's InstanceCount, which bounds every node count in the
#: config (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ClusterInstanceGroupSpecification.html).
#: The range comes before the boolean check so that pydantic keeps it on the integer, also under ``| None``.
MAX_INSTANCE_COUNT = 6758
#: How many nodes an instance group has or may have (0 is a valid size).
InstanceCount = Annotated[int, Field(ge=0, le=MAX_INSTANCE_COUNT), BeforeValidator(_count_not_bool)]
#: A positive number of nodes: a batch of a rolling update, an autoscaling ceiling, a job's replicas.
NodeCount = Annotated[int, Field(ge=1, le=MAX_INSTANCE_COUNT), BeforeValidator(_count_not_bool)]
# Strings the config names in several places, each with the one pattern (and hint) that checks it.
AzId = Annotated[str, Field(pattern=AZ_ID_PATTERN)]
IamPrincipalArn = Annotated[str, Field(pattern=IAM_PRINCIPAL_PATTERN)]
Sha256 = Annotated[str, Field(pattern=SHA256_PATTERN)]
#: A Kubernetes object name (RFC 1123 subdomain, at most 253 characters).
DnsSubdomain = Annotated[str, Field(max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)]
# AWS tags: "aws:" is reserved, and keys and values take letters, digits, spaces and _ . : / = + - @
# (https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html).
TAG_PATTERN = r"^[\w\s.:/=+\-@]*$"
register_hints({TAG_PATTERN: "letters, digits, spaces and _ . : / = + - @ only (AWS tag rules)"})


def _tag_key_not_reserved(value: str) -> str:
    if value.lower().startswith("aws:"):
        raise ValueError(f"'{value}': keys starting with aws: are reserved for AWS; use another prefix")
    return value


def _cidr_as_text(value: Any) -> Any:
    # pydantic would read an integer (or a YAML yes/true) as an address and make it a /32.
    if isinstance(value, bool | int):
        raise ValueError(f"write the CIDR as text such as 10.0.0.0/16 (YAML read {value!r} as a number or boolean)")
    return value


Cidr = Annotated[ipaddress.IPv4Network, BeforeValidator(_cidr_as_text)]


# Set while a model validates, so nested models (which pydantic builds through __init__ too) raise
# pydantic's error and only the outermost call turns it into a HyperPodConfigError.
_VALIDATING: contextvars.ContextVar[bool] = contextvars.ContextVar("hyperpod_cdk_validating", default=False)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    def __init__(self, **data: Any) -> None:
        # Built in Python (InstanceGroup(name=..., ...)) rather than parsed from a file: the same
        # one-line HyperPodConfigError as the config loader, named after the model. A custom
        # __init__ also runs for nested models and under model_validate, so only the outermost
        # call translates; the rest let pydantic collect the error with its full location.
        if _VALIDATING.get():
            super().__init__(**data)
            return
        token = _VALIDATING.set(True)
        try:
            super().__init__(**data)
        except ValidationError as exc:
            error = explain(first_error(exc.errors(), data), data, type(self))
            raise HyperPodConfigError(f"{type(self).__name__}.{error.field}", error.message) from None
        finally:
            _VALIDATING.reset(token)

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Self:
        # pydantic's own entry point keeps pydantic's contract (a ValidationError with the full
        # location, which parse_config and parse_k8s_settings turn into one line under their own
        # prefix): nested models must not translate their part of it on their own.
        token = _VALIDATING.set(True)
        try:
            return super().model_validate(obj, *args, **kwargs)
        finally:
            _VALIDATING.reset(token)
