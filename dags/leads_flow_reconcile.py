"""leads_flow_reconcile: compare leads_aggr with leads_flow day by day, report drift, optionally repair it."""

from __future__ import annotations

from airflow.sdk import Asset, dag, task, task_group

from leads_flow.config import DB_TASK
from leads_flow.names import FLOW_ASSET_URI, LEGACY_POOL
from leads_flow.tasks import reconcile
from leads_flow.tasks.boundary import current_run_ids
from leads_flow.tasks.wiring import bounded, dag_args, flag, titled, window_params


@dag(
    **dag_args(
        __file__,
        tags=["pii", "reconcile", "cutover"],
        failure_callback=reconcile.on_failure,
    ),
    schedule=[Asset(FLOW_ASSET_URI)],  # runs when leads_flow_sync's publish updates leads_flow
    params=titled(
        {
            **window_params(
                "to compare. Empty: the days the triggering sync run(s) published, or yesterday for a manual run."
            ),
            "repair": flag(
                "Re-sync missing, stale and drifting leads through the sync pipeline (same mapping, gate and "
                "newer-wins upsert). Off: report only.",
                section="Repair",
            ),
            "decrypt_sample": bounded(
                20,
                0,
                reconcile.MAX_DECRYPT_SAMPLE,
                "Checks",
                "Matching rows per day whose phone token is decrypted and compared with the normalised legacy "
                "phone (in memory only). 0: none.",
            ),
            "min_match_rate": bounded(
                0.0,
                0,
                1,
                "Checks",
                "Fail the run when the match rate over the range (after repair, if any) is below this. 0: report only.",
            ),
        }
    ),
)
def leads_flow_reconcile():
    @task(task_display_name="Plan windows", **DB_TASK)
    def plan(data_interval_start=None, data_interval_end=None, params=None, triggering_asset_events=None) -> list[dict]:
        return reconcile.plan(params, data_interval_start, data_interval_end, asset_events=triggering_asset_events)

    @task_group(group_id="window")
    def window_unit(window: dict):
        @task(task_display_name="Compare legacy and flow", pool=LEGACY_POOL, **DB_TASK)
        def compare(window: dict, params=None) -> dict:
            return reconcile.compare(window, params, *current_run_ids())

        @task(task_display_name="Repair drift", pool=LEGACY_POOL, **DB_TASK)
        def repair(compared: dict, params=None) -> dict:
            return reconcile.repair(compared, params, *current_run_ids())

        repair(compare(window))

    @task(task_display_name="Summary and cutover readiness", trigger_rule="none_failed", **DB_TASK)
    def summary(windows: list[dict], params=None) -> dict:
        return reconcile.summary(params, *current_run_ids())

    windows = plan()
    window_unit.expand(window=windows) >> summary(windows)


dag = leads_flow_reconcile()
