#!/usr/bin/env bash
# The course's status command: the health of this environment's parts as a
# JSON list of {"name", "state": "up"|"starting"|"down", "detail"}, which the
# lab's instructor console shows per learner. Only cheap probes, so it can
# run every few seconds: a TCP connect to each node's CQL port, each proxy's
# readiness endpoint, and the sample API's /health.
source "$(dirname "${BASH_SOURCE[0]}")/lab.sh"
sep=''
entry() {
  printf '%s{"name":"%s","state":"%s"%s}' "$sep" "$1" "$2" "${3:+,\"detail\":\"$3\"}"
  sep=','
}
tcp_open() { timeout 1 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

printf '['
for node in "origin:$ORIGIN_HOST" "target:$TARGET_HOST"; do
  if tcp_open "${node#*:}" "$CQL_PORT"; then entry "${node%%:*}" up; else entry "${node%%:*}" down; fi
done
i=0
for host in $PROXY_HOSTS; do
  i=$((i + 1))
  code=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://$host:$METRICS_PORT/health/readiness")
  case "$code" in
    200) entry "proxy-$i" up ;;
    000) entry "proxy-$i" down ;;
    *) entry "proxy-$i" starting "readiness $code" ;;
  esac
done
health=$(curl -s -m 2 "$API/health")
if [ -n "$health" ]; then
  entry api up "$(sed -n 's/.*"mode":"\([A-Z_]*\)".*/\1 mode/p' <<<"$health")"
else
  entry api down
fi
printf ']\n'
