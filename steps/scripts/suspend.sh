#!/usr/bin/env bash
# The course's suspend, run when an idle environment is put to sleep, once
# its terminals (the API, the writer loop) have ended: Prometheus stops, and
# `infra stop` stops the proxies and both nodes, keeping their data (on a
# backend that would lose a stopped node's data, the nodes keep running).
# When the learner is back, the setup brings the environment to their page
# again, as after a restart of the lab.
source "$(dirname "${BASH_SOURCE[0]}")/lab.sh"
"$ZDM_LAB" monitoring down >/dev/null 2>&1 || true
"$ZDM_LAB" infra stop 2>&1
