"""Review round 35 (platform): the first job on Trainium and in a closed network.

- R35P-M1: the Neuron example saved checkpoints but never loaded them (``--loading_step`` defaults to no load);
- R35P-M2: it read ``/fsx/data``, which nothing creates, and without FSx an always-empty emptyDir;
- R35P-M3: the smoke job (dist and ``verify --smoke``) pulled from ECR Public, which a closed VPC cannot reach.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from hyperpod_cdk.cli.verify import smoke_manifest
from hyperpod_cdk.config import load_config, parse_config
from hyperpod_cdk.kubernetes.charts.dist import SMOKE_FILE, build_charts
from hyperpod_cdk.kubernetes.charts.example_jobs import llama3_1_8b_neuron_job

REPO = Path(__file__).resolve().parents[1]


def test_the_neuron_job_resumes_from_its_newest_checkpoint() -> None:
    job = llama3_1_8b_neuron_job(image="r/i:1", namespace="ns", nodes=1, instance_type="ml.trn1.32xlarge")
    (container,) = job.to_manifest()["spec"]["replicaSpecs"][0]["template"]["spec"]["containers"]
    assert "--loading_step=latest_if_exists" in container["args"]


def _trainium(fsx: bool) -> dict[str, object]:
    data = yaml.safe_load((REPO / ("examples/eks-fsx.yaml" if fsx else "hyperpod.yaml")).read_text())
    groups = [g for g in data["hyperpod"]["instance_groups"] if not g["instance_type"].startswith(("ml.g", "ml.p"))]
    trn = {"name": "trn", "instance_type": "ml.trn1.32xlarge", "instance_count": 1}
    data["hyperpod"]["instance_groups"] = [*groups, trn]
    config = parse_config(data)
    return build_charts(config.kubernetes, instance_groups=config.hyperpod.instance_groups, platform_fsx=fsx)


def test_the_neuron_job_is_written_only_with_fsx() -> None:
    assert "jobs/llama3-1-8b-neuron.yaml" in _trainium(fsx=True)
    assert "jobs/llama3-1-8b-neuron.yaml" not in _trainium(fsx=False)


def test_the_closed_networks_smoke_job_pulls_from_the_mirror() -> None:
    config = load_config(REPO / "examples" / "closed-network.yaml")
    mirror = config.kubernetes.image_mirror
    assert mirror
    chart = build_charts(config.kubernetes, instance_groups=config.hyperpod.instance_groups)[SMOKE_FILE]
    (job,) = chart.to_json()
    (container,) = job["spec"]["replicaSpecs"][0]["template"]["spec"]["containers"]
    assert container["image"].startswith(mirror + "/"), container["image"]
    (verify_container,) = smoke_manifest(config)["spec"]["replicaSpecs"][0]["template"]["spec"]["containers"]
    assert verify_container["image"] == container["image"]
