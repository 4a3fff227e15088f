#!/usr/bin/env bash
# HyperPod (Slurm orchestrator) OnCreate lifecycle script.
#
# HyperPod downloads the whole SourceS3Uri prefix to each new node and runs
# this file as root. The prefix holds provisioning_parameters.json, generated
# by hyperpod-cdk from the same config as the cluster's instance groups.
#
# HyperPod runs Slurm configless, and this script does it the same way (see
# docs/slurm.md, "How Slurm gets configured"):
#
#   - HyperPod's cluster agent writes /opt/slurm/etc/slurm.conf on the
#     controller only (nodes, partitions from provisioning_parameters.json,
#     SlurmctldParameters=enable_configless). This script never edits it.
#   - Compute and login nodes have no slurm.conf. Their slurmd starts with
#     --conf-server <controller IP> and caches the controller's configuration
#     in /var/spool/slurmd/conf-cache, where sbatch, squeue and scontrol on
#     the node find it.
#
# On every node the script:
#
#   1. finds this node's instance group in /opt/ml/config/resource_config.json
#      (matching its IPv4 addresses against CustomerIpAddress) and from the
#      parameters its role: controller, login or compute;
#   2. mounts the FSx for Lustre file system at /fsx (Lustre client and EFA
#      set up first) and records it in /etc/fstab;
#   3. by role: on the controller waits for the agent's slurm.conf, starts
#      slurmctld and waits for it to answer; on compute and login nodes
#      points slurmd at the controller (--conf-server), starts it and waits
#      until it has fetched the configuration and Slurm commands answer.
#
# Sources (AWS's own Slurm lifecycle scripts):
#   awslabs/awsome-distributed-ai 1.architectures/5.sagemaker-hyperpod/LifecycleScripts/base-config/
#     lifecycle_script.py (wait_for_slurm_conf: slurm.conf exists on the controller only),
#     start_slurm.sh (slurmctld on the controller; SLURMD_OPTIONS="--conf-server <controller>"
#     substituted into /etc/systemd/system/slurmd.service on compute and login nodes),
#     mount_fsx.sh (fstab options).
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
# Where configless slurmd caches the controller's files (SlurmdSpoolDir/conf-cache).
CONF_CACHE="${HYPERPOD_LCS_SLURMD_CONF_CACHE:-/var/spool/slurmd/conf-cache}"
UNIT_DIR="${HYPERPOD_LCS_UNIT_DIR:-/etc/systemd/system}"
FSX_MOUNT_POINT="${HYPERPOD_LCS_FSX_MOUNT_POINT:-/fsx}"
FSX_ATTEMPTS="${HYPERPOD_LCS_FSX_MOUNT_ATTEMPTS:-5}"
FSX_RETRY_SECONDS="${HYPERPOD_LCS_FSX_RETRY_SECONDS:-15}"
SLURM_CONF_WAIT_SECONDS="${HYPERPOD_LCS_SLURM_CONF_WAIT_SECONDS:-120}"
CTLD_WAIT_SECONDS="${HYPERPOD_LCS_SLURMCTLD_WAIT_SECONDS:-300}"
POLL_SECONDS="${HYPERPOD_LCS_SLURMCTLD_POLL_SECONDS:-5}"
# Lustre client options from the FSx for Lustre user guide (mounting) and
# AWS's mount_fsx.sh (fstab): _netdev and an automount that requires
# network-online.target. The HyperPod Slurm AMI is Ubuntu, which has no
# network.service to order after.
readonly FSX_MOUNT_OPTIONS="relatime,flock"
readonly FSX_FSTAB_OPTIONS="defaults,relatime,flock,_netdev,x-systemd.automount,x-systemd.requires=network-online.target"
readonly PROFILE_FILE="/etc/profile.d/hyperpod-cdk-slurm.sh"
readonly RETIRED_SUFFIX=".hyperpod-cdk-retired"
# Slurm commands live in /opt/slurm/bin on the HyperPod Slurm AMI.
export PATH="${PATH}:/opt/slurm/bin:/opt/slurm/sbin"

# Filled by identify_node from slurm_params.py (whitelisted keys only).
NODE_TYPE="" NODE_GROUP="" NODE_PARTITION="" NODE_IP="" NODE_NAME=""
CONTROLLER_NAME="" CONTROLLER_IP="" CLUSTER_NAME="" FSX_DNS_NAME="" FSX_MOUNTNAME=""
UNIT_CHANGED=0

# --- steps ------------------------------------------------------------------
preflight() {
  step preflight "on_create.sh starting (scripts in ${SCRIPT_DIR}, root '${ROOT:-/}')"
  local setting
  for setting in "${LCS_SETTINGS_APPLIED[@]}"; do
    log "setting from on_create.env: ${setting}"
  done
  require_uint HYPERPOD_LCS_FSX_MOUNT_ATTEMPTS "${FSX_ATTEMPTS}"
  require_uint HYPERPOD_LCS_FSX_RETRY_SECONDS "${FSX_RETRY_SECONDS}"
  require_uint HYPERPOD_LCS_SLURM_CONF_WAIT_SECONDS "${SLURM_CONF_WAIT_SECONDS}"
  require_uint HYPERPOD_LCS_SLURMCTLD_WAIT_SECONDS "${CTLD_WAIT_SECONDS}"
  require_uint HYPERPOD_LCS_SLURMCTLD_POLL_SECONDS "${POLL_SECONDS}"
  ((FSX_ATTEMPTS >= 1)) || die "HYPERPOD_LCS_FSX_MOUNT_ATTEMPTS must be at least 1"
  ((POLL_SECONDS >= 1)) || die "HYPERPOD_LCS_SLURMCTLD_POLL_SECONDS must be at least 1"
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
    lustre_client_setup "${ROOT}" "${SCRIPT_DIR}/fsx_lustre.json"
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

# wait_until SECONDS DESCRIPTION COMMAND...: run COMMAND now and then every
# POLL_SECONDS until it succeeds; return 1 once SECONDS have been spent waiting.
wait_until() {
  local limit="$1" what="$2" waited=0
  shift 2
  until "$@"; do
    if ((waited >= limit)); then
      log "gave up waiting for ${what} after ${waited}s"
      return 1
    fi
    sleep "${POLL_SECONDS}"
    waited=$((waited + POLL_SECONDS))
  done
}

agent_wrote_slurm_conf() {
  [[ -f "${ROOT}${SLURM_CONF}" ]] && grep -Fq -- "${CONTROLLER_IP}" "${ROOT}${SLURM_CONF}"
}

slurmd_fetched_config() { [[ -s "${ROOT}${CONF_CACHE}/slurm.conf" ]]; }

# The file Slurm commands read on this node: the local slurm.conf on the
# controller, the configless cache elsewhere.
slurm_conf_for_commands() {
  if [[ "${NODE_TYPE}" == controller ]]; then
    printf '%s' "${ROOT}${SLURM_CONF}"
  else
    printf '%s' "${ROOT}${CONF_CACHE}/slurm.conf"
  fi
}

slurmctld_answers() {
  local answer
  answer="$(SLURM_CONF="$(slurm_conf_for_commands)" scontrol ping 2>&1)" || true
  LAST_PING="${answer}"
  [[ "${answer}" == *" is UP"* ]]
}
LAST_PING=""

# retire_unit NAME: stop and disable NAME and move its unit file aside, so
# nothing starts that daemon on a node of the wrong role (start_slurm.sh
# renames the unit for the same reason).
retire_unit() {
  local unit="$1" file="${ROOT}${UNIT_DIR}/$1.service"
  if unit_is_active "${unit}"; then
    sys_systemctl stop "${unit}"
  fi
  if [[ -f "${file}" ]]; then
    sys_systemctl disable "${unit}"
    mv "${file}" "${file}${RETIRED_SUFFIX}"
    UNIT_CHANGED=1
    log "moved ${UNIT_DIR}/${unit}.service aside (${unit} never runs on a ${NODE_TYPE} node)"
  fi
}

# point_slurmd_at_controller: fill the --conf-server option into the slurmd
# unit, as start_slurm.sh does with envsubst. The AMI's unit carries a
# $SLURMD_OPTIONS placeholder; the original is kept next to it, so a second
# run renders the same file from the same template.
point_slurmd_at_controller() {
  local unit="${ROOT}${UNIT_DIR}/slurmd.service" template options rendered
  template="${unit}.hyperpod-cdk.orig"
  options="--conf-server ${CONTROLLER_IP}"
  if [[ ! -f "${template}" ]]; then
    [[ -f "${unit}" ]] || die "${UNIT_DIR}/slurmd.service is missing; use the HyperPod Slurm AMI"
    if ! grep -Eq '\$\{?SLURMD_OPTIONS\}?' "${unit}"; then
      if grep -Fq -- "${options}" "${unit}"; then
        log "slurmd.service already starts slurmd with ${options}"
        return 0
      fi
      die "${UNIT_DIR}/slurmd.service has no \$SLURMD_OPTIONS placeholder and no '${options}'; cannot point slurmd at the controller"
    fi
    cp -p "${unit}" "${template}"
  fi
  rendered="$(sed -E "s|\\\$\\{?SLURMD_OPTIONS\\}?|${options}|g" "${template}")"
  if [[ "$(cat "${unit}")" == "${rendered}" ]]; then
    log "slurmd.service already starts slurmd with ${options}"
    return 0
  fi
  printf '%s\n' "${rendered}" >"${unit}.hyperpod-cdk.tmp"
  chmod --reference="${template}" "${unit}.hyperpod-cdk.tmp"
  mv "${unit}.hyperpod-cdk.tmp" "${unit}"
  UNIT_CHANGED=1
  log "slurmd.service: slurmd ${options} (configless: the controller serves slurm.conf)"
}

configure_slurm() {
  case "${NODE_TYPE}" in
    controller)
      step wait-for-slurm-conf "waiting up to ${SLURM_CONF_WAIT_SECONDS}s for HyperPod's agent to write ${SLURM_CONF}"
      if ! wait_until "${SLURM_CONF_WAIT_SECONDS}" "slurm.conf" agent_wrote_slurm_conf; then
        die "HyperPod's cluster agent did not write ${SLURM_CONF} naming the controller ${CONTROLLER_IP}; check that provisioning_parameters.json names group ${NODE_GROUP} as controller_group"
      fi
      log "${SLURM_CONF} is HyperPod's (nodes and partitions from provisioning_parameters.json); not edited"
      step configure-slurm "slurmd never runs on the controller"
      retire_unit slurmd
      ;;
    compute | login)
      step configure-slurm "configless slurmd: fetch slurm.conf from the controller ${CONTROLLER_IP}"
      if [[ -e "${ROOT}${SLURM_CONF}" ]]; then
        log "note: ${SLURM_CONF} exists on this ${NODE_TYPE} node; slurmd ignores it with --conf-server"
      fi
      point_slurmd_at_controller
      retire_unit slurmctld
      ;;
    *) die "unknown node type '${NODE_TYPE}'" ;;
  esac
}

start_services() {
  step start-services "starting the Slurm services of a ${NODE_TYPE} node"
  mkdir -p "$(dirname "${ROOT}${PROFILE_FILE}")"
  # Login shells find the Slurm commands and, on compute and login nodes, the
  # configless copy of slurm.conf when Slurm's own lookup does not.
  # shellcheck disable=SC2016 # written literally; expanded by the login shell that reads it
  printf '%s\n' '# Slurm commands (written by the hyperpod-cdk lifecycle script)' \
    'case ":${PATH}:" in *:/opt/slurm/bin:*) ;; *) export PATH="${PATH}:/opt/slurm/bin" ;; esac' \
    "if [ -z \"\${SLURM_CONF:-}\" ] && [ ! -e ${SLURM_CONF} ] && [ -e ${CONF_CACHE}/slurm.conf ]; then export SLURM_CONF=${CONF_CACHE}/slurm.conf; fi" \
    >"${ROOT}${PROFILE_FILE}"
  # Slurm authenticates every message with munge.
  if ! unit_is_active munge; then
    sys_systemctl start munge
  fi
  if ((UNIT_CHANGED)); then
    sys_systemctl daemon-reload
  fi
  local daemon=slurmd
  [[ "${NODE_TYPE}" == controller ]] && daemon=slurmctld
  sys_systemctl enable "${daemon}"
  if unit_is_active "${daemon}"; then
    if ((UNIT_CHANGED)); then
      sys_systemctl restart "${daemon}"
    else
      log "${daemon} is running"
    fi
  else
    sys_systemctl start "${daemon}"
  fi
  if [[ "${daemon}" == slurmd ]]; then
    step wait-for-config "waiting up to ${CTLD_WAIT_SECONDS}s for slurmd to fetch slurm.conf from ${CONTROLLER_IP}"
    if ! wait_until "${CTLD_WAIT_SECONDS}" "the configless slurm.conf" slurmd_fetched_config; then
      die "slurmd fetched no configuration from ${CONTROLLER_IP} (nothing in ${CONF_CACHE}); check slurmctld on the controller, /var/log/slurm/slurmd.log here, and that the node security group allows 6817-6818 within the group"
    fi
    log "configless slurm.conf cached in ${CONF_CACHE}"
  fi
  step wait-for-slurmctld "waiting up to ${CTLD_WAIT_SECONDS}s for slurmctld to answer"
  if ! wait_until "${CTLD_WAIT_SECONDS}" "slurmctld" slurmctld_answers; then
    log "last answer: ${LAST_PING}"
    die "slurmctld on ${CONTROLLER_NAME} did not answer within ${CTLD_WAIT_SECONDS}s; see /var/log/slurm/slurmctld.log on the controller"
  fi
  log "${LAST_PING}"
  if [[ "${NODE_TYPE}" == login ]]; then
    log "login node: sbatch, srun and squeue work here against slurmctld on ${CONTROLLER_NAME}"
  fi
}

main() {
  lcs_setup_logging "${LOG_FILE}"
  preflight
  identify_node
  lcs_instance_metadata "${SCRIPT_DIR}/instance_metadata.json" "${ROOT}"
  mount_fsx
  configure_slurm
  start_services
  step finished "on_create.sh finished: ${NODE_TYPE} node ${NODE_NAME} of group ${NODE_GROUP}"
}

main "$@"
