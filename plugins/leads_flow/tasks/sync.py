"""The sync pipeline as the DAG's tasks run it: plan → (stage → gate → publish) per daily partition; for a
history-sized window (the bulk path, docs/scaling.md) plan → (stage → gate) per id-range partition → one bulk
publish (:func:`publish_bulk`).

Each function takes and returns small JSON-able metadata, never row data, so XCom carries only that.
The benchmark and the tests call the same functions, so what is measured is what runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, TypeVar

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from leads_flow.config import ConfigError, Settings, reject_retention_days, retention_hours, volume_policy
from leads_flow.io.bulk import BulkPart
from leads_flow.io.bulk import publish_bulk as run_bulk_publish
from leads_flow.io.cleanup import drop_stale_stages, purge_rejects
from leads_flow.io.connect import connected
from leads_flow.io.db import Db
from leads_flow.io.keyring import load_keyring
from leads_flow.io.kids import check_kids_held
from leads_flow.io.publish import publish_stage
from leads_flow.io.schema import ensure_flow_schema
from leads_flow.names import FLOW_CONN_ID, LEGACY_CONN_ID, PII_CONN_ID
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
from leads_flow.window import Partition, id_partitions, resolve_window

log = logging.getLogger(__name__)
T = TypeVar("T")


def plan(
    params: Mapping[str, Any],
    interval_start: Any,
    interval_end: Any,
) -> list[dict[str, Any]]:
    """Resolve the window, check the legacy schema and migrate the flow schema; one dict per partition.

    The window is checked first: a reversed or unparsable one fails the run at once, without retries, and the
    failure callback records it (status ``plan_failed``) for the run report."""
    try:
        start, end = resolve_window(params, interval_start, interval_end)
        settings = settings_from(params)
    except ConfigError as exc:
        raise AirflowFailException(f"bad parameters: {exc}") from exc

    def prepare(flow: Db) -> None:
        ensure_flow_schema(flow)
        check_kids_held(flow, load_keyring(PII_CONN_ID), journal=False)  # a removed key still in use: fail fast
        drop_stale_stages(flow, retention_hours())  # staging tables of failed runs, kept for inspection until then
        purge_rejects(flow, reject_retention_days())

    mode = params.get("load_mode") or "auto"
    if mode not in LOAD_MODES:
        raise AirflowFailException(f"bad parameters: load_mode must be one of {', '.join(LOAD_MODES)}, got {mode!r}")
    daily = plan_partitions(
        settings,
        start,
        end,
        prepare_flow=prepare,
        what="window",
    )
    if mode == "daily":
        return daily
    with failing_fast():
        bulk = bulk_partitions(settings, start, end, forced=mode == "bulk")
    return [p.to_dict() for p in bulk] if bulk else daily


LOAD_MODES = ("auto", "daily", "bulk")


def bulk_partitions(
    settings: Settings,
    start: Any,
    end: Any,
    *,
    forced: bool = False,
    legacy_conn_id: str = LEGACY_CONN_ID,
    flow_conn_id: str = FLOW_CONN_ID,
) -> list[Partition]:
    """The bulk path's partitions when the window is history-sized (or ``forced``), else []: at least
    ``bulk_min_rows`` legacy rows in the window (the index-range count of the stage) and at least half as many as
    leads_flow holds. MySQL only: on SQLite [] (daily partitions)."""
    overlap = settings.overlap_minutes
    read_start = Partition(start, end, overlap).read_start
    with connected(legacy_conn_id) as legacy:
        if legacy.dialect != "mysql":
            return []
        rows = int(legacy.query("count_window", {"start": read_start, "end": end}, legacy=settings.legacy_table)[0][0])
        lo, hi = legacy.query("id_bounds", legacy=settings.legacy_table)[0]
    if lo is None or not rows:
        return []
    if not forced:
        if rows < settings.bulk_min_rows:
            return []
        with connected(flow_conn_id) as flow:
            if flow.dialect != "mysql":
                return []
            flow_rows = int(flow.query("count_rows", table="leads_flow")[0][0])
        if 2 * rows < flow_rows:
            log.info("window of %d legacy rows against %d in leads_flow: daily partitions", rows, flow_rows)
            return []
    else:
        with connected(flow_conn_id) as flow:
            if flow.dialect != "mysql":
                return []
    parts = id_partitions(start, end, overlap, int(lo), int(hi), rows, settings.bulk_partition_rows)
    log.info("bulk path: %d legacy rows in the window, %d id-range partition(s)", rows, len(parts))
    return parts


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
    bulk = Partition.from_dict(staged["partition"]).bulk
    try:
        with failing_fast():
            # the volume check compares days with days: the bulk path's per-day rows, not its id ranges
            outcome = run.gate(staged, None if bulk else volume_policy(params.get("volume_check")))
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
        "bulk": bulk,
        "partition": dict(staged["partition"]),  # publish's map_index_template names it by this
    }


def publish(gated: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    run_id = gated["etl_run_id"]
    if gated.get("bulk"):
        log.info("%s: staged for the bulk publish (%s stays until then)", run_id, gated["stage_table"])
        return {"etl_run_id": run_id, "published": 0, "dry_run": bool(params.get("dry_run")), "bulk": True}
    dry = bool(params.get("dry_run"))
    t0 = time.perf_counter()
    with failing_fast():
        changed = publish_stage(gated["stage_table"], run_id, dict(gated["timings"]), dry_run=dry)
    metrics.published(changed, time.perf_counter() - t0, dry_run=dry)
    log.info("%s %s: %d row change(s)", "dry run, not published" if dry else "published", run_id, changed)
    return {"etl_run_id": run_id, "published": changed, "dry_run": dry}


def publish_bulk(
    partitions: list[Mapping[str, Any]], params: Mapping[str, Any], dag_id: str, dag_run_id: str
) -> dict[str, Any]:
    """The fan-in of the bulk path: publish every gated bulk partition at once (:mod:`leads_flow.io.bulk`). A daily
    plan has nothing to do here: skipped."""
    parts = [Partition.from_dict(p) for p in partitions]
    bulk = [p for p in parts if p.bulk]
    if not bulk:
        raise AirflowSkipException("daily partitions: each was published by its own task")
    check_run_id(dag_run_id)
    dry = bool(params.get("dry_run"))
    t0 = time.perf_counter()
    with failing_fast():
        out = run_bulk_publish(
            [BulkPart(etl_run_id_for(dag_run_id, p), p) for p in bulk],
            dag_id=dag_id,
            dag_run_id=dag_run_id,
            dry_run=dry,
        )
    metrics.published(out["published"], time.perf_counter() - t0, dry_run=dry)
    return out
