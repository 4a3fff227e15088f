"""HyperPodLifecycleScripts(shared_dirs=...): shared helpers deployed into every orchestrator's prefix.

HyperPod downloads one S3 prefix per instance group, so lifecycle_scripts/common/lcs_common.sh has to
be uploaded into the EKS prefix and the Slurm prefix alike. One small stack (no platform synth).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "lifecycle_scripts"
COMMON = SCRIPTS / "common"


def _shared(base: Path, name: str, text: str) -> Path:
    folder = base / name
    folder.mkdir()
    (folder / "helpers.sh").write_text(text)
    return folder


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory):
    import aws_cdk as cdk
    from aws_cdk import aws_kms as kms

    from hyperpod_cdk.lifecycle.lifecycle_scripts import HyperPodLifecycleScripts

    base = tmp_path_factory.mktemp("shared")
    one = _shared(base, "one", "helper() { echo 1; }\n")
    two = _shared(base, "two", "helper() { echo 2; }\n")
    one_copy = _shared(base, "one-copy", "helper() { echo 1; }\n")
    outdir = tmp_path_factory.mktemp("probe.out")
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "Probe")
    key = kms.Key(stack, "Key")

    def scripts(construct_id: str, source: Path, **kwargs) -> HyperPodLifecycleScripts:
        return HyperPodLifecycleScripts(stack, construct_id, source_dir=source, encryption_key=key, **kwargs)

    built = {
        "eks": scripts("Eks", SCRIPTS / "eks", shared_dirs=[COMMON]),
        "slurm": scripts(
            "Slurm",
            SCRIPTS / "slurm",
            shared_dirs=[COMMON],
            json_files={"provisioning_parameters.json": {"controller_group": "c"}},
        ),
        "plain": scripts("Plain", SCRIPTS / "eks"),
        "one": scripts("One", SCRIPTS / "eks", shared_dirs=[one]),
        "two": scripts("Two", SCRIPTS / "eks", shared_dirs=[two]),
        "one_copy": scripts("OneCopy", SCRIPTS / "eks", shared_dirs=[str(one_copy)]),
        # The same document as "slurm" once the app has finished it: given as a function, rendered at synth.
        "deferred": scripts(
            "Deferred",
            SCRIPTS / "slurm",
            shared_dirs=[COMMON],
            json_files={"provisioning_parameters.json": lambda: dict(late_document)},
        ),
        "early": scripts(
            "Early", SCRIPTS / "slurm", shared_dirs=[COMMON], json_files={"provisioning_parameters.json": {}}
        ),
    }
    late_document: dict[str, str] = {}
    frozen_before_synth = {name: s.frozen for name, s in built.items()}
    deferred_uri = built["deferred"].source_s3_uri  # taken before the document is complete
    late_document["controller_group"] = "c"
    template = app.synth().get_stack_by_name("Probe").template
    assert frozen_before_synth == {name: name != "deferred" for name in built}
    assert all(s.frozen for s in built.values())
    assert stack.resolve(deferred_uri)["Fn::Join"][1][-1] == f"/{built['deferred'].prefix}"
    by_bucket = {
        r["Properties"]["DestinationBucketName"]["Ref"]: r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "Custom::HyperPodLifecycleScripts"
    }
    deployments = {name: by_bucket[stack.get_logical_id(s.bucket.node.default_child)] for name, s in built.items()}
    assert all(props["DestinationBucketKeyPrefix"] == built[name].prefix for name, props in deployments.items())
    return stack, key, built, deployments, outdir


def _asset_dir(outdir: Path, object_key: str) -> Path:
    return outdir / f"asset.{object_key.removesuffix('.zip')}"


def test_common_helpers_are_deployed_into_both_prefixes(probe) -> None:
    _, _, built, deployments, outdir = probe
    eks, slurm = deployments["eks"]["SourceObjectKeys"], deployments["slurm"]["SourceObjectKeys"]
    assert len(eks) == 2  # the eks/ folder and common/
    assert len(slurm) == 3  # the slurm/ folder, common/ and the generated provisioning_parameters.json
    assert eks[1] == slurm[1], "both prefixes get the same common asset"
    shipped = sorted(p.name for p in _asset_dir(outdir, eks[1]).iterdir())
    assert shipped == sorted(p.name for p in COMMON.iterdir()) == ["lcs_common.sh"]
    assert (_asset_dir(outdir, eks[0]) / "on_create.sh").is_file()
    assert (_asset_dir(outdir, slurm[0]) / "on_create.sh").is_file()
    assert built["eks"].prefix != built["slurm"].prefix
    for props in (deployments["eks"], deployments["slurm"]):
        assert len(props["SourceBucketNames"]) == len(props["SourceObjectKeys"])


def test_without_shared_dirs_the_prefix_is_the_asset_hash(probe) -> None:
    _, _, built, deployments, _ = probe
    keys = deployments["plain"]["SourceObjectKeys"]
    assert keys == deployments["eks"]["SourceObjectKeys"][:1]
    assert built["plain"].prefix == f"lifecycle/{keys[0].removesuffix('.zip')}/"
    assert built["eks"].prefix != built["plain"].prefix
    assert re.fullmatch(r"lifecycle/[0-9a-f]{64}/", built["eks"].prefix)


def test_a_json_file_given_as_a_function_is_rendered_at_synth_into_the_prefix(probe) -> None:
    """A generated file given as a function is called at synth: its upload and the prefix follow the
    document as the app left it, exactly as if it had been passed complete."""
    _, _, built, deployments, outdir = probe
    assert built["deferred"].prefix == built["slurm"].prefix != built["early"].prefix
    assert deployments["deferred"]["SourceObjectKeys"] == deployments["slurm"]["SourceObjectKeys"]
    staged = _asset_dir(outdir, deployments["deferred"]["SourceObjectKeys"][2]) / "provisioning_parameters.json"
    assert staged.read_text() == '{"controller_group":"c"}'
    assert built["deferred"].json_files == {"provisioning_parameters.json": {"controller_group": "c"}}


def test_editing_a_shared_file_changes_the_prefix(probe) -> None:
    _, _, built, _, _ = probe
    assert built["one"].prefix != built["two"].prefix
    # The prefix follows the content, not where the folder is.
    assert built["one"].prefix == built["one_copy"].prefix


def test_name_clashes_are_rejected(probe, tmp_path: Path) -> None:
    from hyperpod_cdk.lifecycle.lifecycle_scripts import HyperPodLifecycleScripts

    stack, key, _, _, _ = probe
    a = _shared(tmp_path, "a", "x\n")
    b = _shared(tmp_path, "b", "y\n")
    (tmp_path / "on-create").mkdir()
    (tmp_path / "on-create" / "on_create.sh").write_text("#!/bin/sh\n")
    (tmp_path / "folder" / "helpers.sh").mkdir(parents=True)
    (tmp_path / "json").mkdir()
    (tmp_path / "json" / "params.json").write_text("{}")

    def build(construct_id: str, shared: list[Path], **kwargs) -> None:
        HyperPodLifecycleScripts(
            stack, construct_id, source_dir=SCRIPTS / "eks", encryption_key=key, shared_dirs=shared, **kwargs
        )

    with pytest.raises(ValueError, match=r"helpers\.sh is in both .*/a and .*/b"):
        build("TwoShared", [a, b])
    with pytest.raises(ValueError, match=r"on_create\.sh is in both .*eks and .*on-create"):
        build("ShadowsEntryPoint", [tmp_path / "on-create"])
    with pytest.raises(ValueError, match=r"helpers\.sh is in both .*/a and .*/folder \(as a folder"):
        build("FileAndFolder", [a, tmp_path / "folder"])
    with pytest.raises(ValueError, match=r"json_files: .*/json already has a file named params\.json"):
        build("Json", [tmp_path / "json"], json_files={"params.json": {}})
    with pytest.raises(ValueError, match="not a directory"):
        build("Missing", [tmp_path / "nowhere"])


def test_a_json_file_function_that_fails_at_synth_names_the_scripts_in_one_line() -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_kms as kms

    from hyperpod_cdk.errors import HyperPodConfigError
    from hyperpod_cdk.lifecycle.lifecycle_scripts import HyperPodLifecycleScripts

    def refuse() -> dict[str, str]:
        raise HyperPodConfigError("json_files", "the document is not ready")

    app = cdk.App()
    stack = cdk.Stack(app, "Late")
    HyperPodLifecycleScripts(stack, "Scripts", encryption_key=kms.Key(stack, "Key"), json_files={"late.json": refuse})
    # Raised inside synth's aspect, jsii hands it back as its text: still the one line.
    with pytest.raises(Exception, match=r"^Late/Scripts: json_files: the document is not ready$"):
        app.synth()
