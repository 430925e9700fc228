"""leads_flow_freshness: tell operators when yesterday's partition is not published by the deadline."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import CronTriggerTimetable, dag, task

from leads_flow.config import freshness_deadline
from leads_flow.names import TZ_NAME
from leads_flow.tasks import freshness
from leads_flow.tasks.wiring import dag_args

DEADLINE = freshness_deadline()  # LEADS_FLOW_FRESHNESS_DEADLINE, Asia/Shanghai; read when the file is parsed


@dag(
    **dag_args(
        __file__,
        tags=["monitoring"],
        default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},  # a watchdog that cannot check alerts too
        doc_values={"deadline": f"{DEADLINE:%H:%M}"},
    ),
    schedule=CronTriggerTimetable(f"{DEADLINE.minute} {DEADLINE.hour} * * *", timezone=TZ_NAME),
)
def leads_flow_freshness():
    @task(task_display_name="Is yesterday's partition published?")
    def check(logical_date=None) -> dict:
        return freshness.check(logical_date)

    check()


dag = leads_flow_freshness()
