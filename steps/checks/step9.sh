#!/usr/bin/env bash
# Step 9 (Phase 4): every proxy has Target as its primary cluster.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
proxies_ready
modes=$(proxy_modes)
[ "$(grep -c '^TARGET/' <<<"$modes")" = 3 ] ||
  fail "the proxies run $(sort -u <<<"$modes" | tr '\n' ' ')- all three need primary_cluster TARGET: set it and run zdm-lab proxy rolling-update"
pass "all three proxies have Target as primary: reads are now answered by Target"
