"""Destroy, then deploy the same config again: nothing kept on delete holds a name the new stack
needs, and a retained file system keeps every rule of its security group.

Every example template is scanned (hyperpod.yaml and examples/*.yaml). The three session synths
(default, eks-fsx, slurm) are shared; the other examples are synthesized here without cdk-nag.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hyperpod_cdk.rules import Templates
from hyperpod_cdk.rules.retention import (
    ADOPTED_ON_REDEPLOY,
    RETAINING_DELETION_POLICIES,
    retained_fixed_names,
    retained_in_deleted_network,
    retained_security_group_rules,
)

REPO = Path(__file__).resolve().parent.parent
SHARED = {"hyperpod.yaml": "platform", "examples/eks-fsx.yaml": "eks_fsx", "examples/slurm.yaml": "slurm_app"}
EXAMPLES = ["hyperpod.yaml", *sorted(str(p.relative_to(REPO)) for p in (REPO / "examples").glob("*.yaml"))]


@pytest.fixture(scope="module")
def synthesized(request, synth, tmp_path_factory):
    """Every example's template, by config path (cached per module)."""
    cache: dict[str, dict] = {}

    def get(config: str) -> dict:
        if config not in cache:
            if config in SHARED:
                cache[config] = request.getfixturevalue(SHARED[config]).template
            else:
                out = tmp_path_factory.mktemp(Path(config).stem)
                cache[config] = synth(REPO / config, out, nag=False).template
        return cache[config]

    return get


def test_every_example_is_scanned():
    assert len(EXAMPLES) >= 7 and set(SHARED) <= set(EXAMPLES)


@pytest.mark.parametrize("config", EXAMPLES)
def test_nothing_kept_on_delete_holds_a_fixed_name(synthesized, config):
    template = synthesized(config)
    templates = Templates({config: template})
    assert list(retained_fixed_names(templates)) == []
    assert list(retained_security_group_rules(templates)) == []
    # and the destroy can finish: nothing kept sits in a subnet or security group the stack deletes (RET4)
    assert list(retained_in_deleted_network(templates)) == []
    for logical_id, body in template["Resources"].items():
        if body["Type"] != "AWS::Logs::LogGroup" or body.get("DeletionPolicy") not in RETAINING_DELETION_POLICIES:
            continue
        name = body["Properties"].get("LogGroupName")
        if isinstance(name, str):
            # Only the EKS control-plane group keeps a static name, and the deploy adopts it.
            assert name.startswith("/aws/eks/") and name.endswith("/cluster"), (logical_id, name)
            assert "--import-existing-resources" in body["Metadata"][ADOPTED_ON_REDEPLOY]
        else:
            assert '{"Ref": "AWS::StackId"}' in json.dumps(name), (logical_id, name)


def test_make_deploy_adopts_the_retained_control_plane_group():
    makefile = (REPO / "Makefile").read_text()
    deploy = makefile.split("\ndeploy:", 1)[1].split("\n\n", 1)[0]
    integ = makefile.split("\ninteg:", 1)[1].split("\n\n", 1)[0]
    assert "deploy --all --import-existing-resources" in deploy
    assert "--import-existing-resources" in integ.split("destroy", 1)[0]


def test_the_log_groups_key_policy_names_the_same_per_deployment_group(platform):
    """CloudWatch Logs encrypts only if the key policy's encryption context is the group's own ARN."""
    resources = platform.template["Resources"]
    (installer_id,) = (
        k
        for k, v in resources.items()
        if v["Type"] == "AWS::Logs::LogGroup" and "installer" in json.dumps(v["Properties"].get("LogGroupName"))
    )
    name = resources[installer_id]["Properties"]["LogGroupName"]
    name_json = json.dumps(name)
    contexts = [
        json.dumps(statement["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"])
        for body in resources.values()
        if body["Type"] == "AWS::KMS::Key"
        for statement in body["Properties"]["KeyPolicy"]["Statement"]
        if "ArnEquals" in statement.get("Condition", {})
    ]
    # The name's parts (path, deployment id from AWS::StackId, purpose) appear in one ARN condition.
    parts = name["Fn::Join"][1]
    assert any(all(json.dumps(part) in context or part in context for part in parts) for context in contexts), (
        name_json,
        contexts,
    )


@pytest.mark.parametrize("fixture", ["eks_fsx", "slurm_app"])
def test_retained_file_system_keeps_every_rule_of_its_group(fixture, request):
    app = request.getfixturevalue(fixture)
    _, fsx = app.one("AWS::FSx::FileSystem")
    (group,) = (g["Fn::GetAtt"][0] for g in fsx["Properties"]["SecurityGroupIds"])
    rules = {
        k: v
        for k, v in app.template["Resources"].items()
        if v["Type"] in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress")
        and v["Properties"]["GroupId"] == {"Fn::GetAtt": [group, "GroupId"]}
    }
    ports = {
        (v["Properties"]["IpProtocol"], v["Properties"].get("FromPort"), v["Properties"].get("ToPort"))
        for v in rules.values()
        if v["Type"] == "AWS::EC2::SecurityGroupIngress"
    }
    assert {("-1", None, None), ("tcp", 988, 988), ("tcp", 1018, 1023)} <= ports
    assert {k: v.get("DeletionPolicy") for k, v in rules.items()} == {k: "Retain" for k in rules}
    # Only on delete: a rule an update replaces is still deleted.
    assert {v["UpdateReplacePolicy"] for v in rules.values()} == {"Delete"}


def test_without_a_retained_file_system_the_rules_go_with_the_stack(platform):
    rules = [
        v
        for v in platform.template["Resources"].values()
        if v["Type"] in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress")
    ]
    assert rules and not any("DeletionPolicy" in v for v in rules)


# -- AZs by ID, no lookups --------------------------------------------------------------------------


@pytest.mark.parametrize("config", EXAMPLES)
def test_every_subnet_is_placed_by_az_id(synthesized, config):
    from hyperpod_cdk.specs.az_ids import EKS_UNSUPPORTED_AZ_IDS

    template = synthesized(config)
    text = json.dumps(template)
    assert "Fn::GetAZs" not in text and "dummy1" not in text
    subnets = {k: v["Properties"] for k, v in template["Resources"].items() if v["Type"] == "AWS::EC2::Subnet"}
    for logical_id, props in subnets.items():
        assert "AvailabilityZone" not in props and isinstance(props["AvailabilityZoneId"], str), logical_id
    for body in template["Resources"].values():
        if body["Type"] == "AWS::EKS::Cluster":
            for ref in body["Properties"]["ResourcesVpcConfig"]["SubnetIds"]:
                if isinstance(ref, dict) and ref.get("Ref") in subnets:
                    assert subnets[ref["Ref"]]["AvailabilityZoneId"] not in EKS_UNSUPPORTED_AZ_IDS


def test_synth_with_an_account_needs_no_lookup(synth, tmp_path):
    """config.account makes the app's stack environment-specific: no AZ lookup, no dummy AZ."""
    import yaml

    data = yaml.safe_load((REPO / "examples" / "closed-network.yaml").read_text())
    data["account"] = "123456789012"
    config = tmp_path / "with-account.yaml"
    config.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    app = synth(config, out, nag=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert not manifest.get("missing"), manifest.get("missing")
    text = json.dumps(app.template)
    assert "dummy1" not in text and "Fn::GetAZs" not in text
    subnet_azs = sorted(
        v["Properties"]["AvailabilityZoneId"]
        for v in app.template["Resources"].values()
        if v["Type"] == "AWS::EC2::Subnet"
    )
    assert subnet_azs and all(az.startswith("use1-") or az.startswith("usw2-") for az in subnet_azs)


def test_default_control_plane_az_ids_skip_what_eks_refuses():
    from hyperpod_cdk.specs.az_ids import default_control_plane_az_ids

    assert default_control_plane_az_ids("usw2", ["usw2-az2"], 2) == ["usw2-az2", "usw2-az1"]
    # us-east-1: a HyperPod AZ of use1-az3 is fine for nodes, never for the control plane.
    assert default_control_plane_az_ids("use1", ["use1-az3"], 3) == ["use1-az1", "use1-az2", "use1-az4"]
    assert default_control_plane_az_ids("usw1", [], 2) == ["usw1-az1", "usw1-az3"]
    assert default_control_plane_az_ids("cac1", ["cac1-az3", "cac1-az2"], 2) == ["cac1-az2", "cac1-az1"]


@pytest.mark.parametrize(
    ("region", "azs", "given", "fragment"),
    [
        ("us-east-1", ["use1-az1"], ["use1-az1", "use1-az3"], "EKS does not create control planes in use1-az3"),
        ("us-west-2", ["usw2-az1"], ["usw2-az1", "use1-az2"], "'use1-az2' is not an AZ ID of us-west-2"),
        ("us-west-2", ["usw2-az1"], ["usw2-az1", "usw2-az1"], "repeats an AZ ID"),
        ("us-west-2", ["usw2-az1"], ["usw2-az1", "usw2-az2", "usw2-az3"], "list network.max_azs (2) AZ IDs, got 3"),
    ],
)
def test_control_plane_az_ids_config_errors(region, azs, given, fragment):
    import yaml

    from hyperpod_cdk.config import parse_config
    from hyperpod_cdk.errors import HyperPodConfigError

    data = yaml.safe_load((REPO / "hyperpod.yaml").read_text())
    data["region"] = region
    data["network"]["availability_zone_ids"] = azs
    data["network"]["control_plane_availability_zone_ids"] = given
    for group in data["hyperpod"]["instance_groups"]:
        group.pop("availability_zone_id", None)
    with pytest.raises(HyperPodConfigError) as caught:
        parse_config(data)
    assert caught.value.field.startswith("network.control_plane_availability_zone_ids"), str(caught.value)
    assert fragment in caught.value.message


def test_a_user_stack_with_an_account_is_told_how_to_skip_the_lookup():
    import aws_cdk as cdk

    from hyperpod_cdk.config import parse_config
    from hyperpod_cdk.network.vpc import HyperPodNetwork

    config = parse_config(__import__("yaml").safe_load((REPO / "hyperpod.yaml").read_text()))

    class AzIdStack(cdk.Stack):
        @property
        def availability_zones(self) -> list[str]:
            return config.control_plane_az_ids

    app = cdk.App()
    env = cdk.Environment(account="123456789012", region="us-west-2")
    plain = cdk.Stack(app, "Plain", env=env)
    by_id = AzIdStack(app, "ById", env=env)
    for stack in (plain, by_id):
        HyperPodNetwork.from_config(stack, "Network", config)
    assembly = app.synth()
    warned = {
        s: [m for m in assembly.get_stack_by_name(s).messages if "AZ-name lookup" in str(m.entry.data)]
        for s in ("Plain", "ById")
    }
    assert warned["Plain"] and not warned["ById"]
    # Only the plain stack asks for the lookup; neither template carries an AZ name.
    missing = json.loads((Path(assembly.directory) / "manifest.json").read_text()).get("missing") or []
    assert [m["props"]["account"] for m in missing] == ["123456789012"]
    for name in ("Plain", "ById"):
        assert "dummy1" not in json.dumps(assembly.get_stack_by_name(name).template)
