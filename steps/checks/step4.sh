#!/usr/bin/env bash
# Step 4: every proxy is ready and reaches both clusters, in the Phase 1 configuration.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
proxies_ready
modes=$(proxy_modes)
[ "$(grep -cx 'ORIGIN/PRIMARY_ONLY' <<<"$modes")" = 3 ] || fail "the proxies should run primary_cluster ORIGIN and read_mode PRIMARY_ONLY, they run: $(tr '\n' ' ' <<<"$modes")- set it back and restart them one at a time: zdm-lab proxy config set primary_cluster=ORIGIN read_mode=PRIMARY_ONLY && zdm-lab proxy rolling-update"
pass "all three proxies are ready, see Origin and Target UP, and run ORIGIN/PRIMARY_ONLY"
