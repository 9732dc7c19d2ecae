#!/usr/bin/env bash
# Step 7 (Phase 2): the historical rows are on Target and agree with Origin.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
out=$("$ZDM_LAB" validate --keyspace zdmapp 2>/dev/null)
code=$?
summary=$(grep -m1 '^zdmapp.user_status:' <<<"$out")
[ -n "$summary" ] || fail "validate could not run: $(tail -n 1 <<<"$out")"
counts=$(sed -E 's/^[^:]+: ([^,]+ rows on Origin, [^,]+ on Target),.*/\1/' <<<"$summary")
[ "$code" = 0 ] && pass "validate: $counts, 0 missing and 0 different"
fail "validate still finds differences (${summary##*: }): run zdm-lab migrate --keyspace zdmapp, then validate again"
