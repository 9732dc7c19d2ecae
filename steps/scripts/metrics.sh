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
# The table's rows: the three proxies' metrics in one curl, each followed by a line "@@ URL CODE", read
# by one awk. The view runs for most of the course in every learner's terminal, so it keeps to two
# processes every 2 s.
urls=()
for host in $PROXY_HOSTS; do urls+=("http://$host:$METRICS_PORT/metrics"); done
rows() {
  curl -s -m 2 -w '\n@@ %{url_effective} %{http_code}\n' "${urls[@]}" | awk '
    index($0, "zdm_proxy_request_duration_seconds_count") == 1 {
      if (index($0, "type=\"writes\"")) writes += $NF
      else if (index($0, "type=\"reads_origin\"")) origin += $NF
      else if (index($0, "type=\"reads_target\"")) target += $NF
    }
    index($0, "zdm_async_request_duration_seconds_count") == 1 { async += $NF }
    index($0, "zdm_proxy_failed_writes_total") == 1 { failed += $NF }
    /^@@ / {
      split($2, url, "[/:]")
      if ($3 != "200") printf "%-12s %s\n", url[4], "not answering"
      else printf "%-12s %8d %13d %13d %12d %14d\n", url[4], writes, origin, target, async, failed
      writes = origin = target = async = failed = 0
    }'
}
# Waits without starting a process (a read that times out on a pipe nothing writes to).
exec {nap_fd}<> <(:)
while true; do
  if [ -n "$once" ]; then printf '%(%T)T  requests handled by each ZDM proxy since it started\n' -1
  else
    printf '\033[H\033[2J'
    printf '%(%T)T  requests handled by each ZDM proxy since it started   (Ctrl-C stops)\n' -1
  fi
  printf '%-12s %8s %13s %13s %12s %14s\n' proxy writes reads:Origin reads:Target 'async reads' 'failed writes'
  rows
  [ -n "$once" ] && exit 0
  read -rt 2 -u "$nap_fd" || true
done
