"""Faults injected into real runs on MariaDB: SIGKILL of the task process during extraction and during
publish, KILL CONNECTION of the pipeline's sessions, a flow database that refuses writes or holds a
table lock, and the transient/permanent split of real server errors.

After every fault, a rerun (or Airflow's retry, which calls the same function again) must leave
leads_flow equal to a clean run over the same legacy data, and no reader may ever see half a window.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import MySQLdb
import pytest
from airflow.sdk.exceptions import AirflowFailException

from leads_flow.io.retry import PermanentDbError, TransientDbError, classify, retrying
from leads_flow.tasks import sync as pipeline
from leads_flow.tasks.boundary import fail_fast
from tests.helpers import flow_table
from tests.reliability import _support as S
from tests.reliability.conftest import BIG_DAY

pytestmark = pytest.mark.mysql

DAY = "2026-11-20"
SMALL = 1500


class Records(logging.Handler):
    """Collects the messages (never row data: the pipeline logs counts and error types) of a logger."""

    def __init__(self, name: str) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []
        self.logger = logging.getLogger(name)

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def __enter__(self) -> Records:
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        self.logger.removeHandler(self)

    def retries(self) -> list[str]:
        return [m for m in self.messages if "transient" in m and "retrying" in m]


def small_data(dbs, n: int = SMALL) -> None:
    S.seed(dbs, n, datetime(2026, 11, 20), datetime(2026, 11, 20, 23), seed_=5, dirty=0.02)


def bump_to_v2(dbs) -> None:
    """A newer version of every lead of the day: from_channel 'v2', one second later."""
    c = S.admin(dbs.legacy_name)
    try:
        c.cursor().execute(
            "UPDATE leads_aggr SET from_channel = 'v2', update_time = COALESCE(update_time, create_time) + "
            "INTERVAL 1 SECOND WHERE COALESCE(update_time, create_time) >= '2026-11-20' "
            "AND COALESCE(update_time, create_time) < '2026-11-20 23:00'"
        )
    finally:
        c.close()


def v2_count(reader) -> int:
    return S.scalar(reader, "SELECT COUNT(*) FROM leads_flow WHERE from_channel = 'v2'")


def gated_run(run_id: str, **params) -> tuple[dict, dict]:
    p = S.params_for(DAY, max_reject_ratio=0.2, **params)
    [part] = pipeline.plan(p, None, None)
    return p, pipeline.gate(pipeline.stage(part, p, S.DAG_ID, run_id), p)


def published_v1_then_gated_v2(dbs, run_id: str) -> tuple[dict, dict, int]:
    """Leads of the day published once (v1), then a newer version staged and gated, ready to publish."""
    small_data(dbs)
    S.sync_day(DAY, "manual__v1", max_reject_ratio=0.2)
    bump_to_v2(dbs)
    p, gated = gated_run(run_id)
    return p, gated, gated["staged"]


class Sampler:
    """Counts the v2 rows visible to another session, again and again, while a publish runs."""

    def __init__(self, dbs) -> None:
        self.conn = S.admin(dbs.flow_name)
        self.seen: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.seen.add(v2_count(self.conn))
            time.sleep(0.02)

    def stop(self) -> set[int]:
        self._stop.set()
        self._thread.join(5)
        self.conn.close()
        return self.seen


def hold_row_lock(dbs, stage_table: str, staged: int):
    """Lock, from another session, a leads_flow row that the publish reaches halfway through."""
    locker = S.admin(dbs.flow_name)
    locker.autocommit(False)
    lead = S.scalar(locker, f"SELECT lead_id FROM {stage_table} LIMIT 1 OFFSET %s", (staged // 2,))
    locker.rollback()
    S.rows(locker, "SELECT lead_id FROM leads_flow WHERE lead_id = %s FOR UPDATE", (lead,))
    return locker


# information_schema.INNODB_TRX is a cache refreshed only when it was last read over 0.1s ago: poll slower.
I_S_POLL = 0.25


def blocked_publisher(watch, flow_db: str) -> tuple[int, int] | None:
    """(session id, rows modified) of the publish once it has written some rows and waits for the lock."""
    got = S.rows(
        watch,
        "SELECT t.trx_mysql_thread_id, t.trx_rows_modified FROM information_schema.INNODB_TRX t "
        "JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id "
        "WHERE t.trx_state = 'LOCK WAIT' AND p.DB = %s AND p.INFO LIKE 'INSERT INTO leads_flow%%'",
        (flow_db,),
    )
    return (int(got[0][0]), int(got[0][1])) if got and got[0][1] > 0 else None


# --- SIGKILL of the task process -----------------------------------------------------------------


def _big_partition(
    mysql_dbs, big_data, monkeypatch, run_id: str, chunk_rows: int = 4000, one_process: bool = False
) -> tuple[dict, dict, str]:
    """The big day in the legacy database, small chunks (early, frequent commits: a fault lands mid-way):
    (params, planned partition, staging table name)."""
    big_data.copy_into(mysql_dbs)
    monkeypatch.setenv("LEADS_FLOW_CHUNK_ROWS", str(chunk_rows))
    if one_process:  # whichever way the window is read (primary-key slices or index ranges)
        monkeypatch.setenv("LEADS_FLOW_WORKERS", "1")
        monkeypatch.setenv("LEADS_FLOW_READ_WORKERS", "1")
    p = S.params_for(BIG_DAY, **big_data.params)
    [part] = pipeline.plan(p, None, None)
    return p, part, S.stage_name(run_id, part)


def _stage_rows(conn, table: str) -> int:
    try:
        return S.scalar(conn, f"SELECT COUNT(*) FROM {table}")
    except MySQLdb.ProgrammingError:  # not created yet
        return 0


def test_sigkill_of_the_stage_task_mid_extraction_then_the_rerun_equals_a_clean_run(mysql_dbs, big_data, monkeypatch):
    run_id = "manual__sigkill_stage"
    p, part, table = _big_partition(mysql_dbs, big_data, monkeypatch, run_id)
    watch = S.admin(mysql_dbs.flow_name)
    with S.task(lambda: pipeline.stage(part, p, S.DAG_ID, run_id)) as tk:
        loaded = S.wait_for(
            lambda: (tk.remember_descendants(), _stage_rows(watch, table))[1],
            60,
            "the stage task to load its first rows",
        )
        tk.kill_group()  # what Airflow's supervisor does to a task it kills: the whole process group
        assert tk.proc.exitcode == -9
        S.wait_for(lambda: not tk.alive_descendants(), 10, "the task's workers to die with it")
    staged_at_kill = _stage_rows(watch, table)
    assert 0 < loaded <= staged_at_kill < big_data.rows, "the kill must land mid-extraction"
    assert S.scalar(watch, "SELECT COUNT(*) FROM leads_flow") == 0
    assert S.scalar(watch, "SELECT status FROM leads_flow_run") == "staging"
    # Airflow's retry runs the same task again, same run id
    staged = pipeline.stage(part, p, S.DAG_ID, run_id)
    pipeline.publish(pipeline.gate(staged, p), p)
    S.assert_same_table(flow_table(mysql_dbs), big_data.reference, "after a SIGKILL mid-extraction and a rerun")
    S.assert_run_reconciles(watch, staged["etl_run_id"])
    assert staged["extracted"] == big_data.rows
    S.FIGURES.fault("SIGKILL of the stage task (process group) mid-extraction")


def test_sigkill_of_the_stage_task_process_alone_takes_its_workers_with_it(mysql_dbs, big_data, monkeypatch):
    run_id = "manual__sigkill_stage_pid"
    p, part, table = _big_partition(mysql_dbs, big_data, monkeypatch, run_id)
    watch = S.admin(mysql_dbs.flow_name)
    with S.task(lambda: pipeline.stage(part, p, S.DAG_ID, run_id)) as tk:
        S.wait_for(lambda: (tk.remember_descendants(), _stage_rows(watch, table))[1], 60, "the first staged rows")
        assert tk.descendants, "the stage task forks its workers"
        tk.kill()  # the task process only
        deadline = time.monotonic() + 5
        while tk.alive_descendants() and time.monotonic() < deadline:
            time.sleep(0.1)
        survivors = len(tk.alive_descendants())
        if survivors:
            raise AssertionError(f"{survivors} worker process(es) still alive 5s after their task was killed")
        staged = pipeline.stage(part, p, S.DAG_ID, run_id)
        pipeline.publish(pipeline.gate(staged, p), p)
    S.assert_same_table(flow_table(mysql_dbs), big_data.reference, "after killing the task process alone")


def test_sigkill_during_publish_shows_readers_all_or_nothing_and_the_rerun_converges(mysql_dbs):
    p, gated, staged = published_v1_then_gated_v2(mysql_dbs, "manual__sigkill_publish")
    locker = hold_row_lock(mysql_dbs, gated["stage_table"], staged)
    watch = S.admin(mysql_dbs.flow_name)
    sampler = None
    try:
        with S.task(lambda: pipeline.publish(gated, p)) as tk:
            sampler = Sampler(mysql_dbs)  # started after the fork: the task must not inherit its thread
            session, modified = S.wait_for(
                lambda: blocked_publisher(watch, mysql_dbs.flow_name),
                30,
                "the publish to write rows and wait for the locked one",
                I_S_POLL,
            )
            assert modified > 0  # half the window is written, uncommitted
            assert v2_count(watch) == 0
            tk.kill_group()
            assert v2_count(watch) == 0
        locker.rollback()  # the orphaned statement may now finish, but nobody will ever commit it
        S.wait_for(
            lambda: not S.rows(watch, "SELECT 1 FROM information_schema.PROCESSLIST WHERE ID = %s", (session,)),
            30,
            "the server to drop the killed task's session",
        )
        assert v2_count(watch) == 0
        assert (
            S.scalar(watch, "SELECT status FROM leads_flow_run WHERE etl_run_id = %s", (gated["etl_run_id"],))
            == "gated"
        )
    finally:
        seen = sampler.stop() if sampler else set()
        locker.close()
    if seen != {0}:
        raise AssertionError(f"a reader saw a partial window: v2 counts {sorted(seen)} of {staged}")
    pipeline.publish(gated, p)  # Airflow's retry of the publish task
    assert v2_count(watch) == staged
    got = flow_table(mysql_dbs)
    S.assert_same_table(got, S.reference(mysql_dbs, DAY, max_reject_ratio=0.2), "after a SIGKILL during publish")
    S.FIGURES.fault("SIGKILL of the publish task while its INSERT…SELECT held half the window")


def test_a_retry_after_the_commit_of_publish_succeeds_without_doing_anything(mysql_dbs):
    """The task died (or lost its connection) after COMMIT and the drop, before reporting success."""
    small_data(mysql_dbs)
    p, gated = gated_run("manual__retry_after_commit")
    first = pipeline.publish(gated, p)
    before = mysql_dbs.flow_rows("SELECT lead_id, phone_cipher, etl_run_id FROM leads_flow ORDER BY lead_id")
    again = pipeline.publish(gated, p)  # Airflow's retry: the staging table is gone
    assert first["published"] > 0 and again["published"] == 0
    assert mysql_dbs.flow_rows("SELECT lead_id, phone_cipher, etl_run_id FROM leads_flow ORDER BY lead_id") == before
    assert mysql_dbs.flow_rows("SELECT status FROM leads_flow_run") == [("published",)]
    S.FIGURES.fault("publish retried after its commit (task lost before reporting success)")


# --- KILL CONNECTION from another session ---------------------------------------------------------


def _child_stage_with_log(part, p, run_id):
    def run():
        with Records("leads_flow.io.retry") as rec:
            res = pipeline.stage(part, p, S.DAG_ID, run_id)
        return {"staged": res, "retries": rec.retries()}

    return run


def test_kill_connection_of_the_legacy_stream_mid_extraction_is_retried(mysql_dbs, big_data, monkeypatch):
    # One process reads the whole day in one stream, far larger than the socket buffers, so the server is
    # still sending (blocked on the client, which maps chunk by chunk) when the session is killed.
    run_id = "manual__kill_legacy_conn"
    p, part, table = _big_partition(mysql_dbs, big_data, monkeypatch, run_id, chunk_rows=2000, one_process=True)
    watch = S.admin()

    def streaming_session():
        if not _stage_rows(watch, f"{mysql_dbs.flow_name}.{table}"):
            return None
        got = [
            r
            for r in S.sessions_on(watch, mysql_dbs.legacy_name)
            if r[1] == "Query" and (r[4] or "").startswith("SELECT")
        ]
        return got[0][0] if got else None

    with S.task(_child_stage_with_log(part, p, run_id)) as tk:
        victim = S.wait_for(streaming_session, 60, "a legacy session streaming rows mid-extraction", 0.01)
        watch.cursor().execute(f"KILL CONNECTION {int(victim)}")
        out = tk.result(180)
    assert out["retries"], "the lost connection must be retried"
    staged = out["staged"]
    pipeline.publish(pipeline.gate(staged, p), p)
    S.assert_same_table(flow_table(mysql_dbs), big_data.reference, "after KILL CONNECTION of the legacy stream")
    S.assert_run_reconciles(S.admin(mysql_dbs.flow_name), staged["etl_run_id"])
    S.FIGURES.fault("KILL CONNECTION of the legacy stream mid-extraction")


def test_kill_connection_during_publish_is_retried_and_readers_never_see_half(mysql_dbs):
    p, gated, staged = published_v1_then_gated_v2(mysql_dbs, "manual__kill_publish_conn")
    locker = hold_row_lock(mysql_dbs, gated["stage_table"], staged)
    watch = S.admin(mysql_dbs.flow_name)
    sampler = Sampler(mysql_dbs)
    try:
        with Records("leads_flow.io.retry") as rec, ThreadPoolExecutor(1) as pool:
            try:
                fut = pool.submit(pipeline.publish, gated, p)
                session, _ = S.wait_for(
                    lambda: blocked_publisher(watch, mysql_dbs.flow_name),
                    30,
                    "the publish to write rows and wait for the locked one",
                    I_S_POLL,
                )
                watch.cursor().execute(f"KILL CONNECTION {session}")
                S.wait_for(rec.retries, 10, "the publish to see the lost connection as transient")
            finally:
                locker.rollback()
                locker.close()
            result = fut.result(60)
    finally:
        seen = sampler.stop()
    if not seen <= {0, staged}:
        raise AssertionError(f"a reader saw a partial window: v2 counts {sorted(seen)} of {staged}")
    assert result["published"] > 0 and v2_count(watch) == staged
    S.assert_same_table(
        flow_table(mysql_dbs), S.reference(mysql_dbs, DAY, max_reject_ratio=0.2), "after KILL CONNECTION during publish"
    )
    S.FIGURES.fault("KILL CONNECTION of the publish session mid-INSERT")


def test_kill_connection_of_a_stage_loader_is_retried(mysql_dbs, big_data, monkeypatch):
    """The flow-side session of a stage worker dies in the middle of a chunk load."""
    run_id = "manual__kill_loader_conn"
    p, part, table = _big_partition(mysql_dbs, big_data, monkeypatch, run_id)
    watch = S.admin()
    locker = S.admin(mysql_dbs.flow_name)

    def lock_once_loading():
        if not _stage_rows(watch, f"{mysql_dbs.flow_name}.{table}"):
            return False
        S.rows(locker, f"LOCK TABLES {table} WRITE")  # the next chunk loads wait for this lock
        return True

    def waiting_loader():
        got = [
            r[0]
            for r in S.sessions_on(watch, mysql_dbs.flow_name)
            if "metadata lock" in (r[3] or "") and (r[4] or "").startswith("LOAD DATA")
        ]
        return got[0] if got else None

    with S.task(_child_stage_with_log(part, p, run_id)) as tk:
        try:
            S.wait_for(lock_once_loading, 60, "the first staged rows")
            victim = S.wait_for(waiting_loader, 60, "a stage worker's chunk load")
            watch.cursor().execute(f"KILL CONNECTION {int(victim)}")
        finally:
            S.rows(locker, "UNLOCK TABLES")
            locker.close()
        out = tk.result(180)
    assert out["retries"], "the lost connection must be retried"
    pipeline.publish(pipeline.gate(out["staged"], p), p)
    S.assert_same_table(flow_table(mysql_dbs), big_data.reference, "after KILL CONNECTION of a stage loader")
    S.FIGURES.fault("KILL CONNECTION of a stage worker's session mid chunk load")


@pytest.mark.parametrize(
    "locked, victim_waits_on, label",
    [
        ("{stage}", "", "KILL CONNECTION of the gate's session"),
        # GX catches the driver's error itself and reports the expectation as failed with an exception: that
        # is no verdict on the data, so it must not fail the run for good as a failed gate.
        # GX reads only the audit table, made by the gate's scan while GX imports: locked as soon as it exists.
        ("{stage}_audit", "_audit", "KILL CONNECTION of a Great Expectations query in the gate"),
    ],
    ids=["audit_query", "gx_query"],
)
def test_kill_connection_during_the_gate_is_retried_not_reported_as_a_data_failure(
    mysql_dbs, locked, victim_waits_on, label
):
    """A lost connection in the gate (its audit query, or a query GX runs: the reject ratio's waits on
    a lock on leads_flow_reject) must not read as 'the data failed the gate'."""
    small_data(mysql_dbs)
    p = S.params_for(DAY, max_reject_ratio=0.2)
    [part] = pipeline.plan(p, None, None)
    staged = pipeline.stage(part, p, S.DAG_ID, "manual__kill_gate_" + ("gx" if victim_waits_on else "audit"))
    watch = S.admin(mysql_dbs.flow_name)
    locker = S.admin(mysql_dbs.flow_name)
    table = locked.format(stage=staged["stage_table"])

    def lock() -> None:
        S.rows(locker, f"LOCK TABLES {table} WRITE")

    if not victim_waits_on:
        lock()
    with ThreadPoolExecutor(1) as pool:
        try:
            fut = pool.submit(pipeline.gate, staged, p)
            if victim_waits_on:  # the audit table exists only once the gate's scan has made it
                S.wait_for(
                    lambda: S.rows(watch, f"SELECT 1 FROM information_schema.tables WHERE table_name = '{table}'"),
                    60,
                    "the audit table",
                    every=0.005,
                )
                lock()
            victim = S.wait_for(
                lambda: [
                    r[0]
                    for r in S.sessions_on(watch, mysql_dbs.flow_name)
                    if "metadata lock" in (r[3] or "") and victim_waits_on in (r[4] or "")
                ],
                60,
                "the gate's query to wait for the lock",
            )
            watch.cursor().execute(f"KILL CONNECTION {int(victim[0])}")
        finally:
            S.rows(locker, "UNLOCK TABLES")
            locker.close()
        try:
            gated = fut.result(120)
        except AirflowFailException as exc:
            raise AssertionError(f"a lost connection failed the run for good: {str(exc)[:200]}") from None
        except Exception:  # noqa: BLE001 - not AirflowFailException: Airflow retries the task
            gated = pipeline.gate(staged, p)
    pipeline.publish(gated, p)
    S.assert_same_table(flow_table(mysql_dbs), S.reference(mysql_dbs, DAY, max_reject_ratio=0.2), "after " + label)
    S.FIGURES.fault(label)


# --- the flow database refuses writes ---------------------------------------------------------------


def test_a_table_lock_on_leads_flow_times_out_transiently_and_publish_retries(mysql_dbs, monkeypatch):
    """`LOCK TABLES leads_flow READ` from another session: the publish waits, times out (1205), retries."""
    monkeypatch.setenv("LEADS_FLOW_LOCK_WAIT_TIMEOUT", "2")
    p, gated, staged = published_v1_then_gated_v2(mysql_dbs, "manual__table_lock")
    locker = S.admin(mysql_dbs.flow_name)
    S.rows(locker, "LOCK TABLES leads_flow READ")
    watch = S.admin(mysql_dbs.flow_name)
    with Records("leads_flow.io.retry") as rec, ThreadPoolExecutor(1) as pool:
        try:
            fut = pool.submit(pipeline.publish, gated, p)
            S.wait_for(rec.retries, 20, "the publish to time out on the table lock and retry")
            assert v2_count(watch) == 0
        finally:
            S.rows(locker, "UNLOCK TABLES")
            locker.close()
        fut.result(60)
    assert any("OperationalError" in m for m in rec.retries())
    assert v2_count(watch) == staged
    S.assert_same_table(
        flow_table(mysql_dbs), S.reference(mysql_dbs, DAY, max_reject_ratio=0.2), "after a table lock on leads_flow"
    )
    S.FIGURES.fault("LOCK TABLES leads_flow READ during publish (lock wait timeout, retried)")


def test_flow_refusing_writes_fails_fast_with_a_clear_message_then_the_rerun_converges(mysql_dbs, monkeypatch):
    """The flow login loses INSERT mid-run (a read-only flow database): the publish fails at once, says
    why, publishes nothing; once writes are allowed again the rerun converges."""
    small_data(mysql_dbs)
    with S.login(mysql_dbs.flow_name, "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX") as user:
        monkeypatch.setenv("AIRFLOW_CONN_LEADS_FLOW", user.uri)
        p, gated = gated_run("manual__read_only")
        user.revoke("INSERT")
        t0 = time.monotonic()
        with pytest.raises(AirflowFailException) as err:
            pipeline.publish(gated, p)
        assert time.monotonic() - t0 < 5, "a permanent error must not be retried"
        msg = str(err.value)
        assert "PermanentDbError" in msg and "INSERT command denied" in msg and "leads_flow" in msg
        assert mysql_dbs.flow_rows("SELECT COUNT(*) FROM leads_flow") == [(0,)]
        [(status, error)] = mysql_dbs.flow_rows("SELECT status, error FROM leads_flow_run")
        assert status == "failed" and "INSERT command denied" in error
        user.grant("INSERT")
        pipeline.publish(gated, p)  # the rerun of the publish task
        got = flow_table(mysql_dbs)
    monkeypatch.setenv("AIRFLOW_CONN_LEADS_FLOW", S.root_uri(mysql_dbs.flow_name))
    S.assert_same_table(got, S.reference(mysql_dbs, DAY, max_reject_ratio=0.2), "after the flow refused writes")
    S.FIGURES.fault("flow login loses INSERT mid-run (refused writes), rerun after it is restored")


# --- transient versus permanent, with errors the server really produces ------------------------------


def _server_error(make) -> MySQLdb.Error:
    try:
        make()
    except MySQLdb.Error as exc:
        return exc
    raise AssertionError("the server raised no error")


def real_errors(flow_db: str) -> dict[str, MySQLdb.Error]:
    """One real exception per kind, produced by the MariaDB server under test."""
    errs: dict[str, MySQLdb.Error] = {}
    a, b = S.admin(flow_db), S.admin(flow_db)
    for c in (a, b):
        c.autocommit(False)
    a.cursor().execute("CREATE TABLE IF NOT EXISTS fault_probe (id INT PRIMARY KEY, v INT) ENGINE=InnoDB")
    a.cursor().execute("INSERT INTO fault_probe VALUES (1, 0), (2, 0)")
    a.commit()
    # lock wait timeout (1205)
    S.rows(a, "SELECT * FROM fault_probe WHERE id = 1 FOR UPDATE")
    S.rows(b, "SET SESSION innodb_lock_wait_timeout = 1")
    errs["lock_wait_timeout"] = _server_error(lambda: S.rows(b, "SELECT * FROM fault_probe WHERE id = 1 FOR UPDATE"))
    a.rollback(), b.rollback()
    for c in (a, b):
        S.rows(c, "SET SESSION innodb_lock_wait_timeout = 15")  # the deadlock below must not time out first
    a_id = a.thread_id()  # asked now: the connection is busy in another thread below

    # deadlock (1213): a holds 1 and wants 2, b holds 2 and wants 1
    def update(conn, lead: int) -> MySQLdb.Error | None:
        try:
            S.rows(conn, "UPDATE fault_probe SET v = 2 WHERE id = %s", (lead,))
            return None
        except MySQLdb.Error as exc:
            return exc

    S.rows(a, "UPDATE fault_probe SET v = 1 WHERE id = 1")
    S.rows(b, "UPDATE fault_probe SET v = 1 WHERE id = 2")
    with ThreadPoolExecutor(1) as pool:
        fut = pool.submit(update, a, 2)  # a waits for b
        S.wait_for(
            lambda: any(r[0] == a_id and "UPDATE" in (r[4] or "") for r in S.sessions_on(b, flow_db)),
            10,
            "the first session to wait",
        )
        from_b = update(b, 1)  # b waits for a: a cycle, one of them is chosen as the victim
        errs["deadlock"] = from_b or fut.result(30)
    a.rollback(), b.rollback()
    # lost connection during a query (2013): KILL CONNECTION from another session
    victim = S.admin(flow_db)
    vid = victim.thread_id()
    with ThreadPoolExecutor(1) as pool:
        fut = pool.submit(lambda: _server_error(lambda: S.rows(victim, "SELECT SLEEP(20)")))
        S.wait_for(
            lambda: any(r[0] == vid and "SLEEP" in (r[4] or "") for r in S.sessions_on(a, flow_db)),
            10,
            "the victim's query to start",
        )
        a.cursor().execute(f"KILL CONNECTION {vid}")
        errs["lost_connection"] = fut.result(25)
    # server gone away (2006 or similar) on a connection killed while idle
    idle = S.admin(flow_db)
    a.cursor().execute(f"KILL CONNECTION {idle.thread_id()}")
    time.sleep(0.2)
    errs["gone_away"] = _server_error(lambda: S.rows(idle, "SELECT 1"))
    # cannot connect (2003): nothing listens on this loopback port
    errs["cannot_connect"] = _server_error(lambda: MySQLdb.connect(host="127.0.0.1", port=1, connect_timeout=2))
    # permanent: missing table, unknown column, duplicate key, data too long, bad login
    errs["no_such_table"] = _server_error(lambda: S.rows(a, "SELECT * FROM no_such_table"))
    errs["unknown_column"] = _server_error(lambda: S.rows(a, "SELECT no_such_column FROM fault_probe"))
    errs["duplicate_key"] = _server_error(lambda: S.rows(a, "INSERT INTO fault_probe VALUES (1, 0)"))
    a.rollback()
    errs["syntax"] = _server_error(lambda: S.rows(a, "SELEC 1"))
    with S.login(flow_db, "SELECT") as user:
        errs["command_denied"] = _server_error(
            lambda: user.connect().cursor().execute("INSERT INTO fault_probe VALUES (9, 9)")
        )
        errs["access_denied"] = _server_error(lambda: user.connect(password="wrong"))
        user.max_connections(1)
        held = user.connect()
        errs["too_many_user_connections"] = _server_error(user.connect)
        held.close()
    for c in (a, b):
        c.close()
    return errs


TRANSIENT = {
    "lock_wait_timeout": 1205,
    "deadlock": 1213,
    "lost_connection": 2013,
    "gone_away": None,
    "cannot_connect": None,
    "too_many_user_connections": 1226,
}
PERMANENT = {
    "no_such_table": 1146,
    "unknown_column": 1054,
    "duplicate_key": 1062,
    "syntax": 1064,
    "command_denied": 1142,
    "access_denied": 1045,
}


def test_real_server_errors_are_split_into_transient_and_permanent(mysql_dbs):
    errs = real_errors(mysql_dbs.flow_name)
    for kind, code in {**TRANSIENT, **PERMANENT}.items():
        if code is not None:
            assert errs[kind].args[0] == code, kind
    assert errs["cannot_connect"].args[0] in (2002, 2003)  # the client library decides which
    assert {k for k in errs if classify(errs[k]) is TransientDbError} == set(TRANSIENT)
    assert {k for k in errs if classify(errs[k]) is PermanentDbError} == set(PERMANENT)
    S.FIGURES.fault(
        f"{len(errs)} real server errors classified (transient {len(TRANSIENT)}, permanent {len(PERMANENT)})"
    )


def test_transient_errors_are_retried_with_backoff_and_permanent_ones_fail_fast(mysql_dbs, monkeypatch):
    errs = real_errors(mysql_dbs.flow_name)
    delays: list[float] = []
    monkeypatch.setattr("leads_flow.io.retry.time.sleep", delays.append)

    for kind in TRANSIENT:
        calls = []

        def flaky():
            calls.append(1)
            if len(calls) < 3:
                raise errs[kind]
            return "done"

        delays.clear()
        assert retrying(flaky, base_delay=0.5, what="probe") == "done" and len(calls) == 3, kind
        assert 0.5 <= delays[0] <= 0.75 and 1.0 <= delays[1] <= 1.5, (kind, delays)  # exponential, jittered

    def always(exc):
        def fn():
            calls.append(1)
            raise exc

        return fn

    calls = []
    with pytest.raises(TransientDbError, match="probe: OperationalError"):
        retrying(always(errs["deadlock"]), attempts=4, what="probe")
    assert len(calls) == 4  # gives up after the last attempt

    for kind in PERMANENT:
        calls, delays[:] = [], []
        with pytest.raises(PermanentDbError) as err:
            retrying(always(errs[kind]), what="publish x")
        assert len(calls) == 1 and delays == [], kind  # no retry, no wait
        assert str(err.value).startswith("publish x: ") and str(errs[kind].args[1]) in str(err.value), kind

    # through the pipeline: a permanent error becomes AirflowFailException, which Airflow does not retry
    failed = fail_fast(PermanentDbError('publish x: ProgrammingError: (1146, "Table doesn\'t exist")'))
    assert isinstance(failed, AirflowFailException) and "Table doesn't exist" in str(failed)
    assert fail_fast(errs["deadlock"]) is errs["deadlock"]  # left to Airflow's retries
