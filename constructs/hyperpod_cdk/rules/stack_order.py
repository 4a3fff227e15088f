"""Which stack deploys before which across the templates of one app: a nested template's chain of parent
stack resources (:attr:`Templates.nested_in`), and the stack dependencies a cloud assembly's ``manifest.json``
records between top-level stacks.

aws-cdk-lib's ``addDependency`` (aws/aws-cdk packages/aws-cdk-lib/core/lib/deps.ts) orders two constructs of one
stack tree with a ``DependsOn`` between the resources that lead to them (the ``AWS::CloudFormation::Stack``
resource of a nested stack), and two constructs of different top-level stacks with a dependency between those
stacks in the assembly (an artifact's ``dependencies`` in ``manifest.json``, which ``cdk deploy`` follows).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from hyperpod_cdk.rules.cdk_out import CdkOutError, _CdkOutReader
from hyperpod_cdk.rules.model import Templates, as_map

# Nested stack levels followed up to a top-level stack (CDK apps nest a few; a cdk.out holds at most 500
# templates). A chain longer than this, or one that loops, stops there.
MAX_STACK_HOPS = 16
# Dependency edges of an assembly's manifest followed per rule run, in all: a manifest is input to `lint`
# (thousands of artifacts, each naming all the others, must not cost a walk per cluster).
MAX_ORDER_WORK = 1_000_000

_STACK_ARTIFACT = "aws:cloudformation:stack"


def stack_chain(templates: Templates, template_path: str) -> list[tuple[str, str]]:
    """(parent template path, logical id of its ``AWS::CloudFormation::Stack`` resource) from the template's
    parent up to its top-level stack: empty for a top-level template (or one whose parent is not known)."""
    chain: list[tuple[str, str]] = []
    seen = {template_path}
    path = template_path
    while len(chain) < MAX_STACK_HOPS:
        parent = templates.nested_in.get(path)
        if parent is None or parent[0] in seen:
            break
        chain.append(parent)
        seen.add(parent[0])
        path = parent[0]
    return chain


def top_template(templates: Templates, template_path: str) -> str:
    """The template of the top-level stack that deploys ``template_path`` (itself if it is one)."""
    chain = stack_chain(templates, template_path)
    return chain[-1][0] if chain else template_path


class StackOrder:
    """Whether one top-level stack template deploys after another, by the ``dependencies`` of their stack
    artifacts in the ``manifest.json`` next to both (read once per folder, as a cdk.out's files are: a regular
    file, no link followed, within the caps). Templates in different folders, or without a manifest, are not
    ordered."""

    def __init__(self) -> None:
        self._graphs: dict[Path, dict[str, set[str]]] = {}  # folder -> template file -> files it depends on
        self._reached: dict[str, frozenset[str]] = {}
        self.work_left = MAX_ORDER_WORK

    def _graph(self, folder: Path) -> dict[str, set[str]]:
        if folder not in self._graphs:
            self._graphs[folder] = {}
            manifest = folder / "manifest.json"
            try:
                loaded = _CdkOutReader(folder).load(manifest) if manifest.is_file() else None
            except CdkOutError:
                loaded = None
            artifacts = as_map(as_map(loaded).get("artifacts"))
            files: dict[str, str] = {}
            for artifact_id, artifact in artifacts.items():
                named = as_map(as_map(artifact).get("properties")).get("templateFile")
                if as_map(artifact).get("type") == _STACK_ARTIFACT and isinstance(named, str):
                    files[artifact_id] = named
            graph = self._graphs[folder]
            for artifact_id, named in files.items():
                depends = as_map(artifacts[artifact_id]).get("dependencies")
                listed = depends if isinstance(depends, list) else []
                graph.setdefault(named, set()).update(files[d] for d in listed if isinstance(d, str) and d in files)
        return self._graphs[folder]

    def after(self, later: str, earlier: str) -> bool:
        """True when the manifest records that the stack of template ``later`` depends, directly or through
        other stacks, on the stack of template ``earlier``."""
        first, second = Path(later), Path(earlier)
        if first.parent != second.parent or first == second:
            return False
        if later not in self._reached:
            self._reached[later] = self._walk(self._graph(first.parent), first.name)
        return second.name in self._reached[later]

    def _walk(self, graph: Mapping[str, set[str]], start: str) -> frozenset[str]:
        seen: set[str] = set()
        todo = [start]
        while todo and self.work_left > 0:
            edges = graph.get(todo.pop(), set())
            self.work_left -= len(edges) + 1
            for name in edges - seen:
                seen.add(name)
                todo.append(name)
        return frozenset(seen) if self.work_left > 0 else frozenset()
