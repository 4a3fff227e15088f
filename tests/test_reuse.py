"""The constructs work on their own, inside a user's stack with an imported VPC and EKS cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def user_stack(tmp_path_factory):
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_eks_v2 as eks
    from aws_cdk import aws_kms as kms
    from cdk_nag import AwsSolutionsChecks

    from hyperpod_cdk.cluster.execution_role import HyperPodExecutionRole
    from hyperpod_cdk.cluster.hyperpod import HyperPodCluster
    from hyperpod_cdk.config import InstanceGroup
    from hyperpod_cdk.lifecycle.lifecycle_scripts import HyperPodLifecycleScripts
    from hyperpod_cdk.network.security_group import HyperPodSecurityGroup

    app = cdk.App(outdir=str(tmp_path_factory.mktemp("reuse")))
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    stack = cdk.Stack(app, "UserStack", env=cdk.Environment(account="111111111111", region="us-west-2"))
    vpc = ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id="vpc-0123456789abcdef0",
        availability_zones=["us-west-2a", "us-west-2b"],
        private_subnet_ids=["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"],
    )
    subnet = ec2.Subnet.from_subnet_attributes(
        stack, "HyperPodSubnet", subnet_id="subnet-0bbbbbbbbbbbbbbb1", availability_zone="us-west-2b"
    )
    cluster = eks.Cluster.from_cluster_attributes(stack, "Eks", cluster_name="team-eks")
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    node_sg = HyperPodSecurityGroup(stack, "NodeSg", vpc=vpc)
    scripts = HyperPodLifecycleScripts(
        stack,
        "Scripts",
        source_dir=REPO / "lifecycle_scripts" / "eks",
        encryption_key=key,
        shared_dirs=[REPO / "lifecycle_scripts" / "common"],
    )
    role = HyperPodExecutionRole(
        stack,
        "ExecRole",
        vpc=vpc,
        subnets=[subnet],
        security_group=node_sg.security_group,
        lifecycle_bucket=scripts.bucket,
        eks_cluster=cluster,
        volume_key=key,
    )
    HyperPodCluster(
        stack,
        "HyperPod",
        cluster_name="team-hyperpod",
        eks_cluster_arn=cluster.cluster_arn,
        instance_groups=[InstanceGroup(name="train", instance_type="ml.p5.48xlarge", instance_count=2)],
        subnets_by_az_id={"usw2-az1": subnet},
        default_az_id="usw2-az1",
        security_group=node_sg.security_group,
        execution_role_arn=role.role_arn,
        lifecycle_source_s3_uri=scripts.source_s3_uri,
        volume_key=key,
    )
    assembly = app.synth()
    return assembly.get_stack_by_name("UserStack").template


def test_hyperpod_attaches_to_the_imported_cluster_and_subnet(user_stack):
    clusters = [r for r in user_stack["Resources"].values() if r["Type"] == "AWS::SageMaker::Cluster"]
    assert len(clusters) == 1
    props = clusters[0]["Properties"]
    assert props["VpcConfig"]["Subnets"] == ["subnet-0bbbbbbbbbbbbbbb1"]
    assert "cluster/team-eks" in json.dumps(props["Orchestrator"])
    assert props["InstanceGroups"][0]["OnStartDeepHealthChecks"] == ["InstanceStress", "InstanceConnectivity"]
    # Nothing EKS- or VPC-shaped is created for an imported cluster.
    types = {r["Type"] for r in user_stack["Resources"].values()}
    assert not types & {"AWS::EKS::Cluster", "AWS::EC2::VPC", "AWS::EC2::Subnet"}


def test_security_group_rules_land_in_the_imported_vpc(user_stack):
    groups = [r for r in user_stack["Resources"].values() if r["Type"] == "AWS::EC2::SecurityGroup"]
    assert [g["Properties"]["VpcId"] for g in groups] == ["vpc-0123456789abcdef0"]
    assert sum(r["Type"] == "AWS::EC2::SecurityGroupIngress" for r in user_stack["Resources"].values()) == 3


def test_standalone_cluster_props_are_validated():
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_kms as kms

    from hyperpod_cdk.cluster.hyperpod import HyperPodCluster
    from hyperpod_cdk.config import InstanceGroup
    from hyperpod_cdk.errors import HyperPodConfigError

    stack = cdk.Stack(cdk.App(), "S")
    subnet = ec2.Subnet.from_subnet_attributes(stack, "Sn", subnet_id="subnet-1", availability_zone="us-west-2a")
    sg = ec2.SecurityGroup.from_security_group_id(stack, "Sg", "sg-1")
    group = InstanceGroup(name="g", instance_type="ml.g5.xlarge", instance_count=1)
    common = dict(
        eks_cluster_arn="arn:aws:eks:us-west-2:111111111111:cluster/x",
        subnets_by_az_id={"usw2-az1": subnet},
        default_az_id="usw2-az1",
        security_group=sg,
        execution_role_arn="arn:aws:iam::111111111111:role/r",
        lifecycle_source_s3_uri="s3://b/p/",
        volume_key=kms.Key(stack, "K"),
    )
    with pytest.raises(HyperPodConfigError, match="cluster_name: 'bad_name'"):
        HyperPodCluster(stack, "A", cluster_name="bad_name", instance_groups=[group], **common)
    with pytest.raises(HyperPodConfigError, match="group name .g. is used twice"):
        HyperPodCluster(stack, "B", cluster_name="ok", instance_groups=[group, group], **common)
    pinned = group.model_copy(update={"availability_zone_id": "usw2-az9"})
    with pytest.raises(HyperPodConfigError, match="'usw2-az9' has no HyperPod subnet"):
        HyperPodCluster(stack, "C", cluster_name="ok", instance_groups=[pinned], **common)


def test_multi_az_plan_overrides_vpc_config_per_group(synth, tmp_path):
    data = yaml.safe_load((REPO / "hyperpod.yaml").read_text())
    data["network"]["availability_zone_ids"] = ["usw2-az2", "usw2-az1"]
    data["hyperpod"]["instance_groups"][1].update(
        availability_zone_id="usw2-az1",
        taints=[{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}],
        training_plan_arn="arn:aws:sagemaker:us-west-2:111111111111:training-plan/plan-1",
        image_id="ami-0123456789abcdef0",
    )
    path = tmp_path / "multi-az.yaml"
    path.write_text(yaml.safe_dump(data))
    result = synth(path, tmp_path / "out", nag=False)
    subnets = {
        v["Properties"]["AvailabilityZoneId"]: (k, v["Properties"]["CidrBlock"])
        for k, v in result.resources("AWS::EC2::Subnet").items()
        if "AvailabilityZoneId" in v["Properties"]
    }
    assert {az: cidr for az, (_, cidr) in subnets.items()} == {"usw2-az2": "10.1.0.0/17", "usw2-az1": "10.1.128.0/17"}
    _, cluster = result.one("AWS::SageMaker::Cluster")
    groups = {g["InstanceGroupName"]: g for g in cluster["Properties"]["InstanceGroups"]}
    assert "OverrideVpcConfig" not in groups["system"]
    override = groups["gpu"]["OverrideVpcConfig"]
    assert override["Subnets"] == [{"Ref": subnets["usw2-az1"][0]}]
    assert groups["gpu"]["KubernetesConfig"]["Taints"] == [
        {"Key": "nvidia.com/gpu", "Value": "present", "Effect": "NoSchedule"}
    ]
    assert groups["gpu"]["TrainingPlanArn"].endswith("training-plan/plan-1")
    assert groups["gpu"]["ImageId"] == "ami-0123456789abcdef0"
