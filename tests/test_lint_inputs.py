"""`hyperpod-cdk lint` inputs and command: loaders for every input kind, the CLI outputs, --live (Stubber)."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
from pathlib import Path

import pytest

from hyperpod_cdk.cli.main import main
from hyperpod_cdk.rules.catalog import check
from hyperpod_cdk.rules.cfn_template import parse_template, resolve_template
from hyperpod_cdk.rules.inputs import (
    CDK_OUT,
    CLOUDFORMATION,
    CREATE_CLUSTER,
    TERRAFORM,
    UPDATE_CLUSTER,
    LintInputError,
    load,
    load_data,
)
from hyperpod_cdk.rules.model import NOT_CHECKED
from hyperpod_cdk.specs import kubernetes_versions as kv

_spec = importlib.util.spec_from_file_location("cli_fixtures_lint", Path(__file__).with_name("cli_fixtures.py"))
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)
ACCOUNT, clients, deny, set_fake_aws_env, stubbed = fx.ACCOUNT, fx.clients, fx.deny, fx.set_fake_aws_env, fx.stubbed

TEMPLATE = """\
AWSTemplateFormatVersion: 2010-09-09
Parameters:
  Continuous: {Type: String, Default: "true", AllowedValues: ["true", "false"]}
  GpuType: {Type: String, Default: ml.p5.48xlarge}
  GpuCount: {Type: Number, Default: 2}
  Subnets: {Type: CommaDelimitedList, Default: "subnet-1,subnet-2"}
  Mystery: {Type: String}
Conditions:
  IsContinuous: !Equals [!Ref Continuous, "true"]
  HasMystery: !Not [!Equals [!Ref Mystery, ""]]
  Both: !And [!Condition IsContinuous, !Not [!Condition IsContinuous]]
Mappings:
  Sizes: {us-west-2: {Volume: 500}}
Resources:
  Extra:
    Type: AWS::SNS::Topic
    Condition: Both
  Maybe:
    Type: AWS::SNS::Topic
    Condition: HasMystery
  Cluster:
    Type: AWS::SageMaker::Cluster
    Properties:
      ClusterName: !Sub "${AWS::StackName}-hp"
      NodeProvisioningMode: !If [IsContinuous, Continuous, !Ref AWS::NoValue]
      NodeRecovery: Automatic
      Orchestrator:
        Eks: {ClusterArn: !Sub "arn:${AWS::Partition}:eks:${AWS::Region}:${AWS::AccountId}:cluster/eks"}
      VpcConfig:
        SecurityGroupIds: [!GetAtt Sg.GroupId]
        Subnets: !Ref Subnets
      InstanceGroups:
        - InstanceGroupName: gpu
          InstanceType: !Ref GpuType
          InstanceCount: !Ref GpuCount
          ExecutionRole: !Join ["", ["arn:aws:iam::", !Ref "AWS::AccountId", ":role/x"]]
          LifeCycleConfig: {SourceS3Uri: !Sub "s3://${AWS::Region}-bucket/lcs", OnCreate: on_create.sh}
          OnStartDeepHealthChecks: !If [HasMystery, [InstanceStress], !Ref AWS::NoValue]
          InstanceStorageConfigs:
            - EbsVolumeConfig:
                VolumeSizeInGB: !FindInMap [Sizes, !Ref "AWS::Region", Volume]
                VolumeKmsKeyId: !Select [0, !Split [",", "key-1,key-2"]]
  Sg:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: x
      VpcId: vpc-1
      SecurityGroupIngress: [{IpProtocol: "-1", SourceSecurityGroupId: !Ref Sg}]
      SecurityGroupEgress: [{IpProtocol: "-1", DestinationSecurityGroupId: !GetAtt Sg.GroupId}]
"""


@pytest.fixture(autouse=True)
def _pin_today(monkeypatch):
    monkeypatch.setattr(kv, "today", lambda: dt.date(2026, 12, 6))


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- CloudFormation -------------------------------------------------------------------------------


def test_short_form_intrinsics_parse_to_long_form():
    template = parse_template(TEMPLATE)
    props = template["Resources"]["Cluster"]["Properties"]
    assert props["VpcConfig"]["SecurityGroupIds"] == [{"Fn::GetAtt": ["Sg", "GroupId"]}]
    assert props["NodeProvisioningMode"] == {"Fn::If": ["IsContinuous", "Continuous", {"Ref": "AWS::NoValue"}]}
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"  # a date stays text


def test_parameters_defaults_conditions_and_functions_are_resolved():
    resolved = resolve_template(parse_template(TEMPLATE), {}, "us-west-2")
    resources = resolved.template["Resources"]
    props = resources["Cluster"]["Properties"]
    group = props["InstanceGroups"][0]
    assert props["NodeProvisioningMode"] == "Continuous"
    assert props["VpcConfig"]["Subnets"] == ["subnet-1", "subnet-2"]
    assert group["InstanceType"] == "ml.p5.48xlarge" and group["InstanceCount"] == "2"
    assert group["LifeCycleConfig"]["SourceS3Uri"] == "s3://us-west-2-bucket/lcs"
    assert group["InstanceStorageConfigs"][0]["EbsVolumeConfig"] == {"VolumeSizeInGB": 500, "VolumeKmsKeyId": "key-1"}
    # Unknown offline: kept as the intrinsic, never guessed.
    assert props["ClusterName"] == {"Fn::Sub": "${AWS::StackName}-hp"}
    assert "Fn::Join" in group["ExecutionRole"]
    assert group["OnStartDeepHealthChecks"]["Fn::If"][0] == "HasMystery"
    assert "Extra" not in resources and resolved.dropped == ["Extra"]
    whys = dict(resolved.unresolved)
    assert "condition HasMystery" in whys["Resources/Maybe"]
    assert "condition HasMystery" in whys["Resources/Cluster/Properties/InstanceGroups/0/OnStartDeepHealthChecks"]


def test_given_parameters_win_over_defaults(tmp_path):
    path = _write(tmp_path, "t.yaml", TEMPLATE)
    lint_input = load(path, parameters={"Continuous": "false", "Mystery": "x", "NotDeclared": "1"}, region="us-west-2")
    assert lint_input.kind == CLOUDFORMATION
    props = lint_input.templates.templates[str(path)]["Resources"]["Cluster"]["Properties"]
    assert "NodeProvisioningMode" not in props
    assert props["InstanceGroups"][0]["OnStartDeepHealthChecks"] == ["InstanceStress"]
    # the key without Continuous; the only group now runs deep health checks
    assert {f.rule_id for f in check(lint_input.templates, kinds=("deploy",))} == {"HyperPod-KMS1", "HyperPod-SYS1"}


def test_json_templates_and_unknown_conditions_are_reported(tmp_path):
    path = _write(tmp_path, "t.json", json.dumps(parse_template(TEMPLATE)))
    lint_input = load(path)
    assert [where for _, where, _ in lint_input.unresolved] == [
        "Resources/Maybe",
        "Resources/Cluster/Properties/InstanceGroups/0/OnStartDeepHealthChecks",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [", "not valid JSON or YAML"),
        ("- 1\n- 2\n", "a template is a mapping"),
        ('{"Something": 1}', "not a CloudFormation template"),
    ],
)
def test_unreadable_inputs_are_one_line(tmp_path, text, message):
    with pytest.raises(LintInputError, match=message):
        load(_write(tmp_path, "bad.yaml", text))
    with pytest.raises(LintInputError, match="no such file"):
        load(tmp_path / "missing.yaml")


# --- CreateCluster / UpdateCluster ----------------------------------------------------------------

REQUEST = {
    "ClusterName": "ml-cluster",
    "Orchestrator": {"Eks": {"ClusterArn": f"arn:aws:eks:us-west-2:{ACCOUNT}:cluster/eks"}},
    "InstanceGroups": [
        {
            "InstanceGroupName": "gpu",
            "InstanceType": "ml.g5.8xlarge",
            "InstanceCount": 1,
            "ExecutionRole": f"arn:aws:iam::{ACCOUNT}:role/x",
            "OnStartDeepHealthChecks": ["InstanceStress"],
            "LifeCycleConfig": {"SourceS3Uri": "s3://sagemaker-b/lcs/", "OnCreate": "on_create.sh"},
            "InstanceStorageConfigs": [{"EbsVolumeConfig": {"VolumeSizeInGB": 100, "VolumeKmsKeyId": "k"}}],
        }
    ],
    "VpcConfig": {"SecurityGroupIds": ["sg-0123"], "Subnets": ["subnet-0123"]},
    "NodeRecovery": "Automatic",
}


def test_create_cluster_request_becomes_the_cluster_resource():
    lint_input = load_data(REQUEST, "cluster-config.json", region="us-west-2")
    assert lint_input.kind == CREATE_CLUSTER
    findings = check(lint_input.templates, kinds=("deploy",), include_not_checked=True)
    by_rule = {f.rule_id: f for f in findings}
    assert by_rule["HyperPod-KMS1"].logical_id == "ml-cluster"
    assert by_rule["HyperPod-SYS1"].severity is None  # the only group runs deep health checks
    assert by_rule["HyperPod-EFA1"].severity == NOT_CHECKED  # sg-0123's rules live elsewhere


def test_update_cluster_request_is_partial():
    """UpdateCluster lists groups, not the orchestrator: no system-pod or Slurm-lifecycle verdicts on it."""
    update = {
        "ClusterName": "ml-cluster",
        "InstanceGroups": [
            {
                "InstanceGroupName": "gpu",
                "InstanceType": "ml.g5.8xlarge",
                "InstanceCount": 4,
                "ExecutionRole": "arn:aws:iam::1:role/x",
                "OnStartDeepHealthChecks": ["InstanceStress"],
            }
        ],
    }
    lint_input = load_data(update, "update.json", region="us-west-2")
    assert lint_input.kind == UPDATE_CLUSTER
    assert check(lint_input.templates, kinds=("deploy",), include_not_checked=True) == []


# --- cdk.out --------------------------------------------------------------------------------------


def test_cdk_out_reads_every_template_and_the_region(tmp_path):
    out = tmp_path / "cdk.out"
    (out / "assembly-Stage").mkdir(parents=True)
    template = {"Resources": {"Cluster": {"Type": "AWS::SageMaker::Cluster", "Properties": REQUEST | {}}}}
    del template["Resources"]["Cluster"]["Properties"]["ClusterName"]
    (out / "assembly-Stage" / "Stage-Hp.template.json").write_text(json.dumps(template))
    (out / "manifest.json").write_text(
        json.dumps(
            {"artifacts": {"Hp": {"type": "aws:cloudformation:stack", "environment": f"aws://{ACCOUNT}/eu-central-2"}}}
        )
    )
    lint_input = load(out)
    assert lint_input.kind == CDK_OUT and lint_input.templates.region == "eu-central-2"
    # ml.g5.8xlarge is not in the vendored eu-central-2 list: the manifest's region reached the rules.
    rules = {f.rule_id for f in check(lint_input.templates, kinds=("deploy",))}
    assert "HyperPod-TYPE1" in rules
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LintInputError, match="run `cdk synth`"):
        load(empty)


# --- Terraform ------------------------------------------------------------------------------------


def _tf(resources: list[dict], key: str = "values") -> dict:
    return {
        "format_version": "1.0",
        key: {
            "root_module": {
                "resources": resources[:1],
                "child_modules": [{"address": "module.m", "resources": resources[1:]}],
            }
        },
    }


def test_awscc_sagemaker_cluster_snake_case_maps_to_the_cloudformation_shape():
    cluster = {
        "address": "awscc_sagemaker_cluster.hp",
        "mode": "managed",
        "type": "awscc_sagemaker_cluster",
        "name": "hp",
        "values": {
            "cluster_name": "hp",
            "node_recovery": "Automatic",
            "node_provisioning_mode": None,
            "orchestrator": {"eks": {"cluster_arn": "arn:aws:eks:us-west-2:1:cluster/e"}},
            "vpc_config": {"security_group_ids": ["sg-1"], "subnets": ["subnet-1"]},
            "tags": [{"key": "SageMaker", "value": "true"}],
            "instance_groups": [
                {
                    "instance_group_name": "g",
                    "instance_type": "ml.m5.xlarge",
                    "instance_count": 1,
                    "execution_role": "r",
                    "threads_per_core": 1,
                    "life_cycle_config": {"on_create": "on_create.sh", "source_s3_uri": "s3://b"},
                    "instance_storage_configs": [
                        {"ebs_volume_config": {"volume_size_in_gb": 100, "volume_kms_key_id": "k"}}
                    ],
                    "kubernetes_config": {
                        "labels": {"team.example.com/name": "a"},
                        "taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}],
                    },
                }
            ],
        },
    }
    subnet = {
        "address": "module.m.aws_subnet.s",
        "mode": "managed",
        "type": "aws_subnet",
        "name": "s",
        "values": {"id": "subnet-1", "cidr_block": "10.0.0.0/28"},
    }
    lint_input = load_data(_tf([cluster, subnet]), "show.json")
    assert lint_input.kind == TERRAFORM
    props = lint_input.templates.templates["show.json"]["Resources"]["awscc_sagemaker_cluster.hp"]["Properties"]
    group = props["InstanceGroups"][0]
    assert group["LifeCycleConfig"] == {"OnCreate": "on_create.sh", "SourceS3Uri": "s3://b"}
    assert group["InstanceStorageConfigs"][0]["EbsVolumeConfig"] == {"VolumeSizeInGB": 100, "VolumeKmsKeyId": "k"}
    assert group["KubernetesConfig"]["Labels"] == {"team.example.com/name": "a"}  # label keys kept verbatim
    assert group["KubernetesConfig"]["Taints"][0]["Effect"] == "NoSchedule"
    assert props["Orchestrator"] == {"Eks": {"ClusterArn": "arn:aws:eks:us-west-2:1:cluster/e"}}
    assert "NodeProvisioningMode" not in props and props["Tags"] == [{"Key": "SageMaker", "Value": "true"}]
    rules = {f.rule_id for f in check(lint_input.templates, kinds=("deploy",))}
    # a key without Continuous, the only group tainted, a /28 (11 addresses) for 15 IPs
    assert {"HyperPod-KMS1", "HyperPod-SYS1", "HyperPod-IP1"} <= rules


def test_hashicorp_aws_sagemaker_cluster_blocks_map_too():
    """aws_sagemaker_cluster (terraform-provider-aws website/docs/r/sagemaker_cluster.html.markdown):
    nested blocks are one-element lists, instance_group / lifecycle_config / on_start_deep_healthchecks."""
    cluster = {
        "address": "aws_sagemaker_cluster.hp",
        "mode": "managed",
        "type": "aws_sagemaker_cluster",
        "name": "hp",
        "values": {
            "cluster_name": "hp",
            "node_recovery": "None",
            "orchestrator": [{"eks": [{"cluster_arn": "arn:aws:eks:us-west-2:1:cluster/e"}]}],
            "vpc_config": [{"security_group_ids": ["sg-1"], "subnets": ["subnet-1"]}],
            "instance_group": [
                {
                    "instance_group_name": "g",
                    "instance_type": "ml.p5.48xlarge",
                    "instance_count": 1,
                    "execution_role": "r",
                    "on_start_deep_healthchecks": ["InstanceStress"],
                    "lifecycle_config": [{"on_create": "on_create.sh", "source_s3_uri": "s3://b"}],
                    "instance_storage_config": [{"ebs_volume_config": [{"volume_size_in_gb": 20}]}],
                }
            ],
        },
    }
    lint_input = load_data(_tf([cluster], key="planned_values"), "plan.json")
    props = lint_input.templates.templates["plan.json"]["Resources"]["aws_sagemaker_cluster.hp"]["Properties"]
    group = props["InstanceGroups"][0]
    assert group["LifeCycleConfig"] == {"OnCreate": "on_create.sh", "SourceS3Uri": "s3://b"}
    assert group["OnStartDeepHealthChecks"] == ["InstanceStress"]
    assert group["InstanceStorageConfigs"] == [{"EbsVolumeConfig": {"VolumeSizeInGB": 20}}]
    assert props["Orchestrator"] == {"Eks": {"ClusterArn": "arn:aws:eks:us-west-2:1:cluster/e"}}
    assert {f.rule_id for f in check(lint_input.templates, kinds=("deploy",))} == {"HyperPod-SYS1"}


def test_terraform_module_dependencies_order_the_cluster_after_the_chart():
    def resource(address: str, type_: str, values: dict, depends_on: list[str] | None = None) -> dict:
        body = {"address": address, "mode": "managed", "type": type_, "name": "x", "values": values}
        return body | ({"depends_on": depends_on} if depends_on else {})

    cluster = resource(
        "module.hp[0].awscc_sagemaker_cluster.x",
        "awscc_sagemaker_cluster",
        {
            "orchestrator": {"eks": {"cluster_arn": "arn"}},
            "instance_groups": [{"instance_group_name": "g", "instance_type": "ml.m5.xlarge", "instance_count": 1}],
        },
        ["module.helm_chart"],
    )
    chart = resource("module.helm_chart[0].helm_release.hyperpod", "helm_release", {"name": "hyperpod-dependencies"})
    data = {"format_version": "1.0", "values": {"root_module": {"resources": [cluster, chart]}}}
    assert "HyperPod-HELM1" not in {f.rule_id for f in check(load_data(data, "s.json").templates)}
    cluster.pop("depends_on")
    assert "HyperPod-HELM1" in {f.rule_id for f in check(load_data(data, "s.json").templates)}


# --- the command ----------------------------------------------------------------------------------


def test_lint_lines_exit_codes_and_parameters(tmp_path, capsys):
    path = _write(tmp_path, "t.yaml", TEMPLATE)
    assert main(["lint", str(path), "--region", "us-west-2"]) == 0
    out = capsys.readouterr().out
    assert "not-checked: unresolved" in out and "condition HasMystery" in out
    assert main(["lint", str(path), "--region", "us-west-2", "--parameter", "Continuous=false"]) == 1
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("error:"))
    assert "HyperPod-KMS1" in line and "Cluster" in line and "Fix: " in line and "smcluster-cmk.html" in line


def test_lint_json_and_sarif(tmp_path, capsys):
    path = _write(tmp_path, "req.json", json.dumps(REQUEST))
    assert main(["lint", str(path), "--region", "us-west-2", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["inputs"] == [{"path": str(path), "kind": CREATE_CLUSTER, "region": "us-west-2"}]
    assert report["summary"]["error"] == 1 and report["summary"]["warning"] == 1  # KMS1; SYS1
    assert report["summary"]["not-checked"] == 1  # EFA1
    row = next(r for r in report["findings"] if r["rule_id"] == "HyperPod-KMS1")
    assert set(row) == {"rule_id", "severity", "file", "resource", "location", "message", "title", "fix", "source"}
    assert main(["lint", str(path), "--region", "us-west-2", "--sarif"]) == 1
    sarif = json.loads(capsys.readouterr().out)
    run = sarif["runs"][0]
    assert sarif["version"] == "2.1.0" and run["tool"]["driver"]["name"] == "hyperpod-cdk lint"
    rule_ids = {r["id"] for r in run["tool"]["driver"]["rules"]}
    assert {r["ruleId"] for r in run["results"]} <= rule_ids
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels["HyperPod-KMS1"] == "error" and levels["HyperPod-EFA1"] == "none"
    assert run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == path.as_posix()
    template = _write(tmp_path, "t.yaml", TEMPLATE)
    assert main(["lint", str(template), "--sarif"]) == 0
    run = json.loads(capsys.readouterr().out)["runs"][0]
    unresolved = [r for r in run["results"] if r["ruleId"] == "unresolved"]
    assert len(unresolved) == 2 and {r["level"] for r in unresolved} == {"none"}
    assert {r["ruleId"] for r in run["results"]} <= {r["id"] for r in run["tool"]["driver"]["rules"]}


def test_lint_usage_errors(tmp_path, capsys):
    assert main(["lint"]) == 2
    assert "give at least one PATH" in capsys.readouterr().err
    assert main(["lint", str(tmp_path / "nope.yaml")]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    assert main(["lint", "x.yaml", "--parameter", "no-equals"]) == 2
    assert "is not KEY=VALUE" in capsys.readouterr().err


def test_lint_posture_adds_the_posture_rules(tmp_path, capsys):
    path = _write(tmp_path, "req.json", json.dumps(REQUEST | {"NodeRecovery": "None"}))
    main(["lint", str(path), "--json"])
    assert "HyperPod-SM3" not in {r["rule_id"] for r in json.loads(capsys.readouterr().out)["findings"]}
    main(["lint", str(path), "--json", "--posture"])
    assert "HyperPod-SM3" in {r["rule_id"] for r in json.loads(capsys.readouterr().out)["findings"]}


# --- --live (botocore Stubber) --------------------------------------------------------------------


class FakeKube:
    """Stands in for hyperpod_cdk.cli.kube.KubeApi (its HTTPS layer is tested in test_cli_drill.py)."""

    def __init__(self, answer: object) -> None:
        self.answer, self.calls, self.name = answer, [], ""

    def __call__(self, name: str, cluster: dict) -> FakeKube:
        self.name = name
        return self

    def get(self, path: str, **query: str) -> object:
        self.calls.append((self.name, path, query))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def _eks_only(request: dict, kube: FakeKube, monkeypatch) -> tuple:
    """--live on a request whose only live read that answers is the EKS cluster (the rest denied)."""
    from hyperpod_cdk.cli.lint_live import enrich

    set_fake_aws_env(monkeypatch)
    eks, eks_stub = stubbed("eks")
    eks_stub.add_response(
        "describe_cluster",
        {
            "cluster": {
                "name": "eks",
                "version": "1.34",
                "accessConfig": {"authenticationMode": "API"},
                "endpoint": "https://example.invalid",
                "certificateAuthority": {"data": "x"},
            }
        },
        {"name": "eks"},
    )
    eks_stub.add_response("list_addons", {"addons": []}, {"clusterName": "eks"})
    ec2, ec2_stub = stubbed("ec2")
    deny(ec2_stub, "describe_subnets", code="UnauthorizedOperation")
    deny(ec2_stub, "describe_security_groups", code="UnauthorizedOperation")
    s3, s3_stub = _s3_stubbed()
    s3_stub.add_response("head_object", {})
    quotas, quota_stub = stubbed("service-quotas")
    quota_stub.add_response("list_service_quotas", {"Quotas": []})
    lint_input = load_data(request, "req.json", region="us-west-2")
    enrich(
        lint_input,
        clients({"ec2": ec2, "eks": eks, "s3": s3, "sts": _sts_stubbed(), "service-quotas": quotas}),
        kube=kube,
    )
    return lint_input, check(lint_input.templates, kinds=("deploy",), include_not_checked=True)


def test_live_reports_a_missing_helm_release(monkeypatch):
    lint_input, findings = _eks_only(REQUEST, FakeKube({"items": []}), monkeypatch)
    helm = [f for f in findings if f.rule_id == "HyperPod-HELM1"]
    assert helm and "is not installed on EKS cluster eks" in helm[0].detail
    assert helm[0].severity is None  # an error


def test_live_helm_release_unreadable_is_not_checked(monkeypatch):
    from hyperpod_cdk.cli.kube import KubeError

    lint_input, findings = _eks_only(
        REQUEST, FakeKube(KubeError(403, "GET /api/v1/secrets: HTTP 403 forbidden")), monkeypatch
    )
    assert not [f for f in findings if f.rule_id == "HyperPod-HELM1"]
    whys = {where: why for _, where, why in lint_input.unresolved}
    assert "HTTP 403" in whys["live/Helm release"] and "access entry" in whys["live/Helm release"]


def _sts_stubbed():
    """STS answering the caller's account once (the lifecycle-script HEAD names it as the bucket owner)."""
    sts, stub = stubbed("sts")
    stub.add_response(
        "get_caller_identity",
        {"Account": "111122223333", "Arn": "arn:aws:iam::111122223333:user/me", "UserId": "AIDAEXAMPLE"},
    )
    return sts


def _s3_stubbed():
    """S3 on its own boto3 session (boto3 injects S3 transfer methods once per session; see test_cli_preflight)."""
    import boto3
    from botocore.stub import Stubber

    client = boto3.Session(region_name="us-west-2").client("s3")
    stub = Stubber(client)
    stub.activate()
    return client, stub


def test_live_reads_subnets_groups_eks_script_and_quotas(monkeypatch):
    """Stubbed: ec2 DescribeSubnets/DescribeSecurityGroups, eks DescribeCluster/ListAddons/DescribeAddon,
    s3 HeadObject (404), service-quotas ListServiceQuotas."""
    from hyperpod_cdk.cli.lint_live import enrich

    set_fake_aws_env(monkeypatch)
    ec2, ec2_stub = stubbed("ec2")
    ec2_stub.add_response(
        "describe_subnets",
        {"Subnets": [{"SubnetId": "subnet-0123", "CidrBlock": "10.0.0.0/24", "AvailableIpAddressCount": 20}]},
        {"SubnetIds": ["subnet-0123"]},
    )
    ec2_stub.add_response(
        "describe_security_groups",
        {
            "SecurityGroups": [
                {
                    "GroupId": "sg-0123",
                    "IpPermissions": [{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": "sg-0123"}]}],
                    "IpPermissionsEgress": [{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": "sg-0123"}]}],
                }
            ]
        },
        {"GroupIds": ["sg-0123"]},
    )
    eks, eks_stub = stubbed("eks")
    eks_stub.add_response(
        "describe_cluster",
        {
            "cluster": {
                "name": "eks",
                "version": "1.29",
                "accessConfig": {"authenticationMode": "CONFIG_MAP"},
                "resourcesVpcConfig": {"endpointPublicAccess": False, "endpointPrivateAccess": True},
                # An ACTIVE cluster's API endpoint (the fake Kubernetes API answers; R30T-M1).
                "status": "ACTIVE",
                "endpoint": "https://eks.example.invalid",
                "certificateAuthority": {"data": "Q0E="},
            }
        },
        {"name": "eks"},
    )
    eks_stub.add_response(
        "list_addons",
        {"addons": ["amazon-sagemaker-hyperpod-taskgovernance", "amazon-sagemaker-hyperpod-training-operator"]},
        {"clusterName": "eks"},
    )
    eks_stub.add_response(
        "describe_addon",
        {"addon": {"addonName": "amazon-sagemaker-hyperpod-taskgovernance", "addonVersion": "v1.2.0-eksbuild.1"}},
        {"clusterName": "eks", "addonName": "amazon-sagemaker-hyperpod-taskgovernance"},
    )
    eks_stub.add_response(
        "describe_addon",
        {"addon": {"addonName": "amazon-sagemaker-hyperpod-training-operator", "addonVersion": "v1.2.1-eksbuild.1"}},
        {"clusterName": "eks", "addonName": "amazon-sagemaker-hyperpod-training-operator"},
    )
    s3, s3_stub = _s3_stubbed()
    s3_stub.add_client_error(
        "head_object",
        service_error_code="404",
        http_status_code=404,
        expected_params={"Bucket": "sagemaker-b", "Key": "lcs/on_create.sh", "ExpectedBucketOwner": "111122223333"},
    )
    quotas, quota_stub = stubbed("service-quotas")
    quota_stub.add_response(
        "list_service_quotas",
        {"Quotas": [{"QuotaName": "ml.g5.8xlarge for cluster usage", "Value": 0.0}]},
        {"ServiceCode": "sagemaker"},
    )
    kube = FakeKube(
        {
            "items": [
                {
                    "metadata": {
                        "name": "sh.helm.release.v1.hyperpod-dependencies.v1",
                        "labels": {"owner": "helm", "status": "deployed"},
                    }
                }
            ]
        }
    )
    lint_input = load_data(REQUEST, "req.json", region="us-west-2")
    enrich(
        lint_input,
        clients({"ec2": ec2, "eks": eks, "s3": s3, "sts": _sts_stubbed(), "service-quotas": quotas}),
        kube=kube,
    )
    assert kube.calls == [("eks", "/api/v1/secrets", {"labelSelector": "owner=helm,name=hyperpod-dependencies"})]
    for stub in (ec2_stub, eks_stub, s3_stub, quota_stub):
        stub.assert_no_pending_responses()
    findings = check(lint_input.templates, kinds=("deploy",), include_not_checked=True)
    by_rule: dict[str, list] = {}
    for finding in findings:
        by_rule.setdefault(finding.rule_id, []).append(finding)
    assert "HyperPod-EFA1" not in by_rule  # the self rules AWS reported
    assert any("does not exist" in f.detail for f in by_rule["HyperPod-LCS1"])
    assert "quota is 0" in by_rule["HyperPod-QUOTA1"][0].detail
    assert "'CONFIG_MAP'" in by_rule["HyperPod-EKS4"][0].detail
    assert "1.29" in by_rule["HyperPod-K8S1"][0].detail
    assert "v1.2.0-eksbuild.1" in by_rule["HyperPod-TG1"][0].detail
    assert "HyperPod-TOP1" not in by_rule and "HyperPod-ADD1" not in by_rule  # installed add-ons: past creation
    assert "HyperPod-HELM1" not in by_rule  # the release is deployed
    assert lint_input.unresolved == []


def test_live_subnet_free_addresses_and_denied_calls(monkeypatch):
    from hyperpod_cdk.cli.lint_live import enrich

    set_fake_aws_env(monkeypatch)
    ec2, ec2_stub = stubbed("ec2")
    ec2_stub.add_response(
        "describe_subnets",
        {"Subnets": [{"SubnetId": "subnet-0123", "CidrBlock": "10.0.0.0/20", "AvailableIpAddressCount": 10}]},
    )
    deny(ec2_stub, "describe_security_groups", code="UnauthorizedOperation")
    s3, s3_stub = _s3_stubbed()
    s3_stub.add_response("head_object", {})
    quotas, quota_stub = stubbed("service-quotas")
    deny(quota_stub, "list_service_quotas")
    request = REQUEST | {"Orchestrator": {"Eks": {"ClusterArn": "not-an-arn"}}}
    lint_input = load_data(request, "req.json", region="us-west-2")
    enrich(lint_input, clients({"ec2": ec2, "s3": s3, "sts": _sts_stubbed(), "service-quotas": quotas}))
    ip = [f for f in check(lint_input.templates, kinds=("deploy",)) if f.rule_id == "HyperPod-IP1"]
    assert ip and "10 free addresses now" in ip[0].detail  # a /20, but only 10 free
    whats = [where for _, where, _ in lint_input.unresolved]
    assert whats == ["live/security groups", "live/HyperPod quotas"]
    assert all("access denied" in why for *_, why in lint_input.unresolved)


def test_cfn_lint_rules_flag_prints_the_directory(capsys):
    assert main(["lint", "--cfn-lint-rules"]) == 0
    directory = Path(capsys.readouterr().out.strip())
    assert (directory / "HyperPodRules.py").is_file()


def test_terraform_plan_values_known_only_after_apply_are_not_checked():
    """`terraform show -json plan`: attributes in after_unknown are not guessed as unset."""
    cluster = {
        "address": "awscc_sagemaker_cluster.hp",
        "mode": "managed",
        "type": "awscc_sagemaker_cluster",
        "name": "hp",
        "values": {
            "cluster_name": "hp",
            "orchestrator": {"eks": {}},
            "instance_groups": [
                {
                    "instance_group_name": "g",
                    "instance_type": "ml.m5.xlarge",
                    "instance_count": 1,
                    "instance_storage_configs": [{"ebs_volume_config": {"volume_size_in_gb": 100}}],
                }
            ],
        },
    }
    plan = {
        "format_version": "1.2",
        "planned_values": {"root_module": {"resources": [cluster]}},
        "resource_changes": [
            {
                "address": "awscc_sagemaker_cluster.hp",
                "change": {
                    "after_unknown": {
                        "node_provisioning_mode": True,
                        "orchestrator": {"eks": {"cluster_arn": True}},
                        "instance_groups": [
                            {"instance_storage_configs": [{"ebs_volume_config": {"volume_kms_key_id": True}}]}
                        ],
                    }
                },
            }
        ],
    }
    lint_input = load_data(plan, "plan.json")
    props = lint_input.templates.templates["plan.json"]["Resources"]["awscc_sagemaker_cluster.hp"]["Properties"]
    assert props["NodeProvisioningMode"] == {
        "Fn::TerraformUnknownAfterApply": "awscc_sagemaker_cluster.hp" ".node_provisioning_mode"
    }
    assert props["InstanceGroups"][0]["InstanceStorageConfigs"][0]["EbsVolumeConfig"]["VolumeSizeInGB"] == 100
    findings = check(lint_input.templates, kinds=("deploy",), include_not_checked=True)
    kms = [f for f in findings if f.rule_id == "HyperPod-KMS1"]
    assert kms and {f.severity for f in kms} == {NOT_CHECKED}  # the key and the mode are both unknown
