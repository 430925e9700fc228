"""leads_flow_hard_deletes: daily, marks leads deleted outright from leads_aggr as deleted in leads_flow."""

from __future__ import annotations

from airflow.sdk import CronTriggerTimetable, dag, task

from leads_flow.config import DB_TASK
from leads_flow.names import LEGACY_POOL, TZ_NAME
from leads_flow.tasks import deletes
from leads_flow.tasks.boundary import current_run_ids
from leads_flow.tasks.wiring import bounded, dag_args, flag, titled


@dag(
    **dag_args(
        __file__,
        tags=["deletes"],
    ),
    schedule=CronTriggerTimetable("30 5 * * *", timezone=TZ_NAME),
    params=titled(
        {
            "dry_run": flag("Compare and count; mark nothing."),
            "max_vanish_share": bounded(
                None,
                0,
                1,
                "Safety",
                "Largest share of compared leads that may vanish at once (empty: LEADS_FLOW_VANISH_MAX_SHARE, "
                "default 0.01). Above it nothing is marked and the run fails.",
                optional=True,
            ),
        }
    ),
)
def leads_flow_hard_deletes():
    @task(task_display_name="Find and mark hard deletes", pool=LEGACY_POOL, **DB_TASK)
    def watch(params=None) -> dict:
        return deletes.watch_task(params, *current_run_ids())

    watch()


dag = leads_flow_hard_deletes()
