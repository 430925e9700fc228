"""leads_flow_sync: legacy leads_aggr → leads_flow, phones protected, gated on data quality."""

from __future__ import annotations

from airflow.sdk import Asset, CronDataIntervalTimetable, Param, dag, task, task_group

from leads_flow.config import DB_TASK
from leads_flow.names import FLOW_ASSET_URI, LEGACY_POOL, TZ_NAME
from leads_flow.tasks import sync as pipeline
from leads_flow.tasks.boundary import current_run_ids
from leads_flow.tasks.wiring import bounded, dag_args, flag, name_map_index, partitioned, window_params


@dag(
    **dag_args(
        __file__,
        tags=["pii", "sync"],
        max_active_runs=4,
    ),
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone=TZ_NAME),
    params={
        **window_params("of a manual run. Empty: the run's data interval, or yesterday for a manual run."),
        "overlap_minutes": bounded(
            60, 0, 1440, "Window", "Also re-read rows updated this long before the window start."
        ),
        "dry_run": flag("Extract, stage and gate, but publish nothing."),
        "max_reject_ratio": bounded(0.05, 0, 1, "Safety", "The gate fails when rejected / extracted exceeds this."),
        "load_mode": Param(
            "auto",
            type="string",
            enum=["auto", "daily", "bulk"],
            section="Safety",
            description="auto: a history-sized window (LEADS_FLOW_BULK_MIN_ROWS legacy rows or more, and at least half "
            "as many as leads_flow holds) takes the bulk path (id-range partitions, one bulk publish through a shadow "
            "table); daily: daily partitions, each published by itself; bulk: the bulk path whatever the size. "
            "SQLite always runs daily partitions.",
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
        # mapped: named by their partition's day in the grid (task ids, no display name: see partitioned)
        @task(pool=LEGACY_POOL, **partitioned(), **DB_TASK)
        def stage(partition: dict, params=None) -> dict:
            name_map_index(partition)
            return pipeline.stage(partition, params, *current_run_ids())

        @task(**partitioned(), **DB_TASK)
        def gate(staged: dict, params=None) -> dict:
            name_map_index(staged.get("partition"))
            return pipeline.gate(staged, params)

        @task(outlets=[Asset(FLOW_ASSET_URI)], **partitioned(), **DB_TASK)
        def publish(gated: dict, params=None) -> dict:
            name_map_index(gated.get("partition"))
            return pipeline.publish(gated, params)

        publish(gate(stage(partition)))

    @task(task_display_name="Bulk publish", outlets=[Asset(FLOW_ASSET_URI)], **DB_TASK)
    def publish_bulk(partitions: list[dict], params=None) -> dict:
        return pipeline.publish_bulk(partitions, params, *current_run_ids())

    planned = plan()
    partition_unit.expand(partition=planned) >> publish_bulk(planned)


dag = leads_flow_sync()
