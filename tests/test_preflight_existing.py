"""``preflight`` follows ``network.existing`` and ``eks.existing`` in the config.

moto answers STS, EC2 (a region already holding 5 VPCs, the existing VPC and its subnets), the
VPC quota and SageMaker ListClusters; a Stubber answers EKS (moto's DescribeCluster has no
accessConfig) and the SageMaker service quotas (moto does not list them).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from moto import mock_aws

from hyperpod_cdk.cli import preflight, preflight_existing
from hyperpod_cdk.cli.main import main

_spec = importlib.util.spec_from_file_location("cli_fixtures_pf_existing", Path(__file__).with_name("cli_fixtures.py"))
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)

EXAMPLE = fx.REPO / "examples" / "existing-vpc-and-eks.yaml"
EKS_NAME = "team-eks"
CLUSTER_SG = "sg-0123456789abcdef0"


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch):
    fx.set_fake_aws_env(monkeypatch)
    with mock_aws():
        yield


def account_with_five_vpcs() -> dict[str, str]:
    """moto's default VPC, the team's VPC (with its subnets) and 3 more: the default quota of 5 is used up."""
    ec2 = fx.session().client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ids = {"vpc": vpc}
    for key, cidr, az in (
        ("cp1", "10.0.0.0/24", "us-west-2a"),
        ("cp2", "10.0.1.0/24", "us-west-2b"),
        ("hp", "10.0.64.0/18", "us-west-2a"),
    ):  # moto: us-west-2a is usw2-az2
        ids[key] = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
    for index in range(3):
        ec2.create_vpc(CidrBlock=f"10.{100 + index}.0.0/16")
    assert len(ec2.describe_vpcs()["Vpcs"]) == 5
    return ids


def example_config(tmp_path: Path, ids: dict[str, str], mutate: Any = None) -> Path:
    """examples/existing-vpc-and-eks.yaml with moto's IDs in place of the example's."""
    data = yaml.safe_load(EXAMPLE.read_text())
    existing = data["network"]["existing"]
    existing["vpc_id"] = ids["vpc"]
    existing["control_plane_subnet_ids"] = [ids["cp1"], ids["cp2"]]
    existing["hyperpod_subnets"]["usw2-az2"]["subnet_id"] = ids["hp"]
    if mutate is not None:
        mutate(data)
    path = tmp_path / "existing.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def eks_stub(
    vpc_id: str,
    *,
    mode: str = "API_AND_CONFIG_MAP",
    version: str = "1.35",
    private: bool = True,
    sg: str = CLUSTER_SG,
    addons: tuple[str, ...] = preflight.REQUIRED_EKS_ADDONS,
) -> Any:
    eks, stub = fx.stubbed("eks")
    cluster = {
        "name": EKS_NAME,
        "arn": f"arn:aws:eks:{fx.REGION}:{fx.ACCOUNT}:cluster/{EKS_NAME}",
        "status": "ACTIVE",
        "version": version,
        "accessConfig": {"authenticationMode": mode},
        "resourcesVpcConfig": {
            "vpcId": vpc_id,
            "clusterSecurityGroupId": sg,
            "endpointPrivateAccess": private,
            "endpointPublicAccess": not private,
            "publicAccessCidrs": ["203.0.113.0/24"],
        },
    }
    stub.add_response("describe_cluster", {"cluster": cluster}, {"name": EKS_NAME})
    stub.add_response("list_addons", {"addons": list(addons)}, {"clusterName": EKS_NAME})
    if set(preflight.REQUIRED_EKS_ADDONS) <= set(addons):
        for name in preflight.REQUIRED_EKS_ADDONS:
            stub.add_response(
                "describe_addon",
                {"addon": {"addonName": name, "clusterName": EKS_NAME, "status": "ACTIVE"}},
                {"clusterName": EKS_NAME, "addonName": name},
            )
    return eks


def sagemaker_quotas() -> Any:
    client, stub = fx.stubbed("service-quotas")
    quotas = [
        {"ServiceCode": "sagemaker", "QuotaCode": code, "QuotaName": f"{t} for cluster usage", "Value": 4.0}
        for t, code in (("ml.m5.2xlarge", "L-M5"), ("ml.g5.8xlarge", "L-G5"))
    ]
    stub.add_response("list_service_quotas", {"Quotas": quotas}, {"ServiceCode": "sagemaker"})
    return fx.Split(fx.session().client("service-quotas"), get_paginator=client, list_service_quotas=client)


def run_preflight(path: Path, eks: Any, capsys: Any) -> tuple[int, dict[str, dict]]:
    code = main(
        ["preflight", "--config", str(path), "--json"],
        clients_factory=fx.factory({"service-quotas": sagemaker_quotas(), "eks": eks}),
    )
    return code, {row["check"]: row for row in json.loads(capsys.readouterr().out)}


def test_existing_vpc_and_eks_example_skips_vpc_quota_in_a_full_region_and_checks_the_cluster(tmp_path: Path, capsys):
    ids = account_with_five_vpcs()
    code, rows = run_preflight(example_config(tmp_path, ids), eks_stub(ids["vpc"]), capsys)
    assert code == 0, rows
    assert "vpc quota" not in rows and "subnet plan" not in rows
    assert rows["existing vpc"]["status"] == "pass" and "quota does not apply" in rows["existing vpc"]["reason"]
    assert rows["existing subnets"]["status"] == "pass"
    assert rows["subnet IPs usw2-az2"]["status"] == "pass"
    for check in ("eks auth mode", "eks version", "eks network", "eks endpoint", "eks add-ons"):
        assert rows[check]["status"] == "pass", rows[check]


def test_same_region_fails_the_vpc_quota_for_a_config_that_creates_a_vpc(tmp_path: Path, capsys):
    """The counter-case: the emulator's region really is full, so skipping the quota above is the config's doing."""
    account_with_five_vpcs()
    code = main(
        ["preflight", "--config", str(fx.write_config(tmp_path)), "--json"],
        clients_factory=fx.factory({"service-quotas": sagemaker_quotas()}),
    )
    rows = {row["check"]: row for row in json.loads(capsys.readouterr().out)}
    assert code == 1 and rows["vpc quota"]["status"] == "fail"
    assert "5 of 5 VPCs" in rows["vpc quota"]["reason"]


def test_config_map_cluster_from_the_config_fails_with_the_update_command(tmp_path: Path, capsys):
    ids = account_with_five_vpcs()
    code, rows = run_preflight(example_config(tmp_path, ids), eks_stub(ids["vpc"], mode="CONFIG_MAP"), capsys)
    assert code == 1
    assert rows["eks auth mode"]["status"] == "fail"
    assert "authenticationMode=API_AND_CONFIG_MAP" in rows["eks auth mode"]["fix"]


def test_cluster_version_vpc_and_security_group_mismatches_name_the_config_field(tmp_path: Path, capsys):
    ids = account_with_five_vpcs()
    eks = eks_stub("vpc-0fedcba9876543210", version="1.33", sg="sg-0aaaaaaaaaaaaaaaa", private=False)
    code, rows = run_preflight(example_config(tmp_path, ids), eks, capsys)
    assert code == 1
    assert rows["eks version"]["status"] == "fail" and 'eks.kubernetes_version: "1.33"' in rows["eks version"]["fix"]
    assert rows["eks network"]["status"] == "fail"
    assert "network.existing.vpc_id" in rows["eks network"]["reason"]
    assert "eks.existing.cluster_security_group_id: sg-0aaaaaaaaaaaaaaaa" in rows["eks network"]["fix"]
    assert rows["eks endpoint"]["status"] == "warn" and "endpointPrivateAccess=true" in rows["eks endpoint"]["fix"]


def test_missing_addons_on_the_existing_cluster_fail(tmp_path: Path, capsys):
    ids = account_with_five_vpcs()
    code, rows = run_preflight(example_config(tmp_path, ids), eks_stub(ids["vpc"], addons=("vpc-cni",)), capsys)
    assert code == 1 and rows["eks add-ons"]["status"] == "fail"
    assert "eks-pod-identity-agent" in rows["eks add-ons"]["reason"]


def test_subnet_in_another_vpc_with_another_cidr_fails_naming_the_field(tmp_path: Path, capsys):
    ids = account_with_five_vpcs()
    ec2 = fx.session().client("ec2")
    other = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    stray = ec2.create_subnet(VpcId=other, CidrBlock="10.9.64.0/18", AvailabilityZone="us-west-2a")["Subnet"]
    path = example_config(tmp_path, {**ids, "hp": stray["SubnetId"]})
    code, rows = run_preflight(path, eks_stub(ids["vpc"]), capsys)
    assert code == 1
    row = rows["existing subnets"]
    assert row["status"] == "fail"
    assert "network.existing.hyperpod_subnets.usw2-az2" in row["reason"] and other in row["reason"]
    assert "set network.existing.hyperpod_subnets.usw2-az2.cidr: 10.9.64.0/18" in row["fix"]


def test_missing_vpc_and_wrong_cidr_fail(tmp_path: Path, capsys):
    ids = account_with_five_vpcs()
    path = example_config(tmp_path, ids, lambda d: d["network"]["existing"].update(vpc_cidr="10.1.0.0/16"))
    _, rows = run_preflight(path, eks_stub(ids["vpc"]), capsys)
    assert rows["existing vpc"]["status"] == "fail" and "network.existing.vpc_cidr" in rows["existing vpc"]["reason"]
    path = example_config(tmp_path, {**ids, "vpc": "vpc-0fedcba9876543210"})
    _, rows = run_preflight(path, eks_stub("vpc-0fedcba9876543210"), capsys)
    assert rows["existing vpc"]["status"] == "fail" and "not found" in rows["existing vpc"]["reason"]


def test_existing_vpc_without_hyperpod_subnets_plans_new_subnets_but_no_vpc_quota(tmp_path: Path):
    ids = account_with_five_vpcs()

    def platform_adds_subnets(d: dict) -> None:
        existing = d["network"]["existing"]
        existing.pop("hyperpod_subnets")
        existing["route_table_id"] = "rtb-0123456789abcdef0"
        d["network"]["availability_zone_ids"] = ["usw2-az2"]
        d["network"]["hyperpod_cidr"] = "10.1.0.0/16"

    from hyperpod_cdk.config import load_config

    cfg = load_config(str(example_config(tmp_path, ids, platform_adds_subnets)))
    options = preflight_existing.options_from_config(cfg, preflight.PreflightOptions())
    ctx = preflight.Context(config=cfg, clients=fx.clients(), region=fx.REGION, options=options)
    names = [name for name, _, _ in preflight.plan_checks(ctx)]
    assert "subnet plan" in names and "existing vpc" in names
    assert "vpc quota" not in names and "subnets" not in names
    assert "eks auth mode" in names and "eks add-ons" in names


def test_command_line_flags_still_override_the_config():
    cfg = fx.base_config()
    from hyperpod_cdk.config import parse_config

    options = preflight_existing.options_from_config(
        parse_config(cfg), preflight.PreflightOptions(existing_eks_cluster="other", existing_subnet_ids=("subnet-1",))
    )
    assert options.existing_eks_cluster == "other" and options.existing_subnet_ids == ("subnet-1",)
    assert options.existing_vpc_id is None and not options.creates_vpc


def test_new_eks_cluster_needs_control_plane_subnets_in_two_azs(tmp_path: Path):
    ids = account_with_five_vpcs()
    ec2 = fx.session().client("ec2")
    same_az = ec2.create_subnet(VpcId=ids["vpc"], CidrBlock="10.0.2.0/24", AvailabilityZone="us-west-2a")["Subnet"]

    def new_eks_in_the_existing_vpc(d: dict) -> None:
        d["eks"].pop("existing")
        d["network"]["existing"]["control_plane_subnet_ids"] = [ids["cp1"], same_az["SubnetId"]]

    from hyperpod_cdk.config import load_config

    cfg = load_config(str(example_config(tmp_path, ids, new_eks_in_the_existing_vpc)))
    options = preflight_existing.options_from_config(cfg, preflight.PreflightOptions())
    ctx = preflight.Context(config=cfg, clients=fx.clients(), region=fx.REGION, options=options)
    (row,) = preflight_existing.check_existing_subnet_ids(ctx)
    assert row.status == "fail" and "control_plane_subnet_ids are all in usw2-az2" in row.reason
    assert options.existing_eks_cluster is None  # a cluster the stack creates is not checked as existing
