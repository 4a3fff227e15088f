"""Deploy rules on the cluster definition: what CreateCluster or the first boot rejects.

KMS1, KAR1, SYS1, TYPE1, K8S1, LCS1 and QUOTA1 (sources in :mod:`hyperpod_cdk.rules.catalog`).
"""

from __future__ import annotations

from collections.abc import Iterator

from hyperpod_cdk.rules.deploy_base import (
    EKS_CLUSTER,
    LIVE_QUOTA,
    LIVE_S3_OBJECT,
    REPELLING_EFFECTS,
    SOURCE_S3_URI,
    _all_groups,
    _clusters,
    _has_value,
    _int,
    _is_eks,
    _partial,
)
from hyperpod_cdk.rules.model import (
    Finding,
    Json,
    Resource,
    Templates,
    as_list,
    as_map,
    literal,
    s3_uri_shape,
    shown,
)
from hyperpod_cdk.rules.sagemaker import (
    GROUP_LISTS,
    _groups,
    _instance_types,
    _intrinsic,
    _unknown_instance_types,
    _unknown_objects,
    _unreadable_objects,
)
from hyperpod_cdk.specs.offerings import offered_in
from hyperpod_cdk.specs.service_rules import KAR1, KMS1, SYS1, ClusterFacts, check_cluster

# --------------------------------------------------------------------------- KMS1


def _keyed_volumes(cluster: Resource) -> Iterator[tuple[str, Json, bool]]:
    """(location, group name, known) of each instance-group volume with a VolumeKmsKeyId, and of each
    storage object known only at deploy (``known`` False: it may hold one; review round 19, R19T-M3)."""
    for where_group, name, group in _all_groups(cluster):
        where = f"{where_group}/InstanceStorageConfigs"
        configs = group.get("InstanceStorageConfigs")
        if _intrinsic(configs):
            yield where, name, False
        for position, config in enumerate(as_list(configs)):
            volume = as_map(config).get("EbsVolumeConfig")
            if _intrinsic(config) or _intrinsic(volume):
                yield f"{where}/{position}" + ("/EbsVolumeConfig" if _intrinsic(volume) else ""), name, False
            elif _has_value(as_map(volume).get("VolumeKmsKeyId")):
                yield f"{where}/{position}/EbsVolumeConfig/VolumeKmsKeyId", name, True


def cmk_needs_continuous(templates: Templates, rule_id: str = "HyperPod-KMS1") -> Iterator[Finding]:
    for cluster in _clusters(templates):
        mode = cluster.properties.get("NodeProvisioningMode")
        if mode != "Continuous":  # in Continuous mode any key is fine: nothing left to know
            why = "a VolumeKmsKeyId needs NodeProvisioningMode: Continuous"
            yield from _unknown_objects(cluster, rule_id, why, *GROUP_LISTS)
        # Judged once per cluster: walking the mode value again for every volume was volumes x its size
        # (review round 15, tools, M8).
        known: bool | None = None
        fails = False
        for where, name, readable in _keyed_volumes(cluster):
            if known is None:  # an UpdateCluster request without the mode keeps the cluster's (R23T-L3)
                known = literal(mode) and not _kept(templates, cluster, "NodeProvisioningMode")
                fails = known and bool(
                    check_cluster(ClusterFacts(node_provisioning_mode=mode, customer_managed_key=True))
                )
            if not readable and (fails or not known):
                yield cluster.not_checked(
                    rule_id,
                    f"group '{name}': {where.rsplit('/', 1)[-1]} is not known offline; a VolumeKmsKeyId needs "
                    "NodeProvisioningMode: Continuous",
                    where,
                )
            elif not readable:
                continue
            elif not known:
                kept = _kept(templates, cluster, "NodeProvisioningMode")
                said = _unknown_words(templates, cluster, "NodeProvisioningMode") if kept else "is not known offline"
                yield cluster.not_checked(
                    rule_id, f"NodeProvisioningMode {said}; group '{name}' has a VolumeKmsKeyId", where
                )
            elif fails:
                said = "unset" if mode is None else shown(mode)
                yield cluster.finding(
                    rule_id,
                    f"instance group '{name}' has a VolumeKmsKeyId but NodeProvisioningMode is {said}; "
                    f"{KMS1.message}",
                    where,
                )


def _kept(templates: Templates, cluster: Resource, prop: str) -> bool:
    """An UpdateCluster request that leaves ``prop`` out: the cluster keeps its current value, which the
    request does not say (R23T-L3: it was judged as CreateCluster's default)."""
    return _partial(templates, cluster) and prop not in cluster.properties


def _unknown_words(templates: Templates, cluster: Resource, prop: str) -> str:
    if _kept(templates, cluster, prop):
        return "is not in this UpdateCluster request (the cluster keeps its current value)"
    return f"is not known offline ({shown(cluster.properties.get(prop))})"


# --------------------------------------------------------------------------- KAR1

# Each KAR1 subject of specs/service_rules.py as the template says it: (property, message).
_TEMPLATE_TERMS = {
    "node_provisioning_mode": ("NodeProvisioningMode", "Karpenter autoscaling needs NodeProvisioningMode: Continuous"),
    "node_recovery": ("NodeRecovery", "Karpenter autoscaling needs NodeRecovery: Automatic"),
    "cluster_role": ("ClusterRole", "Karpenter autoscaling needs a ClusterRole HyperPod's Karpenter assumes"),
    "orchestrator": ("Orchestrator", "Karpenter autoscaling is for EKS-orchestrated clusters only"),
}


# The prerequisites whose value a template may leave to deploy time: (subject, the compliant value).
_KNOWN_AT_DEPLOY = (("node_provisioning_mode", "Continuous"), ("node_recovery", "Automatic"))


def karpenter_prerequisites(templates: Templates, rule_id: str = "HyperPod-KAR1") -> Iterator[Finding]:
    for cluster in _clusters(templates):
        props = cluster.properties
        if _intrinsic(props.get("AutoScaling")):  # an Fn::Select with an index known at deploy (R19T-M3)
            yield cluster.not_checked(
                rule_id, f"AutoScaling is not known offline ({shown(props['AutoScaling'])})", "Properties/AutoScaling"
            )
            continue
        autoscaling = as_map(props.get("AutoScaling"))
        mode = autoscaling.get("Mode")
        if not literal(mode):
            yield cluster.not_checked(rule_id, "AutoScaling.Mode is not known offline", "Properties/AutoScaling/Mode")
            continue
        if mode != "Enable":
            continue
        # The prerequisites themselves: specs/service_rules.py. One the template leaves to deploy time (a
        # parameter without a default) is reported as not checked, never guessed compliant (docs/lint.md;
        # review round 15, tools, M5); the rest are still checked. A ClusterRole given as an intrinsic names
        # a role, which is what the rule asks for.
        given: dict[str, Json] = {}
        for subject, compliant in _KNOWN_AT_DEPLOY:
            prop, message = _TEMPLATE_TERMS[subject]
            given[subject] = props.get(prop)
            if not literal(given[subject]) or _kept(templates, cluster, prop):
                said = _unknown_words(templates, cluster, prop)
                yield cluster.not_checked(rule_id, f"{prop} {said}; {message}", f"Properties/{prop}")
                given[subject] = compliant
        facts = ClusterFacts(
            node_provisioning_mode=given["node_provisioning_mode"],
            node_recovery=given["node_recovery"],
            orchestrator="slurm" if not _is_eks(cluster) and not _partial(templates, cluster) else None,
            autoscaler="Karpenter",
            has_cluster_role=_has_value(props.get("ClusterRole")) or _kept(templates, cluster, "ClusterRole"),
        )
        for violation in check_cluster(facts):
            if violation.rule.id == KAR1.id:
                location, message = _TEMPLATE_TERMS[violation.subject]
                yield cluster.finding(rule_id, message, f"Properties/{location}")
        yield from _karpenter_groups(cluster, rule_id)


def _karpenter_groups(cluster: Resource, rule_id: str) -> Iterator[Finding]:
    """Groups at 0 (Karpenter's) with deep health checks or a training plan; not checked where the count
    or the checks are not known offline."""
    why = "a group at 0 for Karpenter may not run deep health checks or use a training plan"
    yield from _unknown_objects(cluster, rule_id, why, "InstanceGroups")
    for index, name, group in _groups(cluster):
        count, checks = group.get("InstanceCount"), group.get("OnStartDeepHealthChecks")
        plan = _has_value(group.get("TrainingPlanArn"))
        where = f"Properties/InstanceGroups/{index}"
        number = _int(count) if literal(count) else None
        if number is None and (plan or not literal(checks) or as_list(checks)):
            yield cluster.not_checked(
                rule_id,
                f"InstanceCount of group '{name}' is not known offline ({shown(count)}); a group at 0 for "
                "Karpenter may not run deep health checks or use a training plan",
                f"{where}/InstanceCount",
            )
            continue
        if number != 0:
            continue  # Karpenter groups start at 0; a group above 0 is a fixed group
        if not literal(checks):
            yield cluster.not_checked(
                rule_id,
                f"OnStartDeepHealthChecks of group '{name}' is not known offline; a group at 0 for Karpenter "
                "may not run deep health checks",
                f"{where}/OnStartDeepHealthChecks",
            )
        elif as_list(checks):
            yield cluster.finding(
                rule_id,
                f"group '{name}' starts at 0 for Karpenter but runs deep health checks, which "
                "HyperPod does not allow on autoscaled groups",
                f"{where}/OnStartDeepHealthChecks",
            )
        if plan:
            yield cluster.finding(
                rule_id,
                f"group '{name}' starts at 0 for Karpenter but uses a training plan, which HyperPod does not "
                "autoscale",
                f"{where}/TrainingPlanArn",
            )


# --------------------------------------------------------------------------- SYS1


def system_pod_host(templates: Templates, rule_id: str = "HyperPod-SYS1") -> Iterator[Finding]:
    for cluster in _clusters(templates):
        if not _is_eks(cluster) or _partial(templates, cluster):
            continue
        groups = list(_groups(cluster))
        unknown = any(_unreadable_objects(cluster, "InstanceGroups"))  # a group known only at deploy (R19T-M3)
        if not groups and not unknown:
            continue
        for _index, _name, group in groups:
            count, checks = group.get("InstanceCount"), group.get("OnStartDeepHealthChecks")
            taints = as_list(as_map(group.get("KubernetesConfig")).get("Taints"))
            readable = count is None or _int(count) is not None  # "²", 5,000 digits: no count (R15T-L2)
            if not (literal(count) and readable and literal(checks) and literal(taints)):
                unknown = True
                continue
            if (
                (_int(count) or 0) >= 1
                and not as_list(checks)
                and not any(as_map(t).get("Effect") in REPELLING_EFFECTS for t in taints)
            ):
                break
        else:
            if unknown:
                yield cluster.not_checked(
                    rule_id,
                    "instance counts, deep health checks or taints are not known offline (or not a number)",
                    "Properties/InstanceGroups",
                )
                continue
            yield cluster.finding(
                rule_id,
                SYS1.message,
                "Properties/InstanceGroups",
            )


# --------------------------------------------------------------------------- TYPE1


def instance_type_offered(templates: Templates, rule_id: str = "HyperPod-TYPE1") -> Iterator[Finding]:
    for cluster in _clusters(templates):
        # The cluster's own stack's region: one app may span regions (review round 20, R20T-M2).
        region = templates.region_of(cluster.template_path)
        offered = offered_in(region) if region else None
        if offered is None:
            yield cluster.not_checked(rule_id, _no_offerings(region), "Properties/InstanceGroups")
            continue
        yield from _unknown_objects(cluster, rule_id, "its instance types are not checked", *GROUP_LISTS)
        for where_group, name, group in _all_groups(cluster):
            where = f"{where_group}/InstanceType"
            raw = group.get("InstanceType")
            if raw is not None and not literal(raw):
                yield cluster.not_checked(rule_id, f"group '{name}': InstanceType is not known offline", where)
                continue
            if raw is None and _unknown_instance_types(group):  # review round 17, R17T-M2
                yield cluster.not_checked(
                    rule_id,
                    f"group '{name}': an item of InstanceRequirements.InstanceTypes is not known offline",
                    f"{where_group}/InstanceRequirements/InstanceTypes",
                )
            for instance_type in _instance_types(group):
                if instance_type not in offered:
                    yield cluster.finding(
                        rule_id,
                        f"group '{name}': {instance_type} is not offered by SageMaker HyperPod in {region}",
                        where,
                    )


def _no_offerings(region: str | None) -> str:
    if region is None:
        return (
            "its instance types are not checked: the region of its stack is not known (an environment-agnostic "
            "stack: give it an env with a region, or lint with --region)"
        )
    return (
        f"its instance types are not checked: the vendored list of HyperPod instance types does not cover "
        f"{region} (HyperPod may not be offered there; see hyperpod_cdk/specs/data/hyperpod_instance_types.json)"
    )


# --------------------------------------------------------------------------- K8S1


def kubernetes_version_supported(templates: Templates, rule_id: str = "HyperPod-K8S1") -> Iterator[Finding]:
    from hyperpod_cdk.specs.kubernetes_versions import SUPPORTED_VERSIONS, support_status

    for eks in templates.resources(EKS_CLUSTER):
        version = eks.properties.get("Version")
        where = "Properties/Version"
        if version is None:
            continue  # EKS picks its default version, which HyperPod supports
        if not literal(version):
            yield eks.not_checked(rule_id, "Version is not known offline", where)
            continue
        version = str(version)
        if version not in SUPPORTED_VERSIONS:
            yield eks.finding(
                rule_id,
                f"Kubernetes {version} is not a version HyperPod supports ({', '.join(SUPPORTED_VERSIONS)})",
                where,
            )
            continue
        status = support_status(version)
        if status.level == "ended":
            yield eks.finding(rule_id, status.message, where)
        elif status.level in ("extended", "ending"):
            yield eks.finding(rule_id, status.message, where, severity="warning")


# --------------------------------------------------------------------------- LCS1


def _script_uri(uri: str, script: str) -> str:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return f"s3://{bucket}/{prefix.rstrip('/')}/{script}" if prefix.strip("/") else f"s3://{bucket}/{script}"


def lifecycle_script_uri(templates: Templates, rule_id: str = "HyperPod-LCS1") -> Iterator[Finding]:
    missing = {
        str(r.properties.get("Uri", ""))
        for r in templates.live_resources(LIVE_S3_OBJECT)
        if r.properties.get("Exists") is False
    }
    for cluster in _clusters(templates):
        yield from _unknown_objects(cluster, rule_id, "its lifecycle scripts are not checked", "InstanceGroups")
        for index, name, group in _groups(cluster):
            config = as_map(group.get("LifeCycleConfig"))
            where = f"Properties/InstanceGroups/{index}/LifeCycleConfig"
            if _intrinsic(group.get("LifeCycleConfig")):  # review round 19, R19T-M3
                yield cluster.not_checked(rule_id, f"group '{name}': LifeCycleConfig is not known offline", where)
                continue
            if not config:
                if not _is_eks(cluster) and not _partial(templates, cluster):
                    yield cluster.finding(
                        rule_id,
                        f"group '{name}' has no LifeCycleConfig; a Slurm cluster is "
                        "configured by its lifecycle scripts",
                        where,
                    )
                continue
            uri = config.get("SourceS3Uri")
            # An app's own bucket (a name known at deploy) leaves the URI's shape known (R19T-H1).
            if not literal(uri) and (uri := s3_uri_shape(templates, cluster.template_path, uri)) is None:
                yield cluster.not_checked(
                    rule_id, f"group '{name}': SourceS3Uri is not known offline", f"{where}/SourceS3Uri"
                )
                continue
            if not isinstance(uri, str) or not SOURCE_S3_URI.match(uri):
                yield cluster.finding(
                    rule_id,
                    f"group '{name}': SourceS3Uri {uri!r} is not s3://bucket[/prefix] or https://...",
                    f"{where}/SourceS3Uri",
                )
                continue
            hook = config.get("OnCreate") or config.get("OnInitComplete")
            if hook is not None and not isinstance(hook, str):  # a parameter, an Fn::Select (R19T-M3)
                which = "OnCreate" if "OnCreate" in config else "OnInitComplete"
                yield cluster.not_checked(
                    rule_id, f"group '{name}': {which} is not known offline ({shown(hook)})", f"{where}/{which}"
                )
                continue
            if uri.startswith("s3://") and isinstance(hook, str) and hook.startswith(("s3://", "/")):
                yield cluster.finding(
                    rule_id,
                    f"group '{name}': OnCreate {hook!r} must be a file name relative to SourceS3Uri",
                    f"{where}/OnCreate",
                )
                continue
            if isinstance(hook, str) and _script_uri(uri, hook) in missing:
                yield cluster.finding(
                    rule_id,
                    f"group '{name}': {_script_uri(uri, hook)} does not exist (read "
                    "with --live); nodes fail their lifecycle script",
                    f"{where}/SourceS3Uri",
                )


# --------------------------------------------------------------------------- QUOTA1


def hyperpod_quotas(templates: Templates, rule_id: str = "HyperPod-QUOTA1") -> Iterator[Finding]:
    """Instances per type against the account's per-type HyperPod quota (known only with --live).

    A quota is per account and region: ``lint --live`` adds each region's quotas to a template of that region,
    and a cluster is compared with the quotas of its own template's region (review round 23, R23T-H3). The
    clusters of one region share it, so their instances are added up (R23T-L2: two clusters of 3 x p5 passed
    a quota of 4)."""
    quotas = {
        (templates.region_of(q.template_path), str(q.properties.get("InstanceType"))): _int(q.properties.get("Value"))
        for q in templates.live_resources(LIVE_QUOTA)
    }
    if not quotas:
        return
    wanted: dict[tuple[str, str], dict[str, int]] = {}  # (template, logical id) -> instances per type
    regions: dict[tuple[str, str], str | None] = {}
    clusters = {(c.template_path, c.logical_id): c for c in _clusters(templates)}
    for key, cluster in clusters.items():
        regions[key] = templates.region_of(cluster.template_path)
        for _index, _name, group in _groups(cluster):
            count, types = _int(group.get("InstanceCount")), _instance_types(group)
            if count and types:
                each = wanted.setdefault(key, {})
                each[types[0]] = each.get(types[0], 0) + count
    totals: dict[tuple[str | None, str], int] = {}
    for key, each in wanted.items():
        for instance_type, count in each.items():
            totals[(regions[key], instance_type)] = totals.get((regions[key], instance_type), 0) + count
    for key, each in wanted.items():
        for instance_type, count in each.items():
            limit, total = quotas.get((regions[key], instance_type)), totals[(regions[key], instance_type)]
            if limit is None or total <= limit:
                continue
            across = "" if total == count else f" ({total} with the region's other clusters in this definition)"
            yield clusters[key].finding(
                rule_id,
                f"{count} x {instance_type}{across} but the account's '{instance_type} for cluster usage' "
                f"quota is {limit}",
                "Properties/InstanceGroups",
            )
