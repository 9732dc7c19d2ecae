#!/usr/bin/env bash
# Step 5: every proxy publishes its zdm_ metrics.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
for host in $PROXY_HOSTS; do
  metrics=$(curl -s -m 5 "http://$host:$METRICS_PORT/metrics")
  [ -n "$metrics" ] || fail "proxy $host does not answer on :$METRICS_PORT/metrics: start the proxies that are down with zdm-lab proxy deploy (zdm-lab proxy status shows which)"
  grep -q '^zdm_proxy_request_duration_seconds_count{type="writes"}' <<<"$metrics" || fail "proxy $host answers on :$METRICS_PORT, but without the zdm_ request metrics: restart the proxies one at a time with zdm-lab proxy rolling-update"
done
pass "all three proxies publish their zdm_ metrics on port $METRICS_PORT"
