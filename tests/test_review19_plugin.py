"""Review round 19 (tools): the synth-time plugin and lint's reading of templates (issue 18).

R19T-H1: ``HyperPodChecks``/``check_files`` read the templates as ``lint`` does (parameter defaults,
conditions) and, in a CDK app, a value the rules cannot read is a finding (error, acknowledgeable), never
passed silently. R19T-M1: ``lint cdk.out --parameter``. R19T-M6: an SSM parameter type's Default is a name,
not the value. R19T-M7: a Transform or ``Fn::ForEach::`` key is a not-checked line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.cli.main import main as cli_main
from hyperpod_cdk.rules import check_files
from hyperpod_cdk.rules.catalog import UNKNOWN_AT_SYNTH
from hyperpod_cdk.rules.cfn_template import resolve_template
from hyperpod_cdk.rules.inputs import load
from hyperpod_cdk.rules.model import NOT_CHECKED

ROLE = "arn:aws:iam::111122223333:role/r"
KEY = "arn:aws:kms:us-west-2:111122223333:key/abc"
SHAPE_TAIL = UNKNOWN_AT_SYNTH.split(",", 1)[0]  # "; not known at synth"


def _cluster(**props: Any) -> dict[str, Any]:
    group = {
        "InstanceGroupName": "sys",
        "InstanceType": "ml.m5.xlarge",
        "InstanceCount": 1,
        "ExecutionRole": ROLE,
        "LifeCycleConfig": {"SourceS3Uri": "s3://b/p", "OnCreate": "on_create.sh"},
        "InstanceStorageConfigs": [{"EbsVolumeConfig": {"VolumeSizeInGB": 100, "VolumeKmsKeyId": KEY}}],
    }
    return {
        "Type": "AWS::SageMaker::Cluster",
        "Properties": {
            "ClusterName": "hp",
            "NodeRecovery": "Automatic",
            "Orchestrator": {"Eks": {"ClusterArn": {"Fn::GetAtt": ["Eks", "Arn"]}}},
            "VpcConfig": {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]},
            "InstanceGroups": [group],
            **props,
        },
    }


def _eks(version: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::EKS::Cluster",
        "Properties": {
            "RoleArn": ROLE,
            "Version": version,
            "ResourcesVpcConfig": {"SubnetIds": ["subnet-1"], "EndpointPublicAccess": False},
            "AccessConfig": {"AuthenticationMode": "API"},
        },
    }


def _app_template(version: Any, mode: Any, parameters: dict[str, Any]) -> dict[str, Any]:
    """What the reviewer's L1 app synthesizes: Version and NodeProvisioningMode from CfnParameters."""
    return {
        "Parameters": parameters,
        "Conditions": {"IsContinuous": {"Fn::Equals": [{"Ref": "Mode"}, "Continuous"]}},
        "Resources": {"Eks": _eks(version), "HP": _cluster(NodeProvisioningMode=mode)},
    }


def _write(folder: Path, template: dict[str, Any], name: str = "S", region: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.template.json"
    path.write_text(json.dumps(template))
    if region:
        environment = f"aws://111122223333/{region}"
        artifacts = {name: {"type": "aws:cloudformation:stack", "environment": environment}}
        (folder / "manifest.json").write_text(json.dumps({"version": "48.0.0", "artifacts": artifacts}))
    return path


def _deploy(paths: list[Path], **kwargs: Any) -> dict[str, list[Any]]:
    """Deploy findings by rule; the run's region is us-west-2 unless given (a stack's manifest region wins)."""
    kwargs.setdefault("region", "us-west-2")
    by_rule: dict[str, list[Any]] = {}
    for finding in check_files(paths, kinds=["deploy"], exclude=["HyperPod-EFA1"], **kwargs):
        by_rule.setdefault(finding.rule_id, []).append(finding)
    return by_rule


MODE_IF = {"Fn::If": ["IsContinuous", "Continuous", {"Ref": "AWS::NoValue"}]}
DEFAULTS = {
    "KubernetesVersion": {"Type": "String", "Default": "1.27"},
    "Mode": {"Type": "String", "Default": "Standard"},
}


# ------------------------------------------------------------------ R19T-H1: the plugin reads as lint does


def test_check_files_applies_parameter_defaults_and_conditions(tmp_path):
    """The reviewer's app: Version from a parameter default 1.27, the mode Fn::If on a condition that is false
    with the defaults. Before: no finding (synth passed); now the same two errors lint reports."""
    template = _app_template({"Ref": "KubernetesVersion"}, MODE_IF, DEFAULTS)
    found = _deploy([_write(tmp_path, template)])
    assert sorted(found) == ["HyperPod-K8S1", "HyperPod-KMS1"]
    assert "Kubernetes 1.27 is not a version HyperPod supports" in found["HyperPod-K8S1"][0].detail
    assert "NodeProvisioningMode is unset" in found["HyperPod-KMS1"][0].detail
    assert all(f.severity is None for fs in found.values() for f in fs)  # the rule's severity: error
    # A given value wins over the default, as `lint --parameter` does.
    given = _deploy([_write(tmp_path, template)], parameters={"KubernetesVersion": "1.35", "Mode": "Continuous"})
    assert sorted(given) == []


def test_a_value_left_to_deploy_is_an_error_in_the_closed_world(tmp_path):
    """No default: lint says not-checked; in a CDK app the same value is an error naming the acknowledgment."""
    parameters = {"KubernetesVersion": {"Type": "String"}, "Mode": {"Type": "String"}}
    template = _app_template({"Ref": "KubernetesVersion"}, MODE_IF, parameters)
    found = _deploy([_write(tmp_path, template)])
    assert sorted(found) == ["HyperPod-K8S1", "HyperPod-KMS1"]
    for rule_id, (finding,) in found.items():
        assert finding.severity is None
        assert "not known offline" in finding.detail and SHAPE_TAIL in finding.detail
        assert f"HyperPodChecks::{rule_id}" in finding.detail
    # lint (open world) keeps them as not-checked lines, exit 0.
    lint_input = load(_write(tmp_path / "lint", template), region="us-west-2")
    from hyperpod_cdk.rules.catalog import check

    lint = check(lint_input.templates, kinds=["deploy"], exclude=["HyperPod-EFA1"], include_not_checked=True)
    assert {(f.rule_id, f.severity) for f in lint} == {("HyperPod-K8S1", NOT_CHECKED), ("HyperPod-KMS1", NOT_CHECKED)}


def test_a_resource_whose_condition_is_false_is_not_checked_by_the_plugin(tmp_path):
    """The reviewer's efa-cond case: a rule under a false condition does not exist, as in lint."""
    template = _app_template("1.35", "Continuous", DEFAULTS)
    template["Conditions"]["Never"] = {"Fn::Equals": ["a", "b"]}
    template["Resources"]["Old"] = {**_eks("1.27"), "Condition": "Never"}
    assert _deploy([_write(tmp_path, template)]) == {}
    template["Resources"]["Old"]["Condition"] = "IsContinuous"  # false with the defaults too
    assert _deploy([_write(tmp_path, template)]) == {}
    template["Conditions"]["Never"] = {"Fn::Equals": ["a", "a"]}
    template["Resources"]["Old"]["Condition"] = "Never"
    assert sorted(_deploy([_write(tmp_path, template)])) == ["HyperPod-K8S1"]


def test_the_region_comes_from_the_assembly_manifest(tmp_path):
    """TYPE1 needs the region; a stack with an environment has one in manifest.json (as lint cdk.out reads)."""
    template = _app_template("1.35", "Continuous", DEFAULTS)
    template["Resources"]["HP"]["Properties"]["InstanceGroups"][0]["InstanceType"] = "ml.p5en.48xlarge"
    # Environment-agnostic and no region for the run: not known at synth, so a finding (R20T-M2), not a pass.
    (unknown,) = _deploy([_write(tmp_path / "agnostic", template)], region=None)["HyperPod-TYPE1"]
    assert "region of its stack is not known" in unknown.detail and unknown.severity is None
    assert "HyperPod-TYPE1" not in _deploy([_write(tmp_path / "agnostic", template)])  # the run's us-west-2
    found = _deploy([_write(tmp_path / "env", template, region="sa-east-1")])  # the stack's region wins
    assert "is not offered by SageMaker HyperPod in sa-east-1" in found["HyperPod-TYPE1"][0].detail


def _bucket_uri(bucket_part: Any) -> dict[str, Any]:
    return {"Fn::Join": ["", ["s3://", bucket_part, "/lifecycle/abc/"]]}


@pytest.mark.parametrize(
    ("uri", "hook", "expected"),
    [
        # The project's LifecycleScripts construct: the upload's BucketName, whose destination is the app's bucket.
        (_bucket_uri({"Fn::GetAtt": ["Upload", "BucketName"]}), "on_create.sh", None),
        (_bucket_uri({"Ref": "Bucket"}), "on_create.sh", None),
        # The shape is known, so the hook is still checked.
        (_bucket_uri({"Ref": "Bucket"}), "/opt/on_create.sh", "must be a file name relative to SourceS3Uri"),
        # Not a bucket's name (could be empty or hold a slash): unknown, so an error in a CDK app.
        (_bucket_uri({"Fn::GetAtt": ["Role", "Arn"]}), "on_create.sh", "SourceS3Uri is not known offline"),
        # A bucket name before the scheme could make the scheme: unknown.
        ({"Fn::Join": ["", [{"Ref": "Bucket"}, "://x/"]]}, "on_create.sh", "SourceS3Uri is not known offline"),
    ],
)
def test_lcs1_reads_the_shape_of_a_uri_on_the_apps_own_bucket(tmp_path, uri, hook, expected):
    template = _app_template("1.35", "Continuous", DEFAULTS)
    template["Resources"]["HP"]["Properties"]["InstanceGroups"][0]["LifeCycleConfig"] = {
        "SourceS3Uri": uri,
        "OnCreate": hook,
    }
    template["Resources"]["Bucket"] = {"Type": "AWS::S3::Bucket"}
    template["Resources"]["Role"] = {"Type": "AWS::IAM::Role"}
    template["Resources"]["Upload"] = {
        "Type": "Custom::HyperPodLifecycleScripts",
        "Properties": {"DestinationBucketName": {"Ref": "Bucket"}},
    }
    found = _deploy([_write(tmp_path, template)]).get("HyperPod-LCS1", [])
    assert [f.detail for f in found if expected and expected in f.detail] == [f.detail for f in found]
    assert len(found) == (1 if expected else 0)


def test_the_default_platform_needs_no_acknowledgment_for_what_it_leaves_to_deploy(platform):
    """The project's own app: every deploy and posture rule passes in the closed world (LCS1 reads the
    lifecycle bucket's URI shape; nothing is left unknown)."""
    templates = sorted(platform.outdir.glob("*.template.json"))
    assert templates and check_files(templates) == []


def test_plugin_fails_the_reviewers_app(tmp_path):
    """End to end with jsii: the reviewer's repro app (CfnParameter + Fn.conditionIf) fails synth on KMS1 and K8S1."""
    import aws_cdk as cdk
    from aws_cdk import aws_eks as eks
    from aws_cdk import aws_sagemaker as sm

    from hyperpod_cdk.rules import HyperPodChecks

    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "S", env=cdk.Environment(account="111122223333", region="us-west-2"))
    version = cdk.CfnParameter(stack, "KubernetesVersion", default="1.27")
    mode = cdk.CfnParameter(stack, "Mode", default="Standard")
    continuous = cdk.CfnCondition(
        stack, "IsContinuous", expression=cdk.Fn.condition_equals(mode.value_as_string, "Continuous")
    )
    cluster = eks.CfnCluster(
        stack,
        "Eks",
        role_arn=ROLE,
        version=version.value_as_string,
        resources_vpc_config=eks.CfnCluster.ResourcesVpcConfigProperty(
            subnet_ids=["subnet-1"], endpoint_public_access=False
        ),
        access_config=eks.CfnCluster.AccessConfigProperty(authentication_mode="API"),
    )
    storage = sm.CfnCluster.ClusterInstanceStorageConfigProperty(
        ebs_volume_config=sm.CfnCluster.ClusterEbsVolumeConfigProperty(volume_size_in_gb=100, volume_kms_key_id=KEY)
    )
    hp = sm.CfnCluster(
        stack,
        "HP",
        cluster_name="hp",
        orchestrator=sm.CfnCluster.OrchestratorProperty(
            eks=sm.CfnCluster.ClusterOrchestratorEksConfigProperty(cluster_arn=cluster.attr_arn)
        ),
        node_provisioning_mode=cdk.Token.as_string(
            cdk.Fn.condition_if(continuous.logical_id, "Continuous", cdk.Aws.NO_VALUE)
        ),
        node_recovery="Automatic",
        vpc_config=sm.CfnCluster.VpcConfigProperty(security_group_ids=["sg-1"], subnets=["subnet-1"]),
        instance_groups=[
            sm.CfnCluster.ClusterInstanceGroupProperty(
                instance_group_name="sys",
                instance_type="ml.m5.xlarge",
                instance_count=1,
                execution_role=ROLE,
                life_cycle_config=sm.CfnCluster.ClusterLifeCycleConfigProperty(
                    source_s3_uri="s3://b/p", on_create="on_create.sh"
                ),
                instance_storage_configs=[storage],
            )
        ],
    )
    cdk.Validations.of(hp).acknowledge(
        cdk.Acknowledgment(id="HyperPodChecks::HyperPod-EFA1", reason="placeholder security group of the test")
    )
    cdk.Validations.of(app).add_plugins(HyperPodChecks(kinds=["deploy"]))
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    (ours,) = (p for p in report["pluginReports"] if p["pluginName"] == "HyperPodChecks")
    assert sorted(v["ruleName"] for v in ours["violations"]) == ["HyperPod-K8S1", "HyperPod-KMS1"]


# ------------------------------------------------------------------ R19T-M1: lint cdk.out --parameter


def test_lint_cdk_out_takes_parameters(tmp_path, capsys):
    """Defaults Continuous / 1.35 pass; the values given with --parameter are the ones checked."""
    parameters = {
        "KubernetesVersion": {"Type": "String", "Default": "1.35"},
        "Mode": {"Type": "String", "Default": "Continuous"},
    }
    template = _app_template({"Ref": "KubernetesVersion"}, MODE_IF, parameters)
    folder = tmp_path / "cdk.out"
    path = _write(folder, template, region="us-west-2")
    given = ["--parameter", "Mode=Standard", "--parameter", "KubernetesVersion=1.27"]
    for target in (folder, path):
        assert cli_main(["lint", str(target), "--region", "us-west-2", *given]) == 1, target
        out = capsys.readouterr().out
        assert "HyperPod-K8S1" in out and "Kubernetes 1.27" in out and "HyperPod-KMS1" in out
    # A parameter the stack does not declare is not applied to it.
    other = load(folder, parameters={"Other": "x", "Mode": "Standard"})
    (resolved,) = other.templates.templates.values()
    assert "NodeProvisioningMode" not in resolved["Resources"]["HP"]["Properties"]


# ------------------------------------------------------------------ R19T-M6: SSM parameter types


def test_an_ssm_parameter_type_is_unknown_offline_unless_given(tmp_path, capsys):
    template = {
        "Parameters": {
            "K8sVersion": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/platform/eks-version"},
            "Subnets": {"Type": "AWS::SSM::Parameter::Value<List<String>>", "Default": "/platform/subnets"},
        },
        "Resources": {"Eks": _eks({"Ref": "K8sVersion"})},
    }
    template["Resources"]["Eks"]["Properties"]["ResourcesVpcConfig"]["SubnetIds"] = {"Ref": "Subnets"}
    resolved = resolve_template(template)
    assert resolved.template["Resources"]["Eks"]["Properties"]["Version"] == {"Ref": "K8sVersion"}
    assert any("an SSM parameter, read at deploy" in why for _, why in resolved.unresolved)
    given = resolve_template(template, {"K8sVersion": "1.35", "Subnets": "subnet-1,subnet-2"})
    props = given.template["Resources"]["Eks"]["Properties"]
    assert props["Version"] == "1.35" and props["ResourcesVpcConfig"]["SubnetIds"] == ["subnet-1", "subnet-2"]
    path = _write(tmp_path, template)
    assert cli_main(["lint", str(path)]) == 0
    out = capsys.readouterr().out
    assert "not a version HyperPod supports" not in out and "/platform/eks-version" not in out
    assert "HyperPod-K8S1" in out and "Version is not known offline" in out


# ------------------------------------------------------------------ R19T-M7: Transform and Fn::ForEach


def test_a_transform_and_foreach_are_not_checked_lines(tmp_path, capsys):
    """A cluster made by Fn::ForEach (CMK without Continuous) is never read: lint says so instead of
    'no findings'."""
    body = _cluster()
    template = {
        "Transform": "AWS::LanguageExtensions",
        "Resources": {"Fn::ForEach::Clusters": ["Name", ["a", "b"], {"Cluster${Name}": body}]},
    }
    lint_input = load(_write(tmp_path, template))
    lines = {(where, why.split(": ", 1)[0]) for _, where, why in lint_input.unresolved}
    assert lines == {
        ("Transform", "Transform AWS::LanguageExtensions"),
        ("Resources/Fn::ForEach::Clusters", "a loop AWS::LanguageExtensions expands at deploy"),
    }
    assert cli_main(["lint", str(tmp_path / "S.template.json")]) == 0  # not-checked, not an error (docs/lint.md)
    out = capsys.readouterr().out
    assert "no findings" not in out and "--template-stage Processed" in out and "Fn::ForEach::Clusters" in out


def test_sm1_does_not_ask_karpenter_groups_for_the_checks_kar1_forbids(tmp_path):
    """examples/eks-scaling.yaml through the plugin's posture rules: a Karpenter group at 0 may not run deep
    health checks (KAR1), so SM1 does not ask for them there; a fixed accelerated group still needs them."""
    template = _app_template("1.35", "Continuous", DEFAULTS)
    props = template["Resources"]["HP"]["Properties"]
    props["AutoScaling"] = {"Mode": "Enable", "AutoScalerType": "Karpenter"}
    props["ClusterRole"] = ROLE
    gpu = {"InstanceGroupName": "g6e", "InstanceType": "ml.g6e.12xlarge", "InstanceCount": 0, "ExecutionRole": ROLE}
    props["InstanceGroups"].append(gpu)
    path = _write(tmp_path, template)
    assert [f for f in check_files([path]) if f.rule_id in ("HyperPod-SM1", "HyperPod-KAR1")] == []
    props.pop("AutoScaling")
    sm1 = [f for f in check_files([_write(tmp_path, template)]) if f.rule_id == "HyperPod-SM1"]
    assert [f.locations for f in sm1] == [("Properties/InstanceGroups/1/OnStartDeepHealthChecks",)]
