#!/usr/bin/env bash
# The course's saved states (course.json "states"): what an environment is at
# the start of a page, saved once by the autopilot and restored into any
# environment by a reset to that page, instead of playing every page before it.
#
#   state.sh save DIR      the writer loop's record (writer.log, writer.loop),
#                          the drill's, the API's mode (its first line only:
#                          the login is the environment's own), then both
#                          clusters' rows and the proxies' settings
#                          (zdm-lab infra state save). Refused while the
#                          loop's record holds a failed request: such a state
#                          could never end in a clean proof.
#   state.sh restore DIR   the same back, checked line by line (a state is
#                          shared by every environment of the class), with
#                          the API's mode file written with this environment's
#                          login for that mode. The proxies stay stopped: the
#                          setup that follows brings them back, with the API
#                          and the loop, as after a restart of the lab.
#
# The record is copied before the clusters are read: a write the record holds
# was acknowledged before, so it is in the saved rows, and the proof at the
# clean-up page stays exact.
set -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lab.sh"
action=$1
dir=$2
[ -n "$dir" ] && [ -d "$dir" ] || { echo "usage: state.sh save|restore DIR (an existing folder)" >&2; exit 2; }
# One line of each file, as the course's scripts write it.
LOG_LINE='^([A-Za-z][A-Za-z0-9_]*-[0-9]+|read|update) [0-9]{3}$'
LOOP_LINE='^(running|paused) [A-Za-z][A-Za-z0-9_]*( --mode (ORIGIN|ZDM_PROXY|TARGET))?( --also-update [A-Za-z][A-Za-z0-9_-]*)?$'
MODES='^(ORIGIN|ZDM_PROXY|TARGET)$'

case "$action" in
  save)
    if [ -s "$WRITER_LOG" ] && awk '$2 != 200 { bad = 1 } END { exit !bad }' "$WRITER_LOG"; then
      echo "state.sh: not saved, the writer loop's record holds a failed request: $(awk '$2 != 200 { print; exit }' "$WRITER_LOG")" >&2
      exit 1
    fi
    for f in "$WRITER_LOG" "$WRITER_STATE" "$LAB_ENV_DIR/drill.log"; do
      [ -e "$f" ] && cp "$f" "$dir/$(basename "$f")"
    done
    [ -s "$MODE_FILE" ] && head -n 1 "$MODE_FILE" > "$dir/mode"
    "$ZDM_LAB" infra state save "$dir/infra.json"
    ;;
  restore)
    [ -s "$dir/infra.json" ] || { echo "state.sh: $dir holds no infra.json" >&2; exit 1; }
    # Prometheus runs only where the page expects it: the setup that follows starts it again there.
    "$ZDM_LAB" monitoring down >/dev/null 2>&1 || true
    for name in writer.log drill.log; do
      [ -e "$dir/$name" ] || continue
      bad=$(grep -nvE "$LOG_LINE" "$dir/$name" | head -n 1)
      [ -z "$bad" ] || { echo "state.sh: $dir/$name:${bad%%:*}: not a line of the writer's record: ${bad#*:}" >&2; exit 1; }
    done
    if [ -e "$dir/writer.loop" ]; then
      grep -qE "$LOOP_LINE" "$dir/writer.loop" && [ "$(wc -l < "$dir/writer.loop")" -le 1 ] || { echo "state.sh: $dir/writer.loop: not a loop as writer.sh records it" >&2; exit 1; }
    fi
    mode=""
    if [ -e "$dir/mode" ]; then
      mode=$(head -n 1 "$dir/mode")
      [[ "$mode" =~ $MODES ]] || { echo "state.sh: $dir/mode: not a mode of the API: $mode" >&2; exit 1; }
    fi
    "$ZDM_LAB" infra state restore "$dir/infra.json" || exit 1
    rm -f "$WRITER_LOG" "$WRITER_STATE" "$MODE_FILE" "$LAB_ENV_DIR/drill.log"
    for name in writer.log writer.loop drill.log; do
      [ -e "$dir/$name" ] && cp "$dir/$name" "$LAB_ENV_DIR/$name"
    done
    case "$mode" in
      ORIGIN) printf '%s\n' ORIGIN "username=$ORIGIN_USERNAME" "password=$ORIGIN_PASSWORD" > "$MODE_FILE" ;;
      ZDM_PROXY | TARGET) printf '%s\n' "$mode" "username=$TARGET_USERNAME" "password=$TARGET_PASSWORD" > "$MODE_FILE" ;;
    esac
    echo "state restored from $dir${mode:+ (mode of the API: $mode)}"
    ;;
  *)
    echo "usage: state.sh save|restore DIR" >&2
    exit 2
    ;;
esac
