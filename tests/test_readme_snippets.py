"""The library as a user gets it: the wheel alone, in a clean venv, outside this repository.

One session fixture builds the sdist and the wheel from the sdist (``uv build``), installs the wheel
with its dependencies at the lock's pins into a new venv, and runs every Python snippet of the
README's "Using the constructs in your own stacks" section (the greenfield platform), then every one
of docs/library.md (the other cases), there, in one process, from an empty directory holding only a
copy of hyperpod.yaml. The tests read what the snippets synthesized.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
UV = Path(sys.executable).with_name("uv")
SECTION = "## Using the constructs in your own stacks"
LIBRARY_DOC = REPO / "docs" / "library.md"

# Runs inside the clean venv: exec each snippet as a user's app.py would run, one out dir each.
RUNNER = r"""
import json, os, sys, traceback
import aws_cdk
import hyperpod_cdk
# The CDK CLI tells an app where to write through CDK_OUTDIR, which the jsii runtime reads once at
# start; to run several apps in one process, the runner gives each App its out dir instead.
_app_init = aws_cdk.App.__init__
def _app_init_with_outdir(self, *args, **kwargs):
    kwargs.setdefault("outdir", OUTDIR)
    _app_init(self, *args, **kwargs)
aws_cdk.App.__init__ = _app_init_with_outdir
result = {"module": hyperpod_cdk.__file__, "snippets": []}
for index, code in enumerate(json.load(open("snippets.json"))):
    OUTDIR = f"out{index}"
    try:
        exec(compile(code, f"README snippet {index}", "exec"), {"__name__": "__main__"})
        result["snippets"].append({"outdir": f"out{index}", "error": None})
    except Exception:
        result["snippets"].append({"outdir": f"out{index}", "error": traceback.format_exc()})
# The plan check a user's bring-your-own subnet gets, from the installed wheel.
import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from hyperpod_cdk import HyperPodConfigError, HyperPodPlatform, load_config
config = load_config("hyperpod.yaml")
big = config.model_copy(update={"hyperpod": config.hyperpod.model_copy(update={"instance_groups": [
    config.hyperpod.instance_groups[0],
    config.hyperpod.instance_groups[1].model_copy(update={"instance_type": "ml.p5.48xlarge", "instance_count": 40}),
]})})
stack = cdk.Stack(cdk.App(), "Plan", env=cdk.Environment(region="us-west-2"))
vpc = ec2.Vpc.from_vpc_attributes(stack, "Vpc", vpc_id="vpc-0123456789abcdef0",
                                  availability_zones=["us-west-2a", "us-west-2b"],
                                  private_subnet_ids=["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"])
small = ec2.Subnet.from_subnet_attributes(stack, "Small", subnet_id="subnet-0bbbbbbbbbbbbbbb1",
                                          ipv4_cidr_block="10.0.1.0/24")
try:
    HyperPodPlatform(stack, "Platform", config=big, vpc=vpc, hyperpod_subnets={"usw2-az2": small})
    result["plan_error"] = None
except HyperPodConfigError as error:
    result["plan_error"] = str(error)
json.dump(result, open("result.json", "w"))
"""


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


def readme_snippets() -> list[str]:
    """The README section's snippets, then docs/library.md's, in order (the tests index them)."""
    text = (REPO / "README.md").read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end != -1 else len(text)]
    return _python_blocks(section) + _python_blocks(LIBRARY_DOC.read_text())


def _run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    completed = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True)
    assert completed.returncode == 0, f"{args[0]} failed:\n{completed.stdout[-2000:]}\n{completed.stderr[-4000:]}"


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Build, install into a clean venv, run the README snippets there; returns timings and results."""
    work = tmp_path_factory.mktemp("wheel")
    started = time.monotonic()
    _run(UV, "build", "--quiet", "--out-dir", work / "dist", REPO)
    built = time.monotonic()
    (wheel,) = (work / "dist").glob("*.whl")
    (sdist,) = (work / "dist").glob("*.tar.gz")
    venv = work / "venv"
    _run(UV, "venv", "--quiet", "--python", sys.executable, venv)
    python = venv / "bin" / "python"
    # The lock's pins, as this repo's app uses; the wheel itself only states ranges.
    _run(UV, "pip", "install", "--quiet", "--python", python, "-c", REPO / "requirements.lock", wheel)
    installed_at = time.monotonic()
    app_dir = work / "user-app"
    app_dir.mkdir()
    shutil.copy(REPO / "hyperpod.yaml", app_dir / "hyperpod.yaml")
    shutil.copy(REPO / "examples" / "slurm.yaml", app_dir / "slurm.yaml")
    (app_dir / "snippets.json").write_text(json.dumps(readme_snippets()))
    (app_dir / "runner.py").write_text(RUNNER)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "CDK_"))}
    env["JSII_NODE"] = str(Path(sys.executable).with_name("node"))
    _run(python, "runner.py", cwd=app_dir, env=env)
    result = json.loads((app_dir / "result.json").read_text())
    result.update(
        app_dir=app_dir,
        wheel=wheel,
        sdist=sdist,
        venv=venv,
        seconds={
            "build": built - started,
            "install": installed_at - built,
            "snippets": time.monotonic() - installed_at,
        },
    )
    print(
        f"wheel: build {result['seconds']['build']:.1f} s, install {result['seconds']['install']:.1f} s, "
        f"README snippets {result['seconds']['snippets']:.1f} s"
    )
    return result


def _template(installed: dict, index: int) -> dict:
    snippet = installed["snippets"][index]
    assert snippet["error"] is None, snippet["error"]
    (path,) = (installed["app_dir"] / snippet["outdir"]).glob("*.template.json")
    return json.loads(path.read_text())["Resources"]


def _of_type(resources: dict, cfn_type: str) -> dict:
    return {k: v for k, v in resources.items() if v["Type"] == cfn_type}


def test_readme_section_has_the_six_documented_cases():
    text = (REPO / "README.md").read_text()
    start = text.index(SECTION)
    readme = _python_blocks(text[start : text.index("\n## ", start + len(SECTION))])
    assert len(readme) == 1 and "HyperPodPlatform(stack" in readme[0]  # the main snippet stays in the README
    assert len(readme_snippets()) == 6


def test_the_wheel_holds_the_library_scripts_and_data_but_no_tests(installed):
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    for required in (
        "hyperpod_cdk/py.typed",
        "hyperpod_cdk/platform.py",
        "hyperpod_cdk/lifecycle/scripts/eks/on_create.sh",
        "hyperpod_cdk/lifecycle/scripts/common/lcs_common.sh",
        "hyperpod_cdk/lifecycle/scripts/slurm/on_create.sh",
        "hyperpod_cdk/lifecycle/scripts/slurm/slurm_params.py",
        "hyperpod_cdk/kubernetes/handlers/helm_dependencies/index.py",
        "hyperpod_cdk/specs/data/hyperpod_instance_types.json",
    ):
        assert required in names, required
    assert not [n for n in names if n.startswith("tests/") or "__pycache__" in n or n.endswith(".pyc")]
    # Every file of the repo's lifecycle_scripts/ folder is in the package, byte for byte.
    archive = zipfile.ZipFile(installed["wheel"])
    for path in (REPO / "lifecycle_scripts").rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            member = "hyperpod_cdk/lifecycle/scripts/" + path.relative_to(REPO / "lifecycle_scripts").as_posix()
            assert archive.read(member) == path.read_bytes(), member


def test_the_sdist_builds_the_wheel_and_leaves_the_tests_out(installed):
    import tarfile

    names = tarfile.open(installed["sdist"]).getnames()
    top = names[0].split("/")[0]
    assert f"{top}/lifecycle_scripts/eks/on_create.sh" in names and f"{top}/LICENSE" in names
    assert not [n for n in names if n.startswith(f"{top}/tests/")]


def test_dependencies_are_ranges_that_admit_other_cdk_2_releases(installed):
    from packaging.requirements import Requirement

    metadata = (
        zipfile.ZipFile(installed["wheel"])
        .read(next(n for n in zipfile.ZipFile(installed["wheel"]).namelist() if n.endswith("/METADATA")))
        .decode()
    )
    requires = {
        (r := Requirement(line.split(":", 1)[1].strip())).name: r
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    }
    cdk = requires["aws-cdk-lib"].specifier
    assert "2.275.0" in cdk and "2.300.1" in cdk and "3.0.0" not in cdk
    assert "10.9.0" in requires["constructs"].specifier
    assert not [name for name, r in requires.items() if str(r.specifier).startswith("==")]


def test_installed_from_the_wheel_not_the_checkout(installed):
    assert str(installed["venv"]) in installed["module"]
    assert str(REPO) not in installed["module"]


def test_greenfield_platform_in_a_users_stack(installed):
    resources = _template(installed, 0)
    created = ("AWS::EC2::VPC", "AWS::EKS::Cluster", "Custom::HyperPodHelmDependencies", "AWS::SageMaker::Cluster")
    for cfn_type in created:
        assert _of_type(resources, cfn_type), cfn_type
    # The lifecycle-script asset staged by the wheel's scripts holds on_create.sh.
    out = installed["app_dir"] / installed["snippets"][0]["outdir"]
    assert any((d / "on_create.sh").is_file() for d in out.glob("asset.*") if d.is_dir())
    (cluster,) = _of_type(resources, "AWS::SageMaker::Cluster").values()
    assert cluster["DependsOn"] and any("HelmDependencies" in d for d in cluster["DependsOn"])


def test_existing_vpc_and_subnets_create_no_network(installed):
    resources = _template(installed, 1)
    assert not _of_type(resources, "AWS::EC2::VPC") and not _of_type(resources, "AWS::EC2::Subnet")
    (cluster,) = _of_type(resources, "AWS::SageMaker::Cluster").values()
    assert cluster["Properties"]["VpcConfig"]["Subnets"] == ["subnet-0bbbbbbbbbbbbbbb1"]
    (eks_cluster,) = _of_type(resources, "AWS::EKS::Cluster").values()
    assert eks_cluster["Properties"]["ResourcesVpcConfig"]["SubnetIds"] == [
        "subnet-0aaaaaaaaaaaaaaa1",
        "subnet-0aaaaaaaaaaaaaaa2",
    ]


def test_existing_vpc_gets_hyperpod_subnets_routed_through_the_named_nat(installed):
    resources = _template(installed, 2)
    assert not _of_type(resources, "AWS::EC2::VPC")
    (block,) = _of_type(resources, "AWS::EC2::VPCCidrBlock").values()
    assert block["Properties"] == {"VpcId": "vpc-0123456789abcdef0", "CidrBlock": "10.1.0.0/16"}
    (subnet,) = _of_type(resources, "AWS::EC2::Subnet").values()
    assert subnet["Properties"]["AvailabilityZoneId"] == "usw2-az2"
    (route,) = _of_type(resources, "AWS::EC2::Route").values()
    assert route["Properties"]["NatGatewayId"] == "nat-0123456789abcdef0"


def test_existing_eks_cluster_is_connected_and_used_not_created(installed):
    resources = _template(installed, 3)
    assert not _of_type(resources, "AWS::EKS::Cluster")
    ingress = [r["Properties"] for r in _of_type(resources, "AWS::EC2::SecurityGroupIngress").values()]
    assert any(p.get("GroupId") == "sg-0123456789abcdef0" and p["IpProtocol"] == "-1" for p in ingress)
    assert any(p.get("SourceSecurityGroupId") == "sg-0123456789abcdef0" for p in ingress)
    (cluster,) = _of_type(resources, "AWS::SageMaker::Cluster").values()
    assert "cluster/hyperpod-demo-eks" in json.dumps(cluster["Properties"]["Orchestrator"])
    metadata = json.loads(next((installed["app_dir"] / "out3").glob("*.metadata.json")).read_text())
    warnings = [e["data"] for entries in metadata.values() for e in entries if e["type"] == "aws:cdk:warning"]
    assert any("authentication mode" in str(w) and "preflight" in str(w) for w in warnings)


def test_building_blocks_snippet(installed):
    resources = _template(installed, 4)
    (cluster,) = _of_type(resources, "AWS::SageMaker::Cluster").values()
    assert [g["InstanceGroupName"] for g in cluster["Properties"]["InstanceGroups"]] == ["train", "cpu"]


def test_slurm_platform_add_instance_group_snippet(installed):
    """The group added in code has its SlurmConfig, and the wheel's scripts carry it in slurm_nodes.json."""
    resources = _template(installed, 5)
    (cluster,) = _of_type(resources, "AWS::SageMaker::Cluster").values()
    groups = {g["InstanceGroupName"]: g for g in cluster["Properties"]["InstanceGroups"]}
    assert list(groups) == ["controller", "login", "gpu", "cpu", "infer"]
    assert groups["infer"]["SlurmConfig"] == {"NodeType": "Compute", "PartitionNames": ["infer"]}
    (deployment,) = _of_type(resources, "Custom::HyperPodLifecycleScripts").values()
    outdir = installed["app_dir"] / installed["snippets"][5]["outdir"]
    (nodes,) = (
        outdir / f"asset.{key.removesuffix('.zip')}" / "slurm_nodes.json"
        for key in deployment["Properties"]["SourceObjectKeys"]
        if (outdir / f"asset.{key.removesuffix('.zip')}" / "slurm_nodes.json").is_file()
    )
    assert json.loads(nodes.read_text())["groups"]["infer"] == {"node_type": "Compute", "partition": "infer"}


def test_a_plan_that_does_not_fit_a_users_subnet_names_the_group(installed):
    error = installed["plan_error"]
    assert error is not None and error.startswith("Plan/Platform: hyperpod_subnets.usw2-az2: instance group 'gpu'")
    assert "40 x ml.p5.48xlarge x 81 IPs" in error
