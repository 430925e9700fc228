"""leads_flow_sync: legacy leads_aggr → leads_flow, phones protected, gated on data quality."""

from __future__ import annotations

from airflow.sdk import Asset, CronDataIntervalTimetable, Param, dag, task, task_group

from leads_flow.config import DB_TASK
from leads_flow.names import FLOW_ASSET_URI, LEGACY_POOL, TZ_NAME
from leads_flow.tasks import sync as pipeline
from leads_flow.tasks.boundary import current_run_ids
from leads_flow.tasks.wiring import dag_args


@dag(
    **dag_args(
        __file__,
        tags=["pii", "sync"],
        max_active_runs=4,
    ),
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone=TZ_NAME),
    params={
        "start_date": Param(
            None,
            type=["null", "string"],
            format="date",
            section="Window",
            description="First day (inclusive, Asia/Shanghai) of a manual run. Empty: the run's "
            "data interval, or yesterday for a manual run.",
        ),
        "end_date": Param(
            None,
            type=["null", "string"],
            format="date",
            section="Window",
            description="Last day (inclusive). Empty: same as start_date.",
        ),
        "overlap_minutes": Param(
            60,
            type="integer",
            minimum=0,
            maximum=1440,
            section="Window",
            description="Also re-read rows updated this long before the window start.",
        ),
        "dry_run": Param(
            False, type="boolean", section="Safety", description="Extract, stage and gate, but publish nothing."
        ),
        "max_reject_ratio": Param(
            0.05,
            type="number",
            minimum=0,
            maximum=1,
            section="Safety",
            description="The gate fails when rejected / extracted exceeds this.",
        ),
        "volume_check": Param(
            None,
            type=["null", "string"],
            enum=[None, "warn", "fail", "off"],
            section="Safety",
            description="The gate's volume check (rows against the same weekday's median) for this run: warn, "
            "fail or off. Empty: LEADS_FLOW_VOLUME_CHECK (default warn).",
        ),
    },
)
def leads_flow_sync():
    @task(task_display_name="Plan window", **DB_TASK)
    def plan(data_interval_start=None, data_interval_end=None, params=None) -> list[dict]:
        return pipeline.plan(params, data_interval_start, data_interval_end)

    @task_group(group_id="partition")
    def partition_unit(partition: dict):
        @task(task_display_name="Extract and stage", pool=LEGACY_POOL, **DB_TASK)
        def stage(partition: dict, params=None) -> dict:
            return pipeline.stage(partition, params, *current_run_ids())

        @task(task_display_name="Data-quality gate", **DB_TASK)
        def gate(staged: dict, params=None) -> dict:
            return pipeline.gate(staged, params)

        @task(task_display_name="Publish", outlets=[Asset(FLOW_ASSET_URI)], **DB_TASK)
        def publish(gated: dict, params=None) -> dict:
            return pipeline.publish(gated, params)

        publish(gate(stage(partition)))

    partition_unit.expand(partition=plan())


dag = leads_flow_sync()
