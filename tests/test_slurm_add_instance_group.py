"""HyperPodPlatform.add_instance_group on Slurm (issue 21): the added group gets its SlurmConfig in the
cluster, its role and partition in the generated lifecycle file, and every group boots from the one
prefix that file is hashed into; bad groups and late ones are refused in one line.

One synthesized stack (examples/slurm.yaml plus a group) is shared by the module: jsii is slow.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.config import InstanceGroup, load_config
from hyperpod_cdk.errors import HyperPodConfigError

REPO = Path(__file__).resolve().parent.parent
ACCOUNT = "111111111111"
#: How a refused fifth group's error starts: the cluster's path, then the field.
AT = r"^User/Platform/HyperPod: instance_groups\[4\]"
ADDED = {"name": "infer", "instance_type": "ml.g5.12xlarge", "instance_count": 2, "partition": "infer"}

_spec = importlib.util.spec_from_file_location("lcs_harness", Path(__file__).with_name("lcs_harness.py"))
assert _spec is not None and _spec.loader is not None
lcs = sys.modules.setdefault("lcs_harness", importlib.util.module_from_spec(_spec))
if not hasattr(lcs, "FakeNode"):
    _spec.loader.exec_module(lcs)


def _platform(config: str = "slurm.yaml", stack_id: str = "User") -> Any:
    import aws_cdk as cdk

    from hyperpod_cdk import HyperPodPlatform

    app = cdk.App()
    stack = cdk.Stack(app, stack_id, env=cdk.Environment(account=ACCOUNT, region="us-west-2"))
    return HyperPodPlatform(stack, "Platform", config=load_config(REPO / "examples" / config))


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """examples/slurm.yaml's platform with one compute group added in code, synthesized to a cdk.out."""
    import aws_cdk as cdk

    from hyperpod_cdk import HyperPodPlatform

    outdir = tmp_path_factory.mktemp("cdk.out")
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "User", env=cdk.Environment(account=ACCOUNT, region="us-west-2"))
    platform = HyperPodPlatform(stack, "Platform", config=load_config(REPO / "examples" / "slurm.yaml"))
    frozen_at_creation = platform.lifecycle.frozen
    added = platform.add_instance_group(ADDED)
    template = app.synth().get_stack_by_name("User").template
    return {
        "outdir": outdir,
        "platform": platform,
        "added": added,
        "template": template,
        "frozen_at_creation": frozen_at_creation,
    }


@pytest.fixture(scope="module")
def unsynthesized() -> Any:
    """A platform nobody synthesizes: refused groups must leave it as it was."""
    return _platform()


def _of_type(template: dict[str, Any], cfn_type: str) -> list[dict[str, Any]]:
    return [r["Properties"] for r in template["Resources"].values() if r["Type"] == cfn_type]


def _join(value: Any) -> str:
    """An ``Fn::Join`` of literals and references as text (references as their JSON)."""
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(p if isinstance(p, str) else json.dumps(p, sort_keys=True) for p in parts)
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _staged_file(synthesized: dict[str, Any], name: str) -> dict[str, Any]:
    """``name`` from the cdk.out asset folder the lifecycle deployment uploads it from."""
    (deployment,) = _of_type(synthesized["template"], "Custom::HyperPodLifecycleScripts")
    found = [
        synthesized["outdir"] / f"asset.{key.removesuffix('.zip')}" / name
        for key in deployment["SourceObjectKeys"]
        if (synthesized["outdir"] / f"asset.{key.removesuffix('.zip')}" / name).is_file()
    ]
    assert len(found) == 1, found
    return dict(json.loads(found[0].read_text()))


def test_the_lifecycle_files_wait_for_synth_on_slurm(synthesized: dict[str, Any]) -> None:
    assert synthesized["frozen_at_creation"] is False
    assert synthesized["platform"].lifecycle.frozen is True
    assert synthesized["added"] == InstanceGroup(**ADDED)


def test_the_added_group_is_in_the_cluster_with_its_slurm_config(synthesized: dict[str, Any]) -> None:
    (cluster,) = _of_type(synthesized["template"], "AWS::SageMaker::Cluster")
    groups = {g["InstanceGroupName"]: g for g in cluster["InstanceGroups"]}
    assert list(groups) == ["controller", "login", "gpu", "cpu", "infer"]
    infer = groups["infer"]
    # PartitionNames: at most one (AWS::SageMaker::Cluster ClusterSlurmConfig in cfn-lint's schema).
    assert infer["SlurmConfig"] == {"NodeType": "Compute", "PartitionNames": ["infer"]}
    assert (infer["InstanceType"], infer["InstanceCount"]) == ("ml.g5.12xlarge", 2)
    # The same FSx mount and role as the config's compute groups.
    assert infer["InstanceStorageConfigs"] == groups["gpu"]["InstanceStorageConfigs"]
    assert infer["ExecutionRole"] == groups["gpu"]["ExecutionRole"]


def test_every_group_boots_from_the_one_final_prefix(synthesized: dict[str, Any]) -> None:
    template, platform = synthesized["template"], synthesized["platform"]
    (cluster,) = _of_type(template, "AWS::SageMaker::Cluster")
    uris = {_join(g["LifeCycleConfig"]["SourceS3Uri"]) for g in cluster["InstanceGroups"]}
    (deployment,) = _of_type(template, "Custom::HyperPodLifecycleScripts")
    prefix = deployment["DestinationBucketKeyPrefix"]
    assert prefix == platform.lifecycle.prefix and prefix.startswith("lifecycle/")
    assert len(uris) == 1 and next(iter(uris)).endswith(f"/{prefix}")


def test_slurm_nodes_json_in_the_staged_asset_names_the_added_group(synthesized: dict[str, Any]) -> None:
    document = _staged_file(synthesized, "slurm_nodes.json")
    assert document["groups"] == {
        "controller": {"node_type": "Controller"},
        "login": {"node_type": "Login"},
        "gpu": {"node_type": "Compute", "partition": "train"},
        "cpu": {"node_type": "Compute", "partition": "cpu"},
        "infer": {"node_type": "Compute", "partition": "infer"},
    }
    assert document == synthesized["platform"].lifecycle.json_files["slurm_nodes.json"]


@pytest.mark.skipif(not Path(lcs.BASH).exists() or not shutil.which("python3"), reason="needs bash, python3")
def test_the_added_groups_node_finds_its_partition_in_the_synthesized_file(
    synthesized: dict[str, Any], tmp_path: Path
) -> None:
    ips = {"controller": ["10.1.0.10"], "login": ["10.1.0.11"], "gpu": ["10.1.0.20"], "infer": ["10.1.0.30"]}
    resource_config = {
        "ClusterConfig": {"ClusterArn": f"arn:aws:sagemaker:us-west-2:{ACCOUNT}:cluster/abc123def456"},
        "InstanceGroups": [
            {"Name": group, "Instances": [{"CustomerIpAddress": ip, "InstanceId": "i-0123456789abcdef0"}]}
            for group, addresses in ips.items()
            for ip in addresses
        ],
    }
    node = lcs.HyperPodApiSlurmNode(
        tmp_path,
        lcs.SCRIPTS_DIR / "slurm_api",
        node_type="compute",
        node_ip=ips["infer"][0],
        controller_ip=ips["controller"][0],
        nodes=_staged_file(synthesized, "slurm_nodes.json"),
        resource_config=resource_config,
        controller_conf=lcs.agent_slurm_conf(ips["controller"][0], {"infer": ips["infer"]}),
        active=("munge", "slurmd"),
    )
    result = lcs.ok(node.run())
    assert "in group infer, role compute, partition infer" in result.log
    assert "[finished] ==> on_create.sh finished: compute node" in result.log


@pytest.mark.parametrize(
    ("group", "error"),
    [
        (
            {"name": "head2", "instance_type": "ml.m5.2xlarge", "instance_count": 1, "slurm_node_type": "Controller"},
            AT + r"\(head2\)\.slurm_node_type: .head2. is a second Controller group",
        ),
        (
            {"name": "gpu", "instance_type": "ml.g5.8xlarge", "instance_count": 1},
            r"^User/Platform/HyperPod: instance_groups: group name 'gpu' is used twice; names must be unique$",
        ),
        (
            {"name": "bad", "instance_type": "ml.nope.xlarge", "instance_count": 1},
            AT + r"\.instance_type: 'ml\.nope\.xlarge' is not a SageMaker HyperPod instance type",
        ),
        (
            {"name": "far", "instance_type": "ml.c5.4xlarge", "instance_count": 1, "availability_zone_id": "usw2-az4"},
            AT + r"\(far\)\.availability_zone_id: 'usw2-az4' has no HyperPod subnet",
        ),
    ],
    ids=["second-controller", "name-clash", "bad-instance-type", "az-without-subnet"],
)
def test_a_bad_group_is_refused_in_one_line_as_in_the_config(unsynthesized: Any, group: dict, error: str) -> None:
    with pytest.raises(HyperPodConfigError, match=error) as raised:
        unsynthesized.add_instance_group(group)
    assert "\n" not in str(raised.value)
    assert [g.name for g in unsynthesized.cluster.instance_groups] == ["controller", "login", "gpu", "cpu"]
    assert not unsynthesized.lifecycle.frozen


def test_a_group_added_after_synth_is_refused_in_one_line(synthesized: dict[str, Any]) -> None:
    platform = synthesized["platform"]
    with pytest.raises(
        HyperPodConfigError,
        match=r"^User/Platform/HyperPod: instance_groups: the lifecycle scripts' generated files and S3 prefix "
        r"were fixed at synth; add the group before app.synth\(\)",
    ):
        platform.add_instance_group({"name": "late", "instance_type": "ml.c5.4xlarge", "instance_count": 1})
    assert "late" not in [g.name for g in platform.cluster.instance_groups]


def test_legacy_slurm_renders_provisioning_parameters_with_the_added_group() -> None:
    """configuration: provisioning-parameters: the file HyperPod's agent reads names the new group too."""
    import aws_cdk as cdk
    import yaml

    from hyperpod_cdk import HyperPodPlatform
    from hyperpod_cdk.config import parse_config

    data = yaml.safe_load((REPO / "examples" / "slurm.yaml").read_text())
    data["slurm"] = {"configuration": "provisioning-parameters"}
    stack = cdk.Stack(cdk.App(), "Legacy", env=cdk.Environment(account=ACCOUNT, region="us-west-2"))
    platform = HyperPodPlatform(stack, "Platform", config=parse_config(data))
    platform.add_instance_group(ADDED)
    template = cdk.assertions.Template.from_stack(stack).to_json()
    document = platform.lifecycle.json_files["provisioning_parameters.json"]
    assert document["worker_groups"][-1] == {"instance_group_name": "infer", "partition_name": "infer"}
    assert document["controller_group"] == "controller" and document["login_group"] == "login"
    (cluster,) = _of_type(template, "AWS::SageMaker::Cluster")
    assert [g["InstanceGroupName"] for g in cluster["InstanceGroups"]][-1] == "infer"
    assert "SlurmConfig" not in cluster["InstanceGroups"][-1]  # the legacy path has no Orchestrator.Slurm
    uris = {_join(g["LifeCycleConfig"]["SourceS3Uri"]) for g in cluster["InstanceGroups"]}
    assert len(uris) == 1 and next(iter(uris)).endswith(f"/{platform.lifecycle.prefix}")
