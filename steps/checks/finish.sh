#!/usr/bin/env bash
# Finish: the environment is shut down (no node and no proxy left running).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
status=$("$ZDM_LAB" infra status 2>&1) || fail "zdm-lab infra status failed: $status"
running=$(awk 'NR > 1 && $3 != "down" { print $1 }' <<<"$status" | tr '\n' ' ')
[ -z "$running" ] || fail "still running: ${running}- run zdm-lab infra down"
pass "everything is shut down: Origin, Target and the three proxies are stopped"
