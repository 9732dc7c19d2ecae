#!/usr/bin/env bash
# The course's teardown, run when an instructor destroys an environment:
# Prometheus (if the learner started it), the proxies and both nodes are
# stopped. The lab engine deletes the environment's working folder itself.
source "$(dirname "${BASH_SOURCE[0]}")/lab.sh"
"$ZDM_LAB" monitoring down >/dev/null 2>&1 || true
"$ZDM_LAB" infra down 2>&1
