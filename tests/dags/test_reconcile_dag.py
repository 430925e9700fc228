"""leads_flow_reconcile: imports cleanly, follows the project's DAG policy, and runs end to end (dag.test)."""

from __future__ import annotations

import random
from datetime import datetime

from devkit.seed import random_mobile
from tests.helpers import insert, legacy_row, sync

DAG_ID = "leads_flow_reconcile"
RANGE = {"start_date": "2026-11-20", "end_date": "2026-11-21"}


def test_reconcile_dag_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert DAG_ID in dagbag.dag_ids


def test_reconcile_dag_policy(dagbag):
    from airflow.sdk import CronDataIntervalTimetable

    dag = dagbag.dags[DAG_ID]
    assert isinstance(dag.timetable, CronDataIntervalTimetable) and not dag.catchup
    assert dag.timetable.expression == "30 1 * * *" and str(dag.timetable.timezone) == "Asia/Shanghai"
    assert {"leads", "reconcile"} <= set(dag.tags)
    assert dag.doc_md and "cutover" in dag.doc_md and "airflow dags trigger" in dag.doc_md
    assert set(dag.params) >= {"start_date", "end_date", "repair", "decrypt_sample", "min_match_rate"}
    assert dag.params["repair"] is False and dag.params["decrypt_sample"] == 20
    assert {t.task_id for t in dag.tasks} == {"plan", "window.compare", "window.repair", "summary"}
    for t in dag.tasks:
        assert t.owner == "data-engineering", t.task_id
        assert t.retries >= 1 and t.retry_exponential_backoff, t.task_id
        assert t.task_display_name != t.task_id, t.task_id
    assert dag.get_task("window.compare").pool == "leads_legacy"
    assert dag.get_task("summary").trigger_rule == "none_failed"
    assert dag.get_task("window.repair").upstream_task_ids == {"window.compare"}


def _ti_states(dr) -> dict[str, set[str]]:
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = dr.get_task_instances(session=session)
        out: dict[str, set[str]] = {}
        for ti in tis:
            out.setdefault(ti.task_id, set()).add(str(ti.state))
        return out


def test_dag_test_reports_drift(sqlite_dbs, airflow_db, dagbag, cipher):
    rng = random.Random(5)
    rows = [
        legacy_row(phone=random_mobile(rng), update_time=datetime(2026, 11, day, 9, i))
        for day in (20, 21)
        for i in range(5)
    ]
    rows.append(legacy_row(phone="12345", update_time=datetime(2026, 11, 21, 10)))  # id 11: expected reject
    insert(sqlite_dbs, rows)
    sync(RANGE["start_date"], RANGE["end_date"], max_reject_ratio=0.5)
    db = sqlite_dbs.flow()
    db.conn.execute("DELETE FROM leads_flow WHERE lead_id = 7")
    db.conn.commit()
    db.close()

    dag = dagbag.dags[DAG_ID]
    dr = dag.test(logical_date=None, run_conf=dict(RANGE))
    assert dr.state == "success"
    states = _ti_states(dr)
    assert states["window.compare"] == {"success"} and states["window.repair"] == {"skipped"}
    assert states["summary"] == {"success"}
    [row] = sqlite_dbs.flow_rows(
        "SELECT windows, legacy_rows, expected_rows, matched, missing_in_flow, rejected_by_rule, match_rate, "
        f"cutover_ready FROM leads_flow_reconcile_run WHERE scope = 'run' AND reconcile_run_id = '{dr.run_id}'"
    )
    assert tuple(row) == (2, 11, 10, 9, 1, 1, 0.9, 0)
    assert sqlite_dbs.flow_rows(
        "SELECT lead_id, drift_class, next_action FROM leads_flow_drift "
        f"WHERE reconcile_run_id = '{dr.run_id}' ORDER BY lead_id"
    ) == [(7, "missing_in_flow", "repair"), (11, "rejected_by_rule", "none")]
