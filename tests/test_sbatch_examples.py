"""sbatch examples generated from a Slurm config (hyperpod_cdk.specs.sbatch) and written to dist/.

They must fit the partition they name (nodes, GPUs per node), pass shellcheck, and keep every
#SBATCH directive where sbatch reads it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hyperpod_cdk.config import InstanceGroup
from hyperpod_cdk.kubernetes.charts import dist
from hyperpod_cdk.specs.sbatch import (
    FSDP_FILE,
    SMOKE_FILE,
    PartitionShape,
    check_sbatch,
    partition_shapes,
    sbatch_examples,
)

REPO = Path(__file__).resolve().parent.parent
SHELLCHECK = Path(sys.executable).with_name("shellcheck")

GROUPS = [
    InstanceGroup(name="controller", instance_type="ml.m5.2xlarge", instance_count=1, slurm_node_type="Controller"),
    InstanceGroup(name="login", instance_type="ml.m5.2xlarge", instance_count=1, slurm_node_type="Login"),
    InstanceGroup(name="gpu", instance_type="ml.g5.12xlarge", instance_count=2, partition="train"),
    InstanceGroup(name="cpu", instance_type="ml.c5.4xlarge", instance_count=3),
]


def directives(text: str) -> dict[str, str | None]:
    out = {}
    for line in text.splitlines():
        if line.startswith("#SBATCH --"):
            key, _, value = line.removeprefix("#SBATCH --").partition("=")
            out[key] = value or None
    return out


def test_partition_shapes_come_from_the_groups() -> None:
    assert partition_shapes(GROUPS) == [
        PartitionShape("train", nodes=2, gpus_per_node=4, efa=True),
        PartitionShape("cpu", nodes=3, gpus_per_node=0, efa=False),
    ]


@pytest.mark.parametrize("path", [SMOKE_FILE, FSDP_FILE])
def test_examples_fit_two_g5_12xlarge_in_train(path: str) -> None:
    text = sbatch_examples(GROUPS, fsx_mount_path="/fsx", source="hyperpod.yaml")[path]
    found = directives(text)
    assert (found["partition"], found["nodes"], found["gpus-per-node"]) == ("train", "2", "4")
    assert check_sbatch(text, partition_shapes(GROUPS)) == []


def test_fsdp_runs_one_process_per_gpu_from_a_venv_on_fsx() -> None:
    text = sbatch_examples(GROUPS, fsx_mount_path="/fsx", source="hyperpod.yaml")[FSDP_FILE]
    assert "--nproc-per-node=4" in text
    assert 'WORK_DIR="${WORK_DIR:-/fsx/fsdp}"' in text
    assert "export FI_PROVIDER=efa" in text  # ml.g5.12xlarge has EFA


def test_without_fsx_fsdp_stays_on_one_node() -> None:
    text = sbatch_examples(GROUPS, fsx_mount_path=None, source="hyperpod.yaml")[FSDP_FILE]
    assert directives(text)["nodes"] == "1"
    assert "/fsx" not in text


def test_cpu_only_cluster_gets_no_gpu_directive() -> None:
    groups = [GROUPS[0], GROUPS[3]]
    texts = sbatch_examples(groups, fsx_mount_path="/fsx", source="x.yaml")
    for text in texts.values():
        found = directives(text)
        assert found["partition"] == "cpu" and "gpus-per-node" not in found
        assert check_sbatch(text, partition_shapes(groups)) == []
    assert "nvidia-smi" not in texts[SMOKE_FILE]


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (("--nodes=2", "--nodes=3"), "--nodes=3 is more than partition train offers (2)"),
        (("--gpus-per-node=4", "--gpus-per-node=8"), "--gpus-per-node=8 is more than partition train offers (4)"),
        (("--partition=train", "--partition=gpu"), "--partition=gpu is not a partition of the config"),
        (("#SBATCH --exclusive", "#SBATCH --exclusive\necho hi\n#SBATCH --mem=0"), "after the first command"),
        (("--nodes=2", "--nodes=two"), "--nodes=two is not a positive number"),
    ],
)
def test_directive_check_catches_what_does_not_fit(edit: tuple[str, str], problem: str) -> None:
    text = sbatch_examples(GROUPS, fsx_mount_path="/fsx", source="hyperpod.yaml")[FSDP_FILE]
    broken = text.replace(*edit, 1)
    assert any(problem in p for p in check_sbatch(broken, partition_shapes(GROUPS))), check_sbatch(
        broken, partition_shapes(GROUPS)
    )


@pytest.mark.skipif(not SHELLCHECK.exists() and not shutil.which("shellcheck"), reason="needs shellcheck")
def test_dist_writes_shellcheck_clean_examples_for_the_slurm_example(tmp_path: Path) -> None:
    assert dist.main(["--config", str(REPO / "examples" / "slurm.yaml"), "--out", str(tmp_path)]) == 0
    written = sorted(tmp_path.rglob("*.sbatch"))
    assert [p.relative_to(tmp_path).as_posix() for p in written] == [FSDP_FILE, SMOKE_FILE]
    shellcheck = str(SHELLCHECK) if SHELLCHECK.exists() else "shellcheck"
    result = subprocess.run([shellcheck, *map(str, written)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
    from hyperpod_cdk.config import load_config

    shapes = partition_shapes(load_config(REPO / "examples" / "slurm.yaml").hyperpod.instance_groups)
    for path in written:
        assert check_sbatch(path.read_text(), shapes) == []
