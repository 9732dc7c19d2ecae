#!/usr/bin/env bash
# Step 5: every proxy publishes its zdm_ metrics.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
for host in $PROXY_HOSTS; do
  metrics=$(curl -s -m 5 "http://$host:$METRICS_PORT/metrics")
  [ -n "$metrics" ] || fail "proxy $host does not answer on :$METRICS_PORT/metrics: is it running? (zdm-lab proxy status)"
  grep -q '^zdm_proxy_request_duration_seconds_count{type="writes"}' <<<"$metrics" || fail "proxy $host answers, but without the zdm_ request metrics"
done
pass "all three proxies publish their zdm_ metrics on port $METRICS_PORT"
