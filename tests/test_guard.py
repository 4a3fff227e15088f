"""Replacement guard: the table agrees with cfn-lint's schemas, real config changes are caught or pass,
and the command behaves (exit codes, one-line errors, stack:NAME through a stubbed CloudFormation)."""

from __future__ import annotations

import copy
import importlib
import json
from pathlib import Path

import pytest
import yaml

from hyperpod_cdk.guard import (
    GUARDED_TYPES,
    HAND_TABLE,
    compare_templates,
    guarded_properties,
    main,
    schema_create_only,
)
from hyperpod_cdk.guard.table import KEYED_LISTS, pointer_to_path, schemas_available

REPO = Path(__file__).resolve().parent.parent
guard_cli = importlib.import_module("hyperpod_cdk.guard.__main__")


# ------------------------------------------------------------------ the table vs. the schemas

SCHEMA_REGIONS = ("us-east-1", "us-west-2")


@pytest.mark.parametrize("region", SCHEMA_REGIONS)
def test_hand_entries_agree_with_bundled_schema(region):
    """A hand-written "replacement" path is create-only in the schema, and a "disruptive"/"blocked"
    path is not, unless the entry says why (schema_note). A schema update that moves a path fails here."""
    assert schemas_available(), "cfn-lint's bundled schemas are needed for this check"
    problems = []
    for entry in HAND_TABLE:
        create_only = set(schema_create_only(entry.resource_type, region))
        if entry.effect == "replacement" and entry.path not in create_only and not entry.schema_note:
            problems.append(f"{entry.resource_type} {entry.path}: no longer create-only in the schema")
        if entry.effect != "replacement" and entry.path in create_only and not entry.schema_note:
            problems.append(f"{entry.resource_type} {entry.path}: create-only in the schema, marked {entry.effect}")
    assert not problems, "\n".join(problems)


def test_documented_schema_exceptions_are_still_exceptions():
    """Entries whose note says the schema disagrees must still disagree (else drop the note)."""
    stale = []
    for entry in HAND_TABLE:
        if not entry.schema_note:
            continue
        create_only = set(schema_create_only(entry.resource_type, "us-east-1"))
        agrees = (entry.path in create_only) == (entry.effect == "replacement")
        if agrees:
            stale.append(f"{entry.resource_type} {entry.path}")
    assert not stale, f"schema now agrees, remove schema_note: {stale}"


def test_every_guarded_type_has_a_schema_and_every_entry_a_doc_url():
    for resource_type in GUARDED_TYPES:
        entries = guarded_properties(resource_type, "us-west-2")
        assert entries, resource_type
        for entry in entries:
            assert entry.doc_url.startswith("https://docs.aws.amazon.com/"), entry
            assert entry.reason.strip(), entry
        # Everything the schema calls create-only is guarded, by hand or derived.
        paths = {e.path for e in entries}
        assert set(schema_create_only(resource_type, "us-west-2")) <= paths


def test_schema_pointers_become_guard_paths():
    assert pointer_to_path("/properties/InstanceGroups/*/InstanceType") == "InstanceGroups[*].InstanceType"
    assert pointer_to_path("/properties/AccessConfig/BootstrapClusterCreatorAdminPermissions") == (
        "AccessConfig.BootstrapClusterCreatorAdminPermissions"
    )
    # The June 2026 schema: only three create-only paths left on the HyperPod cluster.
    assert set(schema_create_only("AWS::SageMaker::Cluster")) == {"ClusterName", "VpcConfig", "Orchestrator.Eks"}
    assert ("AWS::SageMaker::Cluster", "InstanceGroups") in KEYED_LISTS


# ------------------------------------------------------------------ real synths of config pairs


def _mutate(data: dict, change: str) -> None:
    groups = data["hyperpod"]["instance_groups"]
    gpu = next(g for g in groups if g["name"] == "gpu")
    if change == "instance_type":
        gpu["instance_type"] = "ml.g5.12xlarge"
    elif change == "rename":
        data["hyperpod"]["cluster_name"] = "hyperpod-renamed"
    elif change == "vpc":
        data["network"]["hyperpod_cidr"] = "10.2.0.0/16"
    elif change == "count":
        gpu["instance_count"] = 3
    elif change == "tags":
        data["tags"] = {**data.get("tags", {}), "team": "ml-platform", "cost-center": "4711"}


@pytest.fixture(scope="module")
def synths(synth, tmp_path_factory):
    """Synthesize the default config and five one-change variants once (nag off, ~1 s each after the first)."""
    base = yaml.safe_load((REPO / "hyperpod.yaml").read_text())
    root = tmp_path_factory.mktemp("guard")
    out = {}
    for name in ("base", "instance_type", "rename", "vpc", "count", "tags"):
        data = copy.deepcopy(base)
        if name != "base":
            _mutate(data, name)
        config = root / f"{name}.yaml"
        config.write_text(yaml.safe_dump(data))
        result = synth(config, root / f"{name}.out", nag=False)
        template_file = root / f"{name}.template.json"
        template_file.write_text(json.dumps(result.template))
        out[name] = (template_file, result.outdir, result.template)
    return out


def _one_id(template: dict, cfn_type: str) -> str:
    (logical_id,) = (k for k, v in template["Resources"].items() if v["Type"] == cfn_type)
    return logical_id


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_instance_type_change_is_caught(synths, capsys):
    base, new = synths["base"][0], synths["instance_type"][0]
    code, out, _ = _run(capsys, "--old", base, "--new", new)
    cluster = _one_id(synths["base"][2], "AWS::SageMaker::Cluster")
    assert code == 1
    assert f"{cluster} (AWS::SageMaker::Cluster)" in out
    assert '[DISRUPTIVE] InstanceGroups[gpu].InstanceType: "ml.g5.8xlarge" -> "ml.g5.12xlarge"' in out
    assert "clusterinstancegroup-instancetype" in out  # doc URL
    # Only the changed group is named, not the system group.
    assert "InstanceGroups[system]" not in out


def test_cluster_rename_is_a_replacement(synths, capsys):
    code, out, _ = _run(capsys, "--old", synths["base"][0], "--new", synths["rename"][0])
    assert code == 1
    assert '[REPLACEMENT] ClusterName: "hyperpod-demo" -> "hyperpod-renamed"' in out
    assert "AWS::SageMaker::Cluster" in out


def test_vpc_change_replaces_subnet_and_cascades_into_hyperpod(synths, capsys):
    base_t, vpc_t = synths["base"][2], synths["vpc"][2]
    report = compare_templates(base_t, vpc_t, "us-west-2")
    by_key = {(f.resource_type, f.property): f for f in report.findings}
    assert by_key[("AWS::EC2::VPCCidrBlock", "CidrBlock")].new == "10.2.0.0/16"
    assert by_key[("AWS::EC2::Subnet", "CidrBlock")].effect == "replacement"
    cascade = by_key[("AWS::SageMaker::Cluster", "VpcConfig.Subnets")]
    assert cascade.effect == "replacement"
    subnet_id = next(f.logical_id for f in report.findings if f.resource_type == "AWS::EC2::Subnet")
    assert subnet_id in (cascade.cause or "")
    code, out, _ = _run(capsys, "--old", synths["base"][0], "--new", synths["vpc"][0])
    assert code == 1
    assert "VpcConfig.Subnets" in out and "(unchanged in the template)" in out


def test_secrets_key_change_replaces_eks_and_hyperpod(synths, tmp_path, capsys):
    template = copy.deepcopy(synths["base"][2])
    eks_id = _one_id(template, "AWS::EKS::Cluster")
    other_key = next(k for k, v in template["Resources"].items() if v["Type"] == "AWS::KMS::Key" and "Eks" not in k)
    provider = template["Resources"][eks_id]["Properties"]["EncryptionConfig"][0]["Provider"]
    old_arn = provider["KeyArn"]
    provider["KeyArn"] = {"Fn::GetAtt": [other_key, "Arn"]}
    assert provider["KeyArn"] != old_arn
    new_file = tmp_path / "new.template.json"
    new_file.write_text(json.dumps(template))

    code, out, _ = _run(capsys, "--old", synths["base"][0], "--new", new_file, "--json")
    assert code == 1
    data = json.loads(out)
    assert data["blocking"] is True
    found = {(f["logical_id"], f["property"]): f for f in data["findings"]}
    eks = found[(eks_id, "EncryptionConfig[0].Provider.KeyArn")]
    assert eks["effect"] == "replacement" and eks["new"] == {"Fn::GetAtt": [other_key, "Arn"]}
    assert "fails on the name" in eks["note"]  # the EKS cluster keeps its fixed Name
    hyperpod_id = _one_id(template, "AWS::SageMaker::Cluster")
    assert found[(hyperpod_id, "Orchestrator.Eks.ClusterArn")]["cause"].startswith(eks_id)
    assert any(f["resource_type"] == "AWS::EKS::Addon" for f in data["findings"])


def test_instance_count_change_passes(synths, capsys):
    gpu_counts = [
        next(
            g["InstanceCount"]
            for g in synths[name][2]["Resources"][_one_id(synths[name][2], "AWS::SageMaker::Cluster")]["Properties"][
                "InstanceGroups"
            ]
            if g["InstanceGroupName"] == "gpu"
        )
        for name in ("base", "count")
    ]
    assert gpu_counts == [1, 3]
    code, out, _ = _run(capsys, "--old", synths["base"][0], "--new", synths["count"][0])
    assert code == 0, out
    assert out.startswith("no replacing changes")


def test_tag_change_passes(synths, capsys):
    assert synths["base"][2] != synths["tags"][2]
    assert '"team"' in json.dumps(synths["tags"][2])
    code, out, _ = _run(capsys, "--old", synths["base"][0], "--new", synths["tags"][0])
    assert code == 0, out
    assert "no replacing changes" in out


def test_cloud_assembly_dirs_are_accepted(synths, capsys):
    """--old/--new may be cdk.out directories; the region comes from the manifest."""
    code, out, _ = _run(capsys, "--old", synths["base"][1], "--new", synths["instance_type"][1])
    assert code == 1
    assert "schemas: us-west-2" in out
    assert "InstanceGroups[gpu].InstanceType" in out


# ------------------------------------------------------------------ hand-made templates


def _template(resources: dict) -> dict:
    return {"Resources": resources}


def _eks(auth_mode: str | None = None, **props) -> dict:
    properties = {"Name": "eks", "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]}, **props}
    if auth_mode is not None:
        properties["AccessConfig"] = {"AuthenticationMode": auth_mode}
    return _template({"Eks": {"Type": "AWS::EKS::Cluster", "Properties": properties}})


def _write(path: Path, template: dict) -> Path:
    path.write_text(json.dumps(template))
    return path


@pytest.mark.parametrize(
    ("old", "new", "blocked"),
    [
        ("API", "CONFIG_MAP", True),
        ("API", "API_AND_CONFIG_MAP", True),
        ("API_AND_CONFIG_MAP", None, True),  # absent means CONFIG_MAP
        ("API_AND_CONFIG_MAP", "API", False),
        (None, "API_AND_CONFIG_MAP", False),
        ("API", "API", False),
    ],
)
def test_authentication_mode_only_moves_forward(old, new, blocked):
    report = compare_templates(_eks(old), _eks(new))
    effects = [(f.property, f.effect) for f in report.findings]
    assert effects == ([("AccessConfig.AuthenticationMode", "blocked")] if blocked else [])


def test_auth_mode_downgrade_exits_1(tmp_path, capsys):
    old = _write(tmp_path / "old.json", _eks("API"))
    new = _write(tmp_path / "new.json", _eks("CONFIG_MAP"))
    code, out, _ = _run(capsys, "--old", old, "--new", new)
    assert code == 1
    assert '[BLOCKED] AccessConfig.AuthenticationMode: "API" -> "CONFIG_MAP"' in out
    assert "setting-up-access-entries" in out


def _fsx(**props) -> dict:
    properties = {
        "FileSystemType": "LUSTRE",
        "StorageCapacity": 1200,
        "SubnetIds": [{"Ref": "SubnetA"}],
        "SecurityGroupIds": [{"Ref": "Sg1"}, {"Ref": "Sg2"}],
        "KmsKeyId": {"Ref": "KeyA"},
        "LustreConfiguration": {"DeploymentType": "PERSISTENT_2", "PerUnitStorageThroughput": 125},
    }
    properties.update(props)
    return _template(
        {
            "Fsx": {
                "Type": "AWS::FSx::FileSystem",
                "Properties": properties,
                "Metadata": {"aws:cdk:path": "Stack/Fsx/Resource"},
            }
        }
    )


def test_fsx_kms_key_change_is_a_replacement(tmp_path, capsys):
    old = _write(tmp_path / "old.json", _fsx())
    new = _write(tmp_path / "new.json", _fsx(KmsKeyId={"Ref": "KeyB"}))
    code, out, _ = _run(capsys, "--old", old, "--new", new)
    assert code == 1
    assert "Fsx (AWS::FSx::FileSystem)  Stack/Fsx/Resource" in out
    assert '[REPLACEMENT] KmsKeyId: {"Ref":"KeyA"} -> {"Ref":"KeyB"}' in out
    assert "cfn-fsx-filesystem-kmskeyid" in out


def test_fsx_lustre_paths():
    base = _fsx()
    throughput = _fsx(LustreConfiguration={"DeploymentType": "PERSISTENT_2", "PerUnitStorageThroughput": 250})
    deployment = _fsx(LustreConfiguration={"DeploymentType": "SCRATCH_2", "PerUnitStorageThroughput": 125})
    [f] = compare_templates(base, throughput).findings
    assert (f.property, f.effect) == ("LustreConfiguration.PerUnitStorageThroughput", "disruptive")
    [f] = compare_templates(base, deployment).findings
    assert (f.property, f.effect) == ("LustreConfiguration.DeploymentType", "replacement")


def test_set_like_lists_and_getatt_forms_compare_equal():
    # EKS ResourcesVpcConfig.SubnetIds is insertionOrder false in its registry schema: a set.
    subnets = {"SubnetIds": [{"Ref": "A"}, {"Ref": "B"}]}
    reordered = {"SubnetIds": [{"Ref": "B"}, {"Ref": "A"}]}
    assert (
        compare_templates(_eks("API", ResourcesVpcConfig=subnets), _eks("API", ResourcesVpcConfig=reordered)).findings
        == []
    )
    dotted = _eks("API", RoleArn={"Fn::GetAtt": "Role.Arn"})
    assert compare_templates(_eks("API"), dotted).findings == []


def test_kms_key_spec_default_and_change():
    def key(**props):
        return _template({"Key": {"Type": "AWS::KMS::Key", "Properties": props}})

    assert compare_templates(key(), key(KeySpec="SYMMETRIC_DEFAULT")).findings == []
    [f] = compare_templates(key(), key(KeySpec="RSA_2048")).findings
    assert (f.property, f.effect) == ("KeySpec", "blocked")


def _hyperpod(*groups: tuple[str, int], role: str = "Role") -> dict:
    return _template(
        {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": role}},
            "HyperPod": {
                "Type": "AWS::SageMaker::Cluster",
                "Properties": {
                    "ClusterName": "hp",
                    "InstanceGroups": [
                        {
                            "InstanceGroupName": name,
                            "InstanceType": "ml.g5.8xlarge",
                            "InstanceCount": count,
                            "ExecutionRole": {"Fn::GetAtt": ["Role", "Arn"]},
                        }
                        for name, count in groups
                    ],
                },
            },
        }
    )


def test_instance_groups_are_matched_by_name():
    old = _hyperpod(("system", 1), ("gpu", 2), ("spare", 0))
    # Reordered and the empty group dropped: nothing to report.
    assert compare_templates(old, _hyperpod(("gpu", 2), ("system", 1))).findings == []
    # Renamed group: the old one (with nodes) disappears.
    [f] = compare_templates(old, _hyperpod(("system", 1), ("gpu-v2", 2), ("spare", 0))).findings
    assert (f.property, f.effect) == ("InstanceGroups[gpu]", "disruptive")
    assert "gpu-v2" in (f.cause or "")


def test_replaced_role_disrupts_instance_groups():
    report = compare_templates(_hyperpod(("gpu", 2)), _hyperpod(("gpu", 2), role="Other"))
    found = {(f.logical_id, f.property): f for f in report.findings}
    assert found[("Role", "RoleName")].effect == "replacement"
    cascade = found[("HyperPod", "InstanceGroups[gpu].ExecutionRole")]
    assert cascade.effect == "disruptive" and "Role is replaced" in (cascade.cause or "")


def _with_volume_key(template: dict, key: object) -> dict:
    template = copy.deepcopy(template)
    for group in template["Resources"]["HyperPod"]["Properties"]["InstanceGroups"]:
        volume: dict = {"VolumeSizeInGB": 500}
        if key is not None:
            volume["VolumeKmsKeyId"] = key
        group["InstanceStorageConfigs"] = [{"EbsVolumeConfig": volume}]
    return template


def test_ebs_volume_key_cannot_change():
    """https://docs.aws.amazon.com/sagemaker/latest/dg/smcluster-cmk.html: no key transition."""
    base = _hyperpod(("gpu", 2))
    cmk = _with_volume_key(base, {"Fn::GetAtt": ["DataKey", "Arn"]})
    assert compare_templates(cmk, copy.deepcopy(cmk)).findings == []
    for old, new in (
        (cmk, _with_volume_key(base, {"Fn::GetAtt": ["OtherKey", "Arn"]})),
        (_with_volume_key(base, None), cmk),
        (cmk, _with_volume_key(base, None)),
    ):
        [f] = compare_templates(old, new).findings
        assert f.effect == "blocked"
        assert f.property.startswith("InstanceGroups[gpu].InstanceStorageConfigs[0].EbsVolumeConfig")
        assert "smcluster-cmk" in f.doc_url


def test_logical_id_change_of_stateful_resource():
    def with_key(key_id):
        return _template(
            {
                key_id: {"Type": "AWS::KMS::Key", "DeletionPolicy": "Retain", "Properties": {}},
                "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"KmsKeyId": {"Fn::GetAtt": [key_id, "Arn"]}}},
            }
        )

    [f] = compare_templates(with_key("KeyA"), with_key("KeyB")).findings
    assert (f.logical_id, f.property, f.effect) == ("KeyA", "(logical ID)", "replacement")
    assert f.new == {"logical_id": "KeyB"} and "Retain" in f.reason
    removed = compare_templates(with_key("KeyA"), _template({})).findings
    assert {(f.logical_id, f.effect) for f in removed} == {("KeyA", "removed"), ("Logs", "removed")}


def test_allow_replacement_prints_and_exits_0(tmp_path, capsys):
    old = _write(tmp_path / "old.json", _fsx())
    new = _write(tmp_path / "new.json", _fsx(SubnetIds=[{"Ref": "SubnetB"}]))
    code, out, _ = _run(capsys, "--old", old, "--new", new, "--allow-replacement")
    assert code == 0
    assert "SubnetIds" in out and "allowed by --allow-replacement" in out


def test_yaml_templates_with_short_forms(tmp_path, capsys):
    old = tmp_path / "old.yaml"
    old.write_text(
        "Resources:\n  Eks:\n    Type: AWS::EKS::Cluster\n    Properties:\n"
        "      Name: eks\n      RoleArn: !GetAtt Role.Arn\n      AccessConfig:\n"
        "        AuthenticationMode: API\n"
    )
    new = _write(tmp_path / "new.json", _eks("API"))
    code, out, _ = _run(capsys, "--old", old, "--new", new)
    assert (code, out.split(" (")[0]) == (0, "no replacing changes")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--old", "{tmp}/missing.json", "--new", "{tmp}/new.json"], "cannot read"),
        (["--old", "{tmp}/garbage.json", "--new", "{tmp}/new.json"], "neither JSON nor YAML"),
        (["--old", "{tmp}/list.json", "--new", "{tmp}/new.json"], "not a CloudFormation template"),
        (["--old", "{tmp}/new.json"], "required: --new"),
        (["--old", "{tmp}/new.json", "--new", "{tmp}/new.json", "--bogus"], "unrecognized arguments"),
        (["--old", "{tmp}/new.json", "--new", "{tmp}"], "no stack templates"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, argv, expected):
    _write(tmp_path / "new.json", _eks("API"))
    (tmp_path / "garbage.json").write_text("{not json: [")
    (tmp_path / "list.json").write_text("[1, 2]")
    code, out, err = _run(capsys, *[a.format(tmp=tmp_path) for a in argv])
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("python -m hyperpod_cdk.guard: error:") and expected in err
    assert "Traceback" not in err


# ------------------------------------------------------------------ stack:NAME through a stubbed client


@pytest.fixture
def stubbed_cloudformation(monkeypatch):
    import boto3
    from botocore.stub import Stubber

    client = boto3.client(
        "cloudformation", region_name="us-west-2", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    stubber = Stubber(client)
    regions = []

    def factory(region):
        regions.append(region)
        return client

    monkeypatch.setattr(guard_cli, "client_factory", factory)
    with stubber:
        yield stubber, regions
        stubber.assert_no_pending_responses()


def test_stack_source_reads_the_deployed_template(stubbed_cloudformation, tmp_path, capsys):
    stubber, regions = stubbed_cloudformation
    stubber.add_response(
        "get_template",
        {"TemplateBody": json.dumps(_eks("API")), "StagesAvailable": ["Original", "Processed"]},
        {"StackName": "hyperpod-demo-platform", "TemplateStage": "Original"},
    )
    new = _write(tmp_path / "new.json", _eks("CONFIG_MAP"))
    code, out, _ = _run(capsys, "--old", "stack:hyperpod-demo-platform", "--new", new, "--region", "us-west-2")
    assert code == 1
    assert "stack:hyperpod-demo-platform ->" in out and "AuthenticationMode" in out
    assert regions == ["us-west-2"]


def test_stack_name_defaults_to_the_new_assembly(stubbed_cloudformation, tmp_path, capsys):
    stubber, regions = stubbed_cloudformation
    assembly = tmp_path / "cdk.out"
    assembly.mkdir()
    _write(assembly / "demo.template.json", _eks("API"))
    (assembly / "manifest.json").write_text(
        json.dumps(
            {
                "version": "55.0.0",
                "artifacts": {
                    "demo": {
                        "type": "aws:cloudformation:stack",
                        "environment": "aws://unknown-account/eu-west-1",
                        "properties": {"templateFile": "demo.template.json", "stackName": "demo-platform"},
                    }
                },
            }
        )
    )
    stubber.add_response(
        "get_template",
        {"TemplateBody": json.dumps(_eks("API"))},
        {"StackName": "demo-platform", "TemplateStage": "Original"},
    )
    code, out, _ = _run(capsys, "--old", "stack:", "--new", assembly)
    assert code == 0 and "no replacing changes" in out
    assert regions == ["eu-west-1"]


def test_aws_error_is_one_line_exit_2(stubbed_cloudformation, tmp_path, capsys):
    stubber, _ = stubbed_cloudformation
    stubber.add_client_error(
        "get_template",
        service_error_code="ValidationError",
        service_message="Stack with id nope does not exist",
        http_status_code=400,
    )
    new = _write(tmp_path / "new.json", _eks("API"))
    code, out, err = _run(capsys, "--old", "stack:nope", "--new", new)
    assert code == 2 and out == ""
    assert err.strip() == (
        "python -m hyperpod_cdk.guard: error: cannot read stack nope: "
        "ValidationError: Stack with id nope does not exist"
    )


def test_switching_a_legacy_slurm_cluster_to_api_driven_config_is_reported():
    """Orchestrator.Slurm is not create-only (only .Eks is): the switch is an in-place migration to flag."""
    old = _hyperpod(("controller", 1), ("gpu", 2))
    new = copy.deepcopy(old)
    props = new["Resources"]["HyperPod"]["Properties"]
    props["Orchestrator"] = {"Slurm": {"SlurmConfigStrategy": "Managed"}}
    props["InstanceGroups"][0]["SlurmConfig"] = {"NodeType": "Controller"}
    props["InstanceGroups"][1]["SlurmConfig"] = {"NodeType": "Compute", "PartitionNames": ["train"]}
    findings = compare_templates(old, new).findings
    assert sorted((f.property, f.effect) for f in findings) == [
        ("InstanceGroups[controller].SlurmConfig", "disruptive"),
        ("InstanceGroups[gpu].SlurmConfig", "disruptive"),
    ]
    assert all("sagemaker-hyperpod-slurm-api-config-migration" in f.doc_url for f in findings)
    # A strategy change alone is an ordinary update (no lock-in, per AWS).
    merged = copy.deepcopy(new)
    merged["Resources"]["HyperPod"]["Properties"]["Orchestrator"]["Slurm"]["SlurmConfigStrategy"] = "Merge"
    assert compare_templates(new, merged).findings == []
    # Continuous and an external accounting database on a running cluster.
    later = copy.deepcopy(new)
    later["Resources"]["HyperPod"]["Properties"]["NodeProvisioningMode"] = "Continuous"
    later["Resources"]["HyperPod"]["Properties"]["Orchestrator"]["Slurm"]["AccountingDatabase"] = {
        "Endpoint": "acct.example.com",
        "SecretArn": "arn:aws:secretsmanager:us-west-2:123456789012:secret:a",
    }
    assert sorted((f.property, f.effect) for f in compare_templates(new, later).findings) == [
        ("NodeProvisioningMode", "blocked"),
        ("Orchestrator.Slurm.AccountingDatabase", "disruptive"),
    ]


def _flex_cluster(name: object = "hp", instance_types: list | None = None) -> dict:
    group = {
        "InstanceGroupName": "gpu",
        "InstanceCount": 2,
        "ExecutionRole": "arn:aws:iam::1:role/r",
        "LifeCycleConfig": {"SourceS3Uri": "s3://b/p", "OnCreate": "on_create.sh"},
        "InstanceRequirements": {"InstanceTypes": instance_types or ["ml.p5.48xlarge", "ml.p4d.24xlarge"]},
    }
    return _template(
        {"Hp": {"Type": "AWS::SageMaker::Cluster", "Properties": {"ClusterName": name, "InstanceGroups": [group]}}}
    )


def test_reordered_join_parts_inside_an_intrinsic_are_a_rename():
    # issue 18 item 12: the guard sorted the list inside Fn::Join and saw no change.
    old = _flex_cluster({"Fn::Join": ["-", ["hp", "prod"]]})
    new = _flex_cluster({"Fn::Join": ["-", ["prod", "hp"]]})
    [f] = compare_templates(old, new).findings
    assert (f.property, f.effect) == ("ClusterName", "replacement")
    assert compare_templates(old, _flex_cluster({"Fn::Join": ["-", ["hp", "prod"]]})).findings == []


def test_reordered_instance_types_are_reported():
    # The order of a flexible group's instance types is a priority: the table calls a change disruptive.
    old = _flex_cluster(instance_types=["ml.p5.48xlarge", "ml.p4d.24xlarge"])
    new = _flex_cluster(instance_types=["ml.p4d.24xlarge", "ml.p5.48xlarge"])
    [f] = compare_templates(old, new).findings
    assert f.effect == "disruptive" and "InstanceRequirements" in f.property


def test_id_sets_stay_order_free_but_not_inside_an_intrinsic():
    def vpc(subnets: object) -> dict:
        template = _flex_cluster()
        template["Resources"]["Hp"]["Properties"]["VpcConfig"] = {"SecurityGroupIds": ["sg-1"], "Subnets": subnets}
        return template

    assert compare_templates(vpc([{"Ref": "A"}, {"Ref": "B"}]), vpc([{"Ref": "B"}, {"Ref": "A"}])).findings == []
    joined = vpc({"Fn::Split": [",", {"Fn::Join": [",", [{"Ref": "A"}, {"Ref": "B"}]]}]})
    swapped = vpc({"Fn::Split": [",", {"Fn::Join": [",", [{"Ref": "B"}, {"Ref": "A"}]]}]})
    assert [f.property for f in compare_templates(joined, swapped).findings] == ["VpcConfig.Subnets"]


def test_removing_a_kubernetes_manifest_resource_is_reported():
    """aws-cdk-lib's kubectl resources leave the template (issue 18, finding 9): their Delete runs kubectl delete."""
    chart = {
        "Type": "Custom::AWSCDK-EKS-KubernetesResource",
        "Properties": {"ServiceToken": "arn:x", "Manifest": "[]", "ClusterName": "eks"},
    }
    manifests = {"Type": "Custom::HyperPodManifests", "Properties": {"ServiceToken": "arn:y", "Set": "OperatorChart"}}
    old = _template({"EksClusterOperatorChart": chart})
    new = _template({"ManifestsOperatorChart": manifests})
    [finding] = compare_templates(old, new).findings
    assert (finding.logical_id, finding.effect) == ("EksClusterOperatorChart", "removed")
    assert "kubectl delete" in finding.reason and "security-posture.md" in finding.doc_url
    # Kept under the same logical ID and type: nothing to report.
    assert compare_templates(old, _template({"EksClusterOperatorChart": chart})).findings == []
