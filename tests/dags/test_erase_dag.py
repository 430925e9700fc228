"""leads_flow_erase: parses with its lead_ids param, follows the DAG policy, and erases by lead id (dag.test)."""

from __future__ import annotations

import random
from datetime import datetime

import pytest

from devkit.seed import random_mobile
from tests.helpers import insert, legacy_row, sync

DAG_ID = "leads_flow_erase"


def test_erase_dag_parses_with_its_param(dagbag):
    from airflow.sdk.definitions.param import ParamValidationError

    assert dagbag.import_errors == {}
    dag = dagbag.dags[DAG_ID]
    assert type(dag.timetable).__name__ == "NullTimetable"  # schedule=None: triggered only
    assert {"leads", "erasure"} <= set(dag.tags) and dag.doc_md and "scripts/erase.py" in dag.doc_md
    assert {t.task_id for t in dag.tasks} == {"erase"}
    for t in dag.tasks:
        assert t.owner == "data-engineering" and t.retries >= 1 and t.task_display_name != t.task_id
    param = dag.params.get_param("lead_ids")
    assert param.schema["type"] == "array" and param.schema["items"]["type"] == "integer"
    assert param.resolve([3, 5]) == [3, 5]
    for bad in ([], ["13800138000"], [1.5], [0], None):
        with pytest.raises(ParamValidationError):
            param.resolve(bad)


def test_dag_test_erases_by_lead_id(sqlite_dbs, airflow_db, dagbag):
    rng = random.Random(8)
    insert(
        sqlite_dbs, [legacy_row(phone=random_mobile(rng), update_time=datetime(2026, 11, 20, 9, i)) for i in range(3)]
    )
    sync("2026-11-20")
    dr = dagbag.dags[DAG_ID].test(logical_date=None, run_conf={"lead_ids": [2]})
    assert dr.state == "success"
    assert sqlite_dbs.flow_rows("SELECT lead_id, requested_by FROM leads_flow_erasure") == [(2, dr.run_id)]
    assert sqlite_dbs.flow_rows(
        "SELECT lead_id, is_deleted, phone_cipher IS NULL, phone_bidx IS NULL FROM leads_flow ORDER BY lead_id"
    ) == [(1, 0, 0, 0), (2, 1, 1, 1), (3, 0, 0, 0)]
