"""``hyperpod-cdk preflight``: every check's pass, warn and fail paths, and access denied.

moto answers STS, EC2 (AZs, VPCs, subnets, instance type offerings), the VPC service quota and
SageMaker ListClusters/DescribeCluster; Stubber answers the SageMaker service quotas, EKS and
DescribeTrainingPlan, which moto does not implement.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from moto import mock_aws

from hyperpod_cdk.cli import preflight, preflight_ownership
from hyperpod_cdk.cli.main import main
from hyperpod_cdk.config import PlatformConfig, parse_config

_spec = importlib.util.spec_from_file_location("cli_fixtures_preflight", Path(__file__).with_name("cli_fixtures.py"))
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)

REGION = fx.REGION
TP_ARN = f"arn:aws:sagemaker:{REGION}:{fx.ACCOUNT}:training-plan/tp-p5-week"
EKS_NAME = "existing-eks"


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch):
    fx.set_fake_aws_env(monkeypatch)
    with mock_aws():
        yield


# ----------------------------------------------------------------------------- helpers


def config(mutate: Any = None) -> PlatformConfig:
    data = fx.base_config()
    if mutate is not None:
        mutate(data)
    return parse_config(data)


def context(cfg: PlatformConfig | None = None, overrides: dict | None = None, **options: Any) -> preflight.Context:
    return preflight.Context(
        config=cfg or config(),
        clients=fx.clients(overrides),
        region=REGION,
        options=preflight.PreflightOptions(**options),
    )


def run(ctx: preflight.Context, check: Any, name: str = "check", service: str = "ec2") -> list:
    """Run one check the way run_preflight does (AWS errors become warn rows)."""
    return preflight.guarded(name, service, ctx, lambda: check(ctx))


def only(rows: list, prefix: str = "") -> Any:
    picked = [r for r in rows if r.check.startswith(prefix)]
    assert len(picked) == 1, rows
    return picked[0]


def quota(instance_type: str, value: float, code: str = "L-A1B2C3D4") -> dict:
    return {
        "ServiceCode": "sagemaker",
        "ServiceName": "Amazon SageMaker",
        "QuotaArn": f"arn:aws:servicequotas:{REGION}:{fx.ACCOUNT}:sagemaker/{code}",
        "QuotaCode": code,
        "QuotaName": f"{instance_type} for cluster usage",
        "Value": float(value),
        "Unit": "None",
        "Adjustable": True,
        "GlobalQuota": False,
    }


def sagemaker_quotas(*pages: list[dict]) -> Any:
    """service-quotas: moto for GetServiceQuota (VPC), a Stubber for ListServiceQuotas pages."""
    client, stub = fx.stubbed("service-quotas")
    for index, page in enumerate(pages):
        response: dict = {"Quotas": page}
        if index < len(pages) - 1:
            response["NextToken"] = f"page{index + 1}"
        expected = {"ServiceCode": "sagemaker"}
        if index:
            expected["NextToken"] = f"page{index}"
        stub.add_response("list_service_quotas", response, expected)
    moto_client = fx.session().client("service-quotas")
    return fx.Split(moto_client, get_paginator=client, list_service_quotas=client)


def default_quotas() -> Any:
    return sagemaker_quotas([quota("ml.m5.2xlarge", 4, "L-M5"), quota("ml.g5.8xlarge", 2, "L-G5")])


def create_moto_cluster(name: str, instance_type: str, count: int) -> None:
    fx.session().client("sagemaker").create_cluster(
        ClusterName=name,
        InstanceGroups=[
            {
                "InstanceGroupName": "workers",
                "InstanceType": instance_type,
                "InstanceCount": count,
                "ThreadsPerCore": 1,
                "LifeCycleConfig": {"SourceS3Uri": "s3://sagemaker-lifecycle/scripts/", "OnCreate": "on_create.sh"},
                "ExecutionRole": f"arn:aws:iam::{fx.ACCOUNT}:role/hp-exec",
            }
        ],
    )


def moto_subnet(cidr: str, az_name: str = "us-west-2a", vpc_cidr: str = "10.50.0.0/16") -> str:
    ec2 = fx.session().client("ec2")
    vpc = ec2.create_vpc(CidrBlock=vpc_cidr)["Vpc"]["VpcId"]
    return ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az_name)["Subnet"]["SubnetId"]


# ----------------------------------------------------------------------------- caller identity


def test_identity_pass_names_account_and_arn():
    row = only(run(context(), preflight.check_identity, "caller identity", "sts"))
    assert row.status == "pass"
    assert fx.ACCOUNT in row.reason and "arn:aws" in row.reason


def test_identity_fails_when_config_account_differs():
    cfg = config(lambda d: d.update(account="111122223333"))
    row = only(run(context(cfg), preflight.check_identity, "caller identity", "sts"))
    assert row.status == "fail"
    assert "111122223333" in row.reason and fx.ACCOUNT in row.reason


def test_rejected_credentials_stop_preflight_with_one_fail_row():
    sts, stub = fx.stubbed("sts")
    fx.deny(stub, "get_caller_identity", code="ExpiredToken", status=400)
    rows = preflight.run_preflight(config(), fx.clients({"sts": sts}))
    assert [(r.status, r.check) for r in rows] == [("fail", "caller identity")]
    assert "aws sso login" in rows[0].fix
    assert preflight.exit_code(rows) == 1


def test_unreachable_sts_stops_preflight_with_a_fail_not_all_warns():
    class Offline:
        def get_caller_identity(self) -> dict:
            raise EndpointConnectionError(endpoint_url=f"https://sts.{REGION}.amazonaws.com/")

    rows = preflight.run_preflight(config(), fx.clients({"sts": Offline()}))
    assert [(r.status, r.check) for r in rows] == [("fail", "caller identity")]
    assert rows[0].reason.startswith("cannot reach AWS STS") and "HTTPS_PROXY" in rows[0].fix


# ----------------------------------------------------------------------------- region and AZs


def test_region_pass_maps_az_ids_to_names():
    rows = run(context(), preflight.check_region)
    assert only(rows, "region").status == "pass"
    row = only(rows, "availability zones")
    assert row.status == "pass"
    assert "usw2-az2 = us-west-2a" in row.reason  # moto's mapping for us-west-2


def test_region_fails_for_az_id_absent_from_region():
    cfg = config(lambda d: d["network"].update(availability_zone_ids=["usw2-az9"]))
    row = only(run(context(cfg), preflight.check_region), "availability zones")
    assert row.status == "fail"
    assert "usw2-az9" in row.reason and "describe-availability-zones" in row.fix


def test_region_warns_on_impaired_az_and_on_region_override():
    ec2, stub = fx.stubbed("ec2", "us-east-1")
    stub.add_response(
        "describe_availability_zones",
        {
            "AvailabilityZones": [
                {"ZoneName": "us-west-2a", "ZoneId": "usw2-az2", "State": "impaired", "RegionName": REGION},
            ]
        },
        {},
    )
    ctx = context(overrides={"ec2": ec2})
    ctx.region = "us-east-1"
    rows = run(ctx, preflight.check_region)
    assert only(rows, "region").status == "warn"
    assert "deploys to us-west-2" in only(rows, "region").reason
    assert only(rows, "availability zones").status == "warn"
    assert "impaired" in only(rows, "availability zones").reason


def test_region_access_denied_is_a_warn_naming_the_action():
    ec2, stub = fx.stubbed("ec2")
    fx.deny(stub, "describe_availability_zones", code="UnauthorizedOperation")
    row = only(run(context(overrides={"ec2": ec2}), preflight.check_region, "availability zones"))
    assert row.status == "warn"
    assert "access denied" in row.reason and "UnauthorizedOperation" in row.reason
    assert "ec2:DescribeAvailabilityZones" in row.fix


# ----------------------------------------------------------------------------- subnet plan (new VPC)


def test_subnet_plan_pass_reports_need_and_capacity():
    row = only(preflight.check_subnet_plan(context()))
    assert row.status == "pass"
    assert "usw2-az2 10.1.0.0/16" in row.reason


def test_subnet_plan_that_does_not_fit_is_a_config_error_exit_2(tmp_path: Path, capsys):
    # config.py validates the subnet plan on load, so preflight never gets a plan that does not fit.
    def mutate(d: dict) -> None:
        d["network"]["hyperpod_cidr"] = "10.1.0.0/24"
        d["hyperpod"]["instance_groups"][1].update(instance_type="ml.p5.48xlarge", instance_count=4)

    path = fx.write_config(tmp_path, mutate)
    assert main(["preflight", "--config", str(path)], clients_factory=fx.factory()) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: network.hyperpod_cidr: instance group 'gpu' does not fit")


# ----------------------------------------------------------------------------- VPC quota


def test_vpc_quota_pass_counts_moto_default_vpc():
    row = only(run(context(), preflight.check_vpc_quota))
    assert row.status == "pass"
    assert "1 of 5 VPCs" in row.reason


def test_vpc_quota_fails_when_region_is_full():
    ec2 = fx.session().client("ec2")
    for index in range(4):
        ec2.create_vpc(CidrBlock=f"10.{index + 10}.0.0/16")
    row = only(run(context(), preflight.check_vpc_quota))
    assert row.status == "fail"
    assert "5 of 5" in row.reason
    assert "L-F678F1CE" in row.fix and "--desired-value 6" in row.fix


def test_vpc_quota_unreadable_uses_default_and_warns_only_when_over_it():
    sq, stub = fx.stubbed("service-quotas")
    fx.deny(stub, "get_service_quota")
    fx.deny(stub, "get_service_quota")
    ctx = context(overrides={"service-quotas": sq})
    under = only(run(ctx, preflight.check_vpc_quota))
    assert under.status == "pass" and "quota not readable" in under.reason
    ec2 = fx.session().client("ec2")
    for index in range(4):
        ec2.create_vpc(CidrBlock=f"10.{index + 10}.0.0/16")
    over = only(run(ctx, preflight.check_vpc_quota))
    assert over.status == "warn"
    assert "cannot read the VPC quota" in over.reason and "default quota is 5" in over.reason


def test_vpc_count_access_denied_is_a_warn():
    ec2, stub = fx.stubbed("ec2")
    fx.deny(stub, "describe_vpcs", code="UnauthorizedOperation")
    row = only(run(context(overrides={"ec2": ec2}), preflight.check_vpc_quota, "vpc quota"))
    assert row.status == "warn" and "ec2:DescribeVpcs" in row.fix


# ----------------------------------------------------------------------------- SageMaker quotas


def test_sagemaker_quotas_pass_per_instance_type():
    rows = run(
        context(overrides={"service-quotas": default_quotas()}),
        preflight.check_sagemaker_quotas,
        "sagemaker quotas",
        "service-quotas",
    )
    assert {(r.check, r.status) for r in rows} == {("quota ml.m5.2xlarge", "pass"), ("quota ml.g5.8xlarge", "pass")}
    assert "quota 2; the plan needs 1" in only(rows, "quota ml.g5.8xlarge").reason


def test_sagemaker_quotas_sum_counts_across_groups_and_fail_with_increase_command():
    def mutate(d: dict) -> None:
        d["hyperpod"]["instance_groups"].append(
            {"name": "gpu-b", "instance_type": "ml.g5.8xlarge", "instance_count": 2}
        )

    rows = run(context(config(mutate), {"service-quotas": default_quotas()}), preflight.check_sagemaker_quotas)
    row = only(rows, "quota ml.g5.8xlarge")
    assert row.status == "fail"
    assert "the plan needs 3" in row.reason
    assert "--quota-code L-G5 --desired-value 3" in row.fix


def test_sagemaker_quota_counts_instances_held_by_other_clusters():
    create_moto_cluster("other-team", "ml.g5.8xlarge", 2)
    rows = run(context(overrides={"service-quotas": default_quotas()}), preflight.check_sagemaker_quotas)
    row = only(rows, "quota ml.g5.8xlarge")
    assert row.status == "fail"
    assert "+ 2 held by other clusters" in row.reason and "--desired-value 3" in row.fix


def test_sagemaker_quota_paging_and_missing_quota_warns():
    sq = sagemaker_quotas([quota("ml.c5.large", 10, "L-C5")], [quota("ml.m5.2xlarge", 4, "L-M5")])
    rows = run(context(overrides={"service-quotas": sq}), preflight.check_sagemaker_quotas)
    assert only(rows, "quota ml.m5.2xlarge").status == "pass"  # found on the second page
    missing = only(rows, "quota ml.g5.8xlarge")
    assert missing.status == "warn"
    assert "no 'ml.g5.8xlarge for cluster usage' quota" in missing.reason


def test_sagemaker_quotas_access_denied_is_a_warn():
    client, stub = fx.stubbed("service-quotas")
    fx.deny(stub, "list_service_quotas")
    row = only(
        run(
            context(overrides={"service-quotas": client}),
            preflight.check_sagemaker_quotas,
            "sagemaker quotas",
            "service-quotas",
        )
    )
    assert row.status == "warn"
    assert "access denied" in row.reason and "servicequotas:ListServiceQuotas" in row.fix


def test_sagemaker_quota_warns_when_usage_cannot_be_read():
    sm, stub = fx.stubbed("sagemaker")
    fx.deny(stub, "list_clusters")
    rows = run(
        context(overrides={"service-quotas": default_quotas(), "sagemaker": sm}), preflight.check_sagemaker_quotas
    )
    row = only(rows, "quota ml.g5.8xlarge")
    assert row.status == "warn" and "usage by other clusters unknown" in row.reason


# ----------------------------------------------------------------------------- instance offerings


def test_offerings_pass_and_say_they_are_a_proxy():
    rows = run(context(), preflight.check_instance_offerings)
    row = only(rows, "offering ml.g5.8xlarge")
    assert row.status == "pass"
    assert "g5.8xlarge in usw2-az2" in row.reason and "proxy" in row.reason


def test_offerings_miss_is_a_warn_not_a_fail():
    def mutate(d: dict) -> None:
        d["network"]["availability_zone_ids"] = ["usw2-az2", "usw2-az4"]
        d["hyperpod"]["instance_groups"][1]["availability_zone_id"] = "usw2-az4"  # moto: no g5 there

    rows = run(context(config(mutate)), preflight.check_instance_offerings)
    row = only(rows, "offering ml.g5.8xlarge")
    assert row.status == "warn"
    assert "does not offer g5.8xlarge in usw2-az4" in row.reason and "not proof" in row.reason
    assert only(rows, "offering ml.m5.2xlarge").status == "pass"


def test_offerings_access_denied_is_a_warn():
    ec2, stub = fx.stubbed("ec2")
    fx.deny(stub, "describe_instance_type_offerings", code="UnauthorizedOperation")
    row = only(run(context(overrides={"ec2": ec2}), preflight.check_instance_offerings, "instance offerings"))
    assert row.status == "warn" and "cannot check" in row.reason


# ----------------------------------------------------------------------------- imported subnets


def test_existing_subnet_with_room_passes():
    subnet = moto_subnet("10.50.0.0/20")
    rows = run(context(existing_subnet_ids=(subnet,)), preflight.check_existing_subnets)
    row = only(rows, "subnet IPs usw2-az2")
    assert row.status == "pass"
    # m5.2xlarge: 15 IPs, g5.8xlarge: 30 IPs on EKS; +25% headroom = 57.
    assert "needs 57 with 25% headroom" in row.reason


def test_existing_subnet_too_small_fails():
    subnet = moto_subnet("10.50.0.0/28")  # 11 usable
    row = only(run(context(existing_subnet_ids=(subnet,)), preflight.check_existing_subnets))
    assert row.status == "fail"
    assert "11 free IPs" in row.reason and "the nodes need 45" in row.reason


def test_existing_subnet_without_headroom_warns():
    subnet = moto_subnet("10.50.0.0/26")  # 59 usable: covers 45 node IPs, not 90 with 100% headroom
    cfg = config(lambda d: d["network"].update(ip_headroom_percent=100))
    row = only(run(context(cfg, existing_subnet_ids=(subnet,)), preflight.check_existing_subnets))
    assert row.status == "warn"
    assert "not the 100% headroom (90)" in row.reason


def test_existing_subnet_in_wrong_az_fails():
    subnet = moto_subnet("10.50.0.0/20", az_name="us-west-2b")  # usw2-az1
    rows = run(context(existing_subnet_ids=(subnet,)), preflight.check_existing_subnets)
    row = only(rows, "subnet IPs usw2-az2")
    assert row.status == "fail" and "no --existing-subnet-ids subnet is there" in row.reason
    assert only(rows, "subnet IPs usw2-az1").status == "pass"


def test_existing_subnet_not_found_fails():
    row = only(run(context(existing_subnet_ids=("subnet-0123456789abcdef0",)), preflight.check_existing_subnets))
    assert row.status == "fail" and row.reason.startswith(f"subnet-0123456789abcdef0 not found in {REGION}: ")
    assert "network.existing.hyperpod_subnets" in row.fix


def test_existing_subnets_access_denied_is_a_warn():
    ec2, stub = fx.stubbed("ec2")
    fx.deny(stub, "describe_subnets", code="UnauthorizedOperation")
    ctx = context(overrides={"ec2": ec2}, existing_subnet_ids=("subnet-0123456789abcdef0",))
    row = only(run(ctx, preflight.check_existing_subnets, "subnets"))
    assert row.status == "warn" and "ec2:DescribeSubnets" in row.fix


# ----------------------------------------------------------------------------- imported EKS cluster


def eks_cluster(mode: str | None, status: str = "ACTIVE") -> dict:
    cluster: dict = {"name": EKS_NAME, "arn": f"arn:aws:eks:{REGION}:{fx.ACCOUNT}:cluster/{EKS_NAME}", "status": status}
    if mode:
        cluster["accessConfig"] = {"authenticationMode": mode}
    return {"cluster": cluster}


@pytest.mark.parametrize(
    ("mode", "status"),
    [
        ("API", "pass"),
        ("API_AND_CONFIG_MAP", "pass"),
        ("CONFIG_MAP", "fail"),
        (None, "warn"),
    ],
)
def test_eks_auth_mode(mode: str | None, status: str):
    eks, stub = fx.stubbed("eks")
    stub.add_response("describe_cluster", eks_cluster(mode), {"name": EKS_NAME})
    row = only(
        run(
            context(overrides={"eks": eks}, existing_eks_cluster=EKS_NAME),
            preflight.check_eks_cluster,
            "eks auth mode",
            "eks",
        ),
        "eks auth mode",
    )
    assert row.status == status
    if status == "fail":
        assert "CONFIG_MAP" in row.reason
        assert "aws eks update-cluster-config" in row.fix and "authenticationMode=API_AND_CONFIG_MAP" in row.fix


def test_eks_cluster_not_active_adds_a_warn():
    eks, stub = fx.stubbed("eks")
    stub.add_response("describe_cluster", eks_cluster("API", status="UPDATING"), {"name": EKS_NAME})
    rows = run(context(overrides={"eks": eks}, existing_eks_cluster=EKS_NAME), preflight.check_eks_cluster)
    assert only(rows, "eks cluster").status == "warn"


def test_eks_cluster_missing_fails_and_access_denied_warns():
    eks, stub = fx.stubbed("eks")
    stub.add_client_error("describe_cluster", "ResourceNotFoundException", "No cluster found", 404)
    fx.deny(stub, "describe_cluster")
    ctx = context(overrides={"eks": eks}, existing_eks_cluster=EKS_NAME)
    missing = only(run(ctx, preflight.check_eks_cluster, "eks auth mode", "eks"))
    assert missing.status == "fail"
    assert missing.reason == f"EKS cluster '{EKS_NAME}' not found in {REGION}: No cluster found"
    denied = only(run(ctx, preflight.check_eks_cluster, "eks auth mode", "eks"))
    assert denied.status == "warn" and "eks:DescribeCluster" in denied.fix


def addon(name: str, status: str = "ACTIVE") -> dict:
    return {
        "addon": {"addonName": name, "clusterName": EKS_NAME, "status": status, "addonVersion": "v1.0.0-eksbuild.1"}
    }


def test_eks_addons_all_active_pass():
    eks, stub = fx.stubbed("eks")
    stub.add_response(
        "list_addons",
        {"addons": list(preflight.REQUIRED_EKS_ADDONS) + ["aws-ebs-csi-driver"]},
        {"clusterName": EKS_NAME},
    )
    for name in preflight.REQUIRED_EKS_ADDONS:
        stub.add_response("describe_addon", addon(name), {"clusterName": EKS_NAME, "addonName": name})
    row = only(run(context(overrides={"eks": eks}, existing_eks_cluster=EKS_NAME), preflight.check_eks_addons))
    assert row.status == "pass"
    stub.assert_no_pending_responses()


def test_eks_addons_missing_fail_with_create_commands():
    eks, stub = fx.stubbed("eks")
    stub.add_response(
        "list_addons", {"addons": ["vpc-cni", "kube-proxy"], "nextToken": "t1"}, {"clusterName": EKS_NAME}
    )
    stub.add_response("list_addons", {"addons": ["coredns"]}, {"clusterName": EKS_NAME, "nextToken": "t1"})
    row = only(run(context(overrides={"eks": eks}, existing_eks_cluster=EKS_NAME), preflight.check_eks_addons))
    assert row.status == "fail"
    assert "eks-pod-identity-agent" in row.reason and "coredns" not in row.reason
    assert f"aws eks create-addon --cluster-name {EKS_NAME} --addon-name eks-pod-identity-agent" in row.fix


def test_eks_addon_degraded_warns_and_access_denied_warns():
    eks, stub = fx.stubbed("eks")
    stub.add_response("list_addons", {"addons": list(preflight.REQUIRED_EKS_ADDONS)}, {"clusterName": EKS_NAME})
    for name in preflight.REQUIRED_EKS_ADDONS:
        stub.add_response(
            "describe_addon",
            addon(name, "DEGRADED" if name == "coredns" else "ACTIVE"),
            {"clusterName": EKS_NAME, "addonName": name},
        )
    fx.deny(stub, "list_addons")
    ctx = context(overrides={"eks": eks}, existing_eks_cluster=EKS_NAME)
    degraded = only(run(ctx, preflight.check_eks_addons, "eks add-ons", "eks"))
    assert degraded.status == "warn" and "coredns is DEGRADED" in degraded.reason
    denied = only(run(ctx, preflight.check_eks_addons, "eks add-ons", "eks"))
    assert denied.status == "warn" and "eks:ListAddons" in denied.fix


def _cluster_with_addons(*extra: str) -> Any:
    """An EKS client whose cluster has the required add-ons (ACTIVE) plus ``extra``."""
    eks, stub = fx.stubbed("eks")
    stub.add_response("list_addons", {"addons": [*preflight.REQUIRED_EKS_ADDONS, *extra]}, {"clusterName": EKS_NAME})
    for name in preflight.REQUIRED_EKS_ADDONS:
        stub.add_response("describe_addon", addon(name), {"clusterName": EKS_NAME, "addonName": name})
    return eks


def first_deploy(cfg: PlatformConfig, *addons: str) -> Any:
    """CloudFormation before the first deploy: no platform stack, and no stack holds ``addons``."""
    return fx.cloudformation_holding(
        preflight_ownership.platform_stack_name(cfg), owners={f"{EKS_NAME}|{a}": None for a in addons}
    )


def test_eks_addons_the_stack_would_create_fail_when_the_cluster_has_them():
    """R15P-M1: CreateAddon of an add-on the cluster already has fails the deploy; preflight says so."""
    eks = _cluster_with_addons("cert-manager", "amazon-sagemaker-hyperpod-training-operator", "aws-ebs-csi-driver")
    cfn = first_deploy(config(), "cert-manager", "amazon-sagemaker-hyperpod-training-operator")
    rows = run(
        context(overrides={"eks": eks, "cloudformation": cfn}, existing_eks_cluster=EKS_NAME),
        preflight.check_eks_addons,
    )
    assert only(rows, "eks add-ons").status == "pass"
    conflicts = {r.check: r for r in rows if r.check.startswith("eks add-on ")}
    assert set(conflicts) == {"eks add-on cert-manager", "eks add-on amazon-sagemaker-hyperpod-training-operator"}
    for name in ("cert-manager", "amazon-sagemaker-hyperpod-training-operator"):
        row = conflicts[f"eks add-on {name}"]
        assert row.status == "fail"
        assert f"'{EKS_NAME}' already has the EKS add-on {name}" in row.reason
        assert f"aws eks delete-addon --cluster-name {EKS_NAME} --addon-name {name} --preserve" in row.fix
        assert "\n" not in row.reason + row.fix
    # The operator can be turned off in the config; cert-manager cannot while the operator requires it.
    operator = conflicts["eks add-on amazon-sagemaker-hyperpod-training-operator"].fix
    assert "set kubernetes.addons.training_operator.enabled: false" in operator
    cert_manager = conflicts["eks add-on cert-manager"].fix
    assert "cert_manager.enabled: false" not in cert_manager
    assert "kubernetes.addons.training_operator needs the platform's own" in cert_manager


def test_eks_addons_follow_the_config_keys():
    """Only add-ons the config turns on are conflicts; storage.fsx brings the FSx CSI driver."""

    def mutate(d: dict) -> None:
        d.setdefault("kubernetes", {}).setdefault("addons", {}).update(
            training_operator={"enabled": False}, metrics_server={"enabled": True}
        )
        d["storage"] = {"fsx": {"storage_capacity_gib": 1200}}

    cfg = config(mutate)
    eks = _cluster_with_addons(
        "amazon-sagemaker-hyperpod-training-operator", "metrics-server", "aws-fsx-csi-driver", "kube-state-metrics"
    )
    cfn = first_deploy(cfg, "metrics-server", "aws-fsx-csi-driver")
    rows = run(
        context(cfg, overrides={"eks": eks, "cloudformation": cfn}, existing_eks_cluster=EKS_NAME),
        preflight.check_eks_addons,
    )
    failed = {r.check: r.fix for r in rows if r.status == "fail"}
    assert set(failed) == {"eks add-on metrics-server", "eks add-on aws-fsx-csi-driver"}
    assert "kubernetes.addons.metrics_server.enabled: false" in failed["eks add-on metrics-server"]
    assert "remove storage.fsx" in failed["eks add-on aws-fsx-csi-driver"]


def test_eks_addons_of_this_stack_pass_on_an_update():
    """R16P-M2: after the first deploy the add-ons are the stack's own AWS::EKS::Addon (physical ID
    '<cluster>|<add-on>'); preflight before an update passes them instead of telling to delete them."""
    eks = _cluster_with_addons("cert-manager", "amazon-sagemaker-hyperpod-training-operator")
    stack = preflight_ownership.platform_stack_name(config())
    cfn = fx.cloudformation_holding(
        stack, f"{EKS_NAME}|cert-manager", f"{EKS_NAME}|amazon-sagemaker-hyperpod-training-operator", "sg-0123"
    )
    rows = run(
        context(overrides={"eks": eks, "cloudformation": cfn}, existing_eks_cluster=EKS_NAME),
        preflight.check_eks_addons,
    )
    assert [r.status for r in rows] == ["pass", "pass", "pass"]
    for name in ("cert-manager", "amazon-sagemaker-hyperpod-training-operator"):
        row = only(rows, f"eks add-on {name}")
        assert f"part of this stack ({stack})" in row.reason and "delete-addon" not in row.fix


def test_eks_addon_of_another_stack_fails_without_telling_to_delete_it():
    """R16P-M2: team B's stack on team A's cluster: the add-ons are team A's; the fix must not take them away."""
    eks = _cluster_with_addons("cert-manager", "amazon-sagemaker-hyperpod-training-operator")
    stack = preflight_ownership.platform_stack_name(config())
    operator, cert = (f"{EKS_NAME}|amazon-sagemaker-hyperpod-training-operator", f"{EKS_NAME}|cert-manager")
    cfn = fx.cloudformation_holding(stack, owners={cert: "team-a-platform", operator: "team-a-platform"})
    rows = run(
        context(overrides={"eks": eks, "cloudformation": cfn}, existing_eks_cluster=EKS_NAME),
        preflight.check_eks_addons,
    )
    conflicts = {r.check: r for r in rows if r.check.startswith("eks add-on ")}
    for row in conflicts.values():
        assert row.status == "fail" and "owned by stack team-a-platform" in row.reason
        assert "delete-addon" not in row.fix and "do not delete it from under team-a-platform" in row.fix
        assert "\n" not in row.reason + row.fix
    operator_fix = conflicts["eks add-on amazon-sagemaker-hyperpod-training-operator"].fix
    assert "set kubernetes.addons.training_operator.enabled: false to keep team-a-platform's" in operator_fix
    cert_fix = conflicts["eks add-on cert-manager"].fix
    assert "the config cannot turn it off: the two stacks cannot both own it" in cert_fix


def test_eks_addon_check_names_the_cloudformation_permission_when_denied():
    eks = _cluster_with_addons("amazon-sagemaker-hyperpod-training-operator")
    cfn, stub = fx.stubbed("cloudformation")
    fx.deny(stub, "list_stack_resources", "AccessDenied")
    rows = run(
        context(overrides={"eks": eks, "cloudformation": cfn}, existing_eks_cluster=EKS_NAME),
        preflight.check_eks_addons,
    )
    row = only(rows, "eks add-on amazon-sagemaker-hyperpod-training-operator")
    assert row.status == "warn" and "access denied calling cloudformation ListStackResources" in row.reason
    assert row.fix.startswith("allow cloudformation:ListStackResources for the caller")
    assert "\n" not in row.reason + row.fix


def test_eks_addon_owner_look_up_denied_warns_naming_the_permission():
    """This stack does not hold the add-on, and CloudFormation will not say which stack does: a warn."""
    eks = _cluster_with_addons("metrics-server")
    cfg = config(
        lambda d: d.setdefault("kubernetes", {}).setdefault("addons", {}).update(metrics_server={"enabled": True})
    )
    cfn, stub = fx.stubbed("cloudformation")
    stub.add_client_error(
        "list_stack_resources", "ValidationError", f"Stack with id {cfg.name}-platform does not exist", 400
    )
    fx.deny(stub, "describe_stack_resources", "AccessDenied")
    ctx = context(cfg, overrides={"eks": eks, "cloudformation": cfn}, existing_eks_cluster=EKS_NAME)
    row = only(run(ctx, preflight.check_eks_addons), "eks add-on metrics-server")
    assert row.status == "warn" and "whether another stack already holds it could not be checked" in row.reason
    assert "access denied calling cloudformation DescribeStackResources (AccessDenied)" in row.reason
    assert row.fix.startswith("allow cloudformation:DescribeStackResources for the caller, then rerun; if another")
    stub.assert_no_pending_responses()


# ----------------------------------------------------------------------------- training plans


def plan_config(az: str = "usw2-az2", count: int = 2) -> PlatformConfig:
    def mutate(d: dict) -> None:
        d["network"]["availability_zone_ids"] = ["usw2-az2", "usw2-az1"]
        d["hyperpod"]["instance_groups"][1].update(
            instance_type="ml.p5.48xlarge", instance_count=count, training_plan_arn=TP_ARN, availability_zone_id=az
        )

    return config(mutate)


def training_plan(
    instance_type: str = "ml.p5.48xlarge",
    az_name: str | None = "us-west-2a",
    az_id: str | None = None,
    status: str = "Active",
    total: int = 2,
) -> dict:
    summary: dict = {
        "ReservedCapacityArn": f"arn:aws:sagemaker:{REGION}:{fx.ACCOUNT}:reserved-capacity/rc-1",
        "InstanceType": instance_type,
        "TotalInstanceCount": total,
        "Status": status,
    }
    if az_name:
        summary["AvailabilityZone"] = az_name
    if az_id:
        summary["AvailabilityZoneId"] = az_id
    return {
        "TrainingPlanArn": TP_ARN,
        "TrainingPlanName": "tp-p5-week",
        "Status": status,
        "StartTime": fx.NOW,
        "TargetResources": ["hyperpod-cluster"],
        "TotalInstanceCount": total,
        "ReservedCapacitySummaries": [summary],
    }


def plan_rows(cfg: PlatformConfig, *responses: dict | str) -> list:
    sm, stub = fx.stubbed("sagemaker")
    for response in responses:
        if isinstance(response, str):
            stub.add_client_error("describe_training_plan", response, "nope", 400)
        else:
            stub.add_response("describe_training_plan", response, {"TrainingPlanName": TP_ARN})
    ctx = context(cfg, {"sagemaker": sm})
    rows = []
    for name, fn in preflight.check_training_plans(ctx):
        rows.extend(preflight.guarded(name, "sagemaker", ctx, fn))
    return rows


def test_training_plan_pass_maps_az_name_through_describe_availability_zones():
    row = only(plan_rows(plan_config("usw2-az2"), training_plan(az_name="us-west-2a")))
    assert row.check == "training plan gpu"
    assert row.status == "pass" and "ml.p5.48xlarge in usw2-az2" in row.reason


def test_training_plan_in_another_az_fails_with_the_field_to_change():
    row = only(plan_rows(plan_config("usw2-az2"), training_plan(az_name="us-west-2b")))  # us-west-2b = usw2-az1
    assert row.status == "fail"
    assert "plan capacity is in usw2-az1" in row.reason and "placed in usw2-az2" in row.reason
    assert "hyperpod.instance_groups[1].availability_zone_id: usw2-az1" in row.fix


def test_training_plan_az_id_field_is_used_when_present():
    row = only(plan_rows(plan_config("usw2-az1"), training_plan(az_name=None, az_id="usw2-az1")))
    assert row.status == "pass"


def test_training_plan_for_another_instance_type_fails():
    row = only(plan_rows(plan_config(), training_plan(instance_type="ml.trn1.32xlarge")))
    assert row.status == "fail"
    assert "plan reserves ml.trn1.32xlarge; the group uses ml.p5.48xlarge" in row.reason


def test_training_plan_scheduled_or_short_warns():
    row = only(plan_rows(plan_config(count=4), training_plan(status="Scheduled", total=2)))
    assert row.status == "warn"
    assert "plan is Scheduled" in row.reason and "asks for 4 nodes, the plan reserves 2" in row.reason


def test_training_plan_not_found_fails_and_access_denied_warns():
    assert only(plan_rows(plan_config(), "ResourceNotFound")).status == "fail"
    denied = only(plan_rows(plan_config(), "AccessDeniedException"))
    assert denied.status == "warn" and "sagemaker:DescribeTrainingPlan" in denied.fix


# ----------------------------------------------------------------------------- the command


def test_preflight_command_passes_on_default_config_and_prints_table(tmp_path: Path, capsys):
    path = fx.write_config(tmp_path)
    code = main(["preflight", "--config", str(path)], clients_factory=fx.factory({"service-quotas": default_quotas()}))
    out = capsys.readouterr().out
    assert code == 0, out
    for name in (
        "caller identity",
        "availability zones",
        "subnet plan",
        "vpc quota",
        "quota ml.g5.8xlarge",
        "offering ml.g5.8xlarge",
    ):
        assert name in out
    assert "PASS" in out and "FAIL" not in out
    assert "0 fail" in out and "proxy for SageMaker HyperPod capacity" in out


def test_preflight_json_lists_statuses_and_exits_1_on_fail(tmp_path: Path, capsys):
    path = fx.write_config(tmp_path, lambda d: d.update(account="111122223333"))
    code = main(
        ["preflight", "--config", str(path), "--json"], clients_factory=fx.factory({"service-quotas": default_quotas()})
    )
    rows = json.loads(capsys.readouterr().out)
    assert code == 1
    assert {"status", "check", "reason", "fix"} <= set(rows[0])
    by_check = {r["check"]: r["status"] for r in rows}
    assert by_check["caller identity"] == "fail"
    assert by_check["vpc quota"] == "pass"


def test_preflight_with_imported_resources_skips_vpc_quota(tmp_path: Path, capsys):
    subnet = moto_subnet("10.50.0.0/20")
    eks, stub = fx.stubbed("eks")
    stub.add_response("describe_cluster", eks_cluster("CONFIG_MAP"), {"name": EKS_NAME})
    stub.add_response("list_addons", {"addons": list(preflight.REQUIRED_EKS_ADDONS)}, {"clusterName": EKS_NAME})
    for name in preflight.REQUIRED_EKS_ADDONS:
        stub.add_response("describe_addon", addon(name), {"clusterName": EKS_NAME, "addonName": name})
    path = fx.write_config(tmp_path)
    code = main(
        [
            "preflight",
            "--config",
            str(path),
            "--json",
            "--existing-eks-cluster",
            EKS_NAME,
            "--existing-subnet-ids",
            subnet,
        ],
        clients_factory=fx.factory({"service-quotas": default_quotas(), "eks": eks}),
    )
    rows = {r["check"]: r for r in json.loads(capsys.readouterr().out)}
    assert code == 1
    assert "vpc quota" not in rows and "subnet plan" not in rows
    assert rows["subnet IPs usw2-az2"]["status"] == "pass"
    assert rows["eks auth mode"]["status"] == "fail"
    assert rows["eks add-ons"]["status"] == "pass"


def test_preflight_config_error_is_one_line_exit_2(tmp_path: Path, capsys):
    path = fx.write_config(tmp_path, lambda d: d["hyperpod"]["instance_groups"][0].update(instance_count=-1))
    code = main(["preflight", "--config", str(path)], clients_factory=fx.factory())
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [err.strip()]
    assert err.startswith(f"error: {path}: hyperpod.instance_groups[0](system).instance_count:")


def test_preflight_missing_config_file_exit_2(tmp_path: Path, capsys):
    code = main(["preflight", "--config", str(tmp_path / "absent.yaml")], clients_factory=fx.factory())
    assert code == 2
    assert "cannot read the config file" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["preflight", "--region", "mars-1"],
        ["preflight", "--existing-subnet-ids", "subnet-zz,vpc-1"],
        ["preflight", "--existing-eks-cluster", "-bad"],
        ["preflight", "--bogus"],
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv: list[str], capsys):
    assert main(argv, clients_factory=fx.factory()) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "error:" in err and "--help" in err
    assert "Traceback" not in err


def test_missing_credentials_exit_2_with_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    path = fx.write_config(tmp_path)
    code = main(["preflight", "--config", str(path)])  # the real clients factory
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no AWS credentials found") and "aws configure" in err


def test_schema_command_prints_the_config_json_schema(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert {"name", "region", "network", "eks", "hyperpod"} <= set(schema["properties"])


# ----------------------------------------------------------------------------- Helm chart bundle

BUNDLE = b"hyperpod chart bundle"
BUNDLE_SHA = __import__("hashlib").sha256(BUNDLE).hexdigest()
BUNDLE_URI = "s3://closed-artifacts/charts/bundle.tgz"


def bundle_config(*, sha: str | None = None, closed: bool = True) -> PlatformConfig:
    def mutate(data: dict) -> None:
        data["network"]["closed"] = closed
        data.setdefault("kubernetes", {})["helm_dependencies"] = {"source_s3_uri": BUNDLE_URI}
        if closed:
            # A closed VPC pulls the chart's images from ECR only (kubernetes.image_mirror).
            data["kubernetes"]["image_mirror"] = f"123456789012.dkr.ecr.{REGION}.amazonaws.com/mirror"
            data["kubernetes"]["helm_dependencies"]["neuron_device_plugin"] = False
        if sha:
            data["kubernetes"]["helm_dependencies"]["source_sha256"] = sha

    return config(mutate)


def s3_client(region: str = REGION):
    """An S3 client on its own boto3 session: boto3 cannot build S3 clients twice on the shared
    botocore session of cli_fixtures (it injects its transfer methods once per boto3 session)."""
    import boto3

    return boto3.Session(region_name=region).client("s3")


def bundle_context(cfg: PlatformConfig, s3=None) -> preflight.Context:
    return context(cfg, overrides={"s3": s3 or s3_client()})


def put_bundle(region: str = REGION, *, checksum: bool = True) -> None:
    s3 = s3_client(region)
    if region == "us-east-1":
        s3.create_bucket(Bucket="closed-artifacts")
    else:
        s3.create_bucket(Bucket="closed-artifacts", CreateBucketConfiguration={"LocationConstraint": region})
    extra = {"ChecksumAlgorithm": "SHA256"} if checksum else {}
    s3.put_object(Bucket="closed-artifacts", Key="charts/bundle.tgz", Body=BUNDLE, **extra)


def test_chart_bundle_check_runs_only_for_an_s3_source():
    names = [name for name, _, _ in preflight.plan_checks(context(bundle_config()))]
    assert "chart bundle" in names
    assert "chart bundle" not in [name for name, _, _ in preflight.plan_checks(context())]


def test_chart_bundle_missing_fails_with_the_build_command():
    s3_client().create_bucket(Bucket="closed-artifacts", CreateBucketConfiguration={"LocationConstraint": REGION})
    row = only(run(bundle_context(bundle_config()), preflight.check_chart_bundle, "chart bundle", "s3"))
    assert row.status == "fail" and "does not exist" in row.reason
    assert f"make chart-bundle CONFIG=<this config> BUNDLE_UPLOAD={BUNDLE_URI}" in row.fix


def test_chart_bundle_present_passes_and_its_checksum_is_compared():
    put_bundle()
    check = preflight.check_chart_bundle
    assert only(run(bundle_context(bundle_config()), check, "chart bundle", "s3")).status == "pass"
    pinned = only(run(bundle_context(bundle_config(sha=BUNDLE_SHA)), check, "chart bundle", "s3"))
    assert pinned.status == "pass" and "matches source_sha256" in pinned.reason
    other = only(run(bundle_context(bundle_config(sha="0" * 64)), check, "chart bundle", "s3"))
    assert other.status == "fail" and BUNDLE_SHA in other.reason


def test_chart_bundle_without_an_s3_checksum_warns_when_pinned():
    put_bundle(checksum=False)
    row = only(run(bundle_context(bundle_config(sha=BUNDLE_SHA)), preflight.check_chart_bundle, "chart bundle", "s3"))
    assert row.status == "warn" and "re-upload" in row.fix


def test_chart_bundle_in_another_region_fails_in_a_closed_network():
    put_bundle("eu-west-1")
    row = only(run(bundle_context(bundle_config()), preflight.check_chart_bundle, "chart bundle", "s3"))
    assert row.status == "fail" and "eu-west-1" in row.reason and "gateway endpoint" in row.reason
    # With internet (NAT), another region is fine.
    assert (
        only(
            run(bundle_context(bundle_config(closed=False)), preflight.check_chart_bundle, "chart bundle", "s3")
        ).status
        == "pass"
    )


def test_chart_bundle_access_denied_is_a_warn():
    from botocore.stub import Stubber

    s3 = s3_client()
    stub = Stubber(s3)
    stub.activate()
    stub.add_client_error("head_object", "403", "Forbidden", 403)
    row = only(run(bundle_context(bundle_config(closed=False), s3), preflight.check_chart_bundle, "chart bundle", "s3"))
    assert row.status == "warn" and "s3:GetObject" in row.fix


def test_a_library_stack_named_with_stack_name_holds_its_add_ons():
    """R17P-M1: a user's own CDK app deploys the platform in a stack of its own name (docs/library.md);
    with --stack-name preflight reads that stack's holdings, so an update passes its own add-ons."""
    eks = _cluster_with_addons("cert-manager", "amazon-sagemaker-hyperpod-training-operator")
    held = (f"{EKS_NAME}|cert-manager", f"{EKS_NAME}|amazon-sagemaker-hyperpod-training-operator")
    rows = run(
        context(
            overrides={"eks": eks, "cloudformation": fx.cloudformation_holding("TrainingOnMyEks", *held)},
            existing_eks_cluster=EKS_NAME,
            stack_name="TrainingOnMyEks",
        ),
        preflight.check_eks_addons,
    )
    assert [r.status for r in rows] == ["pass", "pass", "pass"]
    assert "part of this stack (TrainingOnMyEks)" in only(rows, "eks add-on cert-manager").reason


def test_without_stack_name_the_owning_stack_is_named_with_the_flag_to_use():
    eks = _cluster_with_addons("cert-manager", "amazon-sagemaker-hyperpod-training-operator")
    stack = preflight_ownership.platform_stack_name(config())
    operator, cert = (f"{EKS_NAME}|amazon-sagemaker-hyperpod-training-operator", f"{EKS_NAME}|cert-manager")
    cfn = fx.cloudformation_holding(stack, owners={cert: "TrainingOnMyEks", operator: "TrainingOnMyEks"})
    rows = run(
        context(overrides={"eks": eks, "cloudformation": cfn}, existing_eks_cluster=EKS_NAME),
        preflight.check_eks_addons,
    )
    row = only(rows, "eks add-on cert-manager")
    assert row.status == "fail" and "rerun with --stack-name TrainingOnMyEks" in row.fix


@pytest.mark.parametrize("value", ["1stack", "has_underscore", "x" * 129, ""])
def test_a_bad_stack_name_is_one_line_naming_the_flag(value, capsys):
    from hyperpod_cdk.cli.main import main

    assert main(["preflight", "--stack-name", value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--stack-name" in err and "CloudFormation stack name" in err
