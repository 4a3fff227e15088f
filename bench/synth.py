#!/usr/bin/env python3
"""Synth benchmark: how far above the empty-app floor the platform synth sits, and a fresh clone's setup.

Each sample is a fresh Python process (jsii and Node start-up included), as `cdk synth` runs the app,
with bytecode caching on (as the Makefile runs it) after one unmeasured warm-up run:

- floor: an empty CDK app with aws-cdk-lib's defaults (built-in CloudFormation validation on), and
  the same empty app without that validation;
- default: hyperpod.yaml as `cdk synth` runs it (cdk-nag on; built-in validation off, see
  docs/feature-flags.md), and with the built-in validation (what make test/diff/deploy run);
- 1 vs 32 groups: does synth cost grow with the instance-group count?

Wall time is what a user waits for; CPU time (this process's children: Python and Node) is steadier
on a shared machine. Then `bench/fresh_clone.py` times `make install` + `make synth` on a fresh
clone with cold caches (skip it with --no-fresh-clone).

Usage: `make bench` or `python bench/synth.py --repeat 5`. Goals: default <= 2x floor, 32 groups
<= 1.3x one group, fresh clone <= 60 s. It prints medians and ratios; it is not a test.
"""

from __future__ import annotations

import argparse
import copy
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

RUNNER = """
import json, os, sys
import aws_cdk as cdk
mode, config, outdir = sys.argv[1:4]
context = json.load(open(os.path.join({repo!r}, "cdk.json")))["context"]
validate = mode in ("empty", "platform-validated")
app = cdk.App(outdir=outdir, context=context, builtin_cloud_formation_validation=validate)
if not mode.startswith("empty"):
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


def _env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONDONTWRITEBYTECODE", "CDK_VALIDATION")}
    node = Path(sys.executable).with_name("node")
    if node.exists():
        env.setdefault("JSII_NODE", str(node))
    return env


def sample(mode: str, config: Path | None, folder: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the Python and Node processes)."""
    code = RUNNER.format(repo=str(REPO))
    with tempfile.TemporaryDirectory(dir=folder) as outdir:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code, mode, str(config or ""), outdir], check=True, env=_env())
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="samples per case (default 3)")
    parser.add_argument("--no-fresh-clone", action="store_true", help="skip the fresh-clone measurement")
    args = parser.parse_args()
    default = REPO / "hyperpod.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cases = {
            "floor (empty app)": ("empty", None),
            "floor, no validation": ("empty-no-validation", None),
            "default app": ("platform", default),
            "default app, validated": ("platform-validated", default),
            "default app, no nag": ("platform-no-nag", default),
            "1 instance group": ("platform", groups_config(1, folder)),
            "32 instance groups": ("platform", groups_config(32, folder)),
        }
        sample("platform", default, folder)  # warm-up: bytecode and the jsii package cache
        wall: dict[str, float] = {}
        cpu: dict[str, float] = {}
        # Interleaved rounds, so a burst of load elsewhere hits every case alike.
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        for _ in range(args.repeat):
            for name, (mode, config) in cases.items():
                runs[name].append(sample(mode, config, folder))
        for name, samples in runs.items():
            wall[name] = statistics.median(s[0] for s in samples)
            cpu[name] = statistics.median(s[1] for s in samples)
            print(
                f"{name:24s} wall {wall[name]:6.2f}s  cpu {cpu[name]:6.2f}s  "
                f"runs {', '.join(f'{s[0]:.2f}' for s in samples)}"
            )

    def ratio(a: str, b: str) -> str:
        return f"wall {wall[a] / wall[b]:.2f}x, cpu {cpu[a] / cpu[b]:.2f}x"

    print(f"default / floor                    = {ratio('default app', 'floor (empty app)')} (goal <= 2x)")
    print(f"default / floor, both unvalidated  = {ratio('default app', 'floor, no validation')}")
    print(f"validated / floor                  = {ratio('default app, validated', 'floor (empty app)')}")
    print(f"no-nag / floor                     = {ratio('default app, no nag', 'floor (empty app)')}")
    print(f"32 groups / 1 group                = {ratio('32 instance groups', '1 instance group')} (goal <= 1.3x)")
    if args.no_fresh_clone:
        return 0
    import fresh_clone

    result = fresh_clone.measure()
    print("\n".join(fresh_clone.report(result)))
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
