"""Review round 19 (R19P-M2): an imported file system is reachable only in the platform's own VPC. A VPC the
stack creates is new, so importing into it (a kept file system into a redeploy of the same config) is refused on
Slurm, where HyperPod mounts it on every node at creation; in an existing VPC the platform opens Lustre on the
file system's security groups before the cluster is created."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from hyperpod_cdk.config import parse_config
from hyperpod_cdk.errors import HyperPodConfigError

REPO = Path(__file__).resolve().parents[1]
FS_ID = "fs-0123456789abcdef0"
GROUP = "sg-0fedcba9876543210"
IMPORTED = {"file_system_id": FS_ID, "dns_name": f"{FS_ID}.fsx.us-west-2.amazonaws.com", "mount_name": "abcdefgh"}
EXISTING = {
    "vpc_id": "vpc-0123456789abcdef0",
    "vpc_cidr": "10.192.0.0/16",
    "hyperpod_subnets": {"usw2-az2": {"subnet_id": "subnet-0bbbbbbbbbbbbbbb1", "cidr": "10.192.64.0/18"}},
}


def _config(example: str, fsx: dict[str, Any], existing: bool) -> dict[str, Any]:
    data = yaml.safe_load((REPO / "examples" / example).read_text())
    data["storage"] = {"fsx": fsx}
    if existing:
        data["network"] = {"existing": EXISTING, "availability_zone_ids": ["usw2-az2"]}
    return data


def _synth(synth: Any, tmp_path: Path, data: dict[str, Any]) -> Any:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return synth(path, tmp_path / "out", nag=False)


def test_slurm_refuses_a_file_system_imported_into_the_vpc_it_creates(synth: Any, tmp_path: Path) -> None:
    with pytest.raises(HyperPodConfigError) as raised:
        _synth(synth, tmp_path, _config("slurm.yaml", dict(IMPORTED), existing=False))
    assert raised.value.field == "storage.fsx.file_system_id"
    assert "network.existing" in str(raised.value) and "\n" not in str(raised.value)


def test_security_groups_are_only_for_an_imported_file_system() -> None:
    data = _config("slurm.yaml", {"security_group_ids": [GROUP]}, existing=True)
    with pytest.raises(HyperPodConfigError) as raised:
        parse_config(data)
    assert "security_group_ids" in str(raised.value) and "imported" in str(raised.value)


def test_in_an_existing_vpc_lustre_is_opened_on_the_file_system_groups_before_the_cluster(
    synth: Any, tmp_path: Path
) -> None:
    built = _synth(synth, tmp_path, _config("slurm.yaml", {**IMPORTED, "security_group_ids": [GROUP]}, existing=True))
    resources = built.template["Resources"]
    rules = {
        logical_id: body["Properties"]
        for logical_id, body in resources.items()
        if body["Type"] == "AWS::EC2::SecurityGroupIngress" and body["Properties"]["GroupId"] == GROUP
    }
    ports = sorted((p["IpProtocol"], p["FromPort"], p["ToPort"]) for p in rules.values())
    assert ports == [("tcp", 988, 988), ("tcp", 1018, 1023)]
    (node_group,) = {p["SourceSecurityGroupId"]["Fn::GetAtt"][0] for p in rules.values()}
    assert resources[node_group]["Type"] == "AWS::EC2::SecurityGroup"
    (cluster_id,) = (k for k, v in resources.items() if v["Type"] == "AWS::SageMaker::Cluster")
    assert set(rules) <= set(resources[cluster_id].get("DependsOn", []))
    # Nothing of the imported file system is created, retained or deleted here.
    assert not [k for k, v in resources.items() if v["Type"] == "AWS::FSx::FileSystem"]


def test_eks_warns_about_a_file_system_imported_into_the_vpc_it_creates(synth: Any, tmp_path: Path) -> None:
    from aws_cdk.assertions import Annotations, Match

    built = _synth(synth, tmp_path, _config("eks-fsx.yaml", dict(IMPORTED), existing=False))
    Annotations.from_stack(built.stack).has_warning(
        "*", Match.string_like_regexp("storage.fsx.file_system_id: .* another VPC")
    )


def test_a_security_group_listed_twice_is_refused() -> None:
    """R19Q-L1: each Lustre rule was created twice, which EC2 refuses at deploy."""
    data = _config("slurm.yaml", {**IMPORTED, "security_group_ids": [GROUP, GROUP]}, existing=True)
    with pytest.raises(HyperPodConfigError) as raised:
        parse_config(data)
    assert "security_group_ids" in str(raised.value) and "once" in str(raised.value)
