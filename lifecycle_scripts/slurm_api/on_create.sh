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
#      the cluster has FSx (waiting for HyperPod's mount), with their SSH key;
#   6. with slurm.containers: installs enroot + pyxis (and writes, on the
#      controller, a plugstack.conf that configless Slurm copies to every node)
#      and/or Docker;
#   7. with slurm.observability (slurm_observability.json next to it): runs the
#      node exporter everywhere, the DCGM exporter on GPU nodes and the EFA
#      exporter on compute nodes, plus an OpenTelemetry collector that
#      remote-writes their metrics to the platform's AMP workspace.
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
OBSERVABILITY_FILE="${SCRIPT_DIR}/slurm_observability.json"
RESOURCE_CONFIG="${HYPERPOD_LCS_RESOURCE_CONFIG:-${SAGEMAKER_RESOURCE_CONFIG_PATH:-/opt/ml/config/resource_config.json}}"
readonly PROFILE_FILE="/etc/profile.d/hyperpod-cdk-slurm.sh"
FSX_WAIT_SECONDS="${HYPERPOD_LCS_FSX_WAIT_SECONDS:-600}"
SLURM_CONF="${HYPERPOD_LCS_SLURM_CONF:-/opt/slurm/etc/slurm.conf}"
CONF_CACHE="${HYPERPOD_LCS_SLURMD_CONF_CACHE:-/var/spool/slurmd/conf-cache}"
# The versions AWS's install_enroot_pyxis.sh pins.
ENROOT_VERSION="${HYPERPOD_LCS_ENROOT_VERSION:-3.4.1}"
PYXIS_VERSION="${HYPERPOD_LCS_PYXIS_VERSION:-0.19.0}"
# The commit of tag v0.19.0 in github.com/NVIDIA/pyxis (git rev-parse 'v0.19.0^{commit}'): a tag can be
# moved, the commit cannot. Another HYPERPOD_LCS_PYXIS_VERSION needs its HYPERPOD_LCS_PYXIS_COMMIT.
PYXIS_COMMIT="${HYPERPOD_LCS_PYXIS_COMMIT:-e006b893e4b63303da154bf1800076dcd6a64bc9}"
# Current HyperPod DLAMIs ship pyxis here, registered in plugstack.conf with a direct
# `required` line, and enroot as a package; installing a second pyxis makes every srun fail
# with a duplicate SPANK option (AWS's install_enroot_pyxis.sh, "Detect whether the HyperPod
# DLAMI has already provisioned pyxis and/or enroot").
readonly DLAMI_PYXIS_SO="/opt/slurm/lib/slurm/spank_pyxis.so"
# Where pyxis' make install puts the SPANK plugin with prefix=/usr/local (older AMIs).
readonly LOCAL_PYXIS_SO="/usr/local/lib/slurm/spank_pyxis.so"
PYXIS_SO="${LOCAL_PYXIS_SO}"
export PATH="${PATH}:/opt/slurm/bin"
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
    # The user's primary group has GID = UID and the user's name. A group that already holds that
    # GID under another name (from the AMI, another tool or a manual change) would silently become
    # the new user's primary group, with whatever its members may read: stop instead.
    local group_entry
    if group_entry="$(getent group "${uid}")"; then
      [[ "${group_entry%%:*}" == "${name}" ]] ||
        die "group ${group_entry%%:*} already has GID ${uid}, the UID of ${name} in slurm.users; ${name} would join it as primary group: pick another UID or remove group ${group_entry%%:*}"
      log "group ${name} (${uid}) exists"
    else
      run groupadd --gid "${uid}" "${name}"
    fi
    run useradd --uid "${uid}" --gid "${uid}" --home-dir "${home}" --no-create-home --shell /bin/bash "${name}"
  fi
  # Root never writes inside a home it did not just create: on a shared FSx the user owns the
  # home and could plant a symlink (.ssh -> /root/.ssh, authorized_keys -> another user's file)
  # that root would follow. So this run writes the key only into a home it creates itself with
  # `mkdir` (which fails on anything already there, a dangling symlink included), while the home
  # is still root's and 0700, and hands it to the user last, one path at a time (no chown -R).
  # On FSx the first node creates the home; the others find it and leave it to its owner.
  local parent="${ROOT}${home%/*}" owner
  if [[ -L "${parent}" ]]; then
    die "${home%/*} is a symbolic link; refusing to create homes through it"
  fi
  mkdir -p "${parent}"
  # The homes directory must be root's and writable by root alone: otherwise another user could
  # create this user's home first, or swap it between the mkdir and the key write below.
  # (Root's: the owner of / on a node, of the fake root in the test harness.)
  if [[ "$(stat -c '%u' "${parent}")" != "$(stat -c '%u' "${ROOT:-/}")" ||
        -n "$(find "${parent}" -maxdepth 0 -perm /022)" ]]; then
    die "${home%/*} must belong to root and be writable by root alone (chown root; chmod 755); refusing to create homes in it"
  fi
  if ! mkdir -m 0700 "${ROOT}${home}" 2>/dev/null; then
    if [[ -L "${ROOT}${home}" ]]; then
      log "WARNING: ${home} is a symbolic link; left alone (user ${name} gets no key from slurm.users here)"
      return 0
    fi
    # Nothing inside an existing home is read either: the user could make authorized_keys a FIFO
    # (root's read would block every later OnCreate on this FSx) or a link to /dev/zero.
    owner="$(stat -c '%u' "${ROOT}${home}")"
    if [[ "${owner}" != "${uid}" ]]; then
      log "WARNING: ${home} belongs to UID ${owner}, not ${name} (${uid}); left alone"
    elif [[ -n "${key}" ]]; then
      log "${home} already exists: root does not rewrite the ssh_public_key from slurm.users there; ${name} keeps ~/.ssh/authorized_keys up to date"
    fi
    return 0
  fi
  if [[ -n "${key}" ]]; then
    mkdir -m 0700 "${ROOT}${home}/.ssh"
    (umask 077 && printf '%s\n' "${key}" >"${ROOT}${home}/.ssh/authorized_keys")
    run chown -h "${uid}:${uid}" "${ROOT}${home}/.ssh/authorized_keys"
    run chown -h "${uid}:${uid}" "${ROOT}${home}/.ssh"
  fi
  run chown -h "${uid}:${uid}" "${ROOT}${home}"
}

# --- containers: enroot + pyxis, Docker -------------------------------------
# Sources: NVIDIA/enroot releases (the .deb packages) and NVIDIA/pyxis README
# ("make install", then a plugstack.conf line "required .../spank_pyxis.so");
# AWS's base configuration installs both on HyperPod Slurm nodes
# (awslabs/awsome-distributed-ai 1.architectures/5.sagemaker-hyperpod/
# LifecycleScripts/base-config/utils/install_enroot_pyxis.sh). Configless Slurm
# copies plugstack.conf from the controller to every slurmd but not the files it
# includes, and a wildcard include breaks there (awslabs/awsome-distributed-ai
# #428; aws-samples/sample-physical-ai-scaffolding-kit#5: pyxis silently not
# loaded on workers). So the controller's plugstack.conf names the plugin
# directly, and every node has the plugin at that path.
install_enroot_pyxis() {
  step enroot-pyxis "enroot and pyxis (the AMI's, else enroot ${ENROOT_VERSION} and pyxis ${PYXIS_VERSION})"
  if [[ -x "${ROOT}/usr/bin/enroot" ]]; then
    log "enroot is installed"
  else
    # The .debs are installed as root: only with a sha256 the config pinned (slurm.containers.
    # enroot_deb_sha256) for each file of this architecture. NVIDIA publishes no checksum file
    # with the release, so there is no default pin.
    local arch tmp name want got debs=()
    arch="$(dpkg --print-architecture)"
    for name in "enroot_${ENROOT_VERSION}-1_${arch}.deb" "enroot+caps_${ENROOT_VERSION}-1_${arch}.deb"; do
      want="$(python3 "${HELPER}" enroot-sha256 --nodes "${NODES_FILE}" --name "${name}")"
      if [[ ! "${want}" =~ ^[0-9a-f]{64}$ ]]; then
        log "enroot and pyxis not installed: no sha256 pinned for ${name} (slurm.containers.enroot_deb_sha256); it would be installed as root unverified. Pin both .debs of ${arch}, or use an AMI that has enroot"
        return 0
      fi
    done
    tmp="$(mktemp -d)"
    for name in "enroot_${ENROOT_VERSION}-1_${arch}.deb" "enroot+caps_${ENROOT_VERSION}-1_${arch}.deb"; do
      want="$(python3 "${HELPER}" enroot-sha256 --nodes "${NODES_FILE}" --name "${name}")"
      run curl -fsSL --retry 3 -o "${tmp}/${name}" \
        "https://github.com/NVIDIA/enroot/releases/download/v${ENROOT_VERSION}/${name}"
      got="$(sha256sum "${tmp}/${name}" | cut -d' ' -f1)"
      if [[ "${got}" != "${want}" ]]; then
        rm -rf "${tmp}"
        die "${name} has sha256 ${got}, not ${want} pinned in slurm.containers.enroot_deb_sha256; not installing it"
      fi
      debs+=("${tmp}/${name}")
    done
    run apt-get install -y squashfs-tools parallel fuse-overlayfs squashfuse "${debs[@]}"
    rm -rf "${tmp}"
  fi
  if [[ -f "${ROOT}${DLAMI_PYXIS_SO}" ]]; then
    PYXIS_SO="${DLAMI_PYXIS_SO}"
    log "pyxis comes with the AMI (${PYXIS_SO}); not building another"
  elif [[ -f "${ROOT}${PYXIS_SO}" ]]; then
    log "pyxis is installed (${PYXIS_SO})"
  else
    local src
    src="$(mktemp -d)"
    run git clone --quiet --depth 1 --branch "v${PYXIS_VERSION}" https://github.com/NVIDIA/pyxis.git "${src}/pyxis"
    local head
    head="$(git -C "${src}/pyxis" rev-parse HEAD)"
    if [[ "${head}" != "${PYXIS_COMMIT}" ]]; then
      rm -rf "${src}"
      die "pyxis tag v${PYXIS_VERSION} is at commit ${head}, not ${PYXIS_COMMIT}; not building it as root (set HYPERPOD_LCS_PYXIS_COMMIT with another version)"
    fi
    run make -C "${src}/pyxis" install prefix=/usr/local CPPFLAGS="-I/opt/slurm/include"
    rm -rf "${src}"
    [[ -f "${ROOT}${PYXIS_SO}" ]] || die "pyxis' make install did not produce ${PYXIS_SO}"
  fi
  if [[ "${NODE_TYPE}" == controller ]]; then
    write_plugstack
  else
    report_plugstack
  fi
}

write_plugstack() {
  local conf_dir plugstack line="required ${PYXIS_SO}"
  conf_dir="$(dirname "${ROOT}${SLURM_CONF}")"
  plugstack="${conf_dir}/plugstack.conf"
  if [[ -f "${plugstack}" ]] && grep -Eq '^[[:space:]]*required[[:space:]]+.*spank_pyxis\.so[[:space:]]*$' "${plugstack}"; then
    # One registration only: a second one makes srun fail with a duplicate SPANK option.
    log "plugstack.conf already loads pyxis: $(grep -E 'spank_pyxis\.so' "${plugstack}" | head -n 1)"
    return 0
  fi
  mkdir -p "${conf_dir}"
  if [[ -f "${plugstack}" ]]; then
    cp -p "${plugstack}" "${plugstack}.hyperpod-cdk.bak"
    # Keep other plugins, but drop include lines: configless nodes never see the included files.
    grep -v -E '^[[:space:]]*include[[:space:]]' "${plugstack}.hyperpod-cdk.bak" >"${plugstack}" || true
  fi
  printf '%s\n' "${line}" >>"${plugstack}"
  log "wrote ${plugstack}: ${line} (configless slurmd copies this file, not files it includes)"
  if scontrol ping >/dev/null 2>&1; then
    # Running slurmds fetch the changed configuration; nodes that start later get it at start.
    run scontrol reconfigure
  else
    log "slurmctld is not answering yet; it reads plugstack.conf when HyperPod starts it"
  fi
}

report_plugstack() {
  local cached="${ROOT}${CONF_CACHE}/plugstack.conf"
  if [[ -f "${cached}" ]] && grep -Eq "^[[:space:]]*required[[:space:]]+${PYXIS_SO//./\\.}[[:space:]]*$" "${cached}"; then
    log "configless plugstack.conf loads ${PYXIS_SO}; the plugin is installed here"
  else
    log "the controller's plugstack.conf has not reached this node yet; slurmd fetches it on the controller's reconfigure"
  fi
}

install_docker() {
  step docker "Docker Engine"
  # The Ubuntu docker.io package (and Docker's own docker-ce) install /usr/bin/docker.
  if [[ -x "${ROOT}/usr/bin/docker" ]]; then
    log "docker is installed"
  else
    run apt-get install -y docker.io
  fi
  sys_systemctl enable docker
  unit_is_active docker || sys_systemctl start docker
  # The docker group is root on the node: users join it only when the config says so.
  if [[ "${1:-}" != docker_users_are_root ]]; then
    log "slurm.users are not added to the docker group (slurm.containers.docker_users_are_root is off)"
    return 0
  fi
  local name
  while IFS=$'\t' read -r name _; do
    [[ -n "${name}" ]] || continue
    if ! id -nG "${name}" 2>/dev/null | tr ' ' '\n' | grep -Fxq docker; then
      run usermod -aG docker "${name}"
    fi
  done <<<"$(python3 "${HELPER}" users --nodes "${NODES_FILE}")"
}

containers() {
  local wanted
  wanted="$(python3 "${HELPER}" containers --nodes "${NODES_FILE}")"
  case " ${wanted} " in *" enroot_pyxis "*) install_enroot_pyxis ;; esac
  case " ${wanted} " in
    *" docker docker_users_are_root "*) install_docker docker_users_are_root ;;
    *" docker "*) install_docker ;;
  esac
  return 0
}

# --- observability: exporters and collector ---------------------------------
# Facts from AWS's own Slurm observability scripts (awslabs/awsome-distributed-ai
# 1.architectures/5.sagemaker-hyperpod/LifecycleScripts/base-config/observability/
# @95b939cd, 2026-07-23): install_observability.py runs the node exporter on
# every node, the DCGM and EFA exporters on compute nodes (DCGM only where
# nvidia-smi works), and an OTel collector on every node whose config
# (otel_config/config-*-template.yaml) scrapes localhost:9100 (node), :9400
# (DCGM), :9109 (EFA) every 15s with a prometheus receiver and sends them with
# a prometheusremotewrite exporter authenticated by the sigv4auth extension
# (service aps, the instance role's credentials). The images and tags are the
# ones install_node_exporter.sh, install_dcgm_exporter.sh,
# install_efa_exporter.sh and install_otel_collector.sh pull from HyperPod's
# ECR registry (account 602401143452). They are pinned by tag: their digests
# are not published, so no digest is claimed here. The execution role's EcrAuth
# and EcrPull statements (cluster/execution_role.py) allow the pull.
readonly OBS_REGISTRY_ACCOUNT="602401143452"
readonly NODE_EXPORTER_TAG="v1.9.1"
readonly DCGM_EXPORTER_TAG="4.1.1-4.0.4-ubi9"
readonly EFA_EXPORTER_TAG="1.0.0"
readonly OTEL_COLLECTOR_TAG="v1754424030352"
readonly NODE_EXPORTER_PORT=9100 DCGM_EXPORTER_PORT=9400 EFA_EXPORTER_PORT=9109
readonly OBS_DIR="/etc/hyperpod-cdk/observability"
readonly SCRAPE_INTERVAL="15s"

# The DCGM fields exported (dcgm-exporter's "field, type, help" CSV). The names
# come from AWS's dcgm-metrics-basic.csv (same folder), plus
# DCGM_FI_DEV_ECC_DBE_VOL_TOTAL from AWS's HyperPod alert rules; the Slurm alert
# rules (monitoring/assets/slurm-alert-rules.yaml) read these.
write_dcgm_fields() {
  printf '%s\n' \
    "# Written by hyperpod-cdk on_create.sh: the DCGM fields dcgm-exporter exports." \
    "DCGM_FI_DEV_GPU_UTIL, gauge, GPU utilization (in %)." \
    "DCGM_FI_DEV_FB_USED, gauge, Framebuffer memory used (in MiB)." \
    "DCGM_FI_DEV_FB_FREE, gauge, Framebuffer memory free (in MiB)." \
    "DCGM_FI_DEV_GPU_TEMP, gauge, GPU temperature (in C)." \
    "DCGM_FI_DEV_POWER_USAGE, gauge, Power draw (in W)." \
    "DCGM_FI_DEV_XID_ERRORS, gauge, Value of the last XID error encountered." \
    "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL, counter, Total number of double-bit volatile ECC errors." \
    "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS, counter, Number of remapped rows for uncorrectable errors." \
    "DCGM_FI_DEV_ROW_REMAP_FAILURE, gauge, Whether remapping of rows has failed." \
    "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE, gauge, Ratio of cycles the tensor (HMMA) pipe is active." \
    >"${ROOT}${OBS_DIR}/dcgm-metrics.csv"
}

# scrape_job NAME PORT: one prometheus-receiver job for a local exporter,
# labelled with this node's Slurm name, group and role.
scrape_job() {
  printf '%s\n' \
    "        - job_name: $1" \
    "          scrape_interval: ${SCRAPE_INTERVAL}" \
    "          static_configs:" \
    "            - targets: ['localhost:$2']" \
    "              labels: {instance_group: '${NODE_GROUP}', slurm_node_type: '${NODE_TYPE}'}" \
    "          relabel_configs:" \
    "            - target_label: instance" \
    "              replacement: '${NODE_NAME}'"
}

# write_collector_config URL REGION JOB:PORT...
write_collector_config() {
  local url="$1" region="$2" job
  shift 2
  {
    echo "# Written by hyperpod-cdk on_create.sh (slurm.observability): local exporters to AMP."
    echo "extensions:"
    echo "  sigv4auth:"
    echo "    region: ${region}"
    echo "    service: aps"
    echo "receivers:"
    echo "  prometheus:"
    echo "    config:"
    echo "      scrape_configs:"
    for job in "$@"; do
      scrape_job "${job%%:*}" "${job##*:}"
    done
    echo "processors:"
    echo "  batch:"
    echo "    timeout: 10s"
    echo "    send_batch_size: 1024"
    echo "exporters:"
    echo "  prometheusremotewrite:"
    echo "    endpoint: ${url}"
    echo "    auth:"
    echo "      authenticator: sigv4auth"
    echo "service:"
    echo "  extensions: [sigv4auth]"
    echo "  pipelines:"
    echo "    metrics:"
    echo "      receivers: [prometheus]"
    echo "      processors: [batch]"
    echo "      exporters: [prometheusremotewrite]"
  } >"${ROOT}${OBS_DIR}/collector.yaml"
}

# run_container NAME IMAGE DOCKER-ARGS... -- IMAGE-ARGS...: (re)create one
# restart-always container, so a re-run picks up a new tag or config.
run_container() {
  local name="$1" image="$2" docker_args=() arg
  shift 2
  while (($#)); do
    arg="$1"
    shift
    [[ "${arg}" == "--" ]] && break
    docker_args+=("${arg}")
  done
  docker rm -f "${name}" >/dev/null 2>&1 || true
  run docker run -d --restart always --name "${name}" "${docker_args[@]}" "${image}" "$@"
}

observability() {
  [[ -f "${OBSERVABILITY_FILE}" ]] || return 0
  local listing url region registry jobs=()
  listing="$(python3 "${HELPER}" observability --nodes "${NODES_FILE}" --observability "${OBSERVABILITY_FILE}")"
  IFS=$'\t' read -r url region <<<"${listing}"
  step observability "exporters and an OpenTelemetry collector writing to ${url}"
  if [[ ! -x "${ROOT}/usr/bin/docker" ]]; then
    install_docker
    step observability "exporters and collector (Docker installed)"
  fi
  registry="${OBS_REGISTRY_ACCOUNT}.dkr.ecr.${region}.amazonaws.com"
  log "+ aws ecr get-login-password --region ${region} | docker login --username AWS --password-stdin ${registry}"
  LCS_CMD="docker login ${registry}"
  aws ecr get-login-password --region "${region}" | docker login --username AWS --password-stdin "${registry}"
  LCS_CMD=""
  mkdir -p "${ROOT}${OBS_DIR}"
  run_container hyperpod-node-exporter "${registry}/hyperpod/node_exporter:${NODE_EXPORTER_TAG}" \
    --net host --pid host -v "/:/host:ro,rslave" -- \
    --path.rootfs=/host "--web.listen-address=:${NODE_EXPORTER_PORT}"
  jobs+=("node_exporter:${NODE_EXPORTER_PORT}")
  if [[ "${NODE_TYPE}" == compute ]]; then
    if nvidia-smi >/dev/null 2>&1; then
      write_dcgm_fields
      run_container hyperpod-dcgm-exporter "${registry}/hyperpod/dcgm_exporter:${DCGM_EXPORTER_TAG}" \
        --gpus all --net host --cap-add SYS_ADMIN -v "${OBS_DIR}:${OBS_DIR}:ro" -- \
        -f "${OBS_DIR}/dcgm-metrics.csv"
      # dcgm-exporter listens on :9400 unless told otherwise, where AWS's config scrapes it.
      jobs+=("dcgm_exporter:${DCGM_EXPORTER_PORT}")
    else
      log "no NVIDIA GPU answers nvidia-smi: no DCGM exporter on this node"
    fi
    run_container hyperpod-efa-exporter "${registry}/hyperpod/efa_exporter:${EFA_EXPORTER_TAG}" \
      --net host --pid host -v "/:/host:ro,rslave" -- \
      --path.rootfs=/host "--web.listen-address=:${EFA_EXPORTER_PORT}"
    jobs+=("efa_exporter:${EFA_EXPORTER_PORT}")
  fi
  write_collector_config "${url}" "${region}" "${jobs[@]}"
  run_container hyperpod-otel-collector "${registry}/hyperpod/otel_collector:${OTEL_COLLECTOR_TAG}" \
    --net host -v "${OBS_DIR}:/etc/otel:ro" -- --config=/etc/otel/collector.yaml
  log "scraping ${jobs[*]} every ${SCRAPE_INTERVAL}"
}

main() {
  lcs_setup_logging "${LOG_FILE}"
  preflight
  identify_node
  lcs_instance_metadata "${SCRIPT_DIR}/instance_metadata.json" "${ROOT}"
  report_shared_storage
  user_environment
  create_users
  containers
  observability
  step finished "on_create.sh finished: ${NODE_TYPE} node ${NODE_NAME} of group ${NODE_GROUP}"
}

main "$@"
