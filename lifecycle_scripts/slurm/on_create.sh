#!/usr/bin/env bash
# HyperPod (Slurm orchestrator) OnCreate lifecycle script.
#
# HyperPod downloads the whole SourceS3Uri prefix to each new node and runs
# this file as root. The prefix holds provisioning_parameters.json, generated
# by hyperpod-cdk from the same config as the cluster's instance groups. On
# every node the script:
#
#   1. finds this node's instance group in /opt/ml/config/resource_config.json
#      (matching its IPv4 addresses against CustomerIpAddress) and from the
#      parameters its role: controller, login or compute (and partition);
#   2. mounts the FSx for Lustre file system at /fsx and records it in
#      /etc/fstab (when the parameters name one);
#   3. writes the controller, node and partition lines into a managed block
#      of /opt/slurm/etc/slurm.conf (definitions the AMI already has are kept);
#   4. starts what the role needs: slurmctld on the controller (and waits for
#      it to answer), slurmd on compute nodes, no daemon on login nodes.
#
# Output goes to stdout (CloudWatch: /aws/sagemaker/Clusters/<cluster>/<id>)
# and to /var/log/provision/provisioning.log. Any failure is reported with
# the step, command, line and exit code; the script then syncs, waits
# HYPERPOD_LCS_FAIL_GRACE_SECONDS (default 60) and exits non-zero.

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
PARAMS_FILE="${SCRIPT_DIR}/provisioning_parameters.json"
HELPER="${SCRIPT_DIR}/slurm_params.py"
# HyperPod's description of the cluster; base-config honours the same variable.
RESOURCE_CONFIG="${HYPERPOD_LCS_RESOURCE_CONFIG:-${SAGEMAKER_RESOURCE_CONFIG_PATH:-/opt/ml/config/resource_config.json}}"
SLURM_CONF="${HYPERPOD_LCS_SLURM_CONF:-/opt/slurm/etc/slurm.conf}"
FSX_MOUNT_POINT="${HYPERPOD_LCS_FSX_MOUNT_POINT:-/fsx}"
FSX_ATTEMPTS="${HYPERPOD_LCS_FSX_MOUNT_ATTEMPTS:-5}"
FSX_RETRY_SECONDS="${HYPERPOD_LCS_FSX_RETRY_SECONDS:-15}"
CTLD_WAIT_SECONDS="${HYPERPOD_LCS_SLURMCTLD_WAIT_SECONDS:-120}"
CTLD_POLL_SECONDS="${HYPERPOD_LCS_SLURMCTLD_POLL_SECONDS:-5}"
# Lustre client options from the FSx for Lustre user guide (mounting, and
# mounting automatically at boot after the network is up).
readonly FSX_MOUNT_OPTIONS="relatime,flock"
readonly FSX_FSTAB_OPTIONS="defaults,relatime,flock,_netdev,x-systemd.automount,x-systemd.requires=network.service"
readonly PROFILE_FILE="/etc/profile.d/hyperpod-cdk-slurm.sh"
readonly BEGIN_MARKER="# BEGIN hyperpod-cdk"
readonly END_MARKER="# END hyperpod-cdk"
# Slurm commands live in /opt/slurm/bin on the HyperPod Slurm AMI.
export PATH="${PATH}:/opt/slurm/bin:/opt/slurm/sbin"

# Filled by identify_node from slurm_params.py (whitelisted keys only).
NODE_TYPE="" NODE_GROUP="" NODE_PARTITION="" NODE_IP="" NODE_NAME=""
CONTROLLER_NAME="" CONTROLLER_IP="" CLUSTER_NAME="" FSX_DNS_NAME="" FSX_MOUNTNAME=""
SLURM_CONF_CHANGED=0

# --- steps ------------------------------------------------------------------
preflight() {
  step preflight "on_create.sh starting (scripts in ${SCRIPT_DIR}, root '${ROOT:-/}')"
  local setting
  for setting in "${LCS_SETTINGS_APPLIED[@]}"; do
    log "setting from on_create.env: ${setting}"
  done
  require_uint HYPERPOD_LCS_FSX_MOUNT_ATTEMPTS "${FSX_ATTEMPTS}"
  require_uint HYPERPOD_LCS_FSX_RETRY_SECONDS "${FSX_RETRY_SECONDS}"
  require_uint HYPERPOD_LCS_SLURMCTLD_WAIT_SECONDS "${CTLD_WAIT_SECONDS}"
  require_uint HYPERPOD_LCS_SLURMCTLD_POLL_SECONDS "${CTLD_POLL_SECONDS}"
  ((FSX_ATTEMPTS >= 1)) || die "HYPERPOD_LCS_FSX_MOUNT_ATTEMPTS must be at least 1"
  if [[ -z "${ROOT}" && "${EUID}" -ne 0 ]]; then
    die "must run as root (HyperPod runs lifecycle scripts as root)"
  fi
  [[ -f "${PARAMS_FILE}" ]] || die "no provisioning_parameters.json next to on_create.sh; hyperpod-cdk uploads it with the scripts"
  [[ -f "${ROOT}${RESOURCE_CONFIG}" ]] || die "HyperPod's ${RESOURCE_CONFIG} is missing; is this a HyperPod node?"
  command -v python3 >/dev/null || die "python3 is needed to read the JSON files (the HyperPod Slurm AMI has it)"
}

identify_node() {
  step identify-node "finding this node's instance group and Slurm role"
  local ips output key value
  ips="$(hostname -I)"
  output="$(python3 "${HELPER}" node-env --params "${PARAMS_FILE}" \
    --resource-config "${ROOT}${RESOURCE_CONFIG}" --local-ips "${ips}")"
  while IFS='=' read -r key value; do
    case "${key}" in
      NODE_TYPE | NODE_GROUP | NODE_PARTITION | NODE_IP | NODE_NAME | CONTROLLER_NAME | CONTROLLER_IP | \
        CLUSTER_NAME | FSX_DNS_NAME | FSX_MOUNTNAME)
        printf -v "${key}" '%s' "${value}"
        ;;
      *) die "unexpected output from slurm_params.py: ${key}" ;;
    esac
  done <<<"${output}"
  log "cluster ${CLUSTER_NAME:-?}: this node is ${NODE_NAME} (${NODE_IP}) in group ${NODE_GROUP}, role ${NODE_TYPE}${NODE_PARTITION:+, partition ${NODE_PARTITION}}"
  log "controller: ${CONTROLLER_NAME} (${CONTROLLER_IP})"
}

fstab_entry_for() {
  local mount_point="$1"
  [[ -f "${ROOT}/etc/fstab" ]] || return 0
  awk -v mp="${mount_point}" '$1 !~ /^#/ && $2 == mp' "${ROOT}/etc/fstab"
}

mount_fsx() {
  if [[ -z "${FSX_DNS_NAME}" ]]; then
    step mount-fsx "no FSx file system in provisioning_parameters.json; nothing to mount"
    return 0
  fi
  local source="${FSX_DNS_NAME}@tcp:/${FSX_MOUNTNAME}" target="${ROOT}${FSX_MOUNT_POINT}"
  local line="${source} ${FSX_MOUNT_POINT} lustre ${FSX_FSTAB_OPTIONS} 0 0" existing attempt
  step mount-fsx "mounting ${source} on ${FSX_MOUNT_POINT}"
  existing="$(fstab_entry_for "${FSX_MOUNT_POINT}")"
  if [[ -n "${existing}" && "${existing}" != "${line}" ]]; then
    die "/etc/fstab already has a different entry for ${FSX_MOUNT_POINT}: '${existing}'"
  fi
  mkdir -p "${target}"
  if is_mountpoint "${target}"; then
    log "${FSX_MOUNT_POINT} is already mounted"
  else
    # The file system's DNS name can take a moment to resolve from a new node.
    for ((attempt = 1; ; attempt++)); do
      if sys_mount -t lustre -o "${FSX_MOUNT_OPTIONS}" "${source}" "${target}"; then
        break
      fi
      if ((attempt >= FSX_ATTEMPTS)); then
        die "could not mount ${source} after ${attempt} attempts; check the file system is AVAILABLE and that the node security group allows 988 and 1018-1023"
      fi
      log "mount attempt ${attempt} of ${FSX_ATTEMPTS} failed; retrying in ${FSX_RETRY_SECONDS}s"
      sleep "${FSX_RETRY_SECONDS}"
    done
  fi
  if [[ -z "${existing}" ]]; then
    if [[ -f "${ROOT}/etc/fstab" && ! -e "${ROOT}/etc/fstab.hyperpod-cdk.bak" ]]; then
      cp -p "${ROOT}/etc/fstab" "${ROOT}/etc/fstab.hyperpod-cdk.bak"
    fi
    printf '%s\n' "${line}" >>"${ROOT}/etc/fstab"
    log "fstab: ${line}"
  fi
}

configure_slurm() {
  step configure-slurm "writing controller, node and partition lines to ${SLURM_CONF}"
  local conf="${ROOT}${SLURM_CONF}" block current tmp
  [[ -f "${conf}" ]] || die "${SLURM_CONF} does not exist; use the HyperPod Slurm AMI (Slurm in /opt/slurm)"
  block="$(python3 "${HELPER}" slurm-block --params "${PARAMS_FILE}" \
    --resource-config "${ROOT}${RESOURCE_CONFIG}" --slurm-conf "${conf}")"
  current="$(awk -v b="${BEGIN_MARKER}" -v e="${END_MARKER}" \
    'index($0, b) == 1 {on = 1} on {print} index($0, e) == 1 {on = 0}' "${conf}")"
  if [[ "${current}" == "${block}" ]]; then
    log "slurm.conf already has these lines; unchanged"
    return 0
  fi
  if [[ ! -e "${conf}.hyperpod-cdk.bak" ]]; then
    cp -p "${conf}" "${conf}.hyperpod-cdk.bak"
  fi
  tmp="${conf}.hyperpod-cdk.tmp"
  {
    awk -v b="${BEGIN_MARKER}" -v e="${END_MARKER}" \
      'index($0, b) == 1 {skip = 1} !skip {print} index($0, e) == 1 {skip = 0}' "${conf}"
    printf '%s\n' "${block}"
  } >"${tmp}"
  chmod --reference="${conf}" "${tmp}"
  mv "${tmp}" "${conf}"
  SLURM_CONF_CHANGED=1
  local line
  while IFS= read -r line; do
    log "slurm.conf: ${line}"
  done <<<"${block}"
}

# ensure_running UNIT: enable it, then start it, or restart it when slurm.conf changed.
ensure_running() {
  local unit="$1"
  sys_systemctl enable "${unit}"
  if unit_is_active "${unit}"; then
    if ((SLURM_CONF_CHANGED)); then
      sys_systemctl restart "${unit}"
    else
      log "${unit} is running with the current slurm.conf"
    fi
  else
    sys_systemctl start "${unit}"
  fi
}

wait_for_slurmctld() {
  local waited=0 answer
  step wait-for-slurmctld "waiting up to ${CTLD_WAIT_SECONDS}s for slurmctld to answer"
  while true; do
    answer="$(scontrol ping 2>&1 || true)"
    if [[ "${answer}" == *" is UP"* ]]; then
      log "${answer}"
      return 0
    fi
    if ((waited >= CTLD_WAIT_SECONDS)); then
      log "last answer: ${answer}"
      die "slurmctld did not answer within ${CTLD_WAIT_SECONDS}s; see /var/log/slurm/slurmctld.log"
    fi
    sleep "${CTLD_POLL_SECONDS}"
    waited=$((waited + CTLD_POLL_SECONDS))
  done
}

start_services() {
  step start-services "starting the Slurm services of a ${NODE_TYPE} node"
  mkdir -p "$(dirname "${ROOT}${PROFILE_FILE}")"
  # shellcheck disable=SC2016 # written literally; expanded by the login shell that reads it
  printf '%s\n' '# Slurm commands (written by the hyperpod-cdk lifecycle script)' \
    'case ":${PATH}:" in *:/opt/slurm/bin:*) ;; *) export PATH="${PATH}:/opt/slurm/bin" ;; esac' \
    >"${ROOT}${PROFILE_FILE}"
  # Slurm authenticates every message with munge.
  if ! unit_is_active munge; then
    sys_systemctl start munge
  fi
  case "${NODE_TYPE}" in
    controller)
      ensure_running slurmctld
      wait_for_slurmctld
      ;;
    compute)
      # slurmd registers with slurmctld itself and retries until the controller is up.
      ensure_running slurmd
      ;;
    login)
      # A login node submits through slurmctld and must not register as a compute node.
      if unit_is_active slurmd; then
        sys_systemctl disable --now slurmd
      fi
      log "login node: users run sbatch/srun/squeue here against slurmctld on ${CONTROLLER_NAME}"
      ;;
    *) die "unknown node type '${NODE_TYPE}'" ;;
  esac
}

main() {
  lcs_setup_logging "${LOG_FILE}"
  preflight
  identify_node
  mount_fsx
  configure_slurm
  start_services
  step finished "on_create.sh finished: ${NODE_TYPE} node ${NODE_NAME} of group ${NODE_GROUP}"
}

main "$@"
