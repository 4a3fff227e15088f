"""Review round 22, R22T-H2: the synth-time plugin reads the templates of CDK nested stacks.

CDK hands a policy-validation plugin only its stack artifacts' templates (``context.template_paths``); a
``NestedStack``'s template is a file asset of its parent, so a HyperPod cluster in a NestedStack got no rule at
synth while ``hyperpod-cdk lint cdk.out`` read it. ``check_files`` now adds each stack's nested templates (its
asset manifests, the ``aws:asset:path`` metadata), at any depth, read as a cdk.out is (regular files, no links,
caps) and in the parent's region. The real synths below see only what CDK hands the plugin.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks as eks
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sm

import hyperpod_cdk.rules.plugin as plugin_module
from hyperpod_cdk.rules import HyperPodChecks, check_files
from hyperpod_cdk.rules.cdk_out import CdkOutError, read_template_files

REPO = Path(__file__).resolve().parents[1]
ACCOUNT = "111111111111"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/exec"
NOT_IN_DUBLIN = "ml.g6.12xlarge"  # offered in us-west-2, not in eu-west-1 (tests/test_review20_region.py)


def _hyperpod(scope: Any, instance_type: str, *, self_ingress: bool = True) -> None:
    """An EKS-orchestrated HyperPod cluster with its node security group, all in ``scope``."""
    sg = ec2.CfnSecurityGroup(scope, "NodeSg", group_description="hp", vpc_id="vpc-1")
    if self_ingress:
        ec2.CfnSecurityGroupIngress(
            scope, "SelfIn", group_id=sg.attr_group_id, ip_protocol="-1", source_security_group_id=sg.attr_group_id
        )
    ec2.CfnSecurityGroupEgress(
        scope, "SelfOut", group_id=sg.attr_group_id, ip_protocol="-1", destination_security_group_id=sg.attr_group_id
    )
    control_plane = eks.CfnCluster(
        scope,
        "Eks",
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/eks",
        version="1.35",
        resources_vpc_config=eks.CfnCluster.ResourcesVpcConfigProperty(
            subnet_ids=["subnet-1"], endpoint_public_access=False, endpoint_private_access=True
        ),
        access_config=eks.CfnCluster.AccessConfigProperty(authentication_mode="API"),
    )
    lifecycle = sm.CfnCluster.ClusterLifeCycleConfigProperty(source_s3_uri="s3://b/p/", on_create="on_create.sh")
    sm.CfnCluster(
        scope,
        "HP",
        cluster_name="hp",
        node_recovery="Automatic",
        orchestrator=sm.CfnCluster.OrchestratorProperty(
            eks=sm.CfnCluster.ClusterOrchestratorEksConfigProperty(cluster_arn=control_plane.attr_arn)
        ),
        vpc_config=sm.CfnCluster.VpcConfigProperty(security_group_ids=[sg.attr_group_id], subnets=["subnet-1"]),
        instance_groups=[
            sm.CfnCluster.ClusterInstanceGroupProperty(
                instance_group_name="gpu",
                instance_type=instance_type,
                instance_count=1,
                execution_role=ROLE,
                on_start_deep_health_checks=["InstanceStress", "InstanceConnectivity"],
                life_cycle_config=lifecycle,
            ),
            sm.CfnCluster.ClusterInstanceGroupProperty(
                instance_group_name="sys",
                instance_type="ml.m5.xlarge",
                instance_count=1,
                execution_role=ROLE,
                life_cycle_config=lifecycle,
            ),
        ],
    )


def _stack(app: cdk.App, name: str, region: str) -> cdk.Stack:
    return cdk.Stack(app, name, env=cdk.Environment(account=ACCOUNT, region=region))


def _synth(app: cdk.App, handed: list[list[str]]) -> str | None:
    """Synthesize with the plugin, recording the template paths CDK hands it; the error text, or None."""
    original = plugin_module.check_files

    def recording(paths: Any, **kwargs: Any) -> Any:
        handed.append(list(paths))
        return original(paths, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plugin_module, "check_files", recording)
        try:
            app.synth()
        except RuntimeError as exc:
            return str(exc)
    return None


def _ours(outdir: Path) -> dict[str, Any]:
    report = json.loads((outdir / "validation-report.json").read_text())
    return next((p for p in report["pluginReports"] if p["pluginName"] == "HyperPodChecks"), {})


@pytest.fixture(scope="module")
def defects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One app, one synth: each stack holds its defect in a nested stack (one a nested stack's nested stack),
    and one defect acknowledged on the construct inside its nested stack."""
    outdir = tmp_path_factory.mktemp("nested-defects")
    app = cdk.App(outdir=str(outdir))
    _hyperpod(cdk.NestedStack(_stack(app, "Dublin", "eu-west-1"), "N"), NOT_IN_DUBLIN)
    _hyperpod(cdk.NestedStack(_stack(app, "Efa", "us-west-2"), "N"), "ml.g5.8xlarge", self_ingress=False)
    outer = cdk.NestedStack(_stack(app, "Deep", "eu-west-1"), "Outer")
    _hyperpod(cdk.NestedStack(outer, "Inner"), NOT_IN_DUBLIN)
    acked = cdk.NestedStack(_stack(app, "Acked", "eu-west-1"), "N")
    _hyperpod(acked, NOT_IN_DUBLIN)
    cdk.Validations.of(acked.node.find_child("HP")).acknowledge(
        cdk.Acknowledgment(id="HyperPodChecks::HyperPod-TYPE1", reason="the test's acknowledged group")
    )
    cdk.Validations.of(app).add_plugins(HyperPodChecks(kinds=["deploy"]))
    handed: list[list[str]] = []
    error = _synth(app, handed)
    return {"outdir": outdir, "error": error, "handed": handed, "report": _ours(outdir)}


def _violations(report: dict[str, Any], key: str = "violations") -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (v["ruleName"], c["constructPath"]): {"severity": v["severity"], **c["cloudFormationResource"]}
        for v in report.get(key) or []
        for c in v["violatingConstructs"]
    }


def test_cdk_hands_the_plugin_only_the_stacks_templates(defects):
    """The premise: no nested template among ``template_paths`` (so the plugin must find them itself)."""
    (handed,) = defects["handed"]
    assert sorted(Path(p).name for p in handed) == [
        "Acked.template.json",
        "Deep.template.json",
        "Dublin.template.json",
        "Efa.template.json",
    ]
    assert len(list(defects["outdir"].glob("*.nested.template.json"))) == 5


def test_a_cluster_in_a_nested_stack_fails_synth_on_type1(defects):
    """Before: synth passed with no HyperPodChecks report at all (review/round22t/region/app3.py)."""
    assert defects["error"] is not None and "ValidationFailed" in defects["error"]
    assert defects["report"]["conclusion"] == "failure"
    found = _violations(defects["report"])[("HyperPod-TYPE1", "Dublin/N/HP")]
    assert found["severity"] == "error" and found["logicalId"] == "HP"
    assert found["templatePath"].startswith("DublinN") and found["templatePath"].endswith(".nested.template.json")
    (type1,) = (
        v for v in defects["report"]["violations"] if v["ruleName"] == "HyperPod-TYPE1" and "Dublin/N/HP" in str(v)
    )
    assert f"{NOT_IN_DUBLIN} is not offered by SageMaker HyperPod in eu-west-1" in type1["description"]


def test_an_efa_defect_in_a_nested_stack_fails_synth(defects):
    found = _violations(defects["report"])[("HyperPod-EFA1", "Efa/N/HP")]
    assert found["severity"] == "error" and found["templatePath"].startswith("EfaN")


def test_a_nested_stacks_nested_stack_is_read_in_the_top_stacks_region(defects):
    found = _violations(defects["report"])[("HyperPod-TYPE1", "Deep/Outer/Inner/HP")]
    assert found["severity"] == "error" and found["templatePath"].startswith("DeepOuterInner")


def test_findings_in_a_nested_stack_are_acknowledged_on_its_constructs(defects):
    """CDK maps a nested template's logical id to its construct, so an acknowledgment there applies."""
    assert ("HyperPod-TYPE1", "Acked/N/HP") not in _violations(defects["report"])
    assert ("HyperPod-TYPE1", "Acked/N/HP") in _violations(defects["report"], "suppressedViolations")
    # Nothing else: the clean parts of each nested stack pass.
    assert sorted(_violations(defects["report"])) == [
        ("HyperPod-EFA1", "Efa/N/HP"),
        ("HyperPod-TYPE1", "Deep/Outer/Inner/HP"),
        ("HyperPod-TYPE1", "Dublin/N/HP"),
    ]


@pytest.fixture(scope="module")
def clean_platform(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """HyperPodPlatform in a NestedStack, the VPC in the parent (values cross as nested-stack parameters)."""
    from hyperpod_cdk import HyperPodPlatform, load_config

    outdir = tmp_path_factory.mktemp("nested-platform")
    context = json.loads((REPO / "cdk.json").read_text())["context"]
    app = cdk.App(outdir=str(outdir), context=context)
    cdk.Validations.of(app).add_plugins(HyperPodChecks())
    parent = cdk.Stack(app, "Parent", env=cdk.Environment(region="us-west-2"))
    config = load_config(REPO / "hyperpod.yaml")
    vpc = ec2.Vpc.from_vpc_attributes(
        parent,
        "Vpc",
        vpc_id="vpc-0123456789abcdef0",
        vpc_cidr_block="10.0.0.0/16",
        availability_zones=["us-west-2a", "us-west-2b"],
        private_subnet_ids=["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"],
    )
    subnet = ec2.Subnet.from_subnet_attributes(
        parent, "TrainingSubnet", subnet_id="subnet-0bbbbbbbbbbbbbbb1", ipv4_cidr_block="10.0.64.0/18"
    )
    HyperPodPlatform(
        cdk.NestedStack(parent, "Training"),
        "Platform",
        config=config,
        vpc=vpc,
        hyperpod_subnets={config.network.availability_zone_ids[0]: subnet},
    )
    handed: list[list[str]] = []
    error = _synth(app, handed)
    return {"outdir": outdir, "error": error, "handed": handed, "report": _ours(outdir)}


def test_a_clean_platform_in_a_nested_stack_passes(clean_platform):
    assert clean_platform["error"] is None
    assert _violations(clean_platform["report"]) == {}
    # ... and passes with its nested template read, in the parent's region.
    (handed,) = clean_platform["handed"]
    files = read_template_files(handed)
    templates, regions, nested_in = files.templates, files.regions, files.nested_in
    nested = [p for p in templates if p.endswith(".nested.template.json")]
    assert [Path(p).name[: len("ParentTraining")] for p in nested] == ["ParentTraining"]
    resources = templates[nested[0]].template["Resources"].values()
    assert any(r["Type"] == "AWS::SageMaker::Cluster" for r in resources)
    assert regions[nested[0]] == "us-west-2"
    # Its stack resource in the parent is known (by the asset hash of its TemplateURL): the VPC's values the
    # parent passes are what the nested template's parameters stand for.
    parent, logical_id = nested_in[nested[0]]
    assert parent == handed[0] and templates[parent].template["Resources"][logical_id]["Type"] == (
        "AWS::CloudFormation::Stack"
    )


@pytest.fixture(scope="module")
def group_in_the_parent(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The node security group with its self rules and the lifecycle bucket in the parent, the cluster in a
    NestedStack: the group's id and the bucket's name cross as nested-stack parameters; one nested stack
    gets a group without the self ingress. A topic under an unknown condition makes the plugin read worlds."""
    outdir = tmp_path_factory.mktemp("group-in-parent")
    app = cdk.App(outdir=str(outdir))
    parent = _stack(app, "S", "us-west-2")
    scripts = s3.CfnBucket(parent, "Scripts")  # the lifecycle bucket in the parent too: its name crosses
    # A resource under a condition not known at synth: the condition worlds read the nested templates too,
    # and must follow the parameters to the parent there as well.
    extra = cdk.CfnCondition(
        parent, "ExtraOn", expression=cdk.Fn.condition_equals(cdk.CfnParameter(parent, "Extra").value_as_string, "on")
    )
    cdk.CfnResource(parent, "ExtraTopic", type="AWS::SNS::Topic").cfn_options.condition = extra
    lifecycle = sm.CfnCluster.ClusterLifeCycleConfigProperty(
        source_s3_uri=f"s3://{scripts.ref}/lifecycle/", on_create="on_create.sh"
    )
    for name, self_ingress in (("Good", True), ("Bad", False)):
        sg = ec2.CfnSecurityGroup(parent, f"{name}Sg", group_description="hp", vpc_id="vpc-1")
        rules = [("Out", ec2.CfnSecurityGroupEgress, "destination_security_group_id")]
        rules += [("In", ec2.CfnSecurityGroupIngress, "source_security_group_id")] if self_ingress else []
        for suffix, rule, peer in rules:
            rule(parent, f"{name}{suffix}", group_id=sg.attr_group_id, ip_protocol="-1", **{peer: sg.attr_group_id})
        sm.CfnCluster(
            cdk.NestedStack(parent, name),
            "HP",
            cluster_name=name.lower(),
            node_recovery="Automatic",
            vpc_config=sm.CfnCluster.VpcConfigProperty(security_group_ids=[sg.attr_group_id], subnets=["subnet-1"]),
            instance_groups=[
                sm.CfnCluster.ClusterInstanceGroupProperty(
                    instance_group_name="gpu",
                    instance_type="ml.g5.8xlarge",
                    instance_count=1,
                    execution_role=ROLE,
                    on_start_deep_health_checks=["InstanceStress", "InstanceConnectivity"],
                    life_cycle_config=lifecycle,
                )
            ],
        )
    cdk.Validations.of(app).add_plugins(HyperPodChecks(kinds=["deploy"]))
    error = _synth(app, [])
    return {"error": error, "report": _ours(outdir), "outdir": outdir}


def test_lint_of_the_cdk_out_follows_nested_parameters_to_the_parent_too(
    group_in_the_parent: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """``lint cdk.out`` reads the same parents: the good group passes EFA1 and LCS1 (it was a not-checked line
    for each), the bad one is the one error."""
    from hyperpod_cdk.cli.main import main

    capsys.readouterr()
    assert main(["lint", str(group_in_the_parent["outdir"]), "--parameter", "Extra=off", "--json"]) == 1
    rows = json.loads(capsys.readouterr().out)["findings"]
    found = [
        (r["rule_id"], r["severity"], Path(r["file"]).name[:4]) for r in rows if r["rule_id"][9:] in ("EFA1", "LCS1")
    ]
    assert found == [("HyperPod-EFA1", "error", "SBad")]


def test_a_group_passed_from_the_parent_is_read_there(group_in_the_parent):
    """EFA1 follows the nested-stack parameter to the parent's group and its rules: the group with both self
    rules passes (it was a false "has no all-traffic ingress" error), the one without its ingress fails.
    LCS1 reads ``s3://<the parent's bucket>/lifecycle/`` by its shape, as in one stack (no "not known")."""
    assert group_in_the_parent["error"] is not None
    assert sorted(_violations(group_in_the_parent["report"])) == [("HyperPod-EFA1", "S/Bad/HP")]
    (efa1,) = group_in_the_parent["report"]["violations"]
    assert "has no all-traffic ingress from itself" in efa1["description"]


# ------------------------------------------------------------------ what the reader follows, and what not


def _cluster_template(instance_type: str = NOT_IN_DUBLIN) -> dict[str, Any]:
    group = {"InstanceGroupName": "gpu", "InstanceType": instance_type, "InstanceCount": 1, "ExecutionRole": ROLE}
    return {"Resources": {"Hp": {"Type": "AWS::SageMaker::Cluster", "Properties": {"InstanceGroups": [group]}}}}


def _nested_resource(asset_path: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": "https://x/y.json"}}
    if asset_path is not None:
        body["Metadata"] = {"aws:asset:path": asset_path}
    return body


def _cdk_out(
    folder: Path,
    listed: list[str],
    parent_resources: dict[str, Any] | None = None,
    parent_template: dict[str, Any] | None = None,
) -> Path:
    """A cdk.out with stack S (eu-west-1) whose asset manifest lists ``listed`` as file assets; its template
    is ``parent_template``, else one holding ``parent_resources``."""
    folder.mkdir(parents=True, exist_ok=True)
    parent = folder / "S.template.json"
    template = parent_template or {"Resources": parent_resources or {"Nested": _nested_resource()}}
    parent.write_text(json.dumps(template))
    files = {str(i): {"source": {"path": name, "packaging": "file"}} for i, name in enumerate(listed)}
    (folder / "S.assets.json").write_text(json.dumps({"version": "48.0.0", "files": files}))
    artifacts = {
        "S.assets": {"type": "cdk:asset-manifest", "properties": {"file": "S.assets.json"}},
        "S": {
            "type": "aws:cloudformation:stack",
            "environment": f"aws://{ACCOUNT}/eu-west-1",
            "properties": {"templateFile": "S.template.json"},
            "dependencies": ["S.assets"],
        },
    }
    (folder / "manifest.json").write_text(json.dumps({"version": "48.0.0", "artifacts": artifacts}))
    return parent


def _type1(paths: list[Path]) -> list[str]:
    return sorted(
        Path(f.template_path).name for f in check_files(paths, kinds=["deploy"]) if f.rule_id == "HyperPod-TYPE1"
    )


def test_nested_templates_by_asset_manifest_and_by_metadata(tmp_path):
    """The asset manifest's template (any depth: CDK lists them all on the top stack) and, where CDK writes
    asset metadata, the ``aws:asset:path`` of a nested stack resource, each read once."""
    parent = _cdk_out(tmp_path / "out", ["SA.nested.template.json"], {"A": _nested_resource("SA.nested.template.json")})
    (tmp_path / "out" / "SA.nested.template.json").write_text(
        json.dumps(
            {"Resources": {**_cluster_template()["Resources"], "B": _nested_resource("SAB.nested.template.json")}}
        )
    )
    (tmp_path / "out" / "SAB.nested.template.json").write_text(json.dumps(_cluster_template()))
    assert _type1([parent]) == ["SA.nested.template.json", "SAB.nested.template.json"]
    nested_in = read_template_files([parent]).nested_in
    assert {Path(k).name: (Path(p).name, i) for k, (p, i) in nested_in.items()} == {
        "SA.nested.template.json": ("S.template.json", "A"),
        "SAB.nested.template.json": ("SA.nested.template.json", "B"),
    }


def test_a_cycle_of_nested_stacks_is_read_once(tmp_path):
    parent = _cdk_out(tmp_path / "out", ["SA.nested.template.json"])
    (tmp_path / "out" / "SA.nested.template.json").write_text(
        json.dumps(
            {
                "Resources": {
                    **_cluster_template()["Resources"],
                    "Again": _nested_resource("S.template.json"),
                    "Self": _nested_resource("SA.nested.template.json"),
                }
            }
        )
    )
    assert _type1([parent]) == ["SA.nested.template.json"]
    # A stack's own template is never taken for a nested stack's (its parameters would loop).
    assert read_template_files([parent]).nested_in == {}


def test_nothing_outside_the_assembly_directory_is_read(tmp_path):
    """Manifest and metadata names that are not plain file names next to the parent are never opened."""
    (tmp_path / "outside.template.json").write_text(json.dumps(_cluster_template()))
    names = ["../outside.template.json", str(tmp_path / "outside.template.json"), "sub/x.template.json"]
    folder = tmp_path / "nested-out"
    parent = _cdk_out(folder, names, {f"N{i}": _nested_resource(name) for i, name in enumerate(names)})
    (folder / "sub").mkdir()
    (folder / "sub" / "x.template.json").write_text(json.dumps(_cluster_template()))
    assert _type1([parent]) == []


@pytest.mark.parametrize("kind", ["link", "fifo", "device"])
def test_a_nested_template_that_is_not_a_regular_file_is_refused_in_one_line(tmp_path, kind):
    """Not read through a link (to /dev/zero, or a file elsewhere), never blocked on a FIFO."""
    parent = _cdk_out(tmp_path / "out", ["SA.nested.template.json"])
    nested = tmp_path / "out" / "SA.nested.template.json"
    if kind == "link":
        (tmp_path / "elsewhere.json").write_text(json.dumps(_cluster_template()))
        nested.symlink_to(tmp_path / "elsewhere.json")
    elif kind == "fifo":
        os.mkfifo(nested)
    else:
        nested.symlink_to("/dev/zero")
    with pytest.raises(CdkOutError, match="SA.nested.template.json"):
        check_files([parent], kinds=["deploy"])


def test_a_nested_template_over_the_size_cap_is_refused(tmp_path):
    parent = _cdk_out(tmp_path / "out", ["SA.nested.template.json"])
    padding = " " * (9 << 20)
    (tmp_path / "out" / "SA.nested.template.json").write_text('{"Resources": {}' + padding + "}")
    with pytest.raises(CdkOutError, match="too large"):
        check_files([parent], kinds=["deploy"])


def test_check_files_on_every_template_of_the_cdk_out_reads_the_nested_ones_as_nested(
    group_in_the_parent: dict[str, Any],
) -> None:
    """R23U-L2: docs/library.md's ``check_files(Path("cdk.out").glob("*.template.json"))`` names the nested
    templates too; each must still read its parameters from its parent (no false EFA1 on the good group)."""
    paths = sorted(Path(group_in_the_parent["outdir"]).glob("*.template.json"))
    found = [
        f for f in check_files(paths, parameters={"Extra": "off"}) if f.rule_id in ("HyperPod-EFA1", "HyperPod-LCS1")
    ]
    assert [(f.rule_id, Path(f.template_path).name[:4]) for f in found] == [("HyperPod-EFA1", "SBad")], found
