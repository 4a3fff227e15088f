"""Shared builder of the integration-test apps (integ_*.py), also used by tests/test_integ_snapshots.py.

Not a test itself: integ-runner's Python preset only runs files named ``integ_*.py``.

Snapshots: ``integ/<test file>.snapshot/`` holds the templates of the test-case stack and of the
assertion stack, with ``manifest.json`` and ``integ.json``, the layout integ-runner reads.
``python integ/hyperpod_integ.py`` rewrites them after a template change; ``make test``
(tests/test_integ_snapshots.py) fails when the code no longer synthesizes them. Asset hashes
(and the content-hash prefix of the lifecycle scripts) are left out of the comparison, as
integ-runner ignores them without ``diffAssets``.

Each app is the repository's platform stack for one config under ``integ/configs/`` plus an
``IntegTest`` whose assertions (a separate stack integ-runner deploys after the test case, never
diffed) call AWS APIs until the cluster is ``InService`` and its nodes ``Running``
(https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeCluster.html,
API_ListClusterNodes.html). integ-runner destroys both stacks afterwards.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CONFIGS = Path(__file__).resolve().parent / "configs"
# jsii on the venv's Node 24 (as app.py), and the repository on the import path (integ-runner runs
# the file from integ/).
_node = Path(sys.executable).with_name("node")
if "JSII_NODE" not in os.environ and _node.exists():
    os.environ["JSII_NODE"] = str(_node)
sys.path.insert(0, str(REPO))

import aws_cdk as cdk  # noqa: E402
from aws_cdk import integ_tests_alpha as integ  # noqa: E402

from hyperpod_cdk.config import PlatformConfig, load_config  # noqa: E402
from infra.app_builder import add_platform  # noqa: E402

# The longest a single assertion may wait: the stack is already deployed (its readiness gates
# waited for the first node); this covers the remaining nodes. A waiter is a CloudFormation custom
# resource, which times out after one hour.
WAIT = cdk.Duration.minutes(45)
POLL = cdk.Duration.seconds(30)

AddAssertions = Callable[[integ.IntegTest, PlatformConfig], None]


def build(config_name: str, add_assertions: AddAssertions, outdir: str | None = None) -> tuple[cdk.App, Any]:
    """The app of one integration test: platform stack + IntegTest; returns (app, stack)."""
    context = json.loads((REPO / "cdk.json").read_text())["context"]
    app = cdk.App(context=context, outdir=outdir) if outdir else cdk.App(context=context)
    config = load_config(CONFIGS / config_name)
    stack = add_platform(app, config, nag=False)
    test = integ.IntegTest(
        app,
        f"{stack.stack_name}-integ",
        test_cases=[stack],
        # The configs pin AZ IDs of one region.
        regions=[config.region],
        # Asset hashes change with every script edit; the template diff is what matters.
        diff_assets=False,
        # A first deploy is what these tests prove; the update workflow would deploy the old snapshot first.
        stack_update_workflow=False,
    )
    add_assertions(test, config)
    return app, stack


def waiting_call(
    test: integ.IntegTest,
    service: str,
    api: str,
    parameters: dict[str, Any],
    iam_action: str,
    expected: dict[str, Any],
) -> integ.IApiCall:
    """An API call retried every 30 s until its response contains ``expected`` (up to 45 min)."""
    call = test.assertions.aws_api_call(service, api, parameters)
    call.expect(integ.ExpectedResult.object_like(expected))
    call.wait_for_assertions(total_timeout=WAIT, interval=POLL)
    # The waiter's isComplete function makes the call; integ-tests grants it to the first function only.
    waiter = getattr(call, "waiter_provider", None)
    if waiter is not None:
        waiter.add_to_role_policy({"Effect": "Allow", "Action": [iam_action], "Resource": ["*"]})
    return call


def cluster_in_service(test: integ.IntegTest, config: PlatformConfig) -> integ.IApiCall:
    return waiting_call(
        test,
        "SageMaker",
        "describeCluster",
        {"ClusterName": config.hyperpod.cluster_name},
        "sagemaker:DescribeCluster",
        {"ClusterStatus": "InService"},
    )


def nodes_running(test: integ.IntegTest, config: PlatformConfig) -> integ.IApiCall:
    """Every instance group has a Running node (ListClusterNodes, one page: these clusters are small)."""
    return waiting_call(
        test,
        "SageMaker",
        "listClusterNodes",
        {"ClusterName": config.hyperpod.cluster_name},
        "sagemaker:ListClusterNodes",
        {
            "ClusterNodeSummaries": integ.Match.array_with(
                [
                    integ.Match.object_like({"InstanceGroupName": group.name, "InstanceStatus": {"Status": "Running"}})
                    for group in config.hyperpod.instance_groups
                ]
            )
        },
    )


# Test files and the config each deploys.
TESTS = {"integ_hyperpod_eks.py": "eks.yaml", "integ_hyperpod_slurm.py": "slurm.yaml"}
SNAPSHOT_FILES = re.compile(r".*\.template\.json$|^manifest\.json$|^integ\.json$")
_HASH = re.compile(r"[0-9a-f]{64}")


def snapshot_dir(test_file: str) -> Path:
    return Path(__file__).resolve().parent / f"{test_file}.snapshot"


def normalized(text: str) -> Any:
    """A snapshot file's JSON without what changes on every synth: asset and content hashes (every
    script edit), and the ``salt`` integ-tests puts in each assertion so it runs on every deploy."""

    def drop_salt(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: "<salt>" if k == "salt" else drop_salt(v) for k, v in node.items()}
        if isinstance(node, list):
            return [drop_salt(v) for v in node]
        return node

    return drop_salt(json.loads(_HASH.sub("<hash>", text)))


def synthesize(test_file: str, outdir: Path) -> dict[str, Any]:
    """Synthesize one integration test into ``outdir``; return its snapshot files, normalized."""
    module = __import__(test_file.removesuffix(".py"))
    app, _ = build(TESTS[test_file], module.add_assertions, outdir=str(outdir))
    app.synth()
    return {f.name: normalized(f.read_text()) for f in sorted(outdir.iterdir()) if SNAPSHOT_FILES.match(f.name)}


def write_snapshots() -> None:
    for test_file in TESTS:
        target = snapshot_dir(test_file)
        with tempfile.TemporaryDirectory() as tmp:
            synthesize(test_file, Path(tmp))
            target.mkdir(exist_ok=True)
            for old in target.iterdir():
                old.unlink()
            for f in sorted(Path(tmp).iterdir()):
                if SNAPSHOT_FILES.match(f.name):
                    (target / f.name).write_text(json.dumps(json.loads(f.read_text()), indent=1) + "\n")
        print(f"wrote {target.relative_to(REPO)}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    write_snapshots()
