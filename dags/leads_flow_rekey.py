"""leads_flow_rekey: key rotation, manual. Moves every phone token and blind index to the keyring's active kids."""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

from leads_flow.config import DB_TASK
from leads_flow.tasks import rekey as rotation
from leads_flow.tasks.boundary import current_run_ids
from leads_flow.tasks.notify import on_failure

DOC = """
# leads_flow_rekey

Key rotation (docs/phone-protection.md, *Key rotation runbook*). Re-encrypts every `leads_flow.phone_cipher`
and every raw phone token of `leads_flow_reject` that is not under the keyring's `active_enc_kid`, and
recomputes every blind index not under `active_bidx_kid`. Batches in primary-key order; a row is updated only
while it still holds the token that was read (a newer write wins). Resumable: trigger it again after a kill;
a rerun after a complete one moves nothing.

Rows per kid before and after: the task's return value and `leads_flow_key_audit`.

    airflow dags trigger leads_flow_rekey -c '{"dry_run": true}'
"""


@dag(
    dag_id="leads_flow_rekey",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    tags=["leads", "pii", "rekey"],
    default_args={"owner": "data-engineering", "on_failure_callback": on_failure},
    doc_md=DOC,
    params={
        "dry_run": Param(
            False, type="boolean", section="Safety", description="Count rows per kid only; write nothing."
        ),
        "batch_size": Param(
            5000,
            type="integer",
            minimum=100,
            maximum=50_000,
            section="Batches",
            description="Rows read and updated per batch (one UPDATE statement each).",
        ),
    },
)
def leads_flow_rekey():
    @task(task_display_name="Re-encrypt and re-index", **DB_TASK)
    def rekey(params=None) -> dict:
        return rotation.rekey_task(params, *current_run_ids())

    rekey()


dag = leads_flow_rekey()
