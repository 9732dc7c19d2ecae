#!/usr/bin/env bash
# Step 7 (Phase 2): the historical rows are on Target and agree with Origin.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
out=$("$ZDM_LAB" validate --keyspace zdmapp 2>/dev/null)
code=$?
summary=$(grep -m1 '^zdmapp.user_status:' <<<"$out")
[ -n "$summary" ] || fail "validate could not run ($(tail -n 1 <<<"$out")): it needs Origin and Target up (zdm-lab infra status: zdm-lab infra up) and zdmapp.user_status on Target (step 2), then check again"
counts=$(sed -E 's/^[^:]+: ([^,]+ rows on Origin, [^,]+ on Target),.*/\1/' <<<"$summary")
[ "$code" = 0 ] && pass "validate: $counts, 0 missing and 0 different"
number() { grep -oE "[0-9]+ $1" <<<"$summary" | grep -oE '^[0-9]+' || echo 0; }
missing=$(number 'missing on Target')
different=$(number different)
only=$(number 'only on Target')
if [ "$missing" = 0 ] && [ "$different" = 0 ] && [ "$only" != 0 ]; then
  fail "validate finds $only row(s) only on Target, which migrate cannot undo: they were written to Target past the proxies (cqlsh target, or an earlier run of the course), or hold a value such as now() or uuid() that each cluster computed for itself. zdm-lab validate --keyspace zdmapp lists them; delete them on Target with zdm-lab cqlsh target, or start the course over with the Reset button"
fi
fail "validate still finds differences (${summary##*: }): run zdm-lab migrate --keyspace zdmapp, then validate again"
