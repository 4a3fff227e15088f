"""Deploy rules on what HyperPod needs in the EKS cluster: the Helm chart (HELM1) and the add-ons
(TOP1, ADD1, TG1)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from hyperpod_cdk.rules.cdk_out import CdkOutError, _CdkOutReader
from hyperpod_cdk.rules.dependencies import (
    ReferenceWalk,
    TooMuchReferenceWorkError,
    _direct_dependencies,
    depending_on,
)
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
from hyperpod_cdk.rules.model import Finding, Json, Resource, Templates, as_map, literal, shown
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
_CHART_SOURCES = ("Chart", "ChartAssetURL")  # a property only a Helm-chart custom resource has

# Charts that are certainly not HyperPod's: they install nothing its nodes need before they join (the
# chart's own parts, device plugins and health agents, are not listed: installed alone they are "maybe").
_OTHER_CHARTS = frozenset(
    {
        "argo-cd",
        "aws-load-balancer-controller",
        "cert-manager",
        "cluster-autoscaler",
        "external-dns",
        "external-secrets",
        "ingress-nginx",
        "karpenter",
        "kube-prometheus-stack",
        "metrics-server",
        # Storage drivers, log and metric shippers and autoscalers: charts of their own projects (review
        # round 21, R21T-L1: aws-efs-csi-driver was "maybe the HyperPod chart").
        "amazon-cloudwatch-observability",
        "aws-cloudwatch-metrics",
        "aws-for-fluent-bit",
        "aws-node-termination-handler",
        "fluent-bit",
        "grafana",
        "keda",
        "kube-state-metrics",
        "prometheus",
        "secrets-store-csi-driver",
        "secrets-store-csi-driver-provider-aws",
        "velero",
    }
)
# A Container Storage Interface driver's chart (aws-efs-csi-driver, aws-fsx-csi-driver, ...): never HyperPod's.
_CSI_DRIVER_CHART = re.compile(r"[a-z0-9-]*-csi-driver")
# aws-cdk-lib's EKS module adds nested stacks of Lambda providers (kubectl, cluster resource) with these
# logical ids; they install no chart.
_CDK_EKS_PROVIDER_STACK = "awscdkawseks"
# A CDK nested stack's template is an asset: its URL ends in the asset hash, which names nothing.
_ASSET_FILE = re.compile(r"[0-9a-f]{8,}\.json")
# "Maybe the chart" resources followed one by one per template; past this many, one line says so.
MAX_MAYBE_CHARTS = 8

IS_CHART, MAYBE_CHART = "chart", "maybe"


def _names_hyperpod(value: Json) -> bool:
    """A literal chart path or release name of the HyperPod chart (``helm_chart/HyperPodHelmChart``,
    ``hyperpod-dependencies``), not the inference operator's own chart."""
    text = value.lower() if isinstance(value, str) else ""
    return "hyperpod" in text and "inference" not in text


def _names_another_chart(value: Json) -> bool:
    """A literal chart path or release name of a chart known not to be HyperPod's (see :data:`_OTHER_CHARTS`;
    the inference operator's chart too)."""
    text = value.lower().rstrip("/") if isinstance(value, str) else ""
    name = text.rsplit("/", 1)[-1]
    return "inference" in text or name in _OTHER_CHARTS or bool(_CSI_DRIVER_CHART.fullmatch(name))


_ASSET_HASH = re.compile(r"([0-9a-f]{64})\.json")
_NESTED_DEPTH = 4  # nested stacks followed inside a nested template read from disk


class _NestedTemplates:
    """CDK nested stack templates written next to their parent in a cdk.out, found by the asset hash of
    ``TemplateURL`` in the folder's ``*.assets.json`` (or the ``aws:asset:path`` metadata CDK writes on the
    resource). Read once per folder and file; a template not found stays unknown (review round 21, R21T-L1:
    every CDK NestedStack, an SNS topic's too, was "maybe the HyperPod chart")."""

    def __init__(self) -> None:
        self._assets: dict[Path, dict[str, str]] = {}
        self._kinds: dict[Path, str | None] = {}
        # A cdk.out is untrusted input to `lint`: files are read as its templates are, regular files only,
        # never through a link or from a FIFO, within the same per-file and total caps (review round 22,
        # R22T-M1: a manifest linked to /dev/zero, a FIFO, a 21 MB template were read whole or hung).
        self._readers: dict[Path, _CdkOutReader] = {}

    def _load(self, path: Path) -> Json | None:
        reader = self._readers.setdefault(path.parent, _CdkOutReader(path.parent))
        try:
            return reader.load(path)
        except CdkOutError:
            return None

    def _asset_paths(self, folder: Path) -> dict[str, str]:
        if folder not in self._assets:
            paths: dict[str, str] = {}
            for manifest in sorted(folder.glob("*.assets.json")):
                files = as_map(as_map(self._load(manifest)).get("files"))
                for asset_hash, entry in files.items():
                    source = as_map(as_map(entry).get("source")).get("path")
                    if isinstance(source, str):
                        paths.setdefault(asset_hash, source)
            self._assets[folder] = paths
        return self._assets[folder]

    def file_of(self, resource: Resource) -> Path | None:
        """The nested template file of ``resource`` in its parent's folder, if it can be identified."""
        parent = Path(resource.template_path)
        if not parent.is_file():
            return None
        named = as_map(resource.body.get("Metadata")).get("aws:asset:path")
        if not isinstance(named, str):
            hashes = set(_ASSET_HASH.findall(json.dumps(resource.properties.get("TemplateURL"))))
            known = [self._asset_paths(parent.parent).get(h) for h in hashes]
            named = known[0] if len(known) == 1 else None
        if not isinstance(named, str) or Path(named).name != named:
            return None  # only a file next to the parent, never a path elsewhere
        found = parent.parent / named
        return found if found.is_file() else None

    def kind(self, resource: Resource, depth: int = 0) -> str | None:
        """The chart kind of a nested stack read from its template file: the strongest of its resources';
        MAYBE_CHART when the file is not found or not readable."""
        path = self.file_of(resource) if depth < _NESTED_DEPTH else None
        if path is None:
            return MAYBE_CHART
        if path not in self._kinds:
            self._kinds[path] = MAYBE_CHART  # a stack naming itself again is not followed twice
            template = as_map(self._load(path))
            if not template:
                return MAYBE_CHART
            kinds = {
                _chart_kind(Resource(str(path), str(logical_id), as_map(body)), self, depth + 1)
                for logical_id, body in as_map(template.get("Resources")).items()
            }
            self._kinds[path] = IS_CHART if IS_CHART in kinds else MAYBE_CHART if MAYBE_CHART in kinds else None
        return self._kinds[path]


def _nested_stack_kind(resource: Resource, nested: _NestedTemplates | None = None, depth: int = 0) -> str | None:
    url = resource.properties.get("TemplateURL")
    if resource.logical_id.startswith(_CDK_EKS_PROVIDER_STACK):
        return None
    if isinstance(url, str):
        url = url.lower()
        if "helm" in url:
            return None if "inference" in url else IS_CHART
        if not _ASSET_FILE.fullmatch(url.rsplit("/", 1)[-1]):
            return None
    # A CDK asset (its bucket names the account, or its file the hash): its template, if written here
    # (cdk.out), says what it holds; else maybe the chart.
    return nested.kind(resource, depth) if nested else MAYBE_CHART


def _chart_kind(resource: Resource, nested: _NestedTemplates | None = None, depth: int = 0) -> str | None:
    """Whether ``resource`` installs the HyperPod Helm chart (see :data:`HELM_DEPENDENCIES`): IS_CHART;
    MAYBE_CHART for a Helm chart (or a CDK nested stack) the definition does not name, whose chart comes
    from an asset or a parameter or has a name no rule knows (review round 20, R20T-H2: those were silently
    "no chart"); None for anything else. ``nested`` reads a CDK nested stack's template from disk."""
    if resource.type == HELM_DEPENDENCIES:
        return IS_CHART
    if resource.type == "AWS::CloudFormation::Stack":
        return _nested_stack_kind(resource, nested, depth)
    props = resource.properties
    custom = resource.type.startswith("Custom::") or resource.type == "AWS::CloudFormation::CustomResource"
    if not custom or (resource.type not in _CHART_TYPES and not any(k in props for k in _CHART_SOURCES)):
        return None
    names = [props.get(key) for key in _CHART_NAMES]
    if any(map(_names_hyperpod, names)):
        return IS_CHART
    return None if any(map(_names_another_chart, names)) else MAYBE_CHART


def _is_helm(resource: Resource) -> bool:
    """Whether ``resource`` installs the HyperPod Helm chart for certain."""
    return _chart_kind(resource) == IS_CHART


class _ChartsByTemplate:
    """The Helm-chart resources of each template (found once, not once per cluster: thousands of clusters
    made it quadratic) and which resources depend on them (one walk per template and chart set)."""

    def __init__(self, templates: Templates) -> None:
        self.templates = templates
        self.charts: dict[str, list[Resource]] = {}
        self.maybe: dict[str, list[Resource]] = {}
        nested = _NestedTemplates()
        for resource in templates.resources():
            kind = _chart_kind(resource, nested) if resource.type != LIVE_HELM_RELEASE else None
            if kind is not None:
                found = self.charts if kind == IS_CHART else self.maybe
                found.setdefault(resource.template_path, []).append(resource)
        self._after: dict[tuple[str, tuple[str, ...]], set[str] | None] = {}

    def after(self, template_path: str, charts: list[Resource]) -> set[str] | None:
        """Logical ids depending on any of ``charts`` (None: too many references to follow)."""
        key = (template_path, tuple(c.logical_id for c in charts))
        if key not in self._after:
            try:
                self._after[key] = depending_on(self.templates, template_path, set(key[1]))
            except TooMuchReferenceWorkError:
                self._after[key] = None
        return self._after[key]


def _depended_on_by(templates: Templates, cluster: Resource) -> set[str]:
    """Logical ids ``cluster`` depends on, directly or through others (DependsOn, Ref, GetAtt): one walk of
    its own dependencies, not one per chart. Raises TooMuchReferenceWorkError past the walk's budget."""
    resources: Mapping[str, Json] = as_map(templates.templates.get(cluster.template_path, {}).get("Resources"))
    walk = ReferenceWalk()
    seen: set[str] = set()
    todo = [cluster.logical_id]
    while todo:
        for name in _direct_dependencies(as_map(resources.get(todo.pop())), walk):
            if name in resources and name not in seen:
                seen.add(name)
                todo.append(name)
    return seen


_TOO_MANY_REFERENCES = "the template's Ref, GetAtt and Sub references are too many to follow"


def _maybe_chart_lines(found: _ChartsByTemplate, cluster: Resource, rule_id: str) -> Iterator[Finding]:
    """Not checked: Helm charts that may be HyperPod's and that the cluster does not depend on."""
    maybe = found.maybe[cluster.template_path]
    if len(maybe) > MAX_MAYBE_CHARTS:
        try:
            before = _depended_on_by(found.templates, cluster)
        except TooMuchReferenceWorkError:
            before = set()
        if all(chart.logical_id in before for chart in maybe):
            return  # the cluster depends on every one of them (review round 21, R21T-L1)
        yield cluster.not_checked(
            rule_id,
            f"cannot tell which of {len(maybe)} Helm charts or nested stacks ({maybe[0].logical_id}, ...) installs "
            f"the HyperPod chart (more than {MAX_MAYBE_CHARTS} to follow one by one); the cluster must depend on it",
            "DependsOn",
        )
        return
    ahead: list[str] = []
    for chart in maybe:
        dependents = found.after(cluster.template_path, [chart])
        if dependents is None:
            yield cluster.not_checked(rule_id, _TOO_MANY_REFERENCES, "DependsOn")
            return
        if cluster.logical_id not in dependents:
            ahead.append(chart.logical_id)
    if ahead:
        yield cluster.not_checked(
            rule_id,
            f"cannot tell whether {' or '.join(ahead)} installs the HyperPod chart (the definition does not "
            "name the chart it installs); if it does, the cluster must depend on it",
            "DependsOn",
        )


def helm_chart_before_cluster(templates: Templates, rule_id: str = "HyperPod-HELM1") -> Iterator[Finding]:
    releases = list(templates.live_resources(LIVE_HELM_RELEASE))
    found = _ChartsByTemplate(templates)
    missing = [r for r in releases if r.properties.get("Installed") is False]
    for cluster in _clusters(templates):
        helm = found.charts.get(cluster.template_path, [])
        maybe = found.maybe.get(cluster.template_path, [])
        if not _is_eks(cluster):
            if (helm or maybe) and not literal(cluster.properties.get("Orchestrator")):  # review round 19, R19T-M3
                yield cluster.not_checked(
                    rule_id, "Orchestrator is not known offline; an EKS cluster depends on the Helm chart", "DependsOn"
                )
            continue
        if not helm and not maybe and missing:
            names = ", ".join(str(r.properties.get("EksCluster")) for r in missing)
            yield cluster.finding(
                rule_id,
                f"the HyperPod Helm chart (release {missing[0].properties.get('Name')}) is not installed "
                f"on EKS cluster {names} (read with --live); install it before creating the cluster",
                "Properties",
            )
            continue
        if not helm:
            # A chart the definition names is the chart; without one, a chart it does not name may be
            # (none at all: installed elsewhere, another stack or the hyp CLI, not visible here).
            yield from _maybe_chart_lines(found, cluster, rule_id) if maybe else ()
            continue
        dependents = found.after(cluster.template_path, helm)
        if dependents is None:
            yield cluster.not_checked(rule_id, _TOO_MANY_REFERENCES, "DependsOn")
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
