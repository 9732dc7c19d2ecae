# Sourced by every check: one-line verdicts and small queries of the real
# system (the API over HTTP, the clusters through zdm-lab cqlsh, the proxies'
# health endpoints). A check prints one line a learner can act on and exits
# 0 when the page's goal is reached, 1 when it is not.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lab.sh"

pass() { echo "✔ $*"; exit 0; }
fail() { echo "✘ $*"; exit 1; }

# How the API starts again in the api terminal at any page: it takes up the mode (and login) the mode file holds.
API_START='CLIENT_CONNECTION_MODE_FILE="$LAB_ENV_DIR/client-connection-mode" tsx "$LAB_COURSE_DIR/../sample-api/server.ts"'
# What a failed request in the loop's record takes: it stays there, and the proof at the clean-up counts it.
RESET_FIX="only a Reset starts a clean record: the Reset button at the top of the page (an instructor: zdm-lab env reset --env $LAB_ENV) takes you back to the intro"

# api_refused WHAT CODE: why the API refused WHAT (a write, a read) with HTTP CODE, and what brings it back.
api_refused() {
  if [ "$2" = 000 ] && [ ! -s "$MODE_FILE" ]; then
    echo "the API does not answer on $API: start it in the api terminal with the api block of step 1 (it writes the mode file first)"
  elif [ "$2" = 000 ]; then
    echo "the API does not answer on $API: start it in the api terminal with: $API_START"
  else
    echo "the API refused $1 (HTTP $2): its database is out of reach; start what is down (zdm-lab infra status: zdm-lab infra up; zdm-lab proxy status: zdm-lab proxy deploy), then check again"
  fi
}

# json FIELD: reads JSON on stdin and prints one top-level field ('' when absent or not JSON).
json() {
  node -e 'let t="";process.stdin.on("data",d=>t+=d).on("end",()=>{try{const v=JSON.parse(t)[process.argv[1]];process.stdout.write(v===undefined?"":typeof v==="object"?JSON.stringify(v):String(v))}catch{}})' "$1"
}

# api_health: the API's /health JSON, or nothing when the API does not answer.
api_health() { curl -s -m 5 "$API/health"; }

# api_mode_is MODE: fails the check unless the API answers and runs in MODE, connected.
api_mode_is() {
  local health mode connected why
  health=$(api_health)
  [ -n "$health" ] || fail "$(api_refused 'a request' 000)"
  mode=$(json mode <<<"$health")
  connected=$(json connected <<<"$health")
  if [ "$mode" != "$1" ]; then
    if [ "$(json switchingTo <<<"$health")" = "$1" ]; then
      why=$(json switchError <<<"$health")
      [ "$(json loginRefused <<<"$health")" = true ] && fail "$1 refuses the API's login ($why): write the mode file again with the login $1 takes (ORIGIN: \$ORIGIN_USERNAME and \$ORIGIN_PASSWORD; ZDM_PROXY and TARGET: \$TARGET_USERNAME and \$TARGET_PASSWORD), as on this page"
      fail "the API is still connecting to $1 and serves requests from $mode meanwhile${why:+ ($why)}: check again in a few seconds; if it stays so, start what is down ($([ "$1" = ZDM_PROXY ] && echo 'zdm-lab proxy status: zdm-lab proxy deploy' || echo 'zdm-lab infra status: zdm-lab infra up')) and write the mode file again, as on this page"
    fi
    fail "the API runs in $mode mode, not $1: write $1 and its login into $MODE_FILE, as on this page"
  fi
  [ "$connected" = true ] || fail "the API is in $1 mode but not connected ($(json error <<<"$health")): it connects by itself once $1 answers; start what is down ($([ "$1" = ZDM_PROXY ] && echo 'zdm-lab proxy status: zdm-lab proxy deploy' || echo 'zdm-lab infra status: zdm-lab infra up')), then check again"
}

# statuses CLUSTER USER: the statuses of USER on origin|target, one per line.
statuses() {
  "$ZDM_LAB" cqlsh "$1" -e "SELECT status FROM zdmapp.user_status WHERE user = '$2'" 2>&1 |
    sed -n '/^-\{3,\}/,/^([0-9]* rows)/p' | sed '1d;$d' | sed 's/^ *//;/^$/d'
}

# statuses_of CLUSTER USER: as statuses, but fails (status 1, nothing printed) when the cluster does not answer.
statuses_of() {
  local out
  out=$("$ZDM_LAB" cqlsh "$1" -e "SELECT status FROM zdmapp.user_status WHERE user = '$2'" 2>&1) || return 1
  sed -n '/^-\{3,\}/,/^([0-9]* rows)/p' <<<"$out" | sed '1d;$d' | sed 's/^ *//;/^$/d'
}

# fresh_write: posts a unique status for user lab-check through the API and prints it.
fresh_write() {
  local status="check-$(date +%s%N)"
  local code
  code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -X POST "$API/status/lab-check/$status")
  # runs inside $(…): the verdict goes to stderr so that it is not captured
  [ "$code" = 200 ] || { echo "✘ $(api_refused 'a write' "$code")" >&2; exit 1; }
  echo "$status"
}

# proxies_ready: fails the check unless all three proxies answer readiness 200 with Origin and Target UP.
proxies_ready() {
  local i=0 host body
  for host in $PROXY_HOSTS; do
    i=$((i + 1))
    body=$(curl -s -m 5 -w '\n%{http_code}' "http://$host:$METRICS_PORT/health/readiness")
    [ -n "$body" ] && [ "${body##*$'\n'}" != 000 ] || fail "proxy $host does not answer on :$METRICS_PORT: run zdm-lab proxy deploy"
    [ "${body##*$'\n'}" = 200 ] || fail "proxy $host is not ready (readiness ${body##*$'\n'}): it waits for Origin and Target; start what is down (zdm-lab infra status: zdm-lab infra up), then check again within a minute or two, as the proxy looks again on its own schedule (zdm-lab proxy logs $i says what it sees)"
    [ "$(json Status <<<"${body%$'\n'*}")" = UP ] || fail "proxy $host reports $(json Status <<<"${body%$'\n'*}"): start what is down (zdm-lab infra status: zdm-lab infra up), then check again within a minute or two"
  done
}

# proxy_modes: the PRIMARY/READ_MODE each running proxy was started with, one per line ("down" for a stopped one).
proxy_modes() {
  "$ZDM_LAB" proxy status 2>/dev/null | awk 'NR > 1 { print ($3 == "up" ? $6 : "down") }'
}

# proxies_run REGEX WHY: fails the check unless every proxy is ready and runs a PRIMARY/READ_MODE matching
# REGEX (extended, whole line); WHY follows the list of the modes they do run in the message.
proxies_run() {
  local modes
  proxies_ready
  modes=$(proxy_modes)
  [ "$(grep -cxE "$1" <<<"$modes")" = "$(wc -w <<<"$PROXY_HOSTS")" ] || fail "the proxies run $(sort -u <<<"$modes" | tr '\n' ' ')$2"
}

# proxy_counts: what the three proxies have counted since each started, summed: reads answered by
# Origin, reads answered by Target, background (async) reads, and writes that failed on Target.
proxy_counts() {
  local host
  for host in $PROXY_HOSTS; do curl -s -m 2 "http://$host:$METRICS_PORT/metrics"; done | awk '
    index($0, "zdm_proxy_request_duration_seconds_count{") == 1 && index($0, "type=\"reads_origin\"") { o += $NF }
    index($0, "zdm_proxy_request_duration_seconds_count{") == 1 && index($0, "type=\"reads_target\"") { t += $NF }
    index($0, "zdm_async_request_duration_seconds_count") == 1 { a += $NF }
    index($0, "zdm_proxy_failed_writes_total{") == 1 && index($0, "failed_on=\"target\"") { f += $NF }
    END { printf "%d %d %d %d\n", o, t, a, f }'
}

# api_read: one read of eva's latest status through the API, as the application makes them; fails the check when refused.
api_read() {
  local code
  code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' "$API/status/eva")
  [ "$code" = 200 ] || fail "$(api_refused "a read of eva's status" "$code")"
}

# loop_writes [PHASE]: the name of every write the loop made (each phase from 1 to its last number), one a
# line; with PHASE, that phase's writes are left out. Take it before asking a cluster what it holds: the
# loop may go on writing meanwhile, and a write recorded later may have been asked about too early.
loop_writes() {
  awk -v skip="$1" '$1 ~ /^[A-Za-z][A-Za-z0-9_]*-[0-9]+$/ {
    p = $1; sub(/-[0-9]+$/, "", p); k = substr($1, length(p) + 2) + 0
    if (p != skip && k > last[p]) last[p] = k
  } END { for (p in last) for (k = 1; k <= last[p]; k++) print p "-" k }' "$WRITER_LOG" 2>/dev/null
}

# loop_failures: fails the check when any request of the loop failed, naming the first.
loop_failures() {
  local failed
  failed=$(awk '$2 != 200' "$WRITER_LOG" 2>/dev/null | wc -l)
  [ "$failed" = 0 ] || fail "$failed of the loop's requests failed, first: $(awk '$2 != 200 { print; exit }' "$WRITER_LOG") (the client terminal shows when). A failed request stays in the loop's record: $RESET_FIX"
}
