"""Deploy rules on what HyperPod needs in the EKS cluster: the Helm chart (HELM1) and the add-ons
(TOP1, ADD1, TG1)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from hyperpod_cdk.rules.dependencies import TooMuchReferenceWorkError, depending_on
from hyperpod_cdk.rules.deploy_base import (
    EKS_ADDON,
    LIVE_HELM_RELEASE,
    POD_IDENTITY_ASSOCIATION,
    TASK_GOVERNANCE,
    TASK_GOVERNANCE_MIN,
    TRAINING_OPERATOR,
    _clusters,
    _is_eks,
    _live,
)
from hyperpod_cdk.rules.model import Finding, Json, Resource, Templates, literal, shown
from hyperpod_cdk.specs.addon_conflicts import RESOLVE_CONFLICTS

# --------------------------------------------------------------------------- HELM1


# The HyperPod chart as a definition installs it: this project's custom resource; a Helm-chart custom
# resource naming the chart (aws-cdk-lib's eks.HelmChart, Terraform's helm_release as rules/inputs.py maps it,
# any custom resource with a Chart property); or a nested stack whose template installs a Helm chart (the AWS
# samples' helm-chart stack). Never a resource merely named like Helm: the installer's role or function is
# not the chart (review round 19, R19T-H3: a cluster depending on HelmInstallerRole passed).
HELM_DEPENDENCIES = "Custom::HyperPodHelmDependencies"
_CHART_TYPES = ("Custom::AWSCDK-EKS-HelmChart", "Custom::HelmRelease")
_CHART_NAMES = ("Chart", "Release", "ReleaseName", "Name")  # a chart path or a release name


def _names_hyperpod(value: Json) -> bool:
    """A literal chart path or release name of the HyperPod chart (``helm_chart/HyperPodHelmChart``,
    ``hyperpod-dependencies``), not the inference operator's own chart."""
    text = value.lower() if isinstance(value, str) else ""
    return "hyperpod" in text and "inference" not in text


def _is_helm(resource: Resource) -> bool:
    """Whether ``resource`` installs the HyperPod Helm chart (see :data:`HELM_DEPENDENCIES`)."""
    if resource.type == HELM_DEPENDENCIES:
        return True
    props = resource.properties
    if resource.type == "AWS::CloudFormation::Stack":
        url = str(props.get("TemplateURL", "")).lower()
        return "helm" in url and "inference" not in url
    custom = resource.type.startswith("Custom::") or resource.type == "AWS::CloudFormation::CustomResource"
    if not custom or (resource.type not in _CHART_TYPES and "Chart" not in props):
        return False
    return any(_names_hyperpod(props.get(key)) for key in _CHART_NAMES)


def helm_chart_before_cluster(templates: Templates, rule_id: str = "HyperPod-HELM1") -> Iterator[Finding]:
    releases = list(templates.live_resources(LIVE_HELM_RELEASE))
    # Helm resources per template, once (not once per cluster: thousands of clusters made it quadratic).
    helm_by_template: dict[str, list[Resource]] = {}
    for resource in templates.resources():
        if _is_helm(resource) and resource.type != LIVE_HELM_RELEASE:
            helm_by_template.setdefault(resource.template_path, []).append(resource)
    missing = [r for r in releases if r.properties.get("Installed") is False]
    after_helm: dict[str, set[str] | None] = {}
    for cluster in _clusters(templates):
        helm = helm_by_template.get(cluster.template_path, [])
        if not _is_eks(cluster):
            if helm and not literal(cluster.properties.get("Orchestrator")):  # review round 19, R19T-M3
                yield cluster.not_checked(
                    rule_id, "Orchestrator is not known offline; an EKS cluster depends on the Helm chart", "DependsOn"
                )
            continue
        if not helm and missing:
            names = ", ".join(str(r.properties.get("EksCluster")) for r in missing)
            yield cluster.finding(
                rule_id,
                f"the HyperPod Helm chart (release {missing[0].properties.get('Name')}) is not installed "
                f"on EKS cluster {names} (read with --live); install it before creating the cluster",
                "Properties",
            )
            continue
        if not helm:
            continue  # the chart is installed elsewhere (another stack, the hyp CLI): not visible here
        if cluster.template_path not in after_helm:
            try:
                after_helm[cluster.template_path] = depending_on(
                    templates, cluster.template_path, {h.logical_id for h in helm}
                )
            except TooMuchReferenceWorkError:
                after_helm[cluster.template_path] = None
        dependents = after_helm[cluster.template_path]
        if dependents is None:
            yield cluster.not_checked(
                rule_id, "the template's Ref, GetAtt and Sub references are too many to follow", "DependsOn"
            )
        elif cluster.logical_id not in dependents:
            names = ", ".join(h.logical_id for h in helm)
            yield cluster.finding(
                rule_id,
                f"the cluster does not depend on the HyperPod Helm chart ({names}); HyperPod can create "
                "nodes before the chart's health-monitoring agent and device plugins exist",
                "DependsOn",
            )


# --------------------------------------------------------------------------- TOP1, ADD1, TG1


def _addon_name(addon: Resource) -> str | None:
    name = addon.properties.get("AddonName")
    return name if isinstance(name, str) else None


def _unknown_name(addon: Resource) -> bool:
    """``AddonName`` is known only at deploy (a parameter without a default, an ``Fn::Select`` whose index
    is one): a rule that picks add-ons by name says so, never skips it (review round 19, R19T-M3)."""
    return not literal(addon.properties.get("AddonName"))


def _name_not_known(addon: Resource, rule_id: str, why: str, where: str = "Properties/AddonName") -> Finding:
    said = shown(addon.properties.get("AddonName"))
    return addon.not_checked(rule_id, f"AddonName is not known offline ({said}); {why}", where)


def _operator_problem(addon: Resource, associated: set[str]) -> tuple[str, str, str | None] | None:
    """(detail, location, severity) of what TOP1 finds on the training operator ``addon``, else None."""
    if addon.properties.get("PodIdentityAssociations"):
        return (
            "the training operator add-on carries an inline PodIdentityAssociations; versions from "
            "v1.2.1 refuse it, so the add-on fails to create",
            "Properties/PodIdentityAssociations",
            None,
        )
    if addon.template_path not in associated:
        return (
            "no AWS::EKS::PodIdentityAssociation for namespace aws-hyperpod in this template; the "
            "operator's controller has no AWS credentials",
            "Properties",
            "warning",
        )
    return None


def training_operator_pod_identity(templates: Templates, rule_id: str = "HyperPod-TOP1") -> Iterator[Finding]:
    # Templates with an association for aws-hyperpod, once (not once per add-on).
    associated = {
        a.template_path
        for a in templates.resources(POD_IDENTITY_ASSOCIATION)
        if str(a.properties.get("Namespace", "")) == "aws-hyperpod"
    }
    for addon in templates.resources(EKS_ADDON):
        unknown = _unknown_name(addon)
        if (_addon_name(addon) != TRAINING_OPERATOR and not unknown) or _live(templates, addon):
            continue  # an installed add-on (read with --live) is past its creation
        problem = _operator_problem(addon, associated)
        if problem is None:
            continue
        detail, where, severity = problem
        if unknown:  # what it would be, were it the operator
            yield _name_not_known(addon, rule_id, f"if it is the training operator: {detail}", where)
        else:
            yield addon.finding(rule_id, detail, where, severity=severity)


def addon_resolve_conflicts(templates: Templates, rule_id: str = "HyperPod-ADD1") -> Iterator[Finding]:
    for addon in templates.resources(EKS_ADDON):
        name = _addon_name(addon)
        if _unknown_name(addon) and not _live(templates, addon):
            value = addon.properties.get("ResolveConflicts")
            if not literal(value) or value not in {expected for expected, _ in RESOLVE_CONFLICTS.values()}:
                why = "the add-ons HyperPod installs (vpc-cni, coredns, the HyperPod add-ons, ...) need OVERWRITE"
                yield _name_not_known(addon, rule_id, why)
            continue
        if name not in RESOLVE_CONFLICTS or _live(templates, addon):
            continue
        value = addon.properties.get("ResolveConflicts")
        if not literal(value):
            yield addon.not_checked(rule_id, "ResolveConflicts is not known offline", "Properties/ResolveConflicts")
            continue
        expected, why = RESOLVE_CONFLICTS[name]
        if value != expected:
            said = "unset (NONE)" if value is None else shown(value)
            yield addon.finding(
                rule_id, f"add-on {name}: ResolveConflicts is {said}; {why}", "Properties/ResolveConflicts"
            )


def _version_key(version: str) -> tuple[int, ...] | None:
    # At most 9 ASCII digits a part: int() refuses text over 4,300 digits (review round 16, R16T-L2).
    match = re.fullmatch(r"v?([0-9]{1,9})\.([0-9]{1,9})\.([0-9]{1,9})(?:-eksbuild\.([0-9]{1,9}))?", version.strip())
    return tuple(int(p or 0) for p in match.groups()) if match else None


def task_governance_version(templates: Templates, rule_id: str = "HyperPod-TG1") -> Iterator[Finding]:
    addons = list(templates.resources(EKS_ADDON))
    unknown = [a for a in addons if _unknown_name(a)]
    operator = any(_addon_name(a) == TRAINING_OPERATOR for a in addons)
    if not operator and not unknown:
        return
    minimum = _version_key(TASK_GOVERNANCE_MIN)
    why = f"task governance next to the training operator must be {TASK_GOVERNANCE_MIN} or later"
    for addon in unknown:  # it may be task governance (or the operator), review round 19, R19T-M3
        if operator or len(unknown) > 1 or any(_addon_name(a) == TASK_GOVERNANCE for a in addons):
            yield _name_not_known(addon, rule_id, why)
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
            yield addon.not_checked(
                rule_id, f"AddonVersion {shown(version)} is not a version this rule can compare", where
            )
        elif minimum is not None and key < minimum and not operator:
            yield addon.not_checked(
                rule_id,
                f"task governance {version}: the training operator may be an add-on whose AddonName is not "
                f"known offline; {why}",
                where,
            )
        elif minimum is not None and key < minimum:
            yield addon.finding(
                rule_id,
                f"task governance {version} next to the training operator; use {TASK_GOVERNANCE_MIN} or later",
                where,
            )
