#!/usr/bin/env bash
# Step 6 (Phase 1): the API goes through the proxies, and a write lands on both clusters.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
api_mode_is ZDM_PROXY
status=$(fresh_write) || exit 1
grep -qx "$status" <<<"$(statuses origin lab-check)" || fail "a write through the API ($status) is missing on Origin: the API must run in ZDM_PROXY mode (write ZDM_PROXY into $MODE_FILE) with the proxies up (zdm-lab proxy status)"
grep -qx "$status" <<<"$(statuses target lab-check)" || fail "a write through the API ($status) reached Origin but not Target: is the API going through the proxies (ZDM_PROXY in $MODE_FILE), and does Target have the table of step 2? zdm-lab proxy logs 1 shows what the proxies saw"
pass "the API writes through the ZDM proxies, and a fresh write ($status) is on Origin and on Target"
