"""docs/seed-coverage.md: one row per item of both seeds, each backed by tests that exist.

The seeds live outside the repository, so their item counts are held here: adding, removing or
merging a row changes a count and fails this test until the count is changed on purpose.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

from hyperpod_cdk.specs import neuron
from hyperpod_cdk.specs.instance_types import spec_for

REPO = Path(__file__).resolve().parent.parent
MATRIX = REPO / "docs" / "seed-coverage.md"
# Items per seed: G = the training-operator guide (seed 000), S = the HyperPod skill (seed 004).
SEED_ITEMS = {"G": 59, "S": 134}
MAX_SEED_WORDS = 12
CELL = r"(?:[^|\\]|\\.)"  # a table cell: no bare pipe (a pipe in seed words is written \|)
ROW = re.compile(
    rf"^\| (?P<id>[GS]-\d{{2,3}}) \| (?P<words>{CELL}+?) \| (?P<status>{CELL}+?) \| (?P<tests>{CELL}*?) ?\|$"
)
TEST_REF = re.compile(r"`tests/(?P<file>[\w/]+\.py)::(?P<name>test_\w+)`")


def rows() -> list[dict[str, str]]:
    found = []
    for line in MATRIX.read_text().splitlines():
        if line.startswith(("| G-", "| S-")):
            match = ROW.match(line)
            assert match, f"malformed matrix row: {line}"
            found.append(match.groupdict())
    return found


@cache
def defined_tests(file: str) -> frozenset[str]:
    path = REPO / "tests" / file
    if not path.is_file():
        return frozenset()
    tree = ast.parse(path.read_text())
    return frozenset(
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
    )


def test_matrix_counts_every_seed_item_once_in_order():
    ids = [row["id"] for row in rows()]
    assert len(ids) == len(set(ids))
    for seed, count in SEED_ITEMS.items():
        assert [i for i in ids if i.startswith(seed)] == [f"{seed}-{n:02d}" for n in range(1, count + 1)]
    total = sum(SEED_ITEMS.values())
    assert total >= 60
    header = f"Seed items: G = {SEED_ITEMS['G']}, S = {SEED_ITEMS['S']}, total = {total}."
    assert header in MATRIX.read_text()


def test_rows_quote_the_seed_briefly_and_have_a_known_status():
    for row in rows():
        assert len(row["words"].split()) <= MAX_SEED_WORDS, row["id"]
        status = row["status"]
        assert status == "done" or re.match(r"^(partial|n/a): \S.{5,}", status), f"{row['id']}: {status}"


def test_done_rows_name_tests_and_every_named_test_exists():
    missing = []
    for row in rows():
        refs = list(TEST_REF.finditer(row["tests"]))
        leftover = TEST_REF.sub("", row["tests"]).replace(",", "").strip()
        assert not leftover, f"{row['id']}: unparsable test reference {leftover!r}"
        if row["status"] == "done":
            assert refs, f"{row['id']} is done but names no test"
        missing += [f"{row['id']}: {m['file']}::{m['name']}" for m in refs if m["name"] not in defined_tests(m["file"])]
    assert missing == []


def test_a_missing_test_would_be_caught():
    assert "test_matrix_counts_every_seed_item_once_in_order" in defined_tests("test_seed_coverage.py")
    assert "test_no_such_thing" not in defined_tests("test_seed_coverage.py")
    assert defined_tests("no_such_file.py") == frozenset()


# ---- seed items whose proof is a table lookup ---------------------------------------------------------

GUIDE = REPO / "docs" / "choosing-an-orchestrator.md"
CRITERIA = {
    "EKS": ["Kubernetes", "containers", "Kueue", "Prometheus", "other workloads", "declarative"],
    "Slurm": ["HPC", "sbatch", "scheduling", "direct", "batch training"],
}


def test_orchestrator_guide_covers_every_criterion():
    text = GUIDE.read_text()
    eks, slurm = text.split("## Pick EKS when", 1)[1].split("## Pick Slurm when", 1)
    for word in CRITERIA["EKS"]:
        assert word in eks, word
    for word in CRITERIA["Slurm"]:
        assert word in slurm, word
    tree = text.split("```text", 1)[1].split("```", 1)[0]
    lines = tree.strip().splitlines()
    assert "Kubernetes" in lines[0] and lines[1].split() == ["yes", "->", "EKS"]
    assert "HPC" in lines[2] and lines[3].split() == ["yes", "->", "Slurm"]
    assert lines[4].split()[:3] == ["no", "->", "EKS:"]


SEED_INSTANCE_ROWS = [  # (type, accelerator family, chip, count) from the skill's instance table
    ("ml.p4d.24xlarge", "nvidia", "a100", 8),
    ("ml.p4de.24xlarge", "nvidia", "a100", 8),
    ("ml.p5.48xlarge", "nvidia", "h100", 8),
    ("ml.trn1.32xlarge", "neuron", "trainium", 16),
    ("ml.trn1n.32xlarge", "neuron", "trainium", 16),
]


@pytest.mark.parametrize(("instance_type", "family", "chip", "count"), SEED_INSTANCE_ROWS)
def test_seed_instance_table_rows(instance_type: str, family: str, chip: str, count: int):
    spec = spec_for(instance_type)
    assert (spec.accelerator, spec.chip, spec.accelerators) == (family, chip, count)


def test_trn1n_has_more_network_than_trn1():
    assert spec_for("ml.trn1n.32xlarge").efa > spec_for("ml.trn1.32xlarge").efa


SEED_TRAINING_ROWS = [
    ("Llama", True, True),
    ("Llama 2", True, True),
    ("Llama 3", True, True),
    ("Qwen3", True, True),
    ("Granite", True, False),
]
SEED_INFERENCE_ROWS = [
    ("Llama 3", "text-generation"),
    ("Llama 4", "text-generation"),
    ("Qwen2", "text-generation"),
    ("Qwen3", "text-generation"),
    ("Qwen3", "feature-extraction"),
    ("Qwen3Moe", "text-generation"),
    ("Mixtral", "text-generation"),
    ("Phi3", "text-generation"),
    ("BERT", "fill-mask"),
    ("RoBERTa", "feature-extraction"),
    ("DistilBERT", "text-classification"),
    ("Whisper", "automatic-speech-recognition"),
    ("Stable Diffusion", "text-to-image"),
    ("SDXL", "text-to-image"),
    ("Flux", "text-to-image"),
]


def test_seed_neuron_table_rows():
    for name, tp, pp in SEED_TRAINING_ROWS:
        arch = neuron.find(name)
        assert arch is not None and arch.training.supported, name
        assert (arch.training.tensor_parallel, arch.training.pipeline_parallel) == (tp, pp), name
    for name, task in SEED_INFERENCE_ROWS:
        arch = neuron.find(name)
        assert arch is not None and task in arch.inference.tasks, (name, task)
