"""Deploy rules on what HyperPod needs in the EKS cluster: the add-ons (TOP1, ADD1, TG1). The Helm chart rule
(HELM1) lives in :mod:`.deploy_helm`; its names stay importable from here."""

from __future__ import annotations

import re
from collections.abc import Iterator

from hyperpod_cdk.rules.deploy_base import (
    EKS_ADDON,
    POD_IDENTITY_ASSOCIATION,
    TASK_GOVERNANCE,
    TASK_GOVERNANCE_MIN,
    TRAINING_OPERATOR,
    _live,
)
from hyperpod_cdk.rules.deploy_helm import HELM_DEPENDENCIES as HELM_DEPENDENCIES
from hyperpod_cdk.rules.deploy_helm import MAX_MAYBE_CHARTS as MAX_MAYBE_CHARTS
from hyperpod_cdk.rules.deploy_helm import _is_helm as _is_helm
from hyperpod_cdk.rules.deploy_helm import helm_chart_before_cluster as helm_chart_before_cluster
from hyperpod_cdk.rules.model import Finding, Resource, Templates, literal, shown
from hyperpod_cdk.specs.addon_conflicts import RESOLVE_CONFLICTS

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
