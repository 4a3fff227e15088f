#!/usr/bin/env bash
# HyperPod (EKS orchestrator) OnCreate lifecycle script.
#
# HyperPod downloads the whole SourceS3Uri prefix to each new node and runs
# this file as root. It moves the container runtime and kubelet state off
# the small root volume onto the node's large data volume:
#
#   /var/lib/containerd -> <volume>/containerd   (bind mount)
#   /var/lib/kubelet    -> <volume>/kubelet      (bind mount)
#
# <volume> is the secondary EBS volume HyperPod mounts at /opt/sagemaker, or
# the NVMe instance store at /opt/dlami/nvme when HYPERPOD_LCS_PREFER_NVME is
# true and that path is mounted. See README.md for the design and settings.
#
# When the platform has an FSx for Lustre file system, fsx_lustre.json sits
# next to this script and the node also gets the Lustre client ready: the EFA
# client configuration on instances with EFA, then the lnet and lustre modules
# (as AWS's base script does: awslabs/awsome-distributed-ai
# 1.architectures/7.sagemaker-hyperpod-eks/LifecycleScripts/base-config/on_create_main.sh).
# The FSx CSI driver mounts the volume for pods; this script mounts nothing.
#
# Output goes to stdout (CloudWatch: /aws/sagemaker/Clusters/<cluster>/<id>)
# and to /var/log/provision/provisioning.log. Any failure is reported with
# the step, command, line and exit code; the script then syncs, waits
# HYPERPOD_LCS_FAIL_GRACE_SECONDS (default 60) and exits non-zero.
#
# Running it again on a node where the move is complete changes nothing.

# HyperPod may start the script with sh; everything below needs bash.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi

set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "${SCRIPT_DIR}/lib.sh"
lcs_install_err_trap
lcs_load_settings "${HYPERPOD_LCS_SETTINGS_FILE:-${SCRIPT_DIR}/on_create.env}"

# --- settings ---------------------------------------------------------------
ROOT="${HYPERPOD_LCS_ROOT:-}"
ROOT="${ROOT%/}"
LOG_FILE="${HYPERPOD_LCS_LOG_FILE:-${ROOT}/var/log/provision/provisioning.log}"
MOUNT_TIMEOUT="${HYPERPOD_LCS_MOUNT_TIMEOUT_SECONDS:-60}"
POLL_INTERVAL="${HYPERPOD_LCS_MOUNT_POLL_SECONDS:-2}"
PREFER_NVME="${HYPERPOD_LCS_PREFER_NVME:-false}"
# Written by hyperpod-cdk next to the scripts when the platform has FSx for Lustre.
FSX_FILE="${SCRIPT_DIR}/fsx_lustre.json"

# Paths as the node sees them (written into fstab and unit files) ...
readonly EBS_VOLUME="/opt/sagemaker"
readonly NVME_VOLUME="/opt/dlami/nvme"
# ... and files this script reads or writes, under ROOT.
FSTAB="${ROOT}/etc/fstab"
MOUNTS_FILE="${ROOT}/proc/self/mounts"
SYSTEMD_DIR="${ROOT}/etc/systemd/system"
readonly DROPIN_NAME="50-hyperpod-data-volume.conf"
readonly STATE_DIR_NAME=".hyperpod-lcs"

# "<name>:<directory>": the data directory of each service, moved to
# <volume>/<name>. Services are stopped in this order and started in reverse
# (kubelet needs containerd).
readonly DATA_DIRS=("kubelet:/var/lib/kubelet" "containerd:/var/lib/containerd")

VOLUME=""       # chosen volume, node path (e.g. /opt/sagemaker)
VOL_HOST=""     # the same under ROOT
STATE_DIR=""    # ${VOL_HOST}/.hyperpod-lcs: markers and staging copies
PENDING=()      # DATA_DIRS entries that still need work
STOPPED=()      # services this run stopped and must start again
CONFIG_CHANGED=0

# --- helpers ----------------------------------------------------------------
dir_name() { printf '%s' "${1%%:*}"; }
dir_path() { printf '%s' "${1#*:}"; }

fstab_line_for() {
  local name="$1" path="$2"
  printf '%s %s none bind,nofail,x-systemd.requires-mounts-for=%s 0 0' \
    "${VOLUME}/${name}" "${path}" "${VOLUME}"
}

# Existing fstab entries (whitespace normalised) whose mount point is $1.
fstab_entries_for() {
  [[ -f "${FSTAB}" ]] || return 0
  awk -v mp="$1" '$1 !~ /^#/ && $2 == mp { $1 = $1; print }' "${FSTAB}"
}

dropin_path_for() { printf '%s/%s.service.d/%s' "${SYSTEMD_DIR}" "$1" "${DROPIN_NAME}"; }

dropin_content_for() {
  printf '%s\n' \
    "# Written by the HyperPod lifecycle script on_create.sh." \
    "# $2 is a bind mount of ${VOLUME}/$1 (see /etc/fstab); do not start" \
    "# $1 until it is mounted, so its data never lands on the root volume." \
    "[Unit]" \
    "RequiresMountsFor=$2"
}

marker_for() { printf '%s/%s.migrated' "${STATE_DIR}" "$1"; }

# is_complete NAME PATH: data moved, persisted and mounted.
is_complete() {
  local name="$1" path="$2" dropin
  dropin="$(dropin_path_for "${name}")"
  [[ -f "$(marker_for "${name}")" ]] &&
    [[ "$(fstab_entries_for "${path}")" == "$(fstab_line_for "${name}" "${path}")" ]] &&
    [[ -f "${dropin}" ]] &&
    [[ "$(cat "${dropin}")" == "$(dropin_content_for "${name}" "${path}")" ]] &&
    is_mountpoint "${ROOT}${path}"
}

# --- steps ------------------------------------------------------------------
preflight() {
  step preflight "on_create.sh starting (scripts in ${SCRIPT_DIR}, root '${ROOT:-/}')"
  local setting
  for setting in "${LCS_SETTINGS_APPLIED[@]}"; do
    log "setting from on_create.env: ${setting}"
  done
  require_uint HYPERPOD_LCS_MOUNT_TIMEOUT_SECONDS "${MOUNT_TIMEOUT}"
  require_uint HYPERPOD_LCS_MOUNT_POLL_SECONDS "${POLL_INTERVAL}"
  if [[ -z "${ROOT}" && "${EUID}" -ne 0 ]]; then
    die "must run as root (HyperPod runs lifecycle scripts as root)"
  fi
}

select_volume() {
  step select-volume "choosing the data volume"
  if is_true "${PREFER_NVME}"; then
    if is_mountpoint "${ROOT}${NVME_VOLUME}"; then
      VOLUME="${NVME_VOLUME}"
    else
      log "HYPERPOD_LCS_PREFER_NVME is set but ${NVME_VOLUME} is not mounted; using ${EBS_VOLUME}"
    fi
  fi
  if [[ -z "${VOLUME}" ]]; then
    step wait-for-volume "waiting up to ${MOUNT_TIMEOUT}s for ${EBS_VOLUME} to be mounted"
    if ! wait_for_mount "${ROOT}${EBS_VOLUME}" "${MOUNT_TIMEOUT}" "${POLL_INTERVAL}"; then
      die "${EBS_VOLUME} was not mounted within ${MOUNT_TIMEOUT}s; is the instance group's secondary EBS volume configured?"
    fi
    VOLUME="${EBS_VOLUME}"
  fi
  VOL_HOST="${ROOT}${VOLUME}"
  STATE_DIR="${VOL_HOST}/${STATE_DIR_NAME}"
  log "using ${VOLUME}"
}

# Decide what is left to do (fills PENDING) and refuse, before touching
# anything, if the node is in a state this script does not understand.
plan() {
  step plan "checking what is left to do"
  local entry name path src dst need avail in_use existing line need_total=0
  for entry in "${DATA_DIRS[@]}"; do
    name="$(dir_name "${entry}")"
    path="$(dir_path "${entry}")"
    src="${ROOT}${path}"
    dst="${VOL_HOST}/${name}"
    if is_complete "${name}" "${path}"; then
      log "${path} is already on ${VOLUME}/${name}"
      continue
    fi
    existing="$(fstab_entries_for "${path}")"
    if [[ -n "${existing}" && "${existing}" != "$(fstab_line_for "${name}" "${path}")" ]]; then
      die "/etc/fstab already has a different entry for ${path}: '${existing}'"
    fi
    if [[ ! -f "$(marker_for "${name}")" ]]; then
      if is_mountpoint "${src}"; then
        die "${path} is already a mount point that this script did not set up"
      fi
      if [[ -e "${dst}" ]] && ! dir_is_empty "${dst}"; then
        die "${dst} already exists and is not empty; refusing to overwrite it"
      fi
      in_use="$(paths_in_use "${MOUNTS_FILE}" "${src}")"
      if [[ -n "${in_use}" ]]; then
        log "mounts referencing ${path}:"
        while IFS= read -r line; do
          log "  ${line}"
        done <<<"${in_use}"
        die "${path} is in use by live mounts (running pods or containers); refusing to move it"
      fi
      if [[ -d "${src}" ]]; then
        # Both directories go to the same volume: check the running total.
        need="$(du -sk "${src}" | awk '{print $1}')"
        need_total=$((need_total + need))
        avail="$(df -Pk "${VOL_HOST}" | awk 'NR == 2 {print $4}')"
        if ((avail < need_total + need_total / 10 + 1024)); then
          die "not enough space on ${VOLUME} for ${path}: need ${need_total} KiB (+10%) in total, ${avail} KiB free"
        fi
      fi
    fi
    PENDING+=("${entry}")
  done
}

stop_services() {
  step stop-services "stopping kubelet and containerd if running"
  local entry unit
  for entry in "${DATA_DIRS[@]}"; do
    unit="$(dir_name "${entry}")"
    if unit_is_active "${unit}"; then
      sys_systemctl stop "${unit}"
      STOPPED+=("${unit}")
    else
      log "${unit} is not running"
    fi
  done
}

move_data() {
  local name="$1" path="$2"
  local src="${ROOT}${path}" dst="${VOL_HOST}/${name}"
  local staging="${STATE_DIR}/${name}.partial" marker
  marker="$(marker_for "${name}")"
  step "move-${name}" "moving ${path} to ${VOLUME}/${name}"
  mkdir -p "${STATE_DIR}"

  if [[ -f "${marker}" ]]; then
    log "data already on ${VOLUME}/${name}"
    if ! is_mountpoint "${src}" && [[ -d "${src}" ]] && ! dir_is_empty "${src}"; then
      log "removing the copy an interrupted run left in ${path}"
      empty_dir "${src}"
    fi
    mkdir -p "${src}"
    return 0
  fi

  if [[ -e "${staging}" ]]; then
    log "discarding the partial copy of an interrupted run"
    rm -rf --one-file-system "${staging}"
  fi

  # Copy to a staging directory on the volume, check it, then rename it into
  # place (same file system, so the rename is atomic). The source is only
  # emptied once the marker records that the copy is complete.
  if [[ -d "${src}" ]]; then
    run cp -a "${src}" "${staging}"
    local n_src n_copy
    n_src="$(count_entries "${src}")"
    n_copy="$(count_entries "${staging}")"
    if [[ "${n_src}" != "${n_copy}" ]]; then
      die "copy of ${path} is incomplete: ${n_src} entries in the source, ${n_copy} copied"
    fi
    log "copied ${n_src} entries"
  else
    log "${path} does not exist yet; creating it empty"
    mkdir -p "${src}"
    mkdir -m 0755 "${staging}"
  fi
  if [[ -d "${dst}" ]]; then
    rmdir "${dst}" # plan() checked that it is empty
  fi
  mv "${staging}" "${dst}"
  printf 'source=%s\nmoved_at=%s\n' "${path}" "$(lcs_now)" >"${marker}"
  sys_sync
  empty_dir "${src}"
  log "${path} moved; the original directory is now an empty mount point"
}

# fstab entries make the bind mounts survive reboots; systemd drop-ins keep
# the services from starting before their data directory is mounted.
persist_config() {
  local name="$1" path="$2" line dropin content
  line="$(fstab_line_for "${name}" "${path}")"
  if [[ -z "$(fstab_entries_for "${path}")" ]]; then
    mkdir -p "$(dirname "${FSTAB}")"
    if [[ -f "${FSTAB}" && ! -e "${FSTAB}.hyperpod-lcs.bak" ]]; then
      cp -p "${FSTAB}" "${FSTAB}.hyperpod-lcs.bak"
    fi
    printf '%s\n' "${line}" >>"${FSTAB}"
    log "fstab: ${line}"
    CONFIG_CHANGED=1
  fi
  dropin="$(dropin_path_for "${name}")"
  content="$(dropin_content_for "${name}" "${path}")"
  if [[ ! -f "${dropin}" || "$(cat "${dropin}")" != "${content}" ]]; then
    mkdir -p "$(dirname "${dropin}")"
    printf '%s\n' "${content}" >"${dropin}"
    log "wrote ${dropin#"${ROOT}"}"
    CONFIG_CHANGED=1
  fi
}

bind_mount() {
  local name="$1" path="$2"
  step "mount-${name}" "bind-mounting ${VOLUME}/${name} on ${path}"
  if is_mountpoint "${ROOT}${path}"; then
    log "${path} is already mounted"
  else
    sys_mount --bind "${VOL_HOST}/${name}" "${ROOT}${path}"
  fi
}

start_services() {
  step start-services "starting the services this script stopped"
  if ((CONFIG_CHANGED)); then
    sys_systemctl daemon-reload
  fi
  local i
  for ((i = ${#STOPPED[@]} - 1; i >= 0; i--)); do
    sys_systemctl start "${STOPPED[i]}"
  done
  if ((${#STOPPED[@]} == 0)); then
    log "no service was running before the move"
  fi
}

prepare_lustre_client() {
  [[ -f "${FSX_FILE}" ]] || return 0
  local id
  id="$(grep -o '"file_system_id": *"[^"]*"' "${FSX_FILE}" | sed 's/.*"\([^"]*\)"$/\1/' || true)"
  step lustre-client "FSx for Lustre ${id:-file system}: preparing the Lustre client"
  lustre_client_setup "${ROOT}" "${FSX_FILE}"
}

main() {
  local entry
  lcs_setup_logging "${LOG_FILE}"
  preflight
  prepare_lustre_client
  select_volume
  plan
  if ((${#PENDING[@]} == 0)); then
    step finished "containerd and kubelet data already on ${VOLUME}; nothing to do"
    return 0
  fi

  stop_services
  for entry in "${PENDING[@]}"; do
    move_data "$(dir_name "${entry}")" "$(dir_path "${entry}")"
  done
  step persist-config "recording the bind mounts in /etc/fstab and systemd drop-ins"
  for entry in "${PENDING[@]}"; do
    persist_config "$(dir_name "${entry}")" "$(dir_path "${entry}")"
  done
  for entry in "${PENDING[@]}"; do
    bind_mount "$(dir_name "${entry}")" "$(dir_path "${entry}")"
  done
  start_services
  step finished "on_create.sh finished: containerd and kubelet data on ${VOLUME}"
}

main "$@"
