#!/usr/bin/env bash
# Step 3: three ZDM proxies are running and ready.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
proxies_ready
read -ra hosts <<<"$PROXY_HOSTS"
list=$(printf '%s, ' "${hosts[@]:0:${#hosts[@]}-1}")
pass "three ZDM proxies are ready on ${list%, } and ${hosts[-1]}"
