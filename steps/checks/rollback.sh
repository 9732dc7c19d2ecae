#!/usr/bin/env bash
# Rollback: Origin is primary again and answers the reads that go through the proxies, the API
# talks to Origin straight, and Origin holds every write the loop made, none failed: those of
# phases 0 to 4 and those of the rollback, the last ones written to Origin alone.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
proxies_run 'ORIGIN/PRIMARY_ONLY' "- the rollback needs primary_cluster ORIGIN (read_mode PRIMARY_ONLY): set it and run zdm-lab proxy rolling-update"
# A read through a proxy, as any client still on the proxies would make it; nobody else uses them now.
"$ZDM_LAB" cqlsh proxy -e "SELECT status FROM zdmapp.user_status WHERE user = 'marco'" >/dev/null 2>&1 || fail "a read through proxy 1 failed: start what is down (zdm-lab proxy status: zdm-lab proxy deploy; zdm-lab infra status: zdm-lab infra up), then check again; zdm-lab cqlsh proxy shows the error"
read -r origin target _ _ <<<"$(proxy_counts)"
(( origin > 0 && target == 0 )) || fail "reads through the proxies are not answered by Origin alone ($origin by Origin, $target by Target since the proxies restarted): zdm-lab proxy config set primary_cluster=ORIGIN read_mode=PRIMARY_ONLY && zdm-lab proxy rolling-update"
api_mode_is ORIGIN
status=$(fresh_write) || exit 1
grep -qx "$status" <<<"$(statuses target lab-check)" && fail "a fresh write ($status) still reached Target, so the API still goes through the proxies: write ORIGIN and Origin's login into the mode file as on this page, and wait for 'now using ORIGIN' in the api terminal"
[ -s "$WRITER_LOG" ] || fail "the writer loop has recorded no writes in $WRITER_LOG: it runs from step 1 on"
loop_failures
written=$(loop_writes | sort)
rollback=$(grep -c '^rollback-' <<<"$written")
(( rollback > 0 )) || fail "the loop has made no write as rollback: restart it with the rollback prefix (the page's client block)"
missing=$(comm -23 <(echo "$written") <(statuses origin eva | sort -u))
[ -z "$missing" ] || fail "$(wc -l <<<"$missing") of the loop's writes are not on Origin, e.g. $(head -n 3 <<<"$missing" | tr '\n' ' ')- a rollback that loses writes is no rollback, and nothing copies them back to Origin: only a Reset to the intro starts a clean proof (the Reset button at the top of the page)"
pass "Origin is primary and answers the reads ($origin through the proxies, 0 by Target), the API writes to Origin alone, and Origin holds all $(wc -l <<<"$written") writes of the loop, the $rollback of the rollback included, none failed"
