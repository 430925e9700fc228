"""The stage's process pool works inside a *daemonic* task process (issue 13: CeleryExecutor's prefork pool).

Under Celery the Airflow task process is forked from a daemonic pool process and inherits its daemon flag;
``multiprocessing`` then refuses it children ("daemonic processes are not allowed to have children"), and
every stage with more than one worker failed: history windows (primary-key slices, ``LEADS_FLOW_WORKERS``)
and daily windows, even empty ones (index-range readers, ``LEADS_FLOW_READ_WORKERS``).

Here a daemonic ``multiprocessing`` process (as the task process is under Celery) runs plan → stage → gate →
publish over three days against MariaDB: a day that holds most of the table (slice workers), a small day and an
empty day (read workers). It must start its workers, publish the right rows (the same leads_flow as a run with
one process and no forks), and keep its own daemon flag afterwards. A control shows the process really is
daemonic: a plain fork-context ProcessPoolExecutor fails in it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import traceback
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta

import pytest

from leads_flow.io import process
from tests.helpers import flow_table, insert, legacy_row, sync, truncate_flow

pytestmark = pytest.mark.mysql

FORK = multiprocessing.get_context("fork")
BIG, SMALL, EMPTY = 20, 21, 22  # days of 2026-11: 200 rows (scan slices), 20 rows (index readers), none
ROWS = {BIG: 200, SMALL: 20, EMPTY: 0}
WORKERS, READ_WORKERS = 2, 4


def _rows() -> list[tuple]:
    rows = []
    for day, n in ROWS.items():
        for i in range(n):
            t = datetime(2026, 11, day, 1) + timedelta(minutes=3 * i)  # all inside the day, clear of the overlap
            rows.append(legacy_row(phone=f"139{day:02d}{i:06d}", create_time=t, join_time=t, update_time=t))
    return rows


def _square(x: int) -> int:
    return x * x


def _in_daemon(out) -> None:
    """The daemonic 'task process': control check, then the three-day sync with forked workers."""
    try:
        me = multiprocessing.current_process()
        report: dict = {"daemon_before": me.daemon}
        try:  # control: what every stage did under Celery before the fix
            with ProcessPoolExecutor(2, mp_context=FORK) as pool:
                list(pool.map(_square, [1, 2]))
            report["plain_pool"] = "ran"
        except AssertionError as exc:
            report["plain_pool"] = str(exc)
        starts = []
        original = process._WorkerProcess.start

        def counting_start(self):
            original(self)
            starts.append(self.pid)

        process._WorkerProcess.start = counting_start  # type: ignore[method-assign]
        os.environ["LEADS_FLOW_WORKERS"] = str(WORKERS)
        os.environ["LEADS_FLOW_READ_WORKERS"] = str(READ_WORKERS)
        published = sync(f"2026-11-{BIG}", f"2026-11-{EMPTY}", run_id="manual__daemonic")
        report.update(published=[p["published"] for p in published], worker_starts=len(starts), daemon_after=me.daemon)
        out.send(("ok", report))
    except BaseException as exc:  # noqa: BLE001 - reported to the test; type and message only, never rows
        out.send(("error", f"{type(exc).__name__}: {str(exc)[:500]}\n{traceback.format_exc(limit=8)[-2000:]}"))
    finally:
        out.close()


def test_stage_workers_start_and_publish_inside_a_daemonic_task_process(mysql_dbs, gx_imported, monkeypatch):
    dbs = mysql_dbs
    insert(dbs, _rows())
    r, w = FORK.Pipe(duplex=False)
    proc = FORK.Process(target=_in_daemon, args=(w,), daemon=True)
    proc.start()
    w.close()
    try:
        assert r.poll(120), "the daemonic task process did not finish in 120 s"
        status, report = r.recv()
        proc.join(15)
    finally:
        if proc.is_alive():  # never leave it behind
            os.kill(proc.pid, signal.SIGKILL)
            proc.join(5)
    assert status == "ok", report
    assert report["daemon_before"] is True and report["daemon_after"] is True
    assert "daemonic processes are not allowed to have children" in report["plain_pool"]
    # one pool per partition: WORKERS slice workers for the big day, READ_WORKERS readers for each other day
    assert report["worker_starts"] == WORKERS + 2 * READ_WORKERS
    assert report["published"] == [ROWS[BIG], ROWS[SMALL], 0]

    runs = dbs.flow_rows(
        "SELECT status, partition_start, extracted, staged, rejected FROM leads_flow_run "
        "WHERE dag_run_id = %s ORDER BY partition_start",
        ("manual__daemonic",),
    )
    assert [(s, str(p)[:10], e, st, rj) for s, p, e, st, rj in runs] == [
        ("published", f"2026-11-{d}", ROWS[d], ROWS[d], 0) for d in (BIG, SMALL, EMPTY)
    ]
    [(n,)] = dbs.flow_rows("SELECT COUNT(*) FROM leads_flow")
    assert n == sum(ROWS.values())
    parallel = flow_table(dbs)

    # the same window in this (non-daemonic) process with one worker and no fork gives the same table
    truncate_flow(dbs)
    monkeypatch.setenv("LEADS_FLOW_WORKERS", "1")
    monkeypatch.setenv("LEADS_FLOW_READ_WORKERS", "1")
    sync(f"2026-11-{BIG}", f"2026-11-{EMPTY}", run_id="manual__serial")
    same = flow_table(dbs) == parallel
    assert same, "the daemonic parallel stage and a serial stage gave different leads_flow tables"
