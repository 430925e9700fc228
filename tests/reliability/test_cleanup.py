"""Retention of the staging tables that failed runs leave behind (leads_flow.io.cleanup)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from airflow.sdk.exceptions import AirflowFailException

from leads_flow import config
from leads_flow.io import cleanup
from leads_flow.io.connect import connected
from leads_flow.tasks import sync as pipeline
from tests.helpers import insert, legacy_row, sync
from tests.reliability import _support as S


def _failed_run(dbs) -> str:
    """A run whose gate fails: its staging table stays for inspection. Returns the table's name."""
    d = datetime(2026, 11, 20, 10)
    insert(dbs, [legacy_row(phone=None, unionId="oU1", update_time=d), legacy_row(phone="12345", update_time=d)])
    with pytest.raises(AirflowFailException, match="reject_ratio_within_limit"):
        sync("2026-11-20", run_id="manual__fails", max_reject_ratio=0.0)
    return S.stage_name(
        "manual__fails", {"start": "2026-11-20T00:00:00", "end": "2026-11-21T00:00:00", "overlap_minutes": 60}
    )


def _tables(dbs) -> set[str]:
    sql = (
        "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
        if dbs.dialect == "mysql"
        else "SELECT name FROM sqlite_master WHERE type = 'table'"
    )
    return {r[0] for r in dbs.flow_rows(sql)}


def _decoys(dbs) -> list[str]:
    names = ["leads_flow_stage_notahexhash0000", "leads_flow_stage_0123456789abcdef_other", "leads_flowxstage_x"]
    with connected("leads_flow") as db:
        for n in names:
            db.conn.cursor().execute(f"CREATE TABLE {n} (a INT)")
        db.conn.commit()
    return names


@pytest.mark.mysql
def test_staging_tables_older_than_the_window_are_dropped_on_mysql(mysql_dbs):
    stage = _failed_run(mysql_dbs)
    decoys = _decoys(mysql_dbs)
    with connected("leads_flow") as db:
        db.conn.cursor().execute(f"CREATE TABLE {stage}_audit (a INT)")
        db.conn.commit()
        assert cleanup.drop_stale_stages(db, 72) == []  # young: kept for inspection
        assert {stage, stage + "_audit"} <= _tables(mysql_dbs)
        db.conn.cursor().execute("SET SESSION timestamp = UNIX_TIMESTAMP() + 73 * 3600")  # three days later
        assert sorted(cleanup.drop_stale_stages(db, 72)) == sorted([stage, stage + "_audit"])
    left = _tables(mysql_dbs)
    assert stage not in left and stage + "_audit" not in left
    assert set(decoys) <= left and {"leads_flow", "leads_flow_run", "leads_flow_reject"} <= left


def test_staging_tables_older_than_the_window_are_dropped_on_sqlite(sqlite_dbs):
    stage = _failed_run(sqlite_dbs)
    decoys = _decoys(sqlite_dbs)
    with connected("leads_flow") as db:
        db.conn.execute("CREATE TABLE leads_flow_stage_00000000000000aa (a INT)")  # no run owns it: kept
        db.conn.commit()
        assert cleanup.drop_stale_stages(db, 72) == []
        old = (datetime.now() - timedelta(hours=73)).isoformat(sep=" ")
        db.conn.execute("UPDATE leads_flow_run SET started_at = ?", (old,))
        db.conn.commit()
        assert cleanup.drop_stale_stages(db, 72) == [stage]
    left = _tables(sqlite_dbs)
    assert stage not in left and "leads_flow_stage_00000000000000aa" in left and set(decoys) <= left


@pytest.mark.mysql
def test_plan_applies_the_retention_window_from_the_environment(mysql_dbs, monkeypatch):
    stage = _failed_run(mysql_dbs)
    calls = []
    real = pipeline.drop_stale_stages
    monkeypatch.setattr(pipeline, "drop_stale_stages", lambda db, hours: calls.append(hours) or real(db, hours))
    p = {"start_date": "2026-11-20", "end_date": "2026-11-20"}
    pipeline.plan(p, None, None)
    monkeypatch.setenv(config.RETENTION_ENV, "5")
    pipeline.plan(p, None, None)
    assert calls == [72, 5]
    assert stage in _tables(mysql_dbs)  # an hour-old table is inside any window
    for bad in ("0", "-1", "abc", "1.5", str(24 * 367)):
        monkeypatch.setenv(config.RETENTION_ENV, bad)
        with pytest.raises(AirflowFailException, match=config.RETENTION_ENV):
            pipeline.plan(p, None, None)


def test_plan_purges_rejects_older_than_their_retention(any_dbs, monkeypatch):
    """Rejects keep raw values (phone encrypted): the plan deletes those older than
    LEADS_FLOW_REJECT_RETENTION_DAYS and keeps the rest; a bad value fails the run, naming the variable."""
    _failed_run(any_dbs)  # leaves a reject of today
    p = {"start_date": "2026-11-20", "end_date": "2026-11-20"}
    old = datetime.now() - timedelta(days=31)
    with connected("leads_flow") as db, db.transaction():
        cur = db.conn.cursor()
        mark = "%s" if db.dialect == "mysql" else "?"
        cur.execute(
            f"INSERT INTO leads_flow_reject (etl_run_id, lead_id, reasons, raw_values, source_updated_at, rejected_at) "
            f"VALUES ({mark}, {mark}, {mark}, NULL, NULL, {mark})",
            ("manual__old@2026-10-01T00:00", 424242, "phone_invalid", old),
        )
        cur.close()

    def reject_ids() -> set[int]:
        return {r[0] for r in any_dbs.flow_rows("SELECT lead_id FROM leads_flow_reject")}

    before = reject_ids()
    assert 424242 in before and len(before) >= 2
    monkeypatch.setenv(config.REJECT_RETENTION_ENV, "60")
    pipeline.plan(p, None, None)
    assert reject_ids() == before  # 31 days old: inside 60 days
    monkeypatch.setenv(config.REJECT_RETENTION_ENV, "30")
    pipeline.plan(p, None, None)
    assert reject_ids() == before - {424242}
    monkeypatch.delenv(config.REJECT_RETENTION_ENV)
    pipeline.plan(p, None, None)  # the default, 90 days, keeps today's
    assert reject_ids() == before - {424242}
    for bad in ("0", "abc", "4000"):
        monkeypatch.setenv(config.REJECT_RETENTION_ENV, bad)
        with pytest.raises(AirflowFailException, match=config.REJECT_RETENTION_ENV):
            pipeline.plan(p, None, None)
