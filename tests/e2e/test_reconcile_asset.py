"""End to end under a real Airflow (the stack of tests/e2e/airflow_stack.py): leads_flow_reconcile is scheduled by the Asset
that leads_flow_sync's *Publish* updates, and the asset-triggered run compares the day that sync published.

    airflow dags unpause leads_flow_sync        # creates the scheduled run of the latest complete day (no rows)
    airflow dags unpause leads_flow_reconcile   # (while paused, it was not queued that run's publish event)
    airflow dags trigger leads_flow_sync -c '{"start_date": "2026-11-20"}'

The steps wait for each other: an event that reaches Airflow while a run of the reconcile is being created from
an earlier one is left for the next run (the asset's queue row is deleted with the run's creation), so a burst of
publishes may be compared a publish later; the test makes the manual sync's publish the only event of its run.

Every process started here is stopped in a finally block (AirflowStack.stop). Generated phones only; no row is
printed.
"""

from __future__ import annotations

import json
import random
import time
import urllib.parse
from datetime import datetime

import pytest

from devkit.seed import random_mobile
from tests.e2e.airflow_stack import POOL, AirflowStack, Deadline
from tests.helpers import insert, legacy_row

pytestmark = [pytest.mark.slow, pytest.mark.mysql]

SYNC, RECONCILE = "leads_flow_sync", "leads_flow_reconcile"
DAY = "2026-11-20"
ROWS = 12
BUDGET_S = 420


def _runs(stack: AirflowStack, dag_id: str) -> list[dict]:
    return stack.get(f"/api/v2/dags/{dag_id}/dagRuns?limit=100&order_by=start_date")["dag_runs"]  # type: ignore[index]


def _cli_retrying(stack: AirflowStack, *args: str, tries: int = 20) -> None:
    """A CLI call that needs the DAG serialized: the dag-processor may still be parsing it."""
    for _ in range(tries):
        if stack.cli(*args, check=False).returncode == 0:
            return
        time.sleep(3)
    stack.cli(*args)


def _wait(stack: AirflowStack, dag_id: str, select, what: str, timeout: float = 150) -> list[dict]:
    """The finished runs chosen by ``select`` (at least one), once none of them is still going; fails on a failure."""
    until = time.monotonic() + stack.deadline.left(timeout)
    while time.monotonic() < until:
        stack.check_alive()
        runs = [r for r in _runs(stack, dag_id) if select(r)]
        if runs and all(r["state"] in ("success", "failed") for r in runs):
            assert all(r["state"] == "success" for r in runs), (
                f"{what}: {[(r['dag_run_id'], r['state']) for r in runs]}"
            )
            return runs
        time.sleep(3)
    raise AssertionError(f"{what}: not finished after {timeout:.0f} s")


def _compared_days(dbs, run_id: str) -> dict[str, tuple]:
    rows = dbs.flow_rows(
        "SELECT window_start, status, expected_rows, matched FROM leads_flow_reconcile_run "
        "WHERE scope = 'window' AND reconcile_run_id = %s",
        (run_id,),
    )
    return {f"{r[0]:%Y-%m-%d}": tuple(r[1:]) for r in rows}


def test_the_sync_publish_triggers_a_reconcile_of_the_published_day(mysql_dbs, pg_metadata, tmp_path):
    rng = random.Random(20)
    insert(
        mysql_dbs, [legacy_row(phone=random_mobile(rng), update_time=datetime(2026, 11, 20, 9, i)) for i in range(ROWS)]
    )
    stack = AirflowStack(tmp_path / "airflow-home", Deadline(BUDGET_S), pg_metadata)
    try:
        try:
            stack.cli("db", "migrate")
            stack.cli("pools", "set", POOL, "2", "legacy reads")
            stack.start()
            stack.wait_ready(timeout=150)
            # the sync first: unpausing it creates the scheduled run of the latest complete day (no legacy rows)
            _cli_retrying(stack, "dags", "unpause", SYNC)
            _wait(stack, SYNC, lambda r: r["run_type"] == "scheduled", "the scheduled sync run")
            # then the reconcile (events of a paused DAG's assets are not queued for it)
            _cli_retrying(stack, "dags", "unpause", RECONCILE)
            stack.cli("dags", "trigger", SYNC, "-c", json.dumps({"start_date": DAY}))

            # wait: the manual sync succeeded, and some finished reconcile run compared DAY
            until = time.monotonic() + stack.deadline.left(240)
            found = None
            while time.monotonic() < until and found is None:
                stack.check_alive()
                manual = [r for r in _runs(stack, SYNC) if r["run_type"] == "manual"]
                if manual and manual[0]["state"] == "failed":
                    pytest.fail("the manual sync run failed")
                for run in _runs(stack, RECONCILE):
                    if run["state"] in ("success", "failed") and DAY in _compared_days(mysql_dbs, run["dag_run_id"]):
                        found = run
                time.sleep(3)
            if found is None:
                seen = [(r["dag_run_id"], r["run_type"], r["state"]) for r in _runs(stack, SYNC)]
                rec = [
                    (r["dag_run_id"], r["run_type"], r["state"], sorted(_compared_days(mysql_dbs, r["dag_run_id"])))
                    for r in _runs(stack, RECONCILE)
                ]
                logs = sorted((stack.home / "logs").glob(f"dag_id={RECONCILE}/**/*.log"))
                for path in logs[-4:]:
                    print(f"----- {path.name}:", "\n".join(path.read_text(errors="replace").splitlines()[-25:]))
                pytest.fail(f"no reconcile run compared {DAY}: sync runs {seen}, reconcile runs {rec}")

            assert found["run_type"] == "asset_triggered" and found["state"] == "success"
            # exactly the days the sync runs published (the manual run's, and the scheduled run's whose event the
            # first reconcile run consumed too: catchup off, events since the DAG began scheduling), not the
            # days between them; every lead of DAY matched
            compared = _compared_days(mysql_dbs, found["dag_run_id"])
            published = {
                f"{r[0]:%Y-%m-%d}"
                for r in mysql_dbs.flow_rows(
                    "SELECT partition_start FROM leads_flow_run WHERE dag_id = %s AND status = 'published'", (SYNC,)
                )
            }
            assert set(compared) == published and DAY in published and len(published) == 2
            assert compared[DAY] == ("compared", ROWS, ROWS)
            # the asset events came from the sync's publish task
            rid = urllib.parse.quote(found["dag_run_id"], safe="")
            events = stack.get(f"/api/v2/dags/{RECONCILE}/dagRuns/{rid}/upstreamAssetEvents")["asset_events"]  # type: ignore[index]
            assert events and {e["source_dag_id"] for e in events} == {SYNC}
            assert {e["source_task_id"] for e in events} == {"partition.publish"}
            # no reconcile run was triggered by a clock or by the event of the paused time, and none failed
            runs = _runs(stack, RECONCILE)
            assert [r["dag_run_id"] for r in runs] == [found["dag_run_id"]]
            finished = [r for r in runs if r["state"] in ("success", "failed")]
            assert all(r["state"] == "success" for r in finished), [(r["dag_run_id"], r["state"]) for r in finished]
        except BaseException:
            stack.dump_logs()
            raise
    finally:
        stack.stop()
