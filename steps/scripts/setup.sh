#!/usr/bin/env bash
# The course's setup, run by the lab engine whenever an environment starts
# (each start of the lab) and after a reset, with the learner's page in
# LAB_PAGE. On the first pages (intro, step 1, or no progress yet) it brings
# the environment to the step-1 state: Origin seeded and nothing more, Target
# without the lab's data, proxies stopped, their configuration at its
# defaults, no writer or drill record; it says what it had to undo. Further along it
# resumes: both clusters keep their data, the proxies come back with the
# configuration they had and Prometheus as it was; the engine then starts the
# API and the writer loop again in their terminals (course.json "resume").
# Its output is also kept in setup-progress.log, which the intro page follows.
set -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lab.sh"
page="${LAB_PAGE:-}"
{
  if [ -z "$page" ] || (( $(page_index "$page") <= $(page_index step1) )); then
    echo "Preparing environment $LAB_ENV: Origin on $ORIGIN_HOST, Target on $TARGET_HOST"
    echo "(the very first start also fetches Cassandra, which takes a few minutes)"
    if ! "$ZDM_LAB" infra reset; then
      echo "Setup failed: see the lines above; try again with: zdm-lab infra reset"
      exit 1
    fi
    for f in "$WRITER_LOG" "$MODE_FILE" "$LAB_ENV_DIR/drill.log"; do
      [ -e "$f" ] && rm -f "$f" && echo "removed $(basename "$f") of an earlier run"
    done
    echo "Ready for Step 1"
    exit 0
  fi
  echo "Resuming environment $LAB_ENV where the learner is, at $page"
  "$ZDM_LAB" infra up || { echo "Setup failed: see the lines above; try again with: zdm-lab infra up"; exit 1; }
  restored="Origin and Target with their data"
  # Pages after the one that deploys the proxies (step 3) expect them; after step 5, Prometheus too.
  if (( $(page_index "$page") > $(page_index step3) )); then
    "$ZDM_LAB" proxy deploy || { echo "Setup failed: the proxies did not come back; try again with: zdm-lab proxy deploy"; exit 1; }
    settings=$("$ZDM_LAB" proxy config show | awk -F'"' '$2 == "primary_cluster" || $2 == "read_mode" { printf "%s%s: %s", sep, $2, $4; sep = ", " }')
    restored="$restored, the three proxies ($settings)"
  fi
  if (( $(page_index "$page") > $(page_index step5) )); then
    "$ZDM_LAB" monitoring up >/dev/null && restored="$restored, Prometheus"
  fi
  if (( $(page_index "$page") < $(page_index cleanup) )); then
    restored="$restored; the API ($(head -1 "$MODE_FILE" 2>/dev/null || echo ORIGIN) mode) and the writer loop start again in their terminals"
  fi
  echo "Restored at $page: $restored"
} 2>&1 | tee "$LAB_ENV_DIR/setup-progress.log"
