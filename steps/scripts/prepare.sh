#!/usr/bin/env bash
# The course's prepare command, run once when the lab server starts, as the
# server's own user and before any environment's setup: Cassandra's jars,
# cqlsh and the zdm-proxy binary go into the lab's cache, which the
# environments (each its own account when the lab isolates them) only read.
set -o pipefail
exec "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/bin/zdm-lab" setup
