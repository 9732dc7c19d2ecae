#!/usr/bin/env bash
# Intro: Origin and Target of this environment are up and accept logins, and
# the environment is in the step-1 state (nothing of an earlier run left).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
status=$("$ZDM_LAB" infra status 2>&1) || fail "zdm-lab infra status failed: $status"
for node in origin target; do
  state=$(awk -v n="$node" '$1 == n { print $3 }' <<<"$status")
  [ "$state" = up ] || fail "$node is ${state:-missing}, not up: wait for the setup in the host terminal, or run zdm-lab infra up"
done
fresh=$("$ZDM_LAB" infra reset --check 2>&1) || fail "$fresh"
pass "Origin ($ORIGIN_HOST) and Target ($TARGET_HOST) are up: you are ready for step 1"
