"""leads_flow_hard_deletes: daily, marks leads deleted outright from leads_aggr as deleted in leads_flow."""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import CronTriggerTimetable, Param, dag, task

from leads_flow.config import DB_TASK, LEGACY_POOL
from leads_flow.tasks import deletes
from leads_flow.tasks.boundary import current_run_ids
from leads_flow.tasks.notify import on_failure

DOC = Path(__file__).with_suffix(".md").read_text(encoding="utf-8")


@dag(
    dag_id="leads_flow_hard_deletes",
    schedule=CronTriggerTimetable("30 5 * * *", timezone="Asia/Shanghai"),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    tags=["leads", "deletes"],
    default_args={"owner": "data-engineering", "on_failure_callback": on_failure},
    doc_md=DOC,
    params={
        "dry_run": Param(False, type="boolean", section="Safety", description="Compare and count; mark nothing."),
        "max_vanish_share": Param(
            None,
            type=["null", "number"],
            minimum=0,
            maximum=1,
            section="Safety",
            description="Largest share of compared leads that may vanish at once (empty: "
            "LEADS_FLOW_VANISH_MAX_SHARE, default 0.01). Above it nothing is marked and the run fails.",
        ),
    },
)
def leads_flow_hard_deletes():
    @task(task_display_name="Find and mark hard deletes", pool=LEGACY_POOL, **DB_TASK)
    def watch(params=None) -> dict:
        return deletes.watch_task(params, *current_run_ids())

    watch()


dag = leads_flow_hard_deletes()
