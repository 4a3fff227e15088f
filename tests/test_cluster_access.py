"""Who can reach the cluster (issue 17): admin access entries, the no-admin warning, the SSM tunnel."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
ADMIN = "arn:aws:iam::123456789012:role/PlatformAdmin"
ONCALL = "arn:aws:iam::123456789012:role/OnCall"


@pytest.fixture(scope="module")
def closed_with_admins(synth, tmp_path_factory: pytest.TempPathFactory):
    """examples/closed-network.yaml (tunnel on) with two admin principals: one synth, with cdk-nag."""
    data = yaml.safe_load((REPO / "examples" / "closed-network.yaml").read_text())
    data["eks"]["admin_principal_arn"] = ADMIN
    data["eks"]["admin_principal_arns"] = [ONCALL, ADMIN]  # a repeat is ignored
    out = tmp_path_factory.mktemp("admins")
    path = out / "closed.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return synth(path, out / "cdk.out")


def _warnings(synthesized) -> list[str]:
    import json

    report = json.loads((synthesized.outdir / "validation-report.json").read_text())
    return [f"{v['ruleName']}: {v['description']}" for p in report["pluginReports"] for v in p.get("violations", [])]


def test_default_config_warns_naming_the_key(platform) -> None:
    warnings = _warnings(platform)
    assert any(
        w.startswith("Annotation::hyperpod-cdk:noClusterAdmin: nobody can use kubectl")
        and "eks.admin_principal_arn" in w
        for w in warnings
    )
    # No person gets cluster-admin: the template's admin policy associations are for Lambda roles only.
    for entry in platform.resources("AWS::EKS::AccessEntry").values():
        principal = str(entry["Properties"]["PrincipalArn"])
        assert "PlatformAdmin" not in principal


def test_admin_principals_get_cluster_admin_entries(closed_with_admins) -> None:
    entries = {
        e["Properties"]["PrincipalArn"]: e["Properties"]
        for e in closed_with_admins.resources("AWS::EKS::AccessEntry").values()
        if isinstance(e["Properties"]["PrincipalArn"], str)
    }
    for principal in (ADMIN, ONCALL):
        policies = entries[principal]["AccessPolicies"]
        assert policies == [
            {
                "AccessScope": {"Type": "cluster"},
                "PolicyArn": {
                    "Fn::Join": [
                        "",
                        [
                            "arn:",
                            {"Ref": "AWS::Partition"},
                            ":eks::aws:cluster-access-policy/" "AmazonEKSClusterAdminPolicy",
                        ],
                    ]
                },
            }
        ]
    assert not any("nobody can use kubectl" in w for w in _warnings(closed_with_admins))


def test_tunnel_has_no_inbound_rule_and_only_https_to_the_vpc_in_a_closed_network(closed_with_admins) -> None:
    template = closed_with_admins.template
    ((instance_id, instance),) = closed_with_admins.resources("AWS::EC2::Instance").items()
    (interface,) = instance["Properties"]["NetworkInterfaces"]
    assert interface["AssociatePublicIpAddress"] is False
    (group_ref,) = (g["Fn::GetAtt"][0] for g in interface["GroupSet"])
    group = template["Resources"][group_ref]["Properties"]
    assert "SecurityGroupIngress" not in group
    assert group["SecurityGroupEgress"] == [
        {
            "CidrIp": {
                "Fn::GetAtt": [
                    next(k for k, v in template["Resources"].items() if v["Type"] == "AWS::EC2::VPC"),
                    "CidrBlock",
                ]
            },
            "Description": "HTTPS to SSM and the EKS endpoint (Session Manager port forwarding)",
            "FromPort": 443,
            "IpProtocol": "tcp",
            "ToPort": 443,
        }
    ]
    ingress = [
        r["Properties"]
        for r in closed_with_admins.resources("AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"].get("SourceSecurityGroupId") == {"Fn::GetAtt": [group_ref, "GroupId"]}
    ]
    assert [(r["FromPort"], r["ToPort"]) for r in ingress] == [(443, 443)]
    assert {"Key": "hyperpod-cdk:access-tunnel", "Value": "hyperpod-closed-eks"} in instance["Properties"]["Tags"]
    assert "AccessTunnelInstanceId" in template["Outputs"]
    # IMDSv2 only, encrypted root volume; the AZ is the subnet's (works with imported subnets too).
    ((template_id, launch),) = closed_with_admins.resources("AWS::EC2::LaunchTemplate").items()
    assert launch["Properties"]["LaunchTemplateData"]["MetadataOptions"]["HttpTokens"] == "required"
    assert instance["Properties"]["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
    assert "AvailabilityZone" not in instance["Properties"]
