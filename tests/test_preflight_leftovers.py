"""``preflight`` finds what a destroyed platform kept in an existing VPC (review round 15, R15T-M2).

With ``network.existing`` + ``hyperpod_cidr`` and a created FSx, ``cdk destroy`` keeps the file system,
its subnet and the secondary CIDR association in the user's VPC. The same config then cannot deploy
again (overlapping subnet / CIDR block). moto answers EC2 (the VPC, its CIDR association and subnets)
and FSx (the kept file system); a Stubber answers an FSx access denial.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml
from moto import mock_aws

from hyperpod_cdk.cli import preflight, preflight_existing, preflight_leftovers, preflight_ownership
from hyperpod_cdk.config import PlatformConfig, parse_config, plan_for_config

_spec = importlib.util.spec_from_file_location("cli_fixtures_pf_leftovers", Path(__file__).with_name("cli_fixtures.py"))
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)

HYPERPOD_CIDR = "10.1.0.0/16"


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch):
    fx.set_fake_aws_env(monkeypatch)
    with mock_aws():
        yield


def existing_vpc() -> str:
    return fx.session().client("ec2").create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]


def config(vpc_id: str, hyperpod_cidr: str = HYPERPOD_CIDR) -> PlatformConfig:
    """examples/slurm.yaml (a created FSx, kept on delete by default) in an existing VPC."""
    data = yaml.safe_load((fx.REPO / "examples" / "slurm.yaml").read_text())
    data["network"] = {
        "availability_zone_ids": data["network"]["availability_zone_ids"],
        "hyperpod_cidr": hyperpod_cidr,
        "existing": {"vpc_id": vpc_id, "vpc_cidr": "10.0.0.0/16", "route_table_id": "rtb-0123456789abcdef0"},
    }
    cfg = parse_config(data)
    assert cfg.storage.fsx is not None and cfg.storage.fsx.retain_on_delete
    return cfg


def what_destroy_kept(vpc_id: str, cfg: PlatformConfig) -> dict[str, str]:
    """What `cdk destroy` leaves of the platform: the CIDR association, the default AZ's subnet, the FSx."""
    ec2 = fx.session().client("ec2")
    association = ec2.associate_vpc_cidr_block(VpcId=vpc_id, CidrBlock=HYPERPOD_CIDR)["CidrBlockAssociation"]
    plan = plan_for_config(cfg)[0]
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock=str(plan.cidr), AvailabilityZone="us-west-2a")["Subnet"]
    fs = (
        fx.session()
        .client("fsx")
        .create_file_system(FileSystemType="LUSTRE", StorageCapacity=1200, SubnetIds=[subnet["SubnetId"]])["FileSystem"]
    )
    return {"association": association["AssociationId"], "subnet": subnet["SubnetId"], "fs": fs["FileSystemId"]}


def run(cfg: PlatformConfig, overrides: dict[str, Any] | None = None) -> list:
    """The row; CloudFormation says the platform stack does not exist (deleted) unless ``overrides`` says else."""
    gone = {"cloudformation": fx.cloudformation_holding(preflight_ownership.platform_stack_name(cfg))}
    ctx = preflight.Context(
        config=cfg,
        clients=fx.clients({**gone, **(overrides or {})}),
        region=fx.REGION,
        options=preflight_existing.options_from_config(cfg, preflight.PreflightOptions()),
    )
    return preflight.guarded("hyperpod cidr", "ec2", ctx, lambda: preflight_leftovers.check_hyperpod_cidr_free(ctx))


def test_what_a_destroy_kept_fails_preflight_with_the_commands_that_clear_it():
    vpc_id = existing_vpc()
    cfg = config(vpc_id)
    kept = what_destroy_kept(vpc_id, cfg)
    (row,) = run(cfg)
    assert row.status == "fail" and row.check == "hyperpod cidr"
    assert f"network.hyperpod_cidr {HYPERPOD_CIDR} overlaps {HYPERPOD_CIDR}, already associated with {vpc_id}" in (
        row.reason
    )
    assert f"subnet {kept['subnet']} ({plan_for_config(cfg)[0].cidr}) overlaps the planned HyperPod subnet" in (
        row.reason
    )
    assert f"FSx file system(s) {kept['fs']} sit in {kept['subnet']}" in row.reason
    # The commands, in the order EC2 accepts them (the subnet only once the file system is gone).
    commands = [
        f"aws fsx delete-file-system --file-system-id {kept['fs']}",
        f"aws ec2 delete-subnet --subnet-id {kept['subnet']}",
        f"aws ec2 disassociate-vpc-cidr-block --association-id {kept['association']}",
    ]
    positions = [row.fix.index(command) for command in commands]
    assert positions == sorted(positions)
    assert "set a network.hyperpod_cidr that overlaps nothing above" in row.fix
    assert "\n" not in row.reason + row.fix


def test_a_new_hyperpod_cidr_next_to_the_kept_one_passes():
    vpc_id = existing_vpc()
    what_destroy_kept(vpc_id, config(vpc_id))
    (row,) = run(config(vpc_id, "10.2.0.0/16"))
    assert row.status == "pass" and "10.2.0.0/16" in row.reason and vpc_id in row.reason


def test_a_subnet_inside_the_primary_cidr_is_found_too():
    """hyperpod_cidr inside the VPC's own CIDR: no association is made, but the kept subnet still clashes."""
    vpc_id = existing_vpc()
    cfg = config(vpc_id, "10.0.128.0/17")
    plan = plan_for_config(cfg)[0]
    ec2 = fx.session().client("ec2")
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock=str(plan.cidr), AvailabilityZone="us-west-2a")["Subnet"]
    (row,) = run(cfg)
    assert row.status == "fail" and subnet["SubnetId"] in row.reason and "already associated" not in row.reason
    # No file system was found in it: the fix still names the step, with a placeholder.
    assert "aws fsx delete-file-system --file-system-id <file-system-id>" in row.fix


def test_fsx_access_denied_still_fails_on_the_subnet():
    vpc_id = existing_vpc()
    cfg = config(vpc_id)
    kept = what_destroy_kept(vpc_id, cfg)
    fsx, stub = fx.stubbed("fsx")
    fx.deny(stub, "describe_file_systems", "AccessDenied")
    (row,) = run(cfg, {"fsx": fsx})
    assert row.status == "fail" and kept["subnet"] in row.reason and "FSx file system" not in row.reason


def test_the_row_runs_only_where_the_platform_adds_subnets_to_an_existing_vpc():
    def names(cfg: PlatformConfig) -> list[str]:
        options = preflight_existing.options_from_config(cfg, preflight.PreflightOptions())
        ctx = preflight.Context(config=cfg, clients=fx.clients(), region=fx.REGION, options=options)
        return [name for name, _, _ in preflight.plan_checks(ctx)]

    assert "hyperpod cidr" in names(config(existing_vpc()))
    assert "hyperpod cidr" not in names(parse_config(fx.base_config()))  # the platform creates the VPC


def test_the_stacks_own_cidr_association_and_subnet_pass_on_an_update():
    """R16P-M2: before an update the association and subnet are the live stack's own; the row passes."""
    vpc_id = existing_vpc()
    cfg = config(vpc_id)
    live = what_destroy_kept(vpc_id, cfg)  # the same resources, while the stack still holds them
    stack = preflight_ownership.platform_stack_name(cfg)
    # AWS::EC2::VPCCidrBlock's identifier is the association ID with the VPC ID; AWS::EC2::Subnet's the subnet ID.
    cfn = fx.cloudformation_holding(stack, f"{live['association']}|{vpc_id}", live["subnet"], live["fs"])
    (row,) = run(cfg, {"cloudformation": cfn})
    assert row.status == "pass", row.reason
    assert live["association"] in row.reason and live["subnet"] in row.reason
    assert f"part of this stack ({stack})" in row.reason and not row.fix


def test_what_a_deleted_stack_kept_still_fails():
    """Resources a stack kept on delete (DELETE_SKIPPED) are no longer its own: the row keeps failing."""
    vpc_id = existing_vpc()
    cfg = config(vpc_id)
    kept = what_destroy_kept(vpc_id, cfg)
    stack = preflight_ownership.platform_stack_name(cfg)
    cfn = fx.cloudformation_holding(stack, kept["association"], kept["subnet"], status="DELETE_SKIPPED")
    (row,) = run(cfg, {"cloudformation": cfn})
    assert row.status == "fail" and kept["subnet"] in row.reason and kept["association"] in row.reason
    assert f"aws ec2 delete-subnet --subnet-id {kept['subnet']}" in row.fix
    assert "part of this stack" not in row.reason


def test_another_stacks_subnet_fails_and_only_this_stacks_pass():
    vpc_id = existing_vpc()
    cfg = config(vpc_id)
    live = what_destroy_kept(vpc_id, cfg)
    cfn = fx.cloudformation_holding(preflight_ownership.platform_stack_name(cfg), live["association"])
    (row,) = run(cfg, {"cloudformation": cfn})
    assert row.status == "fail" and live["subnet"] in row.reason
    assert "already associated" not in row.reason  # the association is this stack's
    assert f"delete-subnet --subnet-id {live['subnet']}" in row.fix and "disassociate-vpc-cidr-block" not in row.fix


def test_cloudformation_access_denied_warns_naming_the_permission():
    vpc_id = existing_vpc()
    cfg = config(vpc_id)
    kept = what_destroy_kept(vpc_id, cfg)
    cfn, stub = fx.stubbed("cloudformation")
    fx.deny(stub, "list_stack_resources", "AccessDenied")
    (row,) = run(cfg, {"cloudformation": cfn})
    assert row.status == "warn" and kept["subnet"] in row.reason
    assert "access denied calling cloudformation ListStackResources (AccessDenied)" in row.reason
    assert row.fix.startswith("allow cloudformation:ListStackResources for the caller, then rerun; if ")
    assert "\n" not in row.reason + row.fix
