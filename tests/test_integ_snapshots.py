"""The integration tests' snapshots (integ/*.snapshot) match what the code synthesizes, offline.

integ-runner would do this comparison itself, but no published integ-runner reads the cloud
assembly schema aws-cdk-lib 2.275 writes (55; integ.json says minimumCliVersion 2.1147.0, and
@aws-cdk/integ-runner 2.197.10 bundles a toolkit that stops at 53), so it runs here: no
credentials, no deploy. Asset and content hashes are left out, as integ-runner leaves them out
without diffAssets. After a deliberate template change: `python integ/hyperpod_integ.py`.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

INTEG = Path(__file__).resolve().parent.parent / "integ"
sys.path.insert(0, str(INTEG))
hyperpod_integ = importlib.import_module("hyperpod_integ")


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    return {name: hyperpod_integ.synthesize(name, tmp_path_factory.mktemp(name)) for name in hyperpod_integ.TESTS}


@pytest.mark.parametrize("test_file", sorted(hyperpod_integ.TESTS))
def test_snapshot_matches_the_code(test_file: str, synthesized: dict[str, dict]) -> None:
    snapshot = hyperpod_integ.snapshot_dir(test_file)
    committed = {f.name: hyperpod_integ.normalized(f.read_text()) for f in sorted(snapshot.iterdir())}
    fresh = synthesized[test_file]
    assert sorted(committed) == sorted(fresh), "run `python integ/hyperpod_integ.py` and commit the snapshot"
    for name, content in fresh.items():
        assert committed[name] == content, (
            f"{snapshot.name}/{name} differs from the synthesized one: run `python integ/hyperpod_integ.py` after "
            "checking the change, and commit the snapshot"
        )


def test_each_test_deploys_one_platform_and_asserts_through_aws_apis(synthesized: dict[str, dict]) -> None:
    for test_file, files in synthesized.items():
        (case,) = files["integ.json"]["testCases"].values()
        assert case["regions"] == ["us-west-2"] and case["stackUpdateWorkflow"] is False
        assertions = json.dumps(files[f"{case['assertionStackName']}.template.json"])
        assert '"ClusterStatus\\\\":\\\\"InService\\\\"' in assertions or "InService" in assertions
        assert "listClusterNodes" in assertions and "Running" in assertions
        if "eks" in test_file:
            assert "describeAddon" in assertions and "amazon-sagemaker-hyperpod-training-operator" in assertions
        platform = files[f"{case['stacks'][0]}.template.json"]["Resources"]
        # A test run must leave nothing behind that costs money: the file system goes with the stack.
        (fsx,) = (r for r in platform.values() if r["Type"] == "AWS::FSx::FileSystem")
        assert fsx["DeletionPolicy"] == "Delete"
