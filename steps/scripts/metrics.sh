#!/usr/bin/env bash
# A small live view of the three proxies' metrics: how many writes, reads
# (answered by Origin or by Target) and background async reads each proxy
# has handled since it started, and how many writes failed. Refreshes every
# 2 s; Ctrl-C stops it. A rolling update restarts a proxy, and its counts
# start again from zero. With --once it prints the table once, below what
# the terminal already shows, and ends.
source "$(dirname "${BASH_SOURCE[0]}")/lab.sh"
once=""
[ "$1" = --once ] && once=1
trap 'echo; exit 0' INT TERM
sum() { awk -v name="$1" -v label="$2" 'index($0, name) == 1 && (label == "" || index($0, label)) { s += $NF } END { printf "%d", s }'; }
while true; do
  if [ -n "$once" ]; then echo "$(date +%T)  requests handled by each ZDM proxy since it started"
  else
    printf '\033[H\033[2J'
    echo "$(date +%T)  requests handled by each ZDM proxy since it started   (Ctrl-C stops)"
  fi
  printf '%-12s %8s %13s %13s %12s %14s\n' proxy writes reads:Origin reads:Target 'async reads' 'failed writes'
  for host in $PROXY_HOSTS; do
    m=$(curl -s -m 2 "http://$host:$METRICS_PORT/metrics")
    if [ -z "$m" ]; then printf '%-12s %s\n' "$host" 'not answering'; continue; fi
    printf '%-12s %8s %13s %13s %12s %14s\n' "$host" \
      "$(sum zdm_proxy_request_duration_seconds_count 'type="writes"' <<<"$m")" \
      "$(sum zdm_proxy_request_duration_seconds_count 'type="reads_origin"' <<<"$m")" \
      "$(sum zdm_proxy_request_duration_seconds_count 'type="reads_target"' <<<"$m")" \
      "$(sum zdm_async_request_duration_seconds_count '' <<<"$m")" \
      "$(sum zdm_proxy_failed_writes_total '' <<<"$m")"
  done
  [ -n "$once" ] && exit 0
  sleep 2
done
