"""leads_flow_hard_deletes: daily, guarded, and a real dag.test marks a lead deleted from the legacy table."""

from __future__ import annotations

import random
from datetime import datetime

from devkit.seed import random_mobile
from tests.helpers import insert, legacy_row, sync

DAG_ID = "leads_flow_hard_deletes"


def test_hard_deletes_dag_parses_daily_with_params(dagbag):
    assert not [f for f in dagbag.import_errors if f.endswith("leads_flow_hard_deletes.py")]
    dag = dagbag.dags[DAG_ID]
    assert type(dag.timetable).__name__ == "CronTriggerTimetable" and not dag.catchup
    assert dag.params["dry_run"] is False and dag.params["max_vanish_share"] is None
    [t] = dag.tasks
    assert t.pool == "leads_legacy" and t.retries >= 1 and t.owner == "data-engineering"
    assert "Guard" in dag.doc_md


def test_dag_test_marks_the_deleted_lead(sqlite_dbs, airflow_db, dagbag):
    rng = random.Random(3)
    insert(
        sqlite_dbs,
        [
            legacy_row(phone=random_mobile(rng), update_time=datetime(2026, 11, 20, 9 + i // 60, i % 60))
            for i in range(200)
        ],
    )
    sync("2026-11-20")
    sqlite_dbs.legacy_exec("DELETE FROM leads_aggr WHERE id = 42")
    dr = dagbag.dags[DAG_ID].test(logical_date=None, run_conf={})
    assert dr.state == "success"
    assert sqlite_dbs.flow_rows("SELECT lead_id FROM leads_flow WHERE is_deleted = 1") == [(42,)]
