"""Review round 19 (R19P-M1): the documented SCP fences the privileged functions by their purpose tag, so it
holds whatever the stack name and construct id (a name pattern missed a library stack's functions)."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
PURPOSE = "hyperpod-cdk:purpose"
DEPLOY_ROLE = "arn:aws:iam::111122223333:role/cdk-hnb659fds-cfn-exec-role-111122223333-us-west-2"
OTHER_ROLE = "arn:aws:iam::111122223333:role/Admin"


def _documented_statements() -> dict[str, dict[str, Any]]:
    doc = (REPO / "docs" / "security-posture.md").read_text()
    block = doc.split("Use an SCP or a permission boundary.", 1)[1].split("```json", 1)[1]
    return {statement["Sid"]: statement for statement in json.loads(block.split("```", 1)[0])}


def _documented_scp() -> dict[str, Any]:
    return _documented_statements()["FenceHyperPodCdkPrivilegedFunctions"]


def _denied(statement: dict[str, Any], action: str, tags: dict[str, str], principal: str) -> bool:
    """The statement's Deny applies (IAM: every condition operator must match; ArnLike wildcards are * and ?)."""
    if statement["Effect"] != "Deny" or action not in statement["Action"]:
        return False
    condition = statement["Condition"]
    fenced = tags.get(PURPOSE) in condition["StringEquals"][f"aws:ResourceTag/{PURPOSE}"]
    exempt = fnmatch.fnmatchcase(principal, condition["ArnNotLike"]["aws:PrincipalArn"])
    return fenced and not exempt


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Lambda::Function"}


def _tags(function: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in function["Properties"].get("Tags", [])}


def _cluster_admin_roles(template: dict[str, Any]) -> set[str]:
    roles = set()
    for body in template["Resources"].values():
        if body["Type"] != "AWS::EKS::AccessEntry":
            continue
        policies = json.dumps(body["Properties"].get("AccessPolicies", []))
        if "AmazonEKSClusterAdminPolicy" in policies:
            roles.add(body["Properties"]["PrincipalArn"]["Fn::GetAtt"][0])
    return roles


@pytest.fixture(scope="module", params=["platform", "eks_governed", "slurm_app"])
def template(request: pytest.FixtureRequest) -> dict[str, Any]:
    synthesized = request.getfixturevalue(request.param)
    result: dict[str, Any] = synthesized.template
    return result


def test_every_purpose_tag_is_fenced_for_everyone_but_the_deploy_role(template: dict[str, Any]) -> None:
    scp = _documented_scp()
    tagged = {k: _tags(f) for k, f in _functions(template).items() if PURPOSE in _tags(f)}
    assert tagged
    for logical_id, tags in tagged.items():
        for action in ("lambda:InvokeFunction", "lambda:UpdateFunctionCode", "lambda:UntagResource"):
            assert _denied(scp, action, tags, OTHER_ROLE), (logical_id, action)
            assert not _denied(scp, action, tags, DEPLOY_ROLE), (logical_id, action)


def test_every_function_with_cluster_admin_carries_a_fenced_tag(template: dict[str, Any]) -> None:
    admins = _cluster_admin_roles(template)
    fenced = _documented_scp()["Condition"]["StringEquals"][f"aws:ResourceTag/{PURPOSE}"]
    for logical_id, function in _functions(template).items():
        role = function["Properties"]["Role"]["Fn::GetAtt"][0]
        if role in admins:
            assert _tags(function).get(PURPOSE) in fenced, logical_id


def test_the_governed_example_has_every_fenced_purpose(eks_governed: Any) -> None:
    found = {_tags(f).get(PURPOSE) for f in _functions(eks_governed.template).values()}
    assert set(_documented_scp()["Condition"]["StringEquals"][f"aws:ResourceTag/{PURPOSE}"]) <= found


def test_every_fenced_function_role_is_fenced_too(template: dict[str, Any]) -> None:
    """R19Q-M1: a principal that may create functions and pass roles could run its own code with the Helm
    installer's role; the roles carry the function's tag and the second statement denies passing them."""
    roles = _documented_statements()["FenceHyperPodCdkPrivilegedRoles"]
    assert roles["Condition"] == _documented_scp()["Condition"]
    resources = template["Resources"]
    for logical_id, function in _functions(template).items():
        if PURPOSE not in _tags(function):
            continue
        role = resources[function["Properties"]["Role"]["Fn::GetAtt"][0]]
        role_tags = {tag["Key"]: tag["Value"] for tag in role["Properties"].get("Tags", [])}
        assert role_tags.get(PURPOSE) == _tags(function)[PURPOSE], logical_id
        for action in ("iam:PassRole", "iam:PutRolePolicy", "iam:UntagRole"):
            assert _denied(roles, action, role_tags, OTHER_ROLE), (logical_id, action)
            assert not _denied(roles, action, role_tags, DEPLOY_ROLE), (logical_id, action)


def test_an_untagged_function_is_not_fenced() -> None:
    assert not _denied(_documented_scp(), "lambda:InvokeFunction", {}, OTHER_ROLE)
