"""Stateful resources survive stack deletion and replacement.

The data a training platform cannot recreate lives in buckets, file systems, log groups and the
KMS keys that encrypt all of them (deleting a key makes everything it encrypted unreadable, retained
or not). Both policies are needed: ``DeletionPolicy`` acts when the resource leaves the template or
the stack is deleted, ``UpdateReplacePolicy`` when an update replaces it.

Deliberately not covered: ``AWS::EKS::Cluster`` and ``AWS::SageMaker::Cluster``. They hold no data
of their own (etcd secrets are encrypted with a retained key, checkpoints live in S3/FSx, logs in
retained log groups), and a retained cluster keeps billing and keeps ENIs in a VPC the same stack
deletion is removing, so the VPC delete fails. Their risk is accidental *replacement*, which a
change-set review catches, not a template policy.
"""

from __future__ import annotations

from collections.abc import Iterator

from hyperpod_cdk.rules.model import Finding, Templates

STATEFUL_TYPES = (
    "AWS::KMS::Key",
    "AWS::S3::Bucket",
    "AWS::Logs::LogGroup",
    "AWS::FSx::FileSystem",
    "AWS::EFS::FileSystem",
)
RETAINING_DELETION_POLICIES = ("Retain", "RetainExceptOnCreate")


def stateful_resources_retained(templates: Templates, rule_id: str = "HyperPod-RET1") -> Iterator[Finding]:
    for resource in templates.resources(*STATEFUL_TYPES):
        problems = []
        deletion = resource.body.get("DeletionPolicy")
        if deletion not in RETAINING_DELETION_POLICIES:
            problems.append(f"DeletionPolicy {deletion or 'unset (Delete)'}")
        replace = resource.body.get("UpdateReplacePolicy")
        if replace != "Retain":
            problems.append(f"UpdateReplacePolicy {replace or 'unset (Delete)'}")
        if problems:
            yield resource.finding(
                rule_id, f"{resource.type} with {' and '.join(problems)}", "DeletionPolicy", "UpdateReplacePolicy"
            )
