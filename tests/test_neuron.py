"""``hyperpod-cdk neuron check`` and the Neuron architecture table; Trainium jobs declare what they train."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hyperpod_cdk.cli.main import main
from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.kubernetes.charts.jobs import Container, HyperPodPyTorchJobSpec, ReplicaSpec, Resources
from hyperpod_cdk.specs import neuron


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["Qwen3"], 0),
        (["Whisper", "--task", "training"], 1),
        (["Whisper", "--task", "inference"], 0),
        (["Llama 3"], 0),
        (["granite"], 0),
        (["mistral"], 1),
        (["qwen3_moe"], 1),
        (["qwen3_moe", "--task", "inference"], 0),
        (["NotAModel"], 2),
        (["someone/unknown-model-7B"], 2),
    ],
)
def test_exit_codes(argv: list[str], code: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["neuron", "check", *argv]) == code


@pytest.mark.parametrize(
    ("model_id", "model_type"),
    [
        ("Qwen/Qwen3-4B-Instruct-2507", "qwen3"),
        ("Qwen/Qwen3-30B-A3B", "qwen3_moe"),
        ("Qwen/Qwen3-235B-A22B-Instruct-2507", "qwen3_moe"),
        ("Qwen/Qwen3-VL-8B-Instruct", "qwen3_vl"),
        ("Qwen/Qwen2.5-7B-Instruct", "qwen2"),
        ("meta-llama/Llama-3.1-8B", "llama"),
        ("meta-llama/Meta-Llama-3-70B", "llama"),
        ("meta-llama/Llama-4-Scout-17B-16E", "llama4"),
        ("google/gemma-2b", "gemma"),
        ("google/gemma-2-9b", "gemma2"),
        ("google/gemma-3-4b-it", "gemma3"),
        ("openai/whisper-large-v3", "whisper"),
        ("mistralai/Mixtral-8x7B-v0.1", "mixtral"),
        ("ibm-granite/granite-3.1-8b-instruct", "granite"),
    ],
)
def test_hugging_face_ids_map_to_one_family(model_id: str, model_type: str) -> None:
    arch = neuron.find(model_id)
    assert arch is not None and arch.model_type == model_type


def test_qwen3_json_names_versions_notes_and_dated_sources(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["neuron", "check", "Qwen/Qwen3-4B-Instruct-2507", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["model_type"], result["supported"]) == ("qwen3", True)
    assert result["tensor_parallel"] is True and result["pipeline_parallel"] is True
    assert result["min_transformers"] == "4.51.0"
    assert any("eager" in note for note in result["notes"])
    assert {s["id"] for s in result["sources"]} >= {"guide", "on-architectures"}


def test_whisper_training_says_why_and_what_instead(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["neuron", "check", "Whisper", "--task", "training"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("NOT SUPPORTED: Whisper for training on Neuron")
    assert "GPU instance types" in out and "Qwen3 (dense)" in out


def test_local_config_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "granite", "architectures": ["GraniteForCausalLM"]}))
    assert main(["neuron", "check", str(model), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["identified_as"] == f"model_type 'granite' in {model}"
    (model / "config.json").write_text("{not json")
    assert main(["neuron", "check", str(model / "config.json")]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    (model / "config.json").write_text(json.dumps({"architectures": ["X"]}))
    assert main(["neuron", "check", str(model / "config.json"), "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"].endswith(
        "has no model_type; is it a Hugging Face model's " "config.json?"
    )


def test_table_is_consistent() -> None:
    sources = neuron.sources()
    for source in sources.values():
        assert source["date"] and source["title"] and (source.get("url") or source.get("where"))
    for arch in neuron.architectures().values():
        for support in (arch.training, arch.inference):
            assert support.sources and set(support.sources) <= set(sources), arch.model_type
        if arch.training.supported:
            assert arch.training.tensor_parallel is not None and arch.training.pipeline_parallel is not None
        if arch.inference.supported:
            assert arch.inference.tasks, arch.model_type
        assert arch.min_transformers is None or re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", arch.min_transformers)
    aliases = [alias for arch in neuron.architectures().values() for alias in arch.aliases]
    assert len(aliases) == len(set(aliases)), "an alias names two architectures"
    # The guide's training table (Workflow 4): Llama, Qwen3 with TP and PP; Granite with TP only.
    trained = {
        a.model_type: (a.training.tensor_parallel, a.training.pipeline_parallel)
        for a in neuron.architectures().values()
        if a.training.supported
    }
    assert trained == {"llama": (True, True), "qwen3": (True, True), "granite": (True, False)}


# ----------------------------------------------------------------------------- the job builder


def _job(instance_type: str, architecture: str | None, resources: Resources | None = None) -> HyperPodPyTorchJobSpec:
    container = Container(image="public.ecr.aws/x/train:1", command=["torchrun"], resources=resources or Resources())
    return HyperPodPyTorchJobSpec(
        name="train",
        namespace="hyperpod-ns-a",
        model_architecture=architecture,
        replica_specs=[ReplicaSpec(container=container, replicas=2, instance_type=instance_type)],
    )


def test_trainium_job_with_an_unsupported_architecture_is_refused() -> None:
    with pytest.raises(HyperPodConfigError) as caught:
        _job("ml.trn1.32xlarge", "whisper")
    assert caught.value.field == "job.model_architecture"
    assert caught.value.message.startswith("Whisper has no Neuron training support (replica 'pods' runs on Trainium")
    assert "llama, qwen3, granite" in caught.value.message


def test_trainium_job_with_an_unknown_architecture_is_refused() -> None:
    with pytest.raises(HyperPodConfigError, match="'qwen-9' is not in the Neuron architecture table"):
        _job("ml.trn2.48xlarge", "qwen-9")


def test_neuron_devices_count_as_trainium() -> None:
    with pytest.raises(HyperPodConfigError, match="Whisper has no Neuron training support"):
        _job("ml.m5.2xlarge", "whisper", Resources.for_accelerators(neuron_devices=16))


def test_supported_or_gpu_jobs_pass() -> None:
    assert _job("ml.trn1.32xlarge", "Qwen3").model_architecture == "Qwen3"
    assert _job("ml.trn1n.32xlarge", "meta-llama/Llama-3.1-8B").replica_specs[0].instance_type == "ml.trn1n.32xlarge"
    assert _job("ml.p5.48xlarge", "whisper").model_architecture == "whisper"  # not on Trainium: not checked
    assert _job("ml.trn1.32xlarge", None).model_architecture is None  # nothing declared
