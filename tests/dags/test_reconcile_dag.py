"""leads_flow_reconcile: imports cleanly, follows the project's DAG policy, and runs end to end (dag.test)."""

from __future__ import annotations

import json
import random
from datetime import date, datetime

from devkit.seed import random_mobile
from leads_flow.config import TZ
from leads_flow.io.connect import connected
from leads_flow.names import FLOW_ASSET_URI
from tests.helpers import insert, legacy_row, sync

DAG_ID = "leads_flow_reconcile"
RANGE = {"start_date": "2026-11-20", "end_date": "2026-11-21"}


def test_reconcile_dag_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert DAG_ID in dagbag.dag_ids


def test_reconcile_dag_policy(dagbag):
    from leads_flow.tasks import reconcile

    dag = dagbag.dags[DAG_ID]
    # scheduled by the Asset the sync's publish task updates (data-aware), not by a clock
    assert type(dag.timetable).__name__ == "AssetTriggeredTimetable" and not dag.catchup
    assert [a.uri for a in dag.timetable.asset_condition.objects] == [FLOW_ASSET_URI]
    publish = dagbag.dags["leads_flow_sync"].get_task("partition.publish")
    assert [a.uri for a in publish.outlets] == [FLOW_ASSET_URI]
    assert {"leads", "reconcile"} <= set(dag.tags)
    assert dag.doc_md and "cutover" in dag.doc_md and "airflow dags trigger" in dag.doc_md
    assert set(dag.params) >= {"start_date", "end_date", "repair", "decrypt_sample", "min_match_rate"}
    assert dag.params["repair"] is False and dag.params["decrypt_sample"] == 20
    assert {t.task_id for t in dag.tasks} == {"plan", "window.compare", "window.repair", "summary"}
    for t in dag.tasks:
        assert t.owner == "data-engineering", t.task_id
        assert t.on_failure_callback in (reconcile.on_failure, [reconcile.on_failure]), t.task_id  # alerts
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


# --- the window of an asset-triggered run ------------------------------------------------------------


class _Event:
    """What the plan reads of an asset event (AssetEventDagRunReferenceResult): who updated the Asset."""

    def __init__(self, dag_id: str, run_id: str) -> None:
        self.source_dag_id, self.source_run_id = dag_id, run_id


def _events(*pairs: tuple[str, str]) -> dict:
    from airflow.sdk import Asset

    return {Asset(FLOW_ASSET_URI): [_Event(d, r) for d, r in pairs]}


def test_sync_runs_of_the_triggering_events():
    from leads_flow.tasks.reconcile import sync_runs_of

    assert sync_runs_of(None) == [] and sync_runs_of({}) == []
    events = _events(("leads_flow_sync", "scheduled__a"), ("other_dag", "x"), ("leads_flow_sync", "scheduled__a"))
    assert sync_runs_of(events) == ["scheduled__a"]


def test_an_asset_triggered_run_compares_the_days_the_sync_published(any_dbs):
    from leads_flow.tasks import reconcile

    rng = random.Random(6)
    insert(
        any_dbs,
        [
            legacy_row(phone=random_mobile(rng), update_time=datetime(2026, 11, d, 9, i))
            for d in (19, 20, 21)
            for i in range(2)
        ],
    )
    sync("2026-11-20", "2026-11-21", run_id="scheduled__2026-11-21")  # publishes days 20 and 21
    sync("2026-11-24", run_id="scheduled__2026-11-24")  # publishes day 24 (no rows)
    sync("2026-11-19", run_id="manual__dry", dry_run=True)  # publishes nothing

    windows = reconcile.plan({}, None, None, asset_events=_events(("leads_flow_sync", "scheduled__2026-11-21")))
    assert [(w["start"], w["end"]) for w in windows] == [
        ("2026-11-20T00:00:00", "2026-11-21T00:00:00"),
        ("2026-11-21T00:00:00", "2026-11-22T00:00:00"),
    ]
    # two sync runs behind one reconcile run (Airflow batches the events): their days, not the gap between them
    both = _events(("leads_flow_sync", "scheduled__2026-11-24"), ("leads_flow_sync", "scheduled__2026-11-21"))
    assert [w["start"][:10] for w in reconcile.plan({}, None, None, asset_events=both)] == [
        "2026-11-20",
        "2026-11-21",
        "2026-11-24",
    ]
    # the params still win; a sync that published nothing means yesterday
    by_params = reconcile.plan({"start_date": "2026-11-19"}, None, None, asset_events=_events(("leads_flow_sync", "x")))
    assert [w["start"] for w in by_params] == ["2026-11-19T00:00:00"]
    with connected("leads_flow") as flow:
        assert reconcile.published_days(flow, ["manual__dry"]) == []
        assert reconcile.published_days(flow, ["scheduled__2026-11-21"], now=datetime(2026, 11, 21, 12, tzinfo=TZ)) == [
            date(2026, 11, 20)
        ]  # never today's open day
    assert reconcile.resolve_reconcile_window({}, None, None, datetime(2026, 11, 23, 8, tzinfo=TZ)) == (
        datetime(2026, 11, 22),
        datetime(2026, 11, 23),
    )


def test_a_failed_task_alerts_like_the_sync_without_a_run_row(sqlite_dbs, monkeypatch):
    from types import SimpleNamespace

    from leads_flow.io.schema import ensure_flow_schema
    from leads_flow.tasks import notify, reconcile

    with connected("leads_flow") as flow:
        ensure_flow_schema(flow)
    sent = []
    monkeypatch.setattr(notify, "send_alert", lambda message, context=None, **kw: sent.append(message))
    ti = SimpleNamespace(
        dag_id=DAG_ID, run_id="asset_triggered__1", task_id="window.compare", map_index=0, try_number=1, log_url=None
    )
    ti.xcom_pull = lambda task_ids: [
        {"start": "2026-11-20T00:00:00", "end": "2026-11-21T00:00:00", "overlap_minutes": 0}
    ]
    reconcile.on_failure(
        {"ti": ti, "run_id": ti.run_id, "exception": RuntimeError("Duplicate entry '13812345678' for key 'PRIMARY'")}
    )
    [msg] = sent
    assert msg["dag_id"] == DAG_ID and msg["task_id"] == "window.compare" and msg["etl_run_id"] is None
    assert "13812345678" not in json.dumps(msg) and "138****5678" in msg["reason"]
    assert msg["report_url"].endswith(f"/dag-runs/{DAG_ID}/asset_triggered__1")
    assert sqlite_dbs.flow_rows("SELECT COUNT(*) FROM leads_flow_run") == [(0,)]
