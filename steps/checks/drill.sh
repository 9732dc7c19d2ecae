#!/usr/bin/env bash
# The Phase 3 drill: with Target stopped the drill's requests failed for the client, and with
# Target back they succeed; a write Target refused failed for the client and was counted on
# Target, while the read's failed copy to Target was counted but never seen by the client; and
# the writer loop, paused meanwhile, has no failed request.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
DRILL_LOG="$LAB_ENV_DIR/drill.log"
[ -s "$DRILL_LOG" ] || fail "the drill has made no request yet: run the page's drill.sh blocks"
failed=$(awk '$1 ~ /^drill-/ && $2 != 200' "$DRILL_LOG" | wc -l)
(( failed > 0 )) || fail "no write of the drill failed: stop Target (zdm-lab node stop target) and run drill.sh while it is down"
# Not the proxies' readiness: they look at Target again on their own schedule, backing off, and may
# report it DOWN for a while after it is back. A write through them is the real test.
api_mode_is ZDM_PROXY
code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -X POST "$API/status/drill/check-$(date +%s%N)")
[ "$code" = 200 ] || fail "a write through the API fails (HTTP $code): start Target if it is still stopped (zdm-lab node start target); the driver reconnects within a few seconds of its return, then check again"
read -r _ _ _ on_target <<<"$(proxy_counts)"
async_failed=$(for host in $PROXY_HOSTS; do curl -s -m 2 "http://$host:$METRICS_PORT/metrics"; done | awk 'index($0, "zdm_async_requests_failed_total{") == 1 { s += $NF } END { printf "%d", s }')
(( on_target > 0 )) || fail "no write has failed on Target since the proxies started (zdm_proxy_failed_writes_total{failed_on=\"target\"} is 0): take the keyspace away from Target (zdm-lab cqlsh target -e 'DROP KEYSPACE IF EXISTS drill'), then run this page's blocks again from the one that creates it on Origin only"
(( async_failed > 0 )) || fail "no async read has failed since the proxies started: take the keyspace away from Target (zdm-lab cqlsh target -e 'DROP KEYSPACE IF EXISTS drill'), then run this page's blocks again from the one that creates it on Origin only"
"$ZDM_LAB" cqlsh target -e "SELECT id FROM drill.notes WHERE id = 1" 2>&1 | grep -q '^ *1$' || fail "drill.notes has no row 1 on Target: create the keyspace on Target and retry the write (the page's last host block)"
loop_failures
pass "the drill: $failed drill writes failed for the client while Target was down (or the driver was reconnecting), and writes succeed now it is back; a write Target refused failed for the client ($on_target counted on Target) while $async_failed failed async read(s) stayed invisible; the writer loop, paused meanwhile, has no failed request"
