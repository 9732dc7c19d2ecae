#!/usr/bin/env bash
# Shows the environment's setup as it happens, and returns once it is done.
source "$(dirname "${BASH_SOURCE[0]}")/lab.sh"
log="$LAB_ENV_DIR/setup-progress.log"
for _ in $(seq 20); do [ -f "$log" ] && break; sleep 0.5; done
if [ ! -f "$log" ]; then
  echo "No setup is running for environment $LAB_ENV. Run it with: zdm-lab infra up (the lab brings the environment to where you are in the course)"
  exit 0
fi
echo "(following the environment's setup; Ctrl-C stops following, not the setup)"
tail -n +1 -f "$log" &
tail_pid=$!
trap 'kill "$tail_pid" 2>/dev/null; exit 0' INT
until grep -qE '^(Ready for Step 1|Restored at|Setup failed)' "$log"; do sleep 0.5; done
sleep 0.3
kill "$tail_pid" 2>/dev/null
wait "$tail_pid" 2>/dev/null
exit 0
