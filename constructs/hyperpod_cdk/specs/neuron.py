"""Which model architectures the AWS Neuron stack trains and serves (Trainium / Inferentia), offline.

The table is ``data/neuron_architectures.json``: per Hugging Face ``model_type``, training support
(tensor / pipeline parallelism), inference tasks, the minimum ``transformers`` version, notes, and
the sources each row rests on, with their dates (the HyperPod guide's Workflow 4, optimum-neuron's
supported-architectures page and release history, and the Neuron SDK release notes). Its
``criteria`` say what "supported" means. The ``hyperpod-cdk neuron check`` command and the job
builder (:mod:`hyperpod_cdk.kubernetes.charts.jobs`) read it; nothing here calls the network.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "Architecture",
    "TaskSupport",
    "Task",
    "architectures",
    "find",
    "is_trainium",
    "sources",
    "table_date",
]

DATA = Path(__file__).resolve().parent / "data" / "neuron_architectures.json"
Task = Literal["training", "inference"]


@dataclass(frozen=True)
class TaskSupport:
    supported: bool
    sources: tuple[str, ...]
    tensor_parallel: bool | None = None
    pipeline_parallel: bool | None = None
    since: str | None = None
    tasks: tuple[str, ...] = ()
    #: Training only: small models may still train through optimum-neuron's generic path.
    generic_path: bool = False


@dataclass(frozen=True)
class Architecture:
    model_type: str
    display: str
    aliases: tuple[str, ...]
    hf_ids: tuple[re.Pattern[str], ...]
    training: TaskSupport
    inference: TaskSupport
    min_transformers: str | None
    notes: tuple[str, ...]

    def support(self, task: Task) -> TaskSupport:
        return self.training if task == "training" else self.inference


def _support(raw: dict[str, Any]) -> TaskSupport:
    return TaskSupport(
        supported=bool(raw["supported"]),
        sources=tuple(raw.get("sources", ())),
        tensor_parallel=raw.get("tensor_parallel"),
        pipeline_parallel=raw.get("pipeline_parallel"),
        since=raw.get("since"),
        tasks=tuple(raw.get("tasks", ())),
        generic_path=bool(raw.get("generic_path", False)),
    )


@cache
def _data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DATA.read_text(encoding="utf-8"))
    return data


def normalize(name: str) -> str:
    """``Llama 3.1`` / ``llama-3.1`` / ``LLAMA_31`` -> ``llama31``."""
    return re.sub(r"[\s._-]+", "", name.strip().lower())


@cache
def architectures() -> dict[str, Architecture]:
    """Every architecture of the table, by Hugging Face ``model_type``."""
    found = {}
    for model_type, raw in _data()["architectures"].items():
        found[model_type] = Architecture(
            model_type=model_type,
            display=raw["display"],
            aliases=tuple(dict.fromkeys(normalize(alias) for alias in (model_type, *raw.get("aliases", ())))),
            hf_ids=tuple(re.compile(pattern, re.IGNORECASE) for pattern in raw.get("hf_ids", ())),
            training=_support(raw["training"]),
            inference=_support(raw["inference"]),
            min_transformers=raw.get("min_transformers"),
            notes=tuple(raw.get("notes", ())),
        )
    return found


def sources() -> dict[str, dict[str, str]]:
    """Source id -> title, url or repository path, date."""
    result: dict[str, dict[str, str]] = _data()["sources"]
    return result


def table_date() -> str:
    """The date of the newest source the table was checked against."""
    return str(_data()["as_of"])


def find(name: str) -> Architecture | None:
    """The architecture named by a ``model_type``, a family name (``Qwen3``, ``Llama 3``) or a Hugging
    Face model id of a known family (``Qwen/Qwen3-4B-Instruct-2507``); None when the table does not know it.
    """
    if "/" in name:
        matches = [arch for arch in architectures().values() if any(p.search(name) for p in arch.hf_ids)]
        return matches[0] if len(matches) == 1 else None
    key = normalize(name)
    for arch in architectures().values():
        if key in arch.aliases:
            return arch
    return None


def is_trainium(instance_type: str) -> bool:
    """``ml.trn1.32xlarge``, ``ml.trn1n.32xlarge``, ``ml.trn2.48xlarge``: the Trainium families."""
    return bool(re.fullmatch(r"ml\.trn[0-9]+[a-z]*\.[a-z0-9]+", instance_type))
