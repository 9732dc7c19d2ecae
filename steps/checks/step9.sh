#!/usr/bin/env bash
# Step 9 (Phase 4): every proxy has Target as its primary cluster.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
proxies_run 'TARGET/.*' "- all three need primary_cluster TARGET: set it and run zdm-lab proxy rolling-update"
pass "all three proxies have Target as primary: reads are now answered by Target"
