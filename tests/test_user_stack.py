"""The library from a user's own stack: IConnectable through aws-cdk-lib's own calls, the IP plan of
add_instance_group, and the account the config names."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hyperpod_cdk.config import parse_config
from hyperpod_cdk.errors import HyperPodConfigError

REPO = Path(__file__).resolve().parent.parent
ACCOUNT = "111111111111"
SHARED_GROUP = "sg-0fedcba9876543210"


def _slurm_in_existing_vpc() -> dict:
    """examples/slurm.yaml (Slurm + a new FSx) in an existing VPC: the cheapest whole platform to build."""
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
def user_stack():
    """A user's stack holding a platform, a bastion security group and aws-cdk-lib's own Connections calls."""
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2

    from hyperpod_cdk import HyperPodPlatform, HyperPodSecurityGroup

    app = cdk.App()
    stack = cdk.Stack(app, "User", env=cdk.Environment(account=ACCOUNT, region="us-west-2"))
    platform = HyperPodPlatform(stack, "Platform", config=parse_config(_slurm_in_existing_vpc()))
    bastion = ec2.SecurityGroup(stack, "Bastion", vpc=platform.vpc, allow_all_outbound=False)
    # The calls of the issue: aws-cdk-lib reads `.connections` of the platform from JavaScript.
    bastion.connections.allow_to(platform, ec2.Port.tcp(22), "bastion to nodes")
    ec2.Connections(security_groups=[bastion]).allow_from(platform, ec2.Port.tcp(8443), "nodes to bastion")
    # The file system on its default port (LNet 988).
    assert platform.fsx is not None
    bastion.connections.allow_to_default_port(platform.fsx, "bastion to Lustre")
    # The security group construct on its own.
    group = HyperPodSecurityGroup(stack, "Other", vpc=platform.vpc)
    ec2.Connections(security_groups=[bastion]).allow_to(group, ec2.Port.tcp(9090), "bastion to other")
    # Clients the stack does not own: a group imported by id, and a CIDR.
    shared = ec2.SecurityGroup.from_security_group_id(stack, "Shared", SHARED_GROUP)
    platform.connections.allow_from(shared, ec2.Port.tcp(988), "shared clients to Lustre")
    platform.connections.allow_from(ec2.Peer.ipv4("10.9.0.0/16"), ec2.Port.tcp(988), "client CIDR to Lustre")
    # A prefix list the stack creates and deletes (review round 16, M3), and an AWS-managed one it does not.
    office = ec2.PrefixList(stack, "OfficeRanges", max_entries=1, entries=[{"cidr": "192.0.2.0/24"}])
    platform.connections.allow_from(ec2.Peer.prefix_list(office.prefix_list_id), ec2.Port.tcp(2222), "office")
    platform.connections.allow_from(ec2.Peer.prefix_list("pl-0123456789abcdef0"), ec2.Port.tcp(2223), "managed")
    # A prefix list id a lookup returns (as the closed network's S3 list): not the stack's to delete (round 17, L1).
    lookup = cdk.CfnResource(
        stack,
        "PrefixListLookup",
        type="Custom::PrefixListLookup",
        properties={"ServiceToken": "arn:aws:lambda:us-west-2:111111111111:function:lookup"},
    )
    looked_up = ec2.Peer.prefix_list(lookup.get_att("PrefixListId").to_string())
    platform.connections.allow_from(looked_up, ec2.Port.tcp(2224), "looked-up list")
    template = cdk.assertions.Template.from_stack(stack).to_json()
    return {"stack": stack, "platform": platform, "group": group, "template": template}


def _logical_id(stack, construct) -> str:
    return stack.resolve(construct.node.default_child.logical_id)


def _ingress(template: dict, port: int) -> list[dict]:
    """Ingress rules on `port`, inline or as separate resources, each as {group, source}."""
    found = []
    for logical_id, body in template["Resources"].items():
        props = body.get("Properties", {})
        if body["Type"] == "AWS::EC2::SecurityGroupIngress" and props.get("FromPort") == port:
            found.append({"group": props["GroupId"], "source": props.get("SourceSecurityGroupId")})
        if body["Type"] == "AWS::EC2::SecurityGroup":
            for rule in props.get("SecurityGroupIngress", []):
                if rule.get("FromPort") == port:
                    found.append(
                        {"group": {"Fn::GetAtt": [logical_id, "GroupId"]}, "source": rule.get("SourceSecurityGroupId")}
                    )
    return found


def test_platform_security_group_and_fsx_are_iconnectable_in_aws_cdk_lib_calls(user_stack):
    stack, platform, template = user_stack["stack"], user_stack["platform"], user_stack["template"]
    nodes = _logical_id(stack, platform.security_group)
    bastion = _logical_id(stack, stack.node.find_child("Bastion"))
    other = _logical_id(stack, user_stack["group"].security_group)

    def gid(logical_id: str) -> dict:
        return {"Fn::GetAtt": [logical_id, "GroupId"]}

    assert {"group": gid(nodes), "source": gid(bastion)} in _ingress(template, 22)
    assert {"group": gid(bastion), "source": gid(nodes)} in _ingress(template, 8443)
    # FSx sits in the node group: the bastion reaches LNet there.
    assert {"group": gid(nodes), "source": gid(bastion)} in _ingress(template, 988)
    assert {"group": gid(other), "source": gid(bastion)} in _ingress(template, 9090)


def test_a_retained_file_system_keeps_its_rules_but_not_one_naming_a_group_the_stack_deletes(user_stack):
    """Review round 15 (R15T-M1): the FSx is retained, so the node group and its rules are. A rule naming
    the user's bastion, which the stack deletes, goes with the stack: kept, it would make the bastion's
    delete fail with DependencyViolation."""
    from hyperpod_cdk.rules import retention
    from hyperpod_cdk.rules.model import Templates

    stack, platform, template = user_stack["stack"], user_stack["platform"], user_stack["template"]
    nodes = {"Fn::GetAtt": [_logical_id(stack, platform.security_group), "GroupId"]}
    bastion = {"Fn::GetAtt": [_logical_id(stack, stack.node.find_child("Bastion")), "GroupId"]}
    assert template["Resources"][nodes["Fn::GetAtt"][0]]["DeletionPolicy"] == "Retain"
    kept: dict[tuple, str | None] = {}
    for body in template["Resources"].values():
        props = body.get("Properties", {})
        if body["Type"].startswith("AWS::EC2::SecurityGroup") and props.get("GroupId") == nodes:
            peer = (
                props.get("SourceSecurityGroupId")
                or props.get("DestinationSecurityGroupId")
                or props.get("SourcePrefixListId")
                or props.get("CidrIp")
            )
            peer_name = {str(nodes): "self", str(bastion): "bastion"}.get(
                str(peer), peer if isinstance(peer, str) else str(peer)
            )
            kept[(body["Type"][len("AWS::EC2::SecurityGroup") :], props.get("FromPort"), peer_name)] = body.get(
                "DeletionPolicy"
            )
    # What the file system needs (self and Lustre rules), and clients the stack does not own: kept.
    for rule in [
        ("Ingress", None, "self"),
        ("Egress", None, "self"),
        ("Ingress", 988, "self"),
        ("Ingress", 1018, "self"),
        ("Ingress", 988, SHARED_GROUP),
    ]:
        assert kept[rule] == "Retain", rule
    # aws-cdk-lib writes a CIDR rule inline: it is part of the retained group itself.
    group = template["Resources"][nodes["Fn::GetAtt"][0]]["Properties"]
    assert {"CidrIp": "10.9.0.0/16", "FromPort": 988} in [
        {k: r.get(k) for k in ("CidrIp", "FromPort")} for r in group.get("SecurityGroupIngress", [])
    ]
    # The user's bastion is deleted with the stack: its rules are not kept.
    assert kept[("Ingress", 22, "bastion")] is None
    assert kept[("Ingress", 988, "bastion")] is None
    # So is a rule naming a prefix list the stack deletes; one naming an outside prefix list is kept.
    office = {"Fn::GetAtt": [_logical_id(stack, stack.node.find_child("OfficeRanges")), "PrefixListId"]}
    assert kept[("Ingress", 2222, str(office))] is None
    assert kept[("Ingress", 2223, "pl-0123456789abcdef0")] == "Retain"
    lookup = {"Fn::GetAtt": [stack.resolve(stack.node.find_child("PrefixListLookup").logical_id), "PrefixListId"]}
    assert kept[("Ingress", 2224, str(lookup))] == "Retain"
    assert list(retention.retained_security_group_rules(Templates({"user": template}))) == []


def test_imported_file_system_connects_through_the_groups_it_was_given():
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2

    from hyperpod_cdk import HyperPodFsxLustre

    stack = cdk.Stack(cdk.App(), "Imp", env=cdk.Environment(account=ACCOUNT, region="us-west-2"))
    attrs = dict(
        file_system_id="fs-0123456789abcdef0",
        dns_name="fs-0123456789abcdef0.fsx.us-west-2.amazonaws.com",
        mount_name="abcdefgh",
    )
    bare = HyperPodFsxLustre.from_attributes(stack, "Bare", **attrs)
    with pytest.raises(HyperPodConfigError, match=r"^Imp/Bare: security_groups: imported without its security groups"):
        _ = bare.connections
    group = ec2.SecurityGroup.from_security_group_id(stack, "FsGroup", "sg-0123456789abcdef0", mutable=True)
    with_group = HyperPodFsxLustre.from_attributes(stack, "WithGroup", security_groups=[group], **attrs)
    peer = ec2.Peer.ipv4("10.9.0.0/16")
    ec2.Connections(peer=peer).allow_to_default_port(with_group, "clients to Lustre")
    template = cdk.assertions.Template.from_stack(stack).to_json()
    rules = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::EC2::SecurityGroupIngress"]
    assert [(r["GroupId"], r["FromPort"], r["CidrIp"]) for r in rules] == [("sg-0123456789abcdef0", 988, "10.9.0.0/16")]


# -- add_instance_group plans IPs like the config; config.account must be the stack's --------------

P5 = "ml.p5.48xlarge"  # 81 IPs per node on EKS


@pytest.fixture(scope="module")
def scope():
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2

    stack = cdk.Stack(cdk.App(), "User", env=cdk.Environment(account=ACCOUNT, region="us-west-2"))
    # A /16: 65,531 usable IPs. 700 p5 need 56,700 without headroom, 70,875 with the default 25%.
    subnet = ec2.Subnet.from_subnet_attributes(
        stack, "Big", subnet_id="subnet-0ccccccccccccccc1", ipv4_cidr_block="10.0.0.0/16"
    )
    sg = ec2.SecurityGroup.from_security_group_id(stack, "Sg", "sg-0123456789abcdef0")
    return {"stack": stack, "subnet": subnet, "sg": sg}


def _cluster(scope, construct_id: str, **overrides):
    from hyperpod_cdk import HyperPodCluster

    props = dict(
        cluster_name="team-a",
        eks_cluster_arn=f"arn:aws:eks:us-west-2:{ACCOUNT}:cluster/team-eks",
        instance_groups=[{"name": "cpu", "instance_type": "ml.m5.2xlarge", "instance_count": 2}],
        subnets_by_az_id={"usw2-az2": scope["subnet"]},
        default_az_id="usw2-az2",
        security_group=scope["sg"],
        execution_role_arn=f"arn:aws:iam::{ACCOUNT}:role/r",
        lifecycle_source_s3_uri="s3://b/p/",
    )
    props.update(overrides)
    return HyperPodCluster(scope["stack"], construct_id, **props)


def test_add_instance_group_plans_ips_with_the_headroom_the_config_uses(scope):
    p5 = {"name": "train", "instance_type": P5, "instance_count": 700}
    # The config refuses 700 p5 in a /16 subnet (25% headroom) ...
    data = yaml.safe_load((REPO / "hyperpod.yaml").read_text())
    data["network"] = {
        "availability_zone_ids": ["usw2-az2"],
        "existing": {
            "vpc_id": "vpc-0123456789abcdef0",
            "vpc_cidr": "10.0.0.0/8",
            "control_plane_subnet_ids": ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"],
            "hyperpod_subnets": {"usw2-az2": {"subnet_id": "subnet-0ccccccccccccccc1", "cidr": "10.0.0.0/16"}},
        },
    }
    data["hyperpod"]["instance_groups"].append(p5)
    with pytest.raises(HyperPodConfigError, match="does not fit"):
        parse_config(data)
    # ... and so does the construct, whether the group comes in the constructor or is added later.
    cluster = _cluster(scope, "Added")
    with pytest.raises(HyperPodConfigError, match=r"^User/Added: subnets_by_az_id\.usw2-az2: .*train.* does not fit"):
        cluster.add_instance_group(p5)
    assert [g.name for g in cluster.instance_groups] == ["cpu"]
    with pytest.raises(HyperPodConfigError, match="does not fit"):
        _cluster(scope, "Given", instance_groups=[p5])
    # Headroom 0 is a choice the caller makes, as network.ip_headroom_percent: 0 is in the config.
    relaxed = _cluster(scope, "Relaxed", ip_headroom_percent=0)
    assert relaxed.add_instance_group(p5).instance_count == 700
    with pytest.raises(HyperPodConfigError, match=r"^User/Bad: ip_headroom_percent: must be a whole number 0-400"):
        _cluster(scope, "Bad", ip_headroom_percent=-5)


def test_config_account_must_be_the_stack_account(scope):
    from hyperpod_cdk import HyperPodPlatform

    data = yaml.safe_load((REPO / "hyperpod.yaml").read_text())
    data["account"] = "222222222222"
    with pytest.raises(
        HyperPodConfigError, match=r"^User/P: config.account: '222222222222' but the stack deploys to 111111111111"
    ):
        HyperPodPlatform(scope["stack"], "P", config=parse_config(data))
    assert scope["stack"].node.try_find_child("P") is None


# -- lifecycle_hook: OnInitComplete and the bundled EKS script -------------------------------------


def test_config_refuses_on_init_complete_with_the_bundled_eks_script():
    data = yaml.safe_load((REPO / "examples" / "eks-scaling.yaml").read_text())
    index = next(i for i, g in enumerate(data["hyperpod"]["instance_groups"]) if g["name"] == "train")
    data["hyperpod"]["instance_groups"][index]["lifecycle_hook"] = "OnInitComplete"
    with pytest.raises(HyperPodConfigError) as caught:
        parse_config(data)
    assert caught.value.field == f"hyperpod.instance_groups[{index}](train).lifecycle_hook"
    assert "use OnCreate" in caught.value.message and "containerd and kubelet" in caught.value.message
    # The script it protects does refuse a kubelet directory with live mounts.
    script = (REPO / "lifecycle_scripts" / "eks" / "on_create.sh").read_text()
    assert "in use by live mounts" in script


def test_the_construct_renders_on_init_complete_for_your_own_scripts(scope):
    import aws_cdk as cdk

    group = {"name": "own", "instance_type": "ml.m5.2xlarge", "instance_count": 1, "lifecycle_hook": "OnInitComplete"}
    cluster = _cluster(scope, "OwnScripts", instance_groups=[group], on_create="after_init.sh")
    rendered = cdk.Stack.of(cluster).resolve(cluster.resource.instance_groups)
    assert rendered[0]["lifeCycleConfig"] == {"sourceS3Uri": "s3://b/p/", "onInitComplete": "after_init.sh"}
