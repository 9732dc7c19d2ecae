#!/usr/bin/env bash
# Cleanup: every write the loop made was accepted, and every accepted write is on Target.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ -s "$WRITER_LOG" ] || fail "the writer loop has recorded no writes in $WRITER_LOG: it runs from step 1 on"
total=$(grep -vc '^read ' "$WRITER_LOG")
failed=$(awk '$2 != 200' "$WRITER_LOG" | wc -l)
[ "$failed" = 0 ] || fail "$failed of the loop's requests failed, first: $(awk '$2 != 200 { print; exit }' "$WRITER_LOG")"
missing=$(comm -23 <(awk '$1 != "read" { print $1 }' "$WRITER_LOG" | sort -u) <(statuses target eva | sort -u))
[ -z "$missing" ] || fail "$(wc -l <<<"$missing") accepted writes are not on Target, e.g. $(head -n 3 <<<"$missing" | tr '\n' ' ')"
pass "all $total writes of the loop succeeded, and every one of them is on Target"
