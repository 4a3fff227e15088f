#!/usr/bin/env bash
# Helpers for the HyperPod Slurm lifecycle scripts. Sourced by on_create.sh;
# defines functions only and changes nothing when sourced.
#
# Every helper the Slurm script needs is generic (log, step, die, run, the
# settings file, the ERR trap, sys_* wrappers and their test seams) and lives
# in lcs_common.sh, which HyperPodLifecycleScripts uploads next to this file
# (its source is lifecycle_scripts/common/). The Slurm steps themselves are
# in on_create.sh. Helpers only the Slurm script needs belong here.

# shellcheck source-path=SCRIPTDIR source=../common/lcs_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lcs_common.sh" ||
  { echo "lcs_common.sh must sit next to lib.sh (upload lifecycle_scripts/common/ into the same prefix)" >&2; return 1; }
