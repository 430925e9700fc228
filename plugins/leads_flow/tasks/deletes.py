"""The leads_flow_hard_deletes DAG's task: the daily hard-delete watch (:mod:`leads_flow.reconcile.deletes`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from leads_flow.config import Settings, vanish_max_share
from leads_flow.io.connect import connected
from leads_flow.io.runlog import short_id
from leads_flow.io.schema import ensure_flow_schema
from leads_flow.names import FLOW_CONN_ID, LEGACY_CONN_ID
from leads_flow.reconcile.deletes import watch_hard_deletes
from leads_flow.tasks.boundary import check_run_id, failing_fast


def watch_task(params: Mapping[str, Any], dag_id: str, dag_run_id: str) -> dict[str, Any]:
    """Mark leads deleted from the legacy table; a mass vanish fails the task without retries. Small dict."""
    share = params.get("max_vanish_share")
    if share is not None and (isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1):
        raise AirflowFailException("bad parameters: max_vanish_share must be a number in [0, 1]")
    run_id = check_run_id(short_id(f"{dag_id}@{dag_run_id}"))

    def run() -> dict[str, Any]:
        max_share = vanish_max_share() if share is None else float(share)
        settings = Settings.from_env()
        with connected(FLOW_CONN_ID) as flow, connected(LEGACY_CONN_ID) as legacy:
            ensure_flow_schema(flow)
            res = watch_hard_deletes(
                flow,
                legacy,
                settings.legacy_table,
                run_id,
                max_share=max_share,
                dry_run=bool(params.get("dry_run", False)),
            )
        return res.to_dict()

    with failing_fast():
        return run()
