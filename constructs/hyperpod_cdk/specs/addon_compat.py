"""Add-on version pairs the HyperPod guides name as install failures (pure functions, no CDK).

The training operator guide's prerequisites: "If you are using task governance, the version of
the task governance add-on must be v1.3.0-eksbuild.1 or higher"
(https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-eks-operator-install.html; the seed
guide's troubleshooting table lists the older version as an install failure). Used by the config
model and by the lint rules.
"""

from __future__ import annotations

import re

__all__ = [
    "MIN_TASK_GOVERNANCE_WITH_TRAINING_OPERATOR",
    "addon_version_key",
    "task_governance_problem",
]

MIN_TASK_GOVERNANCE_WITH_TRAINING_OPERATOR = "v1.3.0-eksbuild.1"
_VERSION = re.compile(r"^v(\d+)\.(\d+)\.(\d+)-eksbuild\.(\d+)$")


def addon_version_key(version: str) -> tuple[int, int, int, int]:
    """``v1.3.0-eksbuild.1`` -> ``(1, 3, 0, 1)``, for ordering EKS add-on versions."""
    match = _VERSION.match(version)
    if match is None:
        raise ValueError(f"{version!r} is not an EKS add-on version such as v1.3.0-eksbuild.1")
    major, minor, patch, build = (int(part) for part in match.groups())
    return major, minor, patch, build


def task_governance_problem(task_governance_version: str | None, training_operator: bool) -> str | None:
    """Why this task-governance version cannot run with the training operator, or None.

    ``None`` as the version means EKS's default for the cluster, which is current: no problem.
    """
    if not training_operator or task_governance_version is None:
        return None
    if addon_version_key(task_governance_version) >= addon_version_key(MIN_TASK_GOVERNANCE_WITH_TRAINING_OPERATOR):
        return None
    return (
        f"task governance {task_governance_version} with the training operator fails to install; the operator needs "
        f"task governance {MIN_TASK_GOVERNANCE_WITH_TRAINING_OPERATOR} or newer (remove the version pin or raise it)"
    )
