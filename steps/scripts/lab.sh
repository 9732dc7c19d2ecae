# Sourced by the course's scripts and checks: where this environment's
# components are, and how to reach the zdm-lab command. The lab engine gives
# every shell LAB_ENV (the environment number k, which owns 127.0.k.0/24),
# LAB_ENV_DIR (the environment's working folder) and zdm-lab on the PATH.
LAB_ENV="${LAB_ENV:-1}"
NET="127.0.${LAB_ENV}"
# SAMPLE_API_URL points the scripts at an API elsewhere (the tests use it).
API="${SAMPLE_API_URL:-http://${NET}.20:8000}"
LAB_ENV_DIR="${LAB_ENV_DIR:-$PWD}"
MODE_FILE="$LAB_ENV_DIR/client-connection-mode"
WRITER_LOG="$LAB_ENV_DIR/writer.log"
REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if command -v zdm-lab >/dev/null 2>&1; then ZDM_LAB=zdm-lab; else ZDM_LAB="$REPO_DIR/bin/zdm-lab"; fi
export LAB_ENV
