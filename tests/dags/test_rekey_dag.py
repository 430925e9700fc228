"""leads_flow_rekey: imports cleanly, manual only, with its params."""

from __future__ import annotations

DAG_ID = "leads_flow_rekey"


def test_rekey_dag_parses_with_params(dagbag):
    assert not [f for f in dagbag.import_errors if f.endswith("leads_flow_rekey.py")]
    dag = dagbag.dags[DAG_ID]
    assert type(dag.timetable).__name__ == "NullTimetable"  # schedule=None: manual only
    assert not dag.catchup and {"leads", "pii", "rekey"} <= set(dag.tags)
    assert dag.params["dry_run"] is False and dag.params["batch_size"] == 5000
    schema = dag.params.get_param("batch_size").schema
    assert schema["type"] == "integer" and schema["minimum"] == 100 and schema["maximum"] == 50_000
    assert dag.params.get_param("dry_run").schema["type"] == ["null", "boolean"]  # not marked required
    assert [t.task_id for t in dag.tasks] == ["rekey"]
    [t] = dag.tasks
    assert t.owner == "data-engineering" and t.retries >= 1 and t.task_display_name != t.task_id
    assert dag.doc_md and "Key rotation runbook" in dag.doc_md


def test_dag_test_rekeys_and_audits(sqlite_dbs, airflow_db, dagbag, cipher, monkeypatch):
    """dag.test end to end on SQLite: rows under kid 1 move to kid 2; the task's XCom holds the counts."""
    import json

    from leads_flow.io.keyring import load_keyring
    from tests.conftest import BOTH
    from tests.integration.test_rekey import N_FLOW, N_REJECT, N_REJECT_INDEXED, assert_all_under_new_kid, seed

    phones, raws = seed(sqlite_dbs, cipher)
    monkeypatch.setenv("AIRFLOW_CONN_LEADS_PII", json.dumps({"conn_type": "generic", "extra": BOTH}))
    load_keyring.cache_clear()
    try:
        dr = dagbag.dags[DAG_ID].test(logical_date=None, run_conf={"batch_size": 100})
    finally:
        load_keyring.cache_clear()
    assert dr.state == "success"
    assert_all_under_new_kid(sqlite_dbs, phones, raws)
    rows = sqlite_dbs.flow_rows(
        "SELECT phase, table_name, key_kind, kid, row_count FROM leads_flow_key_audit "
        f"WHERE rekey_run_id = 'leads_flow_rekey@{dr.run_id}' AND phase = 'after' ORDER BY table_name, key_kind"
    )
    assert [tuple(r) for r in rows] == [
        ("after", "leads_flow", "bidx", "2", N_FLOW),
        ("after", "leads_flow", "enc", "2", N_FLOW),
        ("after", "leads_flow_reject", "bidx", "2", N_REJECT_INDEXED),
        ("after", "leads_flow_reject", "enc", "2", N_REJECT),
    ]
