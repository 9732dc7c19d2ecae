#!/usr/bin/env bash
# Step 10 (Phase 5): the API talks to Target directly; new writes no longer reach Origin.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
api_mode_is TARGET
status=$(fresh_write) || exit 1
grep -qx "$status" <<<"$(statuses target lab-check)" || fail "a fresh write ($status) is not on Target: the API must run in TARGET mode (write TARGET into $MODE_FILE, and watch the api terminal)"
grep -qx "$status" <<<"$(statuses origin lab-check)" && fail "a fresh write ($status) still reached Origin: is the API really connected to Target only?"
pass "the API writes straight to Target: a fresh write ($status) is on Target and not on Origin"
