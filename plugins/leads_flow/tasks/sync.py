"""The sync pipeline as the DAG's tasks run it: plan → (stage → gate → publish) per daily partition.

Each function takes and returns small JSON-able metadata, never row data, so XCom carries only that.
The benchmark and the tests call the same functions, so what is measured is what runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, TypeVar

from airflow.sdk.exceptions import AirflowFailException

from leads_flow.config import ConfigError, reject_retention_days, retention_hours, volume_policy
from leads_flow.io.cleanup import drop_stale_stages, purge_rejects
from leads_flow.io.db import Db
from leads_flow.io.keyring import load_keyring
from leads_flow.io.kids import check_kids_held
from leads_flow.io.publish import publish_stage
from leads_flow.io.schema import ensure_flow_schema
from leads_flow.names import PII_CONN_ID
from leads_flow.pipeline import PartitionRun
from leads_flow.tasks import metrics
from leads_flow.tasks.boundary import (
    GateFailed,
    check_run_id,
    checked_cipher,
    etl_run_id_for,
    failing_fast,
    plan_partitions,
    settings_from,
)
from leads_flow.window import Partition, resolve_window

log = logging.getLogger(__name__)
T = TypeVar("T")


def plan(
    params: Mapping[str, Any],
    interval_start: Any,
    interval_end: Any,
) -> list[dict[str, Any]]:
    """Resolve the window, check the legacy schema and migrate the flow schema; one dict per partition."""
    try:
        settings = settings_from(params)
        start, end = resolve_window(params, interval_start, interval_end)
    except ConfigError as exc:
        raise AirflowFailException(f"bad parameters: {exc}") from exc

    def prepare(flow: Db) -> None:
        ensure_flow_schema(flow)
        check_kids_held(flow, load_keyring(PII_CONN_ID), journal=False)  # a removed key still in use: fail fast
        drop_stale_stages(flow, retention_hours())  # staging tables of failed runs, kept for inspection until then
        purge_rejects(flow, reject_retention_days())

    return plan_partitions(
        settings,
        start,
        end,
        prepare_flow=prepare,
        what="window",
    )


def _run(partition: Mapping[str, Any], run_id: str, params: Mapping[str, Any], **ids: Any) -> PartitionRun:
    return PartitionRun(Partition.from_dict(partition), run_id, settings_from(params), **ids)


def stage(partition: Mapping[str, Any], params: Mapping[str, Any], dag_id: str, dag_run_id: str) -> dict[str, Any]:
    part = Partition.from_dict(partition)
    run_id = etl_run_id_for(check_run_id(dag_run_id), part)
    run = _run(partition, run_id, params, dag_id=dag_id, dag_run_id=dag_run_id)
    with failing_fast():
        res = run.stage(checked_cipher())
    log.info(
        "staged %s: extracted=%d staged=%d rejected=%d coerced=%d rejects=%s",
        run_id,
        res.extracted,
        res.staged,
        res.rejected,
        res.coerced,
        res.rejects_by_reason,
    )
    metrics.staged(res.extracted, res.staged, res.rejected, res.rejects_by_reason, res.seconds)
    return {**res.to_dict(), "partition": dict(partition)}


def gate(staged: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """Run the data-quality gate; record every result; raise :class:`~leads_flow.tasks.boundary.GateFailed` when any
    check fails."""
    run_id = check_run_id(staged["etl_run_id"])
    run = _run(staged["partition"], run_id, params)
    try:
        with failing_fast():
            outcome = run.gate(staged, volume_policy(params.get("volume_check")))
    except GateFailed as exc:
        volume = exc.rejected.volume
        metrics.gated(False, exc.rejected.seconds, volume.verdict if volume else None)
        raise
    metrics.gated(True, outcome.timings["gate_s"], outcome.volume.verdict if outcome.volume else None)
    return {
        "etl_run_id": run_id,
        "stage_table": staged["stage_table"],
        "timings": outcome.timings,
        "extracted": staged["extracted"],
        "staged": staged["staged"],
        "rejected": staged["rejected"],
    }


def publish(gated: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    run_id = gated["etl_run_id"]
    dry = bool(params.get("dry_run"))
    t0 = time.perf_counter()
    with failing_fast():
        changed = publish_stage(gated["stage_table"], run_id, dict(gated["timings"]), dry_run=dry)
    metrics.published(changed, time.perf_counter() - t0, dry_run=dry)
    log.info("%s %s: %d row change(s)", "dry run, not published" if dry else "published", run_id, changed)
    return {"etl_run_id": run_id, "published": changed, "dry_run": dry}
