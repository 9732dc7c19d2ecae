#!/usr/bin/env bash
# Cleanup: the proof over the writer loop's record. No request failed; on
# Target every phase's sequence of writes is complete, without a gap; on
# Origin every write made before Phase 5 (the rollback's included), and none
# of Phase 5's. One line with the figures.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ -s "$WRITER_LOG" ] || fail "the writer loop has recorded no writes in $WRITER_LOG: it runs from step 1 on"
failed=$(awk '$2 != 200' "$WRITER_LOG" | wc -l)
[ "$failed" = 0 ] || fail "$failed of the loop's requests failed, first: $(awk '$2 != 200 { print; exit }' "$WRITER_LOG") (the client terminal shows when; a request fails when the API, a proxy or a cluster it needs is down). A failed request stays in the record: only a Reset to the intro starts a clean proof (the Reset button at the top of the page)"
# The record first: a write recorded after the clusters were asked could not be in their answer.
record=$(cat "$WRITER_LOG")
on_target=$(statuses_of target eva) || fail "Target does not answer: it must be up for the proof, zdm-lab infra up"
on_origin=$(statuses_of origin eva) || fail "Origin does not answer: it must be up for the proof, zdm-lab infra up"
# Inputs, in this order: eva's statuses on Target, on Origin, then the record. Each phase's writes are
# numbered 1, 2, … with no gap, so the phase's highest number says which writes each cluster must hold.
verdict=$(awk '
  FILENAME == ARGV[1] { target[$1] = 1; next }
  FILENAME == ARGV[2] { origin[$1] = 1; next }
  $1 ~ /^[A-Za-z][A-Za-z0-9_]*-[0-9]+$/ {
    p = $1; sub(/-[0-9]+$/, "", p); k = substr($1, length(p) + 2) + 0
    if (!(p in last)) { order[++phases] = p; last[p] = 0 }
    if (k > last[p]) last[p] = k
    writes++
  }
  function example(list, name) { return list == "" ? name : (split(list, x, " ") < 3 ? list " " name : list) }
  END {
    for (i = 1; i <= phases; i++) {
      p = order[i]
      ranges = ranges (i > 1 ? ", " : "") p " 1–" last[p]
      for (k = 1; k <= last[p]; k++) {
        name = p "-" k
        if (!(name in target)) { gaps++; gapList = example(gapList, name) }
        if (p == "phase5") { phase5++; if (name in origin) { leaked++; leakList = example(leakList, name) } }
        else { before++; if (!(name in origin)) { lost++; lostList = example(lostList, name) } }
      }
    }
    if (gaps) { printf "gap\t%d\t%s\n", gaps, gapList; exit }
    if (lost) { printf "lost\t%d\t%s\t%d\n", lost, lostList, before; exit }
    if (leaked) { printf "leaked\t%d\t%s\t%d\n", leaked, leakList, phase5; exit }
    printf "ok\t%d\t%s\t%d\t%d\n", writes, ranges, before, phase5
  }' <(echo "$on_target") <(echo "$on_origin") <(echo "$record"))
IFS=$'\t' read -r kind count list extra more <<<"$verdict"
case "$kind" in
  gap) fail "$count of the loop's writes are not on Target, e.g. $list - writes made before the API went through the proxies reach Target only by the copy of step 7 (zdm-lab migrate --keyspace zdmapp), and those of the rollback made straight to Origin only by the copy on the way forward; run it, then check again (writes of other phases it cannot bring back: only a Reset to the intro starts a clean proof)" ;;
  lost) fail "$count of the $extra writes made before Phase 5 are not on Origin, e.g. $list - a rollback to Origin would lose them (before Phase 5 every write must go through the proxies, or straight to Origin), and nothing copies them back: only a Reset to the intro starts a clean proof (the Reset button at the top of the page)" ;;
  leaked) fail "$count of the $extra Phase 5 writes reached Origin, e.g. $list - in Phase 5 the API writes to Target alone (the loop starts as phase5 with --mode TARGET and waits for the switch), and these stay on Origin: only a Reset to the intro starts a clean proof (the Reset button at the top of the page)" ;;
  ok) pass "$count writes, 0 failed requests; on Target every phase's sequence is complete, no gap ($list); on Origin all $extra writes before Phase 5, none of the $more of Phase 5" ;;
  *) fail "the proof could not be computed from $WRITER_LOG: $verdict" ;;
esac
