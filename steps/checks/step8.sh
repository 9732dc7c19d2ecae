#!/usr/bin/env bash
# Step 8 (Phase 3): every proxy sends a copy of each read to Target in the background, and the
# traffic shows it: a read through the API is answered by Origin and counted as an async read too.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
proxies_run 'ORIGIN/DUAL_ASYNC_ON_SECONDARY' "instead of ORIGIN/DUAL_ASYNC_ON_SECONDARY: set read_mode and run zdm-lab proxy rolling-update"
api_mode_is ZDM_PROXY
api_read
# The async read is counted when Target's answer comes, a moment after the application has its own.
for _ in 1 2 3 4 5 6 7 8 9 10; do
  read -r origin target async failed <<<"$(proxy_counts)"
  (( async > 0 )) && break
  sleep 0.5
done
(( async > 0 )) || fail "the proxies run DUAL_ASYNC_ON_SECONDARY, but a read through the API was not sent to Target in the background (0 async reads counted, $origin answered by Origin): is Target up? zdm-lab infra status"
pass "all three proxies run read_mode DUAL_ASYNC_ON_SECONDARY with Origin still primary, and the reads go to Target too: $async async reads counted on Target, $origin reads answered by Origin since the proxies restarted"
