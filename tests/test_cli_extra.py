"""``rich`` is the ``cli`` extra: the CLI names the extra when it is missing, the library never needs it."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Runs in a fresh interpreter with the named top-level packages made unimportable, as on a machine
# where `pip install hyperpod-cdk` ran without the extra (None in sys.modules makes import raise
# ModuleNotFoundError for that name and its submodules).
BLOCK = "import sys\nfor _name in {blocked!r}: sys.modules[_name] = None\n"


def _python(code: str, *blocked: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCK.format(blocked=list(blocked)) + code],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )


def test_the_console_script_is_the_wrapper_that_checks_the_extra():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["hyperpod-cdk"] == "hyperpod_cdk.cli.console:main"


def test_without_rich_the_cli_prints_one_line_naming_the_extra_and_exits_2():
    run = _python("from hyperpod_cdk.cli.console import main\nsys.exit(main(['nodes', 'list', 'demo']))", "rich")
    assert run.returncode == 2, run.stderr
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("error: ") and "pip install 'hyperpod-cdk[cli]'" in lines[0]
    assert "Traceback" not in run.stderr


def test_without_rich_json_mode_prints_the_same_line_as_json():
    run = _python("from hyperpod_cdk.cli.console import main\nsys.exit(main(['preflight', '--json']))", "rich")
    assert run.returncode == 2, run.stderr
    payload = json.loads(run.stdout)
    assert payload["exit_code"] == 2 and "pip install 'hyperpod-cdk[cli]'" in payload["error"]


def test_another_missing_module_is_not_blamed_on_the_extra():
    run = _python("from hyperpod_cdk.cli.console import main\nmain(['--help'])", "botocore")
    assert run.returncode == 1
    assert "ModuleNotFoundError" in run.stderr and "botocore" in run.stderr
    assert "hyperpod-cdk[cli]" not in run.stderr


def test_with_rich_the_wrapper_runs_the_cli():
    from hyperpod_cdk.cli.console import main

    assert main(["--version"]) == 0


def test_the_library_imports_without_rich():
    """Every module outside hyperpod_cdk.cli, constructs included, imports with rich blocked."""
    code = """
import importlib, json, pkgutil
import hyperpod_cdk
imported = []
for info in pkgutil.walk_packages(hyperpod_cdk.__path__, "hyperpod_cdk."):
    if info.name.startswith("hyperpod_cdk.cli") or info.name.rpartition(".")[2] == "__main__":
        continue
    importlib.import_module(info.name)
    imported.append(info.name)
loaded = [name for name, module in sys.modules.items() if name.split(".")[0] == "rich" and module is not None]
print(json.dumps({"imported": imported, "rich": loaded}))
"""
    run = _python(code, "rich")
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.splitlines()[-1])
    assert result["rich"] == []
    constructs = ("hyperpod_cdk.platform", "hyperpod_cdk.cluster.hyperpod", "hyperpod_cdk.storage.fsx_lustre")
    assert set(constructs) <= set(result["imported"])


def test_rich_is_the_cli_extra_and_every_install_of_this_repo_includes_it():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if d.startswith("rich")]
    assert [d for d in project["optional-dependencies"]["cli"] if d.startswith("rich")]
    assert any("cli" in d for d in project["optional-dependencies"]["dev"] if d.startswith("hyperpod-cdk["))
    assert "-e '.[nag,node,cli]'" in (REPO / "Makefile").read_text()
    assert "rich==" in (REPO / "requirements.lock").read_text()
