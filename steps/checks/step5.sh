#!/usr/bin/env bash
# Step 5: every proxy publishes its zdm_ metrics.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
for i in 11 12 13; do
  metrics=$(curl -s -m 5 "http://$NET.$i:14001/metrics")
  [ -n "$metrics" ] || fail "proxy $NET.$i does not answer on :14001/metrics: is it running? (zdm-lab proxy status)"
  grep -q '^zdm_proxy_request_duration_seconds_count{type="writes"}' <<<"$metrics" || fail "proxy $NET.$i answers, but without the zdm_ request metrics"
done
pass "all three proxies publish their zdm_ metrics on port 14001"
