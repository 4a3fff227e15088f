"""network.closed: examples/closed-network.yaml synthesized once (cdk-nag and strict validation on).

Done when: the endpoints exist, there is no NAT gateway or internet route, no security group of
the platform opens 0.0.0.0/0, and nothing in the template points at github.com.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hyperpod_cdk.config import load_config, parse_config
from hyperpod_cdk.errors import HyperPodConfigError

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "closed-network.yaml"
REQUIRED = {
    "ecr.api",
    "ecr.dkr",
    "sts",
    "logs",
    "monitoring",
    "ssm",
    "ssmmessages",
    "ec2messages",
    "eks",
    "eks-auth",
    "sagemaker.api",
}


@pytest.fixture(scope="module")
def closed(synth, tmp_path_factory):
    return synth(EXAMPLE, tmp_path_factory.mktemp("closed.out"))


def _service(endpoint: dict) -> str:
    name = endpoint["Properties"]["ServiceName"]
    text = (
        name if isinstance(name, str) else "".join(p if isinstance(p, str) else "<region>" for p in name["Fn::Join"][1])
    )
    return re.sub(r"^com\.amazonaws\.[^.]+\.", "", text.replace("com.amazonaws.<region>.", "com.amazonaws.r."))


def test_interface_endpoints_with_private_dns_in_the_control_plane_subnets(closed):
    endpoints = closed.resources("AWS::EC2::VPCEndpoint")
    interface = {_service(v): v for v in endpoints.values() if v["Properties"].get("VpcEndpointType") == "Interface"}
    assert set(interface) >= REQUIRED
    assert "ec2" in set(interface)  # the VPC CNI
    # R8P-M1: nothing in the VPC invokes Lambda (the in-VPC handlers call eks, sts and s3; the readiness
    # provider framework runs outside the VPC), so the endpoint would only be a way out.
    assert "lambda" not in set(interface)
    assert not {"aps-workspaces", "grafana-workspace"} & set(interface)  # observability is off here
    control_plane = {k for k in closed.resources("AWS::EC2::Subnet") if "ControlPlane" in k}
    groups = set()
    for endpoint in interface.values():
        props = endpoint["Properties"]
        assert props["PrivateDnsEnabled"] is True
        assert {s["Ref"] for s in props["SubnetIds"]} == control_plane
        groups |= {json.dumps(g) for g in props["SecurityGroupIds"]}
    (group,) = groups
    group_id = json.loads(group)["Fn::GetAtt"][0]
    ingress = closed.template["Resources"][group_id]["Properties"]["SecurityGroupIngress"]
    assert sorted((r["CidrIp"], r["FromPort"], r["ToPort"]) for r in ingress) == [
        ("10.1.0.0/16", 443, 443),
        ("10.192.0.0/16", 443, 443),
    ]  # primary and secondary (HyperPod) CIDRs


def test_s3_gateway_endpoint_on_every_route_table(closed):
    (gateway,) = (
        v
        for v in closed.resources("AWS::EC2::VPCEndpoint").values()
        if v["Properties"].get("VpcEndpointType") == "Gateway"
    )
    tables = {json.dumps({"Ref": k}) for k in closed.resources("AWS::EC2::RouteTable")}
    assert {json.dumps(t) for t in gateway["Properties"]["RouteTableIds"]} == tables and len(tables) == 3


def test_no_internet_gateway_nat_gateway_or_default_route(closed):
    for cfn_type in (
        "AWS::EC2::NatGateway",
        "AWS::EC2::InternetGateway",
        "AWS::EC2::VPCGatewayAttachment",
        "AWS::EC2::EIP",
        "AWS::EC2::Route",
        "AWS::EC2::EgressOnlyInternetGateway",
    ):
        assert closed.resources(cfn_type) == {}, cfn_type
    for subnet in closed.resources("AWS::EC2::Subnet").values():
        assert subnet["Properties"].get("MapPublicIpOnLaunch") in (None, False)


def test_no_security_group_of_the_platform_opens_the_internet(closed):
    rules = list(closed.resources("AWS::EC2::SecurityGroupEgress").values())
    for group in closed.resources("AWS::EC2::SecurityGroup").values():
        rules += [{"Properties": r} for r in group["Properties"].get("SecurityGroupEgress", [])]
    assert rules
    for rule in rules:
        assert rule["Properties"].get("CidrIp") not in ("0.0.0.0/0",), rule
        assert rule["Properties"].get("CidrIpv6") != "::/0", rule


def test_nodes_reach_the_endpoints_and_s3_over_https_only(closed):
    node_egress = {
        k: v["Properties"]
        for k, v in closed.resources("AWS::EC2::SecurityGroupEgress").items()
        if v["Properties"]["GroupId"]["Fn::GetAtt"][0].startswith("NodeSecurityGroup")
    }
    https = {
        (p.get("CidrIp"), json.dumps(p.get("DestinationPrefixListId")))
        for p in node_egress.values()
        if p["IpProtocol"] == "tcp" and (p["FromPort"], p["ToPort"]) == (443, 443)
    }
    lookup_id, lookup = closed.one("Custom::AWS")
    assert https == {
        ("10.192.0.0/16", "null"),
        ("10.1.0.0/16", "null"),
        (None, json.dumps({"Fn::GetAtt": [lookup_id, "PrefixLists.0.PrefixListId"]})),
    }
    # The prefix-list id is read at deploy time (synth does no lookups).
    assert "describeManagedPrefixLists" in json.dumps(lookup["Properties"]["Create"])
    others = [p for p in node_egress.values() if p["IpProtocol"] != "tcp"]
    assert all("DestinationSecurityGroupId" in p for p in others)  # EFA: to the group itself only


def test_no_reference_to_github_and_the_chart_comes_from_s3(closed):
    text = json.dumps(closed.template)
    assert "github.com" not in text and "github.io" not in text and "quay.io" not in text
    ((helm_id, helm),) = closed.resources("Custom::HyperPodHelmDependencies").items()
    assert helm["Properties"]["SourceS3Uri"].startswith("s3://hyperpod-closed-artifacts-")
    assert "SourceUrlTemplate" not in helm["Properties"]


def test_in_vpc_callers_wait_for_the_endpoints(closed):
    endpoint_ids = {
        k
        for k, v in closed.resources("AWS::EC2::VPCEndpoint").items()
        if v["Properties"].get("VpcEndpointType") == "Interface"
    }
    ((helm_id, helm),) = closed.resources("Custom::HyperPodHelmDependencies").items()
    ((eks_id, eks),) = closed.resources("AWS::EKS::Cluster").items()
    cluster_id, cluster = closed.one("AWS::SageMaker::Cluster")
    for resource in (helm, eks, cluster):
        assert endpoint_ids <= set(resource.get("DependsOn", [])), resource["Type"]


def test_in_vpc_callers_and_the_cluster_wait_for_the_s3_gateway(closed):
    """R15P-L2: in a closed network S3 is reachable only through the gateway endpoint's routes, so every
    in-VPC handler (reads S3, answers CloudFormation's S3 URL) and the HyperPod cluster (nodes fetch the
    lifecycle scripts) has it in its dependency closure (DependsOn, Ref, GetAtt, Sub)."""
    from hyperpod_cdk.rules.dependencies import references

    resources = closed.template["Resources"]
    (gateway_id,) = (
        k
        for k, v in closed.resources("AWS::EC2::VPCEndpoint").items()
        if v["Properties"].get("VpcEndpointType") == "Gateway"
    )

    def closure(logical_id: str) -> set[str]:
        seen: set[str] = set()
        todo = [logical_id]
        while todo:
            body = resources[todo.pop()]
            depends = body.get("DependsOn", [])
            direct = ({depends} if isinstance(depends, str) else set(depends)) | references(body.get("Properties"))
            for name in direct & set(resources) - seen:
                seen.add(name)
                todo.append(name)
        return seen

    waiting = [
        k
        for k, v in resources.items()
        # The lifecycle upload function runs outside the VPC (public S3 API): it needs no gateway.
        if (v["Type"].startswith("Custom::HyperPod") and v["Type"] != "Custom::HyperPodLifecycleScripts")
        or v["Type"] in ("AWS::SageMaker::Cluster", "AWS::EKS::Cluster")
    ]
    assert {resources[k]["Type"] for k in waiting} >= {
        "AWS::SageMaker::Cluster",
        "Custom::HyperPodHelmDependencies",
        "Custom::HyperPodManifests",
        "Custom::HyperPodReadiness",
    }
    assert [k for k in waiting if gateway_id not in closure(k)] == []


def test_closed_template_passes_cfn_lint_and_nag(closed):
    from cfnlint.api import ManualArgs, lint

    matches = lint(json.dumps(closed.template), regions=["us-west-2"], config=ManualArgs(ignore_checks=["W3005"]))
    assert [f"{m.rule.id} {m.message}" for m in matches if m.rule.id[0] in "EW"] == []
    report = json.loads((closed.outdir / "validation-report.json").read_text())
    # The example names no cluster admin (it cannot know yours): only that warning is expected.
    assert all(
        p["conclusion"] == "success"
        and all(v["ruleName"] == "Annotation::hyperpod-cdk:noClusterAdmin" for v in p.get("violations", []))
        for p in report["pluginReports"]
    )


# --------------------------------------------------------------------------- config and services


def _example(**changes) -> dict:
    import yaml

    data = yaml.safe_load(EXAMPLE.read_text())
    for path, value in changes.items():
        node = data
        *parents, last = path.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return data


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"kubernetes__helm_dependencies__source_s3_uri": None},
            "kubernetes.helm_dependencies.source_s3_uri",
            "make chart-bundle",
        ),
        ({"network__nat_gateways": 1}, "network.nat_gateways", "no NAT gateway"),
        (
            {"network__closed": False, "network__endpoint_policies": "aws_default"},
            "network.endpoint_policies",
            "only for closed",
        ),
        ({"network__endpoint_policies": "none"}, "network.endpoint_policies", "aws_default"),
        (
            {
                "network__existing": {
                    "vpc_id": "vpc-0123456789abcdef0",
                    "vpc_cidr": "10.192.0.0/16",
                    "control_plane_subnet_ids": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
                    "route_table_id": "rtb-0123456789abcdef0",
                },
                "network__vpc_cidr": None,
            },
            "network.closed",
            "only for a VPC created here",
        ),
    ],
)
def test_closed_config_errors_name_the_field(changes, field, message):
    with pytest.raises(HyperPodConfigError) as error:
        parse_config(_example(**changes))
    assert error.value.field == field and message in error.value.message


def test_the_example_parses_and_the_default_stays_open():
    assert load_config(EXAMPLE).network.closed is True
    assert load_config(REPO / "hyperpod.yaml").network.closed is False


def test_observability_adds_amp_and_grafana_where_grafana_exists():
    from hyperpod_cdk.network.endpoints import closed_network_services

    on = {"kubernetes__addons": {"observability": {"enabled": True}}}
    services = closed_network_services(parse_config(_example(**on)))
    assert {"aps-workspaces", "grafana-workspace"} <= set(services)
    # us-west-1 has AMP but no Amazon Managed Grafana.
    west1 = parse_config(_example(**on)).model_copy(update={"region": "us-west-1"})
    services = closed_network_services(west1)
    assert "aps-workspaces" in services and "grafana-workspace" not in services
    slurm = closed_network_services(parse_config(yaml_slurm_closed()))
    assert not {"eks", "eks-auth", "lambda"} & set(slurm) and "sagemaker.api" in slurm


def yaml_slurm_closed() -> dict:
    import yaml

    data = yaml.safe_load((REPO / "examples" / "slurm.yaml").read_text())
    data["network"]["closed"] = True
    data["network"].pop("nat_gateways", None)
    return data


# The one download the scripts make: the FSx EFA client setup (AWS's base scripts do it too). It is
# off in a closed network (fsx_lustre.json "efa_client_download": false, pinned below).
EFA_CLIENT_DOWNLOAD = ("LCS_EFA_FSX_CLIENT_URL=", '"${LCS_EFA_FSX_CLIENT_URL}"')


def test_eks_lifecycle_scripts_download_nothing_from_the_internet():
    """A closed network's nodes run these scripts: they must not fetch anything from the internet."""
    offenders = []
    for script in sorted((REPO / "lifecycle_scripts").glob("*/*")):
        if script.parent.name not in ("eks", "common") or not script.is_file():
            continue
        for number, line in enumerate(script.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if any(marker in code for marker in EFA_CLIENT_DOWNLOAD):
                continue
            if re.search(r"\b(curl|wget|pip3? install|apt-get|yum|dnf)\b|https?://", code):
                offenders.append(f"{script.relative_to(REPO)}:{number}: {line.strip()}")
    assert offenders == [], "internet access in EKS lifecycle scripts (see docs/closed-network.md):\n" + "\n".join(
        offenders
    )


def test_closed_network_turns_the_efa_client_download_off(synth, tmp_path):
    """With FSx in a closed network, fsx_lustre.json tells the scripts not to download the EFA client."""
    import aws_cdk as cdk
    import yaml

    from hyperpod_cdk.config import parse_config
    from hyperpod_cdk.platform import HyperPodPlatform

    data = yaml.safe_load((REPO / "examples" / "closed-network.yaml").read_text())
    data["storage"] = {"fsx": {}}
    stack = cdk.Stack(cdk.App(outdir=str(tmp_path)), "ClosedFsx", env=cdk.Environment(region=data["region"]))
    platform = HyperPodPlatform(stack, "Platform", config=parse_config(data))
    assert platform.lifecycle.json_files["fsx_lustre.json"]["efa_client_download"] is False
    script = (REPO / "lifecycle_scripts" / "common" / "lcs_common.sh").read_text()
    assert '''grep -q '"efa_client_download": *false' "${fsx_json}"''' in script


def test_the_fsx_directory_job_pulls_from_the_mirror_with_kubernetes_fsx(synth, tmp_path):
    """Sixth review L2: with kubernetes.fsx (a file system made elsewhere) the directory Job kept the
    public python image, which a closed VPC cannot pull: every team's fileset mount then waited."""
    import importlib.util
    import sys

    import yaml

    helper = Path(__file__).with_name("synth_manifest_sets.py")
    if not helper.exists():  # its name before issue 21 renamed it
        helper = helper.with_name("manifest_sets.py")
    spec = importlib.util.spec_from_file_location(helper.stem, helper)
    manifest_sets = sys.modules.setdefault(helper.stem, importlib.util.module_from_spec(spec))
    spec.loader.exec_module(manifest_sets)
    data = yaml.safe_load(EXAMPLE.read_text())
    data["kubernetes"]["fsx"] = {
        "file_system_id": "fs-0123456789abcdef0",
        "dns_name": "fs-0123456789abcdef0.fsx.us-west-2.amazonaws.com",
        "mount_name": "abcdefgh",
    }
    config = tmp_path / "closed-fsx.yaml"
    config.write_text(yaml.safe_dump(data))
    out = synth(config, tmp_path / "out", nag=False)
    jobs = [o for o in manifest_sets.resolved_objects(out.template, out.outdir, "OperatorChart") if o["kind"] == "Job"]
    assert jobs
    for job in jobs:
        (container,) = job["spec"]["template"]["spec"]["containers"]
        assert container["image"] == f"{data['kubernetes']['image_mirror']}/docker/library/python:3.12-slim"


# Review round 8 (R8P-M1): the endpoints carry policies, so data cannot leave for another account.
ACCOUNT = {"Ref": "AWS::AccountId"}


def _statements(endpoint: dict) -> list[dict]:
    policy = endpoint["Properties"].get("PolicyDocument")
    assert policy is not None, "the endpoint keeps AWS's full-access default policy"
    return policy["Statement"]


def _gateway(closed) -> dict:
    (gateway,) = (
        v
        for v in closed.resources("AWS::EC2::VPCEndpoint").values()
        if v["Properties"].get("VpcEndpointType") == "Gateway"
    )
    return gateway


def _bucket(arn: dict) -> str:
    """``prod-<region>-starport-layer-bucket/*`` from the synthesized Fn::Join."""
    parts = arn["Fn::Join"][1]
    text = "".join(
        p if isinstance(p, str) else "<partition>" if p == {"Ref": "AWS::Partition"} else "<region>" for p in parts
    )
    return text.removeprefix("arn:<partition>:s3:::")


def test_s3_gateway_allows_this_accounts_buckets_and_named_aws_buckets_only(closed):
    statements = {s["Sid"]: s for s in _statements(_gateway(closed))}
    assert set(statements) == {
        "AllowThisAccountsBuckets",
        "AllowReadsOfAwsOwnedBuckets",
        "AllowCloudFormationResponses",
        "AllowAwsServicePrincipals",
    }
    own = statements["AllowThisAccountsBuckets"]
    assert own["Condition"] == {"StringEquals": {"s3:ResourceAccount": ACCOUNT}} and own["Action"] == "*"
    assert statements["AllowAwsServicePrincipals"]["Condition"] == {"Bool": {"aws:PrincipalIsAWSService": "true"}}
    # Every statement without a condition names its buckets and one action: nothing else is open.
    for statement in statements.values():
        if "Condition" not in statement:
            assert statement["Action"] in ("s3:GetObject", "s3:PutObject") and statement["Resource"] != "*"
    reads = {_bucket(r) for r in statements["AllowReadsOfAwsOwnedBuckets"]["Resource"]}
    assert "prod-<region>-starport-layer-bucket/*" in reads  # ECR image layers
    assert {"al2023-repos-<region>-de612dc2/*", "aws-ssm-<region>/*", "amazon-ssm-packages-<region>/*"} <= reads
    writes = statements["AllowCloudFormationResponses"]
    assert writes["Action"] == "s3:PutObject"
    # The in-VPC handlers answer CloudFormation through the presigned URL of its response bucket,
    # whose name carries the region without dashes.
    (custom, wait) = writes["Resource"]
    assert custom["Fn::Join"][1][2].endswith(":s3:::cloudformation-custom-resource-response-")
    assert custom["Fn::Join"][1][3] == {"Fn::Join": ["", {"Fn::Split": ["-", {"Ref": "AWS::Region"}]}]}
    assert _bucket(wait) == "cloudformation-waitcondition-<region>/*"


def test_interface_endpoints_admit_this_account_only(closed):
    from hyperpod_cdk.network.endpoint_policies import DEFAULT_POLICY_SERVICES, PERIMETER_SERVICES

    endpoints = {
        _service(v): v
        for v in closed.resources("AWS::EC2::VPCEndpoint").values()
        if v["Properties"].get("VpcEndpointType") == "Interface"
    }
    policed = set(endpoints) & PERIMETER_SERVICES
    assert policed >= {"ec2", "ecr.api", "ecr.dkr", "sts", "logs", "monitoring", "sagemaker.api", "eks"}
    for service in policed:
        statements = {s["Sid"]: s for s in _statements(endpoints[service])}
        assert statements["AllowThisAccountsPrincipals"]["Condition"] == {
            "StringEquals": {"aws:PrincipalAccount": ACCOUNT}
        }
        assert statements["AllowRequestsToThisAccountsResources"]["Condition"] == {
            "StringEquals": {"aws:ResourceAccount": ACCOUNT}
        }
        # No statement allows without a condition: another account's keys on another account's
        # resources match none of them.
        assert all(s.get("Condition") for s in statements.values()), service
    sts = {s["Sid"]: s for s in _statements(endpoints["sts"])}
    assert sts["AllowWebIdentitiesToThisAccountsRoles"]["Action"] == "sts:AssumeRoleWithWebIdentity"
    # The rest keep AWS's default policy for a documented reason (docs/security-posture.md, round 8).
    for service in set(endpoints) - PERIMETER_SERVICES:
        assert service in DEFAULT_POLICY_SERVICES, service
        assert "PolicyDocument" not in endpoints[service]["Properties"], service


def test_the_open_networks_s3_gateway_keeps_the_default_policy(platform):
    """The open network reaches the internet through NAT anyway; a bucket perimeter there would only
    break reads of other accounts' buckets (datasets) without closing anything."""
    (gateway,) = (
        v
        for v in platform.resources("AWS::EC2::VPCEndpoint").values()
        if v["Properties"].get("VpcEndpointType") == "Gateway"
    )
    assert "PolicyDocument" not in gateway["Properties"]


def test_the_aws_default_escape_hatch_leaves_every_endpoint_on_aws_s_policy(tmp_path):
    """network.endpoint_policies: aws_default: if a node needs an AWS-owned bucket the perimeter does not
    list, the closed network can go back to AWS's full-access policies without leaving the config."""
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from hyperpod_cdk.network.endpoint_policies import PERIMETER_SERVICES
    from hyperpod_cdk.platform import HyperPodPlatform

    data = _example(network__endpoint_policies="aws_default")
    stack = cdk.Stack(cdk.App(outdir=str(tmp_path)), "ClosedOpenPolicies", env=cdk.Environment(region=data["region"]))
    HyperPodPlatform(stack, "Platform", config=parse_config(data))
    endpoints = Template.from_stack(stack).find_resources("AWS::EC2::VPCEndpoint")
    assert len(endpoints) > len(REQUIRED)
    # Written out, not dropped: an existing endpoint may keep a removed policy (review round 10, L1).
    full_access = [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]
    for endpoint in endpoints.values():
        document = endpoint["Properties"].get("PolicyDocument")
        if endpoint["Properties"].get("VpcEndpointType") == "Gateway" or _service(endpoint) in PERIMETER_SERVICES:
            assert document is not None and document["Statement"] == full_access, _service(endpoint)
        else:
            assert document is None, _service(endpoint)


def test_an_endpoint_a_user_adds_can_take_the_same_perimeter():
    """Round 9 L4: the docs pointed users adding `sqs` or `kms` at interface_endpoint_policy, which
    returns None for every service the platform does not create itself."""
    from hyperpod_cdk.network.endpoint_policies import account_perimeter_policy, interface_endpoint_policy

    assert interface_endpoint_policy("sqs") is None
    sids = [s["Sid"] for s in account_perimeter_policy("sqs")["Statement"]]
    assert sids == ["AllowThisAccountsPrincipals", "AllowRequestsToThisAccountsResources", "AllowAwsServicePrincipals"]
    assert account_perimeter_policy("ecr.api") == interface_endpoint_policy("ecr.api")
    doc = (REPO / "docs" / "closed-network.md").read_text()
    assert "account_perimeter_policy(service)" in doc and "endpoint_policies: aws_default" in doc


def test_every_lambda_of_the_closed_network_logs_to_a_kept_encrypted_group(closed):
    """R19P-L2: the S3 prefix-list lookup (aws-cdk-lib's AwsCustomResource singleton) logged to Lambda's
    default group, with no retention and no key."""
    resources = closed.template["Resources"]
    functions = {k: v for k, v in resources.items() if v["Type"] == "AWS::Lambda::Function"}
    assert any(k.startswith("AWS679f53fac002430cb0da5b7982bd2287") for k in functions)
    for logical_id, function in functions.items():
        group = function["Properties"].get("LoggingConfig", {}).get("LogGroup")
        assert group is not None, f"{logical_id} logs to a default group"
        body = resources[group["Ref"]]
        assert body["Properties"].get("RetentionInDays") and body["Properties"].get("KmsKeyId"), logical_id
        assert body["DeletionPolicy"] == "Retain", logical_id
