#!/usr/bin/env bash
# Step 2: Target has the application's keyspace and table.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
out=$("$ZDM_LAB" cqlsh target -e "DESCRIBE TABLE zdmapp.user_status" 2>&1)
grep -q 'CREATE TABLE zdmapp.user_status' <<<"$out" || fail "Target has no table zdmapp.user_status yet: run the zdm-lab cqlsh target -f … command of this page"
grep -q 'CLUSTERING ORDER BY (when DESC)' <<<"$out" || fail "Target's zdmapp.user_status does not match Origin's (it should keep the newest status first): drop it and create it again, with zdm-lab cqlsh target -e 'DROP TABLE zdmapp.user_status' && zdm-lab cqlsh target -f \"\$LAB_COURSE_DIR/../infra/schema/zdmapp.cql\""
pass "Target has zdmapp.user_status, the same table as Origin (and no rows yet)"
