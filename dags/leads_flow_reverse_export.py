"""leads_flow_reverse_export: rollback after cutover; leads written only to leads_flow go back to leads_aggr."""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from leads_flow.config import DB_TASK
from leads_flow.tasks import reverse_export
from leads_flow.tasks.boundary import current_run_ids
from leads_flow.tasks.wiring import bounded, dag_args, flag, titled


@dag(
    **dag_args(
        __file__,
        tags=["pii", "cutover", "rollback"],
    ),
    schedule=None,
    params=titled(
        {
            "since": Param(
                type="string",
                minLength=10,
                section="Window",
                description="The cutover mark: leads_flow versions from this time on (Asia/Shanghai, "
                "'YYYY-MM-DD HH:MM:SS' or a date) that leads_aggr lacks or holds older are written back.",
            ),
            "until": Param(
                None,
                type=["null", "string"],
                section="Window",
                description="Optional end (exclusive) of the range. Empty: up to now.",
            ),
            "dry_run": flag("Read and count only; write nothing to leads_aggr."),
            "batch_size": bounded(
                reverse_export.BATCH, 1, reverse_export.MAX_BATCH, "Safety", "Leads per transaction on leads_aggr."
            ),
        }
    ),
)
def leads_flow_reverse_export():
    @task(task_display_name="Write back to leads_aggr", **DB_TASK)
    def export(params=None) -> dict:
        return reverse_export.export(params, *current_run_ids())

    export()


dag = leads_flow_reverse_export()
