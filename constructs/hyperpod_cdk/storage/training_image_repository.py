"""TrainingImageRepository: the ECR repository the example jobs' training image is pushed to."""

from __future__ import annotations

import re

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_ecr as ecr
from constructs import Construct

from hyperpod_cdk.errors import prop_error

__all__ = ["KEEP_TAGGED_IMAGES", "TrainingImageRepository"]

# Repository names: lowercase, digits, and . _ - / separators (ECR CreateRepository).
_NAME = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")
KEEP_TAGGED_IMAGES = 20
UNTAGGED_DAYS = 7


class TrainingImageRepository(Construct):
    """A private ECR repository for training images (``make image`` pushes to it).

    - Immutable tags: a job that names ``fsdp:pytorch2.7.1`` always gets the image it was tested
      with; a rebuild needs a new tag.
    - Scan on push (basic scanning); encrypted with KMS (the AWS managed ``aws/ecr`` key).
    - Lifecycle: untagged images expire after 7 days; at most the 20 newest tagged images stay.
    - Deleted with the stack, images included (CloudFormation's own ``EmptyOnDelete``, no custom
      resource: https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-ecr-repository.html).
      Reason: the images are build
      output, rebuilt from ``images/`` at any commit, and hold no training state; a retained
      repository keeps its fixed name, so the next deploy of the same platform would fail with
      "already exists". Jobs that are running keep their pulled image until the node goes away.

    Args:
        repository_name: a fixed name, e.g. ``<platform>/fsdp``, so the image URI is known before
            deploy (``<account>.dkr.ecr.<region>.amazonaws.com/<name>:<tag>``).
    """

    def __init__(self, scope: Construct, construct_id: str, *, repository_name: str) -> None:
        if (
            not isinstance(repository_name, str)
            or not 2 <= len(repository_name) <= 256
            or not _NAME.match(repository_name)
        ):
            raise prop_error(
                scope,
                construct_id,
                "repository_name",
                f"{repository_name!r} is not an ECR repository name (lowercase, digits, . _ - /)",
            )
        super().__init__(scope, construct_id)
        self.repository_name = repository_name
        self.repository = ecr.Repository(
            self,
            "Repository",
            repository_name=repository_name,
            image_tag_mutability=ecr.TagMutability.IMMUTABLE,
            image_scan_on_push=True,
            # KMS with the AWS managed aws/ecr key: pulls need no key policy for the node role.
            encryption=ecr.RepositoryEncryption.KMS,
            removal_policy=RemovalPolicy.DESTROY,
            empty_on_delete=True,
            lifecycle_rules=[
                ecr.LifecycleRule(
                    rule_priority=1,
                    description=f"untagged images expire after {UNTAGGED_DAYS} days",
                    tag_status=ecr.TagStatus.UNTAGGED,
                    max_image_age=Duration.days(UNTAGGED_DAYS),
                ),
                ecr.LifecycleRule(
                    rule_priority=2,
                    description=f"keep the {KEEP_TAGGED_IMAGES} newest images",
                    tag_status=ecr.TagStatus.ANY,
                    max_image_count=KEEP_TAGGED_IMAGES,
                ),
            ],
        )

    @property
    def repository_uri(self) -> str:
        return self.repository.repository_uri

    @property
    def registry(self) -> str:
        """``<account>.dkr.ecr.<region>.<suffix>/<prefix>/``: what ``${REGISTRY}`` stands for in dist/ jobs."""
        stack = Stack.of(self)
        name = self.repository_name
        prefix = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
        return f"{stack.account}.dkr.ecr.{stack.region}.{stack.url_suffix}/{prefix}"
