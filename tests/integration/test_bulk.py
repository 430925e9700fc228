"""The bulk path on MariaDB (docs/scaling.md, *The bulk path*): id-range partitions, each staged and gated, one
bulk publish through a shadow table and an atomic RENAME. It must give exactly the table and the journal of the
daily path over the same legacy rows, publish nothing when one partition fails its gate, and keep the per-day
records the report, the freshness watchdog and the volume check read."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from devkit.seed import legacy_rows
from leads_flow.io.bulk import BulkNotReady
from leads_flow.tasks import sync as pipeline
from leads_flow.tasks.boundary import GateFailed
from tests.helpers import flow_table, insert, legacy_row, sync

pytestmark = pytest.mark.mysql

START, END = datetime(2026, 11, 18), datetime(2026, 11, 21)  # three days
N = 6000
HISTORY = (
    "SELECT lead_id, source_updated_at, content_hash, phone_bidx, union_id, from_channel, is_deleted "
    "FROM leads_flow_history ORDER BY lead_id, source_updated_at, content_hash"
)
INDEXES = (
    "SELECT index_name, non_unique, seq_in_index, column_name FROM information_schema.statistics "
    "WHERE table_schema = DATABASE() AND table_name = 'leads_flow' ORDER BY index_name, seq_in_index"
)
LEFT_OVER = (
    "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() "
    "AND table_name IN ('leads_flow__bulk', 'leads_flow__old')"
)
STAGES = (
    "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() "
    "AND LOCATE('leads_flow_stage_', table_name) = 1"
)


def _reset_flow(dbs) -> None:
    db = dbs.flow()
    try:
        cur = db.conn.cursor()
        for t in ("leads_flow", "leads_flow_history", "leads_flow_run", "leads_flow_reject"):
            cur.execute(f"DELETE FROM {t}")
        db.conn.commit()
    finally:
        db.close()


def _seed(dbs) -> None:
    insert(dbs, list(legacy_rows(N, START, END, seed=11, dirty=0.04)))
    # a lead whose join_time lies beyond its own day (+1) but inside the window: the daily path rejects it, so
    # must the bulk path
    insert(
        dbs,
        [
            legacy_row(
                phone=None, unionId="oLate", update_time=datetime(2026, 11, 18, 9), join_time=datetime(2026, 11, 20, 12)
            )
        ],
    )


def _prior_versions(dbs) -> None:
    """leads_flow before the import: some leads older than the window's versions, some newer (newer wins)."""
    from leads_flow.io.schema import ensure_flow_schema

    db = dbs.flow()
    try:
        ensure_flow_schema(db)
        cur = db.conn.cursor()
        cur.execute(
            "INSERT INTO leads_flow (lead_id, from_channel, source_updated_at, content_hash, etl_run_id, "
            "etl_loaded_at) SELECT seq, 'prior_old', '2026-01-01', 1, 'prior', NOW(6) FROM seq_1_to_300"
        )
        cur.execute(
            "INSERT INTO leads_flow (lead_id, from_channel, source_updated_at, content_hash, etl_run_id, "
            "etl_loaded_at) SELECT seq, 'prior_new', '2027-01-01', 2, 'prior', NOW(6) FROM seq_301_to_600"
        )
        cur.execute(
            "INSERT INTO leads_flow (lead_id, from_channel, source_updated_at, content_hash, etl_run_id, "
            "etl_loaded_at) VALUES (99999, 'outside', '2026-01-01', 3, 'prior', NOW(6))"
        )
        db.conn.commit()
    finally:
        db.close()


def test_bulk_gives_the_daily_table_journal_indexes_and_day_rows(mysql_dbs, monkeypatch):
    _seed(mysql_dbs)
    params = {"overlap_minutes": 0, "max_reject_ratio": 0.5}

    _prior_versions(mysql_dbs)
    sync("2026-11-18", "2026-11-20", run_id="manual__daily", load_mode="daily", **params)
    daily, daily_history = flow_table(mysql_dbs), mysql_dbs.flow_rows(HISTORY)
    daily_days = mysql_dbs.flow_rows(
        "SELECT partition_start, partition_end, extracted, staged, rejected FROM leads_flow_run "
        "WHERE status = 'published' ORDER BY partition_start"
    )
    indexes = mysql_dbs.flow_rows(INDEXES)
    assert len(daily_days) == 3 and len(daily) > N // 2

    _reset_flow(mysql_dbs)
    _prior_versions(mysql_dbs)
    monkeypatch.setenv("LEADS_FLOW_BULK_PARTITION_ROWS", "1500")  # several id ranges
    parts = pipeline.plan(
        {"start_date": "2026-11-18", "end_date": "2026-11-20", "load_mode": "bulk", **params}, None, None
    )
    assert len(parts) >= 4 and all("id_from" in p for p in parts)
    out = sync("2026-11-18", "2026-11-20", run_id="manual__bulk", load_mode="bulk", **params)
    assert out[-1]["partitions"] == len(parts)

    assert flow_table(mysql_dbs) == daily
    assert mysql_dbs.flow_rows(HISTORY) == daily_history
    assert mysql_dbs.flow_rows(INDEXES) == indexes
    assert mysql_dbs.flow_rows(LEFT_OVER) == []
    bulk_days = mysql_dbs.flow_rows(
        "SELECT partition_start, partition_end, extracted, staged, rejected FROM leads_flow_run "
        "WHERE status = 'published' ORDER BY partition_start"
    )
    assert bulk_days == daily_days, (bulk_days, daily_days)
    statuses = mysql_dbs.flow_rows("SELECT DISTINCT status FROM leads_flow_run WHERE LOCATE('#', etl_run_id) > 0")
    assert statuses == [("bulk_published",)]
    timings = [
        json.loads(t)
        for (t,) in mysql_dbs.flow_rows(
            "SELECT timings FROM leads_flow_run WHERE LOCATE('#', etl_run_id) > 0 AND dag_run_id = 'manual__bulk'"
        )
    ]
    assert all("stage_s" in t and "gate_s" in t and "bulk_publish" in t for t in timings)
    assert sum("publish_s" in t for t in timings) == 1  # the bulk publish counted once
    assert mysql_dbs.flow_rows(STAGES) == []

    # a rerun of the whole bulk run converges to the same table
    sync("2026-11-18", "2026-11-20", run_id="manual__bulk2", load_mode="bulk", **params)
    assert flow_table(mysql_dbs) == daily
    assert mysql_dbs.flow_rows(HISTORY) == daily_history


def test_auto_mode_chooses_by_size(mysql_dbs, monkeypatch):
    _seed(mysql_dbs)
    p = {"start_date": "2026-11-18", "end_date": "2026-11-20"}
    assert all("id_from" not in x for x in pipeline.plan(p, None, None))  # below LEADS_FLOW_BULK_MIN_ROWS
    monkeypatch.setenv("LEADS_FLOW_BULK_MIN_ROWS", "1000")
    assert all("id_from" in x for x in pipeline.plan(p, None, None))
    # leads_flow holding more than twice the window: daily
    db = mysql_dbs.flow()
    try:
        db.conn.cursor().execute(
            "INSERT INTO leads_flow (lead_id, source_updated_at, content_hash) "
            "SELECT 100000 + seq, '2026-01-01', seq FROM seq_1_to_20000"
        )
        db.conn.commit()
    finally:
        db.close()
    assert all("id_from" not in x for x in pipeline.plan(p, None, None))
    assert all("id_from" in x for x in pipeline.plan({**p, "load_mode": "bulk"}, None, None))
    assert all("id_from" not in x for x in pipeline.plan({**p, "load_mode": "daily"}, None, None))


def test_a_gate_failure_in_one_partition_publishes_nothing(mysql_dbs, monkeypatch):
    insert(mysql_dbs, list(legacy_rows(3000, START, END, seed=5, dirty=0.0)))
    # the last id range: mostly invalid phones without another identity
    insert(mysql_dbs, [legacy_row(phone="12345", update_time=datetime(2026, 11, 19, 9)) for _ in range(800)])
    _prior_versions(mysql_dbs)
    before = flow_table(mysql_dbs)
    monkeypatch.setenv("LEADS_FLOW_BULK_PARTITION_ROWS", "1000")
    p = {"start_date": "2026-11-18", "end_date": "2026-11-20", "load_mode": "bulk", "max_reject_ratio": 0.2}
    parts = pipeline.plan(p, None, None)
    failed = 0
    for part in parts:
        staged = pipeline.stage(part, p, "leads_flow_sync", "manual__gatefail")
        try:
            pipeline.publish(pipeline.gate(staged, p), p)
        except GateFailed:
            failed += 1
    assert failed == 1
    assert flow_table(mysql_dbs) == before  # nothing visible before the bulk publish
    with pytest.raises(Exception) as exc:  # what Airflow would never run (upstream failed) refuses anyway
        pipeline.publish_bulk(parts, p, "leads_flow_sync", "manual__gatefail")
    assert "not gated" in str(exc.value) or isinstance(exc.value.__cause__, BulkNotReady)
    assert flow_table(mysql_dbs) == before
    assert mysql_dbs.flow_rows("SELECT COUNT(*) FROM leads_flow_history") == [(0,)]


def test_a_lead_inserted_after_the_plan_is_imported_too(mysql_dbs, monkeypatch):
    insert(mysql_dbs, list(legacy_rows(2000, START, END, seed=9, dirty=0.0)))
    monkeypatch.setenv("LEADS_FLOW_BULK_PARTITION_ROWS", "700")
    p = {"start_date": "2026-11-18", "end_date": "2026-11-20", "load_mode": "bulk", "max_reject_ratio": 0.5}
    parts = pipeline.plan(p, None, None)
    insert(mysql_dbs, [legacy_row(phone=None, unionId="oAfterPlan", update_time=datetime(2026, 11, 19, 9))])
    for part in parts:
        pipeline.publish(pipeline.gate(pipeline.stage(part, p, "leads_flow_sync", "manual__late"), p), p)
    pipeline.publish_bulk(parts, p, "leads_flow_sync", "manual__late")
    # the newest legacy id (2001), beyond the id bounds the plan saw: the last id range is open-ended
    assert mysql_dbs.flow_rows("SELECT lead_id FROM leads_flow WHERE union_id = 'oAfterPlan'") == [(2001,)]
