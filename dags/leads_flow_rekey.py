"""leads_flow_rekey: key rotation, manual. Moves every phone token and blind index to the keyring's active kids."""

from __future__ import annotations

from airflow.sdk import dag, task

from leads_flow.config import DB_TASK
from leads_flow.tasks import rekey as rotation
from leads_flow.tasks.boundary import current_run_ids
from leads_flow.tasks.wiring import bounded, dag_args, flag, titled


@dag(
    **dag_args(
        __file__,
        tags=["pii", "rekey"],
    ),
    schedule=None,
    params=titled(
        {
            "dry_run": flag("Count rows per kid only; write nothing."),
            "batch_size": bounded(
                5000, 100, 50_000, "Batches", "Rows read and updated per batch (one UPDATE statement each)."
            ),
        }
    ),
)
def leads_flow_rekey():
    @task(task_display_name="Re-encrypt and re-index", **DB_TASK)
    def rekey(params=None) -> dict:
        return rotation.rekey_task(params, *current_run_ids())

    rekey()


dag = leads_flow_rekey()
