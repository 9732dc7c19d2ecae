#!/usr/bin/env bash
# Step 3: three ZDM proxies are running and ready.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
proxies_ready
pass "three ZDM proxies are ready on ${PROXY_HOSTS// /, }"
