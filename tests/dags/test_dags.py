"""DAG integrity and policy, and dag.test() end to end on both dialects."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from tests.helpers import flow_table, insert, legacy_row, truncate_flow

DAG_IDS = {"leads_flow_sync", "leads_flow_reconcile", "leads_flow_freshness"}


def test_dags_import_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) >= DAG_IDS


def test_sync_dag_policy(dagbag):
    from airflow.sdk import CronDataIntervalTimetable

    dag = dagbag.dags["leads_flow_sync"]
    assert isinstance(dag.timetable, CronDataIntervalTimetable) and not dag.catchup
    assert dag.tags and dag.doc_md and "backfill" in dag.doc_md
    assert set(dag.params) >= {"start_date", "end_date", "dry_run", "max_reject_ratio"}
    assert dag.params["max_reject_ratio"] == 0.05
    for t in dag.tasks:
        assert t.retries >= 1 and t.owner == "data-engineering", t.task_id
    assert dag.get_task("partition.stage").pool == "leads_legacy"
    assert [a.uri for a in dag.get_task("partition.publish").outlets] == ["leads_flow://leads_flow/leads_flow"]
    assert [a.uri for a in dag.get_task("publish_bulk").outlets] == ["leads_flow://leads_flow/leads_flow"]
    assert dag.params["load_mode"] == "auto"
    assert dag.get_task("publish_bulk").upstream_task_ids >= {"plan", "partition.publish"}


def test_every_dag_follows_the_house_policy(dagbag):
    """Every DAG: file name = DAG id = a name in leads_flow.names, docs, tags, owner, the failure alert,
    no catchup, retries on every task that talks to a database."""
    from pathlib import Path

    from leads_flow import names

    dag_files = {p.stem for p in (Path(__file__).resolve().parents[2] / "dags").glob("*.py")}
    ids = {v for k, v in vars(names).items() if k.endswith("_DAG_ID")}
    assert set(dagbag.dag_ids) == dag_files == ids
    for dag_id in dag_files:
        dag = dagbag.dags[dag_id]
        assert Path(dag.fileloc).stem == dag_id
        assert dag.doc_md and not re.search(r"\{[a-z_]+\}", dag.doc_md), dag_id  # documented, every slot filled
        assert "leads" in dag.tags and not dag.catchup and dag.max_active_runs >= 1, dag_id
        for t in dag.tasks:
            assert t.owner == "data-engineering" and t.on_failure_callback, (dag_id, t.task_id)
            assert t.retries >= 1, (dag_id, t.task_id)


def _crafted() -> list[tuple]:
    rows = []
    for day in (20, 21, 22):
        for i in range(10):
            rows.append(
                legacy_row(
                    phone=f"139{day:02d}{i:06d}",
                    update_time=datetime(2026, 11, day, 1 + i),
                    create_time=datetime(2026, 11, day, 1),
                    join_time=datetime(2026, 11, day, 1),
                )
            )
    rows.append(legacy_row(phone="12345", update_time=datetime(2026, 11, 21, 5)))
    return rows


@pytest.mark.parametrize("dialect", ["sqlite", "mysql"])
def test_dag_test_end_to_end(request, dialect, airflow_db, dagbag, cipher):
    dbs = request.getfixturevalue(f"{dialect}_dbs")
    insert(dbs, _crafted())
    dag = dagbag.dags["leads_flow_sync"]
    dr = dag.test(
        logical_date=None, run_conf={"start_date": "2026-11-20", "end_date": "2026-11-22", "max_reject_ratio": 0.2}
    )
    assert dr.state == "success"
    runs = dbs.flow_rows("SELECT status, extracted, rejected FROM leads_flow_run ORDER BY partition_start")
    assert [r[0] for r in runs] == ["published"] * 3 and sum(r[2] for r in runs) == 1
    [(n,)] = dbs.flow_rows("SELECT COUNT(*) FROM leads_flow")
    assert n == 30
    tokens = dbs.flow_rows("SELECT lead_id, phone_cipher FROM leads_flow ORDER BY lead_id")
    assert cipher.decrypt(tokens[0][1]) == "+8613920000000"
    before = flow_table(dbs)
    assert (
        dag.test(
            logical_date=None, run_conf={"start_date": "2026-11-20", "end_date": "2026-11-22", "max_reject_ratio": 0.2}
        ).state
        == "success"
    )
    assert flow_table(dbs) == before


def test_dag_test_bulk_path_gives_the_daily_table(mysql_dbs, airflow_db, dagbag, monkeypatch):
    """load_mode=bulk through dag.test(): id-range partitions, the bulk publish, the same table and day rows."""
    insert(mysql_dbs, _crafted())
    dag = dagbag.dags["leads_flow_sync"]
    conf = {"start_date": "2026-11-20", "end_date": "2026-11-22", "max_reject_ratio": 0.2}
    assert dag.test(logical_date=None, run_conf={**conf, "load_mode": "daily"}).state == "success"
    daily = flow_table(mysql_dbs)
    truncate_flow(mysql_dbs)
    monkeypatch.setenv("LEADS_FLOW_BULK_PARTITION_ROWS", "12")
    dr = dag.test(logical_date=None, run_conf={**conf, "load_mode": "bulk"})
    assert dr.state == "success"
    assert flow_table(mysql_dbs) == daily
    bulk_runs = mysql_dbs.flow_rows(
        "SELECT status FROM leads_flow_run WHERE dag_run_id = %s AND LOCATE('#', etl_run_id) > 0", (dr.run_id,)
    )
    assert len(bulk_runs) >= 2 and {r[0] for r in bulk_runs} == {"bulk_published"}
    days = mysql_dbs.flow_rows(
        "SELECT status, staged, rejected FROM leads_flow_run WHERE dag_run_id = %s AND LOCATE('#', etl_run_id) = 0 "
        "ORDER BY partition_start",
        (dr.run_id,),
    )
    assert days == [("published", 10, 0), ("published", 10, 1), ("published", 10, 0)]


def test_failing_gate_fails_the_run_and_publishes_nothing(sqlite_dbs, airflow_db, dagbag):
    insert(sqlite_dbs, _crafted())
    dr = dagbag.dags["leads_flow_sync"].test(
        logical_date=None, run_conf={"start_date": "2026-11-21", "end_date": "2026-11-21", "max_reject_ratio": 0.0}
    )
    assert dr.state == "failed"
    assert sqlite_dbs.flow_rows("SELECT COUNT(*) FROM leads_flow") == [(0,)]
    assert sqlite_dbs.flow_rows("SELECT status, gate_failed_checks FROM leads_flow_run") == [
        ("gate_failed", "reject_ratio_within_limit")
    ]


def test_mapped_partitions_are_named_by_their_day(sqlite_dbs, airflow_db, dagbag):
    """The grid and the task list show each partition's day (map_index_template), the name the run report uses;
    the mapped tasks are named alike at every map index (no display name only index 0 would keep)."""
    from leads_flow.report.data import list_runs

    insert(sqlite_dbs, _crafted())
    dag = dagbag.dags["leads_flow_sync"]
    dr = dag.test(
        logical_date=None, run_conf={"start_date": "2026-11-20", "end_date": "2026-11-22", "max_reject_ratio": 0.2}
    )
    assert dr.state == "success"
    named: dict[str, list[tuple[int, str]]] = {}
    for ti in dr.get_task_instances():
        if ti.task_id.startswith("partition."):
            named.setdefault(ti.task_id, []).append((ti.map_index, ti.rendered_map_index))
            assert ti.task_display_name == ti.task_id
    days = ["2026-11-20", "2026-11-21", "2026-11-22"]
    for task_id in ("partition.stage", "partition.gate", "partition.publish"):
        assert sorted(named[task_id]) == list(enumerate(days)), task_id
    assert sorted(r["partition_label"] for r in list_runs(dag_run_id=dr.run_id)) == days


def test_partition_labels():
    from leads_flow.window import Partition, label_of

    day = datetime(2026, 11, 20)
    assert Partition(day, datetime(2026, 11, 21), 60).label == "2026-11-20"
    assert Partition(day, datetime(2026, 11, 23), 60, 0, 500).label == "2026-11-20 … 2026-11-22 · ids from 0"
    assert label_of(datetime(2026, 11, 20, 6), datetime(2026, 11, 21)) == "2026-11-20 06:00 – 2026-11-21 00:00"


def test_a_reversed_window_fails_the_plan_and_the_report_lists_it(sqlite_dbs, airflow_db, dagbag):
    """An end before the start fails the plan at once (no partition, nothing read), and the run report lists the
    DAG run with its error: in the list, on the DAG run's tab and on its own page."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from leads_flow.report.views import create_app

    insert(sqlite_dbs, _crafted())
    dag = dagbag.dags["leads_flow_sync"]
    dr = dag.test(logical_date=None, run_conf={"start_date": "2026-11-22", "end_date": "2026-11-20"})
    assert dr.state == "failed"
    states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
    assert states["plan"] == "failed" and states.get("partition.stage") != "success"
    rows = sqlite_dbs.flow_rows("SELECT etl_run_id, status, partition_start, error FROM leads_flow_run")
    assert [(r[0], r[1], r[2][:10]) for r in rows] == [(f"{dr.run_id}@plan", "plan_failed", "2026-11-22")]
    assert "end_date 2026-11-20 is before start_date 2026-11-22" in rows[0][3]
    assert sqlite_dbs.flow_rows("SELECT COUNT(*) FROM leads_flow") == [(0,)]

    app = FastAPI()
    app.mount("/leads-flow", create_app())
    with TestClient(app) as client:
        for path in ("/leads-flow/", f"/leads-flow/dag-runs/leads_flow_sync/{dr.run_id}"):
            text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", client.get(path).text))
            assert "plan failed" in text and "is before start_date 2026-11-22" in text, path
            assert "No partition runs" not in text
        page = client.get(f"/leads-flow/runs/{dr.run_id}@plan").text
        assert "window not planned" in page and "the window is reversed" in page


def test_an_unparsable_day_fails_the_plan_without_echoing_a_phone():
    """A phone where a day belongs (the form's schema refuses it; a conf from elsewhere may not): the plan fails
    permanently, and its message, which the failure callback records, holds no phone."""
    from airflow.sdk.exceptions import AirflowFailException

    from leads_flow.tasks import sync as pipeline

    phone = "13912345678"  # generated
    with pytest.raises(AirflowFailException) as failed:
        pipeline.plan({"start_date": phone}, None, None)
    assert "must be a date YYYY-MM-DD" in str(failed.value) and phone not in str(failed.value)


def test_the_trigger_form_explains_itself(dagbag):
    """What the trigger form shows: a title on every field, no switch marked required (Airflow 3.3 marks a field
    required when its type excludes null), volume_check's default readable, the window's help saying how Logical
    Date, the window and backfills relate; and the params the DAGs accepted before are accepted still."""
    import copy

    sync = dagbag.dags["leads_flow_sync"]
    assert set(sync.params) == {
        "start_date",
        "end_date",
        "overlap_minutes",
        "dry_run",
        "max_reject_ratio",
        "load_mode",
        "volume_check",
    }
    for dag_id, dag in dagbag.dags.items():
        for name in dag.params:
            schema = dag.params.get_param(name).schema
            assert schema.get("title") and "_" not in schema["title"], (dag_id, name)
            types = schema.get("type")
            if types == "boolean" or (isinstance(types, list) and "boolean" in types):
                assert isinstance(types, list) and "null" in types, (dag_id, name)  # not shown as required
                assert dag.params[name] is False, (dag_id, name)
    vc = sync.params.get_param("volume_check")
    assert vc.value == "auto" and vc.schema["values_display"]["auto"].startswith("auto (LEADS_FLOW_VOLUME_CHECK")
    help_text = sync.params.get_param("start_date").description
    assert "Logical Date" in help_text and "Backfill" in help_text and "Asia/Shanghai" in help_text
    for conf in ({"volume_check": None}, {"volume_check": "warn"}, {"dry_run": True}, {"dry_run": None}):
        params = copy.deepcopy(sync.params)
        params.update(conf)
        params.validate()


def test_volume_check_auto_means_the_deployment_setting(monkeypatch):
    from leads_flow.config import volume_policy

    monkeypatch.setenv("LEADS_FLOW_VOLUME_CHECK", "fail")
    assert volume_policy("auto").mode == volume_policy(None).mode == "fail"
    assert volume_policy("off").mode == "off"
