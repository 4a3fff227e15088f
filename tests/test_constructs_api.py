"""Issue 21 constructs API from a user's stack: grants scoped to the cluster ARN, IHyperPodCluster
importers for both orchestrators, Slurm add_instance_group, the FSx interface and import class, and
every platform attribute on both orchestrators."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hyperpod_cdk.config import parse_config
from hyperpod_cdk.errors import HyperPodConfigError

REPO = Path(__file__).resolve().parent.parent
ACCOUNT = "111111111111"
ARN = f"arn:aws:sagemaker:us-west-2:{ACCOUNT}:cluster/abcdefghijkl"
NODE_OPERATIONS = [
    "sagemaker:DescribeCluster",
    "sagemaker:ListClusterNodes",
    "sagemaker:DescribeClusterNode",
    "sagemaker:ListClusterEvents",
    "sagemaker:BatchRebootClusterNodes",
    "sagemaker:BatchReplaceClusterNodes",
    "sagemaker:UpdateClusterSoftware",
    "sagemaker:StartClusterHealthCheck",
]


def _policies(template: dict, role_logical_id: str) -> list[dict]:
    """Statements of every AWS::IAM::Policy attached to the role."""
    return [
        statement
        for body in template["Resources"].values()
        if body["Type"] == "AWS::IAM::Policy" and {"Ref": role_logical_id} in body["Properties"]["Roles"]
        for statement in body["Properties"]["PolicyDocument"]["Statement"]
    ]


@pytest.fixture(scope="module")
def slurm_user_stack():
    """examples/slurm.yaml in an existing VPC, plus what a user adds in their own stack."""
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_iam as iam

    from hyperpod_cdk import HyperPodPlatform

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
    stack = cdk.Stack(cdk.App(), "User", env=cdk.Environment(account=ACCOUNT, region="us-west-2"))
    platform = HyperPodPlatform(stack, "Platform", config=parse_config(data))
    ops = iam.Role(stack, "Ops", assumed_by=iam.AccountRootPrincipal())
    platform.grant_node_operations(ops)  # the one line of the issue
    reader = iam.Role(stack, "ScriptReader", assumed_by=iam.AccountRootPrincipal())
    platform.lifecycle.grant_read(reader)
    clients = ec2.SecurityGroup(stack, "FsxClients", vpc=platform.vpc, allow_all_outbound=False)
    assert platform.fsx is not None
    clients.connections.allow_to(platform.fsx, ec2.Port.tcp(988), "clients to Lustre")
    template = cdk.assertions.Template.from_stack(stack).to_json()
    return {
        "stack": stack,
        "platform": platform,
        "ops": ops,
        "reader": reader,
        "clients": clients,
        "template": template,
    }


def test_ops_role_gets_node_operations_in_one_line_scoped_to_the_cluster_arn(slurm_user_stack):
    stack, platform, template = slurm_user_stack["stack"], slurm_user_stack["platform"], slurm_user_stack["template"]
    ops_id = stack.resolve(slurm_user_stack["ops"].node.default_child.logical_id)
    (statement,) = _policies(template, ops_id)
    cluster_id = stack.resolve(platform.cluster.resource.logical_id)
    assert statement["Action"] == NODE_OPERATIONS
    assert statement["Resource"] == {"Fn::GetAtt": [cluster_id, "ClusterArn"]}
    assert "sagemaker:BatchDeleteClusterNodes" not in statement["Action"]


def test_lifecycle_scripts_grant_read_covers_their_prefix_and_the_bucket_key(slurm_user_stack):
    stack, platform, template = slurm_user_stack["stack"], slurm_user_stack["platform"], slurm_user_stack["template"]
    statements = _policies(template, stack.resolve(slurm_user_stack["reader"].node.default_child.logical_id))
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert {"s3:GetObject*", "s3:List*", "kms:Decrypt"} <= actions
    objects = [r for s in statements for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])]
    prefix = platform.lifecycle.prefix
    assert any(prefix in str(stack.resolve(r)) for r in objects), objects


def test_fsx_client_security_group_allow_to_platform_fsx(slurm_user_stack):
    stack, template = slurm_user_stack["stack"], slurm_user_stack["template"]
    clients_id = stack.resolve(slurm_user_stack["clients"].node.default_child.logical_id)
    rules = [
        b["Properties"]
        for b in template["Resources"].values()
        if b["Type"] == "AWS::EC2::SecurityGroupIngress"
        and b["Properties"].get("FromPort") == 988
        and b["Properties"].get("SourceSecurityGroupId") == {"Fn::GetAtt": [clients_id, "GroupId"]}
    ]
    assert len(rules) == 1
    assert rules[0]["GroupId"] == stack.resolve(slurm_user_stack["platform"].security_group.security_group_id)


def test_slurm_platform_refuses_a_group_after_synth(slurm_user_stack):
    """The platform's scripts render slurm_nodes.json at synth and hash it into their S3 prefix: a
    group added after that would stop in node_role.py at node creation, so it is refused instead
    (before synth it works: tests/test_slurm_add_instance_group.py)."""
    platform = slurm_user_stack["platform"]
    with pytest.raises(
        HyperPodConfigError,
        match=r"^User/Platform/HyperPod: instance_groups: the lifecycle scripts' generated files and S3 prefix "
        r"were fixed at synth",
    ):
        platform.add_instance_group(
            {"name": "extra", "instance_type": "ml.c5.2xlarge", "instance_count": 1, "partition": "cpu2"}
        )
    assert "extra" not in [g.name for g in platform.cluster.instance_groups]


def test_slurm_cluster_add_instance_group_renders_a_partition(cluster_scope):
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2

    from hyperpod_cdk import HyperPodSlurmCluster

    stack = cdk.Stack(cdk.App(), "Own", env=cdk.Environment(account=ACCOUNT, region="us-west-2"))
    subnet = ec2.Subnet.from_subnet_attributes(
        stack, "Sn", subnet_id="subnet-0ccccccccccccccc1", ipv4_cidr_block="10.0.0.0/16"
    )
    sg = ec2.SecurityGroup.from_security_group_id(stack, "Sg", "sg-0123456789abcdef0")
    with pytest.warns(DeprecationWarning, match="execution_role_arn") as warned:
        cluster = HyperPodSlurmCluster(
            stack,
            "Slurm",
            cluster_name="own",
            instance_groups=[
                {
                    "name": "controller",
                    "instance_type": "ml.m5.xlarge",
                    "instance_count": 1,
                    "slurm_node_type": "Controller",
                },
                {"name": "gpu", "instance_type": "ml.g5.8xlarge", "instance_count": 2},
            ],
            subnets_by_az_id={"usw2-az2": subnet},
            default_az_id="usw2-az2",
            security_group=sg,
            execution_role_arn=f"arn:aws:iam::{ACCOUNT}:role/r",
            lifecycle_source_s3_uri="s3://b/p/",
        )
    assert {w.filename for w in warned if "is deprecated" in str(w.message)} == {__file__}  # the user's line
    added = cluster.add_instance_group(
        {"name": "extra", "instance_type": "ml.c5.2xlarge", "instance_count": 1, "partition": "cpu2"}
    )
    assert added.name == "extra" and cluster.layout.node_type("extra") == "Compute"
    (body,) = cdk.assertions.Template.from_stack(stack).find_resources("AWS::SageMaker::Cluster").values()
    groups = {g["InstanceGroupName"]: g for g in body["Properties"]["InstanceGroups"]}
    assert groups["extra"]["SlurmConfig"] == {"NodeType": "Compute", "PartitionNames": ["cpu2"]}
    assert groups["gpu"]["SlurmConfig"] == {"NodeType": "Compute", "PartitionNames": ["gpu"]}
    with pytest.raises(HyperPodConfigError, match=r"^Own/Slurm: instance_groups"):
        cluster.add_instance_group({"name": "extra", "instance_type": "ml.c5.2xlarge", "instance_count": 1})


def test_every_platform_attribute_exists_on_slurm(slurm_user_stack):
    platform = slurm_user_stack["platform"]
    for name in (
        "kubectl_layer",
        "autoscaling_role",
        "karpenter_manifest",
        "manifests",
        "eks",
        "eks_cluster",
        "helm_dependencies",
        "readiness",
        "node_gate",
        "addons",
        "task_governance",
        "access_tunnel",
    ):
        assert getattr(platform, name) is None, name
    assert platform.cluster.orchestrator == "slurm"
    with pytest.raises(HyperPodConfigError, match=r"^User/Platform: grant_submit: Slurm has no Kubernetes teams"):
        platform.grant_submit(slurm_user_stack["ops"], "training")


def test_platform_annotations_list_every_attribute_the_constructor_sets(slurm_user_stack):
    from hyperpod_cdk import HyperPodPlatform

    declared = set(HyperPodPlatform.__annotations__)
    public = {k for k in vars(slurm_user_stack["platform"]) if not k.startswith("_")}
    assert public <= declared, sorted(public - declared)


@pytest.fixture(scope="module")
def cluster_scope():
    import aws_cdk as cdk

    return cdk.Stack(cdk.App(), "Imp", env=cdk.Environment(account=ACCOUNT, region="us-west-2"))


@pytest.mark.parametrize("orchestrator", ["eks", "slurm"])
def test_importers_return_a_resource_with_grants(orchestrator):
    import aws_cdk as cdk
    from aws_cdk import aws_iam as iam

    from hyperpod_cdk import HyperPodCluster, HyperPodSlurmCluster, IHyperPodCluster

    cluster_scope = cdk.Stack(cdk.App(), "Imp", env=cdk.Environment(account=ACCOUNT, region="us-west-2"))
    cls = HyperPodCluster if orchestrator == "eks" else HyperPodSlurmCluster
    by_arn = cls.from_cluster_arn(cluster_scope, f"ByArn{orchestrator}", ARN, cluster_name="team-a")
    by_id = cls.from_cluster_attributes(
        cluster_scope, f"ById{orchestrator}", cluster_name="team-a", cluster_id="abcdefghijkl"
    )
    for imported in (by_arn, by_id):
        assert isinstance(imported, IHyperPodCluster) and isinstance(imported, cdk.Resource)
        assert imported.orchestrator == orchestrator and imported.stack is cluster_scope
    assert by_arn.env.account == ACCOUNT and by_arn.env.region == "us-west-2"
    assert cluster_scope.resolve(by_id.cluster_arn) == {
        "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":sagemaker:us-west-2:{ACCOUNT}:cluster/abcdefghijkl"]]
    }
    reader = iam.Role(cluster_scope, f"Reader{orchestrator}", assumed_by=iam.AccountRootPrincipal())
    by_arn.grant_describe(reader)
    template = cdk.assertions.Template.from_stack(cluster_scope).to_json()
    (statement,) = _policies(template, cluster_scope.resolve(reader.node.default_child.logical_id))
    assert statement["Resource"] == ARN and statement["Action"] == NODE_OPERATIONS[:4]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"cluster_arn": f"arn:aws:sagemaker:us-west-2:{ACCOUNT}:cluster/team-a"},
            "cluster_arn: .* is not a HyperPod cluster ARN .*ends in the cluster's id, not its name",
        ),
        ({"cluster_arn": "team-a"}, "cluster_arn: 'team-a' is not a HyperPod cluster ARN"),
        ({}, "cluster_arn: give the cluster's ARN, or cluster_id"),
        ({"cluster_id": "TEAM"}, "cluster_id: 'TEAM' is not a HyperPod cluster id"),
    ],
)
def test_importer_rejects_what_is_not_a_hyperpod_arn(cluster_scope, kwargs, message):
    from hyperpod_cdk import HyperPodSlurmCluster

    with pytest.raises(HyperPodConfigError, match=rf"^Imp/Bad: {message}"):
        HyperPodSlurmCluster.from_cluster_attributes(cluster_scope, "Bad", cluster_name="team-a", **kwargs)


def test_imported_fsx_is_its_own_class_and_reports_the_construct_path(cluster_scope):
    from aws_cdk import aws_ec2 as ec2

    from hyperpod_cdk.storage.fsx_lustre import HyperPodFsxLustre, ImportedFsxLustre

    with pytest.raises(HyperPodConfigError, match=r"^Imp/Typo: storage.fsx.file_system_id: "):
        HyperPodFsxLustre.from_attributes(cluster_scope, "Typo", file_system_id="fsx-1", dns_name="x", mount_name="y")
    group = ec2.SecurityGroup.from_security_group_id(cluster_scope, "FsSg", "sg-0123456789abcdef0")
    imported = HyperPodFsxLustre.from_attributes(
        cluster_scope,
        "Fs",
        file_system_id="fs-0123456789abcdef0",
        dns_name="fs-0123456789abcdef0.fsx.us-west-2.amazonaws.com",
        mount_name="abcdefgh",
        security_groups=[group],
    )
    assert type(imported) is ImportedFsxLustre and imported.imported and imported.resource is None
    (only,) = imported.connections.security_groups
    assert only.security_group_id == "sg-0123456789abcdef0"


def test_grant_submit_maps_a_role_to_the_team_group_on_eks():
    """examples/existing-vpc-and-eks.yaml (the cheapest EKS platform): one line per submitter role."""
    import aws_cdk as cdk
    from aws_cdk import aws_iam as iam

    from hyperpod_cdk import HyperPodPlatform
    from hyperpod_cdk.config import load_config

    stack = cdk.Stack(cdk.App(), "Eks", env=cdk.Environment(account=ACCOUNT, region="us-west-2"))
    platform = HyperPodPlatform(stack, "Platform", config=load_config(REPO / "examples" / "existing-vpc-and-eks.yaml"))
    team = platform.config.kubernetes.teams[0]
    scientist = iam.Role(stack, "Scientist", assumed_by=iam.AccountRootPrincipal())
    platform.grant_submit(scientist, team.name)
    ops = iam.Role(stack, "Ops", assumed_by=iam.AccountRootPrincipal())
    platform.grant_node_operations(ops)
    platform.add_instance_group({"name": "late", "instance_type": "ml.m5.2xlarge", "instance_count": 1})
    with pytest.raises(HyperPodConfigError, match=r"^Eks/Platform: grant_submit.team: 'nobody' is not a team"):
        platform.grant_submit(scientist, "nobody")
    assert platform.kubectl_layer is not None and platform.accounting_database is None
    template = cdk.assertions.Template.from_stack(stack)
    scientist_ref = {"Fn::GetAtt": [stack.resolve(scientist.node.default_child.logical_id), "Arn"]}
    template.has_resource_properties(
        "AWS::EKS::AccessEntry",
        {
            "PrincipalArn": scientist_ref,
            "KubernetesGroups": [team.kubernetes_group],
            "Type": "STANDARD",
            "ClusterName": "team-eks",
        },
    )
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [{"Ref": stack.resolve(scientist.node.default_child.logical_id)}],
            "PolicyDocument": {"Statement": [cdk.assertions.Match.object_like({"Action": "eks:DescribeCluster"})]},
        },
    )
    (cluster,) = template.find_resources("AWS::SageMaker::Cluster").values()
    assert "late" in [g["InstanceGroupName"] for g in cluster["Properties"]["InstanceGroups"]]
    (statement,) = _policies(template.to_json(), stack.resolve(ops.node.default_child.logical_id))
    assert statement["Action"] == NODE_OPERATIONS
    assert statement["Resource"] == {"Fn::GetAtt": [stack.resolve(platform.cluster.resource.logical_id), "ClusterArn"]}


def test_execution_role_takes_the_eks_cluster_and_keeps_the_arn_as_a_deprecated_alias():
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_eks_v2 as eks
    from aws_cdk import aws_s3 as s3

    from hyperpod_cdk import HyperPodExecutionRole

    def role_policy(**cluster_prop):
        stack = cdk.Stack(cdk.App(), "Own", env=cdk.Environment(account=ACCOUNT, region="us-west-2"))
        vpc = ec2.Vpc.from_vpc_attributes(stack, "Vpc", vpc_id="vpc-0123456789abcdef0", availability_zones=["a"])
        subnet = ec2.Subnet.from_subnet_attributes(stack, "Sn", subnet_id="subnet-0ccccccccccccccc1")
        sg = ec2.SecurityGroup.from_security_group_id(stack, "Sg", "sg-0123456789abcdef0")
        cluster = eks.Cluster.from_cluster_attributes(stack, "Eks", cluster_name="team-eks")
        props = {key: (cluster if value == "typed" else cluster.cluster_arn) for key, value in cluster_prop.items()}
        HyperPodExecutionRole(
            stack,
            "Role",
            vpc=vpc,
            subnets=[subnet],
            security_group=sg,
            lifecycle_bucket=s3.Bucket.from_bucket_name(stack, "B", "lifecycle-bucket"),
            **props,
        )
        policies = cdk.assertions.Template.from_stack(stack).find_resources("AWS::IAM::Policy")
        return [st for body in policies.values() for st in body["Properties"]["PolicyDocument"]["Statement"]]

    typed = role_policy(eks_cluster="typed")
    assert [st for st in typed if st.get("Sid") == "PodIdentity"]
    with pytest.warns(
        DeprecationWarning, match=r"HyperPodExecutionRole\(eks_cluster_arn=\.\.\.\) is deprecated"
    ) as warned:
        legacy = role_policy(eks_cluster_arn="arn")
    assert {w.filename for w in warned if "is deprecated" in str(w.message)} == {__file__}  # the user's line
    assert legacy == typed
    with pytest.raises(HyperPodConfigError, match=r"^Own/Role: eks_cluster_arn: give eks_cluster or eks_cluster_arn"):
        role_policy(eks_cluster="typed", eks_cluster_arn="arn")
