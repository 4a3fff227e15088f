"""Stateful resources survive stack deletion and replacement.

The data a training platform cannot recreate lives in buckets, file systems, log groups and the
KMS keys that encrypt all of them (deleting a key makes everything it encrypted unreadable, retained
or not). Both policies are needed: ``DeletionPolicy`` acts when the resource leaves the template or
the stack is deleted, ``UpdateReplacePolicy`` when an update replaces it.

Deliberately not covered: ``AWS::EKS::Cluster`` and ``AWS::SageMaker::Cluster``. They hold no data
of their own (etcd secrets are encrypted with a retained key, checkpoints live in S3/FSx, logs in
retained log groups), and a retained cluster keeps billing and keeps ENIs in a VPC the same stack
deletion is removing, so the VPC delete fails. Their risk is accidental *replacement*, which a
change-set review catches, not a template policy.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping

from hyperpod_cdk.rules.model import Finding, Json, Resource, Templates, shown
from hyperpod_cdk.rules.name_walk import NameWalk

STATEFUL_TYPES = (
    "AWS::KMS::Key",
    "AWS::S3::Bucket",
    "AWS::Logs::LogGroup",
    "AWS::FSx::FileSystem",
    "AWS::EFS::FileSystem",
)
RETAINING_DELETION_POLICIES = ("Retain", "RetainExceptOnCreate")


def stateful_resources_retained(templates: Templates, rule_id: str = "HyperPod-RET1") -> Iterator[Finding]:
    for resource in templates.resources(*STATEFUL_TYPES):
        problems = []
        deletion = resource.body.get("DeletionPolicy")
        if deletion not in RETAINING_DELETION_POLICIES:
            problems.append(f"DeletionPolicy {deletion or 'unset (Delete)'}")
        replace = resource.body.get("UpdateReplacePolicy")
        if replace != "Retain":
            problems.append(f"UpdateReplacePolicy {replace or 'unset (Delete)'}")
        if problems:
            yield resource.finding(
                rule_id, f"{resource.type} with {' and '.join(problems)}", "DeletionPolicy", "UpdateReplacePolicy"
            )


# -- retained resources with fixed names ------------------------------------------------------------

#: Metadata key a retained, fixed-name resource carries when the next deploy takes it over; the value
#: says how (see :func:`retained_fixed_names`).
ADOPTED_ON_REDEPLOY = "HyperPodAdoptedOnRedeploy"

#: Types whose name must be unique in the account and region (or VPC), and the property holding it.
#: A retained one with a fixed name makes the next deploy of the same template fail: AlreadyExists.
UNIQUE_NAME_PROPERTIES: dict[str, str] = {
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::KMS::Alias": "AliasName",
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::InstanceProfile": "InstanceProfileName",
    "AWS::EC2::SecurityGroup": "GroupName",
    "AWS::EC2::LaunchTemplate": "LaunchTemplateName",
    "AWS::ECR::Repository": "RepositoryName",
    "AWS::EKS::Cluster": "Name",
    "AWS::SageMaker::Cluster": "ClusterName",
    "AWS::SSM::Parameter": "Name",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::Events::Rule": "Name",
    "AWS::RDS::DBCluster": "DBClusterIdentifier",
    "AWS::RDS::DBInstance": "DBInstanceIdentifier",
    # RET4 asks to retain what a retained resource uses, such as a DB subnet group (R30T-L6):
    # CreateDBSubnetGroup fails with DBSubnetGroupAlreadyExists
    # (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBSubnetGroup.html).
    "AWS::RDS::DBSubnetGroup": "DBSubnetGroupName",
    "AWS::RDS::DBParameterGroup": "DBParameterGroupName",
    "AWS::RDS::DBClusterParameterGroup": "DBClusterParameterGroupName",
    # CreateBackupVault: AlreadyExistsException
    # (https://docs.aws.amazon.com/aws-backup/latest/devguide/API_CreateBackupVault.html).
    "AWS::Backup::BackupVault": "BackupVaultName",
    "AWS::OpenSearchService::Domain": "DomainName",
    "AWS::Kinesis::Stream": "Name",
    "AWS::Events::EventBus": "Name",
}

#: Types among the above that CloudFormation imports (``--import-existing-resources``), kept to the ones
#: this project relies on or knows well; extend it from
#: https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/resource-import-supported-resources.html
IMPORTABLE_TYPES = frozenset({"AWS::Logs::LogGroup", "AWS::S3::Bucket", "AWS::DynamoDB::Table"})


def retained_fixed_names(templates: Templates, rule_id: str = "HyperPod-RET2") -> Iterator[Finding]:
    """Resources kept on stack delete whose name does not change between deployments.

    After ``cdk destroy`` the kept resource still holds the name, so the next deploy of the same
    template fails with ``AlreadyExists`` and rolls back. Allowed only when the deploy takes it
    over: metadata :data:`ADOPTED_ON_REDEPLOY` says how, and CloudFormation's automatic import
    can do it (a static name, a retaining DeletionPolicy, an importable type).
    """
    walks: dict[str, NameWalk] = {}  # one per template: its names are read once per rule run
    for resource in templates.resources(*UNIQUE_NAME_PROPERTIES):
        policy = resource.body.get("DeletionPolicy")
        # With the AWS::LanguageExtensions transform, DeletionPolicy may be an Fn::If or a Ref, chosen at
        # deploy (review round 19, R19R-H2): read as "may be retained".
        chosen_at_deploy = isinstance(policy, Mapping | list)
        if not chosen_at_deploy and policy not in RETAINING_DELETION_POLICIES:
            continue
        name_prop = UNIQUE_NAME_PROPERTIES[resource.type]
        if name_prop not in resource.properties:
            continue  # CloudFormation generates a new name for every stack
        name = resource.properties[name_prop]
        walk = walks.get(resource.template_path)
        if walk is None:
            resources = templates.templates.get(resource.template_path, {}).get("Resources") or {}
            walk = walks[resource.template_path] = NameWalk(resources, UNIQUE_NAME_PROPERTIES)
        differs = walk.differs(name)
        if differs:
            continue
        location = f"Properties/{name_prop}"
        if chosen_at_deploy:
            why = f"its DeletionPolicy is chosen at deploy ({shown(policy)}) and its {name_prop} may be fixed"
            if templates.closed_world:
                yield resource.finding(rule_id, f"{resource.type}: {why}", location, "DeletionPolicy")
            else:
                yield resource.not_checked(rule_id, f"{resource.type}: {why}; give the parameters", location)
            continue
        if differs is None and templates.closed_world:  # a CDK app: acknowledge it, or fix it (R18T-M1)
            yield resource.finding(
                rule_id,
                f"{resource.type} is retained on delete and its {name_prop} may be fixed: {_MAYBE}",
                location,
            )
            continue
        if differs is None:
            yield resource.not_checked(
                rule_id,
                f"{resource.type} is retained on delete and its {name_prop} may be fixed: {_MAYBE}; give the "
                "parameters (--parameter KEY=VALUE)",
                location,
            )
            continue
        metadata = resource.body.get("Metadata")
        how = metadata.get(ADOPTED_ON_REDEPLOY) if isinstance(metadata, Mapping) else None
        if not how:
            yield resource.finding(
                rule_id,
                f"{resource.type} is retained on delete with the fixed {name_prop} {_shown(name)}: the "
                "next deploy fails with AlreadyExists",
                location,
                "DeletionPolicy",
            )
        elif not isinstance(_written(templates, resource, name_prop), str) or resource.type not in IMPORTABLE_TYPES:
            yield resource.finding(
                rule_id,
                f"{resource.type} says it is adopted on redeploy, but CloudFormation imports only "
                "importable types with a static (literal) name",
                location,
                f"Metadata/{ADOPTED_ON_REDEPLOY}",
            )


#: Why RET2 cannot tell (see :mod:`hyperpod_cdk.rules.name_walk`).
_MAYBE = (
    "it uses a value this rule cannot read offline: an option of an Fn::If or Fn::Select chosen at deploy, a "
    "part of another value, or an attribute of a resource it does not know (a custom resource, a nested stack, "
    "a type it does not list); the unique part of the stack id is Fn::Select [2, Fn::Split [/, AWS::StackId]]"
)


def _written(templates: Templates, resource: Resource, prop: str) -> Json:
    """``prop`` as the template writes it. CloudFormation adopts only a name written as a literal: "Dynamic
    names (using !Ref or other functions) are not currently supported"
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/import-resources-automatically.html), and
    a name a parameter default resolves is one of those (review round 19, R19R-H3)."""
    written = templates.written.get(resource.template_path, {}).get(resource.logical_id, resource.properties)
    return written.get(prop) if isinstance(written, Mapping) else None


def _shown(value: Json) -> str:
    if isinstance(value, str):
        return shown(value)
    return "(an expression with no unique part of AWS::StackId and no generated name)"


# -- rules of retained security groups ------------------------------------------------------------

SECURITY_GROUP_RULE_TYPES = ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress")


def retained_security_group_rules(templates: Templates, rule_id: str = "HyperPod-RET3") -> Iterator[Finding]:
    """A retained security group keeps its rules, and no kept rule names a group the stack deletes.

    The rules are separate resources: without their own DeletionPolicy, ``cdk destroy`` deletes them
    and leaves what the retained group protects (a file system) behind a group without rules. The
    exception: a rule whose peer is a security group deleted with the stack (a user's bastion) must
    go too. Kept, it leaves that group referenced, and EC2 refuses to delete a group "referenced by
    another security group in the same VPC" (DependencyViolation,
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteSecurityGroup.html).
    """
    retained_groups = {
        templates.reference_key(group.template_path, {"Ref": group.logical_id})
        for group in templates.resources("AWS::EC2::SecurityGroup")
        if group.body.get("DeletionPolicy") in RETAINING_DELETION_POLICIES
    }
    for rule in templates.resources(*SECURITY_GROUP_RULE_TYPES):
        kept = rule.body.get("DeletionPolicy") in RETAINING_DELETION_POLICIES
        deleted_peer = _deleted_peer_group(templates, rule)
        if kept and deleted_peer:
            yield rule.finding(
                rule_id,
                f"{rule.type} is retained but names {deleted_peer}, a security group or prefix list the stack "
                "deletes: that delete fails with DependencyViolation",
                "DeletionPolicy",
            )
            continue
        key = templates.reference_key(rule.template_path, rule.properties.get("GroupId"))
        if key in retained_groups and not kept and not deleted_peer:
            yield rule.finding(
                rule_id, f"{rule.type} of a retained security group is deleted with the stack", "DeletionPolicy"
            )


# -- retained resources in a network the stack deletes --------------------------------------------

#: Where a resource sits. EC2 and RDS refuse to delete one while something still uses it: a subnet,
#: security group or VPC with network interfaces in it (``DependencyViolation``), a DB subnet group
#: with an instance in it (``InvalidDBSubnetGroupStateFault``,
#: https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBSubnetGroup.html).
PLACEMENT_TYPES = ("AWS::EC2::Subnet", "AWS::RDS::DBSubnetGroup", "AWS::EC2::SecurityGroup", "AWS::EC2::VPC")
#: Placements that lead to more: an instance in a DB subnet group sits in the group's subnets.
_PLACEMENT_THROUGH = ("AWS::RDS::DBSubnetGroup",)


def _referenced(value: Json, top: str = "") -> Iterator[tuple[str, Json]]:
    """(top-level property, reference) for every Ref/GetAtt/ImportValue inside ``value``."""
    if isinstance(value, Mapping):
        if len(value) == 1 and next(iter(value)) in ("Ref", "Fn::GetAtt", "Fn::ImportValue"):
            yield top, value
            return
        for key, inner in value.items():
            yield from _referenced(inner, top or str(key))
    elif isinstance(value, list):
        for inner in value:
            yield from _referenced(inner, top)


def retained_in_deleted_network(templates: Templates, rule_id: str = "HyperPod-RET4") -> Iterator[Finding]:
    """A resource kept on stack delete does not use a subnet, DB subnet group, security group or VPC
    that the stack deletes.

    The kept resource still has its network interfaces (or its DB instance) there, so EC2 or RDS
    refuses the delete and ``cdk destroy`` ends ``DELETE_FAILED``. Either keep the placement too (as
    the platform does for a retained FSx file system's subnet, group and VPC) or let the resource go
    with a final snapshot (``DeletionPolicy: Snapshot`` on an RDS instance: the instance is deleted,
    so its subnet group and security group can be).
    """
    # What a pass-through placement (a DB subnet group) leads to that the stack deletes, judged once per rule
    # run: many retained instances in one group with many subnets cost instances + subnets, not their product
    # (review round 16, R16T-M2; round 19, R19T-M5: the group's placements were cached, but each instance
    # still went through all of them).
    deleted_under: dict[tuple[str, ...], list[tuple[tuple[str, ...], Resource, str]]] = {}

    def deleted_through(key: tuple[str, ...], through: Resource) -> list[tuple[tuple[str, ...], Resource, str]]:
        if key not in deleted_under:
            found: dict[tuple[str, ...], tuple[tuple[str, ...], Resource, str]] = {}
            for _, inner_key, inner in _placements(templates, through.template_path, through.properties):
                # One level: a DB subnet group lists subnets (SubnetIds), never another group, so nothing here
                # recurses (review round 20, R20T-L2: a 3,000-long chain of groups was a RecursionError).
                if inner.body.get("DeletionPolicy") not in RETAINING_DELETION_POLICIES:
                    found.setdefault(inner_key, (inner_key, inner, through.logical_id))
            deleted_under[key] = list(found.values())
        return deleted_under[key]

    for resource in templates.resources():
        if (
            resource.body.get("DeletionPolicy") not in RETAINING_DELETION_POLICIES
            or resource.type in SECURITY_GROUP_RULE_TYPES
        ):
            continue  # a kept rule naming a deleted group is RET3's finding
        seen: set[tuple[str, ...]] = set()
        placements = _placements(templates, resource.template_path, resource.properties)
        # What the resource uses itself first, then what it reaches through a group: a placement it names
        # directly is reported as such (review round 21, R21T-L4).
        direct = (
            (top, key, target, "")
            for top, key, target in placements
            if target.body.get("DeletionPolicy") not in RETAINING_DELETION_POLICIES
        )
        through = (
            (top, inner_key, inner, via)
            for top, key, target in placements
            if target.type in _PLACEMENT_THROUGH
            for inner_key, inner, via in deleted_through(key, target)
        )
        deleted = itertools.chain(direct, through)  # lazy: the rule's findings are cut at MAX_FINDINGS_PER_RULE
        for top, deleted_key, placement, via in deleted:
            if deleted_key in seen:
                continue
            seen.add(deleted_key)
            yield resource.finding(
                rule_id,
                f"{resource.type} is retained on delete but uses {placement.type} {placement.logical_id}"
                f"{f' (through {via})' if via else ''}, which the stack deletes: EC2/RDS refuse that "
                "delete while the kept resource is in it, and cdk destroy ends DELETE_FAILED",
                f"Properties/{top}",
                "DeletionPolicy",
            )


def _placements(templates: Templates, path: str, properties: Json) -> list[tuple[str, tuple[str, ...], Resource]]:
    """(top-level property, reference key, placement) for the placements ``properties`` name, each once."""
    found: dict[tuple[str, ...], tuple[str, tuple[str, ...], Resource]] = {}
    for top, reference in _referenced(properties):
        key = templates.reference_key(path, reference)
        target = templates.resource(key[1], key[2]) if key[0] == "resource" else None
        if target is not None and target.type in PLACEMENT_TYPES and key not in found:
            found[key] = (top, key, target)
    return list(found.values())


#: A rule's peers that EC2 refuses to delete while the rule names them: a security group
#: (``DependencyViolation``) or a managed prefix list ("You must first remove all references",
#: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteManagedPrefixList.html).
_PEER_TYPES = {
    # An EKS cluster's ClusterSecurityGroupId is a group EKS deletes with the cluster (review round 18, L1).
    "SourceSecurityGroupId": ("AWS::EC2::SecurityGroup", "AWS::EKS::Cluster"),
    "DestinationSecurityGroupId": ("AWS::EC2::SecurityGroup", "AWS::EKS::Cluster"),
    "SourcePrefixListId": ("AWS::EC2::PrefixList",),
    "DestinationPrefixListId": ("AWS::EC2::PrefixList",),
}


def _deleted_peer_group(templates: Templates, rule: Resource) -> str | None:
    """The logical ID of the rule's peer when that peer is a security group or prefix list of these
    templates that is not kept on delete; None for a CIDR, a literal or parameter id, or a kept peer."""
    for prop, peer_types in _PEER_TYPES.items():
        peer = rule.properties.get(prop)
        if peer is None:
            continue
        key = templates.reference_key(rule.template_path, peer)
        target = templates.resource(key[1], key[2]) if key[0] == "resource" else None
        kept = target is not None and target.body.get("DeletionPolicy") in RETAINING_DELETION_POLICIES
        if target is not None and target.type in peer_types and not kept:
            return target.logical_id
    return None
