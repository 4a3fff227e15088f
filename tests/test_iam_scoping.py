"""IAM scoping of the default app (issue 14, items 5 and 11).

The execution role's statements are evaluated against sample requests the way IAM authorizes an
EC2 call: every resource of the request must be allowed by a statement whose conditions hold for
that resource's condition keys (a key the resource does not carry fails the condition). Requests
come from the Service Authorization Reference for EC2 (which resources and keys each ENI action
has) and from what the VPC CNI sends (aws/amazon-vpc-cni-k8s pkg/awsutils/awsutils.go).
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest

from hyperpod_cdk.cluster.execution_role import ENI_ACTIONS_IN_VPC

ACCOUNT = "111122223333"
REGION = "us-west-2"
VPC = "vpc-0hyperpod"
OTHER_VPC = "vpc-0elsewhere"


def _resolve(value: Any, refs: dict[str, str]) -> Any:
    """The template's intrinsics with made-up physical IDs: Ref X -> refs[X] or "X-id"."""
    if isinstance(value, list):
        return [_resolve(item, refs) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        key, arg = next(iter(value.items()))
        if key == "Ref":
            return refs.get(arg, f"{arg}-id")
        if key == "Fn::GetAtt":
            return refs.get(f"{arg[0]}.{arg[1]}", f"{arg[0]}-{arg[1]}")
        if key == "Fn::Join":
            return arg[0].join(str(_resolve(part, refs)) for part in arg[1])
        if key == "Fn::Split":
            return str(_resolve(arg[1], refs)).split(arg[0])
        if key == "Fn::Select":
            return _resolve(arg[1], refs)[arg[0]]
    return {key: _resolve(item, refs) for key, item in value.items()}


@pytest.fixture(scope="module")
def exec_statements(platform) -> list[dict[str, Any]]:
    resources = platform.template["Resources"]
    (role_id,) = (k for k, v in resources.items() if v["Type"] == "AWS::IAM::Role" and k.startswith("ExecutionRole"))
    (vpc_id,) = (k for k, v in resources.items() if v["Type"] == "AWS::EC2::VPC")
    (sg_id,) = (
        k for k, v in resources.items() if v["Type"] == "AWS::EC2::SecurityGroup" and k.startswith("NodeSecurityGroup")
    )
    (key_id,) = (k for k in resources if k.startswith("DataKey"))
    refs = {
        "AWS::AccountId": ACCOUNT,
        "AWS::Region": REGION,
        "AWS::Partition": "aws",
        vpc_id: VPC,
        f"{sg_id}.GroupId": "sg-0hyperpod",
        f"{key_id}.Arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/data",
    }
    statements = []
    for policy in resources.values():
        if policy["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements += _resolve(policy["Properties"]["PolicyDocument"]["Statement"], refs)
    assert all(s["Effect"] == "Allow" for s in statements)  # the evaluation below knows no Deny
    return statements


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _condition_holds(conditions: dict[str, dict[str, Any]], context: dict[str, str]) -> bool:
    for operator, tests in conditions.items():
        for key, expected in tests.items():
            if key not in context:
                return False
            actual = context[key]
            if operator in ("ArnLike", "ArnEquals", "StringLike"):
                ok = any(fnmatch.fnmatchcase(actual, pattern) for pattern in _as_list(expected))
            elif operator in ("StringEquals", "Bool"):
                ok = actual in [str(e) for e in _as_list(expected)]
            else:
                raise AssertionError(f"evaluation does not know {operator}")
            if not ok:
                return False
    return True


def allowed(
    statements: list[dict[str, Any]],
    action: str,
    resources: list[tuple[str, dict[str, str]]],
    request_keys: dict[str, str] | None = None,
) -> bool:
    """True when every (resource ARN, resource condition keys) of the request is allowed."""
    for arn, keys in resources:
        context = {**(request_keys or {}), **keys}
        if not any(
            any(fnmatch.fnmatchcase(action, a) for a in _as_list(s["Action"]))
            and any(fnmatch.fnmatchcase(arn, r) for r in _as_list(s["Resource"]))
            and _condition_holds(s.get("Condition", {}), context)
            for s in statements
        ):
            return False
    return True


def _vpc_arn(vpc: str, owner: str = ACCOUNT) -> str:
    return f"arn:aws:ec2:{REGION}:{owner}:vpc/{vpc}"


def eni(vpc: str = VPC, owner: str = ACCOUNT) -> tuple[str, dict[str, str]]:
    """An existing ENI: the network-interface resource carries ec2:Vpc."""
    return f"arn:aws:ec2:{REGION}:{ACCOUNT}:network-interface/eni-0123", {"ec2:Vpc": _vpc_arn(vpc, owner)}


NEW_ENI = (f"arn:aws:ec2:{REGION}:{ACCOUNT}:network-interface/*", {})  # not created yet: no ec2:Vpc
INSTANCE = (f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0123", {})  # instance keys include no ec2:Vpc
HYPERPOD_SG = (f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/sg-0hyperpod", {"ec2:Vpc": _vpc_arn(VPC)})


@pytest.mark.parametrize(
    "action", sorted(set(ENI_ACTIONS_IN_VPC) - {"ec2:AttachNetworkInterface", "ec2:DetachNetworkInterface"})
)
def test_eni_actions_reach_only_enis_in_the_hyperpod_vpc(exec_statements, action):
    assert allowed(exec_statements, action, [eni()])
    assert not allowed(exec_statements, action, [eni(OTHER_VPC)])


@pytest.mark.parametrize(
    "action", ["ec2:AttachNetworkInterface", "ec2:DetachNetworkInterface", "ec2:ModifyNetworkInterfaceAttribute"]
)
def test_attach_and_detach_need_the_eni_in_the_vpc_even_though_instances_are_open(exec_statements, action):
    assert allowed(exec_statements, action, [INSTANCE, eni()])
    assert not allowed(exec_statements, action, [INSTANCE, eni(OTHER_VPC)])


def test_eni_in_a_shared_vpc_owned_by_another_account_still_matches(exec_statements):
    assert allowed(exec_statements, "ec2:DeleteNetworkInterface", [eni(owner="999988887777")])


def test_vpc_cni_calls_are_still_allowed(exec_statements):
    """What the VPC CNI does on a HyperPod node (awsutils.go: createENI, AllocENI, RefreshSGIDs, TagENI)."""
    subnet = next(
        r
        for s in exec_statements
        if s.get("Sid") == "CreateEniInHyperPodSubnets"
        for r in _as_list(s["Resource"])
        if ":subnet/" in r
    )
    create = [(subnet, {"ec2:Vpc": _vpc_arn(VPC)}), HYPERPOD_SG, NEW_ENI]
    assert allowed(exec_statements, "ec2:CreateNetworkInterface", create)
    other_subnet = (f"arn:aws:ec2:{REGION}:{ACCOUNT}:subnet/subnet-0other", {"ec2:Vpc": _vpc_arn(VPC)})
    assert not allowed(exec_statements, "ec2:CreateNetworkInterface", [other_subnet, HYPERPOD_SG, NEW_ENI])
    # Tags sent with CreateNetworkInterface (TagSpecifications).
    assert allowed(exec_statements, "ec2:CreateTags", [NEW_ENI], {"ec2:CreateAction": "CreateNetworkInterface"})
    # TagENI adds missing tags later; RefreshSGIDs sets the node's groups on its ENIs.
    assert allowed(exec_statements, "ec2:CreateTags", [eni()])
    assert allowed(exec_statements, "ec2:ModifyNetworkInterfaceAttribute", [eni(), HYPERPOD_SG])
    assert allowed(exec_statements, "ec2:AssignPrivateIpAddresses", [eni()])


def test_tags_reach_no_other_eni(exec_statements):
    assert not allowed(exec_statements, "ec2:CreateTags", [eni(OTHER_VPC)])
    assert not allowed(exec_statements, "ec2:CreateTags", [NEW_ENI], {"ec2:CreateAction": "CreateSecurityGroup"})
    assert not allowed(exec_statements, "ec2:CreateTags", [NEW_ENI])


def test_only_delete_eni_permission_is_unconditioned_on_enis(exec_statements):
    """The documented exception: its network-interface resource is optional, so ec2:Vpc may be absent."""
    open_on_enis = {
        a
        for s in exec_statements
        if "Condition" not in s
        for r in _as_list(s["Resource"])
        if ":network-interface/" in r
        for a in _as_list(s["Action"])
    }
    assert open_on_enis == {"ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterfacePermission"}


def test_create_grant_only_for_aws_resources_through_sagemaker(exec_statements):
    key = (f"arn:aws:kms:{REGION}:{ACCOUNT}:key/data", {})
    via_sagemaker = {"kms:GrantIsForAWSResource": "true", "kms:ViaService": f"sagemaker.{REGION}.amazonaws.com"}
    assert allowed(exec_statements, "kms:CreateGrant", [key], via_sagemaker)
    assert not allowed(exec_statements, "kms:CreateGrant", [key])  # a node calling CreateGrant itself
    assert not allowed(exec_statements, "kms:CreateGrant", [key], {**via_sagemaker, "kms:ViaService": "ec2.x"})
    assert allowed(exec_statements, "kms:Decrypt", [key]) and allowed(exec_statements, "kms:DescribeKey", [key])


# ------------------------------------------------------------------ logs key and pod identity


def test_logs_key_serves_exactly_the_platform_log_groups(platform):
    resources = platform.template["Resources"]
    stack_id = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/hp/1c2fa620-982a-11e3-aff7-50e2416294e0"
    refs = {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": "aws", "AWS::StackId": stack_id}
    (key,) = (v for k, v in resources.items() if k.startswith("LogsKey"))
    logs_statements = [
        s
        for s in _resolve(key["Properties"]["KeyPolicy"]["Statement"], refs)
        if s.get("Principal") == {"Service": f"logs.{REGION}.amazonaws.com"}
    ]
    granted = {s["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"] for s in logs_statements}
    assert all(set(s["Condition"]) == {"ArnEquals"} for s in logs_statements)
    groups = [v for v in resources.values() if v["Type"] == "AWS::Logs::LogGroup"]
    assert len(groups) >= 3  # flow logs, EKS control plane, Helm installer (+ readiness gates)
    assert all(
        g["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [next(k for k in resources if k.startswith("LogsKey")), "Arn"]}
        for g in groups
    )
    expected = set()
    for group in groups:
        # Named, so the key policy can name it; this project's names end in the deployment id.
        name = _resolve(group["Properties"]["LogGroupName"], refs)
        assert isinstance(name, str) and "*" not in name
        assert name.startswith("/aws/eks/") or "/1c2fa620/" in name, name
        expected.add(f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}")  # no ":*": the context has none
    assert granted == expected


def test_pod_identity_roles_trust_the_cluster_arn_not_its_name(platform):
    resources = platform.template["Resources"]
    (cluster_id,) = (k for k, v in resources.items() if v["Type"] == "AWS::EKS::Cluster")
    trusts = [
        s
        for v in resources.values()
        if v["Type"] == "AWS::IAM::Role"
        for s in v["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        if s.get("Principal") == {"Service": "pods.eks.amazonaws.com"}
    ]
    assert trusts
    for statement in trusts:
        condition = statement["Condition"]["StringEquals"]
        assert condition["aws:RequestTag/eks-cluster-arn"] == {"Fn::GetAtt": [cluster_id, "Arn"]}
        assert "aws:RequestTag/eks-cluster-name" not in json.dumps(statement)


def test_execution_role_trust_has_no_source_conditions(platform):
    """Deliberate: HyperPod's docs and AWS's own templates show no aws:SourceAccount/SourceArn on this trust,
    and a condition the service does not satisfy would stop cluster creation (docs/security-posture.md)."""
    resources = platform.template["Resources"]
    (role,) = (v for k, v in resources.items() if v["Type"] == "AWS::IAM::Role" and k.startswith("ExecutionRole"))
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert "Condition" not in statement
