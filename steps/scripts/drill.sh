#!/usr/bin/env bash
# The failure drill's own client (Phase 3): a few writes and reads of user
# "drill" through the API, half a second apart, each printed with its
# answer, then a tally. Its record is drill.log, apart from the writer
# loop's writer.log: the drill's failures are meant, and no part of the
# migration's proof.
#
#   drill.sh [COUNT]   COUNT writes, each followed by a read (default 4)
source "$(dirname "${BASH_SOURCE[0]}")/lab.sh"
count="${1:-4}"
[[ "$count" =~ ^[1-9][0-9]?$ ]] || { echo "usage: drill.sh [COUNT]   (1 to 99 writes, each followed by a read)" >&2; exit 2; }
DRILL_LOG="$LAB_ENV_DIR/drill.log"
n=$(awk '$1 ~ /^drill-[0-9]+$/ { k = substr($1, 7) + 0; if (k > m) m = k } END { print m + 0 }' "$DRILL_LOG" 2>/dev/null || echo 0)

# answer FILE CODE: "acknowledged"/"answered" words for 200, else FAILED with the API's error sentence.
why() {
  local body
  body=$(node -e 'try{const e=JSON.parse(require("fs").readFileSync(0,"utf8")).error;process.stdout.write(e?String(e).slice(0,160):"")}catch{}' <"$1")
  if [ "$2" = 000 ]; then echo "no answer from the API"; else echo "HTTP $2${body:+: $body}"; fi
}

body=$(mktemp)
trap 'rm -f "$body"' EXIT
acked=0
answered=0
for _ in $(seq "$count"); do
  n=$((n + 1))
  status="drill-$n"
  code=$(curl -s -m 12 -o "$body" -w '%{http_code}' -X POST "$API/status/drill/$status")
  echo "$status $code" >>"$DRILL_LOG"
  if [ "$code" = 200 ]; then acked=$((acked + 1)); echo "$(date +%T) write $status: acknowledged"
  else echo "$(date +%T) write $status: FAILED ($(why "$body" "$code"))"; fi
  code=$(curl -s -m 12 -o "$body" -w '%{http_code}' "$API/status/drill")
  echo "read $code" >>"$DRILL_LOG"
  if [ "$code" = 200 ]; then answered=$((answered + 1)); echo "$(date +%T) read of drill's latest status: answered"
  else echo "$(date +%T) read of drill's latest status: FAILED ($(why "$body" "$code"))"; fi
  sleep 0.5
done
echo "drill: $count writes, $acked acknowledged, $((count - acked)) failed; $count reads, $answered answered, $((count - answered)) failed"
