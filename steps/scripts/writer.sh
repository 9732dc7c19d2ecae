#!/usr/bin/env bash
# The writer loop of the course: every 0.2 s it posts a new status for user
# eva through the sample API, named <phase>-<n>: the phase it is made in and
# its number in that phase's sequence (phase0-1, phase0-2, …); once a second
# it reads eva's latest status back. Each failure is printed the moment it
# happens, with a tally every 25 writes; Ctrl-C ends the loop with a summary.
# Every write and its HTTP answer is appended to writer.log (a failed read as
# "read CODE"), so that the cleanup page can prove, phase by phase, that no
# accepted write was lost and that Origin holds what a rollback needs.
#
#   writer.sh PHASE [--mode MODE] [--also-update USER]
#       --mode: first wait until the API runs in MODE (ORIGIN, ZDM_PROXY or
#       TARGET), so that every write of PHASE goes that way
#       --also-update: with each write, set USER's status at one fixed time
#       (2024-01-01T00:00:00Z) to the write's name: one row, updated again
#       and again (a failed update is recorded as "update CODE")
#   writer.sh --resume              after a restart of the lab: the loop
#                                   that ran before it, as it was started
#                                   (phase and options), numbering on; none
#                                   when the learner had stopped it with
#                                   Ctrl-C (the drill's pause, the clean-up)
#
# Each start records the loop as it was started in writer.loop ("running
# phase5 --mode TARGET"), and Ctrl-C marks it "paused": a lab that stops
# hangs the loop up instead, which leaves it "running", so that --resume
# starts again what the page had running, even a loop still waiting for
# its --mode (Phase 5's, before the switch), and not one the page paused.
# Without writer.loop, --resume takes the last phase in writer.log.
#
# A loop started again under a phase it used before (a second click, or
# --resume) goes on numbering where it stopped, so that every write keeps a
# name of its own and each phase's numbers have no gap. It waits for the
# API, connected to its database, before its first write.
source "$(dirname "${BASH_SOURCE[0]}")/lab.sh"
usage='usage: writer.sh PHASE [--mode ORIGIN|ZDM_PROXY|TARGET] [--also-update USER] | --resume   (for example: writer.sh phase0)'
prefix=""
mode=""
update=""
FIXED_WHEN=2024-01-01T00:00:00Z
resume=""
parse() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --resume) resume=1 ;;
      --mode)
        case "$2" in ORIGIN | ZDM_PROXY | TARGET) mode=$2 ;; *) echo "writer.sh: --mode takes ORIGIN, ZDM_PROXY or TARGET, not \"$2\"" >&2; exit 2 ;; esac
        shift ;;
      --also-update)
        [[ "$2" =~ ^[A-Za-z][A-Za-z0-9_-]*$ ]] || { echo "writer.sh: --also-update takes a user name, not \"$2\"" >&2; exit 2; }
        update=$2
        shift ;;
      -*) echo "writer.sh: unknown option $1; $usage" >&2; exit 2 ;;
      *) [ -z "$prefix" ] || { echo "writer.sh: one phase only; $usage" >&2; exit 2; }; prefix=$1 ;;
    esac
    shift
  done
}
parse "$@"
if [ -n "$resume" ]; then
  if [ -s "$WRITER_STATE" ]; then
    read -r state started < "$WRITER_STATE"
    if [ "$state" = paused ]; then
      echo "the writer loop stays stopped, as it was before the restart (Ctrl-C, as $started): the page says when to start it again"
      exit 0
    fi
    # The words were checked when that loop started: a phase, options and their values, no blanks.
    # shellcheck disable=SC2086
    parse $started
  else
    prefix=$(awk '$1 ~ /-[0-9]+$/ { p = $1 } END { sub(/-[0-9]+$/, "", p); print p }' "$WRITER_LOG" 2>/dev/null)
    [ -n "$prefix" ] || { echo "no writer loop to resume: $WRITER_LOG holds no write yet"; exit 0; }
  fi
fi
[ -n "$prefix" ] || { echo "$usage" >&2; exit 2; }
[[ "$prefix" =~ ^[A-Za-z][A-Za-z0-9_]*$ ]] || { echo "writer.sh: a phase is a word of letters, digits and _, not \"$prefix\"" >&2; exit 2; }
n=$(awk -v p="$prefix" '$1 ~ ("^" p "-[0-9]+$") { k = substr($1, length(p) + 2) + 0; if (k > m) m = k } END { print m + 0 }' "$WRITER_LOG" 2>/dev/null || echo 0)
first=$((n + 1))
failed=0
# A failed request is recorded a second after it failed. When the loop's own
# terminal is being closed (the lab stopping, or killed), the hang-up ends the
# loop within that second, and a request that failed only because the API's
# terminal closed first is not counted against the migration. Ctrl-C records
# it at once.
pending=""
record_failure() {
  pending="$1"
  failed=$((failed + 1))
  sleep 1
  echo "$pending" >> "$WRITER_LOG"
  pending=""
  echo "$2"
}
started="$prefix${mode:+ --mode $mode}${update:+ --also-update $update}"
echo "running $started" > "$WRITER_STATE"
summary() {
  [ -n "$pending" ] && echo "$pending" >> "$WRITER_LOG"
  echo
  echo "$prefix: $((n - first + 1)) writes, $failed failed requests"
  exit 0
}
# Ctrl-C is the learner's: the loop stays stopped after a restart. A hang-up (the lab stopping) is not.
trap 'echo "paused $started" > "$WRITER_STATE"; summary' INT
trap summary TERM
# Waits without starting a process (a read that times out on a pipe nothing writes to): the loop
# writes five times a second in every learner's terminal, and a sleep each time is a process each time.
exec {nap_fd}<> <(:)
nap() { read -rt "$1" -u "$nap_fd" || true; }
# One request to the API, answered as `curl -s -m 10 -o /dev/null -w '%{http_code}'` would answer it
# (000: no answer within 10 s), in $code. Bash's own /dev/tcp instead of curl: the loop makes five
# requests a second in every learner's terminal, and a curl costs about 13 ms of CPU here against
# half a millisecond for this. One connection per request (Connection: close), so that no request is
# ever sent twice; an API address other than plain http://HOST:PORT goes through curl.
api_host=""
api_port=""
if [[ "$API" =~ ^http://([A-Za-z0-9.-]+):([0-9]+)/?$ ]]; then
  api_host=${BASH_REMATCH[1]}
  api_port=${BASH_REMATCH[2]}
fi
# A write to a connection the API has closed must fail the request, not end the loop.
trap '' PIPE
request() {
  local fd line=""
  code=000
  if [ -z "$api_host" ]; then
    code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -X "$1" "$API$2")
    return
  fi
  { exec {fd}<>"/dev/tcp/$api_host/$api_port"; } 2>/dev/null || return 0
  if printf '%s %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n' "$1" "$2" "$api_host" "$api_port" >&"$fd" 2>/dev/null &&
    IFS= read -r -t 10 -u "$fd" line && [[ "$line" =~ ^HTTP/1\.[01]\ ([0-9][0-9][0-9]) ]]; then
    code=${BASH_REMATCH[1]}
    # The rest of the answer, up to the end of the connection, which the API closes after it.
    IFS= read -r -d '' -t 2 -u "$fd" line || true
  fi
  exec {fd}<&-
}
waited=0
# Answering is not enough: an API that has just started may not be connected to its database yet.
ready() {
  local health
  health=$(curl -s -m 2 "$API/health")
  [[ "$health" == *'"connected":true'* ]] && { [ -z "$mode" ] || [[ "$health" == *"\"mode\":\"$mode\""* ]]; }
}
until ready; do
  if (( waited % 10 == 0 )); then
    if [ -n "$mode" ]; then echo "waiting for the API at $API to run in $mode mode, connected, before writing ($waited s)"
    else echo "waiting for the API at $API to answer, connected, before writing ($waited s)"; fi
  fi
  waited=$((waited + 1))
  sleep 1
done
echo "writing a status for eva every 0.2 s through $API as $prefix-$first, $prefix-$((first + 1)), … (Ctrl-C stops)"
[ -n "$update" ] && echo "and with each write, $update's status at $FIXED_WHEN: one row, updated again and again"
while true; do
  n=$((n + 1))
  status="$prefix-$n"
  request POST "/status/eva/$status"
  if [ "$code" = 200 ]; then
    echo "$status $code" >> "$WRITER_LOG"
  else
    record_failure "$status $code" "$(date +%T) write $status FAILED: $([ "$code" = 000 ] && echo 'no answer from the API' || echo "HTTP $code")"
  fi
  if [ -n "$update" ]; then
    request POST "/status/$update/$status?when=$FIXED_WHEN"
    [ "$code" = 200 ] || record_failure "update $code" "$(date +%T) update of $update's row to $status FAILED: $([ "$code" = 000 ] && echo 'no answer from the API' || echo "HTTP $code")"
  fi
  if (( n % 5 == 0 )); then
    request GET /status/eva
    if [ "$code" != 200 ]; then
      record_failure "read $code" "$(date +%T) read of eva's status FAILED: $([ "$code" = 000 ] && echo 'no answer from the API' || echo "HTTP $code")"
    fi
  fi
  (( n % 25 == 0 )) && printf '%(%T)T %s\n' -1 "$n writes as $prefix, $failed failed requests"
  nap 0.2
done
