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
        if not _is_eks(cluster):
            continue
        helm = helm_by_template.get(cluster.template_path, [])
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


def training_operator_pod_identity(templates: Templates, rule_id: str = "HyperPod-TOP1") -> Iterator[Finding]:
    # Templates with an association for aws-hyperpod, once (not once per add-on).
    associated = {
        a.template_path
        for a in templates.resources(POD_IDENTITY_ASSOCIATION)
        if str(a.properties.get("Namespace", "")) == "aws-hyperpod"
    }
    for addon in templates.resources(EKS_ADDON):
        if _addon_name(addon) != TRAINING_OPERATOR or _live(templates, addon):
            continue  # an installed add-on (read with --live) is past its creation
        if addon.properties.get("PodIdentityAssociations"):
            yield addon.finding(
                rule_id,
                "the training operator add-on carries an inline PodIdentityAssociations; versions from "
                "v1.2.1 refuse it, so the add-on fails to create",
                "Properties/PodIdentityAssociations",
            )
            continue
        if addon.template_path not in associated:
            yield addon.finding(
                rule_id,
                "no AWS::EKS::PodIdentityAssociation for namespace aws-hyperpod in this template; the "
                "operator's controller has no AWS credentials",
                "Properties",
                severity="warning",
            )


def addon_resolve_conflicts(templates: Templates, rule_id: str = "HyperPod-ADD1") -> Iterator[Finding]:
    for addon in templates.resources(EKS_ADDON):
        name = _addon_name(addon)
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
            yield addon.not_checked(
                rule_id, f"AddonVersion {shown(version)} is not a version this rule can compare", where
            )
        elif minimum is not None and key < minimum:
            yield addon.finding(
                rule_id,
                f"task governance {version} next to the training operator; use {TASK_GOVERNANCE_MIN} or later",
                where,
            )
