#!/usr/bin/env bash
# HyperPod OnCreate lifecycle script for API-driven Slurm (slurm.configuration: api).
#
# With API-driven configuration HyperPod itself writes slurm.conf from each
# instance group's SlurmConfig {NodeType, PartitionNames}, runs the Slurm
# daemons and mounts FSx from InstanceStorageConfigs; lifecycle scripts keep
# only custom steps, and provisioning_parameters.json must NOT be in the
# prefix (sources: docs.aws.amazon.com/sagemaker/latest/dg/
# sagemaker-hyperpod-ref.html#sagemaker-hyperpod-ref-slurm-configuration and
# sagemaker-hyperpod-slurm-api-config-migration.html).
#
# So this script never edits slurm.conf, never touches the slurmd/slurmctld
# units and never mounts anything. On every node it:
#
#   1. refuses a provisioning_parameters.json next to it (the legacy model);
#   2. finds this node's instance group in HyperPod's resource_config.json and
#      its Slurm role in slurm_nodes.json (generated from the same groups);
#   3. reports whether HyperPod has mounted the shared file system yet (the
#      order of HyperPod's mount and OnCreate is not documented, so this only
#      logs);
#   4. puts /opt/slurm/bin on users' PATH (/etc/profile.d);
#   5. creates the POSIX users of slurm.users (same UID/GID on every node, so
#      Slurm jobs run as the same user everywhere), homes under <fsx>/home when
#      the cluster has FSx (waiting for HyperPod's mount), with their SSH key.
#
# Output goes to stdout (CloudWatch: /aws/sagemaker/Clusters/<cluster>/<id>)
# and to /var/log/provision/provisioning.log; a failure is reported with the
# step, command and line, then the script syncs, waits
# HYPERPOD_LCS_FAIL_GRACE_SECONDS (default 60) and exits non-zero.

if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi

set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "${SCRIPT_DIR}/lib.sh"
lcs_install_err_trap
lcs_load_settings "${HYPERPOD_LCS_SETTINGS_FILE:-${SCRIPT_DIR}/on_create.env}"

ROOT="${HYPERPOD_LCS_ROOT:-}"
ROOT="${ROOT%/}"
LOG_FILE="${HYPERPOD_LCS_LOG_FILE:-${ROOT}/var/log/provision/provisioning.log}"
NODES_FILE="${SCRIPT_DIR}/slurm_nodes.json"
LEGACY_FILE="${SCRIPT_DIR}/provisioning_parameters.json"
HELPER="${SCRIPT_DIR}/node_role.py"
RESOURCE_CONFIG="${HYPERPOD_LCS_RESOURCE_CONFIG:-${SAGEMAKER_RESOURCE_CONFIG_PATH:-/opt/ml/config/resource_config.json}}"
readonly PROFILE_FILE="/etc/profile.d/hyperpod-cdk-slurm.sh"
FSX_WAIT_SECONDS="${HYPERPOD_LCS_FSX_WAIT_SECONDS:-600}"
FSX_POLL_SECONDS="${HYPERPOD_LCS_FSX_POLL_SECONDS:-10}"

NODE_TYPE="" NODE_GROUP="" NODE_PARTITION="" NODE_IP="" NODE_NAME=""
FSX_MOUNT_PATH=""

preflight() {
  step preflight "on_create.sh (API-driven Slurm) starting (scripts in ${SCRIPT_DIR}, root '${ROOT:-/}')"
  local setting
  for setting in "${LCS_SETTINGS_APPLIED[@]}"; do
    log "setting from on_create.env: ${setting}"
  done
  require_uint HYPERPOD_LCS_FSX_WAIT_SECONDS "${FSX_WAIT_SECONDS}"
  require_uint HYPERPOD_LCS_FSX_POLL_SECONDS "${FSX_POLL_SECONDS}"
  if [[ -z "${ROOT}" && "${EUID}" -ne 0 ]]; then
    die "must run as root (HyperPod runs lifecycle scripts as root)"
  fi
  if [[ -f "${LEGACY_FILE}" ]]; then
    die "provisioning_parameters.json is next to on_create.sh, but this cluster is API-driven (SlurmConfig); HyperPod refuses both together. Remove it from the lifecycle prefix, or deploy with slurm.configuration: provisioning-parameters"
  fi
  [[ -f "${NODES_FILE}" ]] || die "no slurm_nodes.json next to on_create.sh; hyperpod-cdk uploads it with the scripts"
  [[ -f "${ROOT}${RESOURCE_CONFIG}" ]] || die "HyperPod's ${RESOURCE_CONFIG} is missing; is this a HyperPod node?"
  command -v python3 >/dev/null || die "python3 is needed to read the JSON files (the HyperPod Slurm AMI has it)"
}

identify_node() {
  step identify-node "finding this node's instance group and Slurm role"
  local output key value
  output="$(python3 "${HELPER}" --nodes "${NODES_FILE}" \
    --resource-config "${ROOT}${RESOURCE_CONFIG}" --local-ips "$(hostname -I)")"
  while IFS='=' read -r key value; do
    case "${key}" in
      NODE_TYPE | NODE_GROUP | NODE_PARTITION | NODE_IP | NODE_NAME) printf -v "${key}" '%s' "${value}" ;;
      *) die "node_role.py printed an unexpected key '${key}'" ;;
    esac
  done <<<"${output}"
  FSX_MOUNT_PATH="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("fsx_mount_path") or "")' "${NODES_FILE}")"
  log "this node is ${NODE_NAME} (${NODE_IP}) in group ${NODE_GROUP}, role ${NODE_TYPE}${NODE_PARTITION:+, partition ${NODE_PARTITION}}"
}

report_shared_storage() {
  [[ -n "${FSX_MOUNT_PATH}" ]] || return 0
  step shared-storage "HyperPod mounts FSx for Lustre at ${FSX_MOUNT_PATH} (InstanceStorageConfigs)"
  if is_mountpoint "${ROOT}${FSX_MOUNT_PATH}"; then
    log "${FSX_MOUNT_PATH} is mounted"
  else
    log "${FSX_MOUNT_PATH} is not mounted yet; HyperPod mounts it, this script does not"
  fi
}

user_environment() {
  step user-environment "Slurm commands on users' PATH"
  mkdir -p "${ROOT}/etc/profile.d"
  # shellcheck disable=SC2016 # written for login shells to expand, not here
  printf '%s\n' "# Written by hyperpod-cdk on_create.sh: Slurm commands of the HyperPod Slurm AMI." \
    'case ":${PATH}:" in *:/opt/slurm/bin:*) ;; *) export PATH="${PATH}:/opt/slurm/bin" ;; esac' \
    >"${ROOT}${PROFILE_FILE}"
}

create_users() {
  local listing name uid key home_root="/home"
  listing="$(python3 "${HELPER}" users --nodes "${NODES_FILE}")"
  [[ -n "${listing}" ]] || return 0
  step users "POSIX users from slurm.users (same UID and GID on every node)"
  if [[ -n "${FSX_MOUNT_PATH}" ]]; then
    # Homes live on the shared file system, which HyperPod mounts: wait for it.
    home_root="${FSX_MOUNT_PATH}/home"
    if ! wait_for_mount "${ROOT}${FSX_MOUNT_PATH}" "${FSX_WAIT_SECONDS}" "${FSX_POLL_SECONDS}"; then
      die "${FSX_MOUNT_PATH} (HyperPod's FSx mount) did not appear within ${FSX_WAIT_SECONDS}s, so the users' homes cannot be created; check the group's InstanceStorageConfigs and the file system's security group"
    fi
    mkdir -p "${ROOT}${home_root}"
  fi
  while IFS=$'\t' read -r name uid key; do
    create_user "${name}" "${uid}" "${home_root}/${name}" "${key}"
  done <<<"${listing}"
}

create_user() {
  local name="$1" uid="$2" home="$3" key="$4" existing
  if existing="$(getent passwd "${name}")"; then
    [[ "$(cut -d: -f3 <<<"${existing}")" == "${uid}" ]] ||
      die "user ${name} already exists with UID $(cut -d: -f3 <<<"${existing}"), not ${uid} from slurm.users; pick another name or UID"
    log "user ${name} (${uid}) exists"
  else
    if ! getent group "${uid}" >/dev/null; then
      run groupadd --gid "${uid}" "${name}"
    fi
    run useradd --uid "${uid}" --gid "${uid}" --home-dir "${home}" --no-create-home --shell /bin/bash "${name}"
  fi
  # On FSx the first node creates the home; the others find it (install -d does not fail on an existing one).
  if [[ ! -d "${ROOT}${home}" ]]; then
    install -d -m 0700 "${ROOT}${home}"
    run chown "${uid}:${uid}" "${ROOT}${home}"
  fi
  local keys="${ROOT}${home}/.ssh/authorized_keys"
  if [[ -n "${key}" && "$(cat "${keys}" 2>/dev/null)" != "${key}" ]]; then
    install -d -m 0700 "${ROOT}${home}/.ssh"
    printf '%s\n' "${key}" >"${ROOT}${home}/.ssh/authorized_keys.hyperpod-cdk.tmp"
    chmod 0600 "${ROOT}${home}/.ssh/authorized_keys.hyperpod-cdk.tmp"
    mv -f "${ROOT}${home}/.ssh/authorized_keys.hyperpod-cdk.tmp" "${ROOT}${home}/.ssh/authorized_keys"
    run chown -R "${uid}:${uid}" "${ROOT}${home}/.ssh"
  fi
}

main() {
  lcs_setup_logging "${LOG_FILE}"
  preflight
  identify_node
  report_shared_storage
  user_environment
  create_users
  step finished "on_create.sh finished: ${NODE_TYPE} node ${NODE_NAME} of group ${NODE_GROUP}"
}

main "$@"
