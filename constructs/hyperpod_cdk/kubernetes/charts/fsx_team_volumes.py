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
* The Job trusts only what it made itself (:data:`DIRECTORY_SCRIPT`). Before the fileset layout every
  team had the whole root, so it may have planted ``/teams/<other>`` (0777, hard links into its own
  tree, a symlink). The Job never follows a link (``lstat``), keeps a record of each directory it
  created in ``/.hyperpod-cdk/created/<team>`` (on the root, which no team mounts), moves anything at
  ``/teams/<team>`` without a record, or that is not a plain directory, to
  ``/.hyperpod-cdk/preexisting/<team>-<UTC time>``, and makes a fresh one with ``os.mkdir`` (mode
  0755 root:root, or 0770 ``teams[].fsx_owner``). A ``/teams`` that is not a plain directory is
  moved aside the same way.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from hyperpod_cdk.config.charts import FsxVolume, Team
from hyperpod_cdk.kubernetes.charts.api_object import api_object
from hyperpod_cdk.kubernetes.charts.job_checks import HEALTH_STATUS_LABEL as HEALTH_LABEL
from hyperpod_cdk.kubernetes.charts.pod_security import pod_security_labels
from hyperpod_cdk.specs.namespaces import FSX_ADMIN_NAMESPACE

if TYPE_CHECKING:  # the chart calls these functions with itself
    from hyperpod_cdk.kubernetes.charts.operator_chart import HyperPodOperatorChart

__all__ = [
    "ADMIN_CLAIM",
    "ADMIN_NAMESPACE",
    "FSX_ROOT_TEAMS_WARNING_ID",
    "DIRECTORY_SCRIPT",
    "STATE_DIRECTORY",
    "TEAMS_DIRECTORY",
    "directory_command",
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


#: Root-only state of the directory Jobs, at the file system root (relative to it).
STATE_DIRECTORY = ".hyperpod-cdk"
#: The directory Job's program: ``python3 -c DIRECTORY_SCRIPT <root> <team> <uid> <gid> <mode>``.
DIRECTORY_SCRIPT = """\
import datetime, os, stat, sys

root, team, uid, gid, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5], 8)
stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
state = os.path.join(root, ".hyperpod-cdk")
aside = os.path.join(state, "preexisting")


def kind(path):
    try:
        return stat.S_IFMT(os.lstat(path).st_mode)  # lstat: a link is never followed
    except FileNotFoundError:
        return None


def move_aside(path, name):
    target = os.path.join(aside, f"{name}-{stamp}")
    os.rename(path, target)
    print(f"moved {path} (not made by this Job, or not a plain directory) to {target}")


def state_directory(path):
    # Root's own 0700 directory; anything else there (a link, a file, another owner's) is renamed away.
    if kind(path) is not None and not (kind(path) == stat.S_IFDIR and os.lstat(path).st_uid == 0):
        os.rename(path, f"{path}.preexisting-{stamp}")
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:  # made before (or by another team's Job meanwhile)
        pass
    os.chmod(path, 0o700)


state_directory(state)
state_directory(aside)
state_directory(os.path.join(state, "created"))
teams = os.path.join(root, "teams")
if kind(teams) not in (None, stat.S_IFDIR):
    move_aside(teams, "teams")
if kind(teams) is None:
    try:
        os.mkdir(teams, 0o755)
        os.chmod(teams, 0o755)
    except FileExistsError:
        pass
directory = os.path.join(teams, team)
record = os.path.join(state, "created", team)
if kind(directory) == stat.S_IFDIR and kind(record) == stat.S_IFREG:
    print(f"{directory}: made by this Job before; left as it is")
    sys.exit(0)
if kind(directory) is not None:
    move_aside(directory, team)
if kind(record) is not None:
    os.rename(record, os.path.join(aside, f"{team}.record-{stamp}"))
os.mkdir(directory, 0o700)
if (uid, gid) != (0, 0):  # teams[].fsx_owner (the CHOWN capability is added only then)
    os.chown(directory, uid, gid)
os.chmod(directory, mode)
fd = os.open(record, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
with os.fdopen(fd, "w") as out:
    out.write(f"created {stamp} inode {os.lstat(directory).st_ino} owner {uid}:{gid} mode {mode:o}\\n")
print(f"created {directory} ({uid}:{gid}, mode {mode:o})")
"""


def directory_command(team: Team, root: str = "/fsx") -> list[str]:
    """The directory Job's command for ``team`` with the file system root mounted at ``root``."""
    uid, gid = team.fsx_owner_ids or (0, 0)
    mode = "770" if team.fsx_owner_ids else "755"
    return ["python3", "-c", DIRECTORY_SCRIPT, root, team.name, str(uid), str(gid), mode]


def _directory_pod(team: Team, image: str) -> dict[str, Any]:
    # CHOWN only to give the directory a team's own uid:gid (baseline allows both capabilities).
    capabilities = ["CHOWN", "DAC_OVERRIDE"] if team.fsx_owner_ids else ["DAC_OVERRIDE"]
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
                "command": directory_command(team),
                "volumeMounts": [{"name": "fsx", "mountPath": "/fsx"}],
                "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
                # Root in the container (the file system root is root's), nothing else: baseline admits it.
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"], "add": capabilities},
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
