"""The pre-commit hooks run what CI runs (.ci/run: `make test`, `make lint`), offline, from .venv."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def _hooks() -> list[dict]:
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    return [hook for repo in config["repos"] for hook in repo["hooks"]]


def _ci_tools() -> set[str]:
    """The `$(PY) -m <tool>` commands of the Makefile targets .ci/run calls."""
    targets = set(re.findall(r"^make (\w+)", (REPO / ".ci" / "run").read_text(), re.M))
    assert {"test", "lint"} <= targets
    makefile = (REPO / "Makefile").read_text()
    tools = set()
    for target in targets:
        recipe = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", makefile, re.M)
        assert recipe, target
        tools |= set(re.findall(r"\$\(PY\) -m ([\w.]+)", recipe.group(1)))
    return tools


def test_every_tool_ci_runs_has_a_hook():
    assert _ci_tools() == {"pytest", "ruff", "mypy"}
    hooked = {hook["entry"].split()[2] for hook in _hooks()}
    assert _ci_tools() <= hooked


def test_hooks_are_local_and_use_the_repos_pinned_tools():
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    for hook in _hooks():
        assert hook["language"] == "system", hook["id"]
        assert hook["entry"].startswith(".venv/bin/python -m "), hook["id"]


def test_whole_program_checks_ignore_the_staged_file_list():
    by_id = {hook["id"]: hook for hook in _hooks()}
    assert by_id["mypy"]["pass_filenames"] is False and by_id["pytest"]["pass_filenames"] is False
    assert by_id["pytest"]["always_run"] is True


def test_every_ruff_command_of_make_lint_has_a_hook():
    """`make lint` runs `ruff check` and `ruff format --check`; each has a hook with the same subcommand."""
    recipe = re.search(r"^lint:.*\n((?:\t.*\n)+)", (REPO / "Makefile").read_text(), re.M)
    assert recipe
    subcommands = set(re.findall(r"\$\(PY\) -m ruff (\w+)", recipe.group(1)))
    assert subcommands == {"check", "format"}
    hooked = {hook["entry"].split()[3] for hook in _hooks() if hook["entry"].split()[2] == "ruff"}
    assert subcommands <= hooked
    format_hook = next(hook for hook in _hooks() if hook["entry"].split()[2:4] == ["ruff", "format"])
    assert "--check" in format_hook["entry"].split()
