#!/usr/bin/env bash
# Step 8 (Phase 3): every proxy sends a copy of each read to Target in the background.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
proxies_run 'ORIGIN/DUAL_ASYNC_ON_SECONDARY' "instead of ORIGIN/DUAL_ASYNC_ON_SECONDARY: set read_mode and run zdm-lab proxy rolling-update"
pass "all three proxies run read_mode DUAL_ASYNC_ON_SECONDARY with Origin still primary"
