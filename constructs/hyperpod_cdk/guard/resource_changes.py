"""Changes to whole resources that the property comparison (``diff.py``) does not see.

* A stateful resource whose logical ID disappears (``removed``), paired with a new logical ID of the
  same type when there is one (a logical-ID change replaces the resource).
* A custom resource that put objects into Kubernetes leaving the template (its Delete removes them).
* A guarded or stateful resource, or a custom resource that put objects into Kubernetes, that gains a
  ``Condition`` or whose condition changes.
* A stateful resource whose ``DeletionPolicy`` or ``UpdateReplacePolicy`` stops keeping its data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hyperpod_cdk.guard.conditions import InputMemo
from hyperpod_cdk.guard.findings import LOGICAL_ID_PROPERTY, Finding
from hyperpod_cdk.guard.table import GUARDED_TYPES, LOGICAL_ID_DOC, NESTED_STACK, STATEFUL_TYPES
from hyperpod_cdk.guard.values import MISSING, canonical, render_value

Resources = Mapping[str, Mapping[str, Any]]


def cdk_path_of(resource: Mapping[str, Any]) -> str | None:
    metadata = resource.get("Metadata")
    path = metadata.get("aws:cdk:path") if isinstance(metadata, Mapping) else None
    return path if isinstance(path, str) else None


def _candidates(ids: list[str], most: int = 5) -> str:
    """At most ``most`` new logical IDs, then how many more: each removed ID's reason named every new ID
    of its type, G reasons x C IDs (review round 16, R16T-M3: 2,000 -> 2,001 buckets, 4 GB, 1 GB printed).
    Only the IDs shown are joined, so the text costs ``most`` IDs whatever the count."""
    shown = ", ".join(ids[:most])
    return shown if len(ids) <= most else f"{shown} and {len(ids) - most} more"


def logical_id_changes(old_res: Resources, new_res: Resources) -> list[Finding]:
    findings = []
    for resource_type in STATEFUL_TYPES:
        gone = sorted(
            k
            for k, v in old_res.items()
            if v.get("Type") == resource_type and (k not in new_res or new_res[k].get("Type") != resource_type)
        )
        came = sorted(
            k
            for k, v in new_res.items()
            if v.get("Type") == resource_type and (k not in old_res or old_res[k].get("Type") != resource_type)
        )
        for index, logical_id in enumerate(gone):
            old = old_res[logical_id]
            retained = old.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate")
            fate = "kept but no longer managed (DeletionPolicy Retain)" if retained else "deleted"
            successor = came[index] if len(gone) == len(came) else None
            if successor:
                effect, new = "replacement", {"logical_id": successor}
                reason = (
                    f"The logical ID changed to {successor}: CloudFormation creates a new, empty "
                    f"resource and the old one is {fate}. Keep the construct ID (or override the "
                    "logical ID) to update it in place."
                )
            else:
                effect, new = "removed", MISSING
                reason = f"The resource is no longer in the template: it is {fate}."
                if came:
                    reason += f" New {resource_type} logical IDs: {_candidates(came)}."
            findings.append(
                Finding(
                    logical_id,
                    resource_type,
                    cdk_path_of(old),
                    LOGICAL_ID_PROPERTY,
                    effect,
                    {"logical_id": logical_id},
                    new,
                    reason,
                    LOGICAL_ID_DOC,
                    None,
                    resource_type in GUARDED_TYPES or resource_type == NESTED_STACK,
                )
            )
    return findings


# Custom resources whose Delete removes what they put into Kubernetes. When one leaves the template,
# CloudFormation deletes it in the update's cleanup phase, after the new resources were created: its
# handler runs `kubectl delete` (aws-cdk-lib's KubernetesManifest, aws-eks-v2 kubectl-handler/apply)
# or `helm uninstall`, so a namespace and every job in it can go although the new template applies
# the same objects again through another resource.
KUBERNETES_OBJECT_TYPES: dict[str, str] = {
    "Custom::AWSCDK-EKS-KubernetesResource": "kubectl delete of its manifest",
    "Custom::AWSCDK-EKS-HelmChart": "helm uninstall of its release",
    "Custom::HyperPodManifests": "kubectl delete of its manifest set",
    "Custom::HyperPodHelmDependencies": "helm uninstall of the HyperPod chart",
}
KUBERNETES_UPGRADE_DOC = "docs/security-posture.md (finding 9: upgrading a platform deployed with 0.1.0)"


def kubernetes_object_removals(old_res: Resources, new_res: Resources) -> list[Finding]:
    findings = []
    for logical_id, old in sorted(old_res.items()):
        action = KUBERNETES_OBJECT_TYPES.get(str(old.get("Type")))
        if action is None or new_res.get(logical_id, {}).get("Type") == old.get("Type"):
            continue
        findings.append(
            Finding(
                logical_id,
                str(old["Type"]),
                cdk_path_of(old),
                LOGICAL_ID_PROPERTY,
                "removed",
                {"logical_id": logical_id},
                MISSING,
                f"The resource leaves the template: in the update's cleanup phase its handler runs {action}, "
                "which deletes those objects from the running cluster (team namespaces take their jobs with "
                "them) even where the new template applies them again. Remove the old handler's access first.",
                KUBERNETES_UPGRADE_DOC,
            )
        )
    return findings


CONDITION_PROPERTY = "(Condition)"
CONDITION_DOC = "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/conditions-section-structure.html"


def condition_changes(old_res: Resources, new_res: Resources, memo: InputMemo) -> list[Finding]:
    """A guarded or stateful resource, or a custom resource that put objects into Kubernetes
    (:data:`KUBERNETES_OBJECT_TYPES`), that gains a ``Condition``, or whose condition changes.

    When a resource's condition is false, CloudFormation deletes the resource on update (the
    same as removing it from the template), so the guard cannot call such a change safe; for a
    Kubernetes-object resource that delete runs its handler's ``helm uninstall`` / ``kubectl delete``
    (review round 19, R19T-M2), as :func:`kubernetes_object_removals` says for one that leaves. It
    cannot know the parameter values of the deploy either: any added or changed condition is
    reported; the evaluation with the parameter defaults only sharpens the message.
    """
    findings = []
    watched = set(GUARDED_TYPES) | set(STATEFUL_TYPES) | set(KUBERNETES_OBJECT_TYPES)
    for logical_id in sorted(set(old_res) & set(new_res)):
        old_r, new_r = old_res[logical_id], new_res[logical_id]
        resource_type = new_r.get("Type")
        if resource_type not in watched or old_r.get("Type") != resource_type or "Condition" not in new_r:
            continue
        old_cond, new_cond = old_r.get("Condition", MISSING), new_r["Condition"]
        if canonical(old_cond) != canonical(new_cond):
            cause = f"the resource now exists only while condition {render_value(new_cond, 60)} is true"
        else:
            inputs = memo.changed({"Condition": old_cond}, {"Condition": new_cond})
            if not inputs:
                continue
            cause = f"condition {render_value(new_cond, 60)} changed: {'; '.join(inputs)}"
        # Once per condition name for the template, whatever number of resources name it (R15T-M7).
        value = memo.condition_value(new_cond)
        if value is False:
            outcome = "It is false with the parameter defaults: CloudFormation deletes the resource."
        elif value is True:
            outcome = (
                "It is true with the parameter defaults, but a deploy with other parameter values "
                "deletes the resource."
            )
        else:
            outcome = "When it is false, CloudFormation deletes the resource."
        retained = old_r.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate")
        action = KUBERNETES_OBJECT_TYPES.get(resource_type)
        if retained:
            outcome += " (DeletionPolicy Retain: it is kept but no longer managed.)"
        elif action is not None:
            outcome += (
                f" Its handler then runs {action}: the objects it put into the running cluster are deleted "
                "(team namespaces take their jobs with them)."
            )
        findings.append(
            Finding(
                logical_id,
                resource_type,
                cdk_path_of(new_r) or cdk_path_of(old_r),
                CONDITION_PROPERTY,
                "removed",
                old_cond,
                new_cond,
                outcome,
                CONDITION_DOC,
                cause,
                resource_type in GUARDED_TYPES or action is not None,
            )
        )
    return findings


POLICY_DOCS = {
    "DeletionPolicy": "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-deletionpolicy.html",
    "UpdateReplacePolicy": (
        "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-updatereplacepolicy.html"
    ),
}
# What each policy that keeps data leaves behind when CloudFormation deletes the resource.
_KEEPS = {
    "Retain": "kept (no longer managed)",
    "RetainExceptOnCreate": "kept (no longer managed)",
    "Snapshot": "deleted after a final snapshot",
}
_WHEN = {
    "DeletionPolicy": "removing it from the template (or deleting the stack)",
    "UpdateReplacePolicy": "a replacing change",
}


def effective_policy(attribute: str, resource: Mapping[str, Any]) -> Any:
    """The policy CloudFormation applies: the attribute as written, else its default.

    Absent means Delete, except that the DeletionPolicy of an ``AWS::RDS::DBCluster``, and of an
    ``AWS::RDS::DBInstance`` without ``DBClusterIdentifier``, defaults to Snapshot (CloudFormation's
    DeletionPolicy page, "Exception"). The UpdateReplacePolicy page names no exception: "By default,
    CloudFormation then deletes the old resource".
    """
    value = resource.get(attribute, MISSING)
    if value is not MISSING:
        return value
    resource_type = resource.get("Type")
    props = resource.get("Properties")
    in_cluster = isinstance(props, Mapping) and "DBClusterIdentifier" in props
    if attribute == "DeletionPolicy" and (
        resource_type == "AWS::RDS::DBCluster" or (resource_type == "AWS::RDS::DBInstance" and not in_cluster)
    ):
        return "Snapshot"
    return "Delete"


def policy_changes(old_res: Resources, new_res: Resources) -> list[Finding]:
    """A stateful resource whose ``DeletionPolicy`` or ``UpdateReplacePolicy`` kept its data (Retain,
    RetainExceptOnCreate, Snapshot) and now does not (Delete, or a value that is not a literal policy):
    nothing is lost by this update, but a later removal or replacement deletes the data (round 7g, L5)."""
    findings = []
    for logical_id in sorted(set(old_res) & set(new_res)):
        old_r, new_r = old_res[logical_id], new_res[logical_id]
        resource_type = new_r.get("Type")
        if resource_type not in STATEFUL_TYPES or old_r.get("Type") != resource_type:
            continue
        for attribute, doc in POLICY_DOCS.items():
            before, after = effective_policy(attribute, old_r), effective_policy(attribute, new_r)
            if not isinstance(before, str) or before not in _KEEPS or (isinstance(after, str) and after in _KEEPS):
                continue
            shown = after if isinstance(after, str) else render_value(after, 60)
            findings.append(
                Finding(
                    logical_id,
                    str(resource_type),
                    cdk_path_of(new_r) or cdk_path_of(old_r),
                    f"({attribute})",
                    "disruptive",
                    old_r.get(attribute, MISSING),
                    new_r.get(attribute, MISSING),
                    f"This update keeps the resource, but {_WHEN[attribute]} would now delete it and its data; "
                    f"with {before} it was {_KEEPS[before]}. Keep {attribute}: {before} unless losing the data "
                    "is intended.",
                    doc,
                    f"{attribute} {before} -> {shown}"
                    + ("" if attribute in new_r or not isinstance(after, str) else " (the default)"),
                )
            )
    return findings
