#!/usr/bin/env bash
# Step 9 (Phase 4): every proxy has Target as its primary cluster, and reads are no longer copied to Origin.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
proxies_run 'TARGET/PRIMARY_ONLY' "- all three need primary_cluster TARGET and read_mode PRIMARY_ONLY: set both and run zdm-lab proxy rolling-update"
pass "all three proxies have Target as primary with read_mode PRIMARY_ONLY: reads are now answered by Target alone"
