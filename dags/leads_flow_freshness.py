"""leads_flow_freshness: tell operators when yesterday's partition is not published by the deadline."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronTriggerTimetable, dag, task

from leads_flow.config import freshness_deadline
from leads_flow.tasks import freshness
from leads_flow.tasks.notify import on_failure

DEADLINE = freshness_deadline()  # LEADS_FLOW_FRESHNESS_DEADLINE, Asia/Shanghai; read when the file is parsed

DOC = f"""
### Freshness watchdog

Runs every day at **{DEADLINE:%H:%M} Asia/Shanghai** (`LEADS_FLOW_FRESHNESS_DEADLINE`) and asks `leads_flow_run`
whether yesterday's partition is published, by any run (the scheduled sync, a rerun, a reconcile repair). If it
is not, an alert goes out through the failure alerts' channels (webhook `leads_flow_alert_webhook`, mail
`leads_flow_alert_email`). See docs/operations.md, "Freshness deadline".
"""


@dag(
    dag_id="leads_flow_freshness",
    schedule=CronTriggerTimetable(f"{DEADLINE.minute} {DEADLINE.hour} * * *", timezone="Asia/Shanghai"),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    tags=["leads", "monitoring"],
    # a watchdog that cannot check (the flow database down) alerts too, through the failure callback
    default_args={
        "owner": "data-engineering",
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "on_failure_callback": on_failure,
    },
    doc_md=DOC,
)
def leads_flow_freshness():
    @task(task_display_name="Is yesterday's partition published?")
    def check(logical_date=None) -> dict:
        return freshness.check(logical_date)

    check()


dag = leads_flow_freshness()
