"""Small helpers shared by the constructs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from aws_cdk import ArnFormat, CfnResource, Fn, Names, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct, IConstruct

from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.rules.acknowledge import acknowledge, managed_policy_finding
from hyperpod_cdk.rules.retention import ADOPTED_ON_REDEPLOY
from hyperpod_cdk.rules.suppress import skip_checkov
from hyperpod_cdk.specs.addon_conflicts import RESOLVE_CONFLICTS

# The CloudFormation type of HyperPodHelmDependencies' custom resource: the cluster constructs look
# for it among their dependencies without importing the Kubernetes layer.
HELM_DEPENDENCIES_RESOURCE_TYPE = "Custom::HyperPodHelmDependencies"

_R = logs.RetentionDays
# CloudWatch Logs retention values (days) to the CDK enum, whose Python values are names.
RETENTION_BY_DAYS: dict[int, logs.RetentionDays] = {
    1: _R.ONE_DAY,
    3: _R.THREE_DAYS,
    5: _R.FIVE_DAYS,
    7: _R.ONE_WEEK,
    14: _R.TWO_WEEKS,
    30: _R.ONE_MONTH,
    60: _R.TWO_MONTHS,
    90: _R.THREE_MONTHS,
    120: _R.FOUR_MONTHS,
    150: _R.FIVE_MONTHS,
    180: _R.SIX_MONTHS,
    365: _R.ONE_YEAR,
    400: _R.THIRTEEN_MONTHS,
    545: _R.EIGHTEEN_MONTHS,
    731: _R.TWO_YEARS,
    1096: _R.THREE_YEARS,
    1827: _R.FIVE_YEARS,
    3653: _R.TEN_YEARS,
}


def cluster_attribute(cluster: Any, name: str) -> Any:
    """An attribute of an EKS cluster, or None where an imported cluster was given none.

    aws_eks_v2's imported clusters raise (through jsii) when asked for a ``vpc`` or
    ``cluster_security_group`` they were not imported with.
    """
    try:
        return getattr(cluster, name)
    except Exception:  # jsii.errors.JSIIError: "vpc" is not defined for this imported cluster
        return None


def retention(days: int) -> logs.RetentionDays:
    try:
        return RETENTION_BY_DAYS[days]
    except KeyError:
        raise ValueError(
            f"log retention {days} days is not a CloudWatch Logs value: {sorted(RETENTION_BY_DAYS)}"
        ) from None


def new_logs_key(scope: Construct, description: str) -> kms.Key:
    """A rotating, retained KMS key for log groups (``LogsKey``); each group's owner scopes it with :func:`logs_key`."""
    return kms.Key(
        scope, "LogsKey", description=description, enable_key_rotation=True, removal_policy=RemovalPolicy.RETAIN
    )


def log_group_name_for(scope: Construct, purpose: str) -> str:
    """A log-group name unique to ``scope`` and to this deployment of its stack:
    ``/hyperpod-cdk/<stack and construct path>/<deployment>/<purpose>``.

    Named, so that the logs key policy can name the group (a generated name is only known after
    the group exists, and the group needs the key first). ``<deployment>`` is the first block of
    the stack's UUID (``AWS::StackId``): stable across updates of one stack, new for every stack
    created. The groups are retained on delete, so a fixed name would make the next deploy of the
    same config fail with ``AlreadyExists``; with this one it creates a fresh group and the old one
    stays, readable, until it expires or is deleted (docs/deploy.md).
    """
    unique = Names.unique_resource_name(scope, max_length=200, separator="-", allowed_special_characters="-_.")
    return f"/hyperpod-cdk/{unique}/{deployment_id(scope)}/{purpose}"


def deployment_id(scope: Construct) -> str:
    """8 hex digits that change with every stack created and stay through its updates: the first
    block of the UUID that ends ``AWS::StackId`` (``arn:...:stack/<name>/<uuid>``)."""
    stack_uuid = Fn.select(2, Fn.split("/", Stack.of(scope).stack_id))
    return Fn.select(0, Fn.split("-", stack_uuid))


def mark_adopted_on_redeploy(construct: IConstruct, how: str) -> None:
    """Say, in the template, that a retained resource keeps a fixed name on purpose and how the next
    deploy takes it over (metadata ``HyperPodAdoptedOnRedeploy``; rule HyperPod-RET2 checks that
    CloudFormation can import it: a static name and a retaining DeletionPolicy)."""
    resource = construct if CfnResource.is_cfn_resource(construct) else construct.node.default_child
    if resource is None or not CfnResource.is_cfn_resource(resource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource")
    cast(CfnResource, resource).add_metadata(ADOPTED_ON_REDEPLOY, how)


def logs_key(scope: Construct, key: kms.IKey | None, description: str, log_group_name: str) -> kms.IKey:
    """A KMS key CloudWatch Logs may use for the one log group ``log_group_name`` (a new key if None).

    CloudWatch Logs encrypts with the key only when the key policy lets the regional logs service
    principal use it; the encryption context ``kms:EncryptionContext:aws:logs:arn`` is the log
    group's ARN without the ``:*`` that ``Fn::GetAtt Arn`` adds, so the ARN is built from the name
    (which also avoids a key -> group -> key cycle).
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
    """
    key = key or new_logs_key(scope, description)
    stack = Stack.of(scope)
    key.add_to_resource_policy(
        iam.PolicyStatement(
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            resources=["*"],
            conditions={
                "ArnEquals": {
                    "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name=log_group_name,
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                }
            },
        )
    )
    return key


def resolve_conflicts(addon: IConstruct, addon_name: str) -> str:
    """Set ``ResolveConflicts`` on an add-on (an ``eks.Addon`` or its ``CfnAddon``) from the table
    :data:`~hyperpod_cdk.specs.addon_conflicts.RESOLVE_CONFLICTS`.

    An add-on this table does not know gets OVERWRITE too (what AWS's templates use throughout).
    """
    value = RESOLVE_CONFLICTS.get(addon_name, ("OVERWRITE", ""))[0]
    resource = addon if CfnResource.is_cfn_resource(addon) else addon.node.default_child
    if resource is None or not CfnResource.is_cfn_resource(resource):
        raise TypeError(f"{addon.node.path} is not an EKS add-on")
    cast(CfnResource, resource).add_property_override("ResolveConflicts", value)
    return value


def depend_on(target: IConstruct, dependencies: Sequence[Any], prop: str = "wait_for") -> None:
    """``target`` after each of ``dependencies``; a value that is not a construct is a one-line error."""
    for dependency in dependencies:
        if not hasattr(dependency, "node"):
            raise HyperPodConfigError(
                prop,
                f"expected constructs (resources, add-ons, ...), got {type(dependency).__name__}",
                construct_path=target.node.path,
            )
        target.node.add_dependency(dependency)


def private_bucket(scope: Construct, construct_id: str, key: kms.IKey, no_access_logs_reason: str) -> s3.Bucket:
    """A KMS-encrypted (bucket key), versioned, TLS-only, public-access-blocked, owner-enforced, retained
    bucket. It keeps no server access logs, for the reason given (acknowledged for cdk-nag S1 and
    skipped for checkov CKV_AWS_18 next to it)."""
    bucket = s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.KMS,
        encryption_key=key,
        bucket_key_enabled=True,
        versioned=True,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        removal_policy=RemovalPolicy.RETAIN,
    )
    acknowledge(bucket, "AwsSolutions-S1", no_access_logs_reason)
    skip_checkov(bucket, "CKV_AWS_18", no_access_logs_reason)
    return bucket


def closed_security_group(
    scope: Construct, vpc: ec2.IVpc, description: str, construct_id: str = "SecurityGroup"
) -> ec2.SecurityGroup:
    """A security group with no rule at all (not even CDK's default all-outbound one): its owner adds
    exactly the ingress and egress it needs."""
    return ec2.SecurityGroup(scope, construct_id, vpc=vpc, allow_all_outbound=False, description=description)


def service_role(
    scope: Construct,
    *,
    service: str,
    managed_policy: str,
    description: str,
    why_managed_policy: str,
    role_name: str | None = None,
) -> iam.Role:
    """``Role``: a role ``service`` assumes, with one AWS managed policy, whose cdk-nag IAM4 finding is
    acknowledged with ``why_managed_policy``."""
    role = iam.Role(
        scope,
        "Role",
        role_name=role_name,
        assumed_by=iam.ServicePrincipal(service),
        managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(managed_policy)],
        description=description,
    )
    acknowledge(role, managed_policy_finding(managed_policy), why_managed_policy)
    return role
