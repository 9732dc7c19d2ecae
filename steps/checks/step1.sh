#!/usr/bin/env bash
# Step 1 (Phase 0): the API answers in ORIGIN mode, Origin holds the seed
# rows, and the writer loop is writing.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
api_mode_is ORIGIN
eva=$(statuses origin eva)
for s in hiking lunch commuting; do
  grep -qx "$s" <<<"$eva" || fail "Origin lacks eva's seed status \"$s\": reset the environment"
done
grep -qx cooking <<<"$(statuses origin marco)" || fail "Origin lacks marco's seed status \"cooking\": reset the environment"
latest=$(curl -s -m 5 "$API/status/eva")
when=$(node -e 'try{const r=JSON.parse(process.argv[1])[0];process.stdout.write(String(Math.round((Date.now()-Date.parse(r.when))/1000)))}catch{}' "$latest")
[ -n "$when" ] && [ "$when" -le 15 ] || fail "the API works, but eva's last status is not recent: start the writer loop in the client terminal"
pass "the API runs in ORIGIN mode, Origin has the seed rows, and the writer loop is writing (last write ${when}s ago)"
