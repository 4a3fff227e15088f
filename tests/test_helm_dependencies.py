"""HyperPodHelmDependencies on a synthesized template (one synth for the module), and its config.

The test stack is small but real: a VPC, HyperPodEksCluster, the Helm dependencies, the default
add-ons and a HyperPodCluster, wired the way the platform stack wires them.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CFN_LINT = Path(sys.executable).with_name("cfn-lint")
HANDLER_DIR = REPO / "constructs" / "hyperpod_cdk" / "kubernetes" / "handlers" / "helm_dependencies"
STACK = "HelmDepsTest"
MY_PATHS = (f"{STACK}/HelmDependencies/", f"{STACK}/KubernetesAddons/")

_spec = importlib.util.spec_from_file_location("eks_test_stack", Path(__file__).with_name("eks_test_stack.py"))
eks_test_stack = sys.modules.setdefault("eks_test_stack", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(eks_test_stack)


@dataclass
class Built:
    template: dict
    outdir: Path
    nag_violations: list
    helm: object

    def of_type(self, cfn_type: str) -> dict[str, dict]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == cfn_type}

    def one(self, cfn_type: str, prefix: str = "") -> tuple[str, dict]:
        found = {k: v for k, v in self.of_type(cfn_type).items() if k.startswith(prefix)}
        assert len(found) == 1, f"expected one {cfn_type} {prefix}*, found {sorted(found)}"
        return next(iter(found.items()))


def build_test_app(outdir: Path, *, addons_config=None, helm_config=None):
    """VPC + HyperPodEksCluster + Helm dependencies + add-ons + HyperPodCluster, platform-style wiring."""
    app, stack, helm, _ = eks_test_stack.build_eks_hyperpod_stack(
        outdir, STACK, "helm-test", helm_config=helm_config, addons_config=addons_config
    )
    return app, stack, helm


def synth(app, stack, outdir: Path, helm) -> Built:
    violations = eks_test_stack.nag_violations(app, MY_PATHS)
    assembly = app.synth()
    return Built(assembly.get_stack_by_name(stack.stack_name).template, outdir, violations, helm)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    outdir = tmp_path_factory.mktemp("helm-cdk.out")
    app, stack, helm = build_test_app(outdir)
    return synth(app, stack, outdir, helm)


def _ref_ids(value) -> set[str]:
    """Logical ids a property refers to (Ref / GetAtt), anywhere inside it."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value:
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            found.add(value["Fn::GetAtt"][0])
        for inner in value.values():
            found |= _ref_ids(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= _ref_ids(inner)
    return found


# --------------------------------------------------------------------------- the custom resource


EXPECTED_VALUES = {
    "aws-efa-k8s-device-plugin.devicePlugin.enabled": True,
    "cert-manager.enabled": False,
    "deep-health-check.enabled": True,
    "health-monitoring-agent.enabled": True,
    "health-monitoring-agent.region": "us-west-2",
    "job-auto-restart.enabled": True,
    "mpi-operator.enabled": True,
    "neuron-device-plugin.devicePlugin.enabled": True,
    "nvidia-device-plugin.devicePlugin.enabled": True,
    "trainingOperators.enabled": True,
}


def _environment_spec(built) -> dict:
    """HELM_RELEASE_SPEC as CloudFormation will resolve it (the cluster name Ref kept as a marker)."""
    _, function = built.one("AWS::Lambda::Function", "HelmDependencies")
    joined = function["Properties"]["Environment"]["Variables"]["HELM_RELEASE_SPEC"]
    parts = joined["Fn::Join"][1] if isinstance(joined, dict) else [joined]
    text = "".join(p if isinstance(p, str) else "REF:" + p["Ref"] for p in parts)
    return json.loads(text)


def test_custom_resource_pins_the_revision_digests_and_typed_values(built):
    _, resource = built.one("Custom::HyperPodHelmDependencies")
    props = resource["Properties"]
    assert props["Revision"] == "b01cf90676553a711ab1a8ac51422adbb09aef6b"
    assert props["ChartPath"] == "helm_chart/HyperPodHelmChart"
    assert props["Release"] == "hyperpod-dependencies"
    assert props["Namespace"] == "kube-system"
    assert props["Values"] == EXPECTED_VALUES
    assert props["TimeoutSeconds"] == 600 and props["Wait"] is False
    # The chart's files and its downloaded sub-charts are pinned for the default revision.
    assert props["ChartSha256"] == "6f701a1f4547beccdb47f11c7f83d6063a5978b5aabe433750d5d30793315a55"
    assert {(a["Name"], a["Version"], a["Sha256"]) for a in props["Archives"]} == {
        ("nvidia-device-plugin", "0.16.1", "a77b4e81fd56a11e39536500a7a6538899b952c4b4370200280bce313dffda6a"),
        ("aws-efa-k8s-device-plugin", "v0.5.20", "252967e2083799987d576ac86986b3316ce350dd1da2d07a8b83b5c4288fbcf4"),
        ("cert-manager", "v1.18.2", ""),
    }
    assert "SourceSha256" not in props
    cluster_id, _ = built.one("AWS::EKS::Cluster")
    assert props["ClusterName"] == {"Ref": cluster_id}
    handler_id, _ = built.one("AWS::Lambda::Function", "HelmDependencies")
    assert props["ServiceToken"] == {"Fn::GetAtt": [handler_id, "Arn"]}
    # CloudFormation gives up after 16 minutes instead of the default hour.
    assert str(props["ServiceTimeout"]) == "960"


def test_the_functions_environment_holds_the_same_release(built):
    """The handler acts on its environment and refuses requests that differ from it."""
    _, resource = built.one("Custom::HyperPodHelmDependencies")
    props = {k: v for k, v in resource["Properties"].items() if k not in ("ServiceToken", "ServiceTimeout")}
    cluster_id, _ = built.one("AWS::EKS::Cluster")
    assert _environment_spec(built) == {**props, "ClusterName": f"REF:{cluster_id}"}


def test_the_handler_accepts_the_synthesized_release(built):
    """The environment parses in the handler, and the template's properties match it."""
    index = _handler_module()
    env = _environment_spec(built)
    spec = index.ReleaseSpec.from_mapping(env)
    assert spec.values == EXPECTED_VALUES
    _, resource = built.one("Custom::HyperPodHelmDependencies")
    props = {**resource["Properties"], "ClusterName": env["ClusterName"]}
    assert index.differences(index.canonical(props), spec) == []


def _handler_module():
    spec = importlib.util.spec_from_file_location("helm_dependencies_index_cdk", HANDLER_DIR / "index.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_custom_resource_waits_for_the_handlers_access_entry(built):
    resource_id, resource = built.one("Custom::HyperPodHelmDependencies")
    entry_id, entry = built.one("AWS::EKS::AccessEntry", "HelmDependencies")
    assert entry_id in resource["DependsOn"]
    role_id, _ = built.one("AWS::IAM::Role", "HelmDependencies")
    assert entry["Properties"]["PrincipalArn"] == {"Fn::GetAtt": [role_id, "Arn"]}
    (policy,) = entry["Properties"]["AccessPolicies"]
    assert policy["AccessScope"] == {"Type": "cluster"}
    assert json.dumps(policy["PolicyArn"]).endswith(':eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"]]}')


def test_hyperpod_cluster_is_created_after_the_helm_release(built):
    resource_id, _ = built.one("Custom::HyperPodHelmDependencies")
    _, cluster = built.one("AWS::SageMaker::Cluster")
    assert resource_id in cluster["DependsOn"]


def test_handler_runs_in_the_vpc_with_the_cluster_security_group(built):
    _, function = built.one("AWS::Lambda::Function", "HelmDependencies")
    props = function["Properties"]
    cluster_id, _ = built.one("AWS::EKS::Cluster")
    assert props["VpcConfig"]["SecurityGroupIds"] == [{"Fn::GetAtt": [cluster_id, "ClusterSecurityGroupId"]}]
    private = {k for k, v in built.of_type("AWS::EC2::Subnet").items() if "Private" in k}
    assert {s["Ref"] for s in props["VpcConfig"]["SubnetIds"]} == private and len(private) == 2
    assert props["Runtime"] == "python3.14"
    assert props["Handler"] == "index.handler"
    assert props["Timeout"] == 900
    variables = props["Environment"]["Variables"]
    assert set(variables) == {"HELM_BINARY", "HELM_RELEASE_SPEC", "HELM_OWNER_STACK"}
    assert variables["HELM_OWNER_STACK"] == {"Ref": "AWS::StackName"}  # the owner label is this stack's (R24P-M1)
    assert props["Environment"]["Variables"]["HELM_BINARY"] == "/opt/helm/helm"
    assert _environment_spec(built)["SourceUrlTemplate"] == (
        "https://github.com/aws/sagemaker-hyperpod-cli/archive/{revision}.tar.gz"
    )
    assert {"Key": "hyperpod-cdk:purpose", "Value": "helm-installer-cluster-admin"} in props["Tags"]
    (layer,) = props["Layers"]
    layer_resource = built.template["Resources"][layer["Ref"]]
    assert layer_resource["Type"] == "AWS::Lambda::LayerVersion"
    assert "helm" in layer_resource["Properties"]["Description"]
    # The handler reaches the internet through the NAT route: it is created after it.
    routes = {k for k, v in built.of_type("AWS::EC2::Route").items() if "NatGatewayId" in v["Properties"]}
    assert routes and routes <= set(function["DependsOn"])


def test_handler_code_is_the_handler_folder_plus_the_shared_eks_auth_module(built):
    """The asset in the cloud assembly: the handler's files, the shared modules and the library's chart pins
    and Kubernetes name rules (specs/hyperpod_chart.py, specs/kubernetes_names.py), copied byte for byte."""
    _, function = built.one("AWS::Lambda::Function", "HelmDependencies")
    key = function["Properties"]["Code"]["S3Key"]
    asset_dir = built.outdir / f"asset.{key.removesuffix('.zip')}"
    own = sorted(p.name for p in HANDLER_DIR.glob("*.py"))
    assert {"index.py", "helm_spec.py", "helm_fetch.py", "helm_digest.py", "helm_runner.py"} <= set(own)
    specs = ("hyperpod_chart.py", "kubernetes_names.py")
    assert sorted(p.name for p in asset_dir.iterdir()) == sorted([*own, "eks_auth.py", "cfn_response.py", *specs])
    for name in own:
        assert (asset_dir / name).read_bytes() == (HANDLER_DIR / name).read_bytes()
    for shared in ("eks_auth.py", "cfn_response.py"):
        assert (asset_dir / shared).read_bytes() == (HANDLER_DIR.parent / "shared" / shared).read_bytes()
    for spec in specs:
        assert (asset_dir / spec).read_bytes() == (HANDLER_DIR.parents[2] / "specs" / spec).read_bytes()
    assert not list(asset_dir.rglob("*.pyc"))


def test_handler_role_can_only_describe_this_cluster(built):
    role_id, role = built.one("AWS::IAM::Role", "HelmDependencies")
    managed = {json.dumps(arn) for arn in role["Properties"]["ManagedPolicyArns"]}
    assert len(managed) == 2
    assert all("AWSLambdaBasicExecutionRole" in m or "AWSLambdaVPCAccessExecutionRole" in m for m in managed)
    policies = [p for p in built.of_type("AWS::IAM::Policy").values() if {"Ref": role_id} in p["Properties"]["Roles"]]
    (policy,) = policies
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    cluster_id, _ = built.one("AWS::EKS::Cluster")
    assert statement["Action"] == "eks:DescribeCluster"
    assert statement["Resource"] == {"Fn::GetAtt": [cluster_id, "Arn"]}


def test_handler_logs_go_to_a_retained_log_group(built):
    _, function = built.one("AWS::Lambda::Function", "HelmDependencies")
    group_id = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    group = built.template["Resources"][group_id]
    assert group["Properties"]["RetentionInDays"] == 365
    assert group["DeletionPolicy"] == "Retain"


# --------------------------------------------------------------------------- quality gates


def test_cdk_nag_finds_nothing_unacknowledged_in_these_constructs(built):
    assert built.nag_violations == []


def test_cfn_lint_reports_no_errors(built):
    template = built.outdir / f"{STACK}.template.json"
    result = subprocess.run(
        [str(CFN_LINT), "--format", "json", "--regions", "us-west-2", "--", str(template)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    findings = json.loads(result.stdout or "[]")
    errors = [f for f in findings if f["Level"] == "Error"]
    assert errors == [], json.dumps(errors, indent=1)[:3000]
    assert result.returncode in (0, 4, 8, 12), result.stderr  # 2 = errors, 4 = warnings, 8 = informational


# --------------------------------------------------------------------------- overrides and config


def test_overrides_reach_the_custom_resource(tmp_path):
    """A second, tiny stack (imported cluster): revision + its pins, S3 bundle, toggles, typed values."""
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_eks_v2 as eks
    from aws_cdk.assertions import Template

    from hyperpod_cdk.config.kubernetes import HelmDependenciesConfig
    from hyperpod_cdk.kubernetes.helm_dependencies import HyperPodHelmDependencies

    app = cdk.App()
    stack = cdk.Stack(app, "Overrides", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    vpc = ec2.Vpc(
        stack,
        "Vpc",
        max_azs=2,
        nat_gateways=0,
        subnet_configuration=[
            ec2.SubnetConfiguration(name="Isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24),
        ],
    )
    cluster = eks.Cluster.from_cluster_attributes(
        stack, "Imported", cluster_name="existing", vpc=vpc, cluster_security_group_id="sg-0123456789abcdef0"
    )
    config = HelmDependenciesConfig(
        revision="f57185916d4f7d2fa85caf6a03c04fd17172d330",
        chart_sha256="c" * 64,
        subchart_sha256={"nvidia-device-plugin-0.17.0": "d" * 64},
        source_s3_uri="s3://my-artifacts/charts/hyperpod-chart-bundle-f571859.tgz",
        source_sha256="a" * 64,
        nvidia_device_plugin=False,
        mpi_operator=False,
        health_monitoring_agent_region="eu-central-1",
        extra_values={
            "hyperpod-patching.enabled": False,
            "gpu-operator.enabled": True,
            "image.tag": "null",
            "replicaCount": 2,
        },
        wait=True,
        timeout_minutes=5,
    )
    helm = HyperPodHelmDependencies(stack, "Helm", cluster=cluster, config=config)
    template = Template.from_stack(stack)
    (resource,) = template.find_resources("Custom::HyperPodHelmDependencies").values()
    p = resource["Properties"]
    assert p["Revision"] == "f57185916d4f7d2fa85caf6a03c04fd17172d330"
    assert p["ChartSha256"] == "c" * 64
    assert p["Archives"] == [{"Name": "nvidia-device-plugin", "Version": "0.17.0", "Sha256": "d" * 64, "Condition": ""}]
    assert p["SourceS3Uri"] == "s3://my-artifacts/charts/hyperpod-chart-bundle-f571859.tgz"
    assert "SourceUrlTemplate" not in p
    assert p["SourceSha256"] == "a" * 64
    assert p["Wait"] is True and p["TimeoutSeconds"] == 300
    assert p["ClusterName"] == "existing"
    values = p["Values"]
    assert values["nvidia-device-plugin.devicePlugin.enabled"] is False
    assert values["mpi-operator.enabled"] is False
    assert values["health-monitoring-agent.region"] == "eu-central-1"
    assert values["hyperpod-patching.enabled"] is False
    assert values["gpu-operator.enabled"] is True
    assert values["image.tag"] == "null" and values["replicaCount"] == 2
    assert values["cert-manager.enabled"] is False
    # The bundle is read from S3 with a grant on that one object; isolated subnets are fine.
    policies = template.find_resources("AWS::IAM::Policy")
    statements = [s for pol in policies.values() for s in pol["Properties"]["PolicyDocument"]["Statement"]]
    (s3_read,) = (s for s in statements if s["Action"] == "s3:GetObject")
    assert s3_read["Resource"] == {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, ":s3:::my-artifacts/charts/hyperpod-chart-bundle-f571859.tgz"],
        ]
    }
    assert "github.com" not in json.dumps(template.to_json())
    assert helm.function.node.default_child is not None


def test_release_name_and_namespace_are_checked_at_synth():
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_eks_v2 as eks

    from hyperpod_cdk.errors import HyperPodConfigError
    from hyperpod_cdk.kubernetes.helm_dependencies import HyperPodHelmDependencies

    stack = cdk.Stack(cdk.App(), "Names", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2)
    cluster = eks.Cluster.from_cluster_attributes(
        stack, "Imported", cluster_name="existing", vpc=vpc, cluster_security_group_id="sg-0123456789abcdef0"
    )
    with pytest.raises(HyperPodConfigError, match="release_name"):
        HyperPodHelmDependencies(stack, "Helm", cluster=cluster, release_name="Bad_Name")
    with pytest.raises(HyperPodConfigError, match="namespace"):
        HyperPodHelmDependencies(stack, "Helm2", cluster=cluster, namespace="kube_system")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"revision": "main"}, "40-character"),
        ({"revision": "b01cf90"}, "40-character"),
        ({"revision": "B01CF90676553A711AB1A8AC51422ADBB09AEF6B"}, "lowercase"),
        ({"source_sha256": "abc"}, "source_sha256: 'abc' is not a SHA-256 digest"),
        ({"revision": "f57185916d4f7d2fa85caf6a03c04fd17172d330"}, "chart_sha256: required"),
        ({"chart_sha256": "0" * 64}, "the library pins"),
        ({"subchart_sha256": {"nvidia-device-plugin-0.16.1": "0" * 64}}, "pins the sub-charts"),
        ({"extra_values": {"nvidia-devce-plugin.enabled": False}}, "not a value of the HyperPod chart"),
        ({"extra_values": {"a[0].b": "x"}}, "not a dotted Helm value path"),
        ({"extra_values": {"gpu-operator": "x", "gpu-operator.enabled": True}}, "inside 'gpu-operator'"),
        ({"extra_values": {"health-monitoring-agent": "x"}}, "inside 'health-monitoring-agent'"),
        ({"extra_values": {"replicaCount": 2**64}}, "64-bit"),
        ({"source_s3_uri": "https://bucket/key"}, "source_s3_uri: 'https://bucket/key' is not an S3 object URI"),
        ({"source_url_template": "https://mirror.example.com/cli.tar.gz"}, "{revision}"),
        ({"source_url_template": "http://github.com/{revision}.tar.gz"}, "is not an https:// URL"),
        ({"extra_values": {"cert-manager.enabled": True}}, "cert-manager"),
        ({"extra_values": {"mpi-operator.enabled": False}}, "own fields"),
        ({"chart_path": "helm_chart/../../etc"}, "inside the repository"),
        ({"timeout_minutes": 15}, "less than or equal"),
    ],
)
def test_config_refuses_unsafe_or_drifting_settings(override, message):
    # Built from Python (a construct input), the model raises the config loader's one-line error.
    from hyperpod_cdk.config.kubernetes import HelmDependenciesConfig
    from hyperpod_cdk.errors import HyperPodConfigError

    with pytest.raises(HyperPodConfigError, match=re.escape(message)) as caught:
        HelmDependenciesConfig(**override)
    text = str(caught.value)
    assert text.startswith("HelmDependenciesConfig.") and "\n" not in text
    assert "^" not in text and "pydantic" not in text


def test_default_revision_is_a_full_commit_sha():
    import re

    from hyperpod_cdk.config.kubernetes import DEFAULT_CHART_REVISION, REVISION_PATTERN, HelmDependenciesConfig

    assert re.fullmatch(REVISION_PATTERN, DEFAULT_CHART_REVISION)
    assert HelmDependenciesConfig().revision == DEFAULT_CHART_REVISION


def test_config_models_import_without_aws_cdk():
    """The config models are for the CLI too: importing them must not start jsii."""
    code = "import sys; import hyperpod_cdk.config.kubernetes; print('aws_cdk' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"
