"""devkit/mariadb.py, the private server of `make bench-history`: started on its own datadir and loopback port
with the buffer pool asked for, reachable as the benchmark's connections reach it, restarted with another pool on
the same data, stopped by its pid and its directory removed, also when the block raises."""

from __future__ import annotations

import os

import pytest

from devkit import mariadb

pytestmark = pytest.mark.mysql

if not mariadb.available():
    pytest.skip("mariadb-install-db/mariadbd not found (apt-get install mariadb-server)", allow_module_level=True)


def _tcp(srv: mariadb.PrivateMariaDB):
    import MySQLdb

    conn = MySQLdb.connect(host=mariadb.HOST, port=srv.port, user="root", local_infile=True)
    conn.autocommit(True)
    return conn


def test_the_pool_is_a_parameter_and_the_data_outlives_a_restart():
    with mariadb.PrivateMariaDB(pool="64M") as srv:
        assert srv.url == f"mysql://root@127.0.0.1:{srv.port}"
        cur = _tcp(srv).cursor()
        cur.execute("SELECT @@innodb_buffer_pool_size, @@local_infile, @@bind_address, @@datadir, @@log_bin")
        pool, local_infile, bind, datadir, log_bin = cur.fetchone()
        assert (pool, local_infile, bind, log_bin) == (64 * 2**20, 1, "127.0.0.1", 0)
        assert os.path.realpath(datadir) == os.path.realpath(srv.datadir)
        cur.execute("CREATE DATABASE t_private")
        cur.execute("CREATE TABLE t_private.t (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO t_private.t VALUES (1), (2)")
        first = srv.pid
        assert srv.peak_rss_mb() > 0 and srv.cpu_s() >= 0

        srv.restart(pool="96M")
        assert srv.pid != first and not os.path.exists(f"/proc/{first}")
        cur = _tcp(srv).cursor()
        cur.execute("SELECT @@innodb_buffer_pool_size, (SELECT COUNT(*) FROM t_private.t)")
        assert cur.fetchone() == (96 * 2**20, 2)
        pid, d = srv.pid, srv.dir
    assert not os.path.exists(f"/proc/{pid}") and not d.exists()


def test_an_error_in_the_block_still_stops_the_server_and_removes_its_directory():
    seen = {}
    with pytest.raises(RuntimeError, match="boom"):
        with mariadb.PrivateMariaDB(pool="32M") as srv:
            seen.update(pid=srv.pid, dir=srv.dir)
            raise RuntimeError("boom")
    assert not os.path.exists(f"/proc/{seen['pid']}") and not seen["dir"].exists()
