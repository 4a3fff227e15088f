#!/usr/bin/env python3
"""Deploy critical path: the longest chain of CloudFormation resources, with typical times per type.

CloudFormation creates a resource once everything it depends on exists (``DependsOn``, ``Ref``,
``Fn::GetAtt``, ``Fn::Sub``), and creates independent resources in parallel, so the time of a first
deploy is about the longest path through that graph, each resource weighted by how long its
create takes. This script builds the graph from a synthesized template, weights it with
:data:`TYPICAL_MINUTES` (sources below; ESTIMATE where no number was found) and prints the path.

Goal: on EKS the path stays at or under 1.3x the unavoidable chain EKS -> Helm -> HyperPod, where
"HyperPod" is the cluster until its first node is in service (nothing after it works without a
node; in Continuous mode CloudFormation reports the cluster before its nodes, so the readiness
gate carries the rest of that time).

Usage: ``python bench/critical_path.py [CONFIG ...]`` (synthesizes each config without cdk-nag) or
``python bench/critical_path.py --template cdk.out/x.template.json``. Not a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
GOAL_RATIO = 1.3

# Typical create times in minutes. Sources: /work/research/issue10-facts.md section 9 and
# docs/deploy.md, "Durations"; ESTIMATE where no primary number was found.
EKS_CLUSTER = 12.0  # EKS: "several minutes"; aws/containers-roadmap#1227: ~15 min average; today 8-15
HELM_INSTALL = 4.0  # ESTIMATE: download + helm dependency build + helm upgrade --install
HYPERPOD_USABLE = 20.0  # awsome automate-smhp-eks README: "typically takes 12-20 minutes"; Slurm: 15-25
HYPERPOD_CONTINUOUS = 5.0  # ESTIMATE: CloudFormation completes once cluster-level resources are ready
FSX_LUSTRE = 10.0  # awsome 5.sagemaker-hyperpod README: ~10 min for a 1.2 TiB PERSISTENT_2 file system
TYPICAL_MINUTES: dict[str, float] = {
    "AWS::EC2::VPC": 0.3,
    "AWS::EC2::Subnet": 0.2,
    "AWS::EC2::VPCCidrBlock": 0.3,
    "AWS::EC2::NatGateway": 2.0,  # ESTIMATE; awsome 2.SageMakerVPC.yaml (VPC + NAT + ...) "about 5 minutes"
    "AWS::EC2::EIP": 0.1,
    "AWS::EC2::InternetGateway": 0.2,
    "AWS::EC2::VPCGatewayAttachment": 0.3,
    "AWS::EC2::VPCEndpoint": 0.5,
    "AWS::EC2::FlowLog": 0.2,
    "AWS::EKS::Cluster": EKS_CLUSTER,
    "AWS::EKS::Addon": 1.5,  # ESTIMATE 1-2 min; CloudFormation accepts DEGRADED (no wait for pods)
    "AWS::EKS::AccessEntry": 0.2,
    "AWS::EKS::PodIdentityAssociation": 0.2,
    "AWS::FSx::FileSystem": FSX_LUSTRE,
    "AWS::KMS::Key": 0.3,
    "AWS::IAM::Role": 0.3,
    "AWS::IAM::Policy": 0.2,
    "AWS::S3::Bucket": 0.3,
    "AWS::Lambda::Function": 0.2,
    "AWS::Lambda::LayerVersion": 0.2,
    "AWS::StepFunctions::StateMachine": 0.2,
    "Custom::CDKBucketDeployment": 0.5,
    "Custom::AWSCDK-EKS-KubernetesResource": 0.5,
    "Custom::HyperPodHelmDependencies": HELM_INSTALL,
}
LAMBDA_IN_VPC = 1.5  # ESTIMATE: the function waits for its Hyperplane ENI before it is Active
DEFAULT_MINUTES = 0.1


def minutes(resource: Mapping[str, Any]) -> float:
    kind = resource.get("Type", "")
    props = resource.get("Properties") or {}
    if kind == "AWS::SageMaker::Cluster":
        return HYPERPOD_CONTINUOUS if props.get("NodeProvisioningMode") == "Continuous" else HYPERPOD_USABLE
    if kind == "Custom::HyperPodReadiness":
        # The node gate carries the rest of the HyperPod cluster's time to its first usable node.
        return HYPERPOD_USABLE - HYPERPOD_CONTINUOUS if props.get("Check") == "nodes" else 1.0
    if kind == "AWS::Lambda::Function" and "VpcConfig" in props:
        return LAMBDA_IN_VPC
    return TYPICAL_MINUTES.get(kind, DEFAULT_MINUTES)


def _references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                yield inner
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) else str(inner).split(".")[0]
                yield target
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                yield from _sub_names(str(text))
                yield from _references(inner)
            else:
                yield from _references(inner)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def _sub_names(text: str) -> Iterator[str]:
    start = text.find("${")
    while start != -1:
        end = text.find("}", start)
        if end == -1:
            return
        yield text[start + 2 : end].split(".")[0]
        start = text.find("${", end)


def dependencies(template: Mapping[str, Any]) -> dict[str, set[str]]:
    """Every resource's direct dependencies (DependsOn and intrinsic references to other resources)."""
    resources = template.get("Resources", {})
    graph: dict[str, set[str]] = {}
    for logical_id, resource in resources.items():
        depends = resource.get("DependsOn", [])
        found = set([depends] if isinstance(depends, str) else depends)
        found.update(_references(resource.get("Properties", {})))
        graph[logical_id] = {d for d in found if d in resources and d != logical_id}
    return graph


@dataclass(frozen=True)
class Step:
    logical_id: str
    resource_type: str
    minutes: float
    finished_at: float


def critical_path(template: Mapping[str, Any]) -> list[Step]:
    """The longest chain of creates, first resource first."""
    resources = template["Resources"]
    graph = dependencies(template)

    @cache
    def finish(logical_id: str) -> tuple[float, str | None]:
        before, via = 0.0, None
        for dependency in graph[logical_id]:
            done, _ = finish(dependency)
            if done > before:
                before, via = done, dependency
        return before + minutes(resources[logical_id]), via

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    last = max(resources, key=lambda logical_id: finish(logical_id)[0])
    chain: list[Step] = []
    current: str | None = last
    while current is not None:
        done, via = finish(current)
        chain.append(Step(current, resources[current]["Type"], minutes(resources[current]), done))
        current = via
    return list(reversed(chain))


def unavoidable_chain(template: Mapping[str, Any]) -> float | None:
    """EKS -> Helm -> HyperPod (until a node is usable); None without EKS (Slurm)."""
    types = {r["Type"] for r in template["Resources"].values()}
    if "AWS::EKS::Cluster" not in types:
        return None
    helm = HELM_INSTALL if "Custom::HyperPodHelmDependencies" in types else 0.0
    return EKS_CLUSTER + helm + HYPERPOD_USABLE


def report(name: str, template: Mapping[str, Any]) -> float | None:
    path = critical_path(template)
    total = path[-1].finished_at
    print(f"\n{name}: {len(template['Resources'])} resources, critical path {total:.1f} min")
    for step in path:
        if step.minutes >= 0.5 or step is path[-1]:
            print(f"  {step.finished_at:6.1f}  +{step.minutes:4.1f}  {step.resource_type:40} {step.logical_id}")
    chain = unavoidable_chain(template)
    if chain is None:
        print("  (no EKS: the chain EKS -> Helm -> HyperPod does not apply)")
        return None
    ratio = total / chain
    verdict = "ok" if ratio <= GOAL_RATIO else "OVER GOAL"
    print(f"  unavoidable EKS -> Helm -> HyperPod: {chain:.1f} min; ratio {ratio:.2f} (goal <= {GOAL_RATIO}) {verdict}")
    return ratio


def synthesize(config: Path, outdir: Path) -> dict[str, Any]:
    os.environ.setdefault("JSII_NODE", str(Path(sys.executable).with_name("node")))
    sys.path.insert(0, str(REPO))
    import aws_cdk as cdk

    from hyperpod_cdk.config import load_config
    from infra.app_builder import add_platform

    context = json.loads((REPO / "cdk.json").read_text())["context"]
    app = cdk.App(outdir=str(outdir), context=context)
    stack = add_platform(app, load_config(config), nag=False)
    template: dict[str, Any] = app.synth().get_stack_by_name(stack.stack_name).template
    return template


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "configs",
        nargs="*",
        type=Path,
        default=[REPO / "hyperpod.yaml", REPO / "examples" / "eks-fsx.yaml", REPO / "examples" / "slurm.yaml"],
    )
    parser.add_argument("--template", type=Path, action="append", default=[], help="a synthesized template instead")
    args = parser.parse_args(argv)
    ratios = []
    if args.template:
        for file in args.template:
            ratios.append(report(file.name, json.loads(file.read_text())))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            for index, config in enumerate(args.configs):
                ratios.append(
                    report(
                        str(config.relative_to(REPO) if config.is_relative_to(REPO) else config),
                        synthesize(config, Path(tmp) / str(index)),
                    )
                )
    return 0 if all(r is None or r <= GOAL_RATIO for r in ratios) else 1


if __name__ == "__main__":
    sys.exit(main())
