"""The Slurm-orchestrated platform: config rules, provisioning parameters, template (one synth)."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hyperpod_cdk.config import InstanceGroup, parse_config, plan_for_config
from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.specs.slurm import describe, provisioning_parameters, slurm_layout
from hyperpod_cdk.storage.fsx_lustre import LustreMount

REPO = Path(__file__).resolve().parent.parent
SLURM_EXAMPLE = REPO / "examples" / "slurm.yaml"
CFN_LINT = Path(sys.executable).with_name("cfn-lint")


def cfn_lint(template: Path, region: str = "us-west-2") -> list[dict]:
    """cfn-lint findings as tests/test_quality_gates.py runs it (W3005 ignored)."""
    result = subprocess.run(
        [str(CFN_LINT), "--format", "json", "--regions", region, "--ignore-checks", "W3005", "--", str(template)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode in (0, 2, 4, 6, 8, 10, 12, 14), result.stderr
    return json.loads(result.stdout or "[]")


def _slurm_data() -> dict:
    return yaml.safe_load(SLURM_EXAMPLE.read_text())


def _group(name: str, node_type: str | None = None, count: int = 1, partition: str | None = None) -> dict:
    group = {"name": name, "instance_type": "ml.m5.2xlarge", "instance_count": count}
    if node_type:
        group["slurm_node_type"] = node_type
    if partition:
        group["partition"] = partition
    return group


def _with_groups(*groups: dict) -> dict:
    data = _slurm_data()
    data["hyperpod"]["instance_groups"] = list(groups)
    return data


# ---------------------------------------------------------------- config


def test_example_config_layout() -> None:
    config = parse_config(_slurm_data())
    layout = config.slurm_layout
    assert layout.controller == "controller" and layout.login == "login"
    assert layout.workers == (("gpu", "train"), ("cpu", "cpu"))
    assert config.eks is None and config.node_provisioning_mode is None


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        pytest.param(
            _with_groups(_group("gpu", count=2)),
            "hyperpod.instance_groups",
            "needs one instance group with slurm_node_type: Controller",
            id="no-controller",
        ),
        pytest.param(
            _with_groups(_group("head-a", "Controller"), _group("head-b", "Controller"), _group("gpu")),
            "hyperpod.instance_groups[1](head-b).slurm_node_type",
            "second Controller group",
            id="two-controllers",
        ),
        pytest.param(
            _with_groups(_group("head", "Controller", count=2), _group("gpu")),
            "hyperpod.instance_groups[0](head).instance_count",
            "exactly 1 instance",
            id="controller-with-two-instances",
        ),
        pytest.param(
            _with_groups(_group("head", "Controller"), _group("l1", "Login"), _group("l2", "Login"), _group("gpu")),
            "hyperpod.instance_groups[2](l2).slurm_node_type",
            "second Login group",
            id="two-logins",
        ),
        pytest.param(
            _with_groups(_group("head", "Controller")),
            "hyperpod.instance_groups",
            "at least one Compute group",
            id="no-compute",
        ),
        pytest.param(
            _with_groups(_group("head", "Controller", partition="p"), _group("gpu")),
            "hyperpod.instance_groups[0](head).partition",
            "only Compute groups",
            id="partition-on-controller",
        ),
        pytest.param(
            _with_groups(_group("head", "Controller"), _group("gpu", partition="bad_name")),
            "hyperpod.instance_groups[1](gpu).partition",
            "is not a Slurm partition name",
            id="bad-partition-name",
        ),
    ],
)
def test_invalid_slurm_layouts_name_the_field(data: dict, field: str, message: str) -> None:
    with pytest.raises(HyperPodConfigError) as caught:
        parse_config(data)
    assert caught.value.field == field
    assert message in caught.value.message


def test_orchestrator_specific_sections() -> None:
    eks_data = yaml.safe_load((REPO / "hyperpod.yaml").read_text())
    cases = []
    no_eks = copy.deepcopy(eks_data)
    del no_eks["eks"]
    cases.append((no_eks, "eks", "required"))
    slurm_with_eks = _slurm_data()
    slurm_with_eks["eks"] = eks_data["eks"]
    cases.append((slurm_with_eks, "eks", "only used with orchestrator: eks"))
    eks_with_role = copy.deepcopy(eks_data)
    eks_with_role["hyperpod"]["instance_groups"][0]["slurm_node_type"] = "Controller"
    cases.append((eks_with_role, "hyperpod.instance_groups[0](system).slurm_node_type", "only used with orchestrator"))
    slurm_with_labels = _slurm_data()
    slurm_with_labels["hyperpod"]["instance_groups"][2]["labels"] = {"team": "a"}
    cases.append((slurm_with_labels, "hyperpod.instance_groups[2](gpu).labels", "labels and taints"))
    # https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-scaling-slurm.html: new clusters only,
    # and the legacy configuration is kept for existing clusters.
    legacy_continuous = _slurm_data()
    legacy_continuous["slurm"] = {"configuration": "provisioning-parameters"}
    legacy_continuous["hyperpod"]["node_provisioning_mode"] = "Continuous"
    cases.append((legacy_continuous, "hyperpod.node_provisioning_mode", "use slurm.configuration: api"))
    legacy_strategy = _slurm_data()
    legacy_strategy["slurm"] = {"configuration": "provisioning-parameters", "config_strategy": "Merge"}
    cases.append((legacy_strategy, "slurm.config_strategy", "only used with slurm.configuration: api"))
    # https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-external-accounting-db-slurm.html
    classic_accounting = _slurm_data()
    classic_accounting["slurm"] = {"accounting": {"enabled": True}}
    cases.append((classic_accounting, "slurm.accounting", "needs Continuous node provisioning"))
    eks_with_slurm = copy.deepcopy(eks_data)
    eks_with_slurm["slurm"] = {"configuration": "api"}
    cases.append((eks_with_slurm, "slurm", "only used with orchestrator: slurm"))
    # https://docs.aws.amazon.com/sagemaker/latest/dg/smcluster-cmk.html: Continuous mode only.
    slurm_cmk = _slurm_data()
    slurm_cmk["hyperpod"]["ebs_kms_key"] = "customer-managed"
    cases.append((slurm_cmk, "hyperpod.ebs_kms_key", "set hyperpod.node_provisioning_mode to Continuous"))
    eks_classic_cmk = copy.deepcopy(eks_data)
    eks_classic_cmk["hyperpod"].update(node_provisioning_mode=None, ebs_kms_key="customer-managed")
    cases.append((eks_classic_cmk, "hyperpod.ebs_kms_key", "only in Continuous node provisioning mode"))
    slurm_with_k8s = _slurm_data()
    slurm_with_k8s["kubernetes"] = {"teams": [{"name": "a"}]}
    cases.append((slurm_with_k8s, "kubernetes", "only used with orchestrator: eks"))
    for data, field, message in cases:
        with pytest.raises(HyperPodConfigError) as caught:
            parse_config(data)
        assert (caught.value.field, message in caught.value.message) == (field, True), caught.value


def test_api_driven_slurm_takes_continuous_cmk_and_accounting() -> None:
    data = _slurm_data()
    data["hyperpod"].update(node_provisioning_mode="Continuous", ebs_kms_key="customer-managed")
    data["slurm"] = {
        "accounting": {
            "endpoint": "acct.abc.us-west-2.rds.amazonaws.com",
            "secret_arn": "arn:aws:secretsmanager:us-west-2:123456789012:secret:acct-AbCdEf",
        }
    }
    config = parse_config(data)
    assert (config.node_provisioning_mode, config.customer_managed_ebs_key) == ("Continuous", True)
    assert config.slurm.api_driven and config.slurm.accounting.active
    # Slurm's default stays AWS's: no Continuous unless asked for (the model default is EKS's).
    assert parse_config(_slurm_data()).node_provisioning_mode is None


@pytest.mark.parametrize(
    ("accounting", "message"),
    [
        ({"endpoint": "acct.example.com"}, "secret_arn: importing an accounting database needs endpoint"),
        (
            {
                "enabled": True,
                "endpoint": "a.example.com",
                "secret_arn": "arn:aws:secretsmanager:us-west-2:123456789012:secret:x",
            },
            "not both",
        ),
        ({"port": 3306}, "port: set enabled: true"),
        ({"secret_arn": "not-an-arn", "endpoint": "a.example.com"}, "secret_arn"),
    ],
)
def test_accounting_config_errors_name_the_field(accounting: dict, message: str) -> None:
    data = _slurm_data()
    data["hyperpod"]["node_provisioning_mode"] = "Continuous"
    data["slurm"] = {"accounting": accounting}
    with pytest.raises(HyperPodConfigError) as caught:
        parse_config(data)
    assert caught.value.field.startswith("slurm.accounting"), caught.value
    assert message in str(caught.value), caught.value


def test_subnets_are_sized_with_slurm_ip_figures() -> None:
    """4 x ml.p5.48xlarge: 4 x 32 IPs fit a /24 on Slurm; on EKS (4 x 81) they do not."""
    data = _with_groups(
        _group("head", "Controller"), {"name": "p5", "instance_type": "ml.p5.48xlarge", "instance_count": 4}
    )
    data["network"]["hyperpod_cidr"] = "10.1.0.0/24"
    plan = plan_for_config(parse_config(data))
    assert [g.ips_per_node for g in plan[0].groups] == [1, 32]
    eks = yaml.safe_load((REPO / "hyperpod.yaml").read_text())
    eks["network"]["hyperpod_cidr"] = "10.1.0.0/24"
    eks["hyperpod"]["instance_groups"] = [
        {"name": "system", "instance_type": "ml.m5.xlarge", "instance_count": 1},
        {"name": "p5", "instance_type": "ml.p5.48xlarge", "instance_count": 4},
    ]
    with pytest.raises(HyperPodConfigError, match="on eks"):
        parse_config(eks)


# ---------------------------------------------------------------- provisioning parameters


def test_provisioning_parameters_follow_the_instance_groups() -> None:
    groups = [
        InstanceGroup(name="head", instance_type="ml.m5.2xlarge", instance_count=1, slurm_node_type="Controller"),
        InstanceGroup(name="gpu-a", instance_type="ml.g5.8xlarge", instance_count=2, partition="train"),
        InstanceGroup(name="gpu-b", instance_type="ml.g5.8xlarge", instance_count=2, partition="train"),
        InstanceGroup(name="cpu", instance_type="ml.c5.4xlarge", instance_count=1),
    ]
    fsx = LustreMount("fs-0123456789abcdef0", "fs-0123456789abcdef0.fsx.us-west-2.amazonaws.com", "abcdefgh")
    document = provisioning_parameters(slurm_layout(groups), fsx)
    assert document == {
        "version": "1.0.0",
        "workload_manager": "slurm",
        "controller_group": "head",
        "worker_groups": [
            {"instance_group_name": "gpu-a", "partition_name": "train"},
            {"instance_group_name": "gpu-b", "partition_name": "train"},
            {"instance_group_name": "cpu", "partition_name": "cpu"},
        ],
        "fsx_dns_name": "fs-0123456789abcdef0.fsx.us-west-2.amazonaws.com",
        "fsx_mountname": "abcdefgh",
    }
    assert "login_group" not in document
    assert slurm_layout(groups).partitions == {"train": ["gpu-a", "gpu-b"], "cpu": ["cpu"]}
    assert describe(document) == "controller=head login=- partitions=train:[gpu-a,gpu-b],cpu:[cpu]"
    assert "fsx_dns_name" not in provisioning_parameters(slurm_layout(groups))


# ---------------------------------------------------------------- synthesized Slurm app


# slurm_app: the session's synth of examples/slurm.yaml (tests/conftest.py).


def _cluster(app) -> dict:
    return app.one("AWS::SageMaker::Cluster")[1]["Properties"]


def test_cluster_is_api_driven(slurm_app) -> None:
    """SlurmConfig per group and Orchestrator.Slurm (sagemaker-hyperpod-ref, "API-driven Slurm configuration")."""
    props = _cluster(slurm_app)
    assert props["Orchestrator"] == {"Slurm": {"SlurmConfigStrategy": "Managed"}}
    assert "NodeProvisioningMode" not in props
    groups = props["InstanceGroups"]
    assert [g["InstanceGroupName"] for g in groups] == ["controller", "login", "gpu", "cpu"]
    assert [g["SlurmConfig"] for g in groups] == [
        {"NodeType": "Controller"},
        {"NodeType": "Login"},
        {"NodeType": "Compute", "PartitionNames": ["train"]},
        {"NodeType": "Compute", "PartitionNames": ["cpu"]},
    ]
    fsx_id, _ = slurm_app.one("AWS::FSx::FileSystem")
    for group in groups:
        # HyperPod mounts the file system on every node of every group, at /fsx.
        assert group["InstanceStorageConfigs"][1] == {
            "FsxLustreConfig": {
                "DnsName": {"Fn::GetAtt": [fsx_id, "DNSName"]},
                "MountName": {"Fn::GetAtt": [fsx_id, "LustreMountName"]},
                "MountPath": "/fsx",
            }
        }
        assert "VolumeKmsKeyId" not in group["InstanceStorageConfigs"][0]["EbsVolumeConfig"]
        assert "KubernetesConfig" not in group
    uris = {json.dumps(g["LifeCycleConfig"]["SourceS3Uri"], sort_keys=True) for g in groups}
    assert len(uris) == 1 and all(g["LifeCycleConfig"]["OnCreate"] == "on_create.sh" for g in groups)
    assert {"Key": "SageMaker", "Value": "true"} in props["Tags"]
    assert slurm_app.template["Description"].startswith("SageMaker HyperPod on Slurm")
    assert not slurm_app.resources("AWS::EKS::Cluster")
    assert not slurm_app.resources("AWS::RDS::DBInstance")


def test_lifecycle_prefix_has_no_provisioning_parameters(slurm_app) -> None:
    _, deploy = slurm_app.one("Custom::HyperPodLifecycleScripts")
    props = deploy["Properties"]
    # The API-driven scripts, lifecycle_scripts/common and the generated slurm_nodes.json; no
    # provisioning_parameters.json (CreateCluster refuses it with SlurmConfig) and no fsx_lustre.json.
    assert len(props["SourceObjectKeys"]) == 3
    files = set()
    for key in props["SourceObjectKeys"]:
        files |= {p.name for p in (slurm_app.outdir / f"asset.{key.removesuffix('.zip')}").iterdir()}
    assert files == {"on_create.sh", "lib.sh", "node_role.py", "lcs_common.sh", "slurm_nodes.json"}
    generated = props["SourceObjectKeys"][2].removesuffix(".zip")
    document = json.loads((slurm_app.outdir / f"asset.{generated}" / "slurm_nodes.json").read_text())
    assert document == {
        "version": 1,
        "fsx_mount_path": "/fsx",
        "groups": {
            "controller": {"node_type": "Controller"},
            "login": {"node_type": "Login"},
            "gpu": {"node_type": "Compute", "partition": "train"},
            "cpu": {"node_type": "Compute", "partition": "cpu"},
        },
    }


def test_execution_role_has_no_eks_grant(slurm_app) -> None:
    actions = set()
    for policy in slurm_app.resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            found = statement["Action"]
            actions.update([found] if isinstance(found, str) else found)
    assert "eks-auth:AssumeRoleForPodIdentity" not in actions


def test_cluster_waits_for_the_file_system_and_role_policy(slurm_app) -> None:
    cluster_id, cluster = slurm_app.one("AWS::SageMaker::Cluster")
    fsx_id, _ = slurm_app.one("AWS::FSx::FileSystem")
    depends = set(cluster.get("DependsOn", []))
    assert fsx_id in depends
    assert any(d.startswith("ExecutionRolePolicy") for d in depends)


def test_slurm_template_passes_cfn_lint_and_nag(slurm_app) -> None:
    for template in sorted(slurm_app.outdir.glob("*.template.json")):
        assert cfn_lint(template, "us-west-2") == []
    report = json.loads((slurm_app.outdir / "validation-report.json").read_text())
    assert all(p["conclusion"] == "success" and not p.get("violations") for p in report["pluginReports"])


def test_cfn_lint_checks_the_slurm_properties(slurm_app, tmp_path) -> None:
    """cfn-lint 1.58's schema knows Orchestrator.Slurm: a bad strategy is caught, so the lint above means something."""
    template = copy.deepcopy(slurm_app.template)
    cluster = next(v for v in template["Resources"].values() if v["Type"] == "AWS::SageMaker::Cluster")
    cluster["Properties"]["Orchestrator"]["Slurm"]["SlurmConfigStrategy"] = "Sometimes"
    native = tmp_path / "native.template.json"
    native.write_text(json.dumps(template))
    assert "E3030" in {f["Rule"]["Id"] for f in cfn_lint(native, "us-west-2")}


# ---------------------------------------------------------------- construct seams (no extra synth)


def test_cluster_construct_rejects_parameters_that_drift() -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_kms as kms

    from hyperpod_cdk.cluster.slurm import HyperPodSlurmCluster

    groups = parse_config(_slurm_data()).hyperpod.instance_groups
    stack = cdk.Stack(cdk.App(), "Probe")
    common = dict(
        cluster_name="probe",
        instance_groups=groups,
        subnets_by_az_id={"usw2-az2": ec2.Subnet.from_subnet_id(stack, "Subnet", "subnet-0123456789abcdef0")},
        default_az_id="usw2-az2",
        security_group=ec2.SecurityGroup.from_security_group_id(stack, "Sg", "sg-0123456789abcdef0"),
        execution_role_arn="arn:aws:iam::123456789012:role/exec",
        lifecycle_source_s3_uri="s3://bucket/prefix/",
    )
    # HyperPod accepts a customer managed EBS key only in Continuous mode.
    with pytest.raises(HyperPodConfigError, match=re.escape("Probe/Cmk: volume_key: HyperPod accepts")):
        HyperPodSlurmCluster(stack, "Cmk", volume_key=kms.Key(stack, "Key"), **common)
    # API-driven (default): the layout comes from SlurmConfig, so a parameters document is refused.
    good = HyperPodSlurmCluster.parameters_for(groups)
    with pytest.raises(HyperPodConfigError, match=re.escape("Probe/Api: provisioning_parameters: API-driven")):
        HyperPodSlurmCluster(stack, "Api", provisioning_parameters=good, **common)
    legacy = dict(common, configuration="provisioning-parameters")
    with pytest.raises(HyperPodConfigError, match=re.escape("Probe/LegacyCont: node_provisioning_mode: only with")):
        HyperPodSlurmCluster(stack, "LegacyCont", node_provisioning_mode="Continuous", **legacy)
    cluster = HyperPodSlurmCluster(stack, "Ok", provisioning_parameters=good, **legacy)
    assert cluster.provisioning_parameters() == good
    drifted = {**good, "worker_groups": [{"instance_group_name": "gpu", "partition_name": "other"}]}
    with pytest.raises(HyperPodConfigError, match=re.escape("provisioning_parameters.worker_groups")):
        HyperPodSlurmCluster(stack, "Drift", provisioning_parameters=drifted, **legacy)
    with pytest.raises(HyperPodConfigError, match=re.escape("Probe/Strategy: config_strategy: 'Sometimes' must be")):
        HyperPodSlurmCluster(stack, "Strategy", config_strategy="Sometimes", **common)  # type: ignore[arg-type]
    template = cdk.assertions.Template.from_stack(stack).to_json()
    legacy_props = next(
        r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::SageMaker::Cluster"
    )
    assert "Orchestrator" not in legacy_props and all("SlurmConfig" not in g for g in legacy_props["InstanceGroups"])


def test_continuous_slurm_cluster_takes_a_key_and_an_accounting_database() -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_kms as kms

    from hyperpod_cdk.cluster.slurm import AccountingDatabase, HyperPodSlurmCluster

    groups = parse_config(_slurm_data()).hyperpod.instance_groups
    stack = cdk.Stack(cdk.App(), "Probe")
    key = kms.Key(stack, "Key")
    HyperPodSlurmCluster(
        stack,
        "Cluster",
        cluster_name="probe",
        instance_groups=groups,
        subnets_by_az_id={"usw2-az2": ec2.Subnet.from_subnet_id(stack, "Subnet", "subnet-0123456789abcdef0")},
        default_az_id="usw2-az2",
        security_group=ec2.SecurityGroup.from_security_group_id(stack, "Sg", "sg-0123456789abcdef0"),
        execution_role_arn="arn:aws:iam::123456789012:role/exec",
        lifecycle_source_s3_uri="s3://bucket/prefix/",
        node_provisioning_mode="Continuous",
        volume_key=key,
        config_strategy="Merge",
        accounting_database=AccountingDatabase(
            endpoint="acct.abc.us-west-2.rds.amazonaws.com",
            secret_arn="arn:aws:secretsmanager:us-west-2:123456789012:secret:acct-AbCdEf",
            port=3306,
        ),
    )
    props = next(
        r
        for r in cdk.assertions.Template.from_stack(stack).to_json()["Resources"].values()
        if r["Type"] == "AWS::SageMaker::Cluster"
    )["Properties"]
    assert props["NodeProvisioningMode"] == "Continuous"
    assert props["Orchestrator"] == {
        "Slurm": {
            "SlurmConfigStrategy": "Merge",
            "AccountingDatabase": {
                "Endpoint": "acct.abc.us-west-2.rds.amazonaws.com",
                "SecretArn": "arn:aws:secretsmanager:us-west-2:123456789012:secret:acct-AbCdEf",
                "Port": 3306,
            },
        }
    }
    assert all("VolumeKmsKeyId" in g["InstanceStorageConfigs"][0]["EbsVolumeConfig"] for g in props["InstanceGroups"])


def test_lifecycle_prefix_hashes_generated_files() -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_kms as kms

    from hyperpod_cdk.lifecycle.lifecycle_scripts import HyperPodLifecycleScripts

    stack = cdk.Stack(cdk.App(), "Probe")
    key = kms.Key(stack, "Key")
    source = REPO / "lifecycle_scripts" / "slurm"
    plain = HyperPodLifecycleScripts(stack, "Plain", source_dir=source, encryption_key=key)
    one = HyperPodLifecycleScripts(
        stack,
        "One",
        source_dir=source,
        encryption_key=key,
        json_files={"provisioning_parameters.json": {"controller_group": "a"}},
    )
    two = HyperPodLifecycleScripts(
        stack,
        "Two",
        source_dir=source,
        encryption_key=key,
        json_files={"provisioning_parameters.json": {"controller_group": "b"}},
    )
    same = HyperPodLifecycleScripts(
        stack,
        "Same",
        source_dir=source,
        encryption_key=key,
        json_files={"provisioning_parameters.json": {"controller_group": "a"}},
    )
    assert len({plain.prefix, one.prefix, two.prefix}) == 3
    assert one.prefix == same.prefix
    with pytest.raises(ValueError, match="plain"):
        HyperPodLifecycleScripts(stack, "Escape", source_dir=source, encryption_key=key, json_files={"../x.json": {}})


@pytest.mark.parametrize(
    ("users", "field", "message"),
    [
        ([{"name": "root", "uid": 2001}], "slurm.users[0](root).name", "already exists on HyperPod nodes"),
        ([{"name": "a", "uid": 2001}, {"name": "a", "uid": 2002}], "slurm.users[1](a).name", "listed twice"),
        ([{"name": "a", "uid": 2001}, {"name": "b", "uid": 2001}], "slurm.users[1](b).uid", "already a's UID"),
        ([{"name": "a", "uid": 1000}], "slurm.users[0](a).uid", "greater than or equal to 2000"),
        ([{"name": "Alice", "uid": 2001}], "slurm.users[0](Alice).name", "a POSIX login name"),
        (
            [{"name": "a", "uid": 2001, "ssh_public_key": "not a key"}],
            "slurm.users[0](a).ssh_public_key",
            "one OpenSSH public key line",
        ),
    ],
)
def test_slurm_users_are_checked(users: list, field: str, message: str) -> None:
    data = _slurm_data()
    data["slurm"] = {"users": users}
    with pytest.raises(HyperPodConfigError) as caught:
        parse_config(data)
    assert caught.value.field == field, caught.value
    assert message in caught.value.message


def test_slurm_users_reach_the_nodes_file() -> None:
    from hyperpod_cdk.specs.slurm import slurm_nodes

    data = _slurm_data()
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGv7mQ0alicekey alice@laptop"
    data["slurm"] = {"users": [{"name": "alice", "uid": 2001, "ssh_public_key": key}, {"name": "bob", "uid": 2002}]}
    config = parse_config(data)
    document = slurm_nodes(config.slurm_layout, "/fsx", [u.model_dump() for u in config.slurm.users])
    assert document["users"] == [{"name": "alice", "uid": 2001, "ssh_public_key": key}, {"name": "bob", "uid": 2002}]
    legacy = _slurm_data()
    legacy["slurm"] = {"configuration": "provisioning-parameters", "users": [{"name": "alice", "uid": 2001}]}
    with pytest.raises(HyperPodConfigError, match="only used with slurm.configuration: api"):
        parse_config(legacy)


def test_docker_for_slurm_users_needs_an_explicit_root_opt_in() -> None:
    """Review M5: the docker group is root on the node, so joining it is never implied by docker: true."""
    data = _slurm_data()
    data["slurm"] = {"users": [{"name": "alice", "uid": 2001}], "containers": {"docker": True}}
    with pytest.raises(HyperPodConfigError) as caught:
        parse_config(data)
    assert caught.value.field == "slurm.containers.docker_users_are_root"
    assert "root on every node" in caught.value.message and "docker_users_are_root: true" in caught.value.message
    from hyperpod_cdk.specs.slurm import slurm_nodes

    data["slurm"]["containers"]["docker_users_are_root"] = True
    config = parse_config(data)
    document = slurm_nodes(
        config.slurm_layout, "/fsx", [u.model_dump() for u in config.slurm.users], config.slurm.containers.model_dump()
    )
    assert document["containers"]["docker_users_are_root"] is True
    stray = _slurm_data()
    stray["slurm"] = {"containers": {"docker_users_are_root": True}}
    with pytest.raises(HyperPodConfigError, match="only used with slurm.containers.docker: true"):
        parse_config(stray)


def test_enroot_deb_checksums_are_pinned_by_file_name() -> None:
    """Review M3: the lifecycle script installs enroot's .debs only with these pins."""
    from hyperpod_cdk.specs.slurm import slurm_nodes

    pin = {"enroot_3.4.1-1_amd64.deb": "a" * 64, "enroot+caps_3.4.1-1_amd64.deb": "b" * 64}
    data = _slurm_data()
    data["slurm"] = {"containers": {"enroot_pyxis": True, "enroot_deb_sha256": pin}}
    config = parse_config(data)
    document = slurm_nodes(config.slurm_layout, "/fsx", [], config.slurm.containers.model_dump())
    assert document["containers"]["enroot_deb_sha256"] == pin and document["containers"]["enroot_pyxis"] is True
    for bad in ({"enroot_3.4.1-1_amd64.deb": "A" * 64}, {"enroot.deb": "a" * 64}):
        data["slurm"]["containers"]["enroot_deb_sha256"] = bad
        with pytest.raises(HyperPodConfigError) as caught:
            parse_config(data)
        assert caught.value.field.startswith("slurm.containers.enroot_deb_sha256"), caught.value


def test_slurm_containers_need_internet_and_api_driven_config() -> None:
    data = _slurm_data()
    data["slurm"] = {"containers": {"enroot_pyxis": True, "docker": True}}
    assert parse_config(data).slurm.containers.enroot_pyxis
    closed = _slurm_data()
    closed["network"]["closed"] = True
    closed["slurm"] = {"containers": {"enroot_pyxis": True}}
    with pytest.raises(HyperPodConfigError) as caught:
        parse_config(closed)
    assert caught.value.field == "slurm.containers" and "closed network" in caught.value.message
    legacy = _slurm_data()
    legacy["slurm"] = {"configuration": "provisioning-parameters", "containers": {"docker": True}}
    with pytest.raises(HyperPodConfigError, match="slurm.containers: only used with slurm.configuration: api"):
        parse_config(legacy)
