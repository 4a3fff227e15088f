"""Preflight: does an EKS access entry already exist for a principal the config maps (R27P-M1)?

The platform creates an ``AWS::EKS::AccessEntry`` for each ``eks.admin_principal_arns`` entry and each team's
``submitter_role_arn``. EKS allows one access entry per IAM principal and cluster ("an IAM principal can't be
included in more than one access entry",
https://docs.aws.amazon.com/eks/latest/userguide/creating-access-entries.html): an entry made by hand (a day-2
``hyperpod-cdk access grant``, the console) or by another stack makes the deploy fail at that resource and roll
back, and ``--import-existing-resources`` does not adopt it (it imports only resources with a Retain policy).
So each mapped principal's entry is looked up (``eks:DescribeAccessEntry``): one this stack holds passes, any
other fails with the fix.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hyperpod_cdk.cli import preflight_ownership
from hyperpod_cdk.cli.output import Check
from hyperpod_cdk.cli.preflight_context import Context


def mapped_principals(ctx: Context) -> list[tuple[str, str]]:
    """(principal ARN, the config key that maps it) for each access entry the platform creates."""
    config = ctx.config
    if config.eks is None:
        return []
    found = [(arn, "eks.admin_principal_arns") for arn in config.eks.admin_principals]
    for index, team in enumerate(config.kubernetes.teams):
        if team.submitter_role_arn:
            found.append((team.submitter_role_arn, f"kubernetes.teams[{index}]({team.name}).submitter_role_arn"))
    return found


def check_access_entries(ctx: Context) -> list[Check]:
    principals = mapped_principals(ctx)
    if ctx.config.eks is None or not principals:
        return []
    cluster_name = ctx.options.existing_eks_cluster or ctx.config.eks.cluster_name
    eks: Any = ctx.clients("eks")
    rows: list[Check] = []
    holdings: preflight_ownership.StackHoldings | None = None
    for arn, key in principals:
        check = f"eks access entry {arn}"
        try:
            eks.describe_access_entry(clusterName=cluster_name, principalArn=arn)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                rows.append(Check("pass", check, f"none on '{cluster_name}' yet: the stack creates it"))
                continue
            rows.append(Check("warn", check, f"not checked: eks:DescribeAccessEntry failed ({exc})", _BY_HAND))
            continue
        except BotoCoreError as exc:
            rows.append(Check("warn", check, f"not checked: eks:DescribeAccessEntry failed ({exc})", _BY_HAND))
            continue
        holdings = holdings or preflight_ownership.stack_holdings(ctx)
        # The entry's physical id is "<PrincipalArn>|<ClusterName>" (the resource schema's primaryIdentifier).
        if holdings.holds(f"{arn}|{cluster_name}"):
            rows.append(Check("pass", check, f"{preflight_ownership.PART_OF_THIS_STACK} ({holdings.stack_name})"))
            continue
        if holdings.unknown:  # never advise revoking what may be the stack's own entry (R28-M1)
            what, fix = holdings.unknown
            rows.append(Check("warn", check, f"not checked: an access entry exists, and {what}", fix))
            continue
        owner = preflight_ownership.owning_stack(ctx, f"{arn}|{cluster_name}")
        if owner.stack is not None:
            rows.append(
                Check(
                    "fail",
                    check,
                    f"'{cluster_name}' already has an access entry for {arn} ({key}), held by stack {owner.stack}",
                    preflight_ownership.OWN_APP_HINT.format(stack=owner.stack)
                    + f"; otherwise remove {arn} from {key} (that stack keeps its entry)",
                )
            )
            continue
        rows.append(
            Check(
                "fail",
                check,
                f"'{cluster_name}' already has an access entry for {arn} ({key}) that stack {holdings.stack_name} "
                "does not hold: EKS allows one per principal, so the deploy would fail at that resource and roll back",
                f"if it was a day-2 grant, `hyperpod-cdk access revoke {arn}` first (the stack's entry replaces it); "
                f"else remove {arn} from {key}",
            )
        )
    return rows


_BY_HAND = "check by hand: aws eks list-access-entries --cluster-name <cluster>"
