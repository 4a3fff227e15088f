"""Rules for ``AWS::SageMaker::Cluster`` (HyperPod) and the security groups it uses.

No cdk-nag pack and no checkov check looks at a HyperPod cluster: these rules are the only
synth-time check of its resilience and encryption settings.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from hyperpod_cdk.rules.model import Finding, Json, Resource, Templates, as_list, as_map, shown
from hyperpod_cdk.specs.instance_types import supports_deep_health_checks

SAGEMAKER_CLUSTER = "AWS::SageMaker::Cluster"
ALL_PROTOCOLS = ("-1", -1)


def _groups(cluster: Resource) -> Iterator[tuple[int, str, Mapping[str, Json]]]:
    """(index, name, group) of each instance group the definition spells out; a group that is one intrinsic
    is left to :func:`_unknown_objects` (read as an empty group, it was a group without settings)."""
    for index, group in enumerate(as_list(cluster.properties.get("InstanceGroups"))):
        if _intrinsic(group):
            continue
        group = as_map(group)
        name = group.get("InstanceGroupName")
        yield index, name if isinstance(name, str) else f"#{index}", group


def _intrinsic(value: Json) -> bool:
    if not isinstance(value, Mapping) or len(value) != 1:
        return False
    key = str(next(iter(value)))
    return key == "Ref" or key.startswith("Fn::")


GROUP_LISTS = ("InstanceGroups", "RestrictedInstanceGroups")


def _unreadable_objects(cluster: Resource, *keys: str) -> Iterator[tuple[str, Json]]:
    """(location, value) of each of ``keys`` (``VpcConfig``, ``InstanceGroups``, ``OverrideVpcConfig``
    of a group) written as one intrinsic, and of each item of a group list that is one (an ``Fn::Select``
    whose index is a parameter, review round 19, R19T-M3): what it holds is not known before deploy. The
    lint CLI reports these as not checked; the synth plugin (closed world) must not pass them silently
    (review round 9, tools, L3)."""
    props = cluster.properties
    for key in keys:
        if key == "OverrideVpcConfig":
            for list_name in GROUP_LISTS:
                for index, group in enumerate(as_list(props.get(list_name))):
                    override = as_map(group).get(key)
                    if _intrinsic(override):
                        yield f"Properties/{list_name}/{index}/{key}", override
        elif _intrinsic(props.get(key)):
            yield f"Properties/{key}", props.get(key)
        elif key in GROUP_LISTS:
            for index, group in enumerate(as_list(props.get(key))):
                if _intrinsic(group):
                    yield f"Properties/{key}/{index}", group


def _unknown_objects(
    cluster: Resource, rule_id: str, why: str, *keys: str, closed_world: bool = False
) -> Iterator[Finding]:
    """A not-checked line for each object of ``keys`` known only at deploy (see :func:`_unreadable_objects`);
    a finding instead where the caller asks for one in a closed world (a CDK app)."""
    for location, value in _unreadable_objects(cluster, *keys):
        detail = f"{location.removeprefix('Properties/')} is not known offline ({shown(value)}); {why}"
        yield (
            cluster.finding(rule_id, detail, location)
            if closed_world
            else cluster.not_checked(rule_id, detail, location)
        )


def _instance_types(group: Mapping[str, Json]) -> list[str]:
    """The literal instance types a group may run (InstanceType or InstanceRequirements)."""
    if "InstanceType" in group:
        candidates = [group["InstanceType"]]
    else:
        candidates = as_list(as_map(group.get("InstanceRequirements")).get("InstanceTypes"))
    return [t for t in candidates if isinstance(t, str)]


def _unknown_instance_types(group: Mapping[str, Json]) -> bool:
    """Whether a group's instance types (InstanceType or InstanceRequirements.InstanceTypes) hold a value
    known only at deploy (a parameter, an intrinsic): rules report those not-checked, never skip them."""
    if "InstanceType" in group:
        return not isinstance(group["InstanceType"], str)
    listed = as_map(group.get("InstanceRequirements")).get("InstanceTypes")
    return listed is not None and (not isinstance(listed, list) or not all(isinstance(t, str) for t in listed))


_NO_VALUE = {"Ref": "AWS::NoValue"}
_MAX_IF_DEPTH = 32


def _checks_set(value: Json, depth: int = 0) -> bool | None:
    """Whether OnStartDeepHealthChecks is set: True, False, or None when an ``Fn::If`` branch leaves it out.

    ``{"Ref": "AWS::NoValue"}`` removes the property, and an empty list sets no check (review round 8,
    tools, L5: any mapping counted as set). Another intrinsic counts as set: it yields a list at deploy.
    """
    if isinstance(value, list):
        return bool(value)
    if not isinstance(value, Mapping) or value == _NO_VALUE:
        return False
    branches = value.get("Fn::If") if len(value) == 1 else None
    if branches is None:
        return True
    if not isinstance(branches, list) or len(branches) != 3 or depth >= _MAX_IF_DEPTH:
        return None
    results = {_checks_set(branch, depth + 1) for branch in branches[1:]}
    return True if results == {True} else (False if results == {False} else None)


def deep_health_checks(templates: Templates, rule_id: str = "HyperPod-SM1") -> Iterator[Finding]:
    for cluster in templates.resources(SAGEMAKER_CLUSTER):
        why = "cannot verify deep health checks"
        yield from _unknown_objects(cluster, rule_id, why, "InstanceGroups", closed_world=templates.closed_world)
        karpenter = as_map(cluster.properties.get("AutoScaling")).get("Mode") == "Enable"
        for index, name, group in _groups(cluster):
            accelerated = [t for t in _instance_types(group) if supports_deep_health_checks(t)]
            checks = _checks_set(group.get("OnStartDeepHealthChecks"))
            if checks is True:
                continue  # a non-empty list, or an intrinsic that yields one
            count = group.get("InstanceCount")
            if karpenter and count in (0, "0"):
                continue  # Karpenter's groups start at 0 and may not run the checks (HyperPod-KAR1; R19T-H1, R20T-L1)
            if karpenter and isinstance(count, Mapping) and accelerated:
                # At 0 it may not run them, above 0 it should: which one is known at deploy (R21T-L3).
                yield cluster.not_checked(
                    rule_id,
                    f"instance group '{name}': InstanceCount is not known offline, so whether it is a Karpenter "
                    "group at 0 (no deep health checks) or a fixed group (deep health checks) is not known",
                    f"Properties/InstanceGroups/{index}/InstanceCount",
                )
                continue
            where = f"Properties/InstanceGroups/{index}/OnStartDeepHealthChecks"
            if not accelerated and _unknown_instance_types(group):
                # The type comes at deploy: it may be accelerated (review round 17, R17T-M2).
                what = f"instance group '{name}': the instance type is not known offline"
                yield (cluster.finding if templates.closed_world else cluster.not_checked)(
                    rule_id, f"{what} and OnStartDeepHealthChecks is not set", where
                )
                continue
            if not accelerated:
                continue
            what = f"instance group '{name}' ({', '.join(accelerated)})"
            if checks is None and not templates.closed_world:
                yield cluster.not_checked(rule_id, f"{what}: OnStartDeepHealthChecks depends on a condition", where)
            elif checks is None:
                yield cluster.finding(rule_id, f"{what}: OnStartDeepHealthChecks is absent when a condition is", where)
            else:
                yield cluster.finding(rule_id, f"{what} has no OnStartDeepHealthChecks", where)


def encrypted_volumes(templates: Templates, rule_id: str = "HyperPod-SM2") -> Iterator[Finding]:
    """In Continuous node provisioning mode, every EBS volume carries a customer managed key.

    HyperPod accepts ``VolumeKmsKeyId`` only for clusters in Continuous node provisioning mode
    (https://docs.aws.amazon.com/sagemaker/latest/dg/smcluster-cmk.html); a key in any other mode is
    a deploy failure, which HyperPod-KMS1 (:func:`hyperpod_cdk.rules.deploy_cluster.cmk_needs_continuous`) reports.
    """
    for cluster in templates.resources(SAGEMAKER_CLUSTER):
        mode = cluster.properties.get("NodeProvisioningMode")
        if mode != "Continuous":
            continue
        yield from _unknown_objects(cluster, rule_id, "cannot verify its volumes' keys", "InstanceGroups")
        for index, name, group in _groups(cluster):
            where = f"Properties/InstanceGroups/{index}/InstanceStorageConfigs"
            volumes = [
                (position, as_map(as_map(config).get("EbsVolumeConfig")))
                for position, config in enumerate(as_list(group.get("InstanceStorageConfigs")))
                if "EbsVolumeConfig" in as_map(config)
            ]
            if not volumes:
                yield cluster.finding(
                    rule_id, f"instance group '{name}' has no EbsVolumeConfig with a VolumeKmsKeyId", where
                )
            for position, volume in volumes:
                if volume.get("VolumeKmsKeyId") in (None, ""):
                    yield cluster.finding(
                        rule_id,
                        f"instance group '{name}': EBS volume {position} has no VolumeKmsKeyId",
                        f"{where}/{position}/EbsVolumeConfig",
                    )


def node_recovery(templates: Templates, rule_id: str = "HyperPod-SM3") -> Iterator[Finding]:
    for cluster in templates.resources(SAGEMAKER_CLUSTER):
        value = cluster.properties.get("NodeRecovery")
        if value != "Automatic":
            said = "unset" if value is None else shown(value)
            yield cluster.finding(rule_id, f"NodeRecovery is {said}", "Properties/NodeRecovery")


def _security_group_refs(cluster: Resource) -> Iterator[tuple[str, Json, bool]]:
    """(location, value, whole list) of every security group id in VpcConfig and the groups' overrides.

    ``whole list`` marks a ``SecurityGroupIds`` that is one intrinsic rather than a list (a ``List<>``
    parameter, ``Fn::Split``, ``Fn::If``): its groups are not known, so the rule must say so instead of
    seeing no group at all (review round 8, tools, M2).
    """
    props = cluster.properties
    places = [("Properties/VpcConfig/SecurityGroupIds", as_map(props.get("VpcConfig")))]
    for key in ("InstanceGroups", "RestrictedInstanceGroups"):
        for index, group in enumerate(as_list(props.get(key))):
            override = as_map(as_map(group).get("OverrideVpcConfig"))
            places.append((f"Properties/{key}/{index}/OverrideVpcConfig/SecurityGroupIds", override))
    for location, config in places:
        ids = config.get("SecurityGroupIds")
        if ids is not None and not isinstance(ids, list):
            yield location, ids, True
        for position, value in enumerate(as_list(ids)):
            yield f"{location}/{position}", value, False


_PEERS = {"ingress": "SourceSecurityGroupId", "egress": "DestinationSecurityGroupId"}
_STANDALONE = {"AWS::EC2::SecurityGroupIngress": "ingress", "AWS::EC2::SecurityGroupEgress": "egress"}


class _RuleIndex:
    """The standalone security-group rules of the templates, read once per rule run.

    ``managed``: groups that have any rule here; ``self_rules``: (group, direction) pairs with an
    all-protocol rule whose peer is the group itself. Scanning every rule per group id was
    clusters x group ids x rules.
    """

    def __init__(self, templates: Templates) -> None:
        self.managed: set[tuple[str, ...]] = set()
        self.self_rules: set[tuple[tuple[str, ...], str]] = set()
        # (group, direction) -> whether the group's own inline rules hold the self rule: read once per
        # group, not once per cluster naming it (clusters x inline rules, review round 15, tools, M4).
        self.inline: dict[tuple[tuple[str, ...], str], bool] = {}
        for rule in templates.resources(*_STANDALONE):
            props = rule.properties
            if "GroupId" not in props:
                continue
            group = templates.reference_key(rule.template_path, props["GroupId"])
            self.managed.add(group)
            direction = _STANDALONE[rule.type]
            peer = _PEERS[direction]
            if (
                props.get("IpProtocol") in ALL_PROTOCOLS
                and peer in props
                and templates.reference_key(rule.template_path, props[peer]) == group
            ):
                self.self_rules.add((group, direction))


def _has_self_rule(templates: Templates, key: tuple[str, ...], direction: str, index: _RuleIndex) -> bool:
    """An all-protocol rule from (ingress) or to (egress) the group ``key`` on the group itself."""
    if (key, direction) in index.self_rules:
        return True
    if key[0] != "resource":
        return False
    if (key, direction) not in index.inline:
        index.inline[key, direction] = _inline_self_rule(templates, key, direction)
    return index.inline[key, direction]


def _inline_self_rule(templates: Templates, key: tuple[str, ...], direction: str) -> bool:
    """The self rule among the inline rules of the template's group ``key`` (one pass over them)."""
    peer = _PEERS[direction]
    group = templates.resource(key[1], key[2])
    inline = "SecurityGroupIngress" if direction == "ingress" else "SecurityGroupEgress"
    for entry in as_list(group.properties.get(inline)) if group else []:
        entry = as_map(entry)
        if (
            entry.get("IpProtocol") in ALL_PROTOCOLS
            and peer in entry
            and templates.reference_key(key[1], entry[peer]) == key
        ):
            return True
    return False


def _describe(templates: Templates, key: tuple[str, ...], value: Json) -> str:
    if key[0] == "resource":
        return key[2]
    return value if isinstance(value, str) else str(value)


def _unknown_groups(templates: Templates, cluster: Resource, rule_id: str, location: str, value: Json) -> Finding:
    """SecurityGroupIds is one intrinsic: not checked in lint (known at deploy), a finding in a CDK app
    (closed world: an unreadable value needs an acknowledgment, as EKS1 and EKS2 do)."""
    detail = f"SecurityGroupIds is not a literal list ({shown(value)}); cannot verify the EFA self rules of its groups"
    if templates.closed_world:
        return cluster.finding(rule_id, detail, location)
    return cluster.not_checked(rule_id, detail, location)


def efa_self_rules(templates: Templates, rule_id: str = "HyperPod-EFA1") -> Iterator[Finding]:
    index = _RuleIndex(templates)
    for cluster in templates.resources(SAGEMAKER_CLUSTER):
        seen: set[tuple[str, ...]] = set()
        yield from _unknown_objects(
            cluster,
            rule_id,
            "cannot verify the EFA self rules of its security groups",
            "VpcConfig",
            "InstanceGroups",
            "OverrideVpcConfig",
            closed_world=templates.closed_world,
        )
        for location, value, whole in _security_group_refs(cluster):
            if whole:
                yield _unknown_groups(templates, cluster, rule_id, location, value)
                continue
            key = templates.reference_key(cluster.template_path, value)
            if key in seen:
                continue
            seen.add(key)
            missing = [d for d in ("ingress", "egress") if not _has_self_rule(templates, key, d, index)]
            # Rules of the group in the definition itself (Terraform state, --live): its rules are known.
            if missing and key[0] != "resource" and not templates.closed_world and key not in index.managed:
                yield cluster.not_checked(
                    rule_id,
                    f"security group {_describe(templates, key, value)} is defined elsewhere; its rules "
                    "are not in this definition (--live reads them)",
                    location,
                )
            elif missing:
                what = " and ".join(
                    "all-traffic ingress from itself" if d == "ingress" else "all-traffic egress to itself"
                    for d in missing
                )
                yield cluster.finding(
                    rule_id, f"security group {_describe(templates, key, value)} has no {what}", location
                )
