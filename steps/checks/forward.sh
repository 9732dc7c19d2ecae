#!/usr/bin/env bash
# Forward again: back where Phase 5 starts. The API goes through the proxies, Target is primary
# and answers the reads, and Target holds every write the loop made, the rollback's included
# (the copy brought those made while the API wrote to Origin alone).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
api_mode_is ZDM_PROXY
proxies_run 'TARGET/PRIMARY_ONLY' "- forward again needs primary_cluster TARGET and read_mode PRIMARY_ONLY: set them and run zdm-lab proxy rolling-update"
read -r _ before _ _ <<<"$(proxy_counts)"
api_read
read -r _ target _ _ <<<"$(proxy_counts)"
(( target > before )) || fail "the proxies have Target as primary, but a read through the API was not counted as answered by Target ($target before and after): see zdm-lab proxy status"
loop_failures
written=$(loop_writes | sort)
missing=$(comm -23 <(echo "$written") <(statuses target eva | sort -u))
[ -z "$missing" ] || fail "$(wc -l <<<"$missing") of the loop's writes are not on Target, e.g. $(head -n 3 <<<"$missing" | tr '\n' ' ')- those made while the API wrote to Origin alone reach Target by a copy: zdm-lab migrate --keyspace zdmapp, once the API goes through the proxies again"
pass "back to Phase 4: the API goes through the proxies, Target is primary and answers the reads ($target since the proxies restarted), and Target holds all $(wc -l <<<"$written") writes of the loop, the rollback's included"
