#!/usr/bin/env bash
# The course's setup: brings the environment to "Ready for Step 1" (Origin
# seeded, Target empty, both accepting logins). Its output is also kept in
# setup-progress.log, which the intro page follows in the host terminal.
set -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lab.sh"
{
  echo "Preparing environment $LAB_ENV: Origin on $ORIGIN_HOST, Target on $TARGET_HOST"
  echo "(the very first start also fetches Cassandra, which takes a few minutes)"
  if "$ZDM_LAB" infra up; then
    echo "Ready for Step 1"
  else
    echo "Setup failed: see the lines above; try again with: zdm-lab infra up"
    exit 1
  fi
} 2>&1 | tee "$LAB_ENV_DIR/setup-progress.log"
