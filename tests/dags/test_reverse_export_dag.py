"""leads_flow_reverse_export: parses with its params, follows the DAG policy, and writes back a lead that exists
only in leads_flow (dag.test on SQLite)."""

from __future__ import annotations

import random
from datetime import datetime

import pytest

from devkit.seed import random_mobile
from tests.helpers import insert, legacy_row, sync

DAG_ID = "leads_flow_reverse_export"


def test_reverse_export_dag_parses_with_its_params(dagbag):
    from airflow.sdk.definitions.param import ParamValidationError

    from leads_flow.tasks.notify import on_failure

    assert dagbag.import_errors == {}
    dag = dagbag.dags[DAG_ID]
    assert type(dag.timetable).__name__ == "NullTimetable"  # schedule=None: a rollback is triggered by hand
    assert {"leads", "cutover", "rollback"} <= set(dag.tags) and dag.doc_md and "leads_legacy_writer" in dag.doc_md
    assert {t.task_id for t in dag.tasks} == {"export"}
    for t in dag.tasks:
        assert t.owner == "data-engineering" and t.retries >= 1 and t.task_display_name != t.task_id
        assert t.on_failure_callback in (on_failure, [on_failure])
    assert set(dag.params) == {"since", "until", "dry_run", "batch_size"}
    assert dag.params["dry_run"] is False
    since = dag.params.get_param("since")
    assert since.resolve("2026-12-20 00:00:00") == "2026-12-20 00:00:00"
    for bad in (None, "", 5):
        with pytest.raises(ParamValidationError):
            since.resolve(bad)


def test_dag_test_writes_back_a_flow_only_lead(sqlite_dbs, airflow_db, dagbag, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_LEADS_LEGACY_WRITER", f"sqlite:///{sqlite_dbs.legacy_name}")
    rng = random.Random(9)
    insert(
        sqlite_dbs, [legacy_row(phone=random_mobile(rng), update_time=datetime(2026, 11, 20, 9, i)) for i in range(3)]
    )
    sync("2026-11-20")
    sqlite_dbs.legacy_exec("DELETE FROM leads_aggr WHERE id = 3")

    dr = dagbag.dags[DAG_ID].test(logical_date=None, run_conf={"since": "2026-11-20"})

    assert dr.state == "success"
    assert [r[0] for r in sqlite_dbs.flow_rows("SELECT lead_id FROM leads_flow ORDER BY lead_id")] == [1, 2, 3]
    db = sqlite_dbs.legacy()
    try:
        cur = db.conn.cursor()
        cur.execute("SELECT id, leads_type, from_channel, update_time FROM leads_aggr ORDER BY id")
        assert [tuple(r) for r in cur.fetchall()][2] == (3, 0, "baidu_sem", "2026-11-20 09:02:00")
    finally:
        db.close()
