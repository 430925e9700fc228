"""End to end under CeleryExecutor: two workers, PostgreSQL metadata, Redis broker (issue 13).

Starts `airflow api-server`, `airflow scheduler`, `airflow dag-processor` and two `airflow celery worker`s
(``--celery-hostname worker-N@%h``, and a distinct ``[core] hostname_callable`` each, so that
``task_instance.hostname`` tells them apart) in one temporary AIRFLOW_HOME, with

  * metadata in a fresh PostgreSQL database (created here, dropped at the end), through psycopg2 (and asyncpg,
    which Airflow derives for its async engine); the Celery result backend is the same database, written
    ``db+postgresql+psycopg2://`` (plain ``db+postgresql://`` makes SQLAlchemy 2.1 look for psycopg 3);
  * the broker in a fresh Redis database number (claimed with a key, flushed at the end);
  * the keyring (AIRFLOW_CONN_LEADS_PII) given to the workers only: with Celery they run the tasks, the
    scheduler does not.

The component handling (start, readiness, REST token, stop by pid, log dump) is tests/e2e/airflow_stack.py's
AirflowStack, extended here. Then, as an operator would:

    airflow pools set leads_legacy 2 "legacy reads"
    airflow dags trigger leads_flow_sync -c '{"start_date": "2026-11-20", "end_date": "2026-11-22"}'
    airflow dags unpause leads_flow_sync          # the manual run and one scheduled (empty) day start
    airflow backfill create --dag-id leads_flow_sync \
        --from-date 2026-11-20T00:00:00+08:00 --to-date 2026-11-22T00:00:00+08:00

and checks that every task instance succeeded on its first try (the wait fails at once on the first
``up_for_retry``/``failed``), that tasks ran on both workers, that no more stage tasks ran at once than the
``leads_legacy`` pool has slots, and that leads_flow after the manual range and after the backfill equals the
LocalExecutor result: the pipeline's task functions called in this process (tests/helpers.py ``sync``, forked
stage workers included) into a second flow database over the same legacy rows.

Every process started here is stopped in a finally block (by pid, see AirflowStack.stop). The test prints no
rows and no phone numbers.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path

import pytest

from tests.conftest import _mysql_admin, mysql_conn_uri
from tests.e2e.airflow_stack import DAG_ID, POOL, AirflowStack, Deadline
from tests.e2e.celery_support import HOSTNAME_PREFIX
from tests.e2e.test_backfill import BACKFILL_FROM, BACKFILL_TO, MANUAL_CONF, _max_overlap, _seed_rows
from tests.helpers import flow_table, insert, sync, truncate_flow

pytestmark = [pytest.mark.slow, pytest.mark.mysql, pytest.mark.celery]

WORKERS = ("worker-1", "worker-2")
WORKER_CONCURRENCY = 2  # 2 x 2 task slots: more than the pool's 2, so the pool is what limits the stages
POOL_SLOTS = 2
TEST_BUDGET_S = 330  # everything before teardown
READY_WAIT_S = 150
RUNS_WAIT_S = 150
BAD_STATES = {"up_for_retry", "failed", "upstream_failed", "up_for_reschedule", "removed"}


# ------------------------------------------------------------------------------------------- the Celery stack


class CeleryStack(AirflowStack):
    """AirflowStack with CeleryExecutor, a Redis broker and two named workers."""

    COMPONENTS = {
        **AirflowStack.COMPONENTS,
        **{
            w: [
                "celery",
                "worker",
                "--celery-hostname",
                f"{w}@%h",
                "--concurrency",
                str(WORKER_CONCURRENCY),
                "--skip-serve-logs",
                "--without-mingle",
                "--without-gossip",
            ]
            for w in WORKERS
        },
    }

    def __init__(self, home: Path, deadline: Deadline, pg: str, broker: str):
        self.broker = broker
        super().__init__(home, deadline, pg)

    def _environment(self) -> dict[str, str]:
        env = super()._environment()
        env.update(
            {
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__PARALLELISM": "8",
                "AIRFLOW__CELERY__BROKER_URL": self.broker,
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{self.pg}",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
            }
        )
        return env

    def component_env(self, name: str) -> dict[str, str]:
        """The keyring goes to the workers only: under Celery they run the tasks (as in compose's celery profile)."""
        if name not in WORKERS:
            return {k: v for k, v in self.env.items() if not k.startswith("AIRFLOW_CONN_LEADS_PII")}
        return {
            **self.env,
            "LEADS_E2E_WORKER": name,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.e2e.celery_support.worker_hostname",
        }

    def wait_workers(self, timeout: float) -> None:
        """Both workers consume the queue (Celery logs `<name>@<host> ready.`)."""
        until = time.monotonic() + self.deadline.left(timeout)
        while True:
            self.check_alive()
            waiting = [
                w
                for w in WORKERS
                if f"{w}@" not in (self.logs / f"{w}.log").read_text(errors="replace")
                or " ready." not in (self.logs / f"{w}.log").read_text(errors="replace")
            ]
            if not waiting:
                return
            assert time.monotonic() < until, f"celery workers not ready in {timeout:.0f} s: {waiting}"
            time.sleep(2)

    def all_task_instances(self) -> list[dict]:
        tis: list[dict] = []
        while True:
            body = self.get(f"/api/v2/dags/{DAG_ID}/dagRuns/~/taskInstances?limit=100&offset={len(tis)}")
            page = body["task_instances"]  # type: ignore[index]
            tis += page
            if not page or len(tis) >= body["total_entries"]:  # type: ignore[index]
                return tis

    def wait_first_try(self, select, n: int, timeout: float, what: str) -> list[dict]:
        """Until ``n`` runs chosen by ``select`` succeeded; fails at once on any retry or failure of any task."""
        until = time.monotonic() + self.deadline.left(timeout)
        while True:
            self.check_alive()
            bad = [
                (ti["dag_run_id"], ti["task_id"], ti["map_index"], ti["state"], ti["try_number"])
                for ti in self.all_task_instances()
                if ti["state"] in BAD_STATES or (ti["try_number"] or 0) > 1
            ]
            assert not bad, f"{what}: a task failed or was retried under Celery: {bad}"
            chosen = [r for r in self.runs() if select(r)]
            failed = [(r["dag_run_id"], r["state"]) for r in chosen if r["state"] == "failed"]
            assert not failed, f"{what}: runs failed: {failed}"
            if len(chosen) >= n and all(r["state"] == "success" for r in chosen):
                return chosen
            assert time.monotonic() < until, (
                f"{what}: not finished after {timeout:.0f} s: {[(r['dag_run_id'], r['state']) for r in chosen]}"
            )
            time.sleep(3)


# ------------------------------------------------------------------------------------------------------- test


def _local_reference(dbs, monkeypatch) -> list[tuple]:
    """leads_flow as the LocalExecutor path makes it: the task functions in this process, into a second flow db."""
    admin = _mysql_admin()
    name = f"{dbs.flow_name}_ref"
    cur = admin.cursor()
    cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    try:
        monkeypatch.setenv("AIRFLOW_CONN_LEADS_FLOW", mysql_conn_uri(name))
        sync(MANUAL_CONF["start_date"], MANUAL_CONF["end_date"], run_id="manual__local_reference")
        return flow_table(dbs)
    finally:
        monkeypatch.setenv("AIRFLOW_CONN_LEADS_FLOW", mysql_conn_uri(dbs.flow_name))
        cur.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


def test_celery_two_workers_manual_range_and_backfill_match_local(
    mysql_dbs, pg_metadata, redis_broker, monkeypatch, tmp_path
):
    t0 = time.monotonic()
    deadline = Deadline(TEST_BUDGET_S)
    dbs = mysql_dbs
    insert(dbs, _seed_rows())
    reference = _local_reference(dbs, monkeypatch)
    assert len(reference) == 90
    print(f"[celery] LocalExecutor reference computed after {time.monotonic() - t0:.0f} s")

    stack = CeleryStack(tmp_path / "airflow-home", deadline, pg_metadata, redis_broker)
    try:
        try:
            stack.cli("db", "migrate", timeout=180)
            stack.cli("pools", "set", POOL, str(POOL_SLOTS), "legacy reads")
            stack.start()
            stack.wait_ready(timeout=READY_WAIT_S)
            stack.wait_workers(timeout=60)
            print(f"[celery] Airflow and both workers ready after {time.monotonic() - t0:.0f} s")

            # 1. one manual run over three days (three mapped stage tasks) and, on unpausing, one scheduled run
            #    for the latest complete day (no legacy rows: the empty-window read path that failed first)
            stack.cli("dags", "trigger", DAG_ID, "-c", json.dumps(MANUAL_CONF))
            stack.cli("dags", "unpause", DAG_ID)
            [manual, _] = sorted(
                stack.wait_first_try(
                    lambda r: r["run_type"] in ("manual", "scheduled"), 2, RUNS_WAIT_S, "manual + scheduled run"
                ),
                key=lambda r: r["run_type"],
            )
            print(f"[celery] manual and scheduled runs finished after {time.monotonic() - t0:.0f} s")
            assert manual["run_type"] == "manual" and manual["conf"] == MANUAL_CONF
            published = dbs.flow_rows(
                "SELECT status, partition_start, extracted, rejected FROM leads_flow_run "
                "WHERE dag_run_id = %s ORDER BY partition_start",
                (manual["dag_run_id"],),
            )
            assert [(r[0], str(r[1])[:10], r[2], r[3]) for r in published] == [
                ("published", "2026-11-20", 30, 0),
                ("published", "2026-11-21", 31, 1),
                ("published", "2026-11-22", 30, 0),
            ]
            same = flow_table(dbs) == reference
            assert same, "the manual range under Celery gave another leads_flow than the LocalExecutor path"

            # 2. the same days as a backfill, into an emptied leads_flow
            truncate_flow(dbs)
            stack.cli("backfill", "create", "--dag-id", DAG_ID, "--from-date", BACKFILL_FROM, "--to-date", BACKFILL_TO)
            backfill = stack.wait_first_try(lambda r: r["run_type"] == "backfill", 3, RUNS_WAIT_S, "backfill")
            print(f"[celery] backfill finished after {time.monotonic() - t0:.0f} s")
            assert len(backfill) == 3
            same = flow_table(dbs) == reference
            assert same, "the backfill under Celery gave another leads_flow than the LocalExecutor path"

            # 3. every task instance: success on its first try, run by one of the two workers, both used
            # (publish_bulk, the bulk path's fan-in, is skipped by these daily runs: nothing of it runs anywhere)
            tis = [
                ti
                for ti in stack.all_task_instances()
                if not (ti["task_id"] == "publish_bulk" and ti["state"] == "skipped")
            ]
            assert len(tis) >= 2 * 4 + 3 * 4  # manual (3 mapped partitions) + scheduled + 3 backfill runs
            assert all(ti["state"] == "success" and ti["try_number"] == 1 for ti in tis), [
                (ti["task_id"], ti["state"], ti["try_number"]) for ti in tis if ti["state"] != "success"
            ]
            hosts = {ti["hostname"] for ti in tis}
            print(f"[celery] {len(tis)} task instances on hosts {sorted(hosts)}")
            assert hosts == {HOSTNAME_PREFIX + w for w in WORKERS}, f"task hosts {sorted(hosts)}"

            # 4. the pool: every stage task ran in it, never more than its slots at once
            stages = [ti for ti in tis if ti["task_id"] == "partition.stage"]
            assert len(stages) >= 7 and {ti["pool"] for ti in stages} == {POOL}
            overlap = _max_overlap([(ti["start_date"], ti["end_date"]) for ti in stages])
            print(f"[celery] at most {overlap} stage task(s) at once (pool slots {POOL_SLOTS})")
            assert overlap <= POOL_SLOTS
            pool = stack.get(f"/api/v2/pools/{urllib.parse.quote(POOL)}")
            assert pool["slots"] == POOL_SLOTS  # type: ignore[index]

            # 5. the workers held the keyring, the other components never saw it
            for name in [*AirflowStack.COMPONENTS]:
                assert not any(k.startswith("AIRFLOW_CONN_LEADS_PII") for k in stack.component_env(name))
        except BaseException:
            stack.dump_logs()
            raise
    finally:
        stack.stop()
        print(f"[celery] total {time.monotonic() - t0:.0f} s")
