#!/usr/bin/env bash
# The course's setup, run by the lab engine whenever an environment starts
# (each start of the lab, and waking from idle sleep) and after a reset, with
# the learner's page in LAB_PAGE. On the first pages (intro, step 1, or no
# progress yet) it brings the environment to the step-1 state: Origin seeded
# and nothing more, Target without the lab's data, proxies stopped, their
# configuration at its defaults, no writer or drill record; its last line
# says what it had to undo and remove. Further along it resumes: both
# clusters keep their data, the proxies come back with the configuration
# they had and Prometheus as it was; the engine then starts the API and the
# writer loop again in their terminals (course.json "resume"; the loop as it
# was started, or not at all when the learner had stopped it). At finish,
# whose page shuts the environment down, nothing is started again.
# Its output is also kept in setup-progress.log, which the intro page follows.
set -o pipefail
# Run by hand in a terminal, its own `zdm-lab infra up` must start the nodes, not ask the lab to run this setup again.
unset LAB_SHELL_TOKEN
source "$(dirname "${BASH_SOURCE[0]}")/lab.sh"
page="${LAB_PAGE:-}"
{
  if [ -z "$page" ] || (( $(page_index "$page") <= $(page_index step1) )); then
    echo "Preparing environment $LAB_ENV: Origin on $ORIGIN_HOST, Target on $TARGET_HOST"
    echo "(the very first start also fetches Cassandra, which takes a few minutes)"
    # Shown as it goes (on stderr, which goes where stdout goes), and kept for the last line.
    if ! reset_out=$("$ZDM_LAB" infra reset 2>&1 | while IFS= read -r line || [ -n "$line" ]; do echo "$line" >&2; echo "$line"; done); then
      echo "Setup failed: see the lines above; try again with: zdm-lab infra reset"
      exit 1
    fi
    # What the reset undid, but not Origin's first seeding (a new environment has no zdmapp yet).
    undone=$(sed -n 's/.* is back to the start of step 1 (undone: \(.*\))$/\1/p' <<<"$reset_out" | tail -n 1 |
      awk -v RS='; ' '{ sub(/\n$/, "") } $0 != "" && $0 != "Origin has no zdmapp keyspace" { printf "%s%s", sep, $0; sep = "; " }')
    removed=""
    for f in "$WRITER_LOG" "$WRITER_STATE" "$MODE_FILE" "$LAB_ENV_DIR/drill.log"; do
      [ -e "$f" ] && rm -f "$f" && echo "removed $(basename "$f") of an earlier run" && removed="$removed${removed:+, }$(basename "$f")"
    done
    what="${undone:+undone: $undone}"
    [ -n "$removed" ] && what="$what${what:+; }removed $removed of an earlier run"
    echo "Ready for Step 1${what:+ ($what)}"
    exit 0
  fi
  if [ "$page" = finish ]; then
    echo "Restored at finish: nothing, since this page shuts the environment down (zdm-lab infra status shows what still runs)"
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
  if (( $(page_index "$page") < $(page_index finish) )); then
    api="the API ($(head -1 "$MODE_FILE" 2>/dev/null || echo ORIGIN) mode)"
    state="" started=""
    [ -s "$WRITER_STATE" ] && read -r state started < "$WRITER_STATE"
    case "$state" in
      running) restored="$restored; $api and the writer loop ($started) start again in their terminals" ;;
      paused) restored="$restored; $api starts again in its terminal, the writer loop stays stopped as the learner left it ($started)" ;;
      *) restored="$restored; $api and the writer loop start again in their terminals" ;;
    esac
  fi
  echo "Restored at $page: $restored"
} 2>&1 | tee "$LAB_ENV_DIR/setup-progress.log"
