#!/bin/bash
# Stand-in for the mysql image's entrypoint (MariaDB 10.11 underneath).
set -eo pipefail
if [[ ${1:-} == -* ]]; then
	set -- mysqld "$@"
fi
if [[ ${1:-} != mysqld && ${1:-} != mariadbd ]]; then
	exec "$@"
fi
shift
DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock
export SOCKET
chown mysql:mysql "$DATADIR" /run/mysqld
if [[ ! -d $DATADIR/mysql ]]; then
	: "${MYSQL_ROOT_PASSWORD:?MYSQL_ROOT_PASSWORD must be set}"
	echo "[mysql stand-in] initialising $DATADIR"
	mariadb-install-db --user=mysql --datadir="$DATADIR" --skip-test-db --auth-root-authentication-method=normal >/dev/null
	mariadbd --user=mysql --datadir="$DATADIR" --skip-networking --socket="$SOCKET" &
	pid=$!
	for _ in $(seq 1 60); do
		mariadb-admin --socket="$SOCKET" -uroot ping >/dev/null 2>&1 && break
		sleep 1
	done
	mariadb-admin --socket="$SOCKET" -uroot ping >/dev/null
	mariadb --socket="$SOCKET" -uroot <<SQL
DELETE FROM mysql.global_priv WHERE User = '';
ALTER USER 'root'@'localhost' IDENTIFIED BY '${MYSQL_ROOT_PASSWORD}';
CREATE USER 'root'@'%' IDENTIFIED BY '${MYSQL_ROOT_PASSWORD}';
GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
			*.sh) echo "[mysql stand-in] sourcing $f"; . "$f" ;;
			*.sql) echo "[mysql stand-in] running $f"; mariadb --socket="$SOCKET" -uroot -p"$MYSQL_ROOT_PASSWORD" < "$f" ;;
			*) ;;
		esac
	done
	kill "$pid"
	wait "$pid" || true
	echo "[mysql stand-in] init done"
fi
exec mariadbd --user=mysql --datadir="$DATADIR" --socket="$SOCKET" "$@"
