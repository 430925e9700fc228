"""The extraction: a daily increment reads through index ranges, never a full scan of the legacy table;
datetimes come back exactly as mysqlclient would convert them."""

from __future__ import annotations

from datetime import datetime, timedelta

from devkit.explain import explain_window
from leads_flow.window import Partition
from tests.helpers import insert, legacy_row


def test_window_extraction_uses_index_ranges(mysql_dbs):
    day = datetime(2026, 11, 20)
    rows = []
    for i in range(20_000):  # 200 days of history, 1% of it touched inside the window
        t = day - timedelta(days=1 + i % 200, hours=i % 24)
        update = day + timedelta(seconds=i) if i % 100 == 0 else (None if i % 3 == 0 else t)
        rows.append(legacy_row(phone=f"139{i:08d}", create_time=t, join_time=t, update_time=update))
    insert(mysql_dbs, rows)
    mysql_dbs.legacy_exec("ANALYZE TABLE leads_aggr")
    db = mysql_dbs.legacy()
    try:
        plan = explain_window(db, "leads_aggr", Partition(day, day + timedelta(days=1), 60))
    finally:
        db.close()
    assert [(t, k) for t, k, _ in plan] == [("range", "idx_update_time"), ("range", "idx_create_time")]
    assert all(t != "ALL" for t, _, _ in plan)


def test_datetimes_read_fast_convert_exactly_like_mysqlclient(mysql_dbs):
    """The C-level datetime converter (db._fast_datetimes) gives what mysqlclient's own gives, zero dates
    and fractions included."""
    import MySQLdb

    from leads_flow.io.connect import connect
    from tests.conftest import _mysql_params

    exprs = [
        "CAST('2026-11-20 10:00:00' AS DATETIME)",
        "CAST('2026-11-20 10:00:00.5' AS DATETIME(6))",
        "CAST('1000-01-01 00:00:00.000001' AS DATETIME(6))",
        "CAST('9999-12-31 23:59:59' AS DATETIME)",
        "TIMESTAMP('2026-02-28 23:59:59')",
        "NULL",
    ]
    db = connect("leads_flow")
    try:
        cur = db.conn.cursor()
        cur.execute("CREATE TEMPORARY TABLE dt (a DATETIME, b TIMESTAMP NULL)")
        cur.execute("SET SESSION sql_mode = ''")
        cur.execute("INSERT INTO dt VALUES ('0000-00-00 00:00:00', '0000-00-00 00:00:00'), ('2026-11-20 10:00', NULL)")
        cur.execute("SELECT " + ", ".join(exprs))
        ours = cur.fetchall()
        cur.execute("SELECT a, b FROM dt")
        ours_table = cur.fetchall()
    finally:
        db.close()
    plain = MySQLdb.connect(**_mysql_params(), database=mysql_dbs.flow_name)  # mysqlclient's own converters
    try:
        cur = plain.cursor()
        cur.execute("SELECT " + ", ".join(exprs))
        assert cur.fetchall() == ours
    finally:
        plain.close()
    assert ours_table == ((None, None), (datetime(2026, 11, 20, 10, 0), None))
