# Sourced by the course's scripts and checks: how to reach the zdm-lab
# command, and where this environment's components are. The lab engine gives
# every shell LAB_ENV (the environment number), LAB_ENV_DIR (its working
# folder) and zdm-lab on the PATH; the addresses come from `zdm-lab env
# --shell` (ORIGIN_HOST, TARGET_HOST, CQL_PORT, PROXY_HOSTS, METRICS_PORT,
# API_URL, PROMETHEUS_URL), so no script of the course writes one.
LAB_ENV="${LAB_ENV:-1}"
LAB_ENV_DIR="${LAB_ENV_DIR:-$PWD}"
MODE_FILE="$LAB_ENV_DIR/client-connection-mode"
WRITER_LOG="$LAB_ENV_DIR/writer.log"
# The writer loop as it was last started ("running PHASE [OPTIONS]"), or "paused …" after Ctrl-C.
WRITER_STATE="$LAB_ENV_DIR/writer.loop"
REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if command -v zdm-lab >/dev/null 2>&1; then ZDM_LAB=zdm-lab; else ZDM_LAB="$REPO_DIR/bin/zdm-lab"; fi
export LAB_ENV
addresses=$("$ZDM_LAB" env --shell --env "$LAB_ENV") || { echo "✘ zdm-lab env --shell failed: $addresses" >&2; exit 1; }
eval "$addresses"
# SAMPLE_API_URL points the scripts at an API elsewhere (the tests use it).
API="${SAMPLE_API_URL:-$API_URL}"

# The course's pages in order (as in course.json), for scripts that act on
# where the learner is: page_index PAGE prints its place, -1 for none.
PAGES=(intro step1 step2 step3 step4 step5 step6 step7 step8 drill step9 rollback forward step10 cleanup finish)
page_index() {
  local i
  for i in "${!PAGES[@]}"; do [ "${PAGES[$i]}" = "$1" ] && { echo "$i"; return; }; done
  echo -1
}
