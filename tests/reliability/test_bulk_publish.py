"""The bulk publish under faults and online writers (issue #20), on MariaDB.

- SIGKILL of the task process at three points of the bulk publish (shadow half-built; indexes built, just before
  the RENAME; just after the RENAME, before the second catch-up): leads_flow is the old table or the complete,
  indexed one, never anything between, and a rerun converges to the table of a clean daily run.
- An online writer (submit_lead in a thread, newer versions of leads in and outside the window) racing the bulk
  publish, with pauses widening every window between the copy, the catch-ups and the RENAME: no write is lost,
  the newest version of every lead wins.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from leads_flow.io.db import Db
from leads_flow.tasks import sync as pipeline
from tests.helpers import BASE, flow_table, sync
from tests.reliability import _support as S

pytestmark = pytest.mark.mysql

START, END = datetime(2026, 11, 18), datetime(2026, 11, 21)
N = 4000
PARAMS = {"start_date": "2026-11-18", "end_date": "2026-11-20", "max_reject_ratio": 0.5, "overlap_minutes": 0}
HISTORY = "SELECT lead_id, source_updated_at, content_hash FROM leads_flow_history ORDER BY 1, 2, 3"
INDEXES = (
    "SELECT index_name, seq_in_index, column_name FROM information_schema.statistics "
    "WHERE table_schema = DATABASE() AND table_name = 'leads_flow' ORDER BY 1, 2"
)
LEFT_OVER = (
    "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() "
    "AND table_name IN ('leads_flow__bulk', 'leads_flow__old')"
)


def _exec(dbs, *sqls: str) -> None:
    db = dbs.flow()
    try:
        cur = db.conn.cursor()
        for sql in sqls:
            cur.execute(sql)
        db.conn.commit()
    finally:
        db.close()


def _prior(dbs) -> None:
    """leads_flow before the import: leads older and newer than the window's versions."""
    from leads_flow.io.schema import ensure_flow_schema

    db = dbs.flow()
    try:
        ensure_flow_schema(db)
    finally:
        db.close()
    _exec(
        dbs,
        "INSERT INTO leads_flow (lead_id, from_channel, source_updated_at, content_hash, etl_run_id, etl_loaded_at) "
        "SELECT seq, 'prior_old', '2026-01-01', 1, 'prior', NOW(6) FROM seq_1_to_200",
        "INSERT INTO leads_flow (lead_id, from_channel, source_updated_at, content_hash, etl_run_id, etl_loaded_at) "
        "SELECT seq, 'prior_new', '2027-01-01', 2, 'prior', NOW(6) FROM seq_201_to_400",
    )


def _reset(dbs) -> None:
    _exec(
        dbs, *(f"DELETE FROM {t}" for t in ("leads_flow", "leads_flow_history", "leads_flow_run", "leads_flow_reject"))
    )
    _prior(dbs)


def _setup(dbs, monkeypatch) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """Seed the legacy window; return (before, the daily path's table, its journal); leave leads_flow as before."""
    S.seed(dbs, N, START, END, seed_=23, dirty=0.03)
    _prior(dbs)
    before = flow_table(dbs)
    sync(PARAMS["start_date"], PARAMS["end_date"], run_id="manual__daily", load_mode="daily", **_extra())
    want, want_history = flow_table(dbs), dbs.flow_rows(HISTORY)
    _reset(dbs)
    monkeypatch.setenv("LEADS_FLOW_BULK_PARTITION_ROWS", "1000")
    return before, want, want_history


def _extra() -> dict:
    return {k: v for k, v in PARAMS.items() if k not in ("start_date", "end_date")}


def _stage_and_gate(run_id: str) -> list[dict]:
    p = {**PARAMS, "load_mode": "bulk"}
    parts = pipeline.plan(p, None, None)
    assert len(parts) >= 3 and all("id_from" in x for x in parts)
    for part in parts:
        pipeline.publish(pipeline.gate(pipeline.stage(part, p, "leads_flow_sync", run_id), p), p)
    return parts


def _pause_at(name: str, when: str, marker: Path, seconds: float = 600.0) -> None:
    """In the calling (forked) process: stop for ``seconds`` before/after the first run of SQL ``name``."""
    orig = Db.run
    fired = []

    def run(self, sql_name, params=None, **idents):
        hit = sql_name == name and not fired
        if hit and when == "before":
            fired.append(1)
            marker.write_text("here")
            time.sleep(seconds)
        out = orig(self, sql_name, params, **idents)
        if hit and when == "after":
            fired.append(1)
            marker.write_text("here")
            time.sleep(seconds)
        return out

    Db.run = run


@pytest.mark.parametrize(
    "name, when, visible",
    [
        ("publish", "after", "old"),  # the shadow half-upserted, its transaction open
        ("bulk_rename", "before", "old"),  # indexes built, journal appended, first catch-up done
        ("bulk_rename", "after", "new"),  # renamed; the second catch-up and the drop of the old table not done
    ],
)
def test_sigkill_mid_bulk_publish_leaves_old_or_complete_table_and_a_rerun_converges(
    mysql_dbs, gx_imported, monkeypatch, tmp_path, name, when, visible
):
    before, want, want_history = _setup(mysql_dbs, monkeypatch)
    indexes = mysql_dbs.flow_rows(INDEXES)
    parts = _stage_and_gate("manual__bulk")
    marker = tmp_path / "paused"

    def killed_publish():
        _pause_at(name, when, marker)
        return pipeline.publish_bulk(parts, {**PARAMS, "load_mode": "bulk"}, "leads_flow_sync", "manual__bulk")

    with S.task(killed_publish) as tk:
        S.wait_for(marker.exists, 120, f"the bulk publish to reach {when} {name}")
        tk.kill()
        assert tk.proc.exitcode == -9
    S.FIGURES.fault(f"SIGKILL in the bulk publish {when} {name}")
    got = flow_table(mysql_dbs)
    S.assert_same_table(got, before if visible == "old" else want, f"after a kill {when} {name}")
    assert mysql_dbs.flow_rows(INDEXES) == indexes  # leads_flow never without its indexes

    out = pipeline.publish_bulk(parts, {**PARAMS, "load_mode": "bulk"}, "leads_flow_sync", "manual__bulk")
    assert out["partitions"] == len(parts)
    S.assert_same_table(flow_table(mysql_dbs), want, f"after the rerun of a bulk publish killed {when} {name}")
    assert mysql_dbs.flow_rows(HISTORY) == want_history
    assert mysql_dbs.flow_rows(INDEXES) == indexes
    assert mysql_dbs.flow_rows(LEFT_OVER) == []


def test_an_online_writer_racing_the_bulk_publish_loses_no_write(mysql_dbs, gx_imported, monkeypatch, cipher):
    from leads_flow.io.connect import connect
    from leads_flow.submit import submit_lead

    _, want, _ = _setup(mysql_dbs, monkeypatch)
    parts = _stage_and_gate("manual__race")

    # widen every window of the bulk publish: writes land during the copy, between the catch-ups and the RENAME
    orig = Db.run

    def slow(self, name, params=None, **idents):
        if name in ("bulk_copy", "bulk_alter", "bulk_catch_up", "bulk_rename", "bulk_drop"):
            time.sleep(0.4)
        out = orig(self, name, params, **idents)
        if name in ("bulk_copy", "bulk_rename"):
            time.sleep(0.4)
        return out

    monkeypatch.setattr(Db, "run", slow)

    stop = threading.Event()
    last: dict[int, tuple[datetime, str]] = {}
    errors: list[str] = []

    def writer() -> None:
        db = connect("leads_flow")
        k = 0
        try:
            while not stop.is_set() or k < 40:
                k += 1
                lead_id = (k * 37) % (N + 400) + 1 if k % 3 else 900_000 + k % 50  # in and outside the window
                ut = datetime(2028, 1, 1) + timedelta(seconds=k)  # newer than every version before
                union = f"oW{lead_id}v{k}"
                lead = {**BASE, "id": lead_id, "unionId": union, "phone": None, "create_time": START, "update_time": ut}
                submit_lead(db, cipher, lead)
                last[lead_id] = (ut, union)
                time.sleep(0.005)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(type(exc).__name__)
        finally:
            db.close()

    t = threading.Thread(target=writer)
    t.start()
    try:
        time.sleep(0.2)
        out = pipeline.publish_bulk(parts, {**PARAMS, "load_mode": "bulk"}, "leads_flow_sync", "manual__race")
    finally:
        stop.set()
        t.join(60)
    assert errors == []
    assert out["caught_up"] > 0  # writes did land in the windows the catch-ups cover
    rows = {
        r[0]: (r[1], r[2]) for r in mysql_dbs.flow_rows("SELECT lead_id, source_updated_at, union_id FROM leads_flow")
    }
    lost = [i for i, v in last.items() if rows.get(i) != v]
    S.FIGURES.concurrent(f"online writer racing the bulk publish: {len(last)} leads written, {len(lost)} lost")
    assert lost == [], f"{len(lost)} online write(s) lost, e.g. lead ids {sorted(lost)[:10]}"
    # every other lead is the daily path's
    others = [r for r in flow_table(mysql_dbs) if r[0] not in last]
    assert others == [r for r in want if r[0] not in last]
    assert mysql_dbs.flow_rows(LEFT_OVER) == []
