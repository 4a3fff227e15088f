"""Template assertions on the default platform stack (one synth per session)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

_manifest_spec = importlib.util.spec_from_file_location(
    "synth_manifest_sets", Path(__file__).with_name("synth_manifest_sets.py")
)
manifest_sets_module = sys.modules.setdefault("synth_manifest_sets", importlib.util.module_from_spec(_manifest_spec))
_manifest_spec.loader.exec_module(manifest_sets_module)
manifest_resource = manifest_sets_module.manifest_resource
manifest_sets = manifest_sets_module.manifest_sets


def _logical_ids(platform, cfn_type):
    return set(platform.resources(cfn_type))


# ---------------------------------------------------------------- network


def test_vpc_has_secondary_cidr_for_hyperpod(platform):
    _, block = platform.one("AWS::EC2::VPCCidrBlock")
    assert block["Properties"]["CidrBlock"] == "10.1.0.0/16"
    _, vpc = platform.one("AWS::EC2::VPC")
    assert vpc["Properties"]["CidrBlock"] == "10.192.0.0/16"


def test_hyperpod_subnet_is_placed_by_az_id_and_private(platform):
    subnets = {
        k: v for k, v in platform.resources("AWS::EC2::Subnet").items() if v["Properties"]["CidrBlock"] == "10.1.0.0/16"
    }
    assert len(subnets) == 1
    ((logical_id, subnet),) = subnets.items()
    props = subnet["Properties"]
    assert props["AvailabilityZoneId"] == "usw2-az2"
    assert props["MapPublicIpOnLaunch"] is False
    # The subnet waits for the secondary CIDR block it lives in.
    block_id, _ = platform.one("AWS::EC2::VPCCidrBlock")
    assert block_id in subnet.get("DependsOn", [])


def test_control_plane_subnets_span_two_azs(platform):
    """By AZ ID (issue 18): the HyperPod AZ first, then the region's az1."""
    control_plane = [
        v["Properties"]
        for k, v in platform.resources("AWS::EC2::Subnet").items()
        if k.startswith("NetworkVpcControlPlane")
    ]
    assert len(control_plane) == 2
    assert [s["AvailabilityZoneId"] for s in control_plane] == ["usw2-az2", "usw2-az1"]
    assert not any("AvailabilityZone" in s for s in control_plane)


def test_hyperpod_route_goes_through_nat(platform):
    nat_ids = _logical_ids(platform, "AWS::EC2::NatGateway")
    assert len(nat_ids) == 1
    routes = [
        r["Properties"] for r in platform.resources("AWS::EC2::Route").values() if "NatGatewayId" in r["Properties"]
    ]
    assert routes and all(r["NatGatewayId"] == {"Ref": next(iter(nat_ids))} for r in routes)


def test_s3_gateway_endpoint_covers_every_private_route_table(platform):
    _, endpoint = platform.one("AWS::EC2::VPCEndpoint")
    props = endpoint["Properties"]
    assert props["VpcEndpointType"] == "Gateway"
    assert props["ServiceName"] == "com.amazonaws.us-west-2.s3"
    referenced = {ref["Ref"] for ref in props["RouteTableIds"]}
    hyperpod_tables = {
        k for k, v in platform.resources("AWS::EC2::RouteTable").items() if k.startswith("NetworkHyperPodRoutes")
    }
    assert hyperpod_tables and hyperpod_tables <= referenced
    assert len(referenced) == 3  # two control-plane tables + the HyperPod table


def test_flow_logs_to_retained_log_group(platform):
    _, flow_log = platform.one("AWS::EC2::FlowLog")
    assert flow_log["Properties"]["ResourceType"] == "VPC"
    group_id = flow_log["Properties"]["LogGroupName"]["Ref"]
    group = platform.template["Resources"][group_id]
    assert group["DeletionPolicy"] == "Retain" and group["UpdateReplacePolicy"] == "Retain"
    assert group["Properties"]["RetentionInDays"] == 365


# ---------------------------------------------------------------- security group


def _node_group_id(platform):
    groups = {
        k: v for k, v in platform.resources("AWS::EC2::SecurityGroup").items() if k.startswith("NodeSecurityGroup")
    }
    assert len(groups) == 1
    return next(iter(groups.items()))


def test_security_group_has_no_inline_self_reference(platform):
    group_id, group = _node_group_id(platform)
    text = json.dumps(group["Properties"])
    assert group_id not in text, "an inline self-reference is the circular-dependency bug"
    assert "SecurityGroupIngress" not in group["Properties"]
    # Only CDK's disallow-all placeholder is inline; it suppresses EC2's implicit allow-all egress.
    assert group["Properties"]["SecurityGroupEgress"] == [
        {
            "CidrIp": "255.255.255.255/32",
            "Description": "Disallow all traffic",
            "FromPort": 252,
            "IpProtocol": "icmp",
            "ToPort": 86,
        }
    ]


def test_efa_self_rules_both_directions_as_separate_resources(platform):
    group_id, _ = _node_group_id(platform)
    self_ref = {"Fn::GetAtt": [group_id, "GroupId"]}
    ingress = [r["Properties"] for r in platform.resources("AWS::EC2::SecurityGroupIngress").values()]
    egress = [r["Properties"] for r in platform.resources("AWS::EC2::SecurityGroupEgress").values()]
    assert any(r["IpProtocol"] == "-1" and r["SourceSecurityGroupId"] == self_ref for r in ingress)
    assert any(r["IpProtocol"] == "-1" and r.get("DestinationSecurityGroupId") == self_ref for r in egress)
    assert any(r["IpProtocol"] == "-1" and r.get("CidrIp") == "0.0.0.0/0" for r in egress)
    lustre = {
        (r["FromPort"], r["ToPort"])
        for r in ingress
        if r["IpProtocol"] == "tcp" and r["SourceSecurityGroupId"] == self_ref
    }
    assert lustre == {(988, 988), (1018, 1023)}
    # No rule opens ingress from the internet.
    assert not any(r.get("CidrIp") == "0.0.0.0/0" for r in ingress)


# ---------------------------------------------------------------- EKS


def _eks(platform):
    return platform.one("AWS::EKS::Cluster")


def test_eks_auth_mode_is_api_and_config_map(platform):
    _, cluster = _eks(platform)
    assert cluster["Properties"]["AccessConfig"]["AuthenticationMode"] == "API_AND_CONFIG_MAP"
    assert cluster["Properties"]["AccessConfig"]["BootstrapClusterCreatorAdminPermissions"] is False


def test_eks_logs_encryption_endpoint_and_tag(platform):
    _, cluster = _eks(platform)
    props = cluster["Properties"]
    assert sorted(props["Logging"]["ClusterLogging"]["EnabledTypes"], key=lambda t: t["Type"]) == [
        {"Type": t} for t in sorted(["api", "audit", "authenticator", "controllerManager", "scheduler"])
    ]
    assert props["EncryptionConfig"][0]["Resources"] == ["secrets"]
    vpc_config = props["ResourcesVpcConfig"]
    assert vpc_config["EndpointPrivateAccess"] is True
    assert vpc_config["EndpointPublicAccess"] is False
    assert {"Key": "SageMaker", "Value": "true"} in props["Tags"]
    assert props["Version"] == "1.35"


def test_eks_control_plane_log_group_is_precreated_and_retained(platform):
    groups = [
        g
        for g in platform.resources("AWS::Logs::LogGroup").values()
        if g["Properties"].get("LogGroupName") == "/aws/eks/hyperpod-demo-eks/cluster"
    ]
    assert len(groups) == 1
    assert groups[0]["DeletionPolicy"] == "Retain"


BASE_ADDONS = {"coredns", "eks-pod-identity-agent", "kube-proxy", "vpc-cni"}


def _addon_ids(platform, names=BASE_ADDONS):
    return {k for k, v in platform.resources("AWS::EKS::Addon").items() if v["Properties"]["AddonName"] in names}


def test_exactly_one_of_each_addon(platform):
    names = sorted(a["Properties"]["AddonName"] for a in platform.resources("AWS::EKS::Addon").values())
    assert names == sorted([*BASE_ADDONS, "cert-manager", "amazon-sagemaker-hyperpod-training-operator"])


def test_no_access_entry_for_the_execution_role(platform):
    exec_role_ids = {k for k in platform.resources("AWS::IAM::Role") if k.startswith("ExecutionRole")}
    for entry in platform.resources("AWS::EKS::AccessEntry").values():
        props = entry["Properties"]
        assert props.get("Type") != "HYPERPOD_LINUX"
        assert not any(role_id in json.dumps(props["PrincipalArn"]) for role_id in exec_role_ids)


def test_secrets_and_data_keys_rotate_and_are_retained(platform):
    keys = platform.resources("AWS::KMS::Key")
    assert len(keys) == 3  # EKS secrets, data (bucket + EBS), CloudWatch Logs
    for key in keys.values():
        assert key["Properties"]["EnableKeyRotation"] is True
        assert key["DeletionPolicy"] == "Retain" and key["UpdateReplacePolicy"] == "Retain"


# ---------------------------------------------------------------- IAM


def _exec_role(platform):
    roles = {k: v for k, v in platform.resources("AWS::IAM::Role").items() if k.startswith("ExecutionRole")}
    assert len(roles) == 1
    return next(iter(roles.items()))


def _statements_for(platform, role_id):
    statements = []
    for policy in platform.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _actions(statement):
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else actions


def test_execution_role_trust_and_managed_policy(platform):
    _, role = _exec_role(platform)
    props = role["Properties"]
    assert props["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}}
    ]
    assert "AmazonSageMakerClusterInstanceRolePolicy" in json.dumps(props["ManagedPolicyArns"])


def test_execution_role_scopes_eni_creation_to_hyperpod_subnet_and_group(platform):
    role_id, _ = _exec_role(platform)
    statements = _statements_for(platform, role_id)
    create = [s for s in statements if _actions(s) == ["ec2:CreateNetworkInterface"]]
    assert len(create) == 1
    resources = json.dumps(create[0]["Resource"])
    assert "NetworkHyperPodSubnetusw2az2" in resources
    assert "NodeSecurityGroup" in resources
    assert '"*"' not in resources


def test_execution_role_has_pod_identity_ecr_alarms_and_bucket_read(platform):
    role_id, _ = _exec_role(platform)
    statements = _statements_for(platform, role_id)
    by_action = {a: s for s in statements for a in _actions(s)}
    cluster_id, _ = _eks(platform)
    assert by_action["eks-auth:AssumeRoleForPodIdentity"]["Resource"] == {"Fn::GetAtt": [cluster_id, "Arn"]}
    for action in (
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "ecr:GetAuthorizationToken",
        "cloudwatch:DescribeAlarms",
        "ec2:DeleteNetworkInterface",
        "ec2:DescribeSubnets",
    ):
        assert action in by_action, action
    bucket_id = next(k for k in platform.resources("AWS::S3::Bucket") if k.startswith("LifecycleScripts"))
    reads = [s for s in statements if "s3:GetObject*" in _actions(s)]
    assert reads and bucket_id in json.dumps(reads)
    assert not any(a.startswith("s3:Put") or a.startswith("s3:Delete") for s in statements for a in _actions(s))


# ---------------------------------------------------------------- lifecycle scripts


def test_lifecycle_bucket_is_locked_down_and_retained(platform):
    bucket_id = next(k for k in platform.resources("AWS::S3::Bucket") if k.startswith("LifecycleScripts"))
    bucket = platform.template["Resources"][bucket_id]
    props = bucket["Properties"]
    assert bucket["DeletionPolicy"] == "Retain"
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert sse["SSEAlgorithm"] == "aws:kms"
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    policies = [
        p
        for p in platform.resources("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    denies = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)


def _upload_spec(function: dict) -> str | None:
    """The upload function's spec as its template text (deploy-time parts joined as JSON)."""
    value = function["Properties"].get("Environment", {}).get("Variables", {}).get("LIFECYCLE_UPLOAD_SPEC")
    if value is None:
        return None
    return (
        value
        if isinstance(value, str)
        else "".join(p if isinstance(p, str) else json.dumps(p) for p in value["Fn::Join"][1])
    )


def test_lifecycle_config_points_at_the_exact_uploaded_content(platform):
    _, deployment = platform.one("Custom::HyperPodLifecycleScripts")
    prefix = deployment["Properties"]["DestinationBucketKeyPrefix"]
    assert prefix.startswith("lifecycle/") and len(prefix.split("/")[1]) == 64  # sha256 asset hash
    # The function copies what its environment names (review round 15, H2), the same objects and prefix.
    (function,) = (f for f in platform.resources("AWS::Lambda::Function").values() if _upload_spec(f) is not None)
    spec = _upload_spec(function)
    assert spec is not None and spec.endswith(f'"prefix":"{prefix}"}}')
    assert all(key in spec for key in deployment["Properties"]["SourceObjectKeys"])
    _, cluster = platform.one("AWS::SageMaker::Cluster")
    for group in cluster["Properties"]["InstanceGroups"]:
        config = group["LifeCycleConfig"]
        assert config["OnCreate"] == "on_create.sh"
        assert prefix in json.dumps(config["SourceS3Uri"])
        assert "github" not in json.dumps(config).lower()
    # The assets are the repo's lifecycle_scripts/eks and common folders, copied as-is (no Docker bundling).
    eks_key, common_key = (k.removesuffix(".zip") for k in deployment["Properties"]["SourceObjectKeys"])
    assert (platform.outdir / f"asset.{eks_key}" / "on_create.sh").is_file()
    assert (platform.outdir / f"asset.{common_key}" / "lcs_common.sh").is_file()
    assets = json.loads(next(platform.outdir.glob("*.assets.json")).read_text())
    assert not assets.get("dockerImages")


# ---------------------------------------------------------------- HyperPod cluster


def _hyperpod(platform):
    return platform.one("AWS::SageMaker::Cluster")


def test_hyperpod_cluster_core_properties(platform):
    _, cluster = _hyperpod(platform)
    props = cluster["Properties"]
    cluster_id, _ = _eks(platform)
    assert props["ClusterName"] == "hyperpod-demo"
    assert props["Orchestrator"] == {"Eks": {"ClusterArn": {"Fn::GetAtt": [cluster_id, "Arn"]}}}
    assert props["NodeRecovery"] == "Automatic"
    assert props["NodeProvisioningMode"] == "Continuous"
    assert {"Key": "SageMaker", "Value": "true"} in props["Tags"]
    assert len(props["VpcConfig"]["Subnets"]) == 1


def test_instance_groups_encrypted_volumes_and_health_checks(platform):
    _, cluster = _hyperpod(platform)
    groups = {g["InstanceGroupName"]: g for g in cluster["Properties"]["InstanceGroups"]}
    assert set(groups) == {"system", "gpu"}
    data_key = next(k for k in platform.resources("AWS::KMS::Key") if k.startswith("DataKey"))
    for group in groups.values():
        ebs = group["InstanceStorageConfigs"][0]["EbsVolumeConfig"]
        assert ebs["VolumeKmsKeyId"] == {"Fn::GetAtt": [data_key, "Arn"]}
        assert group["ThreadsPerCore"] == 1
        assert "OverrideVpcConfig" not in group
    assert groups["gpu"]["OnStartDeepHealthChecks"] == ["InstanceStress", "InstanceConnectivity"]
    assert "OnStartDeepHealthChecks" not in groups["system"]  # CPU types do not support them
    assert groups["gpu"]["InstanceType"] == "ml.g5.8xlarge"
    assert groups["gpu"]["KubernetesConfig"]["Labels"] == {"hyperpod-cdk/role": "training"}


def test_hyperpod_waits_for_base_addons_helm_dependencies_and_the_role_policy(platform):
    _, cluster = _hyperpod(platform)
    depends = set(cluster.get("DependsOn", []))
    addon_ids = _addon_ids(platform)
    assert len(addon_ids) == 4 and addon_ids <= depends
    helm_id, _ = platform.one("Custom::HyperPodHelmDependencies")
    assert helm_id in depends
    policy_ids = {k for k in platform.resources("AWS::IAM::Policy") if k.startswith("ExecutionRolePolicy")}
    assert policy_ids <= depends


@pytest.mark.parametrize("output", ["EksClusterName", "HyperPodClusterArn", "LifecycleScriptsUri", "ExecutionRoleArn"])
def test_outputs(platform, output):
    assert output in platform.template["Outputs"]


# ---------------------------------------------------------------- Kubernetes side (issue 3 wiring)


def _depends(platform, logical_id):
    return set(platform.template["Resources"][logical_id].get("DependsOn", []))


def test_addon_order_pod_identity_cert_manager_association_operator(platform):
    (agent,) = _addon_ids(platform, {"eks-pod-identity-agent"})
    (cert_manager,) = _addon_ids(platform, {"cert-manager"})
    (operator,) = _addon_ids(platform, {"amazon-sagemaker-hyperpod-training-operator"})
    association_id, association = platform.one("AWS::EKS::PodIdentityAssociation")
    assert association["Properties"]["Namespace"] == "aws-hyperpod"
    assert association["Properties"]["ServiceAccount"] == "hp-training-operator-controller-manager"
    assert agent in _depends(platform, cert_manager)
    assert cert_manager in _depends(platform, association_id)
    assert association_id in _depends(platform, operator)


def test_charts_are_applied_after_what_they_need(platform):
    sets = manifest_sets(platform.template, platform.outdir)
    by_kind = {manifest_resource(platform.template, name)[0]: json.dumps(entry) for name, entry in sets.items()}
    # aws-cdk-lib's kubectl provider (any manifest an event carries, as cluster-admin) is gone.
    assert not [v for v in platform.template["Resources"].values() if v["Type"].startswith("Custom::AWSCDK-EKS")]
    issuers = [k for k, text in by_kind.items() if "ClusterIssuer" in text]
    operator = [k for k, text in by_kind.items() if "hyperpod-ns-training" in text]
    assert len(issuers) == 1 and len(operator) == 1
    (cert_manager,) = _addon_ids(platform, {"cert-manager"})
    # Issuers need the cert-manager webhook: after the gate that waits for it, after the add-on.
    gates = {v["Properties"]["Check"]: k for k, v in platform.resources("Custom::HyperPodReadiness").items()}
    assert gates["cert-manager"] in _depends(platform, issuers[0])
    assert cert_manager in _depends(platform, gates["cert-manager"])
    hyperpod_id, _ = _hyperpod(platform)
    assert hyperpod_id in _depends(platform, operator[0])


def test_every_lambda_logs_to_a_kept_encrypted_group(platform):
    # Issue 18 item 14: aws-cdk-lib's own functions (kubectl handler, BucketDeployment) logged to default
    # groups with no retention and no key. Both are gone; the lifecycle upload function has its own group.
    resources = platform.template["Resources"]
    for logical_id, function in platform.resources("AWS::Lambda::Function").items():
        group = function["Properties"].get("LoggingConfig", {}).get("LogGroup")
        assert group is not None, f"{logical_id} logs to a default group"
        props = resources[group["Ref"]]["Properties"]
        assert props.get("RetentionInDays") and props.get("KmsKeyId"), logical_id
