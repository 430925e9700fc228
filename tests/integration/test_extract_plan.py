"""The daily incremental reads through index ranges, never a full scan of the legacy table."""

from __future__ import annotations

from datetime import datetime, timedelta

from leads_flow.extract import explain_window
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
