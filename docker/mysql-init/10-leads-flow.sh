#!/bin/bash
# First-start initialisation of the compose stack's MySQL 8 (docker-entrypoint-initdb.d).
#
# The mysql image runs this once, on an empty data volume, against a temporary server that listens on
# its socket only; it sources *.sh files, so this runs inside the entrypoint's shell (no `exit` on
# success, no `set -u`). It is a shell file rather than a .sql file only so that the passwords come from
# the environment (.env) instead of being committed; the SQL below is all it does.
#
#   leads_legacy   the legacy database, with an empty leads_aggr (include/sql/schema/legacy_ddl.sql,
#                  mounted at /opt/leads-flow/legacy_ddl.sql); a table-level grant needs the table to exist
#   leads_flow     the pipeline's database (the pipeline creates its own tables)
#   legacy_reader  the pipeline's legacy login: SELECT on leads_legacy.leads_aggr and nothing else
#   flow_writer    the pipeline's flow login: SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX on
#                  leads_flow.* and nothing else (docs/reliability.md, "Least privilege")
#   flow_reader    the run report's login (the api-server's leads_flow connection): SELECT on leads_flow.*;
#                  database-wide because a table grant needs the table, which the pipeline creates later
#   legacy_seeder  the demo seed job's login: CREATE, INSERT, SELECT on leads_legacy.leads_aggr only
#
# mysql_native_password: the Airflow image's mysqlclient (MariaDB Connector/C) then logs in over plain TCP
# without TLS or RSA key exchange; the plugin is deprecated but enabled by default in MySQL 8.0. MariaDB
# (the stand-in of scripts/test-compose.sh, docs/docker-compose.md) has no `IDENTIFIED WITH <plugin> BY`
# and uses mysql_native_password by default, so there the clause is left out.

for var in MYSQL_ROOT_PASSWORD LEGACY_READER_PASSWORD FLOW_WRITER_PASSWORD FLOW_READER_PASSWORD LEGACY_SEEDER_PASSWORD; do
	if [[ ${!var:-} == [Cc][Hh][Aa][Nn][Gg][Ee]-[Mm][Ee]* ]]; then
		echo >&2 "[leads-flow init] $var is still the placeholder of .env.example: replace every change-me value in .env, then start over with: docker compose down -v && docker compose up -d"
		exit 1
	fi
	[[ $var == MYSQL_ROOT_PASSWORD ]] && continue
	# The passwords also sit inside AIRFLOW_CONN_* URIs: keep them to URI-safe characters.
	if [[ ! ${!var:-} =~ ^[A-Za-z0-9._~-]{8,}$ ]]; then
		echo >&2 "[leads-flow init] $var must be set (8+ characters of A-Z a-z 0-9 . _ ~ -); see .env.example"
		exit 1
	fi
done

leads_sql() {
	mysql --defaults-extra-file=<(printf '[client]\npassword="%s"\n' "$MYSQL_ROOT_PASSWORD") \
		--protocol=socket -uroot -hlocalhost --socket="${SOCKET:-/var/run/mysqld/mysqld.sock}" "$@"
}

echo "[leads-flow init] creating databases leads_legacy and leads_flow"
leads_sql <<SQL
CREATE DATABASE IF NOT EXISTS leads_legacy CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE DATABASE IF NOT EXISTS leads_flow CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
SQL

echo "[leads-flow init] creating leads_legacy.leads_aggr"
leads_sql --database=leads_legacy < /opt/leads-flow/legacy_ddl.sql

auth_with="WITH mysql_native_password "
if leads_sql -N -e 'SELECT VERSION()' | grep -qi mariadb; then
	auth_with=""
fi

echo "[leads-flow init] creating users legacy_reader, flow_writer, flow_reader, legacy_seeder"
leads_sql <<SQL
CREATE USER IF NOT EXISTS 'legacy_reader'@'%' IDENTIFIED ${auth_with}BY '${LEGACY_READER_PASSWORD}';
GRANT SELECT ON leads_legacy.leads_aggr TO 'legacy_reader'@'%';

CREATE USER IF NOT EXISTS 'flow_writer'@'%' IDENTIFIED ${auth_with}BY '${FLOW_WRITER_PASSWORD}';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX ON leads_flow.* TO 'flow_writer'@'%';

CREATE USER IF NOT EXISTS 'flow_reader'@'%' IDENTIFIED ${auth_with}BY '${FLOW_READER_PASSWORD}';
GRANT SELECT ON leads_flow.* TO 'flow_reader'@'%';

CREATE USER IF NOT EXISTS 'legacy_seeder'@'%' IDENTIFIED ${auth_with}BY '${LEGACY_SEEDER_PASSWORD}';
GRANT CREATE, INSERT, SELECT ON leads_legacy.leads_aggr TO 'legacy_seeder'@'%';
SQL
echo "[leads-flow init] done"
