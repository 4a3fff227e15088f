"""``slurm.configuration: provisioning-parameters``: the legacy path, for clusters deployed with it.

One synth of examples/slurm.yaml with the legacy configuration. What matters for an existing
cluster is that its template does not move: no Orchestrator, no SlurmConfig, no FSx in
InstanceStorageConfigs, and the generated provisioning_parameters.json next to
lifecycle_scripts/slurm (whose own tests are tests/test_slurm_lifecycle_scripts.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory, synth):
    data = yaml.safe_load((REPO / "examples" / "slurm.yaml").read_text())
    data["slurm"] = {"configuration": "provisioning-parameters"}
    work = tmp_path_factory.mktemp("slurm-legacy")
    config = work / "slurm-legacy.yaml"
    config.write_text(yaml.safe_dump(data))
    return synth(config, work / "cdk.out", nag=False)


def test_legacy_cluster_has_no_api_driven_properties(legacy) -> None:
    props = legacy.one("AWS::SageMaker::Cluster")[1]["Properties"]
    assert "Orchestrator" not in props and "NodeProvisioningMode" not in props
    for group in props["InstanceGroups"]:
        assert "SlurmConfig" not in group
        assert [list(c) for c in group["InstanceStorageConfigs"]] == [["EbsVolumeConfig"]]


def test_provisioning_parameters_are_uploaded_with_fsx_tokens(legacy) -> None:
    _, deploy = legacy.one("Custom::HyperPodLifecycleScripts")
    props = deploy["Properties"]
    # Scripts, lifecycle_scripts/common, provisioning_parameters.json and fsx_lustre.json.
    assert len(props["SourceObjectKeys"]) == 4
    files = {}
    for key in props["SourceObjectKeys"]:
        for path in (legacy.outdir / f"asset.{key.removesuffix('.zip')}").iterdir():
            files[path.name] = path
    assert {
        "on_create.sh",
        "slurm_params.py",
        "lcs_common.sh",
        "provisioning_parameters.json",
        "fsx_lustre.json",
    } <= set(files)
    text = files["provisioning_parameters.json"].read_text()
    fsx_id, _ = legacy.one("AWS::FSx::FileSystem")
    for marker, value in props["SourceMarkers"][2].items():
        attribute = value["Fn::Join"][1][1]["Fn::GetAtt"]
        assert attribute[0] == fsx_id
        text = text.replace(marker, json.dumps(f"<{attribute[1]}>"))
    document = json.loads(text)
    assert document["controller_group"] == "controller" and document["login_group"] == "login"
    assert document["worker_groups"] == [
        {"instance_group_name": "gpu", "partition_name": "train"},
        {"instance_group_name": "cpu", "partition_name": "cpu"},
    ]
    assert (document["fsx_dns_name"], document["fsx_mountname"]) == ("<DNSName>", "<LustreMountName>")
