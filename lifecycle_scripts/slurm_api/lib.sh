#!/usr/bin/env bash
# Helpers for the API-driven Slurm lifecycle script. Sourced by on_create.sh;
# defines functions only. The generic helpers (log, step, die, run, settings,
# ERR trap, test seams) are in lcs_common.sh, uploaded next to this file from
# lifecycle_scripts/common/.

# shellcheck source-path=SCRIPTDIR source=../common/lcs_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lcs_common.sh" ||
  { echo "lcs_common.sh must sit next to lib.sh (upload lifecycle_scripts/common/ into the same prefix)" >&2; return 1; }
