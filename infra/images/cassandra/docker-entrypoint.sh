#!/bin/bash
# The entrypoint of the lab's locally built Cassandra image. It does what the
# official cassandra image's entrypoint does, so the same mounted or copied
# cassandra.yaml works on both: as root it hands the data folders to the
# cassandra user and re-runs itself as that user; then it writes the
# container's address into listen_address, broadcast_address,
# broadcast_rpc_address and the seed list, rpc_address 0.0.0.0, each
# overridable with the same CASSANDRA_* variables.
set -e

if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
	set -- cassandra -f "$@"
fi

if [ "$1" = 'cassandra' ] && [ "$(id -u)" = '0' ]; then
	find "$CASSANDRA_CONF" /var/lib/cassandra /var/log/cassandra \! -user cassandra -exec chown cassandra '{}' +
	exec setpriv --reuid=cassandra --regid=cassandra --init-groups "$BASH_SOURCE" "$@"
fi

_ip_address() {
	hostname -i | tr ' ' '\n' | grep -v '^127\.' | head -n 1
}

# "sed -i" without "mv", which would fail on a bind-mounted file
_sed_in_place() {
	local filename="$1"; shift
	local tempFile
	tempFile="$(mktemp)"
	sed "$@" "$filename" > "$tempFile"
	cat "$tempFile" > "$filename"
	rm "$tempFile"
}

if [ "$1" = 'cassandra' ]; then
	: "${CASSANDRA_RPC_ADDRESS=0.0.0.0}"
	: "${CASSANDRA_LISTEN_ADDRESS=auto}"
	if [ "$CASSANDRA_LISTEN_ADDRESS" = 'auto' ]; then
		CASSANDRA_LISTEN_ADDRESS="$(_ip_address)"
	fi
	: "${CASSANDRA_BROADCAST_ADDRESS=$CASSANDRA_LISTEN_ADDRESS}"
	if [ "$CASSANDRA_BROADCAST_ADDRESS" = 'auto' ]; then
		CASSANDRA_BROADCAST_ADDRESS="$(_ip_address)"
	fi
	: "${CASSANDRA_BROADCAST_RPC_ADDRESS:=$CASSANDRA_BROADCAST_ADDRESS}"
	: "${CASSANDRA_SEEDS:=$CASSANDRA_BROADCAST_ADDRESS}"

	_sed_in_place "$CASSANDRA_CONF/cassandra.yaml" -r 's/(- seeds:).*/\1 "'"$CASSANDRA_SEEDS"'"/'
	for yaml in broadcast_address broadcast_rpc_address cluster_name endpoint_snitch listen_address num_tokens rpc_address; do
		var="CASSANDRA_${yaml^^}"
		val="${!var}"
		if [ "$val" ]; then
			_sed_in_place "$CASSANDRA_CONF/cassandra.yaml" -r 's/^(# )?('"$yaml"':).*/\2 '"$val"'/'
		fi
	done
fi

exec "$@"
