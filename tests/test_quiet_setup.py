"""A newcomer's first synth: lean install, no dependency warnings, no stale templates in cdk.out."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from infra.app_builder import remove_stale_templates

REPO = Path(__file__).resolve().parent.parent


def test_requests_accepts_the_locked_chardet_and_urllib3() -> None:
    # requests warns (RequestsDependencyWarning) on every import when chardet >= 6 is installed.
    import chardet
    import charset_normalizer
    import requests
    import urllib3

    requests.check_compatibility(urllib3.__version__, chardet.__version__, charset_normalizer.__version__)


def test_synth_installs_no_dev_tools() -> None:
    makefile = (REPO / "Makefile").read_text()
    synth_deps = re.search(r"^synth: (.*)$", makefile, re.M)
    assert synth_deps is not None and synth_deps.group(1).split() == ["install"]
    install_recipe = re.search(r"^\$\(VENV\)/\.installed: .*\n((?:\t.*\n)+)", makefile, re.M)
    assert install_recipe is not None
    assert "[dev]" not in install_recipe.group(1) and "nag,node" in install_recipe.group(1)


def _assembly(folder: Path, stack: str) -> None:
    manifest = {
        "artifacts": {
            f"{stack}.assets": {"type": "cdk:asset-manifest", "properties": {"file": f"{stack}.assets.json"}},
            stack: {"type": "aws:cloudformation:stack", "properties": {"templateFile": f"{stack}.template.json"}},
            "Tree": {"type": "cdk:tree", "properties": {"file": "tree.json"}},
        }
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    for suffix in ("template.json", "assets.json", "metadata.json"):
        (folder / f"{stack}.{suffix}").write_text("{}")


def test_renamed_stack_leaves_no_stale_template(tmp_path: Path) -> None:
    _assembly(tmp_path, "old-platform")
    _assembly(tmp_path, "new-platform")  # the manifest now names only the new stack
    (tmp_path / "tree.json").write_text("{}")
    removed = remove_stale_templates(tmp_path)
    assert [p.name for p in removed] == [
        "old-platform.assets.json",
        "old-platform.metadata.json",
        "old-platform.template.json",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "manifest.json",
        "new-platform.assets.json",
        "new-platform.metadata.json",
        "new-platform.template.json",
        "tree.json",
    ]


def test_dist_without_the_validators_writes_the_files_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hyperpod_cdk.kubernetes.charts import dist

    monkeypatch.setattr(dist, "validators_installed", lambda: False)
    out = tmp_path / "dist"
    assert dist.main(["--config", str(REPO / "hyperpod.yaml"), "--out", str(out), "--validate-if-installed"]) == 0
    assert (out / "operator.yaml").is_file() and (out / "jobs" / "smoke.yaml").is_file()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("note: dist/ manifests not schema-checked here")
