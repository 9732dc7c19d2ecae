#!/usr/bin/env bash
# The course's reset: Prometheus (if the learner started it) and the proxies
# stopped, proxy YAML back to its defaults, both clusters back to the step-1
# data, and the API's mode file, the writer's records (writer.log,
# writer.loop) and the drill's removed. The lab engine runs setup again
# afterwards.
set -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lab.sh"
"$ZDM_LAB" monitoring down >/dev/null 2>&1 || true
"$ZDM_LAB" infra reset 2>&1 || exit 1
rm -f "$MODE_FILE" "$WRITER_LOG" "$WRITER_STATE" "$LAB_ENV_DIR/drill.log" "$LAB_ENV_DIR/setup-progress.log"
