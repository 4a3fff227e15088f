"""FSx for Lustre per team: each team's ``fsx-claim`` mounts only ``/teams/<team>`` of the file system.

Layout on the file system (docs/security-posture.md "What a team can and cannot do")::

    /                   the root: mounted only by the admin claim ``fsx-root`` in ``hyperpod-cdk-fsx``
    /teams/<team>/      what team <team>'s ``fsx-claim`` mounts (its pods see it as the volume root)

How it is enforced, each step from a primary source:

* The team's PersistentVolume mounts a Lustre fileset (a subdirectory) instead of the root: the FSx
  CSI node plugin mounts ``<dnsname>@tcp:/<mountname>`` with ``mountname`` taken verbatim from the
  volume attributes (kubernetes-sigs/aws-fsx-csi-driver pkg/driver/node.go, NodePublishVolume,
  @5b227125 = v1.9), so ``mountname: <fsname>/teams/<team>`` mounts that directory only; FSx
  documents such fileset mounts: https://docs.aws.amazon.com/fsx/latest/LustreGuide/mounting-from-fileset.html.
  The driver's dynamic "subdirectory provisioning" (pull request #272) was never merged: no release
  of the driver (the EKS add-on ships the same driver) can create directories for claims.
* A team cannot reach another directory: the PV is cluster-scoped and pre-bound to
  ``<namespace>/fsx-claim`` (``claimRef``), teams have no RBAC on PersistentVolumes, and the driver's
  CSIDriver object declares no ``volumeLifecycleModes`` (charts/aws-fsx-csi-driver/templates/csidriver.yaml),
  so only ``Persistent`` volumes exist and a pod cannot mount the file system inline with its own
  ``mountname``. A fileset mount has no ``.lustre`` pseudo directory (no open by FID) and a FID
  outside the fileset does not resolve, but it is voluntary: a client that can mount may still mount
  the root (Lustre manual, "Fileset Feature": https://doc.lustre.org/lustre_manual.xhtml, markdown copy
  LiXi-storage/lustre_manual_markdown "44-System Configuration Utilities.md"; FSx exposes no
  nodemap to enforce it). So the boundary is that a team pod cannot mount: Pod Security ``baseline``
  refuses ``privileged``, ``SYS_ADMIN`` and ``hostPath`` (pod_security.py). A team set to
  ``pod_security: privileged`` can reach every directory.
* Each PV has its own ``volumeHandle`` (``<fs-id>::<team>``): kubelet treats CSI volumes with one
  handle as one volume (kubernetes-sigs/aws-efs-csi-driver issues #100/#167, the same fix there),
  and the FSx node plugin uses the handle only as an in-flight key (node.go), never to mount.
* The directory must exist before the mount (aws-fsx-csi-driver issue #247: a fileset PV needs its
  directory "created manually ... or the mount / PVC binding will not succeed"). A Job per team in
  ``hyperpod-cdk-fsx`` mounts the root claim and creates ``/teams/<team>``; ``kubectl apply`` does not
  wait for it, so the deploy is never blocked when no HyperPod node exists yet: the Job runs on the
  first node, and a team pod started earlier retries its mount (kubelet keeps retrying FailedMount)
  until the directory is there. A Job's pod template is immutable, so the Job's name carries a digest
  of what it runs: a new image or team makes a new Job (the old one is pruned with the set).
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from hyperpod_cdk.config.charts import FsxVolume, Team
from hyperpod_cdk.kubernetes.charts.api_object import api_object
from hyperpod_cdk.kubernetes.charts.pod_security import pod_security_labels
from hyperpod_cdk.specs.namespaces import FSX_ADMIN_NAMESPACE

if TYPE_CHECKING:  # the chart calls these functions with itself
    from hyperpod_cdk.kubernetes.charts.operator_chart import HyperPodOperatorChart

__all__ = [
    "ADMIN_CLAIM",
    "ADMIN_NAMESPACE",
    "FSX_ROOT_TEAMS_WARNING_ID",
    "TEAMS_DIRECTORY",
    "directory_job_name",
    "team_directory",
]

CSI_DRIVER = "fsx.csi.aws.com"
#: The namespace of the admin claim of the whole file system and of the directory Jobs (no team RBAC).
ADMIN_NAMESPACE = FSX_ADMIN_NAMESPACE
ADMIN_CLAIM = "fsx-root"
#: Parent of the team directories on the file system.
TEAMS_DIRECTORY = "teams"
#: Synth warning (acknowledgeable) for teams whose pods may mount the FSx root themselves.
FSX_ROOT_TEAMS_WARNING_ID = "hyperpod-cdk:fsx-privileged-team"
HEALTH_LABEL = "sagemaker.amazonaws.com/node-health-status"


def team_directory(team: Team) -> str:
    """The team's directory, relative to the file system root."""
    return f"{TEAMS_DIRECTORY}/{team.name}"


def _volume_spec(fsx: FsxVolume, *, handle: str, mount_name: str, claim: tuple[str, str]) -> dict[str, Any]:
    return {
        "capacity": {"storage": fsx.storage_capacity},
        "volumeMode": "Filesystem",
        "accessModes": ["ReadWriteMany"],
        # Retain: deleting the claim or the PV never deletes data (static volume, no DeleteVolume).
        "persistentVolumeReclaimPolicy": "Retain",
        "storageClassName": "",
        "claimRef": {"namespace": claim[0], "name": claim[1]},
        "mountOptions": ["flock"],
        "csi": {
            "driver": CSI_DRIVER,
            "volumeHandle": handle,
            "volumeAttributes": {"dnsname": fsx.dns_name, "mountname": mount_name},
        },
    }


def _claim_spec(fsx: FsxVolume, volume_name: str) -> dict[str, Any]:
    return {
        "accessModes": ["ReadWriteMany"],
        "storageClassName": "",
        "volumeName": volume_name,
        "resources": {"requests": {"storage": fsx.storage_capacity}},
    }


def add_admin_volume(chart: HyperPodOperatorChart, fsx: FsxVolume) -> Any:
    """The admin namespace and its claim of the whole file system; returns the Namespace object."""
    namespace = api_object(
        chart,
        "FsxAdmin-Namespace",
        "v1",
        "Namespace",
        {"name": ADMIN_NAMESPACE, "labels": {"hyperpod-cdk/fsx": "admin", **pod_security_labels("baseline")}},
    )
    api_object(
        chart,
        "FsxAdmin-Volume",
        "v1",
        "PersistentVolume",
        {"name": ADMIN_CLAIM},
        top_level={
            "spec": _volume_spec(
                fsx, handle=fsx.file_system_id, mount_name=fsx.mount_name, claim=(ADMIN_NAMESPACE, ADMIN_CLAIM)
            )
        },
    )
    claim = api_object(
        chart,
        "FsxAdmin-Claim",
        "v1",
        "PersistentVolumeClaim",
        {"name": ADMIN_CLAIM, "namespace": ADMIN_NAMESPACE},
        top_level={"spec": _claim_spec(fsx, ADMIN_CLAIM)},
    )
    claim.add_dependency(namespace)
    return namespace


def _directory_pod(team: Team, image: str) -> dict[str, Any]:
    path = f"/fsx/{team_directory(team)}"
    return {
        "restartPolicy": "OnFailure",
        # The platform's only nodes are HyperPod instance groups (they carry the FSx security group):
        # run on the first one HyperPod marks healthy, whatever NoSchedule taint its group has
        # (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-resiliency-node-labels.html).
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": HEALTH_LABEL, "operator": "In", "values": ["Schedulable"]}]}
                    ]
                }
            }
        },
        "tolerations": [{"operator": "Exists", "effect": "NoSchedule"}],
        "containers": [
            {
                "name": "mkdir",
                "image": image,
                "command": ["python3", "-c", f"import os; os.makedirs({path!r}, exist_ok=True)"],
                "volumeMounts": [{"name": "fsx", "mountPath": "/fsx"}],
                "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
                # Root in the container (the file system root is root's), nothing else: baseline admits it.
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"], "add": ["DAC_OVERRIDE"]},
                },
            }
        ],
        "volumes": [{"name": "fsx", "persistentVolumeClaim": {"claimName": ADMIN_CLAIM}}],
    }


def directory_job_name(team: Team, image: str) -> str:
    digest = hashlib.sha256(json.dumps(_directory_pod(team, image), sort_keys=True).encode()).hexdigest()[:8]
    return f"fsx-team-dir-{team.name}-{digest}"  # at most 13 + 40 + 9 = 62 characters


def add_team_volume(
    chart: HyperPodOperatorChart, team: Team, fsx: FsxVolume, *, admin_namespace: Any, team_namespace: Any
) -> None:
    """The team's PV of ``/teams/<team>``, its claim ``fsx.claim_name`` and the Job that makes the directory."""
    namespace = team.effective_namespace
    # A new name (the pre-issue-18 root volume was fsx-pv-<team>): a PV's csi source is immutable.
    volume_name = f"fsx-team-{team.name}"
    api_object(
        chart,
        f"{team.name}-FsxTeamVolume",
        "v1",
        "PersistentVolume",
        {"name": volume_name, "labels": {"hyperpod-cdk/team": team.name}},
        top_level={
            "spec": _volume_spec(
                fsx,
                handle=f"{fsx.file_system_id}::{team.name}",
                mount_name=f"{fsx.mount_name}/{team_directory(team)}",
                claim=(namespace, fsx.claim_name),
            )
        },
    )
    claim = api_object(
        chart,
        f"{team.name}-FsxClaim",
        "v1",
        "PersistentVolumeClaim",
        {"name": fsx.claim_name, "namespace": namespace},
        top_level={"spec": _claim_spec(fsx, volume_name)},
    )
    if team_namespace is not None:
        claim.add_dependency(team_namespace)
    job = api_object(
        chart,
        f"{team.name}-FsxTeamDirectory",
        "batch/v1",
        "Job",
        {"name": directory_job_name(team, fsx.directory_image), "namespace": ADMIN_NAMESPACE},
        top_level={
            "spec": {
                "backoffLimit": 30,
                "template": {
                    "metadata": {"labels": {"hyperpod-cdk/team": team.name}},
                    "spec": _directory_pod(team, fsx.directory_image),
                },
            }
        },
    )
    job.add_dependency(admin_namespace)
