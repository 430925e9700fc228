"""leads_flow_erase: erase leads by lead id (tombstone in leads_flow, rejects and staged rows deleted)."""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from leads_flow.config import DB_TASK
from leads_flow.tasks import erase as erasure
from leads_flow.tasks.boundary import current_run_ids
from leads_flow.tasks.wiring import dag_args


@dag(
    **dag_args(
        __file__,
        tags=["pii", "erasure"],
    ),
    schedule=None,
    params={
        "lead_ids": Param(
            type="array",
            items={"type": "integer", "minimum": 1},
            minItems=1,
            title="Lead ids",
            description="Lead ids to erase (never phones: resolve phones with scripts/erase.py).",
        ),
    },
)
def leads_flow_erase():
    @task(task_display_name="Erase leads", **DB_TASK)
    def erase(params=None) -> dict:
        return erasure.erase(params, *current_run_ids())

    erase()


dag = leads_flow_erase()
