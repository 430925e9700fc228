#!/bin/bash
# Stand-in for the postgres image's entrypoint (first start: initdb, role, database; then the server).
set -euo pipefail
if [[ ${1:-} != postgres ]]; then
	exec "$@"
fi
shift
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
if [[ ! -s $PGDATA/PG_VERSION ]]; then
	echo "[postgres stand-in] initdb in $PGDATA (user $user, database $db)"
	initdb -D "$PGDATA" -U "$user" -E UTF8 --auth-local=trust --auth-host=scram-sha-256 \
		--pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") >/dev/null
	echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
	if [[ $db != postgres ]]; then
		pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w -t 60 start >/dev/null
		psql -v ON_ERROR_STOP=1 -U "$user" -d postgres -c "CREATE DATABASE \"$db\" OWNER \"$user\"" >/dev/null
		pg_ctl -D "$PGDATA" -m fast -w -t 60 stop >/dev/null
	fi
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
