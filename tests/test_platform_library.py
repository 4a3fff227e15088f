"""HyperPodPlatform as a library: bring-your-own from the config file, prop checks, public API, layering."""

from __future__ import annotations

import ast
import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hyperpod_cdk.config import parse_config
from hyperpod_cdk.errors import HyperPodConfigError

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "constructs" / "hyperpod_cdk"
BASE = yaml.safe_load((REPO / "hyperpod.yaml").read_text())

EXISTING_NETWORK = {
    "vpc_id": "vpc-0123456789abcdef0",
    "vpc_cidr": "10.0.0.0/16",
    "control_plane_subnet_ids": ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"],
    "hyperpod_subnets": {"usw2-az2": {"subnet_id": "subnet-0bbbbbbbbbbbbbbb1", "cidr": "10.0.64.0/18"}},
}


def config_data(**changes) -> dict:
    data = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return data


def existing_all() -> dict:
    """The documented example: existing VPC, HyperPod subnet and EKS cluster."""
    return yaml.safe_load((REPO / "examples" / "existing-vpc-and-eks.yaml").read_text())


def existing_slurm() -> dict:
    data = yaml.safe_load((REPO / "examples" / "slurm.yaml").read_text())
    data["network"] = {
        "availability_zone_ids": data["network"]["availability_zone_ids"],
        "hyperpod_cidr": "10.1.0.0/16",
        "existing": {
            "vpc_id": "vpc-0123456789abcdef0",
            "vpc_cidr": "10.0.0.0/16",
            "route_table_id": "rtb-0123456789abcdef0",
        },
    }
    return data


@pytest.fixture(scope="module")
def byo(tmp_path_factory):
    """One app, two stacks from config files only: existing VPC + subnets + EKS, and Slurm in an existing VPC."""
    import aws_cdk as cdk
    from cdk_nag import AwsSolutionsChecks

    from hyperpod_cdk import HyperPodPlatform

    context = json.loads((REPO / "cdk.json").read_text())["context"]
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("byo")), context=context)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    stacks = {}
    for name, data in (("Eks", existing_all()), ("Slurm", existing_slurm())):
        stack = cdk.Stack(app, name, env=cdk.Environment(account="111111111111", region="us-west-2"))
        HyperPodPlatform(stack, "Platform", config=parse_config(data))
        stacks[name] = stack
    assembly = app.synth()
    return {name: assembly.get_stack_by_name(name) for name in stacks} | {"outdir": Path(assembly.directory)}


def _resources(artifact, cfn_type: str) -> dict:
    return {k: v for k, v in artifact.template["Resources"].items() if v["Type"] == cfn_type}


def test_bring_your_own_templates_pass_cfn_lint_and_cdk_nag(byo):
    import importlib.util

    spec = importlib.util.spec_from_file_location("quality_gates", Path(__file__).with_name("test_quality_gates.py"))
    gates = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gates)
    for name in ("Eks", "Slurm"):
        findings = gates.cfn_lint(byo["outdir"] / f"{name}.template.json", "us-west-2")
        assert findings == [], json.dumps(findings, indent=1)[:3000]
    report = json.loads((byo["outdir"] / "validation-report.json").read_text())
    for plugin in report["pluginReports"]:
        violations = plugin.get("violations") or []
        if plugin["pluginName"] == "Construct Annotations":
            # Warnings are expected here (an existing cluster's auth mode is unknown at synth); no errors.
            violations = [v for v in violations if v.get("severity") != "warning"]
        assert plugin["conclusion"] == "success" and not violations, violations


def test_config_existing_network_and_eks_create_neither(byo):
    eks = byo["Eks"]
    for cfn_type in ("AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EKS::Cluster", "AWS::EC2::NatGateway"):
        assert not _resources(eks, cfn_type), cfn_type
    (cluster,) = _resources(eks, "AWS::SageMaker::Cluster").values()
    assert cluster["Properties"]["VpcConfig"]["Subnets"] == ["subnet-0bbbbbbbbbbbbbbb1"]
    assert "cluster/team-eks" in json.dumps(cluster["Properties"]["Orchestrator"])


def test_config_existing_eks_gets_the_manifest_handler_with_access_before_the_charts(byo):
    eks = byo["Eks"]
    entries = _resources(eks, "AWS::EKS::AccessEntry")
    (manifests_entry_id,) = (k for k, v in entries.items() if "ManifestsAccessEntry" in k)
    assert entries[manifests_entry_id]["Properties"]["ClusterName"] == "team-eks"
    types = {v["Type"] for v in eks.template["Resources"].values()}
    assert not [t for t in types if t.startswith("Custom::AWSCDK-EKS")]
    charts = _resources(eks, "Custom::HyperPodManifests")
    assert charts and all(manifests_entry_id in v.get("DependsOn", []) for v in charts.values())
    ingress = [r["Properties"] for r in _resources(eks, "AWS::EC2::SecurityGroupIngress").values()]
    assert any(p.get("GroupId") == "sg-0123456789abcdef0" for p in ingress)
    # Helm installer and kubectl handler run in the listed control-plane subnets.
    functions = [f for f in _resources(eks, "AWS::Lambda::Function").values() if "VpcConfig" in f["Properties"]]
    assert functions and all(
        f["Properties"]["VpcConfig"]["SubnetIds"] == EXISTING_NETWORK["control_plane_subnet_ids"] for f in functions
    )


def test_config_existing_eks_addons_are_preserved_on_delete(byo):
    """R15P-M1: the add-ons the stack creates on an existing cluster stay on it after cdk destroy;
    ResolveConflicts stays OVERWRITE (an add-on removed with --preserve is taken over)."""
    addons = _resources(byo["Eks"], "AWS::EKS::Addon")
    names = {v["Properties"]["AddonName"] for v in addons.values()}
    assert {"cert-manager", "amazon-sagemaker-hyperpod-training-operator"} <= names
    for logical_id, addon in addons.items():
        assert addon["Properties"]["ClusterName"] == "team-eks"
        assert addon["Properties"]["PreserveOnDelete"] is True, logical_id
        assert addon["Properties"]["ResolveConflicts"] == "OVERWRITE", logical_id


def test_config_existing_vpc_gets_slurm_subnets_on_the_named_route_table(byo):
    slurm = byo["Slurm"]
    assert not _resources(slurm, "AWS::EC2::VPC") and not _resources(slurm, "AWS::EC2::RouteTable")
    (block,) = _resources(slurm, "AWS::EC2::VPCCidrBlock").values()
    assert block["Properties"]["CidrBlock"] == "10.1.0.0/16"
    associations = _resources(slurm, "AWS::EC2::SubnetRouteTableAssociation").values()
    assert {a["Properties"]["RouteTableId"] for a in associations} == {"rtb-0123456789abcdef0"}


# -- config errors for network.existing / eks.existing ----------------------------------------


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        (
            lambda: config_data(network__existing={**EXISTING_NETWORK, "nat_gateway_id": "nat-0123456789abcdef0"}),
            "network.existing.nat_gateway_id",
            "only used when the platform adds",
        ),
        (
            lambda: config_data(
                network__existing={k: v for k, v in EXISTING_NETWORK.items() if k != "hyperpod_subnets"}
            ),
            "network.existing.hyperpod_subnets",
            "nat_gateway_id or route_table_id",
        ),
        (lambda: config_data(network__existing=EXISTING_NETWORK), "network.vpc_cidr", "only for a VPC created here"),
        (
            lambda: {**existing_all(), "network": {**existing_all()["network"], "availability_zone_ids": ["usw2-az1"]}},
            "network.availability_zone_ids",
            "existing.hyperpod_subnets",
        ),
        (
            lambda: {
                **BASE,
                "eks": {"cluster_name": "team-eks", "existing": {"cluster_security_group_id": "sg-0123456789abcdef0"}},
            },
            "eks.existing",
            "existing VPC",
        ),
        (
            lambda: config_data(eks__existing={"cluster_security_group_id": "sg-0123456789abcdef0"}),
            "eks.public_access_cidrs",
            "only for a cluster created here",
        ),
        (
            lambda: {
                **existing_all(),
                "eks": {"cluster_name": "x"},
                "network": {"existing": {**EXISTING_NETWORK, "control_plane_subnet_ids": ["subnet-0aaaaaaaaaaaaaaa1"]}},
            },
            "network.existing.control_plane_subnet_ids",
            "at least two AZs",
        ),
        (lambda: config_data(region="us-weast-2"), "region", "not an AWS region"),
    ],
)
def test_existing_resources_config_errors(data, field, fragment):
    with pytest.raises(HyperPodConfigError) as info:
        parse_config(data())
    assert info.value.field == field, str(info.value)
    assert fragment in info.value.message


# -- construct props: one line naming the construct path and the prop, before jsii -------------


@pytest.fixture(scope="module")
def scope():
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2

    stack = cdk.Stack(cdk.App(), "User", env=cdk.Environment(account="111111111111", region="us-west-2"))
    tiny = ec2.Subnet.from_subnet_attributes(
        stack, "Tiny", subnet_id="subnet-0ccccccccccccccc1", ipv4_cidr_block="10.0.0.0/28"
    )
    vpc = ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id="vpc-0123456789abcdef0",
        availability_zones=["us-west-2a", "us-west-2b"],
        private_subnet_ids=["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"],
    )
    roomy = ec2.Subnet.from_subnet_attributes(
        stack, "Roomy", subnet_id="subnet-0ccccccccccccccc2", ipv4_cidr_block="10.0.16.0/20"
    )
    sg = ec2.SecurityGroup.from_security_group_id(stack, "Sg", "sg-0123456789abcdef0")
    return {"stack": stack, "tiny": tiny, "roomy": roomy, "vpc": vpc, "sg": sg}


def _cluster(scope, construct_id, **overrides):
    from hyperpod_cdk import HyperPodCluster

    props = dict(
        cluster_name="team-a",
        eks_cluster_arn="arn:aws:eks:us-west-2:111111111111:cluster/team-eks",
        instance_groups=[{"name": "train", "instance_type": "ml.p5.48xlarge", "instance_count": 4}],
        subnets_by_az_id={"usw2-az1": scope["tiny"]},
        default_az_id="usw2-az1",
        security_group=scope["sg"],
        execution_role_arn="arn:aws:iam::111111111111:role/r",
        lifecycle_source_s3_uri="s3://b/p/",
    )
    props.update(overrides)
    return HyperPodCluster(scope["stack"], construct_id, **props)


def test_p5_groups_on_a_slash_28_name_the_construct_and_group(scope):
    with pytest.raises(HyperPodConfigError) as info:
        _cluster(scope, "TinyCluster")
    expected = "User/TinyCluster: subnets_by_az_id.usw2-az1: instance group 'train' does not fit"
    assert str(info.value).startswith(expected)
    assert scope["stack"].node.try_find_child("TinyCluster") is None  # nothing half-created


def test_instance_type_not_offered_in_the_stack_region(scope):
    import aws_cdk as cdk

    mumbai = cdk.Stack(scope["stack"].node.root, "Mumbai", env=cdk.Environment(region="ap-south-1"))
    groups = [{"name": "train", "instance_type": "ml.g6e.12xlarge", "instance_count": 1}]
    with pytest.raises(
        HyperPodConfigError,
        match=r"^Mumbai/Offer: instance_groups\[0\]\(train\)\.instance_type: "
        r"ml\.g6e\.12xlarge is not offered .* in ap-south-1",
    ):
        _cluster({**scope, "stack": mumbai}, "Offer", instance_groups=groups)


def test_instance_group_mapping_errors_name_the_field(scope):
    with pytest.raises(HyperPodConfigError, match=r"^User/Bad: instance_groups\[0\]\.instance_count: "):
        _cluster(scope, "Bad", instance_groups=[{"name": "x", "instance_type": "ml.g5.xlarge", "instance_count": -1}])


@pytest.mark.parametrize(
    ("prop", "value", "fragment"),
    [
        ("kubernetes_version", "1.40", "'1.40' is not a version HyperPod accepts"),
        ("admin_principal_arn", "bob", "'bob' is not an IAM role or user ARN"),
        ("cluster_name", "bad name!", "must start with a letter or digit"),
    ],
)
def test_eks_cluster_props(scope, prop, value, fragment):
    from hyperpod_cdk import HyperPodEksCluster

    props = dict(
        vpc=scope["vpc"],
        control_plane_subnets=scope["vpc"].private_subnets,
        security_group=scope["sg"],
        cluster_name="team-eks",
    )
    props[prop] = value
    with pytest.raises(HyperPodConfigError) as info:
        HyperPodEksCluster(scope["stack"], f"Eks{prop}", **props)
    assert str(info.value).startswith(f"User/Eks{prop}: {prop}: ") and fragment in str(info.value)


def test_platform_prop_combinations(scope):
    from hyperpod_cdk import HyperPodPlatform

    config = parse_config(BASE)
    cases = [
        (dict(hyperpod_subnets={"usw2-az2": scope["tiny"]}), "hyperpod_subnets: only used with vpc="),
        (dict(vpc=scope["vpc"]), "hyperpod_subnets: with vpc=, give hyperpod_subnets"),
        (dict(vpc=scope["vpc"], hyperpod_subnets={"usw2-az9": scope["tiny"]}), "must be the AZ IDs"),
        (dict(vpc="vpc-123", hyperpod_subnets={}), "vpc: expected an ec2.IVpc"),
    ]
    for props, fragment in cases:
        with pytest.raises(HyperPodConfigError, match=r"^User/P: ") as info:
            HyperPodPlatform(scope["stack"], "P", config=config, **props)
        assert fragment in str(info.value), str(info.value)
    with pytest.raises(HyperPodConfigError, match="config: pass a PlatformConfig"):
        HyperPodPlatform(scope["stack"], "P", config=BASE)  # type: ignore[arg-type]
    other_region = parse_config(config_data(region="us-east-1", network__availability_zone_ids=["use1-az1"]))
    with pytest.raises(HyperPodConfigError, match="config.region: 'us-east-1' but the stack deploys to us-west-2"):
        HyperPodPlatform(scope["stack"], "P", config=other_region)


def test_cluster_without_helm_dependencies_warns_at_synth(tmp_path):
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2

    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Warn", env=cdk.Environment(account="111111111111", region="us-west-2"))
    subnet = ec2.Subnet.from_subnet_attributes(
        stack, "S", subnet_id="subnet-0ccccccccccccccc1", ipv4_cidr_block="10.0.0.0/20"
    )
    sg = ec2.SecurityGroup.from_security_group_id(stack, "Sg", "sg-0123456789abcdef0")
    local = {"stack": stack, "tiny": subnet, "sg": sg}
    warned = _cluster(local, "Warned")
    _cluster(local, "Assumed", assume_helm_installed=True)
    added = warned.add_instance_group({"name": "cpu", "instance_type": "ml.m5.2xlarge", "instance_count": 1})
    assert added.name == "cpu"
    with pytest.raises(HyperPodConfigError, match=r"^Warn/Warned: instance_groups: group name 'cpu' is used twice"):
        warned.add_instance_group({"name": "cpu", "instance_type": "ml.m5.2xlarge", "instance_count": 1})
    artifact = app.synth().get_stack_by_name("Warn")
    warnings = [(m.id, str(m.entry.data)) for m in artifact.messages if m.level.name == "WARNING"]
    assert any(path == "/Warn/Warned" and "HyperPodHelmDependencies" in text for path, text in warnings), warnings
    assert not any(path.startswith("/Warn/Assumed") for path, _ in warnings)
    (cluster,) = (v for k, v in artifact.template["Resources"].items() if k.startswith("Warned"))
    assert [g["InstanceGroupName"] for g in cluster["Properties"]["InstanceGroups"]] == ["train", "cpu"]


def test_imported_hyperpod_cluster_and_connections(scope):
    from aws_cdk import aws_ec2 as ec2

    from hyperpod_cdk import HyperPodCluster, HyperPodSecurityGroup, IHyperPodCluster

    imported = HyperPodCluster.from_cluster_attributes(
        scope["stack"],
        "Imported",
        cluster_name="team-a",
        cluster_arn="arn:aws:sagemaker:us-west-2:111111111111:cluster/abcdefghijkl",
    )
    assert isinstance(imported, IHyperPodCluster) and imported.cluster_name == "team-a"
    with pytest.raises(HyperPodConfigError, match="cluster_arn: 'team-a' is not a HyperPod cluster ARN"):
        HyperPodCluster.from_cluster_attributes(scope["stack"], "Bad", cluster_name="team-a", cluster_arn="team-a")
    group = HyperPodSecurityGroup(scope["stack"], "Nodes", vpc=scope["vpc"])
    assert isinstance(group.connections, ec2.Connections)
    group.connections.allow_from(ec2.Peer.ipv4("10.9.0.0/16"), ec2.Port.tcp(22))


# -- public API and layering -------------------------------------------------------------------


def test_public_api_resolves_and_config_imports_without_cdk():
    import hyperpod_cdk

    for name in hyperpod_cdk.__all__:
        assert getattr(hyperpod_cdk, name) is not None, name
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, hyperpod_cdk; hyperpod_cdk.load_config; print('aws_cdk' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "False"


# specs < config < constructs < platform; errors is below all; cli/guard/rules are tools on top.
LAYERS = {
    "errors": 0,
    "input_limits": 0,
    "specs": 0,
    "config": 1,
    "_cdk_util": 2,
    "_handler_functions": 2,
    "rules": 2,
    "network": 3,
    "storage": 3,
    "lifecycle": 3,
    "monitoring": 3,
    "cluster": 4,
    "kubernetes": 5,
    "platform": 6,
    "platform_phases": 6,
    "cli": 7,
    "guard": 7,
    "__init__": 8,
}


def _layer(module: str) -> int:
    part = module.removeprefix("hyperpod_cdk.").split(".")[0] if module != "hyperpod_cdk" else "__init__"
    return LAYERS[part]


def test_imports_flow_one_way():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "handlers" in path.parts:
            continue  # Lambda handler code: stdlib and boto3 only
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(relative.parts)
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only: lazy imports inside functions are allowed
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hyperpod_cdk"):
                target = node.module or ""
                if target != "hyperpod_cdk" and _layer(target) > _layer(module):
                    offenders.append(f"{module} -> {target}")
    assert not offenders, offenders


def test_setuptools_package_list_is_complete():
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(PACKAGE.parent).parts) for p in PACKAGE.rglob("__init__.py")}
    assert found | {"hyperpod_cdk.lifecycle.scripts"} == listed
    assert not (REPO / "constructs" / "__init__.py").exists()


# -- every building block refuses a wrong prop type with one line, before jsii sees it -----------


def _building_block_cases(scope):
    from hyperpod_cdk import (
        EksAccessTunnel,
        HyperPodExecutionRole,
        HyperPodFsxLustre,
        HyperPodLifecycleScripts,
        HyperPodPlatform,
        HyperPodSecurityGroup,
        HyperPodSlurmCluster,
        SlurmAccountingDatabase,
    )
    from hyperpod_cdk.kubernetes.addons.cert_manager import CertManagerAddon
    from hyperpod_cdk.network.endpoints import HyperPodEndpoints

    stack, vpc, sg, subnet, roomy = scope["stack"], scope["vpc"], scope["sg"], scope["tiny"], scope["roomy"]
    slurm_groups = [
        {"name": "controller", "instance_type": "ml.m5.xlarge", "instance_count": 1, "slurm_node_type": "Controller"},
        {"name": "compute", "instance_type": "ml.m5.xlarge", "instance_count": 1},
    ]
    return [
        (
            lambda i: HyperPodSecurityGroup(stack, i, vpc="vpc-0123456789abcdef0"),
            "vpc: expected an ec2.IVpc, got a str",
        ),
        (
            lambda i: HyperPodLifecycleScripts(stack, i, encryption_key="arn:aws:kms:us-west-2:111111111111:key/x"),
            "encryption_key: expected an kms.IKey, got a str",
        ),
        (
            lambda i: HyperPodExecutionRole(stack, i, vpc=vpc, subnets=[], security_group=sg, lifecycle_bucket=None),
            "subnets: list at least one ec2.ISubnet",
        ),
        (
            lambda i: HyperPodExecutionRole(
                stack, i, vpc=vpc, subnets="subnet-1", security_group=sg, lifecycle_bucket=None
            ),
            "subnets: expected a list of ec2.ISubnet, got str",
        ),
        (
            lambda i: HyperPodFsxLustre(stack, i, subnet="subnet-0ccccccccccccccc1", security_group=sg),
            "subnet: expected an ec2.ISubnet, got a str",
        ),
        (
            lambda i: HyperPodSlurmCluster(
                stack,
                i,
                cluster_name="s",
                instance_groups=slurm_groups,
                subnets_by_az_id={"usw2-az1": roomy},
                default_az_id="usw2-az1",
                security_group="sg-1",
                execution_role_arn="arn:aws:iam::111111111111:role/r",
                lifecycle_source_s3_uri="s3://b/p/",
            ),
            "security_group: expected an ec2.ISecurityGroup, got a str",
        ),
        (
            lambda i: _cluster(
                scope,
                i,
                execution_role_arn="not-an-arn",
                subnets_by_az_id={"usw2-az1": roomy},
                instance_groups=[{"name": "cpu", "instance_type": "ml.m5.xlarge", "instance_count": 1}],
            ),
            "execution_role_arn: 'not-an-arn' is not a value like arn:aws:iam::",
        ),
        (
            lambda i: _cluster(
                scope,
                i,
                lifecycle_source_s3_uri="ftp://x",
                subnets_by_az_id={"usw2-az1": roomy},
                instance_groups=[{"name": "cpu", "instance_type": "ml.m5.xlarge", "instance_count": 1}],
            ),
            "lifecycle_source_s3_uri: 'ftp://x' is not a value like s3://",
        ),
        (lambda i: CertManagerAddon(stack, i, cluster="team-eks"), "cluster: expected an eks.ICluster, got a str"),
        (
            lambda i: EksAccessTunnel(
                stack, i, vpc=vpc, subnets=[], endpoint_security_group=sg, cluster_name="c", vpc_cidr="10.0.0.0/16"
            ),
            "subnets: list at least one ec2.ISubnet",
        ),
        (
            lambda i: HyperPodEndpoints(
                stack, i, vpc=vpc, subnets=["subnet-1"], client_cidrs=["10.0.0.0/16"], services=[]
            ),
            "subnets: expected a list of ec2.ISubnet, got a str",
        ),
        (
            lambda i: SlurmAccountingDatabase(
                stack, i, vpc=vpc, subnets=[subnet, roomy], node_security_group="sg-1", encryption_key=None
            ),
            "node_security_group: expected an ec2.ISecurityGroup, got a str",
        ),
        (
            lambda i: HyperPodPlatform(
                stack,
                i,
                config=parse_config(BASE),
                vpc=vpc,
                control_plane_subnets="subnet-a",
                hyperpod_subnets={"usw2-az2": subnet},
            ),
            "control_plane_subnets: expected a list of ec2.ISubnet, got str",
        ),
        (
            lambda i: HyperPodPlatform(stack, i, config=parse_config(BASE), vpc=vpc, hyperpod_subnets=[subnet]),
            "hyperpod_subnets: expected a mapping {az_id: subnet}, got list",
        ),
    ]


def test_building_blocks_refuse_wrong_prop_types(scope):
    for index, (build, fragment) in enumerate(_building_block_cases(scope)):
        construct_id = f"Wrong{index}"
        with pytest.raises(HyperPodConfigError) as info:
            build(construct_id)
        assert str(info.value).startswith(f"User/{construct_id}: "), str(info.value)
        assert fragment in str(info.value), str(info.value)
        assert scope["stack"].node.try_find_child(construct_id) is None  # nothing half-created


def test_wait_for_refuses_what_is_not_a_construct(scope):
    cluster = _cluster(
        scope,
        "Waits",
        subnets_by_az_id={"usw2-az1": scope["roomy"]},
        instance_groups=[{"name": "cpu", "instance_type": "ml.m5.xlarge", "instance_count": 1}],
        assume_helm_installed=True,
    )
    with pytest.raises(HyperPodConfigError, match=r"^User/Waits/Resource: wait_for: expected constructs"):
        cluster.wait_for("HelmDependencies")


def test_slurm_parameters_for_takes_plain_mappings():
    from hyperpod_cdk import HyperPodSlurmCluster

    document = HyperPodSlurmCluster.parameters_for(
        [
            {
                "name": "controller",
                "instance_type": "ml.m5.xlarge",
                "instance_count": 1,
                "slurm_node_type": "Controller",
            },
            {"name": "gpu", "instance_type": "ml.g5.8xlarge", "instance_count": 2, "partition": "train"},
        ]
    )
    assert document["worker_groups"] == [{"instance_group_name": "gpu", "partition_name": "train"}]
