"""``hyperpod-cdk neuron check MODEL_OR_ARCHITECTURE``: does the Neuron stack train (or serve) it?

The HyperPod guide's Workflow 4 ("Verify Model Compatibility for Trainium"), offline: the answer comes
from the sourced table in :mod:`hyperpod_cdk.specs.neuron`, never from the network. The argument is a
family name (``Qwen3``, ``Llama 3``), a ``model_type`` (``qwen3_moe``), a Hugging Face model id of a
known family (``Qwen/Qwen3-4B-Instruct-2507``), or a local ``config.json`` (or the folder holding it),
whose ``model_type`` is looked up.

Exit codes: 0 supported, 1 not supported, 2 unknown architecture (or an unreadable config.json).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from hyperpod_cdk.cli.output import escape, simple_table
from hyperpod_cdk.input_limits import InputLimitError, Limits, load_json, read_text
from hyperpod_cdk.specs import neuron, table_ages
from hyperpod_cdk.specs.neuron import Architecture, Task

MAX_CONFIG_BYTES = 1_000_000  # a model's config.json is a few KB
# A config.json nests a few levels and holds a few hundred values; a query is a name or a path.
CONFIG_LIMITS = Limits(max_bytes=MAX_CONFIG_BYTES, max_nodes=100_000, max_depth=32)
MAX_QUERY_CHARS = 1024
GPU_ALTERNATIVE = "GPU instance types (ml.p4d.24xlarge, ml.p5.48xlarge)"


class NeuronCheckError(Exception):
    """The argument names nothing the table can answer for (exit 2)."""


@dataclass(frozen=True)
class Target:
    """What the argument turned out to be."""

    query: str
    identified_as: str
    model_type: str | None
    architecture: Architecture | None


def _is_dir(path: Path) -> bool:
    """``path.is_dir()``, False where the path cannot be a directory: pathlib lets an ``OSError`` other than
    "no such file" through, such as a component over 255 bytes (review round 19, R19T-L1); reading it then
    says why in one line, and a name is looked up in the table."""
    try:
        return path.is_dir()
    except OSError:
        return False


def _read_model_type(path: Path) -> str:
    file = path / "config.json" if _is_dir(path) else path
    try:
        # Reads at most the cap (a device or pipe reports size 0), then parses within depth/size caps.
        data = load_json(read_text(file, CONFIG_LIMITS), CONFIG_LIMITS)
    except InputLimitError as exc:
        raise NeuronCheckError(f"{file}: {exc}; not a model's config.json") from None
    except OSError as exc:
        raise NeuronCheckError(f"{file}: cannot read it ({exc.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise NeuronCheckError(f"{file}: not valid JSON ({exc})") from None
    model_type = data.get("model_type") if isinstance(data, dict) else None
    if not isinstance(model_type, str) or not model_type:
        raise NeuronCheckError(f"{file}: has no model_type; is it a Hugging Face model's config.json?")
    return model_type


def resolve(query: str) -> Target:
    """Identify the architecture behind ``query``; raises NeuronCheckError for an unreadable config.json."""
    if len(query) > MAX_QUERY_CHARS:
        raise NeuronCheckError(
            f"the argument is {len(query)} characters; a model name or path has at most " f"{MAX_QUERY_CHARS}"
        )
    path = Path(query)
    if query.endswith(".json") or _is_dir(path):
        model_type = _read_model_type(path)
        return Target(query, f"model_type '{model_type}' in {path}", model_type, neuron.find(model_type))
    arch = neuron.find(query)
    kind = "Hugging Face model id" if "/" in query else "architecture name"
    return Target(query, kind, arch.model_type if arch else None, arch)


def report(target: Target, task: Task) -> dict[str, Any]:
    """The check as plain data (what --json prints)."""
    arch = target.architecture
    result: dict[str, Any] = {
        "query": target.query,
        "identified_as": target.identified_as,
        "model_type": target.model_type,
        "task": task,
        "table_as_of": neuron.table_date(),
    }
    # "This list evolves with each Neuron SDK release": say so when the table is old.
    old = [table_ages.warning(t, age) for t, age in table_ages.stale() if t.name.startswith("Neuron")]
    if old:
        result["table_warning"] = old[0]
    if arch is None:
        known = ", ".join(sorted(neuron.architectures()))
        result["known"] = False
        result["message"] = (
            f"'{target.query}' is not in the Neuron architecture table (known model_types: {known}); "
            "pass the model's config.json to check its model_type, or check the sources by hand"
        )
        return result
    support = arch.support(task)
    notes = list(arch.notes)
    if task == "training" and not support.supported:
        if support.generic_path:
            notes.append(
                "Models whose weights, gradients and optimizer state fit in 16 GB per NeuronCore may still "
                "train through optimum-neuron's generic path (untested by AWS or Hugging Face)."
            )
        trainable = [a.display for a in neuron.architectures().values() if a.training.supported]
        notes.append(f"Trainium training with tensor parallelism: {', '.join(trainable)}; or use {GPU_ALTERNATIVE}.")
    result.update(
        {
            "known": True,
            "architecture": arch.display,
            "supported": support.supported,
            "tensor_parallel": support.tensor_parallel,
            "pipeline_parallel": support.pipeline_parallel,
            "tasks": list(support.tasks),
            "since": support.since,
            "min_transformers": arch.min_transformers,
            "notes": notes,
            "sources": [{"id": source, **neuron.sources()[source]} for source in support.sources],
        }
    )
    return result


def exit_code(result: dict[str, Any]) -> int:
    if not result["known"]:
        return 2
    return 0 if result["supported"] else 1


def _yes_no(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


def render(console: Console, result: dict[str, Any]) -> None:
    _render(console, result)
    if result.get("table_warning"):  # last, after the verdict and its sources
        console.print(f"[yellow]warning[/]: {escape(result['table_warning'])}")


def _render(console: Console, result: dict[str, Any]) -> None:
    if not result["known"]:
        console.print(escape(result["message"]))
        return
    verdict = "SUPPORTED" if result["supported"] else "NOT SUPPORTED"
    style = "green" if result["supported"] else "bold red"
    console.print(
        f"[{style}]{verdict}[/]: {escape(result['architecture'])} for {result['task']} on Neuron "
        f"({escape(result['identified_as'])}; table as of {result['table_as_of']})"
    )
    rows = [
        ["model_type", result["model_type"]],
        ["tensor parallelism", _yes_no(result["tensor_parallel"])],
        ["pipeline parallelism", _yes_no(result["pipeline_parallel"])],
        ["tasks", ", ".join(result["tasks"])],
        ["since", result["since"] or ""],
        ["minimum transformers", result["min_transformers"] or ""],
    ]
    console.print(simple_table(["Field", "Value"], [row for row in rows if row[1]]))
    for note in result["notes"]:
        console.print(f"- {escape(note)}")
    console.print("Sources:")
    for source in result["sources"]:
        where = source.get("url") or source.get("where", "")
        console.print(escape(f"  [{source['id']}] {source['title']} ({source['date']}) {where}"))
