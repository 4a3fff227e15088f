"""Deploy rule HELM1: the HyperPod cluster depends on the HyperPod Helm chart, in its own template, through the
nested stacks that deploy it, or across the app's top-level stacks (moved here from :mod:`.deploy_addons`, which
keeps its names importable)."""

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
from hyperpod_cdk.rules.deploy_base import LIVE_HELM_RELEASE, _clusters, _is_eks
from hyperpod_cdk.rules.model import Finding, Json, Resource, Templates, as_map, literal
from hyperpod_cdk.rules.stack_order import StackOrder, stack_chain

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
        # (parent template path, stack logical id) -> chart kind of the nested template the loaders already read
        # (Templates.nested_in: the plugin and `lint cdk.out`), decided from that template as read (parameters
        # and conditions applied) and never read again from disk.
        self.loaded: dict[tuple[str, str], str | None] = {}

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
        if (resource.template_path, resource.logical_id) in self.loaded:
            return self.loaded[(resource.template_path, resource.logical_id)]
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
        # Deepest templates first: a nested stack resource's kind is its template's, found before its parent's.
        chains = {path: stack_chain(templates, path) for path in templates.templates}
        for path in sorted(templates.templates, key=lambda p: -len(chains[p])):
            kinds = set()
            for logical_id, body in as_map(templates.templates[path].get("Resources")).items():
                resource = Resource(path, logical_id, as_map(body))
                kind = _chart_kind(resource, nested) if resource.type != LIVE_HELM_RELEASE else None
                kinds.add(kind)
                if kind is not None:
                    found = self.charts if kind == IS_CHART else self.maybe
                    found.setdefault(path, []).append(resource)
            if chains[path]:
                nested.loaded[chains[path][0]] = (
                    IS_CHART if IS_CHART in kinds else MAYBE_CHART if MAYBE_CHART in kinds else None
                )
        self.chains = chains
        # The HyperPod charts by the top-level template that deploys them (found once, not once per cluster).
        self.charts_by_top: dict[str, list[Resource]] = {}
        for path, charts in self.charts.items():
            self.charts_by_top.setdefault(self.top_of(path), []).extend(charts)
        self._after: dict[tuple[str, tuple[str, ...]], set[str] | None] = {}
        self._bits: dict[tuple[str, tuple[str, ...]], _ChartBits] = {}

    def chart_bits(self, template_path: str, charts: list[Resource]) -> _ChartBits:
        """The shared per-template reading of which charts each resource depends on (R24T-M1)."""
        key = (template_path, tuple(c.logical_id for c in charts))
        if key not in self._bits:
            self._bits[key] = _ChartBits(self.templates, template_path, charts)
        return self._bits[key]

    def top_of(self, template_path: str) -> str:
        """The template of the top-level stack that deploys ``template_path`` (itself if it is one)."""
        chain = self.chains.get(template_path)
        return chain[-1][0] if chain else template_path

    def after(self, template_path: str, charts: list[Resource]) -> set[str] | None:
        """Logical ids depending on any of ``charts`` (None: too many references to follow)."""
        key = (template_path, tuple(c.logical_id for c in charts))
        if key not in self._after:
            try:
                self._after[key] = depending_on(self.templates, template_path, set(key[1]))
            except TooMuchReferenceWorkError:
                self._after[key] = None
        return self._after[key]


class _ChartBits:
    """Which of a template's unnamed charts each resource depends on, directly or through others (DependsOn,
    Ref, GetAtt), as bits: each resource's references are walked once for all the clusters (R24T-M1: a walk
    of its own per cluster took 80 s for 30 clusters sharing one large dependency). Raises
    TooMuchReferenceWorkError past the walk's budget; a dependency cycle (refused by CloudFormation) adds
    nothing, so the cluster reads as not depending on every chart: a not-checked line."""

    def __init__(self, templates: Templates, template_path: str, charts: list[Resource]) -> None:
        self.resources: Mapping[str, Json] = as_map(templates.templates.get(template_path, {}).get("Resources"))
        self.bit = {chart.logical_id: 1 << index for index, chart in enumerate(charts)}
        self.every = (1 << len(charts)) - 1
        self.walk = ReferenceWalk()
        self.direct: dict[str, list[str]] = {}
        self.below: dict[str, int] = {}

    def _deps(self, name: str) -> list[str]:
        if name not in self.direct:
            found = _direct_dependencies(as_map(self.resources.get(name)), self.walk)
            self.direct[name] = [d for d in found if d in self.resources]
        return self.direct[name]

    def depends_on_all(self, subject: str) -> bool:
        stack, open_nodes = [subject], set()
        while stack:
            node = stack[-1]
            if node in self.below:
                stack.pop()
            elif node not in open_nodes:
                open_nodes.add(node)
                stack.extend(d for d in self._deps(node) if d not in self.below and d not in open_nodes)
            else:
                stack.pop()
                bits = 0
                for dep in self._deps(node):
                    bits |= self.bit.get(dep, 0) | self.below.get(dep, 0)
                self.below[node] = bits
        return self.below[subject] & self.every == self.every


_TOO_MANY_REFERENCES = "the template's Ref, GetAtt and Sub references are too many to follow"
_TOO_EARLY = "HyperPod can create nodes before the chart's health-monitoring agent and device plugins exist"


def _levels(found: _ChartsByTemplate, cluster: Resource) -> list[tuple[str, str, str]]:
    """Where the cluster must be ordered after a chart, nearest first: (template path, the logical id that must
    depend on the chart there, who that is in words). The cluster in its template, then each parent template
    with the nested stack resource that deploys it (R23T-H4: a chart in the parent of the cluster's NestedStack
    was never looked at)."""
    levels = [(cluster.template_path, cluster.logical_id, "the cluster")]
    for parent, stack in found.chains.get(cluster.template_path, []):
        levels.append((parent, stack, f"the nested stack {stack} that deploys the cluster (in {Path(parent).name})"))
    return levels


def _maybe_chart_lines(
    found: _ChartsByTemplate, cluster: Resource, rule_id: str, level: tuple[str, str, str]
) -> Iterator[Finding]:
    """Not checked: Helm charts that may be HyperPod's and that ``level``'s resource does not depend on."""
    template_path, subject, who = level
    maybe = [m for m in found.maybe.get(template_path, []) if m.logical_id != subject]
    if not maybe:
        return
    where = ("DependsOn",) if subject == cluster.logical_id else ()
    if len(maybe) > MAX_MAYBE_CHARTS:
        try:
            every = found.chart_bits(template_path, maybe).depends_on_all(subject)
        except TooMuchReferenceWorkError:
            every = False
        if every:
            return  # it depends on every one of them (review round 21, R21T-L1)
        yield cluster.not_checked(
            rule_id,
            f"cannot tell which of {len(maybe)} Helm charts or nested stacks ({maybe[0].logical_id}, ...) installs "
            f"the HyperPod chart (more than {MAX_MAYBE_CHARTS} to follow one by one); {who} must depend on it",
            *where,
        )
        return
    ahead: list[str] = []
    for chart in maybe:
        dependents = found.after(template_path, [chart])
        if dependents is None:
            yield cluster.not_checked(rule_id, _TOO_MANY_REFERENCES, *where)
            return
        if subject not in dependents:
            ahead.append(chart.logical_id)
    if ahead:
        yield cluster.not_checked(
            rule_id,
            f"cannot tell whether {' or '.join(ahead)} installs the HyperPod chart (the definition does not "
            f"name the chart it installs); if it does, {who} must depend on it",
            *where,
        )


def _ordered_after(
    found: _ChartsByTemplate, cluster: Resource, rule_id: str, level: tuple[str, str, str], helm: list[Resource]
) -> Iterator[Finding]:
    """The finding when ``level``'s resource does not depend on any of the charts ``helm`` of its template."""
    template_path, subject, who = level
    dependents = found.after(template_path, helm)
    names = ", ".join(h.logical_id for h in helm)
    if dependents is None:
        yield cluster.not_checked(rule_id, _TOO_MANY_REFERENCES, "DependsOn")
    elif subject not in dependents and subject == cluster.logical_id:
        yield cluster.finding(
            rule_id, f"the cluster does not depend on the HyperPod Helm chart ({names}); {_TOO_EARLY}", "DependsOn"
        )
    elif subject not in dependents:
        # CloudFormation creates a nested stack, and the cluster in it, as soon as what its stack resource
        # depends on exists (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-dependson.html).
        yield cluster.finding(
            rule_id,
            f"{who} does not depend on the HyperPod Helm chart ({names}) there; {_TOO_EARLY} (add a DependsOn "
            f"to {subject}: in CDK, nested_stack.node.add_dependency(chart))",
        )


def _chart_elsewhere(
    found: _ChartsByTemplate,
    order: StackOrder,
    cluster: Resource,
    rule_id: str,
    layers: list[ChartsByTop],
) -> list[Finding]:
    """A HyperPod chart only in other top-level stacks' templates (``layers``: those that may be for the
    cluster's EKS cluster, :class:`_ChartTargets`): the cluster's stack must deploy after one of them, a dependency
    recorded in the assembly's manifest (else not checked: a finding in a CDK app)."""
    top = found.top_of(cluster.template_path)
    others = [chart_top for layer in layers for chart_top, charts in layer.items() if chart_top != top and charts]
    if not others or any(order.after(top, chart_top) for chart_top in others):
        return []
    chart_top = others[0]
    charts = [chart for layer in layers for chart in layer.get(chart_top, [])]
    names = ", ".join(c.logical_id for c in charts[:3]) + (", ..." if len(charts) > 3 else "")
    where = Path(charts[0].template_path).name
    if charts[0].template_path != chart_top:
        where += f", a nested stack of {Path(chart_top).name}"
    return [
        cluster.not_checked(
            rule_id,
            f"the HyperPod Helm chart ({names}) is in another stack's template ({where}) and no stack dependency "
            f"in the assembly makes the cluster's stack ({Path(top).name}) deploy after that one; {_TOO_EARLY} "
            "(in CDK: cluster_stack.add_dependency(chart_stack))",
        )
    ]


_EKS_ARN_NAME = re.compile(r"^arn:aws[a-z-]*:eks:([a-z0-9-]+):\d{12}:cluster/([A-Za-z0-9_-]+)$")
_EKS_CLUSTER = "AWS::EKS::Cluster"


def eks_cluster_name(value: Json, resources: Mapping[str, Json], *, arn: bool) -> str | None:
    """The name of the EKS cluster ``value`` names, when the definition says: a literal ARN (``arn``) or name, or a
    ``Ref`` (the name) / ``Fn::GetAtt .Arn`` of an ``AWS::EKS::Cluster`` of the same template with a literal
    ``Name``; None otherwise (a parameter, an import, a generated name)."""
    if isinstance(value, str):
        match = _EKS_ARN_NAME.match(value) if arn else None
        return match.group(2) if match else (None if arn else value or None)
    ref = as_map(value)
    target = ref.get("Ref") if not arn else ref.get("Fn::GetAtt")
    if arn and isinstance(target, str):
        target = target.split(".")
    if arn:
        target = target[0] if isinstance(target, list) and len(target) == 2 and target[1] == "Arn" else None
    body = as_map(resources.get(target)) if isinstance(target, str) else {}
    name = as_map(body.get("Properties")).get("Name") if body.get("Type") == _EKS_CLUSTER else None
    return name if isinstance(name, str) and name else None


def chart_eks_name(templates: Templates, chart: Resource) -> str | None:
    """The EKS cluster a HyperPod chart installs on (its ``ClusterName``), when the definition says."""
    resources = as_map(templates.templates.get(chart.template_path, {}).get("Resources"))
    return eks_cluster_name(chart.properties.get("ClusterName"), resources, arn=False)


ChartsByTop = dict[str, list[Resource]]


class _ChartTargets:
    """Which EKS cluster each HyperPod chart installs on, where the definition says (review round 24, R24T-H2: a
    chart for another EKS cluster satisfied every cluster). A chart and a cluster match unless both EKS clusters
    are known (name, and region where both are known) and differ. The charts are grouped once, by the top-level
    template deploying them, in layers a cluster combines without copying: of unknown EKS clusters, of a name in
    no known region, of a name and region, of a name in any region."""

    def __init__(self, templates: Templates, found: _ChartsByTemplate) -> None:
        self.templates, self.found = templates, found
        self.target: dict[tuple[str, str], tuple[str, str | None] | None] = {}
        self.unknown: ChartsByTop = {}
        self.name_only: dict[str, ChartsByTop] = {}
        self.exact: dict[tuple[str, str], ChartsByTop] = {}
        self.any_region: dict[str, ChartsByTop] = {}
        for path, charts in found.charts.items():
            region, top = templates.region_of(path), found.top_of(path)
            for chart in charts:
                name = chart_eks_name(templates, chart)
                self.target[(path, chart.logical_id)] = None if name is None else (name, region)
                if name is None:
                    self.unknown.setdefault(top, []).append(chart)
                    continue
                self.any_region.setdefault(name, {}).setdefault(top, []).append(chart)
                layer = (
                    self.name_only.setdefault(name, {}) if region is None else self.exact.setdefault((name, region), {})
                )
                layer.setdefault(top, []).append(chart)

    def of_cluster(self, cluster: Resource) -> tuple[str, str | None] | None:
        """The cluster's EKS cluster (name, region) when the definition says."""
        arn = as_map(as_map(cluster.properties.get("Orchestrator")).get("Eks")).get("ClusterArn")
        resources = as_map(self.templates.templates.get(cluster.template_path, {}).get("Resources"))
        name = eks_cluster_name(arn, resources, arn=True)
        if name is None:
            return None
        match = _EKS_ARN_NAME.match(arn) if isinstance(arn, str) else None
        return name, match.group(1) if match else self.templates.region_of(cluster.template_path)

    @staticmethod
    def _same(one: tuple[str, str | None] | None, other: tuple[str, str | None] | None) -> bool:
        if one is None or other is None:
            return True
        return one[0] == other[0] and (one[1] is None or other[1] is None or one[1] == other[1])

    def for_cluster(self, key: tuple[str, str | None] | None, charts: list[Resource]) -> list[Resource]:
        """The ``charts`` that may be for the EKS cluster ``key``."""
        return [c for c in charts if self._same(self.target.get((c.template_path, c.logical_id)), key)]

    def by_top(self, key: tuple[str, str | None] | None) -> list[ChartsByTop]:
        """The charts that may be for the EKS cluster ``key``, by the top-level template deploying them (layers:
        a top may be in several)."""
        if key is None:
            return [self.found.charts_by_top]
        name, region = key
        if region is None:
            return [self.unknown, self.any_region.get(name, {})]
        return [self.unknown, self.name_only.get(name, {}), self.exact.get((name, region), {})]


def _any_chart(layers: list[ChartsByTop]) -> bool:
    return any(charts for layer in layers for charts in layer.values())


def _releases_of(templates: Templates, cluster: Resource, releases: list[Resource]) -> list[Resource]:
    """The live releases read on this cluster's EKS cluster, in its region (`lint --live` reads each region
    with its own clients, R23T-H3: another region's or another EKS cluster's release is not this one's). Nothing
    for a cluster whose EKS cluster is not a literal ARN: no release read is known to be its own (review round
    24, R24T-L2: another stack's EKS cluster's missing release was charged to it)."""
    eks = as_map(as_map(cluster.properties.get("Orchestrator")).get("Eks")).get("ClusterArn")
    match = _EKS_ARN_NAME.match(eks) if isinstance(eks, str) else None
    if match is None:
        return []
    region = templates.region_of(cluster.template_path)
    return [
        r
        for r in releases
        if templates.region_of(r.template_path) == region and r.properties.get("EksCluster") == match.group(2)
    ]


def _release_unknown(
    templates: Templates, cluster: Resource, release_regions: set[str | None], rule_id: str
) -> list[Finding]:
    """Not checked: `--live` read Helm releases in the cluster's region, but its EKS cluster is not named by a
    literal ARN, so none of them is known to be its own (R24T-L2)."""
    eks = as_map(as_map(cluster.properties.get("Orchestrator")).get("Eks")).get("ClusterArn")
    if isinstance(eks, str) and _EKS_ARN_NAME.match(eks):
        return []
    if templates.region_of(cluster.template_path) not in release_regions:
        return []
    return [
        cluster.not_checked(
            rule_id,
            "--live reads the Helm release only on an EKS cluster named by a literal ARN; this cluster's ClusterArn "
            "is not one, so whether the HyperPod chart is installed on its EKS cluster is not known",
            "Properties",
        )
    ]


def helm_chart_before_cluster(templates: Templates, rule_id: str = "HyperPod-HELM1") -> Iterator[Finding]:
    releases = list(templates.live_resources(LIVE_HELM_RELEASE))
    found = _ChartsByTemplate(templates)
    order = StackOrder()
    targets = _ChartTargets(templates, found)
    missing = [r for r in releases if r.properties.get("Installed") is False]
    release_regions = {templates.region_of(r.template_path) for r in releases}
    for cluster in _clusters(templates):
        helm = found.charts.get(cluster.template_path, [])
        maybe = found.maybe.get(cluster.template_path, [])
        if not _is_eks(cluster):
            if (helm or maybe) and not literal(cluster.properties.get("Orchestrator")):  # review round 19, R19T-M3
                yield cluster.not_checked(
                    rule_id, "Orchestrator is not known offline; an EKS cluster depends on the Helm chart", "DependsOn"
                )
            continue
        # The nearest template of the cluster's stack chain holding a chart the definition names decides
        # (R23T-H4): the cluster there, else the nested stack resource that deploys it.
        levels = _levels(found, cluster)
        key = targets.of_cluster(cluster)  # a chart for another EKS cluster is not this cluster's (R24T-H2)
        named = [
            (lv, targets.for_cluster(key, [c for c in found.charts.get(lv[0], []) if c.logical_id != lv[1]]))
            for lv in levels
        ]
        level, helm = next(((lv, h) for lv, h in named if h), (levels[0], []))
        if helm:
            yield from _ordered_after(found, cluster, rule_id, level, helm)
            continue
        maybe_above = any(found.maybe.get(lv[0]) for lv in levels[1:])
        missing_here = _releases_of(templates, cluster, missing)
        charts_for = targets.by_top(key)
        none_for = not maybe and not maybe_above and not _any_chart(charts_for)
        if none_for and missing_here:
            names = ", ".join(str(r.properties.get("EksCluster")) for r in missing_here)
            yield cluster.finding(
                rule_id,
                f"the HyperPod Helm chart (release {missing_here[0].properties.get('Name')}) is not installed "
                f"on EKS cluster {names} (read with --live); install it before creating the cluster",
                "Properties",
            )
            continue
        # A chart the definition names is the chart; without one, a chart it does not name may be
        # (none at all: installed elsewhere, another stack or the hyp CLI, not visible here).
        for level in levels:
            yield from _maybe_chart_lines(found, cluster, rule_id, level)
        yield from _chart_elsewhere(found, order, cluster, rule_id, charts_for)
        if none_for:
            yield from _release_unknown(templates, cluster, release_regions, rule_id)
