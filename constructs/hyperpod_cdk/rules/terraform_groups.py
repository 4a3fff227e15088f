"""Terraform's ``aws_security_group`` with its rules in-line, as the rules read a security group.

The aws provider writes a group's rules either as separate resources (``aws_security_group_rule``,
``aws_vpc_security_group_*_rule``: :mod:`.inputs`) or as ``ingress``/``egress`` blocks of the group itself
(https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/security_group). The blocks were
not read, so EFA1 said the group was "defined elsewhere" although it is in the file (review round 30, R30T-L7).
Here the group is an ``AWS::EC2::SecurityGroup`` with ``SecurityGroupIngress``/``SecurityGroupEgress``, one
entry per peer (``self`` is the group's own id, ``security_groups`` each group, ``cidr_blocks`` each range),
and its id (``values.id``) is recorded by the loader as the resource's physical id
(:attr:`~hyperpod_cdk.rules.model.Templates.physical_ids`), so the literal id a cluster names is this group.
"""

from __future__ import annotations

from typing import Any

from hyperpod_cdk.rules.model import Json, as_list, as_map

#: Metadata key of the body's Terraform id; only the Terraform loader reads it (rules/inputs.py).
TERRAFORM_ID = "hyperpod-cdk:terraform-id"
_BLOCKS = (
    ("ingress", "SecurityGroupIngress", "SourceSecurityGroupId"),
    ("egress", "SecurityGroupEgress", "DestinationSecurityGroupId"),
)


def security_group(kind: str, values: Any) -> dict[str, Json]:
    """``aws_security_group`` as an ``AWS::EC2::SecurityGroup`` with its in-line rules."""
    own = values.get("id")
    properties: dict[str, Json] = {"GroupDescription": values.get("description") or kind, "VpcId": values.get("vpc_id")}
    for block, key, peer_key in _BLOCKS:
        entries: list[Json] = []
        for item in as_list(values.get(block)):
            rule = as_map(item)
            protocol = rule.get("protocol")
            base = {
                "IpProtocol": "-1" if str(protocol) in ("-1", "all") else protocol,
                "FromPort": rule.get("from_port"),
                "ToPort": rule.get("to_port"),
            }
            peers = [*as_list(rule.get("security_groups")), *([own] if rule.get("self") is True else [])]
            entries += [{**base, peer_key: peer} for peer in peers]
            entries += [{**base, "CidrIp": cidr} for cidr in as_list(rule.get("cidr_blocks"))]
        properties[key] = entries
    return {"Type": "AWS::EC2::SecurityGroup", "Properties": properties, "Metadata": {TERRAFORM_ID: own}}
