#!/usr/bin/env bash
# Step 6 (Phase 1): the API goes through the proxies, and a write lands on both clusters.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
api_mode_is ZDM_PROXY
status=$(fresh_write) || exit 1
grep -qx "$status" <<<"$(statuses origin lab-check)" || fail "a write through the proxies ($status) is missing on Origin"
grep -qx "$status" <<<"$(statuses target lab-check)" || fail "a write through the proxies ($status) reached Origin but not Target"
pass "the API writes through the ZDM proxies, and a fresh write ($status) is on Origin and on Target"
