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

from collections.abc import Iterator, Mapping

from hyperpod_cdk.rules.model import Finding, Json, Resource, Templates, shown

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
}

#: Types among the above that CloudFormation imports (``--import-existing-resources``), kept to the ones
#: this project relies on or knows well; extend it from
#: https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/resource-import-supported-resources.html
IMPORTABLE_TYPES = frozenset({"AWS::Logs::LogGroup", "AWS::S3::Bucket", "AWS::DynamoDB::Table"})

_PER_DEPLOYMENT = {"Ref": "AWS::StackId"}


_SETTLED = 1 << 30  # "read no name still being walked"
_CAPPED = -1  # "met the depth cap": never settled for the run (review round 17, R17T-L1)
_MAX_DEPTH = 32


class _NameWalk:
    """Whether name expressions of one template change with every stack created: they use
    ``AWS::StackId``, or the generated name of a resource in the same template. The answer is True,
    False, or None ("maybe"): an ``Fn::If`` left in a resolved template has a condition not known
    offline, and a name with a fixed branch may be fixed (review round 17, R17T-H1; an ``Fn::If`` of a
    known condition is already its branch, see ``cfn_template._Resolver._known_branches``).

    The answer for a named resource is memoised for the whole rule run, so a name expression shared
    by many retained resources is walked once (review round 16, R16T-M1), as is one reached by many
    paths (8 references x 10 levels: 8^10 steps). An answer that read a name still being walked (a
    cycle) depends on where the walk began: it is kept only for the walk that made it, unless that
    name is the one just finished (as in Tarjan's strongly connected components). An answer cut by the
    depth cap is kept only for that walk, and reused only as deep as it was made.
    """

    def __init__(self, resources: Mapping[str, Json]) -> None:
        self.resources = resources
        self.settled: dict[str, bool | None] = {}
        self.calls = 0  # walk steps, for tests
        self._walk_memo: dict[str, tuple[bool | None, int, int]] = {}
        self._open: dict[str, int] = {}  # names being walked: their position on the walk

    def differs(self, value: Json) -> bool | None:
        self._walk_memo, self._open = {}, {}
        return self._walk(value, 0)[0]

    def _walk(self, value: Json, depth: int) -> tuple[bool | None, int]:
        """(differs, the lowest position of a name still being walked that the answer read)."""
        self.calls += 1
        if depth > _MAX_DEPTH:
            return False, _CAPPED
        if value == _PER_DEPLOYMENT:
            return True, _SETTLED
        if isinstance(value, Mapping) and len(value) == 1:
            ((fn, arg),) = value.items()
            target = None
            if fn == "Ref" and isinstance(arg, str):
                target = arg
            elif fn == "Fn::GetAtt":
                target = arg[0] if isinstance(arg, list) and arg else str(arg).split(".", 1)[0]
            elif fn == "Fn::If" and isinstance(arg, list) and len(arg) == 3:
                return self._either(arg[1:], depth)
            elif fn == "Fn::Select" and isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], list):
                return self._either(arg[1], depth)  # an index not known offline: any item (R18T-H1)
            body = self.resources.get(target) if isinstance(target, str) else None
            if isinstance(body, Mapping):
                return self._named(str(target), body, depth)
        values = value.values() if isinstance(value, Mapping) else value if isinstance(value, list) else ()
        answer: bool | None = False
        low = _SETTLED
        for inner in values:
            differs, inner_low = self._walk(inner, depth + 1)
            low = min(low, inner_low)
            if differs:
                return True, low
            if differs is None:
                answer = None
        return answer, low

    def _either(self, choices: list[Json], depth: int) -> tuple[bool | None, int]:
        # Which one is taken is not known offline: the name differs only if every choice does.
        answers = [self._walk(choice, depth + 1) for choice in choices]
        differs = {answer for answer, _ in answers}
        return (differs.pop() if len(differs) == 1 else None), min((low for _, low in answers), default=_SETTLED)

    def _named(self, target: str, body: Mapping[str, Json], depth: int) -> tuple[bool | None, int]:
        # A resource whose name this template fixes is as fixed as that name.
        name_prop = UNIQUE_NAME_PROPERTIES.get(str(body.get("Type")))
        raw = body.get("Properties")
        props: Mapping[str, Json] = raw if isinstance(raw, Mapping) else {}
        if name_prop is None or name_prop not in props:
            return True, _SETTLED
        if target in self.settled:
            return self.settled[target], _SETTLED
        if target in self._open:
            return False, self._open[target]  # a cycle of names is fixed
        if target in self._walk_memo:
            differs, low, made_at = self._walk_memo[target]
            if low != _CAPPED or depth >= made_at:
                return differs, low
        position = self._open[target] = len(self._open)
        differs, low = self._walk(props[name_prop], depth + 1)
        del self._open[target]
        if low < position:
            self._walk_memo[target] = (differs, low, depth)
            return differs, low
        self.settled[target] = differs
        return differs, _SETTLED


def _differs_per_deployment(value: Json, resources: Mapping[str, Json]) -> bool | None:
    """True when a name expression changes with every stack created, None when that depends on a condition
    not known offline (see :class:`_NameWalk`)."""
    return _NameWalk(resources).differs(value)


def retained_fixed_names(templates: Templates, rule_id: str = "HyperPod-RET2") -> Iterator[Finding]:
    """Resources kept on stack delete whose name does not change between deployments.

    After ``cdk destroy`` the kept resource still holds the name, so the next deploy of the same
    template fails with ``AlreadyExists`` and rolls back. Allowed only when the deploy takes it
    over: metadata :data:`ADOPTED_ON_REDEPLOY` says how, and CloudFormation's automatic import
    can do it (a static name, a retaining DeletionPolicy, an importable type).
    """
    walks: dict[str, _NameWalk] = {}  # one per template: its names are walked once per rule run
    for resource in templates.resources(*UNIQUE_NAME_PROPERTIES):
        if resource.body.get("DeletionPolicy") not in RETAINING_DELETION_POLICIES:
            continue
        name_prop = UNIQUE_NAME_PROPERTIES[resource.type]
        if name_prop not in resource.properties:
            continue  # CloudFormation generates a new name for every stack
        name = resource.properties[name_prop]
        walk = walks.get(resource.template_path)
        if walk is None:
            resources = templates.templates.get(resource.template_path, {}).get("Resources") or {}
            walk = walks[resource.template_path] = _NameWalk(resources)
        differs = walk.differs(name)
        if differs:
            continue
        location = f"Properties/{name_prop}"
        if differs is None and templates.closed_world:  # a CDK app: acknowledge it, or fix it (R18T-M1)
            yield resource.finding(
                rule_id,
                f"{resource.type} is retained on delete and its {name_prop} is fixed in a choice (Fn::If, Fn::Select) "
                "made only at deploy",
                location,
            )
            continue
        if differs is None:
            yield resource.not_checked(
                rule_id,
                f"{resource.type} is retained on delete and its {name_prop} is fixed in a branch of an Fn::If "
                "or an item of an Fn::Select not known offline: give their parameters (--parameter KEY=VALUE)",
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
        elif not isinstance(name, str) or resource.type not in IMPORTABLE_TYPES:
            yield resource.finding(
                rule_id,
                f"{resource.type} says it is adopted on redeploy, but CloudFormation imports only "
                "importable types with a static (literal) name",
                location,
                f"Metadata/{ADOPTED_ON_REDEPLOY}",
            )


def _shown(value: Json) -> str:
    return shown(value) if isinstance(value, str) else "(an expression without AWS::StackId)"


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
    # A placement's own placements, found once per rule run (review round 16, R16T-M2): many retained
    # resources in one DB subnet group walked its subnet references once each.
    within: dict[tuple[str, ...], list[tuple[str, tuple[str, ...], Resource]]] = {}
    for resource in templates.resources():
        if (
            resource.body.get("DeletionPolicy") not in RETAINING_DELETION_POLICIES
            or resource.type in SECURITY_GROUP_RULE_TYPES
        ):
            continue  # a kept rule naming a deleted group is RET3's finding
        seen: set[tuple[str, ...]] = set()
        # (placements to check, the retained resource's property that led there, placement in between)
        todo = [(_placements(templates, resource.template_path, resource.properties), "", "")]
        while todo:
            placements, led_by, via = todo.pop()
            for top, key, target in placements:
                if key in seen:
                    continue
                seen.add(key)
                prop = led_by or top
                if target.body.get("DeletionPolicy") not in RETAINING_DELETION_POLICIES:
                    yield resource.finding(
                        rule_id,
                        f"{resource.type} is retained on delete but uses {target.type} {target.logical_id}"
                        f"{f' (through {via})' if via else ''}, which the stack deletes: EC2/RDS refuse that "
                        "delete while the kept resource is in it, and cdk destroy ends DELETE_FAILED",
                        f"Properties/{prop}",
                        "DeletionPolicy",
                    )
                if target.type in _PLACEMENT_THROUGH:
                    if key not in within:
                        within[key] = _placements(templates, target.template_path, target.properties)
                    todo.append((within[key], prop, target.logical_id))


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
