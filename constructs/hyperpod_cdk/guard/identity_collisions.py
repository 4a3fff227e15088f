"""Creates that collide with a resource the update deletes only afterwards (review round 31, R31P-M2).

CloudFormation creates new and replacement resources during the update and deletes the old ones in the
cleanup phase that follows
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-update-behaviors.html).
Some resources are identified in AWS by their properties, and AWS refuses a second one with the same identity:

- an EKS access entry is one per principal and cluster ("an IAM principal can't be included in more than one
  access entry", https://docs.aws.amazon.com/eks/latest/userguide/creating-access-entries.html);
- a security group rule is one per group, protocol, ports and peer (EC2's ``InvalidPermission.Duplicate``,
  https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).

So when a list the template is built from shifts (the first admin removed: every later principal moves to the
logical ID before it), each create meets the entry the next logical ID still holds, and the update fails and
rolls back. The guard reports each such create as ``blocked``, with the two-step way out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hyperpod_cdk.guard.findings import Finding
from hyperpod_cdk.guard.values import canonical

#: Per type: the properties that are its identity in AWS.
IDENTITY_PROPERTIES: Mapping[str, tuple[str, ...]] = {
    "AWS::EKS::AccessEntry": ("ClusterName", "PrincipalArn"),
    "AWS::EC2::SecurityGroupIngress": (
        *("GroupId", "IpProtocol", "FromPort", "ToPort", "CidrIp", "CidrIpv6"),
        *("SourceSecurityGroupId", "SourcePrefixListId"),
    ),
    "AWS::EC2::SecurityGroupEgress": (
        *("GroupId", "IpProtocol", "FromPort", "ToPort", "CidrIp", "CidrIpv6"),
        *("DestinationSecurityGroupId", "DestinationPrefixListId"),
    ),
}
_DOC = "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-update-behaviors.html"
_REFUSED = {
    "AWS::EKS::AccessEntry": "EKS allows one access entry per principal (ResourceInUseException)",
    "AWS::EC2::SecurityGroupIngress": "EC2 refuses a duplicate rule (InvalidPermission.Duplicate)",
    "AWS::EC2::SecurityGroupEgress": "EC2 refuses a duplicate rule (InvalidPermission.Duplicate)",
}


def _identity(body: Mapping[str, Any], names: tuple[str, ...]) -> str:
    properties = body.get("Properties")
    values = properties if isinstance(properties, Mapping) else {}
    return str(canonical([values.get(name) for name in names]))


def identity_collisions(old_res: Mapping[str, Any], new_res: Mapping[str, Any]) -> list[Finding]:
    """Each resource the update creates (a new logical ID, or a replacement: its identity changed) whose
    identity another logical ID of the old template holds until the cleanup phase."""
    findings: list[Finding] = []
    for kind, names in IDENTITY_PROPERTIES.items():
        held: dict[str, list[str]] = {}  # at most two holders per identity: linear however many share one (R32T-M1)
        for logical_id, body in old_res.items():
            if isinstance(body, Mapping) and body.get("Type") == kind:
                holders = held.setdefault(_identity(body, names), [])
                if len(holders) < 2:
                    holders.append(logical_id)
        for logical_id, body in sorted(new_res.items()):
            if not isinstance(body, Mapping) or body.get("Type") != kind:
                continue
            identity, old = _identity(body, names), old_res.get(logical_id)
            created = not isinstance(old, Mapping) or old.get("Type") != kind or _identity(old, names) != identity
            holder = next((other for other in held.get(identity, []) if other != logical_id), None)
            if created and holder is not None:
                findings.append(_finding(kind, logical_id, body, holder, old_res[holder], names))
    return findings


def _finding(
    kind: str, logical_id: str, body: Mapping[str, Any], holder: str, held: Any, names: tuple[str, ...]
) -> Finding:
    properties = body.get("Properties")
    written: Mapping[str, Any] = properties if isinstance(properties, Mapping) else {}
    shown = {name: written[name] for name in names if name in written}
    kept = isinstance(held, Mapping) and held.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate")
    way_out = (
        f"{holder} is kept on delete (DeletionPolicy {held.get('DeletionPolicy')}), so removing it "
        "from the template leaves it in AWS: after the first deploy without it, delete it by hand "
        "(aws eks delete-access-entry, or revoke the rule), then deploy the change (R32T-L2)"
        if kept
        else f"first without {holder} (for a list the template is built from, remove the entries from the first one "
        "that moves to the end), then with the change"
    )
    return Finding(
        logical_id,
        kind,
        None,
        "(identity)",
        "blocked",
        {"held by": holder},
        shown,
        f"CloudFormation creates {logical_id} before it deletes {holder}, which holds the same "
        f"{', '.join(shown)} until the update's cleanup: {_REFUSED[kind]}, so the update fails and rolls back. "
        f"Deploy in two steps: {way_out}.",
        _DOC,
    )
