"""Shared tools of the reliability tests: a root session, forked task processes, polling, references.

Nothing here prints row data: assertion messages carry counts and lead ids only (the rows hold
generated phone numbers, which must not reach the test output either).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from devkit.seed import insert_legacy, legacy_rows
from leads_flow.io.stage import stage_table_name
from leads_flow.tasks import sync as pipeline
from leads_flow.window import Partition
from tests.conftest import _mysql_params, mysql_conn_uri
from tests.helpers import flow_table, sync

DAG_ID = "leads_flow_sync"


class Figures:
    """What the reliability tests did, for docs/reliability.md (printed at the end of the session)."""

    def __init__(self) -> None:
        self.faults: list[str] = []
        self.concurrency: list[str] = []
        self.bad_inputs = 0
        self.crafted_batches = 0
        self.bad_rows = 0
        self.rows_compared = 0
        self.rows_lost = 0
        self.plaintext_places = 0
        self.plaintext_needles = 0
        self.plaintext_findings = 0
        self.concurrent_rounds = 0

    def fault(self, what: str) -> None:
        self.faults.append(what)

    def concurrent(self, what: str) -> None:
        self.concurrency.append(what)

    def lines(self) -> list[str]:
        out = [f"faults injected and survived: {len(self.faults)}"]
        out += [f"  - {f}" for f in self.faults]
        out += [f"concurrency: {self.concurrent_rounds} overlapping round(s) converged"]
        out += [f"  - {c}" for c in self.concurrency]
        out += [
            f"bad inputs tried: {self.bad_inputs} generated examples + {self.crafted_batches} crafted batch(es), "
            f"{self.bad_rows} legacy rows, every one loaded or rejected with a reason",
            f"rows compared exactly with a clean run or the legacy window: {self.rows_compared}; "
            f"rows lost: {self.rows_lost} (a single lost row fails its test)",
            f"plaintext scan: {self.plaintext_needles} needles over {self.plaintext_places} places; "
            f"findings: {self.plaintext_findings}",
        ]
        return out


FIGURES = Figures()


def root_uri(db: str) -> str:
    return mysql_conn_uri(db)


def sync_day(day: str, run_id: str, **params: Any) -> list[dict]:
    return sync(day, run_id=run_id, **params)


def assert_same_table(got: list[tuple], want: list[tuple], when: str) -> None:
    """Compare two flow_table() results; on a difference say where by lead id and counts only."""
    FIGURES.rows_compared += len(want)
    if got == want:
        return
    got_ids, want_ids = {r[0] for r in got}, {r[0] for r in want}
    lost, extra = want_ids - got_ids, got_ids - want_ids
    differ = sorted(r[0] for r, w in zip(sorted(got), sorted(want)) if r != w)[:10]
    raise AssertionError(
        f"{when}: leads_flow differs from a clean run: {len(got)} rows vs {len(want)}, "
        f"{len(lost)} lost (e.g. {sorted(lost)[:10]}), {len(extra)} extra, "
        f"first differing lead ids {differ}"
    )


def assert_run_reconciles(conn, etl_run_id: str, *, alone: bool = True) -> None:
    """leads_flow_run: extracted = staged + rejected, and the rejects are in leads_flow_reject.

    A reject row is kept per lead and source version and belongs to the last run that rejected it: a run
    that overlapped another (``alone=False``) may own fewer rows than it rejected, never more.
    """
    [(extracted, staged, rejected)] = rows(
        conn, "SELECT extracted, staged, rejected FROM leads_flow_run WHERE etl_run_id = %s", (etl_run_id,)
    )
    n_rejects = scalar(conn, "SELECT COUNT(*) FROM leads_flow_reject WHERE etl_run_id = %s", (etl_run_id,))
    if extracted != staged + rejected or (rejected != n_rejects if alone else n_rejects > rejected):
        raise AssertionError(
            f"{etl_run_id}: extracted {extracted} != staged {staged} + rejected {rejected} (reject rows {n_rejects})"
        )


class Login:
    """A MariaDB account made for one test (unique name, loopback hosts only), dropped afterwards."""

    HOSTS = ("127.0.0.1", "localhost")

    def __init__(self, db: str, privileges: str, table: str = "*") -> None:
        import uuid

        self.name = f"lfr_{uuid.uuid4().hex[:12]}"
        self.password = "pw_" + uuid.uuid4().hex[:16]
        self.db, self.table = db, table
        self._admin = admin()
        for h in self.HOSTS:
            self._exec(f"CREATE USER '{self.name}'@'{h}' IDENTIFIED BY %s", (self.password,))
        self.grant(privileges)

    @property
    def uri(self) -> str:
        p = _mysql_params()
        return f"mysql://{self.name}:{self.password}@{p['host']}:{p['port']}/{self.db}"

    def _exec(self, sql: str, params: tuple = ()) -> None:
        self._admin.cursor().execute(sql, params or None)

    def grant(self, privileges: str) -> None:
        for h in self.HOSTS:
            self._exec(f"GRANT {privileges} ON {self.db}.{self.table} TO '{self.name}'@'{h}'")

    def revoke(self, privileges: str) -> None:
        for h in self.HOSTS:
            self._exec(f"REVOKE {privileges} ON {self.db}.{self.table} FROM '{self.name}'@'{h}'")

    def max_connections(self, n: int) -> None:
        for h in self.HOSTS:
            self._exec(f"ALTER USER '{self.name}'@'{h}' WITH MAX_USER_CONNECTIONS {int(n)}")

    def connect(self, password: str | None = None):
        import MySQLdb

        p = _mysql_params()
        return MySQLdb.connect(
            host=p["host"],
            port=p["port"],
            user=self.name,
            passwd=self.password if password is None else password,
            db=self.db,
            connect_timeout=5,
            charset="utf8mb4",
        )

    def drop(self) -> None:
        for pid in [
            r[0]
            for r in rows(self._admin, "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = %s", (self.name,))
        ]:
            try:
                self._exec(f"KILL CONNECTION {int(pid)}")
            except Exception:  # noqa: BLE001 - it may have ended meanwhile
                pass
        for h in self.HOSTS:
            self._exec(f"DROP USER IF EXISTS '{self.name}'@'{h}'")
        self._admin.close()


@contextmanager
def login(db: str, privileges: str, table: str = "*") -> Iterator[Login]:
    user = Login(db, privileges, table)
    try:
        yield user
    finally:
        user.drop()


def admin(db: str | None = None, **kw: Any):
    """A root session (the tests' own, never the pipeline's)."""
    import MySQLdb

    return MySQLdb.connect(
        **_mysql_params(), connect_timeout=5, charset="utf8mb4", autocommit=True, **({"db": db} if db else {}), **kw
    )


def scalar(conn, sql: str, params: tuple = ()) -> Any:
    cur = conn.cursor()
    try:
        cur.execute(sql, params)
        row = cur.fetchone()
        return row[0] if row else None
    finally:
        cur.close()


def rows(conn, sql: str, params: tuple = ()) -> list[tuple]:
    cur = conn.cursor()
    try:
        cur.execute(sql, params)
        return list(cur.fetchall())
    finally:
        cur.close()


def wait_for(pred: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    """Poll ``pred`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def seed(dbs, n: int, start: datetime, end: datetime, seed_: int = 7, dirty: float = 0.03) -> int:
    db = dbs.legacy()
    try:
        return insert_legacy(db, legacy_rows(n, start, end, seed=seed_, dirty=dirty), batch=10_000)
    finally:
        db.close()


def params_for(day: str, last: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"start_date": day, "end_date": last or day, **extra}


def stage_name(run_id: str, partition: dict) -> str:
    return stage_table_name(pipeline.etl_run_id_for(run_id, Partition.from_dict(partition)))


def clear_flow(dbs) -> None:
    """Empty the flow tables (keeping the schema): the start of a clean reference run."""
    import MySQLdb

    c = admin(dbs.flow_name)
    try:
        for t in ("leads_flow", "leads_flow_reject", "leads_flow_run"):
            try:
                c.cursor().execute(f"DELETE FROM {t}")
            except MySQLdb.ProgrammingError as exc:  # no run yet: the pipeline creates its tables
                if exc.args[0] != 1146:
                    raise
    finally:
        c.close()


def reference(dbs, day: str, last: str | None = None, **params: Any) -> list[tuple]:
    """leads_flow after a clean run over the same legacy data (the flow tables are emptied first)."""
    clear_flow(dbs)
    sync(day, last, run_id=f"manual__reference_{time.monotonic_ns()}", **params)
    return flow_table(dbs)


# --- task processes ------------------------------------------------------------------------------


def _child_main(conn, fn: Callable[[], Any]) -> None:
    try:
        conn.send(("ok", json.loads(json.dumps(fn(), default=str))))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, by type and message only
        conn.send(("error", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
    finally:
        conn.close()


class Task:
    """A task process: a fork of the test process (modules already imported, so it starts at once).

    It runs in its own process group, like a task under Airflow's supervisor. ``kill()`` sends
    SIGKILL to the task process; ``kill_group()`` to it and every process it forked.
    """

    def __init__(self, fn: Callable[[], Any]) -> None:
        ctx = multiprocessing.get_context("fork")
        self._recv, send = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=self._start, args=(send, fn), daemon=False)
        self.proc.start()
        send.close()
        self.pid = self.proc.pid
        self.descendants: set[int] = set()

    @staticmethod
    def _start(send, fn) -> None:
        os.setpgid(0, 0)
        _child_main(send, fn)

    def remember_descendants(self) -> set[int]:
        import psutil

        try:
            self.descendants |= {p.pid for p in psutil.Process(self.pid).children(recursive=True)}
        except psutil.NoSuchProcess:
            pass
        return self.descendants

    def kill(self) -> None:
        self.remember_descendants()
        os.kill(self.pid, signal.SIGKILL)
        self._reaped()

    def kill_group(self) -> None:
        self.remember_descendants()
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._reaped()

    def _reaped(self, timeout: float = 10) -> None:
        # Not join(): its sentinel pipe stays open in any worker the task forked.
        wait_for(lambda: self.proc.exitcode is not None, timeout, "the killed task process to exit", 0.01)

    def result(self, timeout: float) -> Any:
        if not self._recv.poll(timeout):
            self.kill_group()
            raise AssertionError(f"task process did not finish within {timeout}s")
        msg = self._recv.recv()
        wait_for(lambda: self.proc.exitcode is not None, 30, "the task process to exit", 0.01)
        if msg[0] == "error":
            raise TaskFailed(msg[1], msg[2])
        return msg[1]

    def alive_descendants(self) -> list[int]:
        import psutil

        out = []
        for pid in sorted(self.descendants):
            try:
                p = psutil.Process(pid)
                if p.status() != psutil.STATUS_ZOMBIE:
                    out.append(pid)
            except psutil.NoSuchProcess:
                pass
        return out

    def reap(self) -> None:
        """Kill what is left of this task (by pid: only processes this test started)."""
        for pid in self.alive_descendants():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc.is_alive():
            self.kill_group()


class TaskFailed(Exception):
    def __init__(self, message: str, tb: str) -> None:
        super().__init__(message)
        self.tb = tb


@contextmanager
def task(fn: Callable[[], Any]) -> Iterator[Task]:
    t = Task(fn)
    try:
        yield t
    finally:
        t.reap()


def sessions_on(conn, db_name: str) -> list[tuple]:
    """(id, command, time, state, info) of the sessions whose current database is ``db_name``."""
    return rows(
        conn,
        "SELECT ID, COMMAND, TIME, STATE, INFO FROM information_schema.PROCESSLIST "
        "WHERE DB = %s AND ID <> CONNECTION_ID()",
        (db_name,),
    )
