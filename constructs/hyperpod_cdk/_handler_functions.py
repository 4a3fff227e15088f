"""The Lambda functions behind this library's custom resources: staged code, function, log group, role.

**Code.** Handlers are plain folders under ``<layer>/handlers/<name>/``, standard library (and the
runtime's boto3) only. The modules they share live once, in ``kubernetes/handlers/shared/``, and so do
the standard-library-only ``specs/`` modules a handler shares with the library (:data:`SHARED_SPECS`);
at synth the shared modules a handler imports are copied next to its own files in a staging folder,
and that folder is the asset: plain file copies, so synth needs no network, no Docker and no bundling
image.
The asset hash follows the staged content, so a change to a shared module redeploys every handler
that carries it.

**Function.** :func:`retained_log_group` and :func:`handler_function` make what every handler of the
library has: a log group retained on delete and encrypted with a KMS key whose policy names that one
group, a Python function logging to it (in the VPC or not), its role's own statements, and the
checkov skips and cdk-nag acknowledgements with their reasons.
"""

from __future__ import annotations

import ast
import atexit
import functools
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import CfnResource, CustomResource, Duration, RemovalPolicy, Size, Tags
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from hyperpod_cdk._cdk_util import log_group_name_for, logs_key
from hyperpod_cdk.errors import prop_error
from hyperpod_cdk.rules.acknowledge import acknowledge_managed_policies
from hyperpod_cdk.rules.suppress import skip_checkov, skip_handler_checks

SHARED_DIR = Path(__file__).resolve().parent / "kubernetes" / "handlers" / "shared"
#: The shared modules; a handler's asset carries those it imports.
SHARED_MODULES = ("eks_auth.py", "cfn_response.py", "manifest_sets.py")
SPECS_DIR = Path(__file__).resolve().parent / "specs"
#: ``specs/`` modules (standard library only) that handlers import by their file name, as the library
#: does by its package path: the Helm installer's chart pins and Kubernetes name rules.
SHARED_SPECS = ("hyperpod_chart.py", "kubernetes_names.py")
RUNTIME = lambda_.Runtime.PYTHON_3_14
#: Lambda's ceiling for one invocation.
MAX_HANDLER_TIMEOUT = Duration.minutes(15)
#: How long CloudFormation waits for a handler's answer (ServiceTimeout, default one hour): a little
#: more than Lambda's ceiling, so a handler that dies without answering fails the stack in 16 minutes.
#: https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-cloudformation-customresource.html
SERVICE_TIMEOUT = Duration.minutes(16)
#: Lambda caps all environment variables of a function at 4 KB together.
#: https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html
ENVIRONMENT_LIMIT_BYTES = 4096


def _imported_modules(handler_dir: Path) -> set[str]:
    names: set[str] = set()
    for path in handler_dir.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
    return names


@functools.cache
def staged_handler_dir(handler_dir: Path) -> Path:
    """A folder with the handler's files and the shared modules its code imports (staged once per process).

    The folder is copied into the cloud assembly at synth; it is removed when the process exits.
    """
    own = {path.name for path in handler_dir.glob("*.py")}
    shared = {name: SHARED_DIR / name for name in SHARED_MODULES} | {name: SPECS_DIR / name for name in SHARED_SPECS}
    clash = own.intersection(shared)
    if clash:
        raise ValueError(f"{handler_dir.name} has its own {sorted(clash)}: rename it, the shared module has that name")
    imported = _imported_modules(handler_dir)
    staging = Path(tempfile.mkdtemp(prefix=f"hyperpod-cdk-{handler_dir.name}-"))
    atexit.register(shutil.rmtree, staging, ignore_errors=True)
    # The whole folder: a handler may carry data files (the Grafana dashboards).
    shutil.copytree(handler_dir, staging, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"), dirs_exist_ok=True)
    for name, source in shared.items():
        if name.removesuffix(".py") in imported:
            shutil.copyfile(source, staging / name)
    return staging


def handler_code(handler_dir: Path) -> lambda_.Code:
    """``lambda_.Code`` of the staged handler folder (see :func:`staged_handler_dir`)."""
    return lambda_.Code.from_asset(str(staged_handler_dir(handler_dir)))


def retained_log_group(
    scope: Construct,
    construct_id: str,
    purpose: str,
    *,
    description: str,
    key: kms.IKey | None = None,
    retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
) -> tuple[kms.IKey, logs.LogGroup]:
    """A log group retained on delete, named ``/hyperpod-cdk/<path>/<deployment>/<purpose>`` and
    encrypted with ``key`` (a new ``LogsKey``, described by ``description``, if None); returns the key
    too, whose policy now names this group (named so that the policy can)."""
    name = log_group_name_for(scope, purpose)
    key = logs_key(scope, key, description, name)
    group = logs.LogGroup(
        scope,
        construct_id,
        log_group_name=name,
        retention=retention,
        encryption_key=key,
        removal_policy=RemovalPolicy.RETAIN,
    )
    return key, group


@dataclass(frozen=True)
class InVpc:
    """Where an in-VPC handler runs: subnets and one security group (such as the EKS cluster's)."""

    vpc: ec2.IVpc
    subnets: Sequence[ec2.ISubnet]
    security_group: ec2.ISecurityGroup


def handler_function(
    scope: Construct,
    construct_id: str,
    *,
    description: str,
    code: lambda_.Code,
    log_group: logs.ILogGroup,
    timeout: Duration,
    managed_policies_reason: str,
    entry: str = "index.handler",
    memory_size: int | None = None,
    environment: Mapping[str, str] | None = None,
    environment_reason: str | None = None,
    in_vpc: InVpc | None = None,
    outside_vpc_reason: str | None = None,
    layers: Sequence[lambda_.ILayerVersion] = (),
    ephemeral_storage_size: Size | None = None,
    purpose_tag: tuple[str, str] | None = None,
    statements: Sequence[iam.PolicyStatement] = (),
) -> lambda_.Function:
    """A custom-resource handler function (Python, ``code``) that logs to ``log_group``.

    ``in_vpc`` places it in the VPC; otherwise ``outside_vpc_reason`` says why it need not be there
    (checkov CKV_AWS_117). ``environment_reason`` says why the environment holds no secret (checkov
    CKV_AWS_173). ``purpose_tag`` marks a function with strong access, for SCPs or permission
    boundaries that deny invoking it. ``statements`` go to the function's role;
    ``managed_policies_reason`` acknowledges the AWS managed execution policies Lambda gives it.
    """
    function = lambda_.Function(
        scope,
        construct_id,
        description=description,
        runtime=RUNTIME,
        handler=entry,
        code=code,
        timeout=timeout,
        memory_size=memory_size,
        ephemeral_storage_size=ephemeral_storage_size,
        layers=list(layers) or None,
        vpc=in_vpc.vpc if in_vpc else None,
        vpc_subnets=ec2.SubnetSelection(subnets=list(in_vpc.subnets)) if in_vpc else None,
        security_groups=[in_vpc.security_group] if in_vpc else None,
        environment=dict(environment) if environment is not None else None,
        log_group=log_group,
    )
    if purpose_tag is not None:
        Tags.of(function).add(*purpose_tag)
    skip_handler_checks(function, outside_vpc_reason=outside_vpc_reason)
    if environment_reason is not None:
        # Both checks read the environment: 173 asks for a KMS key for it, 45 looks for secrets in it (the
        # pinned sha256 digests of a literal release spec looked like secrets to it: review round 19, R19Q-L2).
        skip_checkov(function, "CKV_AWS_173", environment_reason)
        skip_checkov(function, "CKV_AWS_45", environment_reason)
    role = function_role(function)
    for statement in statements:
        # The role's policy, not Function.add_to_role_policy: that one makes a separate inline policy
        # under the feature flag @aws-cdk/aws-lambda:createNewPoliciesWithAddToRolePolicy.
        role.add_to_principal_policy(statement)
    acknowledge_managed_policies(function, managed_policies_reason)
    return function


def function_role(function: lambda_.Function) -> iam.IRole:
    """The role Lambda runs ``function`` with (the one :func:`handler_function` created)."""
    role = function.role
    assert role is not None
    return role


def handler_custom_resource(
    scope: Construct,
    construct_id: str,
    function: lambda_.Function,
    *,
    resource_type: str,
    properties: Mapping[str, object],
    service_timeout: Duration = SERVICE_TIMEOUT,
    after_role_policy: bool = False,
) -> CustomResource:
    """A custom resource that ``function`` serves (its ARN is the service token).

    ``service_timeout``: how long CloudFormation waits for the answer (see :data:`SERVICE_TIMEOUT`).
    ``after_role_policy``: created after the function role's policy, so the first request finds the
    handler's permissions in place.
    """
    resource = CustomResource(
        scope,
        construct_id,
        service_token=function.function_arn,
        resource_type=resource_type,
        properties=dict(properties),
        service_timeout=service_timeout,
    )
    policy = function_role(function).node.try_find_child("DefaultPolicy") if after_role_policy else None
    if policy is not None:
        resource.node.add_dependency(policy)
    return resource


def cfn_resource(resource: CustomResource) -> CfnResource:
    """The ``AWS::CloudFormation::CustomResource`` (or ``Custom::*``) resource of ``resource``."""
    cfn = resource.node.default_child
    assert isinstance(cfn, CfnResource)
    return cfn


def check_environment_size(scope: Construct, construct_id: str, prop: str, size: int, *, what: str, fix: str) -> None:
    """Refuse at synth an environment of about ``size`` bytes that Lambda would refuse at deploy
    (256 bytes are kept for the variable names and what the estimate leaves out)."""
    if size > ENVIRONMENT_LIMIT_BYTES - 256:
        raise prop_error(
            scope,
            construct_id,
            prop,
            f"{what} about {size} bytes in the function's environment, over Lambda's 4 KB limit; {fix}",
        )
