#!/usr/bin/env python3
"""Synth benchmark: how far above the jsii/Node floor the platform synth sits.

Each sample is a fresh Python process (jsii start-up included), as `cdk synth` runs it:
- floor: an empty CDK app;
- default: hyperpod.yaml with cdk-nag and strict built-in validation;
- 1 group vs 32 groups: does synth cost grow with the instance-group count?

Usage: `make bench` or `python bench/synth.py --repeat 5`. Goals: default <= 1.5x floor,
32 groups <= 1.3x one group. It prints medians and ratios; it is not a test.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent

RUNNER = """
import json, os, sys
import aws_cdk as cdk
mode, config, outdir = sys.argv[1:4]
context = json.load(open(os.path.join({repo!r}, "cdk.json")))["context"]
app = cdk.App(outdir=outdir, context=context)
if mode != "empty":
    sys.path.insert(0, {repo!r})
    from hyperpod_cdk.config import load_config
    from infra.app_builder import add_platform
    add_platform(app, load_config(config), nag=mode != "platform-no-nag")
app.synth()
"""


def groups_config(count: int, folder: Path) -> Path:
    data = yaml.safe_load((REPO / "hyperpod.yaml").read_text())
    template = copy.deepcopy(data["hyperpod"]["instance_groups"][0])
    data["hyperpod"]["instance_groups"] = [
        {**template, "name": f"group-{i}", "instance_type": "ml.m5.large"} for i in range(count)
    ]
    path = folder / f"groups-{count}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def sample(mode: str, config: Path | None, folder: Path) -> float:
    code = RUNNER.format(repo=str(REPO))
    env = dict(os.environ)
    node = Path(sys.executable).with_name("node")
    if node.exists():
        env.setdefault("JSII_NODE", str(node))
    with tempfile.TemporaryDirectory(dir=folder) as outdir:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code, mode, str(config or ""), outdir], check=True, env=env)
        return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="samples per case (default 3)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cases = {
            "floor (empty app)": ("empty", None),
            "default app": ("platform", REPO / "hyperpod.yaml"),
            # Where the time goes: the same app without the cdk-nag plugin.
            "default app, no nag": ("platform-no-nag", REPO / "hyperpod.yaml"),
            "1 instance group": ("platform", groups_config(1, folder)),
            "32 instance groups": ("platform", groups_config(32, folder)),
        }
        medians: dict[str, float] = {}
        for name, (mode, config) in cases.items():
            runs = [sample(mode, config, folder) for _ in range(args.repeat)]
            medians[name] = statistics.median(runs)
            print(f"{name:22s} median {medians[name]:6.2f}s  runs {', '.join(f'{r:.2f}' for r in runs)}")
    default_ratio = medians["default app"] / medians["floor (empty app)"]
    groups_ratio = medians["32 instance groups"] / medians["1 instance group"]
    print(f"default / floor      = {default_ratio:.2f}x (goal <= 1.5x)")
    print(f"no-nag / floor       = {medians['default app, no nag'] / medians['floor (empty app)']:.2f}x")
    print(f"32 groups / 1 group  = {groups_ratio:.2f}x (goal <= 1.3x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
