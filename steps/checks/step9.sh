#!/usr/bin/env bash
# Step 9 (Phase 4): every proxy has Target as its primary cluster, reads are no longer copied to
# Origin, and the traffic shows it: a read through the API is answered by Target.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
proxies_run 'TARGET/PRIMARY_ONLY' "- all three need primary_cluster TARGET and read_mode PRIMARY_ONLY: set both and run zdm-lab proxy rolling-update"
api_mode_is ZDM_PROXY
read -r _ before _ _ <<<"$(proxy_counts)"
api_read
read -r origin target async _ <<<"$(proxy_counts)"
(( target > before )) || fail "the proxies have Target as primary, but a read through the API was not counted as answered by Target ($target before and after): see zdm-lab proxy status"
pass "all three proxies have Target as primary with read_mode PRIMARY_ONLY, and reads are answered by Target: $target since the proxies restarted, $async copied to Origin"
