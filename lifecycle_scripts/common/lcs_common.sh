#!/usr/bin/env bash
# Helpers shared by the HyperPod lifecycle scripts of every orchestrator
# (eks/, slurm/): logging, settings file, loud failure, command wrappers.
# Sourced through each orchestrator's lib.sh; defines functions only and
# changes no state when sourced.
#
# The file lives in lifecycle_scripts/common/ in the repo, but HyperPod runs
# the scripts from one downloaded S3 prefix per instance group, so it is
# uploaded into each orchestrator's prefix (HyperPodLifecycleScripts
# shared_dirs) and sits next to on_create.sh and lib.sh on the node.
#
# Test seams (all optional, all unset on a real node):
#   HYPERPOD_LCS_ROOT          prefix for every absolute path the scripts touch
#   HYPERPOD_LCS_SYSTEMCTL     replacement for systemctl
#   HYPERPOD_LCS_MOUNT         replacement for mount
#   HYPERPOD_LCS_MOUNTPOINT    replacement for mountpoint
#   HYPERPOD_LCS_SYNC          replacement for sync
#   HYPERPOD_LCS_MODPROBE      replacement for modprobe
#   HYPERPOD_LCS_FI_INFO       path of libfabric's fi_info (EFA probe)
# Any other command can be replaced by putting a stub earlier on PATH.

# Name of the step being run; printed in every log line and in failure reports.
LCS_STEP="init"
LCS_TEE_PID=""
# Expanded command line of the command run() is executing (kept after a failure).
LCS_CMD=""

# UTC timestamp from the printf builtin (no fork per log line).
lcs_now() {
  TZ=UTC printf '%(%Y-%m-%dT%H:%M:%SZ)T' -1
}

log() {
  local ts
  TZ=UTC printf -v ts '%(%Y-%m-%dT%H:%M:%SZ)T' -1
  printf '%s [%s] %s\n' "${ts}" "${LCS_STEP}" "$*"
}

# step NAME DESCRIPTION: start a named step; the name appears in every log
# line and in the failure report.
step() {
  LCS_STEP="$1"
  shift
  log "==> $*"
}

# is_true VALUE: 1/true/yes/on (any case) count as true.
is_true() {
  case "${1,,}" in
    1 | true | yes | on) return 0 ;;
    *) return 1 ;;
  esac
}

# require_uint NAME VALUE: VALUE must be a non-negative integer.
require_uint() {
  case "$2" in
    '' | *[!0-9]*) die "$1 must be a non-negative integer, got '$2'" ;;
  esac
}

# ---------------------------------------------------------------------------
# Settings file: HyperPod passes no environment to lifecycle scripts, so
# settings can also ship next to the scripts as KEY=VALUE lines. Only
# HYPERPOD_LCS_* keys are accepted; values are literal (no quotes, no
# expansion) with surrounding blanks trimmed; blank lines and lines starting
# with # are ignored. A variable already set in the environment wins over
# the file.
# ---------------------------------------------------------------------------
LCS_SETTINGS_APPLIED=()

lcs_load_settings() {
  local file="$1" key value n=0
  [[ -f "${file}" ]] || return 0
  while IFS='=' read -r key value || [[ -n "${key}" ]]; do
    n=$((n + 1))
    key="${key#"${key%%[![:space:]]*}"}"
    key="${key%"${key##*[![:space:]]}"}"
    value="${value#"${value%%[![:space:]]*}"}"
    value="${value%"${value##*[![:space:]]}"}"
    [[ -z "${key}" || "${key}" == '#'* ]] && continue
    if [[ ! "${key}" =~ ^HYPERPOD_LCS_[A-Z0-9_]+$ ]]; then
      printf '%s:%d: not a HYPERPOD_LCS_* setting: %s\n' "${file}" "${n}" "${key}"
      return 1
    fi
    if [[ -z "${!key+set}" ]]; then
      export "${key}=${value}"
      LCS_SETTINGS_APPLIED+=("${key}=${value}")
    fi
  done <"${file}"
}

# ---------------------------------------------------------------------------
# Logging: everything the script prints goes to stdout (which HyperPod ships
# to CloudWatch) and is appended to the provisioning log on the node.
# ---------------------------------------------------------------------------
lcs_setup_logging() {
  local log_file="$1"
  mkdir -p "$(dirname "${log_file}")"
  touch "${log_file}"
  # Keep the original stdout/stderr on fds 3 and 4 so the EXIT trap can
  # restore them, close the pipe to tee and wait for tee to drain.
  exec 3>&1 4>&2
  exec > >(tee -a "${log_file}") 2>&1
  LCS_TEE_PID=$!
  trap lcs_on_exit EXIT
}

lcs_on_exit() {
  if [[ -n "${LCS_TEE_PID}" ]]; then
    exec 1>&3 2>&4
    wait "${LCS_TEE_PID}" 2>/dev/null || true
    LCS_TEE_PID=""
  fi
}

# ---------------------------------------------------------------------------
# Failure handling: report what failed, flush the logs to disk, give the
# CloudWatch agent time to ship them, then exit non-zero: HyperPod then
# fails the node with the log to read.
# ---------------------------------------------------------------------------
lcs_fail() {
  local rc="$1" grace="${HYPERPOD_LCS_FAIL_GRACE_SECONDS:-60}"
  trap - ERR
  set +e
  log "provisioning FAILED in step '${LCS_STEP}' (exit code ${rc})"
  sys_sync
  case "${grace}" in
    '' | *[!0-9]*) grace=60 ;;
  esac
  if ((grace > 0)); then
    log "waiting ${grace}s so the logs reach CloudWatch before exiting"
    sleep "${grace}"
  fi
  exit "${rc}"
}

# ERR trap target: called with the exit code, file, line and command text.
lcs_on_err() {
  local rc="$1" file="$2" line="$3" cmd="$4"
  # With errtrace the trap also fires inside subshells; only the main shell
  # reports and waits, a subshell just propagates its exit code.
  if ((BASH_SUBSHELL > 0)); then
    exit "${rc}"
  fi
  # A command run() ran: report it expanded, not as the wrapper's own text.
  if [[ -n "${LCS_CMD}" && ("${cmd}" == run\ * || "${cmd}" == return\ * || "${cmd}" == '"$@"') ]]; then
    cmd="${LCS_CMD}"
  fi
  log "ERROR: command '${cmd}' exited with ${rc} at $(basename "${file}"):${line}"
  local i fn last=$((${#FUNCNAME[@]} - 1))
  for ((i = 1; i <= last; i++)); do
    fn="${FUNCNAME[i]}()"
    ((i < last)) || fn="top level"
    log "  in ${fn} at $(basename "${BASH_SOURCE[i]}"):${BASH_LINENO[i - 1]}"
  done
  lcs_fail "${rc}"
}

lcs_install_err_trap() {
  set -o errtrace
  trap 'lcs_on_err "$?" "${BASH_SOURCE[0]:-?}" "${LINENO}" "${BASH_COMMAND}"' ERR
}

# die MESSAGE: explicit failure with the same reporting as the ERR trap.
die() {
  log "ERROR: $*"
  lcs_fail 1
}

# ---------------------------------------------------------------------------
# System command wrappers (overridable for tests).
# ---------------------------------------------------------------------------

# run CMD...: log the command line, run it and return its status. Outside a
# condition a failure reaches the ERR trap, which reports LCS_CMD (still set
# after a failure); inside `if run ...` the caller handles the status.
run() {
  log "+ $*"
  LCS_CMD="$*"
  local rc=0
  "$@" || rc=$?
  if ((rc == 0)); then
    LCS_CMD=""
  fi
  return "${rc}"
}

sys_systemctl() { run "${HYPERPOD_LCS_SYSTEMCTL:-systemctl}" "$@"; }
sys_mount() { run "${HYPERPOD_LCS_MOUNT:-mount}" "$@"; }
sys_sync() { "${HYPERPOD_LCS_SYNC:-sync}"; }

# Queries are not logged: they run in polling loops and change nothing.
is_mountpoint() { "${HYPERPOD_LCS_MOUNTPOINT:-mountpoint}" -q "$1"; }
unit_is_active() { "${HYPERPOD_LCS_SYSTEMCTL:-systemctl}" is-active --quiet "$1"; }

# wait_for_mount PATH TIMEOUT INTERVAL: poll until PATH is a mount point.
# Checks once immediately, then every INTERVAL seconds until TIMEOUT seconds
# have been spent sleeping. Returns 1 on timeout.
wait_for_mount() {
  local path="$1" timeout="$2" interval="$3" waited=0
  ((interval > 0)) || interval=1
  while ! is_mountpoint "${path}"; do
    if ((waited >= timeout)); then
      return 1
    fi
    sleep "${interval}"
    waited=$((waited + interval))
  done
  return 0
}

# ---------------------------------------------------------------------------
# Lustre client (FSx for Lustre). What AWS's HyperPod base lifecycle scripts do
# before Lustre is used, on EKS and Slurm alike:
#   awslabs/awsome-distributed-ai 1.architectures/7.sagemaker-hyperpod-eks/
#     LifecycleScripts/base-config/on_create_main.sh (setup_efa_fsx_client,
#     then modprobe lnet / lustre and lctl network up)
#   ... 1.architectures/5.sagemaker-hyperpod/LifecycleScripts/base-config/mount_fsx.sh
# Every step here only warns on failure: Lustre then runs over TCP, and a
# mount that really cannot work fails later with its own message.
# ---------------------------------------------------------------------------
readonly LCS_EFA_FSX_CLIENT_URL="https://docs.aws.amazon.com/fsx/latest/LustreGuide/samples/configure-efa-fsx-lustre-client.zip"

sys_modprobe() { run "${HYPERPOD_LCS_MODPROBE:-modprobe}" "$@"; }

# lustre_modules_up: load lnet and lustre and bring LNet up.
lustre_modules_up() {
  local module
  for module in lnet lustre; do
    if ! sys_modprobe "${module}"; then
      log "WARNING: modprobe ${module} failed; is the Lustre client installed on this AMI?"
    fi
  done
  if command -v lctl >/dev/null 2>&1; then
    if ! run lctl network up; then
      log "WARNING: lctl network up failed; the first Lustre mount brings LNet up instead"
    fi
  else
    log "lctl not found; the first Lustre mount brings LNet up"
  fi
}

# efa_fsx_client_supported OS_RELEASE: the operating systems FSx's EFA client
# setup supports (Amazon Linux 2023, RHEL 9.5+, Ubuntu 22.04+ with kernel 6.8+),
# as AWS's base script checks them. Prints the reason when it is not.
efa_fsx_client_supported() {
  local os_release="$1" id="" version="" kernel major minor
  if [[ ! -r "${os_release}" ]]; then
    echo "cannot read ${os_release}"
    return 1
  fi
  id="$(sed -n 's/^ID=//p' "${os_release}" | tr -d '"')"
  version="$(sed -n 's/^VERSION_ID=//p' "${os_release}" | tr -d '"')"
  case "${id}-${version}" in
    amzn-2023 | rhel-9.[5-9]* | rhel-1[0-9]*) return 0 ;;
    ubuntu-22.04 | ubuntu-2[3-9]*)
      kernel="$(uname -r)"
      major="${kernel%%.*}"
      minor="${kernel#*.}"
      minor="${minor%%.*}"
      if ((major > 6 || (major == 6 && minor >= 8))); then
        return 0
      fi
      echo "Ubuntu ${version} needs kernel 6.8 or later, this one is ${kernel}"
      return 1
      ;;
  esac
  echo "${id} ${version} is not an OS the FSx EFA client setup supports"
  return 1
}

# efa_fsx_client_setup ROOT: configure the Lustre client for EFA with the FSx
# user guide's setup script, on instances with an EFA device and a supported
# OS. HYPERPOD_LCS_EFA_FSX_CLIENT=false turns it off (for example in a network
# without a route to docs.aws.amazon.com). The zip runs as root and the guide
# publishes it at an unversioned URL with no checksum: it runs only when its
# sha256 is pinned (HYPERPOD_LCS_EFA_FSX_CLIENT_SHA256, from the config's
# storage.fsx.efa_client_sha256) and the download matches. Never fatal.
efa_fsx_client_setup() {
  local root="$1" fi_info="${HYPERPOD_LCS_FI_INFO:-/opt/amazon/efa/bin/fi_info}" why workdir got
  local want="${HYPERPOD_LCS_EFA_FSX_CLIENT_SHA256:-}"
  if ! is_true "${HYPERPOD_LCS_EFA_FSX_CLIENT:-true}"; then
    log "EFA client setup for FSx turned off (HYPERPOD_LCS_EFA_FSX_CLIENT); Lustre uses TCP"
    return 0
  fi
  if ! why="$(efa_fsx_client_supported "${root}/etc/os-release")"; then
    log "EFA client setup for FSx skipped: ${why}; Lustre uses TCP"
    return 0
  fi
  if [[ ! -x "${fi_info}" ]] || ! "${fi_info}" -p efa >/dev/null 2>&1; then
    log "no EFA device on this instance; Lustre uses TCP"
    return 0
  fi
  if [[ ! "${want}" =~ ^[0-9a-f]{64}$ ]]; then
    log "EFA client setup for FSx skipped: no sha256 pinned for ${LCS_EFA_FSX_CLIENT_URL} (storage.fsx.efa_client_sha256); it would run as root unverified; Lustre uses TCP"
    return 0
  fi
  if ! workdir="$(mktemp -d)"; then
    log "WARNING: no temporary directory for the EFA client setup; Lustre uses TCP"
    return 0
  fi
  if ! run curl --fail --silent --show-error --max-time 30 -o "${workdir}/efa-fsx.zip" "${LCS_EFA_FSX_CLIENT_URL}"; then
    log "WARNING: EFA client setup for FSx failed (needs HTTPS to docs.aws.amazon.com); Lustre uses TCP"
  elif got="$(sha256sum "${workdir}/efa-fsx.zip" | cut -d' ' -f1)" && [[ "${got}" != "${want}" ]]; then
    log "WARNING: ${LCS_EFA_FSX_CLIENT_URL} has sha256 ${got}, not the pinned ${want}; not running it; Lustre uses TCP"
  elif run unzip -q -d "${workdir}" "${workdir}/efa-fsx.zip" &&
    run bash "${workdir}/configure-efa-fsx-lustre-client/setup.sh"; then
    log "EFA client for FSx for Lustre configured"
  else
    log "WARNING: EFA client setup for FSx failed (needs HTTPS to docs.aws.amazon.com); Lustre uses TCP"
  fi
  rm -rf "${workdir}"
}

# lustre_client_setup ROOT [FSX_JSON]: EFA client (when possible), then the
# modules. FSX_JSON is the fsx_lustre.json hyperpod-cdk writes next to the
# scripts; "efa_client_download": false there (a closed network, which has no
# route to docs.aws.amazon.com) turns the EFA client download off.
lustre_client_setup() {
  local fsx_json="${2:-}"
  if [[ -n "${fsx_json}" && -f "${fsx_json}" ]] &&
    grep -q '"efa_client_download": *false' "${fsx_json}"; then
    HYPERPOD_LCS_EFA_FSX_CLIENT=false
  fi
  if [[ -n "${fsx_json}" && -f "${fsx_json}" && -z "${HYPERPOD_LCS_EFA_FSX_CLIENT_SHA256:-}" ]]; then
    HYPERPOD_LCS_EFA_FSX_CLIENT_SHA256="$(grep -o '"efa_client_sha256": *"[0-9a-f]\{64\}"' "${fsx_json}" |
      grep -o '[0-9a-f]\{64\}' || true)"
  fi
  efa_fsx_client_setup "$1"
  lustre_modules_up
}

# ---------------------------------------------------------------------------
# Instance metadata for root only (slurm.instance_metadata: root_only).
# Every local user can read the node's execution-role credentials from IMDS.
# EC2 documents limiting IMDS to some local users with an iptables owner
# match in the OUTPUT chain
# (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instance-metadata-limiting-access.html,
# "Using iptables to limit access"; IPv6 endpoint [fd00:ec2::254]). A
# oneshot unit re-applies the rule on every boot, before the Slurm daemons;
# the helper checks (-C) before it inserts, so re-runs add nothing. Root keeps
# IMDS: slurmd, the SSM agent and this project's observability containers run
# as root (the config refuses root_only with slurm.accounting: slurmdbd runs as
# SlurmUser, which may not be root). Jobs (and enroot/pyxis containers, which
# run as the user in the host network) get no node credentials (docs/slurm.md).
# ---------------------------------------------------------------------------
readonly LCS_IMDS_UNIT="hyperpod-cdk-imds-root-only"
readonly LCS_IMDS_HELPER="/usr/local/sbin/${LCS_IMDS_UNIT}"

# The helper the unit runs: "add" (ExecStart) or "remove" (ExecStop).
lcs_imds_helper_text() {
  cat <<'HELPER'
#!/bin/bash
# Written by hyperpod-cdk (slurm.instance_metadata: root_only): only root (UID 0)
# reaches the instance metadata service. Idempotent: a rule is inserted only if
# it is not there, and removed only if it is.
set -u
action="${1:-add}"
status=0
apply() {
  local tool="$1" address="$2"
  local rule=(OUTPUT --destination "${address}" --match owner ! --uid-owner 0 --jump REJECT)
  if "${tool}" -w -C "${rule[@]}" 2>/dev/null; then
    [[ "${action}" == remove ]] && { "${tool}" -w -D "${rule[@]}" || status=1; }
  else
    [[ "${action}" == add ]] && { "${tool}" -w -I "${rule[@]}" || status=1; }
  fi
  return 0
}
apply iptables 169.254.169.254
# The IPv6 endpoint exists only when enabled on a Nitro instance in an IPv6
# subnet; the rule is harmless otherwise. No ip6tables: no IPv6 filtering here.
if command -v ip6tables >/dev/null 2>&1; then
  apply ip6tables fd00:ec2::254
fi
exit "${status}"
HELPER
}

lcs_imds_unit_text() {
  cat <<UNIT
[Unit]
Description=hyperpod-cdk: only root reaches the instance metadata service (slurm.instance_metadata: root_only)
DefaultDependencies=no
After=local-fs.target netfilter-persistent.service ufw.service firewalld.service
Before=network-pre.target slurmd.service slurmctld.service slurmdbd.service
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=${LCS_IMDS_HELPER} add
ExecStop=${LCS_IMDS_HELPER} remove

[Install]
WantedBy=multi-user.target
UNIT
}

# lcs_instance_metadata FILE ROOT: apply slurm.instance_metadata from FILE
# (instance_metadata.json, written next to the scripts only for root_only).
# Without the file (all_users), a unit left by an earlier run is removed.
lcs_instance_metadata() {
  local file="$1" root="$2" access="all_users"
  local unit_file="${root}/etc/systemd/system/${LCS_IMDS_UNIT}.service"
  if [[ -f "${file}" ]]; then
    access="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("access", ""))' "${file}")"
  fi
  case "${access}" in
    root_only) ;;
    all_users)
      if [[ -f "${unit_file}" ]]; then
        step instance-metadata "every local user may reach IMDS again (slurm.instance_metadata: all_users)"
        sys_systemctl disable --now "${LCS_IMDS_UNIT}.service"
        rm -f "${unit_file}" "${root}${LCS_IMDS_HELPER}"
      fi
      return 0
      ;;
    *) die "${file##*/}: access must be root_only or all_users, got '${access}'" ;;
  esac
  step instance-metadata "only root reaches the instance metadata service (slurm.instance_metadata: root_only)"
  mkdir -p "${root}/usr/local/sbin" "${root}/etc/systemd/system"
  lcs_imds_helper_text >"${root}${LCS_IMDS_HELPER}"
  chmod 0755 "${root}${LCS_IMDS_HELPER}"
  lcs_imds_unit_text >"${unit_file}"
  sys_systemctl daemon-reload
  sys_systemctl enable "${LCS_IMDS_UNIT}.service"
  # restart: a re-run picks up a changed helper; the helper itself adds no duplicate rule.
  sys_systemctl restart "${LCS_IMDS_UNIT}.service"
  log "non-root processes get REJECT from 169.254.169.254 (and fd00:ec2::254); jobs use their own AWS credentials"
}
