#!/usr/bin/env bash
# Helpers for the HyperPod EKS lifecycle scripts. Sourced by on_create.sh;
# defines functions only and changes no state when sourced.
#
# The generic helpers (log, step, die, run, the settings file, the ERR trap,
# sys_* wrappers and their test seams, wait_for_mount) are in lcs_common.sh,
# which HyperPodLifecycleScripts uploads next to this file (its source is
# lifecycle_scripts/common/). What is left here is specific to moving the
# containerd and kubelet data.

# shellcheck source-path=SCRIPTDIR source=../common/lcs_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lcs_common.sh" ||
  { echo "lcs_common.sh must sit next to lib.sh (upload lifecycle_scripts/common/ into the same prefix)" >&2; return 1; }

# dir_is_empty PATH: PATH is a directory with no entries (dotfiles included).
dir_is_empty() {
  [[ -d "$1" ]] && [[ -z "$(find "$1" -mindepth 1 -maxdepth 1 -print -quit)" ]]
}

# empty_dir PATH: remove everything inside PATH but keep PATH itself (it is
# about to become a mount point). Never crosses into another file system.
empty_dir() {
  find "$1" -mindepth 1 -maxdepth 1 -exec rm -rf --one-file-system -- {} +
}

# count_entries PATH: number of files, directories and links under PATH.
count_entries() {
  find "$1" | wc -l
}

# paths_in_use MOUNTS_FILE PATH: print mount table lines that reference a
# path strictly below PATH (a mount point inside it, or an overlay whose
# lowerdir/upperdir lives there). Such data must not be moved.
paths_in_use() {
  local mounts_file="$1" path="$2"
  [[ -r "${mounts_file}" ]] || return 0
  grep -F -- "${path}/" "${mounts_file}" || true
}
