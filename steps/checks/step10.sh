#!/usr/bin/env bash
# Step 10 (Phase 5): the API talks to Target directly; new writes no longer reach Origin.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
api_mode_is TARGET
status=$(fresh_write) || exit 1
grep -qx "$status" <<<"$(statuses target lab-check)" || fail "a fresh write ($status) is not on Target: Target may be down (zdm-lab infra status: zdm-lab infra up); then write TARGET and Target's login into the mode file as on this page, and check again"
grep -qx "$status" <<<"$(statuses origin lab-check)" && fail "a fresh write ($status) still reached Origin, so the API still goes through the proxies: write TARGET and Target's login into the mode file as on this page, and wait for 'now using TARGET' in the api terminal"
pass "the API writes straight to Target: a fresh write ($status) is on Target and not on Origin"
