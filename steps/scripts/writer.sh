#!/usr/bin/env bash
# The writer loop of the course: every 0.2 s it posts a new status for user
# eva through the sample API, named <prefix>-<n> (phase0-1, phase0-2, …), and
# once a second it reads eva's latest status back. Each failure is printed
# the moment it happens, with a tally every 25 writes; Ctrl-C ends the loop
# with a summary. Every write and its HTTP answer is appended to writer.log,
# so the cleanup page can prove that no accepted write was lost.
source "$(dirname "${BASH_SOURCE[0]}")/lab.sh"
prefix="${1:?usage: writer.sh PREFIX   (for example: writer.sh phase0)}"
n=0
failed=0
trap 'echo; echo "$prefix: $n writes, $failed failed requests"; exit 0' INT TERM
echo "writing a status for eva every 0.2 s through $API as $prefix-1, $prefix-2, … (Ctrl-C stops)"
while true; do
  n=$((n + 1))
  status="$prefix-$n"
  code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -X POST "$API/status/eva/$status")
  echo "$status $code" >> "$WRITER_LOG"
  if [ "$code" != 200 ]; then
    failed=$((failed + 1))
    echo "$(date +%T) write $status FAILED: $([ "$code" = 000 ] && echo 'no answer from the API' || echo "HTTP $code")"
  fi
  if (( n % 5 == 0 )); then
    code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' "$API/status/eva")
    if [ "$code" != 200 ]; then
      failed=$((failed + 1))
      echo "read $code" >> "$WRITER_LOG"
      echo "$(date +%T) read of eva's status FAILED: $([ "$code" = 000 ] && echo 'no answer from the API' || echo "HTTP $code")"
    fi
  fi
  (( n % 25 == 0 )) && echo "$(date +%T) $n writes as $prefix, $failed failed requests"
  sleep 0.2
done
