"""R30T-L7: Terraform's ``aws_security_group`` with in-line ``ingress``/``egress`` blocks: the blocks were not read,
so EFA1 said the group was "defined elsewhere" (not checked) although the file holds it. The group is now read
with its blocks, and the literal id the cluster names is that group."""

from __future__ import annotations

from typing import Any

import pytest

from hyperpod_cdk.rules.catalog import check
from hyperpod_cdk.rules.inputs import from_terraform

SG = "sg-0a1b2c3d4e5f60718"


def _plan(egress: dict[str, Any]) -> dict[str, Any]:
    group = {
        "address": "aws_security_group.nodes",
        "type": "aws_security_group",
        "values": {
            "id": SG,
            "vpc_id": "vpc-1",
            "ingress": [{"protocol": "-1", "self": True, "from_port": 0, "to_port": 0, "security_groups": []}],
            "egress": [egress],
        },
    }
    cluster = {
        "address": "awscc_sagemaker_cluster.hp",
        "type": "awscc_sagemaker_cluster",
        "values": {
            "cluster_name": "hp",
            "vpc_config": {"security_group_ids": [SG], "subnets": ["subnet-1"]},
            "instance_groups": [
                {
                    "instance_group_name": "gpu",
                    "instance_type": "ml.p5.48xlarge",
                    "instance_count": 1,
                    "execution_role": "arn:aws:iam::111122223333:role/x",
                }
            ],
        },
    }
    return {"values": {"root_module": {"resources": [group, cluster]}}}


@pytest.mark.parametrize(
    ("egress", "expected"),
    [
        ({"protocol": "-1", "self": True, "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}, []),
        ({"protocol": "-1", "self": False, "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}, ["egress"]),
    ],
    ids=["self ingress and egress in-line", "no self egress"],
)
def test_in_line_rules_are_read(egress: dict[str, Any], expected: list[str]) -> None:
    lint_input = from_terraform(_plan(egress), "plan.json", region="us-west-2")
    found = [f for f in check(lint_input.templates, include_not_checked=True) if f.rule_id == "HyperPod-EFA1"]
    assert [f.severity for f in found] == [None] * len(expected), found
    assert all("all-traffic egress to itself" in f.detail for f in found), found


def test_a_template_cannot_name_its_own_physical_ids() -> None:
    """Only the Terraform loader records a physical id: the same metadata written in a template is ignored."""
    from hyperpod_cdk.rules import Templates
    from hyperpod_cdk.rules.terraform_groups import TERRAFORM_ID

    template = {"Resources": {"G": {"Type": "AWS::EC2::SecurityGroup", "Metadata": {TERRAFORM_ID: SG}}}}
    assert Templates({"t": template}).reference_key("t", SG) == ("literal", SG)
