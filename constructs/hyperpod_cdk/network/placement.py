"""VpcPlacementProps: where a construct that lives in the VPC goes (the props several constructs share).

As aws-cdk's TypeScript props interfaces extend a shared one, a construct here takes these props
with ``**placement: Unpack[VpcPlacementProps]`` (PEP 692): callers still write ``vpc=..., subnets=...``,
mypy checks the keywords, and :func:`hyperpod_cdk.errors.typed_props` checks the values from the
annotations below before the construct exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

from aws_cdk import aws_ec2 as ec2

__all__ = ["VpcPlacementProps"]


class VpcPlacementProps(TypedDict):
    """The VPC and subnets of a construct that places resources (instances, ENIs, a DB subnet group) in it.

    Keys:
        vpc: the VPC (an ``ec2.IVpc``; import an existing one with ``ec2.Vpc.from_vpc_attributes``).
            Required.
        subnets: subnets of ``vpc`` where the construct's resources go. Required and non-empty (an
            empty list is refused with one line naming it); each construct says what it needs of
            them (how many, which AZs) in its own docstring.
    """

    vpc: ec2.IVpc
    subnets: Sequence[ec2.ISubnet]
