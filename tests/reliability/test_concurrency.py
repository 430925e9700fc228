"""Two runs with overlapping windows at the same time (a parallel backfill next to a manual range run).

Each run is its own task process (forked, as Airflow runs tasks) with its own run id; they start on a
shared signal and walk their partitions in opposite orders, so both publish the shared day together.
The final leads_flow must equal that of a serial run, every time, and no deadlock may escape the
retries. The round is repeated, because a race that loses once in a while is still a race.

A second test races only the publishes, many times (they are where the runs meet): an older and a
newer version of the same leads, staged by two runs, released into leads_flow at the same instant.
Newer must win whichever commits first.
"""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest

from leads_flow.tasks import sync as pipeline
from tests.helpers import flow_table, sync
from tests.reliability import _support as S

pytestmark = pytest.mark.mysql

RUN_A = ("2026-11-19", "2026-11-20")  # walks its days forwards
RUN_B = ("2026-11-20", "2026-11-21")  # walks its days backwards: both reach the 20th together
ROUNDS = 2
RACES = 3
PARAMS = {"max_reject_ratio": 0.2}


class _Retries(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "transient" in record.getMessage():
            self.count += 1


def _run(days: tuple[str, str], run_id: str, backwards: bool, go) -> dict:
    retries = _Retries()
    logging.getLogger("leads_flow.io.retry").addHandler(retries)
    p = {"start_date": days[0], "end_date": days[1], **PARAMS}
    parts = pipeline.plan(p, None, None)
    if not go.wait(60):
        raise RuntimeError("no start signal")
    published = 0
    for part in reversed(parts) if backwards else parts:
        published += pipeline.publish(pipeline.gate(pipeline.stage(part, p, S.DAG_ID, run_id), p), p)["published"]
    return {"published": published, "retries": retries.count}


def test_two_overlapping_runs_at_once_converge_to_the_serial_result(mysql_dbs, gx_imported):
    S.seed(mysql_dbs, 4000, datetime(2026, 11, 19), datetime(2026, 11, 22), seed_=3, dirty=0.02)
    sync(*RUN_A, run_id="manual__serial_a", **PARAMS)
    sync(*RUN_B, run_id="manual__serial_b", **PARAMS)
    serial = flow_table(mysql_dbs)
    rejects_sql = "SELECT lead_id, source_version, reasons FROM leads_flow_reject ORDER BY lead_id, source_version"
    serial_rejects = mysql_dbs.flow_rows(rejects_sql)
    ctx = multiprocessing.get_context("fork")
    retried = 0
    for n in range(ROUNDS):
        S.clear_flow(mysql_dbs)
        go = ctx.Event()
        with (
            S.task(lambda: _run(RUN_A, f"backfill__a{n}", False, go)) as a,
            S.task(lambda: _run(RUN_B, f"manual__b{n}", True, go)) as b,
        ):
            go.set()
            ra, rb = a.result(180), b.result(180)
        retried += ra["retries"] + rb["retries"]
        S.assert_same_table(flow_table(mysql_dbs), serial, f"round {n + 1}: two overlapping runs at once")
        statuses = mysql_dbs.flow_rows("SELECT status, COUNT(*) FROM leads_flow_run GROUP BY status")
        assert statuses == [("published", 4)], statuses
        watch = S.admin(mysql_dbs.flow_name)
        for (run_id,) in S.rows(watch, "SELECT etl_run_id FROM leads_flow_run"):
            S.assert_run_reconciles(watch, run_id, alone=False)
        # one reject per lead and version, whichever run wrote it last: the same set as the serial runs'
        assert mysql_dbs.flow_rows(rejects_sql) == serial_rejects
        assert not S.rows(
            watch,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() "
            "AND table_name LIKE 'leads\\\\_flow\\\\_stage\\\\_%%'",
        )
        watch.close()
        S.FIGURES.concurrent_rounds += 1
    S.FIGURES.concurrent(f"two overlapping runs at once, {ROUNDS} rounds ({retried} transient error(s) retried)")


def _publish_when_told(staged: dict, go) -> dict:
    retries = _Retries()
    logging.getLogger("leads_flow.io.retry").addHandler(retries)
    gated = {"etl_run_id": staged["etl_run_id"], "stage_table": staged["stage_table"], "timings": {}}
    if not go.wait(60):
        raise RuntimeError("no start signal")
    return {**pipeline.publish(gated, PARAMS), "retries": retries.count}


def test_racing_publishes_of_an_older_and_a_newer_version_leave_the_newer(mysql_dbs, gx_imported):
    day = "2026-11-20"
    S.seed(mysql_dbs, 6000, datetime(2026, 11, 20), datetime(2026, 11, 20, 23), seed_=13, dirty=0.02)
    p = {"start_date": day, "end_date": day, **PARAMS}
    [part] = pipeline.plan(p, None, None)
    older = [pipeline.stage(part, p, S.DAG_ID, f"backfill__old{n}") for n in range(RACES)]
    c = S.admin(mysql_dbs.legacy_name)
    c.cursor().execute(
        "UPDATE leads_aggr SET from_channel = 'newer', update_time = COALESCE(update_time, create_time)"
        " + INTERVAL 1 SECOND"
    )
    c.close()
    newer = [pipeline.stage(part, p, S.DAG_ID, f"manual__new{n}") for n in range(RACES)]
    c = S.admin(mysql_dbs.flow_name)
    for staged in older:  # the publish reads a staging table in its physical order (no ORDER BY):
        c.cursor().execute(f"ALTER TABLE {staged['stage_table']} ORDER BY lead_id")  # one run goes up,
    for staged in newer:
        c.cursor().execute(f"ALTER TABLE {staged['stage_table']} ORDER BY lead_id DESC")  # the other down
    c.close()
    want = S.reference(mysql_dbs, day, **PARAMS)
    ctx = multiprocessing.get_context("fork")
    retried = 0
    for n in range(RACES):
        S.clear_flow(mysql_dbs)
        go = ctx.Event()
        first, second = (older[n], newer[n]) if n % 2 else (newer[n], older[n])
        with S.task(lambda: _publish_when_told(first, go)) as a, S.task(lambda: _publish_when_told(second, go)) as b:
            go.set()
            ra, rb = a.result(120), b.result(120)
        retried += ra["retries"] + rb["retries"]
        S.assert_same_table(flow_table(mysql_dbs), want, f"race {n + 1}: an older and a newer publish at once")
    S.FIGURES.concurrent_rounds += RACES
    S.FIGURES.concurrent(
        f"an older and a newer publish of the same leads at once, {RACES} races "
        f"({retried} transient error(s), e.g. deadlocks, retried)"
    )


def test_a_deadlock_with_another_writer_makes_the_publish_retry_and_converge(mysql_dbs, gx_imported):
    """A deadlock made on purpose between a publish and another writer of leads_flow (an online upsert, a
    repair): the writer holds the second half of the leads and then asks for the first, which the publish
    holds while waiting for the second half. InnoDB picks the lighter transaction as the victim, the
    publish; its deadlock (1213) must be retried, not fail the run, and the result must be a clean run's."""
    day = "2026-11-20"
    S.seed(mysql_dbs, 1000, datetime(2026, 11, 20), datetime(2026, 11, 20, 23), seed_=17, dirty=0.0)
    S.sync_day(day, "manual__base", **PARAMS)  # every lead exists: the publish updates, taking row locks
    c = S.admin(mysql_dbs.legacy_name)
    c.cursor().execute(
        "UPDATE leads_aggr SET from_channel = 'newer', update_time = COALESCE(update_time, create_time)"
        " + INTERVAL 1 SECOND"
    )
    c.close()
    p = {"start_date": day, "end_date": day, **PARAMS}
    [part] = pipeline.plan(p, None, None)
    staged = pipeline.stage(part, p, S.DAG_ID, "manual__deadlock")
    ids = sorted(r[0] for r in mysql_dbs.flow_rows("SELECT lead_id FROM leads_flow"))
    first, middle = ids[0], ids[len(ids) // 2]
    writer = S.admin(mysql_dbs.flow_name)
    S.rows(writer, "CREATE TABLE writer_ballast (n INT) ENGINE=InnoDB")
    writer.autocommit(False)
    writer.cursor().executemany("INSERT INTO writer_ballast VALUES (%s)", [(n,) for n in range(20_000)])  # heavy
    S.rows(writer, "UPDATE leads_flow SET etl_loaded_at = NOW(6) WHERE lead_id >= %s", (middle,))
    watch = S.admin(mysql_dbs.flow_name)
    retries = _Retries()
    logging.getLogger("leads_flow.io.retry").addHandler(retries)
    try:
        with ThreadPoolExecutor(1) as pool:
            try:
                fut = pool.submit(
                    pipeline.publish,
                    {"etl_run_id": staged["etl_run_id"], "stage_table": staged["stage_table"], "timings": {}},
                    PARAMS,
                )
                S.wait_for(
                    lambda: _waiting_publishers(watch, mysql_dbs.flow_name) == 1,
                    30,
                    "the publish to wait for the writer's half",
                    0.25,
                )
                S.rows(writer, "SELECT lead_id FROM leads_flow WHERE lead_id = %s FOR UPDATE", (first,))
                S.wait_for(lambda: retries.count, 10, "the publish to be chosen as the deadlock victim and retry")
            finally:
                writer.rollback()
                writer.close()
            result = fut.result(60)
    finally:
        logging.getLogger("leads_flow.io.retry").removeHandler(retries)
    assert result["published"] > 0
    S.assert_same_table(flow_table(mysql_dbs), S.reference(mysql_dbs, day, **PARAMS), "after a deadlock")
    S.FIGURES.concurrent(f"deadlock of a publish with another writer ({retries.count} victim retry)")


def _waiting_publishers(watch, flow_db: str) -> int:
    return len(
        S.rows(
            watch,
            "SELECT t.trx_mysql_thread_id FROM information_schema.INNODB_TRX t "
            "JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id "
            "WHERE t.trx_state = 'LOCK WAIT' AND p.DB = %s AND p.INFO LIKE 'INSERT INTO leads_flow%%'",
            (flow_db,),
        )
    )
