"""Deploy rules: a HyperPod definition that CloudFormation, CreateCluster or the first boot rejects.

Each function reads templates in the CloudFormation shape (a template, a CreateCluster request or a
Terraform resource converted by :mod:`hyperpod_cdk.rules.inputs`) and yields findings. A value the
rule needs but that is known only at deploy (an intrinsic left by the resolver) gives a
``not-checked`` finding, never a guess. The sources are cited in :mod:`hyperpod_cdk.rules.catalog`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping

from hyperpod_cdk.rules.dependencies import depending_on
from hyperpod_cdk.rules.model import Finding, Json, Resource, Templates, as_list, as_map, literal
from hyperpod_cdk.rules.sagemaker import SAGEMAKER_CLUSTER, _groups, _instance_types
from hyperpod_cdk.specs.addon_conflicts import RESOLVE_CONFLICTS
from hyperpod_cdk.specs.instance_types import Orchestrator, spec_for
from hyperpod_cdk.specs.network_plan import AWS_RESERVED_PER_SUBNET
from hyperpod_cdk.specs.offerings import offered_in
from hyperpod_cdk.specs.service_rules import KAR1, KMS1, SYS1, ClusterFacts, check_cluster

EKS_CLUSTER = "AWS::EKS::Cluster"
# What `hyperpod-cdk lint --live` read from AWS (hyperpod_cdk.cli.lint_live), as pseudo-resources.
LIVE_S3_OBJECT = "HyperPod::Live::S3Object"
LIVE_QUOTA = "HyperPod::Live::Quota"
LIVE_HELM_RELEASE = "HyperPod::Live::HelmRelease"
LIVE_MARK = "hyperpod-cdk:live"
EKS_ADDON = "AWS::EKS::Addon"
POD_IDENTITY_ASSOCIATION = "AWS::EKS::PodIdentityAssociation"
SUBNET = "AWS::EC2::Subnet"
TRAINING_OPERATOR = "amazon-sagemaker-hyperpod-training-operator"
TASK_GOVERNANCE = "amazon-sagemaker-hyperpod-taskgovernance"
# The training-operator guide's troubleshooting table: "Incompatible Task Governance Version: ensure
# HyperPod task governance is version v1.3.0-eksbuild.1 or higher" (sagemaker-eks-operator-install.html).
TASK_GOVERNANCE_MIN = "v1.3.0-eksbuild.1"
REPELLING_EFFECTS = ("NoSchedule", "NoExecute")
# The AWS::SageMaker::Cluster schema's LifeCycleConfig.SourceS3Uri pattern.
SOURCE_S3_URI = re.compile(r"^(https|s3)://([^/]+)/?(.*)$")
# Headroom for replacement nodes and rolling updates before a subnet is called tight (config default).
IP_HEADROOM_PERCENT = 25


def _int(value: Json) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _clusters(templates: Templates) -> Iterator[Resource]:
    yield from templates.resources(SAGEMAKER_CLUSTER)


def _is_eks(cluster: Resource) -> bool:
    return "Eks" in as_map(cluster.properties.get("Orchestrator"))


def _partial(cluster: Resource) -> bool:
    """An UpdateCluster request: it may list only some groups and never names the orchestrator."""
    return bool(as_map(cluster.body.get("Metadata")).get("hyperpod-cdk:partial"))


def _has_value(value: Json) -> bool:
    return value not in (None, "")


# --------------------------------------------------------------------------- KMS1


def cmk_needs_continuous(templates: Templates, rule_id: str = "HyperPod-KMS1") -> Iterator[Finding]:
    for cluster in _clusters(templates):
        mode = cluster.properties.get("NodeProvisioningMode")
        for kind in ("InstanceGroups", "RestrictedInstanceGroups"):
            for index, group in enumerate(as_list(cluster.properties.get(kind))):
                group = as_map(group)
                name = group.get("InstanceGroupName", f"#{index}")
                for position, config in enumerate(as_list(group.get("InstanceStorageConfigs"))):
                    key = as_map(as_map(config).get("EbsVolumeConfig")).get("VolumeKmsKeyId")
                    if not _has_value(key):
                        continue
                    where = (f"Properties/{kind}/{index}/InstanceStorageConfigs/{position}"
                             "/EbsVolumeConfig/VolumeKmsKeyId")
                    if not literal(mode):
                        yield cluster.not_checked(rule_id, f"NodeProvisioningMode is not known offline; "
                                                  f"group '{name}' has a VolumeKmsKeyId", where)
                    elif check_cluster(ClusterFacts(node_provisioning_mode=mode, customer_managed_key=True)):
                        shown = "unset" if mode is None else repr(mode)
                        yield cluster.finding(
                            rule_id,
                            f"instance group '{name}' has a VolumeKmsKeyId but NodeProvisioningMode is {shown}; "
                            f"{KMS1.message}",
                            where,
                        )


# --------------------------------------------------------------------------- KAR1

# Each KAR1 subject of specs/service_rules.py as the template says it: (property, message).
_TEMPLATE_TERMS = {
    "node_provisioning_mode": ("NodeProvisioningMode", "Karpenter autoscaling needs NodeProvisioningMode: Continuous"),
    "node_recovery": ("NodeRecovery", "Karpenter autoscaling needs NodeRecovery: Automatic"),
    "cluster_role": ("ClusterRole", "Karpenter autoscaling needs a ClusterRole HyperPod's Karpenter assumes"),
    "orchestrator": ("Orchestrator", "Karpenter autoscaling is for EKS-orchestrated clusters only"),
}


def karpenter_prerequisites(templates: Templates, rule_id: str = "HyperPod-KAR1") -> Iterator[Finding]:
    for cluster in _clusters(templates):
        props = cluster.properties
        autoscaling = as_map(props.get("AutoScaling"))
        mode = autoscaling.get("Mode")
        if not literal(mode):
            yield cluster.not_checked(rule_id, "AutoScaling.Mode is not known offline", "Properties/AutoScaling/Mode")
            continue
        if mode != "Enable":
            continue
        # The prerequisites themselves: specs/service_rules.py (an intrinsic counts as compliant).
        provisioning = props.get("NodeProvisioningMode")
        recovery = props.get("NodeRecovery")
        facts = ClusterFacts(
            node_provisioning_mode=provisioning if literal(provisioning) else "Continuous",
            node_recovery=recovery if literal(recovery) else "Automatic",
            orchestrator="slurm" if not _is_eks(cluster) and not _partial(cluster) else None,
            autoscaler="Karpenter", has_cluster_role=_has_value(props.get("ClusterRole")),
        )
        problems: list[tuple[str, str]] = [
            _TEMPLATE_TERMS[v.subject] for v in check_cluster(facts) if v.rule.id == KAR1.id
        ]
        for index, name, group in _groups(cluster):
            if _int(group.get("InstanceCount")) != 0:
                continue  # Karpenter groups start at 0; a group above 0 is a fixed group
            where = f"InstanceGroups/{index}"
            if as_list(group.get("OnStartDeepHealthChecks")):
                problems.append((f"{where}/OnStartDeepHealthChecks",
                                 f"group '{name}' starts at 0 for Karpenter but runs deep health checks, which "
                                 "HyperPod does not allow on autoscaled groups"))
            if _has_value(group.get("TrainingPlanArn")):
                problems.append((f"{where}/TrainingPlanArn",
                                 f"group '{name}' starts at 0 for Karpenter but uses a training plan, which "
                                 "HyperPod does not autoscale"))
        for location, message in problems:
            yield cluster.finding(rule_id, message, f"Properties/{location}")


# --------------------------------------------------------------------------- SYS1


def system_pod_host(templates: Templates, rule_id: str = "HyperPod-SYS1") -> Iterator[Finding]:
    for cluster in _clusters(templates):
        if not _is_eks(cluster) or _partial(cluster):
            continue
        groups = list(_groups(cluster))
        if not groups:
            continue
        unknown = False
        for _index, _name, group in groups:
            count, checks = group.get("InstanceCount"), group.get("OnStartDeepHealthChecks")
            taints = as_list(as_map(group.get("KubernetesConfig")).get("Taints"))
            if not (literal(count) and literal(checks) and literal(taints)):
                unknown = True
                continue
            if (_int(count) or 0) >= 1 and not as_list(checks) and not any(
                as_map(t).get("Effect") in REPELLING_EFFECTS for t in taints
            ):
                break
        else:
            if unknown:
                yield cluster.not_checked(rule_id, "instance counts, deep health checks or taints are not known "
                                          "offline", "Properties/InstanceGroups")
                continue
            yield cluster.finding(
                rule_id,
                SYS1.message,
                "Properties/InstanceGroups",
            )


# --------------------------------------------------------------------------- TYPE1


def instance_type_offered(templates: Templates, rule_id: str = "HyperPod-TYPE1") -> Iterator[Finding]:
    region = templates.region
    offered = offered_in(region) if region else None
    if offered is None:
        return  # no region given, or a region the vendored list does not cover
    for cluster in _clusters(templates):
        for kind in ("InstanceGroups", "RestrictedInstanceGroups"):
            for index, group in enumerate(as_list(cluster.properties.get(kind))):
                group = as_map(group)
                name = group.get("InstanceGroupName", f"#{index}")
                raw = group.get("InstanceType")
                if raw is not None and not literal(raw):
                    yield cluster.not_checked(rule_id, f"group '{name}': InstanceType is not known offline",
                                              f"Properties/{kind}/{index}/InstanceType")
                    continue
                for instance_type in _instance_types(group):
                    if instance_type not in offered:
                        yield cluster.finding(
                            rule_id,
                            f"group '{name}': {instance_type} is not offered by SageMaker HyperPod in {region}",
                            f"Properties/{kind}/{index}/InstanceType",
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
            yield eks.finding(rule_id, f"Kubernetes {version} is not a version HyperPod supports "
                              f"({', '.join(SUPPORTED_VERSIONS)})", where)
            continue
        status = support_status(version)
        if status.level == "ended":
            yield eks.finding(rule_id, status.message, where)
        elif status.level in ("extended", "ending"):
            yield eks.finding(rule_id, status.message, where, severity="warning")


# --------------------------------------------------------------------------- IP1


def _subnets_by_id(templates: Templates) -> dict[str, Resource]:
    """Subnets described by a literal ``SubnetId`` (Terraform state, --live), indexed once per rule run:
    looking each id up among all resources was clusters x groups x subnet ids x resources."""
    by_id: dict[str, Resource] = {}
    for subnet in templates.resources(SUBNET):
        subnet_id = subnet.properties.get("SubnetId")
        if isinstance(subnet_id, str):
            by_id.setdefault(subnet_id, subnet)
    return by_id


def _subnet_cidr(templates: Templates, template_path: str, value: Json,
                 by_id: Mapping[str, Resource]) -> ipaddress.IPv4Network | None:
    """The CIDR of a subnet the template defines, or (a literal id) one it describes with ``SubnetId``."""
    key = templates.reference_key(template_path, value)
    subnet: Resource | None = None
    if key[0] == "resource":
        subnet = templates.resource(key[1], key[2])
    elif key[0] == "literal":
        subnet = by_id.get(key[1])  # Terraform state and --live describe existing subnets by id
    if subnet is None or subnet.type != SUBNET:
        return None
    cidr = subnet.properties.get("CidrBlock")
    try:
        return ipaddress.IPv4Network(cidr) if isinstance(cidr, str) else None
    except ValueError:
        return None


_GroupNeed = tuple[str, int, int, str]  # group name, node count, IPs per node, instance type


def _groups_by_subnets(templates: Templates, cluster: Resource, by_id: Mapping[str, Resource]) -> tuple[
        dict[tuple[str, ...], list[_GroupNeed]], dict[tuple[str, ...], list[ipaddress.IPv4Network] | None],
        dict[tuple[str, ...], int | None]]:
    """A cluster's groups keyed by the subnets they draw addresses from (groups sharing subnets share
    addresses), with those subnets' CIDRs (None: not literal in the templates) and free addresses (``--live``)."""
    kind = Orchestrator.EKS if _is_eks(cluster) else Orchestrator.SLURM
    default_subnets = as_list(as_map(cluster.properties.get("VpcConfig")).get("Subnets"))
    by_subnets: dict[tuple[str, ...], list[_GroupNeed]] = {}
    cidrs: dict[tuple[str, ...], list[ipaddress.IPv4Network] | None] = {}
    free: dict[tuple[str, ...], int | None] = {}
    for _index, name, group in _groups(cluster):
        count = _int(group.get("InstanceCount"))
        types = [t for t in _instance_types(group) if spec_for(t) is not None]
        subnets = as_list(as_map(group.get("OverrideVpcConfig")).get("Subnets")) or default_subnets
        if count is None or not types or not subnets:
            continue
        per_node = max(_ips(t, kind) for t in types)
        keyed = tuple(repr(templates.reference_key(cluster.template_path, s)) for s in subnets)
        by_subnets.setdefault(keyed, []).append((name, count, per_node, types[0]))
        if keyed not in cidrs:
            found = [_subnet_cidr(templates, cluster.template_path, s, by_id) for s in subnets]
            cidrs[keyed] = None if any(c is None for c in found) else [c for c in found if c]
            free[keyed] = _free_addresses(templates, cluster.template_path, subnets, by_id)
    return by_subnets, cidrs, free


def subnet_ip_capacity(templates: Templates, rule_id: str = "HyperPod-IP1") -> Iterator[Finding]:
    by_id = _subnets_by_id(templates)
    for cluster in _clusters(templates):
        by_subnets, cidrs, free = _groups_by_subnets(templates, cluster, by_id)
        for keyed, groups in by_subnets.items():
            networks = cidrs.get(keyed)
            if networks is None:
                continue  # the subnet is not in the template (or its CIDR is not literal): --live resolves it
            available = free.get(keyed)
            capacity = available if available is not None else sum(
                n.num_addresses - AWS_RESERVED_PER_SUBNET for n in networks)
            nodes = sum(count * per_node for _, count, per_node, _ in groups)
            detail = ", ".join(f"'{n}' {c} x {t} x {p} IPs" for n, c, p, t in groups)
            shown = ", ".join(map(str, networks))
            what = "free addresses now" if available is not None else "usable addresses"
            if nodes > capacity:
                yield cluster.finding(
                    rule_id, f"subnets {shown} have {capacity} {what} but the groups need {nodes} "
                    f"({detail})", "Properties/VpcConfig/Subnets")
            elif nodes * (100 + IP_HEADROOM_PERCENT) / 100 > capacity:
                yield cluster.finding(
                    rule_id, f"subnets {shown} have {capacity} {what} and the groups need {nodes} "
                    f"({detail}); less than {IP_HEADROOM_PERCENT}% headroom for replacements and updates",
                    "Properties/VpcConfig/Subnets", severity="warning")


def _free_addresses(templates: Templates, template_path: str, subnets: list[Json],
                    by_id: Mapping[str, Resource]) -> int | None:
    """Free addresses AWS reported for every subnet (``--live``), else None."""
    total = 0
    for value in subnets:
        key = templates.reference_key(template_path, value)
        subnet = by_id.get(key[1]) if key[0] == "literal" else None
        count = _int(subnet.properties.get("AvailableIpAddressCount")) if subnet else None
        if count is None:
            return None
        total += count
    return total


def _ips(instance_type: str, kind: Orchestrator) -> int:
    from hyperpod_cdk.specs.instance_types import ips_per_node

    return ips_per_node(instance_type, kind)


# --------------------------------------------------------------------------- FSX1

LUSTRE_PORTS = ((988, 988), (1018, 1023))


def _covers(entry: Mapping[str, Json], low: int, high: int) -> bool:
    protocol = str(entry.get("IpProtocol", ""))
    if protocol in ("-1", "all"):
        return True
    if protocol not in ("tcp", "6"):
        return False
    start, end = _int(entry.get("FromPort")), _int(entry.get("ToPort"))
    return start is not None and end is not None and start <= low and high <= end


def _lustre_ports_missing(templates: Templates, key: tuple[str, ...],
                          ingress_by_group: Mapping[tuple[str, ...], list[Mapping[str, Json]]]) -> list[str] | None:
    """The Lustre port ranges a group's ingress misses ([] for an imported group without rules here);
    None when its rules are not known offline."""
    group = templates.resource(key[1], key[2]) if key[0] == "resource" else None
    rules = [as_map(e) for e in as_list(group.properties.get("SecurityGroupIngress"))] if group else []
    rules.extend(ingress_by_group.get(key, []))
    if group is None and not rules:
        return []  # an imported group whose rules are not in the definition (--live reads them)
    if any(not literal(r.get("FromPort")) or not literal(r.get("IpProtocol")) for r in rules):
        return None
    return [f"{low}" if low == high else f"{low}-{high}" for low, high in LUSTRE_PORTS
            if not any(_covers(r, low, high) for r in rules)]


def lustre_ports(templates: Templates, rule_id: str = "HyperPod-FSX1") -> Iterator[Finding]:
    # Ingress rules by the group they belong to, once: not once per group id an FSx names (an input with
    # thousands of both would otherwise take minutes).
    ingress_by_group: dict[tuple[str, ...], list[Mapping[str, Json]]] = {}
    for rule in templates.resources("AWS::EC2::SecurityGroupIngress"):
        if "GroupId" in rule.properties:
            group_key = templates.reference_key(rule.template_path, rule.properties["GroupId"])
            ingress_by_group.setdefault(group_key, []).append(rule.properties)
    # What each group lacks, once per group: not once per position naming it (one id named 50,000 times
    # next to 5,000 rules was 250 million port checks).
    verdicts: dict[tuple[str, ...], list[str] | None] = {}
    for fsx in templates.resources("AWS::FSx::FileSystem"):
        if fsx.properties.get("FileSystemType") != "LUSTRE":
            continue
        for position, value in enumerate(as_list(fsx.properties.get("SecurityGroupIds"))):
            key = templates.reference_key(fsx.template_path, value)
            if key not in verdicts:
                verdicts[key] = _lustre_ports_missing(templates, key, ingress_by_group)
            missing = verdicts[key]
            if missing is None:
                yield fsx.not_checked(rule_id, f"security group {key[-1]} has rules not known offline",
                                      f"Properties/SecurityGroupIds/{position}")
            elif missing:
                yield fsx.finding(
                    rule_id, f"security group {key[-1]} of the Lustre file system allows no inbound TCP "
                    f"{' and '.join(missing)}; clients cannot mount it", f"Properties/SecurityGroupIds/{position}")


# --------------------------------------------------------------------------- HELM1


def _is_helm(resource: Resource) -> bool:
    text = f"{resource.type} {resource.logical_id}".lower()
    if resource.type == "AWS::CloudFormation::Stack":
        text += " " + str(resource.properties.get("TemplateURL", "")).lower()
    return "helm" in text and "inf" not in resource.logical_id.lower()[:3]


def helm_chart_before_cluster(templates: Templates, rule_id: str = "HyperPod-HELM1") -> Iterator[Finding]:
    releases = list(templates.resources(LIVE_HELM_RELEASE))
    # Helm resources per template, once (not once per cluster: thousands of clusters made it quadratic).
    helm_by_template: dict[str, list[Resource]] = {}
    for resource in templates.resources():
        if _is_helm(resource) and resource.type != LIVE_HELM_RELEASE:
            helm_by_template.setdefault(resource.template_path, []).append(resource)
    missing = [r for r in releases if r.properties.get("Installed") is False]
    after_helm: dict[str, set[str]] = {}
    for cluster in _clusters(templates):
        if not _is_eks(cluster):
            continue
        helm = helm_by_template.get(cluster.template_path, [])
        if not helm and missing:
            names = ", ".join(str(r.properties.get("EksCluster")) for r in missing)
            yield cluster.finding(
                rule_id, f"the HyperPod Helm chart (release {missing[0].properties.get('Name')}) is not installed "
                f"on EKS cluster {names} (read with --live); install it before creating the cluster", "Properties")
            continue
        if not helm:
            continue  # the chart is installed elsewhere (another stack, the hyp CLI): not visible here
        if cluster.template_path not in after_helm:
            after_helm[cluster.template_path] = depending_on(
                templates, cluster.template_path, {h.logical_id for h in helm})
        if cluster.logical_id not in after_helm[cluster.template_path]:
            names = ", ".join(h.logical_id for h in helm)
            yield cluster.finding(
                rule_id, f"the cluster does not depend on the HyperPod Helm chart ({names}); HyperPod can create "
                "nodes before the chart's health-monitoring agent and device plugins exist", "DependsOn")


# --------------------------------------------------------------------------- TOP1, ADD1, TG1


def _live(resource: Resource) -> bool:
    return bool(as_map(resource.body.get("Metadata")).get(LIVE_MARK))


def _addon_name(addon: Resource) -> str | None:
    name = addon.properties.get("AddonName")
    return name if isinstance(name, str) else None


def training_operator_pod_identity(templates: Templates, rule_id: str = "HyperPod-TOP1") -> Iterator[Finding]:
    # Templates with an association for aws-hyperpod, once (not once per add-on).
    associated = {a.template_path for a in templates.resources(POD_IDENTITY_ASSOCIATION)
                  if str(a.properties.get("Namespace", "")) == "aws-hyperpod"}
    for addon in templates.resources(EKS_ADDON):
        if _addon_name(addon) != TRAINING_OPERATOR or _live(addon):
            continue  # an installed add-on (read with --live) is past its creation
        if addon.properties.get("PodIdentityAssociations"):
            yield addon.finding(
                rule_id, "the training operator add-on carries an inline PodIdentityAssociations; versions from "
                "v1.2.1 refuse it, so the add-on fails to create", "Properties/PodIdentityAssociations")
            continue
        if addon.template_path not in associated:
            yield addon.finding(
                rule_id, "no AWS::EKS::PodIdentityAssociation for namespace aws-hyperpod in this template; the "
                "operator's controller has no AWS credentials", "Properties", severity="warning")


def addon_resolve_conflicts(templates: Templates, rule_id: str = "HyperPod-ADD1") -> Iterator[Finding]:
    for addon in templates.resources(EKS_ADDON):
        name = _addon_name(addon)
        if name not in RESOLVE_CONFLICTS or _live(addon):
            continue
        value = addon.properties.get("ResolveConflicts")
        if not literal(value):
            yield addon.not_checked(rule_id, "ResolveConflicts is not known offline", "Properties/ResolveConflicts")
            continue
        expected, why = RESOLVE_CONFLICTS[name]
        if value != expected:
            shown = "unset (NONE)" if value is None else repr(value)
            yield addon.finding(rule_id, f"add-on {name}: ResolveConflicts is {shown}; {why}",
                                "Properties/ResolveConflicts")


def _version_key(version: str) -> tuple[int, ...] | None:
    match = re.fullmatch(r"v?(\d+)\.(\d+)\.(\d+)(?:-eksbuild\.(\d+))?", version.strip())
    return tuple(int(p or 0) for p in match.groups()) if match else None


def task_governance_version(templates: Templates, rule_id: str = "HyperPod-TG1") -> Iterator[Finding]:
    addons = list(templates.resources(EKS_ADDON))
    if not any(_addon_name(a) == TRAINING_OPERATOR for a in addons):
        return
    minimum = _version_key(TASK_GOVERNANCE_MIN)
    for addon in addons:
        if _addon_name(addon) != TASK_GOVERNANCE:
            continue
        version = addon.properties.get("AddonVersion")
        where = "Properties/AddonVersion"
        if version is None:
            continue  # EKS installs its default version
        if not isinstance(version, str):
            yield addon.not_checked(rule_id, "AddonVersion is not known offline", where)
            continue
        key = _version_key(version)
        if key is None:
            yield addon.not_checked(rule_id, f"AddonVersion {version!r} is not a version this rule can compare",
                                    where)
        elif minimum is not None and key < minimum:
            yield addon.finding(rule_id, f"task governance {version} next to the training operator; use "
                                f"{TASK_GOVERNANCE_MIN} or later", where)


# --------------------------------------------------------------------------- LCS1


def _script_uri(uri: str, script: str) -> str:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return f"s3://{bucket}/{prefix.rstrip('/')}/{script}" if prefix.strip("/") else f"s3://{bucket}/{script}"


def lifecycle_script_uri(templates: Templates, rule_id: str = "HyperPod-LCS1") -> Iterator[Finding]:
    missing = {str(r.properties.get("Uri", "")) for r in templates.resources(LIVE_S3_OBJECT)
               if r.properties.get("Exists") is False}
    for cluster in _clusters(templates):
        for index, name, group in _groups(cluster):
            config = as_map(group.get("LifeCycleConfig"))
            where = f"Properties/InstanceGroups/{index}/LifeCycleConfig"
            if not config:
                if not _is_eks(cluster) and not _partial(cluster):
                    yield cluster.finding(rule_id, f"group '{name}' has no LifeCycleConfig; a Slurm cluster is "
                                          "configured by its lifecycle scripts", where)
                continue
            uri = config.get("SourceS3Uri")
            if not literal(uri):
                yield cluster.not_checked(rule_id, f"group '{name}': SourceS3Uri is not known offline",
                                          f"{where}/SourceS3Uri")
                continue
            if not isinstance(uri, str) or not SOURCE_S3_URI.match(uri):
                yield cluster.finding(rule_id, f"group '{name}': SourceS3Uri {uri!r} is not s3://bucket[/prefix] "
                                      "or https://...", f"{where}/SourceS3Uri")
                continue
            hook = config.get("OnCreate") or config.get("OnInitComplete")
            if uri.startswith("s3://") and isinstance(hook, str) and hook.startswith(("s3://", "/")):
                yield cluster.finding(rule_id, f"group '{name}': OnCreate {hook!r} must be a file name relative "
                                      "to SourceS3Uri", f"{where}/OnCreate")
                continue
            if isinstance(hook, str) and _script_uri(uri, hook) in missing:
                yield cluster.finding(rule_id, f"group '{name}': {_script_uri(uri, hook)} does not exist (read "
                                      "with --live); nodes fail their lifecycle script", f"{where}/SourceS3Uri")



# --------------------------------------------------------------------------- QUOTA1


def hyperpod_quotas(templates: Templates, rule_id: str = "HyperPod-QUOTA1") -> Iterator[Finding]:
    """Instances per type against the account's per-type HyperPod quota (known only with --live)."""
    quotas = {str(q.properties.get("InstanceType")): _int(q.properties.get("Value"))
              for q in templates.resources(LIVE_QUOTA)}
    if not quotas:
        return
    for cluster in _clusters(templates):
        wanted: dict[str, int] = {}
        for _index, _name, group in _groups(cluster):
            count = _int(group.get("InstanceCount"))
            types = _instance_types(group)
            if count and types:
                wanted[types[0]] = wanted.get(types[0], 0) + count
        for instance_type, count in wanted.items():
            limit = quotas.get(instance_type)
            if limit is not None and count > limit:
                yield cluster.finding(
                    rule_id, f"{count} x {instance_type} but the account's '{instance_type} for cluster usage' "
                    f"quota is {limit}", "Properties/InstanceGroups")
