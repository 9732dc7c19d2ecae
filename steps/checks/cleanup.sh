#!/usr/bin/env bash
# Cleanup: every write the loop made was accepted, and every accepted write is on Target.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ -s "$WRITER_LOG" ] || fail "the writer loop has recorded no writes in $WRITER_LOG: it runs from step 1 on"
total=$(grep -vc '^read ' "$WRITER_LOG")
failed=$(awk '$2 != 200' "$WRITER_LOG" | wc -l)
[ "$failed" = 0 ] || fail "$failed of the loop's requests failed, first: $(awk '$2 != 200 { print; exit }' "$WRITER_LOG") (the client terminal shows when; a request fails when the API, a proxy or a cluster it needs is down). A failed write stays in the record: to prove a clean migration, start over with the Reset button"
missing=$(comm -23 <(awk '$1 != "read" { print $1 }' "$WRITER_LOG" | sort -u) <(statuses target eva | sort -u))
[ -z "$missing" ] || fail "$(wc -l <<<"$missing") accepted writes are not on Target, e.g. $(head -n 3 <<<"$missing" | tr '\n' ' ')- writes made before the API went through the proxies reach Target only by the copy of step 7: run zdm-lab migrate --keyspace zdmapp"
pass "all $total writes of the loop succeeded, and every one of them is on Target"
