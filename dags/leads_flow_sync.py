"""leads_flow_sync: legacy leads_aggr → leads_flow, phones protected, gated on data quality."""

from __future__ import annotations

from airflow.sdk import Asset, CronDataIntervalTimetable, Param, dag, task, task_group

from leads_flow.config import DB_TASK, VOLUME_AUTO
from leads_flow.names import FLOW_ASSET_URI, LEGACY_POOL, TZ_NAME
from leads_flow.tasks import sync as pipeline
from leads_flow.tasks.boundary import current_run_ids
from leads_flow.tasks.wiring import (
    bounded,
    dag_args,
    flag,
    name_map_index,
    partitioned,
    titled,
    window_params,
)


@dag(
    **dag_args(
        __file__,
        tags=["pii", "sync"],
        max_active_runs=4,
    ),
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone=TZ_NAME),
    params=titled(
        {
            **window_params("of a manual run."),
            "overlap_minutes": bounded(
                60,
                0,
                1440,
                "Window",
                "Also re-read rows updated this long before the window's start (late commits).",
                title="Overlap (minutes)",
            ),
            "dry_run": flag("Extract, stage and gate, but publish nothing.", title="Dry run (publish nothing)"),
            "max_reject_ratio": bounded(
                0.05,
                0,
                1,
                "Safety",
                "The gate fails when rejected / extracted exceeds this (0.05 = 5 %).",
                title="Max reject ratio",
            ),
            "load_mode": Param(
                "auto",
                type="string",
                enum=["auto", "daily", "bulk"],
                section="Safety",
                title="Load mode",
                description="auto: a history-sized window (LEADS_FLOW_BULK_MIN_ROWS legacy rows or more, and at "
                "least half as many as leads_flow holds) takes the bulk path (id-range partitions, one bulk publish "
                "through a shadow table); daily: daily partitions, each published by itself; bulk: the bulk path "
                "whatever the size. SQLite always runs daily partitions.",
            ),
            "volume_check": Param(
                VOLUME_AUTO,
                type=["null", "string"],
                enum=[VOLUME_AUTO, "warn", "fail", "off", None],
                values_display={
                    VOLUME_AUTO: "auto (LEADS_FLOW_VOLUME_CHECK, default warn)",
                    "warn": "warn",
                    "fail": "fail",
                    "off": "off",
                },
                section="Safety",
                title="Volume check",
                description="The gate's volume check (rows against the same weekday's median) for this run: warn, "
                "fail or off; auto (or empty): LEADS_FLOW_VOLUME_CHECK (default warn).",
            ),
        }
    ),
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
