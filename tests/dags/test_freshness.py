"""The freshness watchdog, observed from outside: a webhook receiver on 127.0.0.1 (HTTPS, the notifier's own
channel) gets an alert when the deadline passes without yesterday's partition published, and nothing when it
was published. On MariaDB and SQLite, and through the watchdog DAG with dag.test()."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from leads_flow import config
from leads_flow.config import FRESHNESS_DEADLINE_ENV
from leads_flow.io.schema import ensure_flow_schema
from leads_flow.tasks import freshness
from tests.helpers import insert, legacy_row, sync
from tests.unit.test_notify import serve, tls_files  # noqa: F401 - tls_files is a fixture

SH = ZoneInfo("Asia/Shanghai")
DUE_DAY = datetime(2026, 11, 21, tzinfo=SH)  # the watchdog's day: partition 2026-11-20 is due by 09:00
DIGIT_RUN = re.compile(r"\d{11,}")


@pytest.fixture
def hook(tls_files, monkeypatch):  # noqa: F811 - the imported fixture
    """The configured alert webhook: an HTTPS receiver on loopback whose certificate the notifier trusts."""
    for name in (config.EMAIL_ENV, "AIRFLOW_VAR_LEADS_FLOW_ALERT_WEBHOOK", "AIRFLOW_VAR_LEADS_FLOW_ALERT_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(FRESHNESS_DEADLINE_ENV, raising=False)
    monkeypatch.setenv(config.WEBHOOK_CA_ENV, str(tls_files[0]))
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.test")
    for h in serve(tls_files):
        monkeypatch.setenv(config.WEBHOOK_ENV, h.url)
        yield h


def flow_tables(dbs) -> None:
    db = dbs.flow()
    try:
        ensure_flow_schema(db)
    finally:
        db.close()


def at(hh: int, mm: int = 0) -> datetime:
    return DUE_DAY.replace(hour=hh, minute=mm)


def rows() -> list[tuple]:
    d = datetime(2026, 11, 20, 10)
    return [legacy_row(phone="13912345678", update_time=d), legacy_row(phone="12345", update_time=d)]


def test_deadline_passed_without_a_publish_alerts(any_dbs, hook):
    flow_tables(any_dbs)
    out = freshness.check(at(9), now=at(9, 5))
    assert out["status"] == "missed" and out["partition"] == "2026-11-20"
    [alert] = hook.payloads()
    assert alert["event"] == "freshness_missed" and alert["latest_run"] is None
    assert alert["partition"]["start"] == "2026-11-20T00:00:00" and alert["partition"]["end"] == "2026-11-21T00:00:00"
    assert alert["deadline"] == "2026-11-21T09:00:00+08:00"
    assert "partition 2026-11-20 is not published by 2026-11-21 09:00 Asia/Shanghai (no run of it" in alert["text"]
    assert alert["report_url"].startswith("https://airflow.example.test/plugin/")
    assert not DIGIT_RUN.search(hook.requests[0]["body"])


def test_a_published_partition_sends_nothing(any_dbs, hook):
    insert(any_dbs, rows())
    [done] = sync("2026-11-20", run_id="scheduled__2026-11-20", max_reject_ratio=0.5)
    out = freshness.check(at(9), now=at(9))
    assert out == {**out, "status": "published", "etl_run_id": done["etl_run_id"]}
    assert hook.requests == []


def test_a_failed_partition_alerts_with_its_status(any_dbs, hook):
    insert(any_dbs, rows())
    with pytest.raises(Exception, match="reject_ratio_within_limit"):
        sync("2026-11-20", run_id="scheduled__2026-11-20", max_reject_ratio=0.0)
    out = freshness.check(at(9), now=at(11))
    assert out["status"] == "missed" and out["latest_status"] == "gate_failed"
    [alert] = hook.payloads()
    assert alert["latest_run"] == {
        "etl_run_id": "scheduled__2026-11-20@2026-11-20T00:00",
        "dag_id": "leads_flow_sync",
        "status": "gate_failed",
    }
    assert "its latest run is gate_failed" in alert["text"] and alert["report_url"].endswith(
        "/runs/scheduled__2026-11-20%402026-11-20T00%3A00"
    )


def test_nothing_before_the_configured_deadline(sqlite_dbs, hook, monkeypatch):
    flow_tables(sqlite_dbs)
    monkeypatch.setenv(FRESHNESS_DEADLINE_ENV, "10:30")
    assert freshness.check(now=at(10, 29))["status"] == "not_due"
    assert hook.requests == []
    assert freshness.check(now=at(10, 30))["status"] == "missed"
    assert len(hook.requests) == 1


def test_before_the_first_sync_there_is_no_table_and_the_alert_still_goes(sqlite_dbs, hook):
    assert freshness.check(at(9), now=at(9))["status"] == "missed"
    assert hook.payloads()[0]["latest_run"] is None


def test_the_watchdog_dag_alerts_at_its_deadline(sqlite_dbs, hook, airflow_db, dagbag, monkeypatch):
    from airflow.sdk import CronTriggerTimetable

    dag = dagbag.dags["leads_flow_freshness"]
    assert isinstance(dag.timetable, CronTriggerTimetable) and not dag.catchup
    assert dag.timetable.expression == "0 9 * * *" and str(dag.timetable.timezone) == "Asia/Shanghai"
    assert all(t.retries >= 1 and t.owner == "data-engineering" for t in dag.tasks)
    flow_tables(sqlite_dbs)
    dr = dag.test(logical_date=at(9))
    assert dr.state == "success"
    [alert] = hook.payloads()
    assert alert["event"] == "freshness_missed" and alert["partition"]["start"] == "2026-11-20T00:00:00"

    # published: the next run stays silent
    insert(sqlite_dbs, rows())
    sync("2026-11-20", run_id="manual__late", max_reject_ratio=0.5)
    assert dag.test(logical_date=at(9).replace(minute=1)).state == "success"
    assert len(hook.requests) == 1


def test_the_mail_says_which_partition_is_late(sqlite_dbs, hook, monkeypatch):
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    sent = []
    monkeypatch.setattr(
        SmtpNotifier, "notify", lambda self, ctx: sent.append((self.to, self.subject, self.html_content))
    )
    monkeypatch.setenv(config.EMAIL_ENV, "oncall@example.test")
    flow_tables(sqlite_dbs)
    assert freshness.check(at(9), now=at(9))["status"] == "missed"
    [(to, subject, html)] = sent
    assert to == ["oncall@example.test"]
    assert subject == "[leads-flow] partition 2026-11-20 not published by the deadline"
    assert "partition 2026-11-20 is not published by 2026-11-21 09:00 Asia/Shanghai" in html
    assert 'href="https://airflow.example.test/plugin/' in html
    assert len(hook.requests) == 1  # and the webhook too
