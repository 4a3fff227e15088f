#!/usr/bin/env python3
"""Fresh-clone benchmark: how long a newcomer's first `make synth` takes, and whether it is quiet.

Clones the committed HEAD of this repository into a temporary folder and runs `make install` then
`make synth` there with every download cache cold: an empty uv cache (UV_CACHE_DIR), an empty npm
cache (npm_config_cache), no pip cache (PIP_NO_CACHE_DIR) and an empty jsii package cache
(JSII_RUNTIME_PACKAGE_CACHE_ROOT). Uncommitted changes are not measured. Goal: the two together in
60 s or less, with neither a dependency warning nor the CDK "feature flags are not configured" notice.

Usage: `python bench/fresh_clone.py` (also run by `make bench`). Not a test: it needs the network
(or the package mirror this machine is set up with) and a minute of wall time.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GOAL_SECONDS = 60.0
# Lines a newcomer should never see.
NOISE = re.compile(r"RequestsDependencyWarning|feature flags are not configured|DeprecationWarning|end-of-life")


@dataclass
class FreshClone:
    install_seconds: float
    synth_seconds: float
    noise: list[str]
    failed: str | None = None

    @property
    def total(self) -> float:
        return self.install_seconds + self.synth_seconds


def _env(scratch: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("VIRTUAL_ENV", "JSII_NODE", "PYTHONPATH", "CDK_VALIDATION")
    }
    # Tools of the calling venv must not leak into the clone's.
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(REPO)))
    for name in ("uv-cache", "npm-cache", "jsii-cache"):
        (scratch / name).mkdir()
    env.update(
        {
            "UV_CACHE_DIR": str(scratch / "uv-cache"),
            "npm_config_cache": str(scratch / "npm-cache"),
            "PIP_NO_CACHE_DIR": "1",
            "JSII_RUNTIME_PACKAGE_CACHE_ROOT": str(scratch / "jsii-cache"),
        }
    )
    return env


def _make(target: str, clone: Path, env: dict[str, str]) -> tuple[float, str, int]:
    start = time.perf_counter()
    done = subprocess.run(["make", target], cwd=clone, env=env, capture_output=True, text=True)
    return time.perf_counter() - start, done.stdout + done.stderr, done.returncode


def measure(ref: str = "HEAD") -> FreshClone:
    with tempfile.TemporaryDirectory(prefix="hyperpod-cdk-fresh-") as tmp:
        scratch = Path(tmp)
        clone = scratch / "clone"
        subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(clone)], check=True)
        subprocess.run(
            [
                "git",
                "checkout",
                "--quiet",
                subprocess.run(
                    ["git", "rev-parse", ref], cwd=REPO, capture_output=True, text=True, check=True
                ).stdout.strip(),
            ],
            cwd=clone,
            check=True,
        )
        env = _env(scratch)
        install, install_log, code = _make("install", clone, env)
        if code != 0:
            return FreshClone(install, 0.0, [], f"make install failed:\n{install_log[-2000:]}")
        synth, synth_log, code = _make("synth", clone, env)
        noise = [line for line in (install_log + synth_log).splitlines() if NOISE.search(line)]
        return FreshClone(install, synth, noise, None if code == 0 else f"make synth failed:\n{synth_log[-2000:]}")


def report(result: FreshClone) -> list[str]:
    verdict = "ok" if result.total <= GOAL_SECONDS and not result.noise and not result.failed else "OVER GOAL"
    lines = [
        f"fresh clone, cold caches: make install {result.install_seconds:6.1f}s + make synth "
        f"{result.synth_seconds:6.1f}s = {result.total:6.1f}s (goal <= {GOAL_SECONDS:.0f}s) {verdict}",
        f"noise lines            = {len(result.noise)} (goal 0)",
    ]
    lines += [f"  {line}" for line in result.noise]
    if result.failed:
        lines.append(result.failed)
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="HEAD", help="commit to clone (default: HEAD)")
    args = parser.parse_args()
    result = measure(args.ref)
    print("\n".join(report(result)))
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
